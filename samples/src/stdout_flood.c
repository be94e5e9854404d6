/* Output flood (containment test): writes 10 MiB of text to stdout, reports on stderr. */
#include "common.h"

static int run_stdout_flood(int argc, char **argv)
{
    static char block[65536];
    long total = 0;
    size_t i;
    (void)argc;
    (void)argv;
    for (i = 0; i < sizeof block; i++)
        block[i] = (i % 64 == 63) ? '\n' : (char)('a' + i % 26);
    while (total < 10L << 20) {
        ssize_t n = write(1, block, sizeof block);
        if (n <= 0) {
            if (n < 0 && errno == EINTR)
                continue;
            break;
        }
        total += n;
    }
    fprintf(stderr, "stdout flood: %ld bytes written\n", total);
    return 0;
}
SAMPLE_MAIN(stdout_flood)
