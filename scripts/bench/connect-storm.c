// Connect storm for scripts/bench-connect.ts: COUNT loopback TCP connects, one after the other,
// each accepted and both ends closed (the accepted end first, so no client port is held in
// TIME_WAIT). Prints the elapsed seconds, the successful connects and the listener's port.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

int main(int argc, char **argv) {
  if (argc < 2) {
    fprintf(stderr, "usage: connect-storm COUNT\n");
    return 2;
  }
  long n = atol(argv[1]), ok = 0;
  struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
  socklen_t len = sizeof(a);
  int l = socket(AF_INET, SOCK_STREAM, 0);
  if (l < 0 || bind(l, (struct sockaddr *)&a, sizeof(a)) || listen(l, 1024) ||
      getsockname(l, (struct sockaddr *)&a, &len)) {
    perror("connect-storm: listener");
    return 1;
  }
  struct timespec t0, t1;
  clock_gettime(CLOCK_MONOTONIC, &t0);
  for (long i = 0; i < n; i++) {
    int c = socket(AF_INET, SOCK_STREAM, 0);
    if (c >= 0 && connect(c, (struct sockaddr *)&a, sizeof(a)) == 0) {
      int s = accept(l, NULL, NULL);
      if (s >= 0) {
        ok++;
        close(s);
      }
    }
    if (c >= 0) close(c);
  }
  clock_gettime(CLOCK_MONOTONIC, &t1);
  printf("%.6f %ld %d\n", (t1.tv_sec - t0.tv_sec) + (t1.tv_nsec - t0.tv_nsec) / 1e9, ok,
         ntohs(a.sin_port));
  return 0;
}
