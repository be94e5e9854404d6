/*
 * Competitor killing: starts a "competing bot" (itself, re-executed as ./dvrHelper),
 * walks /proc reading each pid's cmdline and exe, and SIGKILLs the competitor. It only
 * ever kills a process that is its own child.
 */
#include "common.h"
#include <dirent.h>

#define COMPETITOR_NAME "./dvrHelper"

/* Parent pid from /proc/<pid>/stat (field 4, after the parenthesised comm). */
static long pwk_ppid_of(const char *pid)
{
    char path[64], buf[512];
    const char *p;
    snprintf(path, sizeof path, "/proc/%.32s/stat", pid);
    if (read_small(path, buf, sizeof buf) < 0 || (p = strrchr(buf, ')')) == NULL)
        return -1;
    return strtol(p + 3, NULL, 10);
}

static int run_proc_walk_kill(int argc, char **argv)
{
    char path[64], cmd[256], exe[256];
    DIR *d;
    struct dirent *e;
    pid_t competitor;
    int seen = 0, killed = 0;
    (void)argc;
    (void)argv;
    fflush(stdout);
    competitor = fork();
    if (competitor < 0)
        return (int)check("fork", -1) & 1;
    if (competitor == 0) {
        char *args[] = {COMPETITOR_NAME, SAMPLE_COMPETITOR_FLAG, NULL};
        execv("/proc/self/exe", args);
        _exit(127);
    }
    say("fork competitor", "ok pid %d", (int)competitor);
    /* Waits (at most 5 s) until the competitor has exec'd and shows its name. */
    snprintf(path, sizeof path, "/proc/%d/cmdline", (int)competitor);
    for (seen = 0; seen < 100; seen++) {
        if (read_small(path, cmd, sizeof cmd) > 0 && strstr(cmd, "dvrHelper"))
            break;
        sleep_ms(50);
    }
    seen = 0;
    d = opendir("/proc");
    if (!d) {
        check("opendir(/proc)", -1);
        kill(competitor, SIGKILL);
        waitpid(competitor, NULL, 0);
        return 1;
    }
    while ((e = readdir(d)) != NULL && seen < 4096) {
        long n;
        ssize_t x;
        if (e->d_name[0] < '0' || e->d_name[0] > '9')
            continue;
        seen++;
        snprintf(path, sizeof path, "/proc/%.32s/cmdline", e->d_name);
        n = read_small(path, cmd, sizeof cmd);
        if (n < 0)
            n = 0;
        snprintf(path, sizeof path, "/proc/%.32s/exe", e->d_name);
        x = readlink(path, exe, sizeof exe - 1);
        exe[x < 0 ? 0 : x] = '\0';
        say("proc", "pid %s cmdline %s exe %s", e->d_name, n > 0 ? cmd : "-", x > 0 ? exe : "-");
        if (strstr(cmd, "dvrHelper") && pwk_ppid_of(e->d_name) == (long)getpid()) {
            pid_t victim = (pid_t)strtol(e->d_name, NULL, 10);
            char what[64];
            snprintf(what, sizeof what, "kill(%d, SIGKILL)", (int)victim);
            if (check(what, kill(victim, SIGKILL)) == 0)
                killed++;
        }
    }
    closedir(d);
    say("walk", "%d pids, %d killed", seen, killed);
    if (!killed)
        kill(competitor, SIGKILL);
    wait_bounded("reap competitor", competitor, 5000);
    return killed ? 0 : 1;
}
SAMPLE_MAIN(proc_walk_kill)
