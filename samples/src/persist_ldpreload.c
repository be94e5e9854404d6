/*
 * Persistence / hooking through /etc/ld.so.preload. The library it names does not
 * exist: the dynamic loader only warns, nothing is injected.
 */
#include "common.h"

static int run_persist_ldpreload(int argc, char **argv)
{
    static const char line[] = "/usr/lib/libferret-sample-hook.so\n";
    (void)argc;
    (void)argv;
    require_sandbox("persist_ldpreload");
    write_file("append /etc/ld.so.preload", "/etc/ld.so.preload", O_CREAT | O_APPEND, 0644, line,
               sizeof line - 1);
    return 0;
}
SAMPLE_MAIN(persist_ldpreload)
