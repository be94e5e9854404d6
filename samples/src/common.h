/*
 * Shared helpers of ferret's benign behaviour samples.
 *
 * Every sample prints one line per action on stdout:
 *     <action>: ok [detail]
 *     <action>: fail <ERRNO-NAME> (<strerror text>)
 * and flushes after each line, so a test sees the order of actions even when the
 * sample forks, execs or gets killed. Network targets are documentation addresses
 * (192.0.2.0/24, 198.51.100.0/24, 203.0.113.0/24) and names under ".example".
 *
 * Samples whose action would hurt a host (persistence, history wiping, watchdog,
 * fork and memory bombs, ...) call require_sandbox() first: it refuses to run unless
 * the process is in a non-initial user namespace, which ferret's sandbox always is.
 */
#ifndef FERRET_SAMPLE_COMMON_H
#define FERRET_SAMPLE_COMMON_H

#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/time.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define SAMPLE_UNUSED __attribute__((unused))

/* The C2 name the network samples resolve unless given one on the command line. */
#define SAMPLE_C2_NAME "cnc.ferret-botnet.example"
/* Used when the C2 name does not resolve (e.g. a sandbox without network). */
#define SAMPLE_C2_FALLBACK "203.0.113.10"

static const char *errno_name(int e)
{
    switch (e) {
    case 0: return "0";
    case EPERM: return "EPERM";
    case ENOENT: return "ENOENT";
    case ESRCH: return "ESRCH";
    case EINTR: return "EINTR";
    case EIO: return "EIO";
    case ENXIO: return "ENXIO";
    case E2BIG: return "E2BIG";
    case ENOEXEC: return "ENOEXEC";
    case EBADF: return "EBADF";
    case ECHILD: return "ECHILD";
    case EAGAIN: return "EAGAIN";
    case ENOMEM: return "ENOMEM";
    case EACCES: return "EACCES";
    case EFAULT: return "EFAULT";
    case EBUSY: return "EBUSY";
    case EEXIST: return "EEXIST";
    case EXDEV: return "EXDEV";
    case ENODEV: return "ENODEV";
    case ENOTDIR: return "ENOTDIR";
    case EISDIR: return "EISDIR";
    case EINVAL: return "EINVAL";
    case ENFILE: return "ENFILE";
    case EMFILE: return "EMFILE";
    case ENOTTY: return "ENOTTY";
    case ETXTBSY: return "ETXTBSY";
    case EFBIG: return "EFBIG";
    case ENOSPC: return "ENOSPC";
    case EROFS: return "EROFS";
    case EMLINK: return "EMLINK";
    case EPIPE: return "EPIPE";
    case ERANGE: return "ERANGE";
    case ENAMETOOLONG: return "ENAMETOOLONG";
    case ENOSYS: return "ENOSYS";
    case ELOOP: return "ELOOP";
    case EDQUOT: return "EDQUOT";
    case ENOTSOCK: return "ENOTSOCK";
    case EPROTONOSUPPORT: return "EPROTONOSUPPORT";
    case EAFNOSUPPORT: return "EAFNOSUPPORT";
    case EADDRINUSE: return "EADDRINUSE";
    case EADDRNOTAVAIL: return "EADDRNOTAVAIL";
    case ENETDOWN: return "ENETDOWN";
    case ENETUNREACH: return "ENETUNREACH";
    case ECONNABORTED: return "ECONNABORTED";
    case ECONNRESET: return "ECONNRESET";
    case ENOBUFS: return "ENOBUFS";
    case EISCONN: return "EISCONN";
    case ENOTCONN: return "ENOTCONN";
    case ETIMEDOUT: return "ETIMEDOUT";
    case ECONNREFUSED: return "ECONNREFUSED";
    case EHOSTUNREACH: return "EHOSTUNREACH";
    case EALREADY: return "EALREADY";
    case EINPROGRESS: return "EINPROGRESS";
    default: return "E?";
    }
}

/* Prints "<what>: <printf detail>" and flushes. */
static SAMPLE_UNUSED void say(const char *what, const char *fmt, ...)
{
    va_list ap;
    printf("%s: ", what);
    va_start(ap, fmt);
    vprintf(fmt, ap);
    va_end(ap);
    putchar('\n');
    fflush(stdout);
}

/* Reports a libc/syscall result: negative means failure with errno. Keeps errno. */
static SAMPLE_UNUSED long check(const char *what, long rc)
{
    int e = errno;
    if (rc < 0)
        printf("%s: fail %s (%s)\n", what, errno_name(e), strerror(e));
    else
        printf("%s: ok %ld\n", what, rc);
    fflush(stdout);
    errno = e;
    return rc;
}

/* Reports a failure whose error code is `e` (errno-style, positive). */
static SAMPLE_UNUSED void fail_errno(const char *what, int e)
{
    printf("%s: fail %s (%s)\n", what, errno_name(e), strerror(e));
    fflush(stdout);
}

/* Milliseconds since the first call: stays small enough for a 32-bit long. */
static SAMPLE_UNUSED long now_ms(void)
{
    static long long base = -1;
    struct timespec ts;
    long long t;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    t = (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
    if (base < 0)
        base = t;
    return (long)(t - base);
}

static SAMPLE_UNUSED void sleep_ms(long ms)
{
    struct timespec ts;
    ts.tv_sec = ms / 1000;
    ts.tv_nsec = (ms % 1000) * 1000000L;
    while (nanosleep(&ts, &ts) < 0 && errno == EINTR) {
    }
}

/* Refuses to go on outside a user namespace (see the file comment). */
static SAMPLE_UNUSED void require_sandbox(const char *name)
{
    char buf[256];
    unsigned long inside = 1, outside = 1, count = 0;
    FILE *f = fopen("/proc/self/uid_map", "r");
    int identity = 1;
    if (f) {
        if (fgets(buf, sizeof buf, f) &&
            sscanf(buf, "%lu %lu %lu", &inside, &outside, &count) == 3)
            identity = inside == 0 && outside == 0 && count == 4294967295UL;
        fclose(f);
    }
    if (identity) {
        printf("%s: refusing to run outside a user namespace (run it only in ferret's sandbox)\n",
               name);
        fflush(stdout);
        exit(2);
    }
}

/* Writes `len` bytes of `data` to `path` (flags as open(2)); reports and returns 0/-1. */
static SAMPLE_UNUSED int write_file(const char *what, const char *path, int flags, mode_t mode,
                                    const void *data, size_t len)
{
    const char *p = data;
    int fd = open(path, O_WRONLY | flags, mode);
    if (fd < 0) {
        check(what, -1);
        return -1;
    }
    while (len > 0) {
        ssize_t n = write(fd, p, len);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            check(what, -1);
            close(fd);
            return -1;
        }
        p += n;
        len -= (size_t)n;
    }
    close(fd);
    say(what, "ok %s", path);
    return 0;
}

/* mkdir -p of every parent directory of `path` (mode 0755). */
static SAMPLE_UNUSED void mkdir_parents(const char *path)
{
    char buf[512];
    size_t i, n = strlen(path);
    if (n >= sizeof buf)
        return;
    memcpy(buf, path, n + 1);
    for (i = 1; i < n; i++) {
        if (buf[i] == '/') {
            buf[i] = '\0';
            mkdir(buf, 0755);
            buf[i] = '/';
        }
    }
}

/* Reads up to cap-1 bytes of a file into buf (NUL-terminated); returns the length or -1. */
static SAMPLE_UNUSED long read_small(const char *path, char *buf, size_t cap)
{
    size_t got = 0;
    int fd = open(path, O_RDONLY);
    if (fd < 0)
        return -1;
    while (got + 1 < cap) {
        ssize_t n = read(fd, buf + got, cap - 1 - got);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            break;
        got += (size_t)n;
    }
    close(fd);
    buf[got] = '\0';
    return (long)got;
}

/*
 * Waits for `pid` at most `ms` milliseconds, then SIGKILLs it; reports how it ended
 * under `what` and returns the wait status (or -1).
 */
static SAMPLE_UNUSED int wait_bounded(const char *what, pid_t pid, long ms)
{
    long end = now_ms() + ms;
    int status = 0;
    for (;;) {
        pid_t w = waitpid(pid, &status, WNOHANG);
        if (w == pid)
            break;
        if (w < 0) {
            check(what, -1);
            return -1;
        }
        if (now_ms() >= end) {
            kill(pid, SIGKILL);
            waitpid(pid, &status, 0);
            say(what, "timeout, killed pid %d", (int)pid);
            return status;
        }
        sleep_ms(20);
    }
    if (WIFEXITED(status))
        say(what, "ok exit %d", WEXITSTATUS(status));
    else if (WIFSIGNALED(status))
        say(what, "ok signal %d", WTERMSIG(status));
    return status;
}

/* Runs `cmd` with /bin/sh -c, bounded to `ms` milliseconds; returns the wait status. */
static SAMPLE_UNUSED int run_shell(const char *what, const char *cmd, long ms)
{
    pid_t pid;
    fflush(stdout);
    pid = fork();
    if (pid < 0) {
        check(what, -1);
        return -1;
    }
    if (pid == 0) {
        execl("/bin/sh", "sh", "-c", cmd, (char *)NULL);
        fail_errno("execl /bin/sh", errno);
        _exit(127);
    }
    say(what, "spawned pid %d: sh -c '%s'", (int)pid, cmd);
    return wait_bounded(what, pid, ms);
}

/*
 * Non-blocking TCP connect to ip:port, waiting at most `ms`. Returns the connected
 * socket or -1 with errno set (ETIMEDOUT when nothing answered in time).
 */
static SAMPLE_UNUSED int tcp_connect(const char *ip, int port, long ms)
{
    struct sockaddr_in sa;
    struct pollfd pfd;
    int fd, err = 0, r;
    socklen_t len = sizeof err;
    memset(&sa, 0, sizeof sa);
    sa.sin_family = AF_INET;
    sa.sin_port = htons((unsigned short)port);
    if (inet_pton(AF_INET, ip, &sa.sin_addr) != 1) {
        errno = EINVAL;
        return -1;
    }
    fd = socket(AF_INET, SOCK_STREAM, 0);
    if (fd < 0)
        return -1;
    fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
    if (connect(fd, (struct sockaddr *)&sa, sizeof sa) == 0)
        goto connected;
    if (errno != EINPROGRESS) {
        err = errno;
        close(fd);
        errno = err;
        return -1;
    }
    pfd.fd = fd;
    pfd.events = POLLOUT;
    r = poll(&pfd, 1, (int)ms);
    if (r <= 0) {
        close(fd);
        errno = r == 0 ? ETIMEDOUT : errno;
        return -1;
    }
    if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) < 0 || err != 0) {
        close(fd);
        errno = err ? err : EIO;
        return -1;
    }
connected:
    fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) & ~O_NONBLOCK);
    return fd;
}

/* Sends all of `s`; returns 0 or -1. */
static SAMPLE_UNUSED int send_str(int fd, const char *s)
{
    size_t len = strlen(s);
    while (len > 0) {
        ssize_t n = send(fd, s, len, MSG_NOSIGNAL);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            return -1;
        }
        s += n;
        len -= (size_t)n;
    }
    return 0;
}

/* Receives what arrives within `ms` (at most cap-1 bytes, NUL-terminated); returns the length. */
static SAMPLE_UNUSED long recv_for(int fd, char *buf, size_t cap, long ms)
{
    long end = now_ms() + ms;
    size_t got = 0;
    while (got + 1 < cap) {
        struct pollfd pfd;
        long left = end - now_ms();
        ssize_t n;
        if (left <= 0)
            break;
        pfd.fd = fd;
        pfd.events = POLLIN;
        if (poll(&pfd, 1, (int)left) <= 0)
            break;
        n = recv(fd, buf + got, cap - 1 - got, 0);
        if (n <= 0)
            break;
        got += (size_t)n;
    }
    buf[got] = '\0';
    return (long)got;
}

/* Copies the first line of `s` (at most cap-1 bytes, no CR/LF) into out. */
static SAMPLE_UNUSED const char *first_line(const char *s, char *out, size_t cap)
{
    size_t i = 0;
    while (s[i] && s[i] != '\r' && s[i] != '\n' && i + 1 < cap) {
        out[i] = s[i];
        i++;
    }
    out[i] = '\0';
    return out;
}

/* Copies this program's own executable to `dest` with `mode`; returns 0 or -1. */
static SAMPLE_UNUSED int copy_self(const char *what, const char *dest, mode_t mode)
{
    char buf[65536];
    int in = open("/proc/self/exe", O_RDONLY), out;
    ssize_t n;
    if (in < 0) {
        check(what, -1);
        return -1;
    }
    out = open(dest, O_WRONLY | O_CREAT | O_TRUNC, mode);
    if (out < 0) {
        check(what, -1);
        close(in);
        return -1;
    }
    while ((n = read(in, buf, sizeof buf)) > 0) {
        if (write(out, buf, (size_t)n) != n) {
            check(what, -1);
            close(in);
            close(out);
            return -1;
        }
    }
    close(in);
    close(out);
    say(what, "ok %s", dest);
    return 0;
}


/*
 * Scans `count` addresses <net><first>.. on each of `ports` with non-blocking
 * connects, all in flight at once, waiting at most `ms` for answers. Prints one
 * "connect A:P" line per attempt and per result; returns the number of attempts.
 */
#define SCAN_MAX 256
static SAMPLE_UNUSED int scan_range(const char *net, int first, int count, const int *ports,
                                    int nports, long ms)
{
    struct pollfd pfd[SCAN_MAX];
    char addr[SCAN_MAX][24];
    int port[SCAN_MAX];
    int n = 0, i, j, attempts = 0, open_count = 0;
    long end;
    for (i = 0; i < count; i++) {
        for (j = 0; j < nports && n < SCAN_MAX; j++) {
            struct sockaddr_in sa;
            char what[64];
            int fd;
            snprintf(addr[n], sizeof addr[n], "%s%d", net, first + i);
            port[n] = ports[j];
            snprintf(what, sizeof what, "connect %.23s:%d", addr[n], port[n]);
            memset(&sa, 0, sizeof sa);
            sa.sin_family = AF_INET;
            sa.sin_port = htons((unsigned short)port[n]);
            inet_pton(AF_INET, addr[n], &sa.sin_addr);
            fd = socket(AF_INET, SOCK_STREAM, 0);
            if (fd < 0) {
                check(what, -1);
                continue;
            }
            fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
            attempts++;
            if (connect(fd, (struct sockaddr *)&sa, sizeof sa) == 0) {
                say(what, "ok open");
                open_count++;
                close(fd);
                continue;
            }
            if (errno != EINPROGRESS) {
                check(what, -1);
                close(fd);
                continue;
            }
            pfd[n].fd = fd;
            pfd[n].events = POLLOUT;
            pfd[n].revents = 0;
            n++;
        }
    }
    end = now_ms() + ms;
    for (;;) {
        int pending = 0;
        long left = end - now_ms();
        for (i = 0; i < n; i++)
            pending += pfd[i].fd >= 0;
        if (pending == 0 || left <= 0 || poll(pfd, (nfds_t)n, (int)left) <= 0)
            break;
        for (i = 0; i < n; i++) {
            int err = 0;
            socklen_t len = sizeof err;
            char what[64];
            if (pfd[i].fd < 0 || pfd[i].revents == 0)
                continue;
            snprintf(what, sizeof what, "connect %.23s:%d", addr[i], port[i]);
            getsockopt(pfd[i].fd, SOL_SOCKET, SO_ERROR, &err, &len);
            if (err == 0) {
                say(what, "ok open");
                open_count++;
            } else {
                fail_errno(what, err);
            }
            close(pfd[i].fd);
            pfd[i].fd = -1;
        }
    }
    for (i = 0; i < n; i++) {
        if (pfd[i].fd >= 0) {
            char what[64];
            snprintf(what, sizeof what, "connect %.23s:%d", addr[i], port[i]);
            fail_errno(what, ETIMEDOUT);
            close(pfd[i].fd);
        }
    }
    printf("scan: %d attempts, %d open\n", attempts, open_count);
    fflush(stdout);
    return attempts;
}


#include <netdb.h>

/*
 * Resolves `name` to an IPv4 address string with getaddrinfo, reporting the result;
 * falls back to SAMPLE_C2_FALLBACK so the rest of a sample's behaviour still happens.
 */
static SAMPLE_UNUSED void resolve_c2(const char *name, char *ip, size_t cap)
{
    struct addrinfo hints, *res = NULL;
    char what[300];
    int rc;
    memset(&hints, 0, sizeof hints);
    hints.ai_family = AF_INET;
    hints.ai_socktype = SOCK_STREAM;
    snprintf(what, sizeof what, "getaddrinfo(%s)", name);
    rc = getaddrinfo(name, NULL, &hints, &res);
    if (rc == 0 && res && res->ai_family == AF_INET) {
        inet_ntop(AF_INET, &((struct sockaddr_in *)res->ai_addr)->sin_addr, ip, (socklen_t)cap);
        say(what, "ok %s", ip);
    } else {
        snprintf(ip, cap, "%s", SAMPLE_C2_FALLBACK);
        say(what, "fail %s; using %s", gai_strerror(rc), ip);
    }
    if (res)
        freeaddrinfo(res);
}

/*
 * Modes a sample enters when it re-executes itself (dropper, memfd_exec,
 * proc_walk_kill): handled before the sample's own behaviour.
 */
#define SAMPLE_CHILD_FLAG "--ferret-child"
#define SAMPLE_COMPETITOR_FLAG "--ferret-competitor"

static SAMPLE_UNUSED void sample_dispatch(int argc, char **argv)
{
    if (argc >= 2 && strcmp(argv[1], SAMPLE_CHILD_FLAG) == 0) {
        say("child", "running as %s pid %d", argv[0], (int)getpid());
        exit(0);
    }
    if (argc >= 2 && strcmp(argv[1], SAMPLE_COMPETITOR_FLAG) == 0) {
        /* A "competing bot": waits to be found and killed (at most 30 s). */
        int i;
        for (i = 0; i < 300; i++)
            sleep_ms(100);
        exit(0);
    }
}

/*
 * Each behaviour file defines `static int run_<name>(int argc, char **argv)` and ends
 * with SAMPLE_MAIN(<name>); all_in_one.c includes the files with SAMPLE_ALL_IN_ONE set
 * and calls the run_ functions itself.
 */
#ifdef SAMPLE_ALL_IN_ONE
#define SAMPLE_MAIN(name)
#else
#define SAMPLE_MAIN(name)                                                                 \
    int main(int argc, char **argv)                                                       \
    {                                                                                     \
        sample_dispatch(argc, argv);                                                      \
        return run_##name(argc, argv);                                                    \
    }
#endif

#endif
