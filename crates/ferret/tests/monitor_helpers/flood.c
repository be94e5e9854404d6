/* Process-execution flood: FORKERS parallel loops of fork + execve(/bin/true) + wait,
 * until TOTAL executions or SECONDS have passed. Prints the number of executions. */
#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

int main(int argc, char **argv) {
    if (argc < 4) {
        fprintf(stderr, "usage: flood FORKERS SECONDS TOTAL\n");
        return 2;
    }
    int forkers = atoi(argv[1]);
    double secs = atof(argv[2]);
    long total = atol(argv[3]);
    long *count = mmap(NULL, sizeof(long) * 64, PROT_READ | PROT_WRITE,
                       MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    if (count == MAP_FAILED || forkers < 1 || forkers > 64) return 2;
    struct timespec t0;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    for (int i = 0; i < forkers; i++) {
        pid_t p = fork();
        if (p == 0) {
            long mine = 0, share = total / forkers;
            char *args[] = {"/bin/true", NULL};
            char *env[] = {NULL};
            for (;;) {
                struct timespec t;
                clock_gettime(CLOCK_MONOTONIC, &t);
                double el = (t.tv_sec - t0.tv_sec) + (t.tv_nsec - t0.tv_nsec) / 1e9;
                if (mine >= share || el >= secs) break;
                pid_t c = fork();
                if (c == 0) {
                    execve("/bin/true", args, env);
                    _exit(127);
                }
                if (c > 0) {
                    int st;
                    waitpid(c, &st, 0);
                    if (WIFEXITED(st) && WEXITSTATUS(st) == 0) mine++;
                }
            }
            count[i] = mine;
            _exit(0);
        }
    }
    for (int i = 0; i < forkers; i++) wait(NULL);
    long sum = 0;
    for (int i = 0; i < forkers; i++) sum += count[i];
    printf("%ld\n", sum);
    return 0;
}
