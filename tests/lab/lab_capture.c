// lab_capture: the lab's independent record capture, so the test never checks aatune against
// aatune's own collector. Built static.
//
//   lab_capture netlink   audit multicast group -> stdout, one `type=N <payload>` line per
//                         record (the format of the shared real-kernel fixtures); until SIGTERM
//   lab_capture kmsg      dumps /dev/kmsg as-is (`prio,seq,usec,flags;text`) and returns at its end
//   lab_capture without-audit-read CMD [ARG…]
//                         runs CMD with CAP_AUDIT_READ removed from the bounding set (as a
//                         service with a restricted CapabilityBoundingSet would), so the kernel
//                         refuses its bind to the audit multicast group with EPERM
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <linux/audit.h>
#include <linux/capability.h>
#include <linux/netlink.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <unistd.h>

static volatile sig_atomic_t stop;
static void on_term(int sig) {
  (void)sig;
  stop = 1;
}

static int capture_netlink(void) {
  int fd = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_AUDIT);
  if (fd < 0) {
    fprintf(stderr, "lab_capture: socket(NETLINK_AUDIT): %s\n", strerror(errno));
    return 1;
  }
  int rcvbuf = 8 << 20;
  if (setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &rcvbuf, sizeof rcvbuf) < 0)
    setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof rcvbuf);
  struct sockaddr_nl addr = {.nl_family = AF_NETLINK, .nl_groups = 1};  // AUDIT_NLGRP_READLOG
  if (bind(fd, (struct sockaddr*)&addr, sizeof addr) < 0) {
    fprintf(stderr, "lab_capture: bind(audit multicast): %s\n", strerror(errno));
    return 1;
  }
  struct sigaction sa = {.sa_handler = on_term};  // no SA_RESTART: recv must return on SIGTERM
  sigaction(SIGTERM, &sa, NULL);
  sigaction(SIGINT, &sa, NULL);
  // Records can exceed 8 KiB (12,281 bytes observed): a 128 KiB buffer never truncates them.
  static char buf[1 << 17];
  fprintf(stderr, "lab_capture: listening\n");
  while (!stop) {
    struct sockaddr_nl from;
    socklen_t fromlen = sizeof from;
    ssize_t n = recvfrom(fd, buf, sizeof buf, 0, (struct sockaddr*)&from, &fromlen);
    if (n < 0) {
      if (errno == EINTR) continue;
      if (errno == ENOBUFS) {
        fprintf(stderr, "lab_capture: ENOBUFS (records lost)\n");
        continue;
      }
      fprintf(stderr, "lab_capture: recv: %s\n", strerror(errno));
      return 1;
    }
    if (from.nl_pid != 0 || (size_t)n < NLMSG_HDRLEN) continue;
    struct nlmsghdr* nh = (struct nlmsghdr*)buf;
    // The payload is not NUL-terminated; its length comes from the datagram, not nlmsg_len.
    size_t len = (size_t)n - NLMSG_HDRLEN;
    const char* body = buf + NLMSG_HDRLEN;
    while (len > 0 && body[len - 1] == '\0') --len;
    printf("type=%u %.*s\n", nh->nlmsg_type, (int)len, body);
    fflush(stdout);
  }
  return 0;
}

static int capture_kmsg(void) {
  int fd = open("/dev/kmsg", O_RDONLY | O_NONBLOCK);
  if (fd < 0) {
    fprintf(stderr, "lab_capture: /dev/kmsg: %s\n", strerror(errno));
    return 1;
  }
  static char buf[8192];
  for (;;) {
    ssize_t n = read(fd, buf, sizeof buf);
    if (n < 0) {
      if (errno == EPIPE) continue;  // overwritten records: skip to the next one
      if (errno == EAGAIN) return 0;
      fprintf(stderr, "lab_capture: read /dev/kmsg: %s\n", strerror(errno));
      return 1;
    }
    // One record per read; keep only its first line (continuation lines carry KEY=value).
    char* nl = memchr(buf, '\n', (size_t)n);
    size_t len = nl ? (size_t)(nl - buf) : (size_t)n;
    printf("%.*s\n", (int)len, buf);
  }
}

// Root keeps a capability across exec only if it is in the bounding set (its inheritable set
// is empty), so dropping it there is enough for CMD, whatever CMD does.
static int without_audit_read(char** cmd) {
  if (prctl(PR_CAPBSET_DROP, CAP_AUDIT_READ, 0, 0, 0) != 0) {
    fprintf(stderr, "lab_capture: PR_CAPBSET_DROP CAP_AUDIT_READ: %s\n", strerror(errno));
    return 1;
  }
  execvp(cmd[0], cmd);
  fprintf(stderr, "lab_capture: exec %s: %s\n", cmd[0], strerror(errno));
  return 127;
}

int main(int argc, char** argv) {
  if (argc == 2 && strcmp(argv[1], "netlink") == 0) return capture_netlink();
  if (argc == 2 && strcmp(argv[1], "kmsg") == 0) return capture_kmsg();
  if (argc >= 3 && strcmp(argv[1], "without-audit-read") == 0) return without_audit_read(argv + 2);
  fprintf(stderr, "usage: lab_capture netlink|kmsg|without-audit-read CMD [ARG...]\n");
  return 2;
}
