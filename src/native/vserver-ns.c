/*
 * vserver-ns: the namespace chores of a guest's start, each in one small static program instead of
 * util-linux's unshare and a shell (about 3 ms instead of 12-14 on every start), and the attach of
 * a command to a running guest. create-without and hold run on the host before any guest process
 * exists, with the arguments VServer gives them, and read no file; attach reads only what VServer
 * names (its description, the host's /proc, crun's compiled filter), all before it joins the guest.
 *
 *   vserver-ns create-without MOUNT PROGRAM [ARG...]
 *       Runs PROGRAM (crun's create) in a mount namespace of its own, a slave copy of the host's,
 *       without MOUNT (the hybrid host's cgroup2 mount, which holds controllers and makes crun
 *       refuse: "cgroups in hybrid mode not supported"). Nothing done in the new namespace
 *       reaches the host (slave propagation).
 *
 *   vserver-ns gate FD create-without MOUNT PROGRAM [ARG...]
 *   vserver-ns gate FD PROGRAM [ARG...]
 *       Waits for VServer's word on FD (a pipe it made, inherited through conmon) before it goes on
 *       as above or runs PROGRAM: conmon is started while VServer still writes the guest's bundle,
 *       and the runtime's create runs once the bundle is there. One byte '1' is the word; the pipe's
 *       end without it (the start failed or was cancelled, or VServer died) ends it with status 1,
 *       and nothing is run.
 *
 *   vserver-ns hold [--net]
 *       Makes a user namespace (and a network namespace it owns, with --net), says "ready" on its
 *       standard output and holds them until its standard input ends, while VServer writes the
 *       mapping and opens the namespaces (a process with threads cannot make a user namespace).
 *
 *   vserver-ns attach FD
 *       Runs a command in a running guest, as the runtime's exec does, without the runtime: joins
 *       the guest's cgroups and every namespace its init has (one setns on a pidfd), forks into its
 *       PID namespace, takes the guest's seccomp filter, user, groups and capabilities, and execs the
 *       command; waits for it, passes on the signals it gets and exits with the command's status
 *       (128 + N for a signal). FD is an anonymous memory file VServer wrote: NUL-terminated
 *       "key=value" records (below). The process is not dumpable from before it joins the guest
 *       until the command's exec, so the guest's root cannot open, trace or write it through /proc,
 *       and it holds no descriptor but the command's standard input, output and error when it joins.
 *       It runs from a read-only bind mount (RuntimeBinary), as crun does.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <limits.h>
#include <linux/capability.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <sched.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "proc-stat.h"

static int fail(const char *what, const char *arg)
{
    fprintf(stderr, "vserver-ns: %s%s%s: %s\n", what, arg ? " " : "", arg ? arg : "", strerror(errno));
    return 1;
}

static int usage(void)
{
    fprintf(stderr, "usage: vserver-ns create-without MOUNT PROGRAM [ARG...] (absolute paths)\n"
                    "       vserver-ns gate FD create-without MOUNT PROGRAM [ARG...]\n"
                    "       vserver-ns gate FD PROGRAM [ARG...]\n"
                    "       vserver-ns hold [--net]\n"
                    "       vserver-ns attach FD\n");
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

/* gate FD COMMAND...: COMMAND once one byte '1' comes on FD (closed first, so the runtime never holds it). */
static int gate(const char *fdarg, char **command)
{
    char *end;
    errno = 0;
    long fd = strtol(fdarg, &end, 10);
    if (errno || *end || end == fdarg || fd < 3 || fd > INT_MAX)
        return usage();
    char word = 0;
    ssize_t n;
    while ((n = read((int)fd, &word, 1)) < 0 && errno == EINTR)
        ;
    if (n < 0)
        return fail("gate: read", fdarg);
    close((int)fd);
    if (n != 1 || word != '1')
    {
        fprintf(stderr, "vserver-ns: the start was called off before the runtime ran\n");
        return 1;
    }
    if (strcmp(command[0], "create-without") == 0)
        return command[1] && command[2] && command[1][0] == '/' && command[2][0] == '/' ? create_without(command + 1) : usage();
    if (command[0][0] != '/')
        return usage();
    execv(command[0], command);
    fail("exec", command[0]);
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

/* ---------------------------------------------------------------- attach */

#ifndef CLONE_NEWTIME
#define CLONE_NEWTIME 0x00000080
#endif
#ifndef SYS_pidfd_open
#define SYS_pidfd_open 434
#endif
#ifndef SYS_close_range
#define SYS_close_range 436
#endif

struct attach
{
    pid_t pid;
    unsigned long long ticks;
    char **cgroups;
    int ncgroups;
    const char *seccomp;
    int has_nice, nice;
    int nrlimits;
    int rlimit_resource[RLIM_NLIMITS];
    struct rlimit rlimit[RLIM_NLIMITS];
    uid_t uid;
    gid_t gid;
    gid_t *groups;
    int ngroups;
    uint64_t bounding, effective, permitted, inheritable, ambient;
    int no_new_privs;
    const char *cwd;
    char **env;
    int nenv;
    char **args;
    int nargs;
};

static int bad_record(const char *record)
{
    fprintf(stderr, "vserver-ns: attach: bad record '%.60s'\n", record);
    return -1;
}

static int number(const char *s, unsigned long long max, unsigned long long *out)
{
    char *end;
    if (*s == '\0' || *s == '-')
        return -1;
    errno = 0;
    unsigned long long v = strtoull(s, &end, 0);
    if (errno || *end != '\0' || v > max)
        return -1;
    *out = v;
    return 0;
}

/* The description VServer wrote: NUL-terminated "key=value" records. */
static int read_spec(int fd, struct attach *a)
{
    size_t size = 0, cap = 1 << 16;
    char *buf = malloc(cap);
    ssize_t n;
    if (!buf)
        return fail("attach: malloc", NULL), -1;
    /* from the start: the writer's offset is the end of what it wrote */
    if (lseek(fd, 0, SEEK_SET) < 0)
        return fail("attach: reading the description", NULL), -1;
    while ((n = read(fd, buf + size, cap - size)) != 0)
    {
        if (n < 0)
        {
            if (errno == EINTR)
                continue;
            return fail("attach: reading the description", NULL), -1;
        }
        size += (size_t)n;
        if (size == cap)
        {
            if (cap >= (64u << 20))
                return fprintf(stderr, "vserver-ns: attach: description too large\n"), -1;
            cap *= 2;
            if (!(buf = realloc(buf, cap)))
                return fail("attach: malloc", NULL), -1;
        }
    }
    close(fd);
    if (size == 0 || buf[size - 1] != '\0')
        return fprintf(stderr, "vserver-ns: attach: the description does not end in a NUL\n"), -1;

    int records = 0;
    for (size_t i = 0; i < size; i++)
        records += buf[i] == '\0';
    a->cgroups = calloc((size_t)records + 1, sizeof(char *));
    a->env = calloc((size_t)records + 1, sizeof(char *));
    a->args = calloc((size_t)records + 1, sizeof(char *));
    a->groups = calloc((size_t)records + 1, sizeof(gid_t));
    if (!a->cgroups || !a->env || !a->args || !a->groups)
        return fail("attach: malloc", NULL), -1;
    a->pid = -1;
    a->uid = (uid_t)-1;
    a->gid = (gid_t)-1;

    for (char *r = buf, *next; r < buf + size; r = next)
    {
        next = r + strlen(r) + 1;
        char *v = strchr(r, '=');
        unsigned long long x;
        if (!v)
            return bad_record(r);
        *v++ = '\0';
        if (!strcmp(r, "pid") && !number(v, INT_MAX, &x) && x > 0)
            a->pid = (pid_t)x;
        else if (!strcmp(r, "ticks") && !number(v, ULLONG_MAX, &x))
            a->ticks = x;
        else if (!strcmp(r, "cgroup") && v[0] == '/')
            a->cgroups[a->ncgroups++] = v;
        else if (!strcmp(r, "seccomp") && v[0] == '/')
            a->seccomp = v;
        else if (!strcmp(r, "nice"))
        {
            int neg = v[0] == '-';
            if (number(v + neg, 20, &x))
                return bad_record(r);
            a->has_nice = 1;
            a->nice = neg ? -(int)x : (int)x;
        }
        else if (!strcmp(r, "rlimit"))
        {
            /* RESOURCE,SOFT,HARD (numbers; RLIM_INFINITY as its value) */
            char *soft = strchr(v, ','), *hard = soft ? strchr(soft + 1, ',') : NULL;
            unsigned long long res, s, h;
            if (!soft || !hard || a->nrlimits == RLIM_NLIMITS)
                return bad_record(r);
            *soft++ = '\0';
            *hard++ = '\0';
            if (number(v, RLIM_NLIMITS - 1, &res) || number(soft, ULLONG_MAX, &s) || number(hard, ULLONG_MAX, &h))
                return bad_record(r);
            a->rlimit_resource[a->nrlimits] = (int)res;
            a->rlimit[a->nrlimits].rlim_cur = s;
            a->rlimit[a->nrlimits].rlim_max = h;
            a->nrlimits++;
        }
        else if (!strcmp(r, "uid") && !number(v, UINT_MAX - 1, &x))
            a->uid = (uid_t)x;
        else if (!strcmp(r, "gid") && !number(v, UINT_MAX - 1, &x))
            a->gid = (gid_t)x;
        else if (!strcmp(r, "group") && !number(v, UINT_MAX - 1, &x))
            a->groups[a->ngroups++] = (gid_t)x;
        else if (!strcmp(r, "bounding") && !number(v, ULLONG_MAX, &x))
            a->bounding = x;
        else if (!strcmp(r, "effective") && !number(v, ULLONG_MAX, &x))
            a->effective = x;
        else if (!strcmp(r, "permitted") && !number(v, ULLONG_MAX, &x))
            a->permitted = x;
        else if (!strcmp(r, "inheritable") && !number(v, ULLONG_MAX, &x))
            a->inheritable = x;
        else if (!strcmp(r, "ambient") && !number(v, ULLONG_MAX, &x))
            a->ambient = x;
        else if (!strcmp(r, "no_new_privs") && !strcmp(v, "1"))
            a->no_new_privs = 1;
        else if (!strcmp(r, "cwd") && v[0] == '/')
            a->cwd = v;
        else if (!strcmp(r, "env") && strchr(v, '=') && v[0] != '=')
            a->env[a->nenv++] = v;
        else if (!strcmp(r, "arg"))
            a->args[a->nargs++] = v;
        else
        {
            v[-1] = '=';
            return bad_record(r);
        }
    }
    if (a->pid <= 0 || a->uid == (uid_t)-1 || a->gid == (gid_t)-1 || !a->cwd || a->nargs == 0 || a->args[0][0] == '\0')
        return fprintf(stderr, "vserver-ns: attach: the description lacks pid, uid, gid, cwd or the command\n"), -1;
    return 0;
}

/* Every namespace the guest's init has that this process has not. */
static int namespaces_of(pid_t pid)
{
    static const struct { const char *name; int flag; } all[] = {
        { "user", CLONE_NEWUSER }, { "mnt", CLONE_NEWNS }, { "pid", CLONE_NEWPID }, { "net", CLONE_NEWNET },
        { "uts", CLONE_NEWUTS }, { "ipc", CLONE_NEWIPC }, { "cgroup", CLONE_NEWCGROUP }, { "time", CLONE_NEWTIME },
    };
    int flags = 0;
    for (size_t i = 0; i < sizeof all / sizeof all[0]; i++)
    {
        char theirs[64], ours[64];
        struct stat t, o;
        snprintf(theirs, sizeof theirs, "/proc/%d/ns/%s", (int)pid, all[i].name);
        snprintf(ours, sizeof ours, "/proc/self/ns/%s", all[i].name);
        if (stat(theirs, &t) < 0 || stat(ours, &o) < 0)
        {
            if (errno == ENOENT && all[i].flag == CLONE_NEWTIME)
                continue; /* a kernel without time namespaces */
            return -1;
        }
        if (t.st_ino != o.st_ino || t.st_dev != o.st_dev)
            flags |= all[i].flag;
    }
    return flags;
}

static int read_filter(const char *path, struct sock_fprog *prog)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
    struct stat st;
    if (fd < 0 || fstat(fd, &st) < 0)
        return fail("attach: opening the seccomp filter", path), -1;
    if (!S_ISREG(st.st_mode) || st.st_size == 0 || st.st_size % (off_t)sizeof(struct sock_filter) != 0 ||
        st.st_size / (off_t)sizeof(struct sock_filter) > BPF_MAXINSNS)
    {
        close(fd);
        return fprintf(stderr, "vserver-ns: attach: %s is not a seccomp filter\n", path), -1;
    }
    prog->len = (unsigned short)(st.st_size / (off_t)sizeof(struct sock_filter));
    prog->filter = malloc((size_t)st.st_size);
    size_t done = 0;
    while (prog->filter && done < (size_t)st.st_size)
    {
        ssize_t n = read(fd, (char *)prog->filter + done, (size_t)st.st_size - done);
        if (n <= 0 && !(n < 0 && errno == EINTR))
            break;
        if (n > 0)
            done += (size_t)n;
    }
    close(fd);
    if (done != (size_t)st.st_size)
        return fail("attach: reading the seccomp filter", path), -1;
    return 0;
}

static volatile pid_t attached_child;

static void pass_on(int sig)
{
    if (attached_child > 0)
        kill(attached_child, sig);
}

static void exec_in_path(struct attach *a)
{
    const char *file = a->args[0];
    if (strchr(file, '/'))
    {
        execve(file, a->args, a->env);
        return;
    }
    const char *path = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";
    for (int i = 0; i < a->nenv; i++)
        if (!strncmp(a->env[i], "PATH=", 5))
            path = a->env[i] + 5;
    int saw_eacces = 0;
    char full[PATH_MAX];
    for (const char *p = path;; p++)
    {
        const char *end = strchr(p, ':');
        size_t len = end ? (size_t)(end - p) : strlen(p);
        if (len + 1 + strlen(file) < sizeof full)
        {
            snprintf(full, sizeof full, "%.*s%s%s", (int)len, p, len ? "/" : "", file);
            execve(full, a->args, a->env);
            if (errno == EACCES)
                saw_eacces = 1;
            else if (errno != ENOENT && errno != ENOTDIR)
                return;
        }
        if (!end)
            break;
        p = end;
    }
    errno = saw_eacces ? EACCES : ENOENT;
}

/* The child, in the guest's PID namespace: becomes the command. Returns only on failure. */
static int become_command(struct attach *a, struct sock_fprog *filter, const sigset_t *mask)
{
    struct __user_cap_header_struct header = { _LINUX_CAPABILITY_VERSION_3, 0 };
    struct __user_cap_data_struct data[2];
    /* the guest's filter first, while every capability is held: loading it needs CAP_SYS_ADMIN
     * (in the guest's user namespace) unless no_new_privs is set */
    if (a->no_new_privs && prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0)
        return fail("attach: no_new_privs", NULL);
    if (filter->len && syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, 0, filter) < 0)
        return fail("attach: loading the guest's seccomp filter", NULL);
    /* the bounding set while CAP_SETPCAP is still effective (a user other than root loses it at setresuid) */
    for (int cap = 0; cap < 64; cap++)
    {
        if (a->bounding & (1ULL << cap))
            continue;
        if (prctl(PR_CAPBSET_DROP, cap, 0, 0, 0) < 0)
        {
            if (errno == EINVAL)
                break; /* past the kernel's last capability */
            return fail("attach: dropping a capability from the bounding set", NULL);
        }
    }
    if (setgroups((size_t)a->ngroups, a->groups) < 0)
        return fail("attach: setgroups", NULL);
    if (prctl(PR_SET_KEEPCAPS, 1, 0, 0, 0) < 0 || setresgid(a->gid, a->gid, a->gid) < 0 || setresuid(a->uid, a->uid, a->uid) < 0)
        return fail("attach: taking the guest user", NULL);
    if (chdir(a->cwd) < 0)
        return fail("attach: chdir", a->cwd);
    data[0].effective = (uint32_t)a->effective;
    data[1].effective = (uint32_t)(a->effective >> 32);
    data[0].permitted = (uint32_t)a->permitted;
    data[1].permitted = (uint32_t)(a->permitted >> 32);
    data[0].inheritable = (uint32_t)a->inheritable;
    data[1].inheritable = (uint32_t)(a->inheritable >> 32);
    if (syscall(SYS_capset, &header, data) < 0)
        return fail("attach: capset", NULL);
    if (prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0) < 0 && errno != EINVAL)
        return fail("attach: clearing the ambient capabilities", NULL);
    for (int cap = 0; cap < 64; cap++)
        if ((a->ambient & (1ULL << cap)) && prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_RAISE, cap, 0, 0) < 0)
            return fail("attach: raising an ambient capability", NULL);
    if (sigprocmask(SIG_SETMASK, mask, NULL) < 0)
        return fail("attach: sigprocmask", NULL);
    exec_in_path(a);
    int e = errno;
    fprintf(stderr, "vserver-ns: attach: exec %s: %s\n", a->args[0], strerror(e));
    return e == ENOENT ? 127 : 126;
}

static int attach(const char *fdarg)
{
    struct attach a = { 0 };
    struct sock_fprog filter = { 0, NULL };
    unsigned long long x, ticks;
    if (number(fdarg, INT_MAX, &x) || x < 3)
        return usage();
    if (read_spec((int)x, &a) < 0)
        return 125;

    int pidfd = (int)syscall(SYS_pidfd_open, a.pid, 0);
    if (pidfd < 0)
        return fail("attach: the guest's init", NULL), 125;
    /* the pidfd holds the process: if it still started when VServer read, it is the guest's init */
    if (start_ticks(a.pid, &ticks) < 0 || ticks != a.ticks)
    {
        fprintf(stderr, "vserver-ns: attach: process %d is no longer the guest's init\n", (int)a.pid);
        return 125;
    }
    int flags = namespaces_of(a.pid);
    if (flags < 0)
        return fail("attach: reading the guest's namespaces", NULL), 125;
    if (!(flags & CLONE_NEWPID) || !(flags & CLONE_NEWNS))
    {
        fprintf(stderr, "vserver-ns: attach: process %d shares this process's PID or mount namespace\n", (int)a.pid);
        return 125;
    }

    /* on the host's side: cgroups, resource limits, the nice value and the filter (read from the host) */
    for (int i = 0; i < a.ncgroups; i++)
    {
        char pid[32];
        int fd = open(a.cgroups[i], O_WRONLY | O_CLOEXEC | O_NOFOLLOW);
        int len = snprintf(pid, sizeof pid, "%d", (int)getpid());
        if (fd < 0 || write(fd, pid, (size_t)len) != len)
            return fail("attach: joining the guest's cgroup", a.cgroups[i]), 125;
        close(fd);
    }
    for (int i = 0; i < a.nrlimits; i++)
        if (setrlimit(a.rlimit_resource[i], &a.rlimit[i]) < 0)
            return fail("attach: setrlimit", NULL), 125;
    if (a.has_nice && setpriority(PRIO_PROCESS, 0, a.nice) < 0)
        return fail("attach: setpriority", NULL), 125;
    if (a.seccomp && read_filter(a.seccomp, &filter) < 0)
        return 125;

    /* from here on not dumpable: the guest's root cannot open this process's /proc files, trace it or
     * write its executable; and it keeps no descriptor but 0-2 (and the pidfd, closed after use) */
    if (prctl(PR_SET_DUMPABLE, 0, 0, 0, 0) < 0)
        return fail("attach: PR_SET_DUMPABLE", NULL), 125;
    if (pidfd != 3)
    {
        if (dup2(pidfd, 3) < 0)
            return fail("attach: dup2", NULL), 125;
        close(pidfd);
        pidfd = 3;
    }
    if (syscall(SYS_close_range, 4U, ~0U, 0U) < 0)
        return fail("attach: close_range", NULL), 125;
    if (setns(pidfd, flags) < 0)
        return fail("attach: joining the guest's namespaces", NULL), 125;
    close(pidfd);

    sigset_t all, old;
    sigfillset(&all);
    sigprocmask(SIG_BLOCK, &all, &old);
    pid_t child = fork();
    if (child < 0)
        return fail("attach: fork", NULL), 125;
    if (child == 0)
        _exit(become_command(&a, &filter, &old));

    attached_child = child;
    static const int passed[] = { SIGHUP, SIGINT, SIGQUIT, SIGTERM, SIGUSR1, SIGUSR2, SIGWINCH, SIGCONT, SIGALRM };
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = pass_on;
    sa.sa_flags = SA_RESTART;
    for (size_t i = 0; i < sizeof passed / sizeof passed[0]; i++)
        sigaction(passed[i], &sa, NULL);
    sigprocmask(SIG_SETMASK, &old, NULL);
    int status;
    while (waitpid(child, &status, 0) < 0)
        if (errno != EINTR)
            return fail("attach: waitpid", NULL), 125;
    return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

int main(int argc, char **argv)
{
    if (argc >= 4 && strcmp(argv[1], "create-without") == 0 && argv[2][0] == '/' && argv[3][0] == '/')
        return create_without(argv + 2);
    if (argc >= 4 && strcmp(argv[1], "gate") == 0)
        return gate(argv[2], argv + 3);
    if (argc == 2 && strcmp(argv[1], "hold") == 0)
        return hold(0);
    if (argc == 3 && strcmp(argv[1], "hold") == 0 && strcmp(argv[2], "--net") == 0)
        return hold(1);
    if (argc == 3 && strcmp(argv[1], "attach") == 0)
        return attach(argv[2]);
    return usage();
}
