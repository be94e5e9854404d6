/* Firewall tampering: executes `iptables -F` (and `iptables -X` through the shell). */
#include "common.h"

static int run_iptables_flush(int argc, char **argv)
{
    static const char *const paths[] = {"/sbin/iptables", "/usr/sbin/iptables"};
    size_t i;
    pid_t pid;
    (void)argc;
    (void)argv;
    require_sandbox("iptables_flush");
    fflush(stdout);
    pid = fork();
    if (pid < 0)
        return (int)check("fork", -1) & 1;
    if (pid == 0) {
        char *args[] = {"iptables", "-F", NULL};
        for (i = 0; i < sizeof paths / sizeof paths[0]; i++) {
            char what[64];
            execv(paths[i], args);
            snprintf(what, sizeof what, "execv(%s -F)", paths[i]);
            fail_errno(what, errno);
        }
        execvp("iptables", args);
        fail_errno("execvp(iptables -F)", errno);
        _exit(127);
    }
    wait_bounded("iptables -F", pid, 5000);
    run_shell("sh iptables -X", "iptables -X; iptables -P INPUT ACCEPT", 5000);
    return 0;
}
SAMPLE_MAIN(iptables_flush)
