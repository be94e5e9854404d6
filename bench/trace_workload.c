/* Syscall-heavy workload for bench/trace.sh (ferret-trace).
 *
 * Usage: trace_workload [ITERATIONS (default 200000)] [DIR (default /tmp)]
 *
 * Each iteration makes 4 syscalls outside ferret's default traced set
 * (getppid, write to /dev/null, read from /dev/zero, fstat); every 1000th
 * iteration also opens, writes and unlinks a file in DIR (3 traced
 * syscalls: openat, unlink + close untraced), and every 20000th forks a child
 * that exits at once (clone, exit_group, wait4). So ~0.1% of the syscalls are
 * in the default set, while --trace-all stops on every one of them.
 */
#define _GNU_SOURCE
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

int main(int argc, char **argv) {
    long n = argc > 1 ? atol(argv[1]) : 200000;
    const char *dir = argc > 2 ? argv[2] : "/tmp";
    char path[4096];
    snprintf(path, sizeof path, "%s/trace_workload.%d", dir, (int)getpid());
    int out = open("/dev/null", O_WRONLY);
    int in = open("/dev/zero", O_RDONLY);
    if (out < 0 || in < 0) {
        perror("open");
        return 1;
    }
    char buf[64];
    struct stat st;
    long sum = 0;
    for (long i = 0; i < n; i++) {
        sum += syscall(SYS_getppid);
        if (write(out, buf, sizeof buf) != sizeof buf) return 2;
        if (read(in, buf, sizeof buf) != sizeof buf) return 3;
        if (fstat(out, &st) != 0) return 4;
        if (i % 1000 == 0) {
            int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
            if (fd < 0 || write(fd, buf, 8) != 8) return 5;
            close(fd);
            unlink(path);
        }
        if (i % 20000 == 0) {
            pid_t p = fork();
            if (p == 0) _exit(0);
            int ws;
            waitpid(p, &ws, 0);
        }
    }
    printf("%ld iterations, checksum %ld\n", n, sum % 7);
    return 0;
}
