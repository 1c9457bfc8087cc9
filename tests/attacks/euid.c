/* Prints the effective uid it runs with: made setuid by a guest's root, run by a host user. */
#include <stdio.h>
#include <unistd.h>
int main(void) { printf("EUID %d\n", (int)geteuid()); return 0; }
