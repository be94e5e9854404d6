/* Outlives any reasonable timeout: sleeps 1000 s (prints before and after). */
#include "common.h"

static int run_sleeper(int argc, char **argv)
{
    (void)argc;
    (void)argv;
    say("sleep", "1000 s");
    sleep_ms(1000L * 1000L);
    say("sleep", "done");
    return 0;
}
SAMPLE_MAIN(sleeper)
