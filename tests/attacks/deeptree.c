/* Red-team: makes a chain of directories N deep (each entered as it is made, so no path grows long)
 * with a file at the bottom. usage: deeptree DIR N */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>
int main(int argc, char **argv) {
    if (argc != 3 || mkdir(argv[1], 0755) < 0 || chdir(argv[1]) < 0) { perror("deeptree"); return 1; }
    long n = atol(argv[2]);
    for (long i = 0; i < n; i++)
        if (mkdir("d", 0755) < 0 || chdir("d") < 0) { perror("deeptree"); return 1; }
    int fd = open("f", O_CREAT | O_WRONLY, 0644);
    if (fd < 0 || write(fd, "bottom\n", 7) != 7) { perror("deeptree"); return 1; }
    close(fd);
    printf("DEPTH %ld\n", n);
    return 0;
}
