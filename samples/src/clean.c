/*
 * A harmless program: reads /etc/hostname (or the file named by argv[1]), prints its
 * size, line count and CRC-32, counts the primes below 100000 and exits 0.
 */
#include "common.h"

static int run_clean(int argc, char **argv)
{
    const char *path = argc >= 2 && argv[1][0] != '-' ? argv[1] : "/etc/hostname";
    unsigned long crc = 0xffffffffUL, bytes = 0, lines = 0;
    unsigned char buf[4096];
    static unsigned char composite[100000];
    ssize_t n, i;
    long primes = 0, p, q;
    int fd = open(path, O_RDONLY);
    if (fd >= 0) {
        while ((n = read(fd, buf, sizeof buf)) > 0) {
            for (i = 0; i < n; i++) {
                int k;
                crc ^= buf[i];
                for (k = 0; k < 8; k++)
                    crc = (crc >> 1) ^ (0xedb88320UL & (0UL - (crc & 1)));
                lines += buf[i] == '\n';
            }
            bytes += (unsigned long)n;
        }
        close(fd);
        printf("read %s: ok %lu bytes %lu lines crc32 %08lx\n", path, bytes, lines,
               (crc ^ 0xffffffffUL) & 0xffffffffUL);
    } else {
        printf("read %s: fail %s (%s)\n", path, errno_name(errno), strerror(errno));
    }
    for (p = 2; p < 100000; p++) {
        if (composite[p])
            continue;
        primes++;
        if (p > 100000 / p)
            continue; /* p * p would pass the end (and overflow a 32-bit long) */
        for (q = p * p; q < 100000; q += p)
            composite[q] = 1;
    }
    printf("primes below 100000: %ld\n", primes);
    return 0;
}
SAMPLE_MAIN(clean)
