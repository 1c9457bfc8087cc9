/* Red-team helper (inside a guest, as its root). "subvol DIR NAME MB" makes a btrfs subvolume
 * DIR/NAME with BTRFS_IOC_SUBVOL_CREATE, which needs no privilege on btrfs, and fills it with MB
 * MiB: a subvolume is a qgroup of its own, outside the disk limit of the guest's root. Prints
 * "REFUSED <errno>" or "CREATED", then "WROTE <MiB> <errno>". "subvol fill FILE MB" only writes. */
#include <errno.h>
#include <fcntl.h>
#include <linux/btrfs.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

static int fill(const char *path, int mib) {
    static char block[1 << 20];
    memset(block, 0x5a, sizeof block);
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (fd < 0) { printf("WROTE 0 %d\n", errno); return 1; }
    int i, err = 0;
    for (i = 0; i < mib && !err; i++) {
        size_t done = 0; /* a short write at the limit: the rest of the block gives the error */
        while (done < sizeof block) {
            ssize_t n = write(fd, block + done, sizeof block - done);
            if (n < 0) { err = errno; break; }
            done += (size_t)n;
        }
        if (err) break;
    }
    if (!err && fsync(fd) < 0) err = errno;
    printf("WROTE %d %d\n", i, err);
    close(fd);
    return err != 0;
}

int main(int argc, char **argv) {
    if (argc == 4 && strcmp(argv[1], "fill") == 0) return fill(argv[2], atoi(argv[3]));
    if (argc != 4) { fprintf(stderr, "usage: subvol DIR NAME MB | subvol fill FILE MB\n"); return 2; }
    int dir = open(argv[1], O_RDONLY | O_DIRECTORY);
    if (dir < 0) { perror(argv[1]); return 2; }
    struct btrfs_ioctl_vol_args args;
    memset(&args, 0, sizeof args);
    strncpy(args.name, argv[2], sizeof args.name - 1);
    if (ioctl(dir, BTRFS_IOC_SUBVOL_CREATE, &args) < 0) { printf("REFUSED %d\n", errno); return 1; }
    printf("CREATED\n");
    char path[4200];
    snprintf(path, sizeof path, "%s/%s/fill", argv[1], argv[2]);
    return fill(path, atoi(argv[3]));
}
