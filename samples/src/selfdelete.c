/* Self-deletion: unlinks the file /proc/self/exe points to, then confirms. */
#include "common.h"

static int run_selfdelete(int argc, char **argv)
{
    char path[1024], after[1100];
    ssize_t n;
    (void)argc;
    (void)argv;
    require_sandbox("selfdelete");
    n = readlink("/proc/self/exe", path, sizeof path - 1);
    if (check("readlink(/proc/self/exe)", n) < 0)
        return 1;
    path[n] = '\0';
    say("exe", "%s", path);
    check("unlink(exe)", unlink(path));
    n = readlink("/proc/self/exe", after, sizeof after - 1);
    if (n >= 0) {
        after[n] = '\0';
        say("exe after unlink", "%s", after);
    }
    return 0;
}
SAMPLE_MAIN(selfdelete)
