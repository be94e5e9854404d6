/* Watchdog tampering: opens the watchdog devices and disables the card (as Mirai does). */
#include "common.h"
#include <linux/watchdog.h>
#include <sys/ioctl.h>

static void wd_try(const char *dev)
{
    char what[128];
    int fd, opt = WDIOS_DISABLECARD;
    snprintf(what, sizeof what, "open(%s)", dev);
    fd = open(dev, O_RDWR);
    if (check(what, fd) < 0)
        return;
    snprintf(what, sizeof what, "ioctl(%s, WDIOC_SETOPTIONS, WDIOS_DISABLECARD)", dev);
    check(what, ioctl(fd, WDIOC_SETOPTIONS, &opt));
    snprintf(what, sizeof what, "write(%s, \"V\")", dev);
    check(what, write(fd, "V", 1)); /* the "magic close" */
    close(fd);
}

static int run_watchdog(int argc, char **argv)
{
    (void)argc;
    (void)argv;
    require_sandbox("watchdog");
    wd_try("/dev/watchdog");
    wd_try("/dev/misc/watchdog");
    return 0;
}
SAMPLE_MAIN(watchdog)
