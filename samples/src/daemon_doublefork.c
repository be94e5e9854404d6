/*
 * Daemonising: fork, setsid, fork again, chdir /, close stdio. The parent exits at
 * once; the daemon writes /tmp/.ferret-daemon.heartbeat 15 times, 200 ms apart (~3 s).
 */
#include "common.h"

#define DAEMON_HEARTBEAT "/tmp/.ferret-daemon.heartbeat"

static int run_daemon_doublefork(int argc, char **argv)
{
    pid_t pid;
    int i, fd;
    (void)argc;
    (void)argv;
    fflush(stdout);
    pid = fork();
    if (pid < 0)
        return (int)check("fork", -1);
    if (pid > 0) {
        say("fork", "ok child %d; parent exits", (int)pid);
        return 0;
    }
    check("setsid", setsid());
    pid = fork();
    if (pid < 0)
        _exit((int)check("fork (second)", -1) & 1);
    if (pid > 0) {
        say("fork (second)", "ok daemon %d", (int)pid);
        _exit(0);
    }
    check("chdir(\"/\")", chdir("/"));
    umask(0);
    say("daemon", "pid %d sid %d closing stdio", (int)getpid(), (int)getsid(0));
    close(0);
    close(1);
    close(2);
    fd = open("/dev/null", O_RDWR); /* keeps fds 0-2 from being reused by the heartbeat */
    if (fd == 0) {
        dup2(0, 1);
        dup2(0, 2);
    }
    for (i = 0; i < 15; i++) {
        char line[64];
        int n = snprintf(line, sizeof line, "beat %d pid %d\n", i, (int)getpid());
        int h = open(DAEMON_HEARTBEAT, O_WRONLY | O_CREAT | O_APPEND, 0644);
        if (h >= 0) {
            if (write(h, line, (size_t)n) < 0) {
                /* nothing to report to: stdio is closed */
            }
            close(h);
        }
        sleep_ms(200);
    }
    _exit(0);
}
SAMPLE_MAIN(daemon_doublefork)
