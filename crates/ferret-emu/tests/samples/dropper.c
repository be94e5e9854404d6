/* First stage for ferret-emu's second-stage test: runs the program given as argv[1]
 * (a binary of another architecture) and exits with its exit code plus 10. */
#include <sys/wait.h>
#include <unistd.h>

int main(int argc, char **argv) {
    if (argc < 2) return 1;
    pid_t p = fork();
    if (p < 0) return 2;
    if (p == 0) {
        execl(argv[1], argv[1], "stage2", (char *)0);
        _exit(99);
    }
    int st = 0;
    if (waitpid(p, &st, 0) != p || !WIFEXITED(st)) return 3;
    return 10 + WEXITSTATUS(st);
}
