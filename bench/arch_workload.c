/* CPU-and-syscall workload for bench/arch.sh: integer mixing in a loop, then small
 * writes to /dev/null and open/close pairs. Prints a checksum so the work cannot be
 * optimised away. Usage: arch_workload [cpu_iterations] [syscalls] */
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

int main(int argc, char **argv) {
    long cpu = argc > 1 ? atol(argv[1]) : 50000000L;
    long calls = argc > 2 ? atol(argv[2]) : 20000L;
    uint32_t x = 2463534242u, sum = 0;
    for (long i = 0; i < cpu; i++) {
        x ^= x << 13;
        x ^= x >> 17;
        x ^= x << 5;
        sum += x * 2654435761u;
    }
    int fd = open("/dev/null", O_WRONLY);
    if (fd < 0) return 1;
    for (long i = 0; i < calls; i++) {
        if (write(fd, &sum, 1) != 1) return 2;
        if (i % 10 == 0) {
            int f = open("/dev/null", O_RDONLY);
            if (f < 0) return 3;
            close(f);
        }
    }
    close(fd);
    printf("%u\n", (unsigned)sum);
    return 0;
}
