// Open storm workload for scripts/bench-open.ts and scripts/load.ts:
// `openstorm N WORKERS PATH [SECONDS]` forks WORKERS processes, each doing N/WORKERS iterations
// of open(PATH, O_RDONLY) + close() as fast as it can (a failed open makes that worker exit 1);
// with SECONDS > 0, each instead opens until SECONDS have passed (N is then ignored). The parent
// waits for all of them and prints one line, `SECONDS ISSUED`: the wall time from before the
// first fork to after the last wait, and the number of opens issued. Exits 1 without that line
// if any worker failed.
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

int main(int argc, char **argv) {
  if (argc != 4 && argc != 5) {
    fprintf(stderr, "usage: openstorm N WORKERS PATH [SECONDS]\n");
    return 2;
  }
  long n = atol(argv[1]);
  long workers = atol(argv[2]);
  const char *path = argv[3];
  double seconds = argc == 5 ? atof(argv[4]) : 0;
  if ((n < 1 && seconds <= 0) || workers < 1) {
    fprintf(stderr, "openstorm: N (or SECONDS) and WORKERS must be positive\n");
    return 2;
  }
  // Checked without opening it, so that every traced open of PATH is one the storm issued.
  if (access(path, R_OK) != 0) {
    perror(path);
    return 1;
  }
  long each = n / workers;
  // Opens issued, summed over the workers (shared memory).
  uint64_t *issued = mmap(NULL, sizeof(*issued), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
  if (issued == MAP_FAILED) {
    perror("mmap");
    return 1;
  }
  struct timespec a, b;
  clock_gettime(CLOCK_MONOTONIC, &a);
  double until = a.tv_sec + a.tv_nsec / 1e9 + seconds;
  long started = 0;
  for (long w = 0; w < workers; w++) {
    pid_t pid = fork();
    if (pid < 0) {
      perror("fork");
      break;
    }
    if (pid == 0) {
      uint64_t done = 0;
      int failed = 0;
      for (long i = 0; seconds > 0 || i < each; i++) {
        // The clock is read every 256 opens: cheap against an open.
        if (seconds > 0 && (i & 255) == 0) {
          struct timespec t;
          clock_gettime(CLOCK_MONOTONIC, &t);
          if (t.tv_sec + t.tv_nsec / 1e9 >= until) break;
        }
        int fd = open(path, O_RDONLY);
        done++;
        if (fd < 0) {
          failed = 1;
          break;
        }
        close(fd);
      }
      __atomic_add_fetch(issued, done, __ATOMIC_SEQ_CST);
      _exit(failed);
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
  printf("%.6f %ld\n", (b.tv_sec - a.tv_sec) + (b.tv_nsec - a.tv_nsec) / 1e9,
         (long)*issued);
  return 0;
}
