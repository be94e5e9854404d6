/* Persistence through SysV init: /etc/init.d script plus rc.d / rcN.d start links. */
#include "common.h"

static int run_persist_initd(int argc, char **argv)
{
    static const char script[] =
        "#!/bin/sh\n"
        "### BEGIN INIT INFO\n"
        "# Provides: kworkerd\n"
        "# Default-Start: 2 3 4 5\n"
        "### END INIT INFO\n"
        "# ferret benign sample\n"
        "/tmp/.ferret/kworker &\n";
    (void)argc;
    (void)argv;
    require_sandbox("persist_initd");
    mkdir_parents("/etc/init.d/kworkerd");
    write_file("write /etc/init.d/kworkerd", "/etc/init.d/kworkerd", O_CREAT | O_TRUNC, 0755,
               script, sizeof script - 1);
    check("chmod(/etc/init.d/kworkerd, 0755)", chmod("/etc/init.d/kworkerd", 0755));
    mkdir_parents("/etc/rc.d/rc3.d/S99kworkerd");
    check("symlink(/etc/rc.d/rc3.d/S99kworkerd)",
          symlink("/etc/init.d/kworkerd", "/etc/rc.d/rc3.d/S99kworkerd"));
    mkdir_parents("/etc/rc2.d/S99kworkerd");
    check("symlink(/etc/rc2.d/S99kworkerd)", symlink("../init.d/kworkerd", "/etc/rc2.d/S99kworkerd"));
    return 0;
}
SAMPLE_MAIN(persist_initd)
