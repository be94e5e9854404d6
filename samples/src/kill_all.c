/*
 * kill(-1, SIGKILL) (containment test): forks three sleeping children, then kills
 * every process it may signal. In a sandbox that is only the sandbox's own processes.
 */
#include "common.h"

static int run_kill_all(int argc, char **argv)
{
    int i, reaped = 0, status;
    (void)argc;
    (void)argv;
    require_sandbox("kill_all");
    for (i = 0; i < 3; i++) {
        pid_t pid;
        fflush(stdout);
        pid = fork();
        if (pid == 0) {
            sleep_ms(30000);
            _exit(0);
        }
        if (check("fork sleeper", pid) < 0)
            break;
    }
    check("kill(-1, SIGKILL)", kill(-1, SIGKILL));
    while (wait(&status) > 0)
        reaped += WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL;
    say("children killed", "%d", reaped);
    return 0;
}
SAMPLE_MAIN(kill_all)
