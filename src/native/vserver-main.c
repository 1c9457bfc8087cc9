/*
 * The vserver command's native entry (NativeAOT's CustomNativeMain): two commands a script runs
 * often are answered here, before the .NET runtime starts (about 3 ms instead of 17-25):
 *
 *   vserver NAME running        exit 0 when the guest's init is alive
 *   vserver NAME exec CMD...    the command run by vserver-ns attach
 *
 * both from the guest's exec.records, which VServer writes into the guest's run directory when it
 * starts the guest and at each live change, and removes when it stops (GuestAttach.WriteExecRecords).
 * Anything else, and anything here not exactly as expected (an option, a name that is not plain,
 * no records, records not root's, a flags file changed after them, an init that is gone, not root),
 * goes to the .NET program unchanged, which answers it fully (its errors, its --debug).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "proc-stat.h"

int __managed__Main(int argc, char **argv);

#define MAX_RECORDS (1 << 20)

/* A guest name that is its own run directory's name ([A-Za-z0-9][A-Za-z0-9_.-]*, at most 64). */
static int plain_name(const char *name)
{
    size_t n = strlen(name);
    if (n == 0 || n > 64 || !((name[0] >= 'a' && name[0] <= 'z') || (name[0] >= 'A' && name[0] <= 'Z') || (name[0] >= '0' && name[0] <= '9')))
        return 0;
    for (size_t i = 0; i < n; i++)
    {
        char c = name[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' || c == '.' || c == '-'))
            return 0;
    }
    return strstr(name, "..") == NULL;
}

/* VSERVER_*_ROOT as the .NET program reads it, when it needs no normalising; NULL: leave it to .NET. */
static const char *root_of(const char *variable, const char *fallback)
{
    const char *v = getenv(variable);
    if (!v || strspn(v, " \t\n\r") == strlen(v))
        return fallback;
    size_t n = strlen(v);
    if (v[0] != '/' || n == 1 || v[n - 1] == '/' || strstr(v, "//") || strstr(v, "/./") || strstr(v, "/../") ||
        (n >= 2 && strcmp(v + n - 2, "/.") == 0) || (n >= 3 && strcmp(v + n - 3, "/..") == 0) || n > 2048)
        return NULL;
    return v;
}

struct records
{
    char *data;
    size_t size;
    struct stat st;
};

/* The guest's exec.records when it is root's and its init is alive; 0 on success. */
static int read_records(const char *name, struct records *r)
{
    const char *run_root = root_of("VSERVER_RUN_ROOT", "/run/vservers");
    char path[4096];
    if (!run_root || geteuid() != 0)
        return -1;
    snprintf(path, sizeof path, "%s/%s/exec.records", run_root, name);
    int fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0)
        return -1;
    if (fstat(fd, &r->st) < 0 || !S_ISREG(r->st.st_mode) || r->st.st_uid != 0 || (r->st.st_mode & 022) ||
        r->st.st_size <= 0 || r->st.st_size > MAX_RECORDS || !(r->data = malloc((size_t)r->st.st_size + 1)))
    {
        close(fd);
        return -1;
    }
    r->size = 0;
    while (r->size < (size_t)r->st.st_size)
    {
        ssize_t n = read(fd, r->data + r->size, (size_t)r->st.st_size - r->size);
        if (n <= 0)
            break;
        r->size += (size_t)n;
    }
    close(fd);
    if (r->size != (size_t)r->st.st_size || r->data[r->size - 1] != '\0')
        return -1;
    r->data[r->size] = '\0';

    /* the init it names must be alive: else the .NET program says the guest is not running */
    long long pid = -1;
    unsigned long long ticks = 0, now;
    int has_ticks = 0;
    for (char *p = r->data; p < r->data + r->size; p += strlen(p) + 1)
    {
        if (strncmp(p, "pid=", 4) == 0)
            pid = strtoll(p + 4, NULL, 10);
        else if (strncmp(p, "ticks=", 6) == 0)
        {
            ticks = strtoull(p + 6, NULL, 10);
            has_ticks = 1;
        }
    }
    if (pid <= 0 || pid > 0x7fffffff || !has_ticks || start_ticks((pid_t)pid, &now) < 0 || now != ticks)
        return -1;
    return 0;
}

/* No flags file changed since the records were written (the private flag forbids commands from the host). */
static int flags_unchanged(const char *name, const struct records *r)
{
    const char *config_root = root_of("VSERVER_CONFIG_ROOT", "/etc/vservers");
    char path[4096];
    struct stat st;
    if (!config_root)
        return 0;
    snprintf(path, sizeof path, "%s/%s", config_root, name);
    if (stat(path, &st) < 0 || !S_ISDIR(st.st_mode))
        return 0;
    snprintf(path, sizeof path, "%s/%s/flags", config_root, name);
    if (lstat(path, &st) < 0)
        return errno == ENOENT;
    return st.st_mtim.tv_sec < r->st.st_mtim.tv_sec ||
           (st.st_mtim.tv_sec == r->st.st_mtim.tv_sec && st.st_mtim.tv_nsec <= r->st.st_mtim.tv_nsec);
}

/* vserver-ns attach with the records and the command; returns only when it could not be started. */
static void exec_attached(struct records *r, int argc, char **argv)
{
    const char *helper = r->data;
    if (strncmp(helper, "helper=/", 8) != 0)
        return;
    helper += 7;
    size_t first = strlen(r->data) + 1;
    int fd = memfd_create("vserver-attach", 0);
    if (fd < 0)
        return;
    int ok = write(fd, r->data + first, r->size - first) == (ssize_t)(r->size - first);
    for (int i = 3; ok && i < argc; i++)
        ok = write(fd, "arg=", 4) == 4 && write(fd, argv[i], strlen(argv[i]) + 1) == (ssize_t)(strlen(argv[i]) + 1);
    if (ok)
    {
        char fdarg[16];
        snprintf(fdarg, sizeof fdarg, "%d", fd);
        char *args[] = { "vserver-ns", "attach", fdarg, NULL };
        /* as the .NET path's execv (Sys.Exec): every signal at its default and none blocked, whatever
         * this program's start-up set (SIGPIPE ignored would stay ignored in the command) */
        struct sigaction dfl;
        sigset_t none;
        memset(&dfl, 0, sizeof dfl);
        dfl.sa_handler = SIG_DFL;
        for (int sig = 1; sig < 65; sig++)
            if (sig != SIGKILL && sig != SIGSTOP && sig != 32 && sig != 33)
                sigaction(sig, &dfl, NULL);
        sigemptyset(&none);
        sigprocmask(SIG_SETMASK, &none, NULL);
        fflush(NULL);
        execv(helper, args);
    }
    close(fd);
}

int main(int argc, char **argv)
{
    struct records r = { 0 };
    if (argc == 3 && strcmp(argv[2], "running") == 0 && plain_name(argv[1]) && read_records(argv[1], &r) == 0)
        return 0;
    if (argc >= 4 && strcmp(argv[2], "exec") == 0 && argv[3][0] != '\0' && plain_name(argv[1]) &&
        read_records(argv[1], &r) == 0 && flags_unchanged(argv[1], &r))
        exec_attached(&r, argc, argv);
    free(r.data);
    return __managed__Main(argc, argv);
}
