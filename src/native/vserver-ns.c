/*
 * vserver-ns: the namespace chores of a guest's start, each in one small static program instead of
 * util-linux's unshare and a shell (about 3 ms instead of 12-14 on every start). It runs on the
 * host, before any guest process exists, with the arguments VServer gives it; it reads no file.
 *
 *   vserver-ns create-without MOUNT PROGRAM [ARG...]
 *       Runs PROGRAM (crun's create) in a mount namespace of its own, a slave copy of the host's,
 *       without MOUNT (the hybrid host's cgroup2 mount, which holds controllers and makes crun
 *       refuse: "cgroups in hybrid mode not supported"). Nothing done in the new namespace
 *       reaches the host (slave propagation).
 *
 *   vserver-ns hold [--net]
 *       Makes a user namespace (and a network namespace it owns, with --net), says "ready" on its
 *       standard output and holds them until its standard input ends, while VServer writes the
 *       mapping and opens the namespaces (a process with threads cannot make a user namespace).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <sched.h>
#include <stdio.h>
#include <string.h>
#include <sys/mount.h>
#include <unistd.h>

static int fail(const char *what, const char *arg)
{
    fprintf(stderr, "vserver-ns: %s%s%s: %s\n", what, arg ? " " : "", arg ? arg : "", strerror(errno));
    return 1;
}

static int usage(void)
{
    fprintf(stderr, "usage: vserver-ns create-without MOUNT PROGRAM [ARG...] (absolute paths)\n"
                    "       vserver-ns hold [--net]\n");
    return 2;
}

static int create_without(char **argv)
{
    if (unshare(CLONE_NEWNS) < 0)
        return fail("unshare(CLONE_NEWNS)", NULL);
    if (mount(NULL, "/", NULL, MS_REC | MS_SLAVE, NULL) < 0)
        return fail("making the mount namespace a slave of the host's", NULL);
    if (umount2(argv[0], MNT_DETACH) < 0)
        return fail("umount", argv[0]);
    execv(argv[1], argv + 1);
    fail("exec", argv[1]);
    return 127;
}

static int hold(int net)
{
    char buf[64];
    ssize_t n;
    if (unshare(CLONE_NEWUSER | (net ? CLONE_NEWNET : 0)) < 0)
        return fail(net ? "unshare(CLONE_NEWUSER|CLONE_NEWNET)" : "unshare(CLONE_NEWUSER)", NULL);
    if (write(STDOUT_FILENO, "ready\n", 6) != 6)
        return fail("write", "ready");
    do
        n = read(STDIN_FILENO, buf, sizeof buf);
    while (n > 0 || (n < 0 && errno == EINTR));
    return 0;
}

int main(int argc, char **argv)
{
    if (argc >= 4 && strcmp(argv[1], "create-without") == 0 && argv[2][0] == '/' && argv[3][0] == '/')
        return create_without(argv + 2);
    if (argc == 2 && strcmp(argv[1], "hold") == 0)
        return hold(0);
    if (argc == 3 && strcmp(argv[1], "hold") == 0 && strcmp(argv[2], "--net") == 0)
        return hold(1);
    return usage();
}
