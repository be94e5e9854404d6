/* Many files (containment test): creates 100,000 one-byte files in /tmp/many/. */
#include "common.h"

static int run_many_files(int argc, char **argv)
{
    char path[64];
    long i, made = 0;
    int err = 0;
    (void)argc;
    (void)argv;
    require_sandbox("many_files");
    check("mkdir(/tmp/many)", mkdir("/tmp/many", 0755));
    for (i = 0; i < 100000; i++) {
        int fd;
        snprintf(path, sizeof path, "/tmp/many/f%06ld", i);
        fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
        if (fd < 0) {
            err = errno;
            break;
        }
        if (write(fd, "x", 1) != 1 && !err)
            err = errno;
        close(fd);
        made++;
    }
    if (err)
        fail_errno("create", err);
    say("many files", "%ld created", made);
    return 0;
}
SAMPLE_MAIN(many_files)
