/*
 * Memory bomb (containment test): allocates and touches 16 MiB blocks until
 * allocation fails or 8 GiB are reached (the sandbox's memory limit should OOM-kill
 * it first). Prints a line every 64 MiB.
 */
#include "common.h"

#define MB_BLOCK (16UL << 20)
#define MB_MAX_BLOCKS 512UL

static int run_memory_bomb(int argc, char **argv)
{
    unsigned long blocks = 0;
    (void)argc;
    (void)argv;
    require_sandbox("memory_bomb");
    say("memory bomb", "start");
    while (blocks < MB_MAX_BLOCKS) {
        char *p = malloc(MB_BLOCK);
        if (!p) {
            check("malloc(16 MiB)", -1);
            break;
        }
        memset(p, 0xa5, MB_BLOCK); /* touch every page so it is really resident */
        blocks++;
        if (blocks % 4 == 0)
            say("allocated", "%lu MiB", blocks * 16);
    }
    say("memory bomb", "stopped at %lu MiB", blocks * 16);
    return 0;
}
SAMPLE_MAIN(memory_bomb)
