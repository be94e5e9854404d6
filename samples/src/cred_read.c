/* Credential access: reads /etc/passwd and /etc/shadow; prints only line counts. */
#include "common.h"

static void cred_count(const char *path)
{
    char buf[4096];
    char what[64];
    long lines = 0, bytes = 0;
    ssize_t n, i;
    int fd = open(path, O_RDONLY);
    snprintf(what, sizeof what, "read %s", path);
    if (fd < 0) {
        check(what, -1);
        return;
    }
    while ((n = read(fd, buf, sizeof buf)) > 0) {
        bytes += n;
        for (i = 0; i < n; i++)
            lines += buf[i] == '\n';
    }
    close(fd);
    say(what, "ok %ld lines %ld bytes", lines, bytes);
}

static int run_cred_read(int argc, char **argv)
{
    (void)argc;
    (void)argv;
    cred_count("/etc/passwd");
    cred_count("/etc/shadow");
    return 0;
}
SAMPLE_MAIN(cred_read)
