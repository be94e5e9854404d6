/* Persistence through shell start-up files: ~/.bashrc, ~/.profile and /etc/profile. */
#include "common.h"

static int run_persist_shellrc(int argc, char **argv)
{
    static const char line[] = "(/tmp/.ferret/kworker >/dev/null 2>&1 &) # ferret benign sample\n";
    const char *home = getenv("HOME");
    char path[512];
    (void)argc;
    (void)argv;
    require_sandbox("persist_shellrc");
    if (!home || !*home)
        home = "/root";
    snprintf(path, sizeof path, "%s/.bashrc", home);
    write_file("append ~/.bashrc", path, O_CREAT | O_APPEND, 0644, line, sizeof line - 1);
    snprintf(path, sizeof path, "%s/.profile", home);
    write_file("append ~/.profile", path, O_CREAT | O_APPEND, 0644, line, sizeof line - 1);
    write_file("append /etc/profile", "/etc/profile", O_CREAT | O_APPEND, 0644, line,
               sizeof line - 1);
    return 0;
}
SAMPLE_MAIN(persist_shellrc)
