// Exec storm workload for scripts/bench-exec.ts and scripts/load.ts:
//   storm COUNT PROGRAM [SECONDS [WORKERS [ARGBYTES]]]
// fork + execve(PROGRAM, {PROGRAM, "storm-arg"}) COUNT times, one at a time, waiting for each
// child. With SECONDS > 0 it stops after that long instead (COUNT 0: no count limit), with
// WORKERS > 1 that many processes do it at once, and with ARGBYTES > 0 each exec has a third
// argument of that many 'x's (a larger record to trace). Prints the elapsed seconds and the number of
// successful execs (children that exited 0: each one exec issued), summed over the workers.
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static double now(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return t.tv_sec + t.tv_nsec / 1e9;
}

// One worker's loop; adds each successful exec to *ok.
static void run(long n, const char *program, char *pad, double until, uint64_t *ok) {
  for (long i = 0; n == 0 || i < n; i++) {
    if (until > 0 && now() >= until) break;
    pid_t pid = fork();
    if (pid == 0) {
      char *args[] = {(char *)program, "storm-arg", pad, NULL};
      execv(program, args);
      _exit(127);
    }
    int status;
    if (pid > 0 && waitpid(pid, &status, 0) == pid && WIFEXITED(status) && WEXITSTATUS(status) == 0)
      __atomic_add_fetch(ok, 1, __ATOMIC_SEQ_CST);
  }
}

int main(int argc, char **argv) {
  if (argc < 3) {
    fprintf(stderr, "usage: storm COUNT PROGRAM [SECONDS [WORKERS [ARGBYTES]]]\n");
    return 2;
  }
  long n = atol(argv[1]);
  double seconds = argc > 3 ? atof(argv[3]) : 0;
  long workers = argc > 4 ? atol(argv[4]) : 1;
  long padBytes = argc > 5 ? atol(argv[5]) : 0;
  char *pad = NULL;
  if (padBytes > 0) {
    pad = malloc(padBytes + 1);
    if (!pad) return 1;
    memset(pad, 'x', padBytes);
    pad[padBytes] = 0;
  }
  if (workers < 1 || (n <= 0 && seconds <= 0)) {
    fprintf(stderr, "storm: WORKERS must be positive, and COUNT or SECONDS\n");
    return 2;
  }
  uint64_t *ok = mmap(NULL, sizeof(*ok), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
  if (ok == MAP_FAILED) return 1;
  double a = now(), until = seconds > 0 ? a + seconds : 0;
  if (workers == 1) {
    run(n, argv[2], pad, until, ok);
  } else {
    for (long w = 0; w < workers; w++) {
      pid_t pid = fork();
      if (pid == 0) {
        run(n / workers, argv[2], pad, until, ok);
        _exit(0);
      }
    }
    while (wait(NULL) > 0) {
    }
  }
  printf("%.6f %llu\n", now() - a, (unsigned long long)*ok);
  return 0;
}
