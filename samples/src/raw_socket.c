/*
 * Raw sockets: AF_INET/SOCK_RAW/IPPROTO_TCP (sends three hand-made TCP SYNs to
 * 198.51.100.7:80, a documentation address) and AF_PACKET/SOCK_RAW.
 */
#include "common.h"
#include <netinet/tcp.h>

#ifndef AF_PACKET
#define AF_PACKET 17
#endif
#define RAW_ETH_P_ALL 0x0003

/* A 20-byte TCP header with the SYN flag (checksum left to chance: nobody receives it). */
static void raw_syn(unsigned char *h, unsigned short sport, unsigned short dport, unsigned seq)
{
    memset(h, 0, 20);
    h[0] = (unsigned char)(sport >> 8);
    h[1] = (unsigned char)sport;
    h[2] = (unsigned char)(dport >> 8);
    h[3] = (unsigned char)dport;
    h[4] = (unsigned char)(seq >> 24);
    h[5] = (unsigned char)(seq >> 16);
    h[6] = (unsigned char)(seq >> 8);
    h[7] = (unsigned char)seq;
    h[12] = 5 << 4; /* data offset: 5 words */
    h[13] = 0x02;   /* SYN */
    h[14] = 0x72;   /* window 29200 */
    h[15] = 0x10;
}

static int run_raw_socket(int argc, char **argv)
{
    struct sockaddr_in dst;
    unsigned char syn[20];
    int fd, i;
    (void)argc;
    (void)argv;
    fd = socket(AF_INET, SOCK_RAW, IPPROTO_TCP);
    if (check("socket(AF_INET, SOCK_RAW, IPPROTO_TCP)", fd) >= 0) {
        memset(&dst, 0, sizeof dst);
        dst.sin_family = AF_INET;
        inet_pton(AF_INET, "198.51.100.7", &dst.sin_addr);
        for (i = 0; i < 3; i++) {
            raw_syn(syn, (unsigned short)(40000 + i), 80, 0x12345678U + (unsigned)i);
            check("sendto(raw, SYN, 198.51.100.7:80)",
                  sendto(fd, syn, sizeof syn, 0, (struct sockaddr *)&dst, sizeof dst));
        }
        close(fd);
    }
    fd = socket(AF_PACKET, SOCK_RAW, htons(RAW_ETH_P_ALL));
    if (check("socket(AF_PACKET, SOCK_RAW, ETH_P_ALL)", fd) >= 0)
        close(fd);
    return 0;
}
SAMPLE_MAIN(raw_socket)
