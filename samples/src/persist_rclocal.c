/* Persistence through /etc/rc.local (and the rc.d variant). */
#include "common.h"

static int run_persist_rclocal(int argc, char **argv)
{
    static const char header[] = "#!/bin/sh -e\n";
    static const char line[] = "/tmp/.ferret/kworker & # ferret benign sample\n";
    struct stat st;
    (void)argc;
    (void)argv;
    require_sandbox("persist_rclocal");
    if (stat("/etc/rc.local", &st) < 0)
        write_file("create /etc/rc.local", "/etc/rc.local", O_CREAT | O_EXCL, 0755, header,
                   sizeof header - 1);
    write_file("append /etc/rc.local", "/etc/rc.local", O_CREAT | O_APPEND, 0755, line,
               sizeof line - 1);
    check("chmod(/etc/rc.local, 0755)", chmod("/etc/rc.local", 0755));
    mkdir_parents("/etc/rc.d/rc.local");
    write_file("append /etc/rc.d/rc.local", "/etc/rc.d/rc.local", O_CREAT | O_APPEND, 0755, line,
               sizeof line - 1);
    return 0;
}
SAMPLE_MAIN(persist_rclocal)
