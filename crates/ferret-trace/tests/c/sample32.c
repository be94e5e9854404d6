/* 32-bit (i386) test sample for ferret-trace. */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

int main(int argc, char **argv) {
    const char *m = argc > 1 ? argv[1] : "";
    if (!strcmp(m, "exec64") && argc > 2) {
        char *a[] = {argv[2], "exit42", NULL};
        execve(a[0], a, a + 2);
        return 61;
    }
    int fd = open("/dev/null", O_RDONLY);
    close(fd);
    prctl(PR_SET_NAME, "t32name", 0, 0, 0);
    int s = socket(AF_INET, SOCK_DGRAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons(9)};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    connect(s, (struct sockaddr *)&a, sizeof a);
    close(s);
    pid_t p = fork();
    if (p == 0) _exit(4);
    int st;
    waitpid(p, &st, 0);
    return WIFEXITED(st) && WEXITSTATUS(st) == 4 ? 9 : 10;
}
