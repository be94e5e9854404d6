/* Telnet scanning: connects to ports 23 and 2323 of 198.51.100.1-64 (documentation net). */
#include "common.h"

static int run_telnet_scan(int argc, char **argv)
{
    static const int ports[] = {23, 2323};
    (void)argc;
    (void)argv;
    scan_range("198.51.100.", 1, 64, ports, 2, 1500);
    return 0;
}
SAMPLE_MAIN(telnet_scan)
