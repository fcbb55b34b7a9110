/* Bench helper for watch_bench.sh: sends N USER_AVC records through the kernel audit netlink as
 * fast as libaudit allows. Usage: watch_inject TAG N [DISTINCT] [FIRST_SEQ]. Prints the send
 * rate. */
#include <libaudit.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

int main(int argc, char** argv) {
  if (argc < 3) {
    fprintf(stderr, "usage: %s TAG N [DISTINCT] [FIRST_SEQ]\n", argv[0]);
    return 2;
  }
  const char* tag = argv[1];
  const long n = strtol(argv[2], NULL, 10);
  const long distinct = argc > 3 ? strtol(argv[3], NULL, 10) : 50;
  const long first = argc > 4 ? strtol(argv[4], NULL, 10) : 0;
  const int fd = audit_open();
  if (fd < 0) {
    perror("audit_open");
    return 1;
  }
  struct timespec a, b;
  clock_gettime(CLOCK_MONOTONIC, &a);
  char body[512];
  for (long i = 0; i < n; ++i) {
    snprintf(body, sizeof body,
             "apparmor=\"DENIED\" operation=\"open\" class=\"file\" profile=\"%s\" "
             "name=\"/srv/%s/f%ld\" pid=77 comm=\"bench\" requested_mask=\"r\" "
             "denied_mask=\"r\" fsuid=0 ouid=0 seq=%ld",
             tag, tag, (first + i) % distinct, first + i);
    if (audit_log_user_avc_message(fd, AUDIT_USER_AVC, body, NULL, NULL, NULL, getuid()) <= 0) {
      fprintf(stderr, "send %ld failed\n", i);
      return 1;
    }
  }
  clock_gettime(CLOCK_MONOTONIC, &b);
  const double s = (double)(b.tv_sec - a.tv_sec) + (double)(b.tv_nsec - a.tv_nsec) / 1e9;
  fprintf(stderr, "sent %ld records in %.3f s (%.0f/s)\n", n, s, (double)n / s);
  audit_close(fd);
  return 0;
}
