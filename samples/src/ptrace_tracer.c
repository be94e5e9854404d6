/*
 * Attaching to others (containment test): PTRACE_ATTACH and PTRACE_SEIZE on its
 * parent, on pid 1 and on every pid in /proc (at most 1024); detaches at once from
 * whatever it managed to attach to.
 */
#include "common.h"
#include <dirent.h>
#include <sys/ptrace.h>

#ifndef PTRACE_SEIZE
#define PTRACE_SEIZE 0x4206
#endif

static void pt_try(pid_t pid, const char *label)
{
    char what[96];
    long rc;
    snprintf(what, sizeof what, "ptrace(PTRACE_ATTACH, %d %s)", (int)pid, label);
    rc = ptrace(PTRACE_ATTACH, pid, NULL, NULL);
    check(what, rc);
    if (rc == 0) {
        waitpid(pid, NULL, __WALL);
        ptrace(PTRACE_DETACH, pid, NULL, NULL);
    }
    snprintf(what, sizeof what, "ptrace(PTRACE_SEIZE, %d %s)", (int)pid, label);
    rc = ptrace((enum __ptrace_request)PTRACE_SEIZE, pid, NULL, NULL);
    check(what, rc);
    if (rc == 0) {
        /* A seized task is not stopped; PTRACE_DETACH needs a stop, so interrupt first. */
        ptrace((enum __ptrace_request)0x4207 /* PTRACE_INTERRUPT */, pid, NULL, NULL);
        waitpid(pid, NULL, __WALL);
        ptrace(PTRACE_DETACH, pid, NULL, NULL);
    }
}

static int run_ptrace_tracer(int argc, char **argv)
{
    DIR *d;
    struct dirent *e;
    int seen = 0;
    pid_t self = getpid(), parent = getppid();
    (void)argc;
    (void)argv;
    require_sandbox("ptrace_tracer");
    pt_try(parent, "parent");
    pt_try(1, "init");
    d = opendir("/proc");
    if (!d)
        return (int)check("opendir(/proc)", -1) & 1;
    while ((e = readdir(d)) != NULL && seen < 1024) {
        pid_t pid;
        if (e->d_name[0] < '0' || e->d_name[0] > '9')
            continue;
        pid = (pid_t)strtol(e->d_name, NULL, 10);
        seen++;
        if (pid != self && pid != parent && pid != 1)
            pt_try(pid, "other");
    }
    closedir(d);
    say("pids seen", "%d", seen);
    return 0;
}
SAMPLE_MAIN(ptrace_tracer)
