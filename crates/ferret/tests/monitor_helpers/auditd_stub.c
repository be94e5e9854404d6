/* A stand-in for another audit daemon: registers itself as the audit daemon (AUDIT_SET
 * pid), prints "registered", reads and discards records, and unregisters on SIGTERM. */
#include <linux/audit.h>
#include <linux/netlink.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <unistd.h>

static volatile sig_atomic_t stop;
static void on_term(int s) { (void)s; stop = 1; }

static int set_pid(int fd, unsigned pid) {
    struct {
        struct nlmsghdr h;
        struct audit_status s;
    } m;
    memset(&m, 0, sizeof m);
    m.h.nlmsg_len = sizeof m;
    m.h.nlmsg_type = AUDIT_SET;
    m.h.nlmsg_flags = NLM_F_REQUEST | NLM_F_ACK;
    m.h.nlmsg_seq = 1;
    m.s.mask = AUDIT_STATUS_PID;
    m.s.pid = pid;
    struct sockaddr_nl k = {.nl_family = AF_NETLINK};
    if (sendto(fd, &m, sizeof m, 0, (struct sockaddr *)&k, sizeof k) < 0) return -1;
    char buf[8192];
    for (int i = 0; i < 100; i++) {
        ssize_t n = recv(fd, buf, sizeof buf, 0);
        if (n < 0) return -1;
        struct nlmsghdr *h = (struct nlmsghdr *)buf;
        if (h->nlmsg_type == NLMSG_ERROR) return ((struct nlmsgerr *)NLMSG_DATA(h))->error;
    }
    return -1;
}

int main(void) {
    signal(SIGTERM, on_term);
    /* Never outlive the test that started it (it would keep owning audit). */
    prctl(PR_SET_PDEATHSIG, SIGTERM);
    if (getppid() == 1) return 1;
    int fd = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_AUDIT);
    if (fd < 0) { perror("socket"); return 1; }
    struct timeval tv = {.tv_sec = 0, .tv_usec = 200000};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    int r = set_pid(fd, (unsigned)getpid());
    if (r != 0) { fprintf(stderr, "AUDIT_SET pid: %d\n", r); return 1; }
    printf("registered\n");
    fflush(stdout);
    char buf[9000];
    while (!stop) recv(fd, buf, sizeof buf, 0);
    r = set_pid(fd, 0);
    return r == 0 ? 0 : 1;
}
