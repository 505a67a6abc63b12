// Connect storm for scripts/bench-connect.ts and scripts/load.ts: `connect-storm COUNT [SECONDS]`
// makes COUNT loopback TCP connects, one after the other, each accepted and both ends closed (the
// accepted end first, so no client port is held in TIME_WAIT); with SECONDS > 0 it stops after
// that long instead (COUNT 0: no count limit). Prints the elapsed seconds, the successful
// connects, the listener's port and the connect() calls made (each one a connect to trace,
// successful or not).
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

static double now(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return t.tv_sec + t.tv_nsec / 1e9;
}

int main(int argc, char **argv) {
  if (argc < 2) {
    fprintf(stderr, "usage: connect-storm COUNT [SECONDS]\n");
    return 2;
  }
  long n = atol(argv[1]), ok = 0, calls = 0;
  double seconds = argc > 2 ? atof(argv[2]) : 0;
  if (n <= 0 && seconds <= 0) {
    fprintf(stderr, "connect-storm: COUNT or SECONDS must be positive\n");
    return 2;
  }
  struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
  socklen_t len = sizeof(a);
  int l = socket(AF_INET, SOCK_STREAM, 0);
  if (l < 0 || bind(l, (struct sockaddr *)&a, sizeof(a)) || listen(l, 1024) ||
      getsockname(l, (struct sockaddr *)&a, &len)) {
    perror("connect-storm: listener");
    return 1;
  }
  double t0 = now(), until = seconds > 0 ? t0 + seconds : 0;
  for (long i = 0; n <= 0 || i < n; i++) {
    if (until > 0 && (i & 63) == 0 && now() >= until) break;
    int c = socket(AF_INET, SOCK_STREAM, 0);
    if (c >= 0) {
      calls++;
      if (connect(c, (struct sockaddr *)&a, sizeof(a)) == 0) {
        int s = accept(l, NULL, NULL);
        if (s >= 0) {
          ok++;
          close(s);
        }
      }
      close(c);
    }
  }
  printf("%.6f %ld %d %ld\n", now() - t0, ok, ntohs(a.sin_port), calls);
  return 0;
}
