// aa_exercise: the confined program of the real-kernel lab. Built static (the initramfs has no
// libc for it) and installed twice: /usr/bin/aa_exercise (profile aatest) and /usr/bin/aa_peer
// (profile aatest_peer, the target of signal/ptrace).
//
//   aa_exercise run PEER_PID   one attempt of every denial class the 6.12 kernel can log here
//   aa_exercise probe          only the probe read (for the disable/enable/complain steps)
//   aa_peer peer               waits for signals, reports them; the signal/ptrace target
//
// Every attempt prints one line `RESULT <check> <ok|ERRNO-NAME>`; the host-side test pairs each
// check with the record the kernel must have written (tests/lab/expected.tsv). Files the checks
// touch are created by /init beforehand: ENOENT happens before mediation and leaves no record.
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/ptrace.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

static const char* errno_name(int e) {
  switch (e) {
    case 0:
      return "ok";
    case EACCES:
      return "EACCES";
    case EPERM:
      return "EPERM";
    case ENOENT:
      return "ENOENT";
    case EEXIST:
      return "EEXIST";
    case ESRCH:
      return "ESRCH";
    case EINVAL:
      return "EINVAL";
    case EBUSY:
      return "EBUSY";
    case ENOTDIR:
      return "ENOTDIR";
    default:
      return strerror(e);
  }
}

static void report(const char* check, int err) {
  printf("RESULT %s %s\n", check, errno_name(err));
  fflush(stdout);
}

static int try_open(const char* path, int flags) {
  int fd = open(path, flags, 0644);
  if (fd < 0) return errno;
  close(fd);
  return 0;
}

// Runs fn in a child so that state changes (gid, label, exec) stay out of this process; the child
// returns an errno as its exit status.
static int in_child(int (*fn)(void)) {
  fflush(stdout);
  pid_t pid = fork();
  if (pid < 0) return errno;
  if (pid == 0) _exit(fn());
  int status = 0;
  if (waitpid(pid, &status, 0) < 0) return errno;
  return WIFEXITED(status) ? WEXITSTATUS(status) : EINTR;
}

static int do_exec(void) {
  char* const argv[] = {"busybox", "true", NULL};
  execv("/bin/busybox", argv);
  return errno;
}

static int do_setgid(void) {
  return setgid(1234) == 0 ? 0 : errno;
}

static int write_attr(const char* text) {
  int fd = open("/proc/self/attr/apparmor/current", O_WRONLY);
  if (fd < 0) fd = open("/proc/self/attr/current", O_WRONLY);
  if (fd < 0) return errno;
  int err = write(fd, text, strlen(text)) < 0 ? errno : 0;
  close(fd);
  return err;
}

static int do_change_profile(void) {
  return write_attr("changeprofile aatest_peer");
}

static void print_label(void) {
  char buf[256] = {0};
  int fd = open("/proc/self/attr/apparmor/current", O_RDONLY);
  if (fd < 0) fd = open("/proc/self/attr/current", O_RDONLY);
  ssize_t n = fd < 0 ? -1 : read(fd, buf, sizeof buf - 1);
  if (fd >= 0) close(fd);
  if (n > 0 && buf[n - 1] == '\n') buf[n - 1] = 0;
  printf("LABEL %s\n", n > 0 ? buf : "?");
  fflush(stdout);
}

static int run_all(pid_t peer) {
  print_label();
  report("read", try_open("/etc/lab/secret", O_RDONLY));
  report("write", try_open("/tmp/lab/wfile", O_WRONLY));
  report("append", try_open("/tmp/lab/afile", O_WRONLY | O_APPEND));
  report("create", try_open("/tmp/lab/newfile", O_WRONLY | O_CREAT));
  report("mkdir", mkdir("/tmp/lab/newdir", 0755) == 0 ? 0 : errno);
  // Same owner: the file chown check still runs, but no CAP_CHOWN check follows it.
  report("chown", chown("/tmp/lab/owned", 0, 0) == 0 ? 0 : errno);
  report("hexname", try_open("/tmp/lab/with space", O_RDONLY));
  report("exec", in_child(do_exec));
  report("setgid", in_child(do_setgid));
  int s = socket(AF_INET, SOCK_STREAM, 0);
  report("net", s >= 0 ? 0 : errno);
  if (s >= 0) close(s);
  report("signal", kill(peer, SIGUSR1) == 0 ? 0 : errno);
  // SEIZE does not stop the peer; the attachment ends when this process exits.
  report("ptrace", ptrace(PTRACE_SEIZE, peer, NULL, NULL) == 0 ? 0 : errno);
  report("mount",
         mount("none", "/tmp/lab/mnt", "tmpfs", MS_NOSUID | MS_NODEV, NULL) == 0 ? 0 : errno);
  report("change_profile", in_child(do_change_profile));
  return 0;
}

static volatile sig_atomic_t got_signal;
static void on_signal(int sig) {
  got_signal = sig;
}

static _Noreturn void run_peer(void) {
  signal(SIGUSR1, on_signal);
  print_label();
  for (;;) {
    pause();
    if (got_signal) {
      printf("PEER got signal %d\n", (int)got_signal);
      fflush(stdout);
      got_signal = 0;
    }
  }
}

int main(int argc, char** argv) {
  if (argc >= 3 && strcmp(argv[1], "run") == 0) return run_all((pid_t)atoi(argv[2]));
  if (argc >= 2 && strcmp(argv[1], "probe") == 0) {
    print_label();
    report("probe", try_open("/etc/lab/probe", O_RDONLY));
    return 0;
  }
  if (argc >= 2 && strcmp(argv[1], "peer") == 0) run_peer();
  fprintf(stderr, "usage: aa_exercise run PEER_PID | probe | peer\n");
  return 2;
}
