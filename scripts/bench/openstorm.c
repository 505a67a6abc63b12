// Open storm workload for scripts/bench-open.ts: `openstorm N WORKERS PATH` forks WORKERS
// processes, each doing N/WORKERS iterations of open(PATH, O_RDONLY) + close() as fast as it can
// (a failed open makes that worker exit 1). The parent waits for all of them and prints one line,
// `SECONDS ISSUED`: the wall time from before the first fork to after the last wait, and the
// number of opens issued. Exits 1 without that line if any worker failed.
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

int main(int argc, char **argv) {
  if (argc != 4) {
    fprintf(stderr, "usage: openstorm N WORKERS PATH\n");
    return 2;
  }
  long n = atol(argv[1]);
  long workers = atol(argv[2]);
  const char *path = argv[3];
  if (n < 1 || workers < 1) {
    fprintf(stderr, "openstorm: N and WORKERS must be positive\n");
    return 2;
  }
  // Checked without opening it, so that every traced open of PATH is one the storm issued.
  if (access(path, R_OK) != 0) {
    perror(path);
    return 1;
  }
  long each = n / workers;
  struct timespec a, b;
  clock_gettime(CLOCK_MONOTONIC, &a);
  long started = 0;
  for (long w = 0; w < workers; w++) {
    pid_t pid = fork();
    if (pid < 0) {
      perror("fork");
      break;
    }
    if (pid == 0) {
      for (long i = 0; i < each; i++) {
        int fd = open(path, O_RDONLY);
        if (fd < 0) _exit(1);
        close(fd);
      }
      _exit(0);
    }
    started++;
  }
  int failed = started < workers;
  for (long w = 0; w < started; w++) {
    int status;
    if (wait(&status) < 0 || !WIFEXITED(status) || WEXITSTATUS(status) != 0) failed = 1;
  }
  clock_gettime(CLOCK_MONOTONIC, &b);
  if (failed) {
    fprintf(stderr, "openstorm: a worker failed\n");
    return 1;
  }
  printf("%.6f %ld\n", (b.tv_sec - a.tv_sec) + (b.tv_nsec - a.tv_nsec) / 1e9, each * workers);
  return 0;
}
