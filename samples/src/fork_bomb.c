/*
 * Fork bomb (containment test): every process forks as fast as it can for 10 s, then
 * all wait until 20 s after the start and exit. The sandbox's pids limit is what stops
 * the growth. Only the original process prints (its own fork count and first error).
 */
#include "common.h"

static int run_fork_bomb(int argc, char **argv)
{
    long start = now_ms();
    long forks = 0, failures = 0;
    int first_errno = 0;
    pid_t original = getpid();
    (void)argc;
    (void)argv;
    require_sandbox("fork_bomb");
    say("fork bomb", "start pid %d", (int)original);
    while (now_ms() - start < 10000) {
        pid_t pid = fork();
        if (pid == 0) {
            forks = failures = 0;
        } else if (pid > 0) {
            forks++;
        } else {
            if (!first_errno)
                first_errno = errno;
            failures++;
            sleep_ms(10);
        }
    }
    if (getpid() == original) {
        say("fork bomb", "%ld forks, %ld failures, first error %s", forks, failures,
            errno_name(first_errno));
    }
    while (now_ms() - start < 20000) {
        while (waitpid(-1, NULL, WNOHANG) > 0) {
        }
        sleep_ms(200);
    }
    return 0;
}
SAMPLE_MAIN(fork_bomb)
