/* Persistence through cron: a line in /etc/crontab and root's spool crontab. */
#include "common.h"

#define CRON_JOB "*/5 * * * * /tmp/.ferret/kworker >/dev/null 2>&1 # ferret benign sample\n"

static int run_persist_cron(int argc, char **argv)
{
    static const char system_line[] =
        "*/5 * * * * root /tmp/.ferret/kworker >/dev/null 2>&1 # ferret benign sample\n";
    (void)argc;
    (void)argv;
    require_sandbox("persist_cron");
    write_file("append /etc/crontab", "/etc/crontab", O_CREAT | O_APPEND, 0644, system_line,
               sizeof system_line - 1);
    mkdir_parents("/var/spool/cron/crontabs/root");
    write_file("write /var/spool/cron/crontabs/root", "/var/spool/cron/crontabs/root",
               O_CREAT | O_APPEND, 0600, CRON_JOB, sizeof CRON_JOB - 1);
    return 0;
}
SAMPLE_MAIN(persist_cron)
