/* Renames itself with prctl(PR_SET_NAME, argv[1]) as malware posing as a kernel thread
 * does, then lingers briefly so that the monitor can read it. */
#include <stdio.h>
#include <sys/prctl.h>
#include <unistd.h>

int main(int argc, char **argv) {
    if (argc < 2) {
        fprintf(stderr, "usage: rename NAME\n");
        return 2;
    }
    if (prctl(PR_SET_NAME, argv[1], 0, 0, 0) != 0) {
        perror("prctl");
        return 1;
    }
    usleep(300000);
    return 0;
}
