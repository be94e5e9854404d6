/* Anti-debugging: PTRACE_TRACEME fails when a tracer is attached; TracerPid confirms. */
#include "common.h"
#include <sys/ptrace.h>

static int run_antidebug_traceme(int argc, char **argv)
{
    char buf[4096];
    const char *tp;
    long tracer = -1;
    long rc;
    (void)argc;
    (void)argv;
    rc = ptrace(PTRACE_TRACEME, 0, NULL, NULL);
    check("ptrace(PTRACE_TRACEME)", rc);
    if (read_small("/proc/self/status", buf, sizeof buf) < 0) {
        check("read /proc/self/status", -1);
    } else if ((tp = strstr(buf, "TracerPid:")) != NULL) {
        tracer = strtol(tp + 10, NULL, 10);
        say("read /proc/self/status", "ok TracerPid %ld", tracer);
    }
    if (rc < 0 || tracer > 0)
        say("verdict", "debugger detected");
    else
        say("verdict", "no debugger");
    return 0;
}
SAMPLE_MAIN(antidebug_traceme)
