/* Bench helper for watch_bench.sh: sends N USER_AVC records through the kernel audit netlink as
 * fast as the kernel takes them.
 *
 *   watch_inject TAG N [DISTINCT] [FIRST_SEQ] [BATCH]   prints the send rate on stderr
 *   watch_inject --status                                prints the kernel's audit status
 *
 * BATCH 0 sends each record with libaudit's audit_log_user_avc_message(), which waits for the
 * kernel's ACK after every record (a round trip; under load each one costs a scheduler slot).
 * BATCH >= 1 (default 1) writes the netlink messages itself, without NLM_F_ACK, BATCH messages
 * per sendto(): the kernel handles every message of a datagram in one audit_receive() call. The
 * body is what libaudit would have sent (" exe=… sauid=… hostname=? addr=? terminal=?"). No
 * record is lost to back-pressure: the kernel makes the sender wait while its backlog is full. */
#include <errno.h>
#include <libaudit.h>
#include <linux/netlink.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

static int print_status(void) {
  const int fd = audit_open();
  if (fd < 0) {
    perror("audit_open");
    return 1;
  }
  struct audit_reply reply;
  if (audit_request_status(fd) <= 0 || audit_get_reply(fd, &reply, GET_REPLY_BLOCKING, 0) <= 0 ||
      reply.type != AUDIT_GET || reply.status == NULL) {
    fprintf(stderr, "AUDIT_GET failed (needs CAP_AUDIT_CONTROL)\n");
    audit_close(fd);
    return 1;
  }
  printf(
      "enabled=%u pid=%u rate_limit=%u backlog_limit=%u lost=%u backlog=%u "
      "backlog_wait_time=%u\n",
      reply.status->enabled, reply.status->pid, reply.status->rate_limit,
      reply.status->backlog_limit, reply.status->lost, reply.status->backlog,
      reply.status->backlog_wait_time);
  audit_close(fd);
  return 0;
}

static void body_of(char* out, size_t size, const char* tag, long seq, long distinct) {
  snprintf(out, size,
           "apparmor=\"DENIED\" operation=\"open\" class=\"file\" profile=\"%s\" "
           "name=\"/srv/%s/f%ld\" pid=77 comm=\"bench\" requested_mask=\"r\" "
           "denied_mask=\"r\" fsuid=0 ouid=0 seq=%ld",
           tag, tag, seq % distinct, seq);
}

/* libaudit's way: one record, then wait for the kernel's ACK. */
static int send_libaudit(const char* tag, long n, long distinct, long first) {
  const int fd = audit_open();
  if (fd < 0) {
    perror("audit_open");
    return 1;
  }
  char body[512];
  for (long i = 0; i < n; ++i) {
    body_of(body, sizeof body, tag, first + i, distinct);
    if (audit_log_user_avc_message(fd, AUDIT_USER_AVC, body, NULL, NULL, NULL, getuid()) <= 0) {
      fprintf(stderr, "send %ld failed\n", i);
      return 1;
    }
  }
  audit_close(fd);
  return 0;
}

enum { kSlot = 640 }; /* one netlink message: header + body, 4-byte aligned */

static int send_raw(const char* tag, long n, long distinct, long first, long batch) {
  const int fd = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_AUDIT);
  if (fd < 0) {
    perror("socket");
    return 1;
  }
  struct sockaddr_nl kernel = {.nl_family = AF_NETLINK};
  char exe[256];
  const ssize_t len = readlink("/proc/self/exe", exe, sizeof exe - 1);
  exe[len > 0 ? len : 0] = '\0';
  char* buffer = calloc((size_t)batch, kSlot);
  if (buffer == NULL) return 1;
  char body[512];
  for (long i = 0; i < n;) {
    size_t used = 0;
    for (long b = 0; b < batch && i < n; ++b, ++i) {
      body_of(body, sizeof body, tag, first + i, distinct);
      struct nlmsghdr* h = (struct nlmsghdr*)(buffer + used);
      char* payload = (char*)NLMSG_DATA(h);
      const int size = snprintf(payload, kSlot - NLMSG_HDRLEN,
                                "%s exe=\"%s\" sauid=%u hostname=? addr=? terminal=?", body, exe,
                                (unsigned)getuid());
      h->nlmsg_len = NLMSG_LENGTH((unsigned)size + 1);
      h->nlmsg_type = AUDIT_USER_AVC;
      h->nlmsg_flags = NLM_F_REQUEST;
      h->nlmsg_seq = (unsigned)i;
      h->nlmsg_pid = 0;
      used += NLMSG_ALIGN(h->nlmsg_len);
    }
    while (sendto(fd, buffer, used, 0, (struct sockaddr*)&kernel, sizeof kernel) < 0) {
      if (errno == EINTR || errno == ENOBUFS || errno == EAGAIN) continue;
      perror("sendto");
      return 1;
    }
  }
  free(buffer);
  close(fd);
  return 0;
}

int main(int argc, char** argv) {
  if (argc == 2 && strcmp(argv[1], "--status") == 0) return print_status();
  if (argc < 3) {
    fprintf(stderr, "usage: %s TAG N [DISTINCT] [FIRST_SEQ] [BATCH] | --status\n", argv[0]);
    return 2;
  }
  const char* tag = argv[1];
  const long n = strtol(argv[2], NULL, 10);
  const long distinct = argc > 3 ? strtol(argv[3], NULL, 10) : 50;
  const long first = argc > 4 ? strtol(argv[4], NULL, 10) : 0;
  const long batch = argc > 5 ? strtol(argv[5], NULL, 10) : 1;
  struct timespec a, b;
  clock_gettime(CLOCK_MONOTONIC, &a);
  const int rc = batch <= 0 ? send_libaudit(tag, n, distinct, first)
                            : send_raw(tag, n, distinct, first, batch);
  if (rc != 0) return rc;
  clock_gettime(CLOCK_MONOTONIC, &b);
  const double s = (double)(b.tv_sec - a.tv_sec) + (double)(b.tv_nsec - a.tv_nsec) / 1e9;
  fprintf(stderr, "sent %ld records in %.3f s (%.0f/s)\n", n, s, (double)n / s);
  return 0;
}
