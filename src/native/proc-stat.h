/* Shared by the native programs (vserver-ns.c, vserver-main.c). */
#ifndef VSERVER_PROC_STAT_H
#define VSERVER_PROC_STAT_H
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>
#include <unistd.h>

/* Field 22 of /proc/PID/stat: when the process started, so a reused pid is not taken for the guest's init. */
static inline int start_ticks(pid_t pid, unsigned long long *ticks)
{
    char path[64], buf[1024];
    snprintf(path, sizeof path, "/proc/%d/stat", (int)pid);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return -1;
    ssize_t n = read(fd, buf, sizeof buf - 1);
    close(fd);
    if (n <= 0)
        return -1;
    buf[n] = '\0';
    char *p = strrchr(buf, ')');
    if (!p)
        return -1;
    /* each space after the ")" opens the next field: 3 (state) ... 22 (starttime) */
    for (int field = 3; field <= 22; field++)
    {
        p = strchr(p + 1, ' ');
        if (!p)
            return -1;
    }
    *ticks = strtoull(p + 1, NULL, 10);
    return 0;
}

#endif
