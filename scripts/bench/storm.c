// Exec storm workload for scripts/bench-exec.ts: fork + execve(argv[2]) argv[1] times, one at a
// time, waiting for each child. Prints the elapsed seconds and the number of successful execs.
#include <stdio.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

int main(int argc, char **argv) {
  if (argc < 3) {
    fprintf(stderr, "usage: storm COUNT PROGRAM\n");
    return 2;
  }
  long n = atol(argv[1]);
  struct timespec a, b;
  clock_gettime(CLOCK_MONOTONIC, &a);
  long ok = 0;
  for (long i = 0; i < n; i++) {
    pid_t pid = fork();
    if (pid == 0) {
      char *args[] = {argv[2], "storm-arg", NULL};
      execv(argv[2], args);
      _exit(127);
    }
    int status;
    if (pid > 0 && waitpid(pid, &status, 0) == pid && WIFEXITED(status) && WEXITSTATUS(status) == 0) ok++;
  }
  clock_gettime(CLOCK_MONOTONIC, &b);
  printf("%.6f %ld\n", (b.tv_sec - a.tv_sec) + (b.tv_nsec - a.tv_nsec) / 1e9, ok);
  return 0;
}
