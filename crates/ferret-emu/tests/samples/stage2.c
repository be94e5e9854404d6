/* Second stage for ferret-emu's test: leaves a mark and exits 5. */
#include <fcntl.h>
#include <unistd.h>

int main(void) {
    int fd = open("/tmp/stage2-ran", O_WRONLY | O_CREAT | O_TRUNC, 0600);
    if (fd < 0) return 1;
    close(fd);
    return 5;
}
