/* Dropper: writes an ELF (a copy of itself) to /tmp/.x, chmods it 0755 and runs it. */
#include "common.h"

#define DROPPED_PATH "/tmp/.x"

static int run_dropper(int argc, char **argv)
{
    pid_t pid;
    (void)argc;
    (void)argv;
    if (copy_self("write " DROPPED_PATH, DROPPED_PATH, 0600) < 0)
        return 1;
    check("chmod(" DROPPED_PATH ", 0755)", chmod(DROPPED_PATH, 0755));
    fflush(stdout);
    pid = fork();
    if (pid < 0)
        return (int)check("fork", -1) & 1;
    if (pid == 0) {
        char *args[] = {DROPPED_PATH, SAMPLE_CHILD_FLAG, NULL};
        execv(DROPPED_PATH, args);
        fail_errno("execv(" DROPPED_PATH ")", errno);
        _exit(127);
    }
    return (wait_bounded("dropped child", pid, 10000) == 0) ? 0 : 1;
}
SAMPLE_MAIN(dropper)
