/*
 * A bot's network life (issue 5's network test): resolves the C2 name, sends an HTTP
 * GET, joins an IRC channel, logs in over telnet (user "root", password "xc3511"),
 * then connects to port 23 on 203.0.113.1-50. Usage: c2_client [C2-NAME].
 * Every step is bounded (2-3 s at most); the whole run takes at most ~12 s.
 */
#include "common.h"

/* Reads telnet data for `ms`, refusing every option the server proposes (IAC WONT/DONT). */
static long c2_telnet_read(int fd, char *text, size_t cap, long ms)
{
    unsigned char buf[1024];
    size_t t = 0;
    long i, n = recv_for(fd, (char *)buf, sizeof buf, ms);
    for (i = 0; i < n; i++) {
        if (buf[i] == 255 && i + 2 < n && buf[i + 1] >= 251 && buf[i + 1] <= 254) {
            unsigned char reply[3];
            reply[0] = 255;
            reply[1] = (buf[i + 1] == 253 || buf[i + 1] == 254) ? 252 : 254; /* WONT : DONT */
            reply[2] = buf[i + 2];
            if (send(fd, reply, 3, MSG_NOSIGNAL) < 0)
                break;
            i += 2;
        } else if (buf[i] != 255 && t + 1 < cap && (buf[i] >= 32 || buf[i] == '\n')) {
            text[t++] = (char)buf[i];
        }
    }
    text[t] = '\0';
    return n;
}

static void c2_http(const char *name, const char *ip)
{
    char req[512], resp[2048], line[256];
    int fd = tcp_connect(ip, 80, 3000);
    if (check("connect C2:80", fd) < 0)
        return;
    snprintf(req, sizeof req,
             "GET /bot/register?id=ferret HTTP/1.1\r\nHost: %s\r\n"
             "User-Agent: Mozilla/5.0 ferret-sample\r\nConnection: close\r\n\r\n",
             name);
    check("http GET /bot/register", send_str(fd, req));
    recv_for(fd, resp, sizeof resp, 2000);
    say("http response", "%s", first_line(resp, line, sizeof line));
    close(fd);
}

static void c2_irc(const char *ip)
{
    char resp[2048], line[256];
    int fd = tcp_connect(ip, 6667, 3000);
    if (check("connect C2:6667", fd) < 0)
        return;
    check("irc NICK/USER", send_str(fd, "NICK ferretbot\r\nUSER ferretbot 0 * :ferret sample\r\n"));
    recv_for(fd, resp, sizeof resp, 1000);
    say("irc welcome", "%s", first_line(resp, line, sizeof line));
    check("irc JOIN #ferret-c2", send_str(fd, "JOIN #ferret-c2 botkey\r\n"));
    check("irc PRIVMSG", send_str(fd, "PRIVMSG #ferret-c2 :ready arch=sample\r\n"));
    recv_for(fd, resp, sizeof resp, 500);
    send_str(fd, "QUIT :bye\r\n");
    close(fd);
}

static void c2_telnet(const char *ip)
{
    char text[1024], line[256];
    int fd = tcp_connect(ip, 23, 3000);
    if (check("connect C2:23", fd) < 0)
        return;
    c2_telnet_read(fd, text, sizeof text, 1000);
    say("telnet prompt", "%s", first_line(text, line, sizeof line));
    check("telnet user root", send_str(fd, "root\r\n"));
    c2_telnet_read(fd, text, sizeof text, 1000);
    check("telnet password xc3511", send_str(fd, "xc3511\r\n"));
    c2_telnet_read(fd, text, sizeof text, 1000);
    check("telnet command", send_str(fd, "enable\r\nsystem\r\nshell\r\nsh\r\n/bin/busybox FERRET\r\n"));
    c2_telnet_read(fd, text, sizeof text, 500);
    close(fd);
}

static int run_c2_client(int argc, char **argv)
{
    static const int telnet_port[] = {23};
    const char *name = argc >= 2 && argv[1][0] != '-' ? argv[1] : SAMPLE_C2_NAME;
    char ip[64];
    resolve_c2(name, ip, sizeof ip);
    c2_http(name, ip);
    c2_irc(ip);
    c2_telnet(ip);
    scan_range("203.0.113.", 1, 50, telnet_port, 1, 1500);
    return 0;
}
SAMPLE_MAIN(c2_client)
