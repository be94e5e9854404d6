/* Persistence through a systemd unit, enabled by hand (a wants/ symlink). */
#include "common.h"

static int run_persist_systemd(int argc, char **argv)
{
    static const char unit[] =
        "# ferret benign sample\n"
        "[Unit]\n"
        "Description=Kernel worker helper\n"
        "After=network.target\n\n"
        "[Service]\n"
        "ExecStart=/tmp/.ferret/kworker\n"
        "Restart=always\n\n"
        "[Install]\n"
        "WantedBy=multi-user.target\n";
    (void)argc;
    (void)argv;
    require_sandbox("persist_systemd");
    mkdir_parents("/etc/systemd/system/multi-user.target.wants/kworkerd.service");
    write_file("write /etc/systemd/system/kworkerd.service",
               "/etc/systemd/system/kworkerd.service", O_CREAT | O_TRUNC, 0644, unit,
               sizeof unit - 1);
    check("symlink(multi-user.target.wants/kworkerd.service)",
          symlink("/etc/systemd/system/kworkerd.service",
                  "/etc/systemd/system/multi-user.target.wants/kworkerd.service"));
    return 0;
}
SAMPLE_MAIN(persist_systemd)
