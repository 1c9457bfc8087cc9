/* Red-team: forks up to N children that wait, counts how many the guest got, then kills them.
 * Prints "FORKED <n> <errno of the first refusal, 0 if none>". usage: forkbomb N */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>
int main(int argc, char **argv) {
    long want = argc > 1 ? atol(argv[1]) : 100000, n = 0;
    int err = 0;
    setpgid(0, 0);
    for (; n < want; n++) {
        pid_t p = fork();
        if (p == 0) { pause(); _exit(0); }
        if (p < 0) { err = errno; break; }
    }
    printf("FORKED %ld %d\n", n, err);
    fflush(stdout);
    signal(SIGTERM, SIG_IGN);
    kill(0, SIGKILL);
    return 0;
}
