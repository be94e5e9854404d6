/*
 * Disk filler (containment test): writes 1 MiB files /tmp/.fill/NNNN until a write
 * fails (ENOSPC, EFBIG, EDQUOT) or 8 GiB are written.
 */
#include "common.h"

static int run_tmpfs_filler(int argc, char **argv)
{
    static char block[1 << 20];
    char path[64];
    long files;
    long long total = 0;
    int err = 0;
    (void)argc;
    (void)argv;
    require_sandbox("tmpfs_filler");
    memset(block, 'F', sizeof block);
    check("mkdir(/tmp/.fill)", mkdir("/tmp/.fill", 0755));
    for (files = 0; files < 8192 && !err; files++) {
        size_t left = sizeof block;
        int fd;
        snprintf(path, sizeof path, "/tmp/.fill/%04ld", files);
        fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
        if (fd < 0) {
            err = errno;
            break;
        }
        while (left > 0) {
            ssize_t n = write(fd, block + (sizeof block - left), left);
            if (n <= 0) {
                err = n < 0 ? errno : ENOSPC;
                break;
            }
            left -= (size_t)n;
            total += n;
        }
        close(fd);
        if (files % 32 == 0)
            say("written", "%lld MiB", total >> 20);
    }
    if (err)
        fail_errno("fill", err);
    say("tmpfs filler", "stopped after %lld bytes in %ld files", total, files);
    return 0;
}
SAMPLE_MAIN(tmpfs_filler)
