/* Two threads and the main thread each open their own file three times, at the
 * same time: their log pieces are written concurrently. Exits 5. */
#include <fcntl.h>
#include <pthread.h>
#include <unistd.h>

static void *opener(void *path)
{
    for (int i = 0; i < 3; i++) {
        int fd = open((const char *)path, O_RDONLY);
        if (fd >= 0)
            close(fd);
    }
    return 0;
}

int main(void)
{
    pthread_t a, b;
    if (pthread_create(&a, 0, opener, "/etc/hostname") != 0)
        return 1;
    if (pthread_create(&b, 0, opener, "/etc/passwd") != 0)
        return 1;
    opener("/etc/group");
    pthread_join(a, 0);
    pthread_join(b, 0);
    return 5;
}
