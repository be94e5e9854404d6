/* Process masquerading: thread name and argv[0] become a kernel-thread-like name. */
#include "common.h"
#include <sys/prctl.h>

#define RENAME_FAKE_NAME "[kworker/0:1]"

static int run_rename_prctl(int argc, char **argv)
{
    char buf[256];
    char *start = argv[0], *end = argv[0];
    size_t room;
    long n;
    int i;
    check("prctl(PR_SET_NAME, \"" RENAME_FAKE_NAME "\")",
          prctl(PR_SET_NAME, (unsigned long)RENAME_FAKE_NAME, 0, 0, 0));
    /* argv strings are contiguous: overwrite all of them so cmdline shows only the fake. */
    for (i = 0; i < argc; i++)
        end = argv[i] + strlen(argv[i]);
    room = (size_t)(end - start);
    memset(start, 0, room);
    strncpy(start, RENAME_FAKE_NAME, room);
    say("overwrite argv[0]", "ok %zu bytes", room);
    if (read_small("/proc/self/comm", buf, sizeof buf) >= 0) {
        buf[strcspn(buf, "\n")] = '\0';
        say("read /proc/self/comm", "ok %s", buf);
    } else {
        check("read /proc/self/comm", -1);
    }
    n = read_small("/proc/self/cmdline", buf, sizeof buf);
    if (n >= 0)
        say("read /proc/self/cmdline", "ok %s", buf);
    else
        check("read /proc/self/cmdline", -1);
    return 0;
}
SAMPLE_MAIN(rename_prctl)
