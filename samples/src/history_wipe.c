/* Covering tracks: truncates shell history and wtmp, drops HISTFILE. */
#include "common.h"

static int run_history_wipe(int argc, char **argv)
{
    const char *home = getenv("HOME");
    char path[512];
    int fd;
    (void)argc;
    (void)argv;
    require_sandbox("history_wipe");
    if (!home || !*home)
        home = "/root";
    snprintf(path, sizeof path, "%s/.bash_history", home);
    fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    if (check("open(~/.bash_history, O_TRUNC)", fd) >= 0)
        close(fd);
    check("unsetenv(HISTFILE)", unsetenv("HISTFILE"));
    check("setenv(HISTSIZE=0)", setenv("HISTSIZE", "0", 1));
    mkdir_parents("/var/log/wtmp");
    check("truncate(/var/log/wtmp, 0)", truncate("/var/log/wtmp", 0));
    fd = open("/var/log/wtmp", O_WRONLY | O_CREAT | O_TRUNC, 0664);
    if (check("open(/var/log/wtmp, O_TRUNC)", fd) >= 0)
        close(fd);
    return 0;
}
SAMPLE_MAIN(history_wipe)
