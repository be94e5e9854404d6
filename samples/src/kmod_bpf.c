/*
 * Kernel tampering attempts: init_module and finit_module with a bogus image,
 * delete_module, and bpf(BPF_PROG_LOAD). The images are garbage, so even an
 * unconfined root only gets an error; in ferret's sandbox all are refused (EPERM).
 */
#include "common.h"

static int run_kmod_bpf(int argc, char **argv)
{
    static const char image[] = "\177ELF ferret benign sample: not a kernel module";
    /* BPF_PROG_LOAD of a socket filter "r0 = 0; exit" */
    static const unsigned long long insns[2] = {0x00000000000000b7ULL, 0x0000000000000095ULL};
    union {
        unsigned char raw[128];
        struct {
            unsigned int prog_type, insn_cnt;
            unsigned long long insns, license;
        } load;
    } attr;
    long rc;
    int fd;
    (void)argc;
    (void)argv;
#ifdef SYS_init_module
    rc = syscall(SYS_init_module, image, sizeof image, "");
#else
    rc = -1;
    errno = ENOSYS;
#endif
    check("init_module(bogus image)", rc);
    write_file("write /tmp/.ferret.ko", "/tmp/.ferret.ko", O_CREAT | O_TRUNC, 0644, image,
               sizeof image);
    fd = open("/tmp/.ferret.ko", O_RDONLY);
#ifdef SYS_finit_module
    rc = syscall(SYS_finit_module, fd, "", 0);
#else
    rc = -1;
    errno = ENOSYS;
#endif
    check("finit_module(/tmp/.ferret.ko)", rc);
    if (fd >= 0)
        close(fd);
#ifdef SYS_delete_module
    rc = syscall(SYS_delete_module, "ferret_sample_nonexistent", O_NONBLOCK);
#else
    rc = -1;
    errno = ENOSYS;
#endif
    check("delete_module(ferret_sample_nonexistent)", rc);
    memset(&attr, 0, sizeof attr);
    attr.load.prog_type = 1; /* BPF_PROG_TYPE_SOCKET_FILTER */
    attr.load.insn_cnt = 2;
    attr.load.insns = (unsigned long long)(unsigned long)insns;
    attr.load.license = (unsigned long long)(unsigned long)"GPL";
#ifdef SYS_bpf
    rc = syscall(SYS_bpf, 5 /* BPF_PROG_LOAD */, &attr, sizeof attr);
#else
    rc = -1;
    errno = ENOSYS;
#endif
    if (check("bpf(BPF_PROG_LOAD)", rc) >= 0)
        close((int)rc);
    return 0;
}
SAMPLE_MAIN(kmod_bpf)
