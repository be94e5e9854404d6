/*
 * Fileless execution: copies itself into a memfd and runs it with
 * execveat(fd, "", AT_EMPTY_PATH) (fallback: execve of /proc/self/fd/N).
 */
#include "common.h"

#ifndef MFD_CLOEXEC
#define MFD_CLOEXEC 1U
#endif
#ifndef AT_EMPTY_PATH
#define AT_EMPTY_PATH 0x1000
#endif

static int run_memfd_exec(int argc, char **argv)
{
    char buf[65536];
    int fd = -1, in;
    ssize_t n;
    pid_t pid;
    (void)argc;
    (void)argv;
#ifdef SYS_memfd_create
    fd = (int)syscall(SYS_memfd_create, "kworker", 0U);
#else
    errno = ENOSYS;
#endif
    if (check("memfd_create(\"kworker\")", fd) < 0)
        return 1;
    in = open("/proc/self/exe", O_RDONLY);
    if (check("open(/proc/self/exe)", in) < 0)
        return 1;
    while ((n = read(in, buf, sizeof buf)) > 0) {
        if (write(fd, buf, (size_t)n) != n) {
            check("write(memfd)", -1);
            return 1;
        }
    }
    close(in);
    say("write(memfd)", "ok copy of /proc/self/exe");
    fflush(stdout);
    pid = fork();
    if (pid < 0)
        return (int)check("fork", -1) & 1;
    if (pid == 0) {
        char *args[] = {"[kworker/u8:2]", SAMPLE_CHILD_FLAG, NULL};
        char *env[] = {"PATH=/bin:/usr/bin", NULL};
        char path[64];
#ifdef SYS_execveat
        syscall(SYS_execveat, fd, "", args, env, AT_EMPTY_PATH);
        fail_errno("execveat(memfd, \"\", AT_EMPTY_PATH)", errno);
#else
        fail_errno("execveat(memfd, \"\", AT_EMPTY_PATH)", ENOSYS);
#endif
        snprintf(path, sizeof path, "/proc/self/fd/%d", fd);
        execve(path, args, env);
        fail_errno("execve(/proc/self/fd/N)", errno);
        _exit(127);
    }
    close(fd);
    return (wait_bounded("memfd child", pid, 10000) == 0) ? 0 : 1;
}
SAMPLE_MAIN(memfd_exec)
