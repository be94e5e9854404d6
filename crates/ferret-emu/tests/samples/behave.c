/* Benign behaviour sample for ferret-emu's tests: opens a file, renames itself,
 * connects to a closed loopback port, forks and re-executes itself, exits 3 when the
 * child exited 7. */
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

int main(int argc, char **argv) {
    if (argc > 1 && strcmp(argv[1], "child") == 0) {
        int fd = open("/tmp/child-was-here", O_WRONLY | O_CREAT | O_TRUNC, 0644);
        if (fd >= 0) close(fd);
        return 7;
    }
    int fd = open("/etc/hostname", O_RDONLY);
    if (fd >= 0) close(fd);
    prctl(PR_SET_NAME, "kworker/0:1", 0, 0, 0);
    int s = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a;
    memset(&a, 0, sizeof a);
    a.sin_family = AF_INET;
    a.sin_port = htons(9);
    a.sin_addr.s_addr = inet_addr("127.0.0.1");
    if (connect(s, (struct sockaddr *)&a, sizeof a) == 0) return 20;
    close(s);
    pid_t p = fork();
    if (p < 0) return 21;
    if (p == 0) {
        execl(argv[0], argv[0], "child", "x y", (char *)0);
        _exit(99);
    }
    int st = 0;
    if (waitpid(p, &st, 0) != p) return 22;
    return WIFEXITED(st) && WEXITSTATUS(st) == 7 ? 3 : 23;
}
