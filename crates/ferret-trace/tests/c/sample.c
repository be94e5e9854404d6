/* Test sample for ferret-trace: one behaviour per mode (argv[1]). */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <linux/netlink.h>
#include <pthread.h>
#include <signal.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/ptrace.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

static char *self;

static int files(const char *dir) {
    char a[512], b[512], d[512];
    snprintf(a, sizeof a, "%s/a.txt", dir);
    snprintf(b, sizeof b, "%s/b.txt", dir);
    snprintf(d, sizeof d, "%s/sub", dir);
    int fd = open(a, O_WRONLY | O_CREAT | O_TRUNC, 0640);
    if (fd < 0 || write(fd, "hello\n", 6) != 6) return 1;
    close(fd);
    fd = openat(AT_FDCWD, a, O_RDONLY | O_CLOEXEC);
    char buf[16];
    if (fd < 0 || read(fd, buf, sizeof buf) != 6) return 2;
    close(fd);
    if (rename(a, b) != 0) return 3;
    if (chmod(b, 0755) != 0) return 4;
    if (mkdir(d, 0700) != 0) return 5;
    if (rmdir(d) != 0) return 6;
    if (unlink(b) != 0) return 7;
    if (unlink(b) == 0 || errno != ENOENT) return 8;
    return 0;
}

static int chain(int stage) {
    char n[16];
    snprintf(n, sizeof n, "%d", stage + 1);
    char *argv[] = {self, "chain", n, NULL};
    char *envp[] = {"FERRET_STAGE=x", NULL};
    if (stage == 0) {
        pid_t p = fork();
        if (p == 0) { execve(self, argv, envp); _exit(100); }
        int st;
        waitpid(p, &st, 0);
        return WIFEXITED(st) && WEXITSTATUS(st) == 7 ? 0 : 1;
    }
    if (stage == 1) { execve(self, argv, envp); return 101; }
    return 7;
}

static int daemonize(const char *path) {
    pid_t p = fork();
    if (p == 0) {
        setsid();
        if (fork() == 0) {
            usleep(100000);
            int fd = open(path, O_WRONLY | O_CREAT, 0600);
            close(fd);
            _exit(0);
        }
        _exit(0);
    }
    int st;
    waitpid(p, &st, 0);
    return 0;
}

static void *thread_main(void *arg) {
    (void)arg;
    int fd = open("/dev/null", O_RDONLY);
    close(fd);
    return NULL;
}

static int threads(void) {
    pthread_t t[4];
    for (int i = 0; i < 4; i++) pthread_create(&t[i], NULL, thread_main, NULL);
    for (int i = 0; i < 4; i++) pthread_join(t[i], NULL);
    return 0;
}

static int free_port(int family) {
    int s = socket(family, SOCK_STREAM, 0);
    struct sockaddr_storage ss;
    memset(&ss, 0, sizeof ss);
    socklen_t len;
    if (family == AF_INET) {
        struct sockaddr_in *a = (struct sockaddr_in *)&ss;
        a->sin_family = AF_INET;
        a->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        len = sizeof *a;
    } else {
        struct sockaddr_in6 *a = (struct sockaddr_in6 *)&ss;
        a->sin6_family = AF_INET6;
        a->sin6_addr = in6addr_loopback;
        len = sizeof *a;
    }
    bind(s, (struct sockaddr *)&ss, len);
    getsockname(s, (struct sockaddr *)&ss, &len);
    close(s);
    return family == AF_INET ? ntohs(((struct sockaddr_in *)&ss)->sin_port)
                             : ntohs(((struct sockaddr_in6 *)&ss)->sin6_port);
}

static int net(void) {
    int port = free_port(AF_INET);
    int s = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, IPPROTO_TCP);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons(port)};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (connect(s, (struct sockaddr *)&a, sizeof a) == 0 || errno != ECONNREFUSED) return 1;
    close(s);
    port = free_port(AF_INET6);
    s = socket(AF_INET6, SOCK_STREAM, 0);
    struct sockaddr_in6 a6 = {.sin6_family = AF_INET6, .sin6_port = htons(port)};
    a6.sin6_addr = in6addr_loopback;
    if (connect(s, (struct sockaddr *)&a6, sizeof a6) == 0) return 2;
    close(s);
    s = socket(AF_UNIX, SOCK_STREAM, 0);
    struct sockaddr_un u = {.sun_family = AF_UNIX};
    memcpy(u.sun_path, "\0ferret-abstract", 16);
    connect(s, (struct sockaddr *)&u, offsetof(struct sockaddr_un, sun_path) + 16);
    struct sockaddr_un p = {.sun_family = AF_UNIX};
    strcpy(p.sun_path, "/nonexistent/ferret.sock");
    connect(s, (struct sockaddr *)&p, sizeof p);
    close(s);
    s = socket(AF_NETLINK, SOCK_RAW, NETLINK_ROUTE);
    struct sockaddr_nl nl = {.nl_family = AF_NETLINK};
    bind(s, (struct sockaddr *)&nl, sizeof nl);
    close(s);
    /* UDP send to loopback on a free port: no one reads it. */
    s = socket(AF_INET, SOCK_DGRAM, 0);
    a.sin_port = htons(free_port(AF_INET));
    sendto(s, "x", 1, MSG_DONTWAIT, (struct sockaddr *)&a, sizeof a);
    close(s);
    /* Loopback listener, connect to it and accept: the peer address is decoded. */
    int l = socket(AF_INET, SOCK_STREAM, 0);
    a.sin_port = 0;
    socklen_t alen = sizeof a;
    if (bind(l, (struct sockaddr *)&a, sizeof a) || listen(l, 1) ||
        getsockname(l, (struct sockaddr *)&a, &alen))
        return 3;
    s = socket(AF_INET, SOCK_STREAM, 0);
    if (connect(s, (struct sockaddr *)&a, sizeof a)) return 4;
    struct sockaddr_in peer;
    socklen_t plen = sizeof peer;
    int c = accept4(l, (struct sockaddr *)&peer, &plen, SOCK_CLOEXEC);
    if (c < 0) return 5;
    close(c);
    close(s);
    close(l);
    return 0;
}

static int memfd_exec(void) {
    int src = open("/bin/true", O_RDONLY);
    int m = memfd_create("ferret-payload", MFD_CLOEXEC);
    char buf[65536];
    ssize_t n;
    while ((n = read(src, buf, sizeof buf)) > 0) write(m, buf, n);
    close(src);
    char *argv[] = {"payload", "--fileless", NULL};
    char *envp[] = {NULL};
    fexecve(m, argv, envp);
    return 50;
}

static void *exec_thread(void *arg) {
    char *a[] = {self, "exit42", NULL};
    (void)arg;
    execve(self, a, a + 2);
    return NULL;
}

/* A non-leader thread execs: the kernel gives it the leader's tid. */
static int thread_exec(void) {
    pthread_t t;
    pthread_create(&t, NULL, exec_thread, NULL);
    for (;;) pause();
}

static void *storm_thread(void *arg) {
    (void)arg;
    for (int i = 0; i < 50; i++) close(open("/dev/null", O_RDONLY));
    return NULL;
}

/* 16 processes x 4 threads x 50 opens, all at once. */
static int storm(void) {
    pid_t kids[16];
    for (int k = 0; k < 16; k++) {
        kids[k] = fork();
        if (kids[k] == 0) {
            pthread_t t[4];
            for (int i = 0; i < 4; i++) pthread_create(&t[i], NULL, storm_thread, NULL);
            for (int i = 0; i < 4; i++) pthread_join(t[i], NULL);
            _exit(k);
        }
    }
    int bad = 0;
    for (int k = 0; k < 16; k++) {
        int st;
        waitpid(kids[k], &st, 0);
        bad += !WIFEXITED(st) || WEXITSTATUS(st) != k;
    }
    return bad;
}

static int vfork_exec(void) {
    pid_t p = vfork();
    if (p == 0) {
        char *a[] = {"/bin/true", NULL};
        execve(a[0], a, a + 1);
        _exit(70);
    }
    int st;
    waitpid(p, &st, 0);
    return WIFEXITED(st) ? WEXITSTATUS(st) : 71;
}

/* Bad pointers and oversized arguments: the tracer must decode what it can. */
static int hostile(void) {
    syscall(SYS_openat, AT_FDCWD, (char *)1, O_RDONLY);
    static char longpath[8000];
    memset(longpath, 'a', sizeof longpath - 1);
    longpath[0] = '/';
    open(longpath, O_RDONLY);
    /* A string running into an unmapped page. */
    char *two = mmap(NULL, 8192, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    munmap(two + 4096, 4096);
    memcpy(two + 4093, "abc", 3);
    open(two + 4093, O_RDONLY);
    int s = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET};
    syscall(SYS_connect, s, &a, 0x7fffffff);
    close(s);
    static char *argv[301];
    argv[0] = "/bin/true";
    for (int i = 1; i < 300; i++) argv[i] = "x";
    pid_t p = fork();
    if (p == 0) {
        char *envp[] = {NULL};
        execve(argv[0], argv, envp);
        _exit(80);
    }
    int st;
    waitpid(p, &st, 0);
    return WIFEXITED(st) ? WEXITSTATUS(st) : 81;
}

static int kill_child(void) {
    pid_t p = fork();
    if (p == 0) { for (;;) pause(); }
    usleep(50000);
    kill(p, SIGTERM);
    int st;
    waitpid(p, &st, 0);
    return WIFSIGNALED(st) && WTERMSIG(st) == SIGTERM ? 0 : 1;
}

static int stop_cont(void) {
    pid_t p = fork();
    if (p == 0) { raise(SIGSTOP); _exit(5); }
    int st;
    waitpid(p, &st, WUNTRACED);
    kill(p, SIGCONT);
    waitpid(p, &st, 0);
    return WIFEXITED(st) && WEXITSTATUS(st) == 5 ? 0 : 1;
}

static int spin(long n) {
    int fd = open("/dev/null", O_WRONLY);
    for (long i = 0; i < n; i++) {
        syscall(SYS_getpid);
        if (write(fd, "x", 1) != 1) return 1;
    }
    return 0;
}

int main(int argc, char **argv) {
    self = argv[0];
    const char *m = argc > 1 ? argv[1] : "";
    if (!strcmp(m, "files") && argc > 2) return files(argv[2]);
    if (!strcmp(m, "chain")) return chain(argc > 2 ? atoi(argv[2]) : 0);
    if (!strcmp(m, "daemon") && argc > 2) return daemonize(argv[2]);
    if (!strcmp(m, "threads")) return threads();
    if (!strcmp(m, "prctl")) return prctl(PR_SET_NAME, "[kworker/0:1]", 0, 0, 0) ? 1 : 0;
    if (!strcmp(m, "traceme")) return ptrace(PTRACE_TRACEME, 0, NULL, NULL) == -1 && errno == EPERM ? 0 : 1;
    if (!strcmp(m, "net")) return net();
    if (!strcmp(m, "memfd")) return memfd_exec();
    if (!strcmp(m, "kill")) return kill_child();
    if (!strcmp(m, "threadexec")) return thread_exec();
    if (!strcmp(m, "storm")) return storm();
    if (!strcmp(m, "hostile")) return hostile();
    if (!strcmp(m, "vfork")) return vfork_exec();
    if (!strcmp(m, "stop")) return stop_cont();
    if (!strcmp(m, "missing")) {
        char *a[] = {"/nonexistent/ferret-missing", NULL};
        execve(a[0], a, a + 1);
        return errno == ENOENT ? 3 : 4;
    }
    if (!strcmp(m, "exit42")) return 42;
    if (!strcmp(m, "abort")) abort();
    if (!strcmp(m, "sigkill")) { kill(getpid(), SIGKILL); pause(); }
    if (!strcmp(m, "spin") && argc > 2) return spin(atol(argv[2]));
    if (!strcmp(m, "sleep")) { sleep(30); return 0; }
    if (!strcmp(m, "exec") && argc > 2) {
        char *a[] = {argv[2], "exec64", self, NULL};
        execve(a[0], a, a + 3);
        return 60;
    }
    fprintf(stderr, "unknown mode %s\n", m);
    return 99;
}
