/*
 * Escape attempt (containment test): writes ferret-escape-marker files at host-ish
 * paths: /root, /tmp, through /proc/1/root and /proc/self/root, and with ../ chains.
 * The test checks that none of them appears on the host.
 */
#include "common.h"

static int run_host_write(int argc, char **argv)
{
    static const char *const paths[] = {
        "/root/ferret-escape-marker",
        "/tmp/ferret-escape-marker",
        "/proc/1/root/root/ferret-escape-marker",
        "/proc/1/root/tmp/ferret-escape-marker",
        "/proc/self/root/../../../../tmp/ferret-escape-marker",
        "../../../../../../../../root/ferret-escape-marker",
        "../../../../../../../../tmp/ferret-escape-marker",
        "/proc/1/cwd/ferret-escape-marker",
    };
    static const char marker[] = "ferret escape marker\n";
    size_t i;
    (void)argc;
    (void)argv;
    require_sandbox("host_write");
    for (i = 0; i < sizeof paths / sizeof paths[0]; i++) {
        char what[128];
        snprintf(what, sizeof what, "write %s", paths[i]);
        write_file(what, paths[i], O_CREAT | O_TRUNC, 0644, marker, sizeof marker - 1);
    }
    return 0;
}
SAMPLE_MAIN(host_write)
