// End to end: the real `aatune watch` reading the real kernel. USER_AVC records are injected
// through the audit netlink socket (the only AppArmor-shaped records this kernel can produce,
// records.md §4), with bodies of several classes, and must come out parsed, grouped and stored.
#include <fcntl.h>
#include <grp.h>
#include <gtest/gtest.h>
#include <libaudit.h>
#include <linux/capability.h>
#include <linux/netlink.h>
#include <poll.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <map>
#include <mutex>
#include <nlohmann/json.hpp>
#include <optional>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "store/store.h"

namespace {

namespace fs = std::filesystem;
using nlohmann::json;

// Unique per run and per test, so concurrent runs never read each other's records.
std::string make_tag(const std::string& test) {
  return "aatune_watch_" + test + "_" + std::to_string(::getpid()) + "_" +
         std::to_string(std::chrono::steady_clock::now().time_since_epoch().count() % 1000000007);
}

// Why netlink tests cannot run here, or empty.
std::string netlink_unavailable() {
  if (::geteuid() != 0) return "needs root (CAP_AUDIT_READ to listen, CAP_AUDIT_WRITE to inject)";
  const int fd = ::socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_AUDIT);
  if (fd < 0) return "no audit netlink (kernel audit disabled?): " + std::string(strerror(errno));
  sockaddr_nl addr{};
  addr.nl_family = AF_NETLINK;
  addr.nl_groups = 1;
  const bool ok = ::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0;
  const int err = errno;
  ::close(fd);
  if (!ok) return "cannot join the audit multicast group: " + std::string(strerror(err));
  return {};
}

class TempDir {
 public:
  TempDir() {
    std::string tmpl = (fs::temp_directory_path() / "aatune-watch-XXXXXX").string();
    path_ = ::mkdtemp(tmpl.data());
    fs::create_directories(path_ / "apparmor.d");
  }
  ~TempDir() {
    std::error_code ec;
    fs::remove_all(path_, ec);
  }
  [[nodiscard]] const fs::path& path() const { return path_; }
  // The profile tree is a directory of its own: never the store's. A process that opens and
  // closes the store's files outside SQLite (as a tree reader would) drops SQLite's POSIX locks,
  // and another connection may then truncate the WAL index under the writer.
  [[nodiscard]] fs::path profiles() const { return path_ / "apparmor.d"; }

 private:
  fs::path path_;
};

// The real binary, with stdout and stderr on pipes; no shell. `as_nobody` drops to uid/gid 65534
// with no capabilities before exec (the test itself runs as root).
class Watch {
 public:
  explicit Watch(const std::vector<std::string>& args, bool as_nobody = false) {
    int out[2];
    int err[2];
    EXPECT_EQ(::pipe2(out, O_CLOEXEC), 0);
    EXPECT_EQ(::pipe2(err, O_CLOEXEC), 0);
    pid_ = ::fork();
    if (pid_ == 0) {
      ::dup2(out[1], 1);
      ::dup2(err[1], 2);
      if (as_nobody &&
          (::setgroups(0, nullptr) != 0 || ::setgid(65534) != 0 || ::setuid(65534) != 0)) {
        ::_exit(126);
      }
      std::vector<char*> argv;
      std::string bin = AATUNE_BINARY;
      argv.push_back(bin.data());
      std::string sub = "watch";
      argv.push_back(sub.data());
      std::vector<std::string> copy = args;
      for (auto& a : copy) argv.push_back(a.data());
      argv.push_back(nullptr);
      ::execv(bin.c_str(), argv.data());
      ::_exit(127);
    }
    ::close(out[1]);
    ::close(err[1]);
    out_ = out[0];
    err_ = err[0];
    // stdout is read all along so a full pipe can never slow the watcher down.
    reader_ = std::thread([this] {
      char buf[65536];
      ssize_t n;
      while ((n = ::read(out_, buf, sizeof buf)) > 0) {
        std::lock_guard lock(mutex_);
        stdout_.append(buf, static_cast<size_t>(n));
      }
    });
  }
  Watch(const Watch&) = delete;
  Watch& operator=(const Watch&) = delete;
  ~Watch() {
    if (pid_ > 0 && !reaped_) {
      ::kill(pid_, SIGKILL);
      ::waitpid(pid_, nullptr, 0);
    }
    if (reader_.joinable()) reader_.join();
    ::close(out_);
    ::close(err_);
  }

  /// Reads stderr until a line contains `needle` (true) or `timeout` passes / EOF (false).
  bool wait_stderr(const std::string& needle, std::chrono::seconds timeout) {
    const auto end = std::chrono::steady_clock::now() + timeout;
    while (std::chrono::steady_clock::now() < end) {
      if (stderr_.find(needle) != std::string::npos) return true;
      pollfd p{err_, POLLIN, 0};
      if (::poll(&p, 1, 100) <= 0) continue;
      char buf[4096];
      const ssize_t n = ::read(err_, buf, sizeof buf);
      if (n <= 0) return false;
      stderr_.append(buf, static_cast<size_t>(n));
    }
    return stderr_.find(needle) != std::string::npos;
  }

  /// True once the process has exited (then `finish()` returns at once).
  bool exited() {
    if (reaped_) return true;
    const pid_t r = ::waitpid(pid_, &status_, WNOHANG);
    if (r == pid_) reaped_ = true;
    return reaped_;
  }

  /// Waits for the exit; returns the exit status (or -signal).
  int finish() {
    if (!reaped_) ::waitpid(pid_, &status_, 0);
    reaped_ = true;
    reader_.join();
    char buf[4096];
    ssize_t n;
    while ((n = ::read(err_, buf, sizeof buf)) > 0) stderr_.append(buf, static_cast<size_t>(n));
    return WIFEXITED(status_) ? WEXITSTATUS(status_) : -WTERMSIG(status_);
  }

  void signal(int sig) const { ::kill(pid_, sig); }
  /// stdout so far (safe while the process runs).
  [[nodiscard]] std::string out() const {
    std::lock_guard lock(mutex_);
    return stdout_;
  }
  [[nodiscard]] const std::string& err() const { return stderr_; }

 private:
  pid_t pid_ = -1;
  int out_ = -1;
  int err_ = -1;
  int status_ = 0;
  bool reaped_ = false;
  std::thread reader_;
  mutable std::mutex mutex_;
  std::string stdout_;
  std::string stderr_;
};

void inject(int fd, const std::string& body) {
  ASSERT_GT(audit_log_user_avc_message(fd, AUDIT_USER_AVC, body.c_str(), nullptr, nullptr, nullptr,
                                       ::getuid()),
            0)
      << body;
}

std::vector<json> json_lines(const std::string& text) {
  std::vector<json> out;
  size_t pos = 0;
  while (pos < text.size()) {
    const size_t nl = text.find('\n', pos);
    const std::string line = text.substr(pos, nl - pos);
    if (!line.empty()) out.push_back(json::parse(line));
    if (nl == std::string::npos) break;
    pos = nl + 1;
  }
  return out;
}

std::vector<std::string> bodies_for(const std::string& tag) {
  return {
      "apparmor=\"DENIED\" operation=\"open\" class=\"file\" profile=\"" + tag + "\" name=\"/etc/" +
          tag +
          ".conf\" pid=4242 comm=\"cat\" requested_mask=\"r\" "
          "denied_mask=\"r\" fsuid=0 ouid=0",
      "apparmor=\"DENIED\" operation=\"open\" class=\"file\" profile=\"" + tag + "\" name=\"/etc/" +
          tag +
          ".conf\" pid=4243 comm=\"cat\" requested_mask=\"r\" "
          "denied_mask=\"r\" fsuid=0 ouid=0",
      "apparmor=\"DENIED\" operation=\"capable\" class=\"cap\" profile=\"" + tag +
          "\" pid=4244 comm=\"ping\" capability=13  capname=\"net_raw\"",
      "apparmor=\"DENIED\" operation=\"signal\" class=\"signal\" profile=\"" + tag +
          "\" pid=4245 comm=\"kill\" requested_mask=\"send\" denied_mask=\"send\" signal=term "
          "peer=\"unconfined\"",
      "apparmor=\"DENIED\" operation=\"dbus_method_call\"  bus=\"system\" "
      "path=\"/org/freedesktop/DBus\" interface=\"org.freedesktop.DBus\" member=\"Hello\" "
      "mask=\"send\" name=\"org.freedesktop.DBus\" pid=4246 label=\"" +
          tag + "\" peer_label=\"unconfined\"",
  };
}

// The five records above: 4 groups (the two opens are one), classes and operations as sent.
void expect_parsed_and_grouped(const std::vector<json>& lines, const std::string& tag,
                               const std::string& source) {
  std::vector<json> events;
  for (const auto& j : lines) {
    if (j.contains("event")) events.push_back(j);
  }
  ASSERT_EQ(events.size(), 5u);
  const std::vector<std::string> ops = {"open", "open", "capable", "signal", "dbus_method_call"};
  for (size_t i = 0; i < events.size(); ++i) {
    const auto& e = events[i];
    EXPECT_EQ(e["event"]["operation"], ops[i]) << e.dump();
    EXPECT_EQ(e["event"]["profile"], tag) << e.dump();
    EXPECT_EQ(e["event"]["event"], "DENIED");
    EXPECT_EQ(e["event"]["record_type"], "1107") << e.dump();
    EXPECT_EQ(e["trust"], "userspace-audit");
    EXPECT_EQ(e["event"]["sender_uid"], ::getuid());
    EXPECT_EQ(e["source"], source);
  }
  EXPECT_EQ(events[0]["event"]["name"], "/etc/" + tag + ".conf");
  EXPECT_EQ(events[0]["event"]["requested_mask"], "r");
  EXPECT_EQ(events[3]["event"]["signal"], "term");
  EXPECT_EQ(events[4]["event"]["dbus_member"], "Hello");
  // Grouping: the two identical opens share a group and count up.
  EXPECT_EQ(events[0]["group"], events[1]["group"]);
  EXPECT_EQ(events[0]["new_group"], true);
  EXPECT_EQ(events[1]["new_group"], false);
  EXPECT_EQ(events[0]["count"], 1);
  EXPECT_EQ(events[1]["count"], 2);
  std::set<int> ids;
  for (const auto& e : events) ids.insert(e["group"].get<int>());
  EXPECT_EQ(ids.size(), 4u);
  // Each new group carries a proposal; the file one is the literal path.
  ASSERT_TRUE(events[0].contains("proposals"));
  ASSERT_FALSE(events[0]["proposals"].empty());
  EXPECT_EQ(events[0]["proposals"][0]["rule"], "/etc/" + tag + ".conf r,");
  EXPECT_FALSE(events[1].contains("proposals"));
}

void expect_stored(const fs::path& db_path, const std::string& tag, uint64_t events,
                   size_t groups) {
  aatune::store::OpenOptions options;
  options.read_only = true;
  auto db = aatune::store::Store::open(db_path.string(), options);
  ASSERT_TRUE(db) << db.error().message;
  aatune::store::GroupFilter filter;
  filter.profile = tag;
  filter.all = true;
  auto g = db->groups(filter);
  ASSERT_TRUE(g) << g.error().message;
  EXPECT_EQ(g->size(), groups);
  uint64_t total = 0;
  for (const auto& group : *g) total += group.count;
  EXPECT_EQ(total, events);
}

// Which of `ops` already came out of watch (stdout so far).
std::set<std::string> operations_seen(const std::string& out) {
  std::set<std::string> seen;
  for (const auto& j : json_lines(out)) {
    if (j.contains("event")) seen.insert(j["event"]["operation"].get<std::string>());
  }
  return seen;
}

// The kernel copies audit records to kmsg through printk_ratelimit(): 10 lines per 5 s for the
// whole machine (records.md §0.3), a budget that other processes (other tests injecting at the
// same time) may have spent. A record refused by the rate limit never reaches kmsg, so each
// missing record is sent again once a window has passed, until all three arrived. Order across
// retries is not the order sent, so the check is by operation.
TEST(WatchE2E, KmsgSourceSeesInjectedRecordsAndReplaysFromStart) {
  if (auto why = netlink_unavailable(); !why.empty()) GTEST_SKIP() << why;
  if (fs::exists("/run/auditd.pid")) {
    GTEST_SKIP() << "auditd is running: the kernel writes nothing to /dev/kmsg then";
  }
  TempDir tmp;
  const std::string tag = make_tag("kmsg");
  const fs::path db = tmp.path() / "w.db";
  Watch watch({"--json", "--source", "kmsg", "--profile", tag, "--db", db.string(), "--profiles",
               tmp.profiles().string(), "--max-events", "3", "--duration", "60"});
  ASSERT_TRUE(watch.wait_stderr("listening on /dev/kmsg", std::chrono::seconds(20))) << watch.err();
  const auto bodies = bodies_for(tag);
  const std::map<std::string, std::string> by_op = {
      {"capable", bodies[2]}, {"signal", bodies[3]}, {"dbus_method_call", bodies[4]}};
  for (int attempt = 0; attempt < 6 && !watch.exited(); ++attempt) {
    if (attempt > 0) std::this_thread::sleep_for(std::chrono::milliseconds(5500));
    const auto seen = operations_seen(watch.out());
    const int fd = audit_open();
    ASSERT_GE(fd, 0);
    for (const auto& [op, body] : by_op) {
      if (!seen.contains(op)) inject(fd, body);
    }
    audit_close(fd);
    for (int i = 0; i < 20 && !watch.exited(); ++i) {
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
  }
  EXPECT_EQ(watch.finish(), 0) << watch.err();
  const auto lines = json_lines(watch.out());
  ASSERT_EQ(lines.size(), 4u) << watch.out() << watch.err();
  std::map<std::string, json> events;
  for (size_t i = 0; i < 3; ++i) {
    EXPECT_EQ(lines[i]["event"]["container"], "dmesg") << lines[i].dump();
    EXPECT_EQ(lines[i]["source"], "kmsg");
    EXPECT_EQ(lines[i]["event"]["profile"], tag);
    events[lines[i]["event"]["operation"]] = lines[i];
  }
  ASSERT_EQ(events.size(), 3u) << watch.out();
  EXPECT_EQ(events["capable"]["event"]["class"], "cap");
  EXPECT_EQ(events["signal"]["event"]["signal"], "term");
  EXPECT_EQ(events["dbus_method_call"]["event"]["dbus_member"], "Hello");
  EXPECT_EQ(lines[3]["summary"]["shown"], 3);
  EXPECT_EQ(lines[3]["summary"]["stopped"], "reached --max-events");
  EXPECT_EQ(lines[3]["summary"]["losses"]["kmsg"]["queue_dropped"], 0);
  expect_stored(db, tag, 3, 3);

  // --from-start replays the ring buffer: the same three records again, recognised as already
  // stored (same audit id and body), not counted twice.
  Watch replay({"--json", "--quiet", "--source", "kmsg", "--from-start", "--profile", tag, "--db",
                db.string(), "--profiles", tmp.profiles().string(), "--max-events", "3",
                "--duration", "20"});
  EXPECT_EQ(replay.finish(), 0) << replay.err();
  const auto summary = json_lines(replay.out());
  ASSERT_EQ(summary.size(), 1u) << replay.out();
  EXPECT_EQ(summary[0]["summary"]["shown"], 3) << summary[0].dump();
  EXPECT_EQ(summary[0]["summary"]["stopped"], "reached --max-events");
  EXPECT_GE(summary[0]["summary"]["duplicates"].get<uint64_t>(), 3u) << summary[0].dump();
  expect_stored(db, tag, 3, 3);
}

// Sends `body` as a USER_AVC from a child process running as `uid` with CAP_AUDIT_WRITE only,
// as a local user's program with that capability could: the kernel attaches the sender's uid,
// which is what watch's trust decision reads. True once the kernel took the record.
bool inject_as(uid_t uid, const std::string& body) {
  const pid_t child = ::fork();
  if (child < 0) return false;
  if (child == 0) {
    // Keep the permitted set across the uid change, then keep only CAP_AUDIT_WRITE.
    if (::prctl(PR_SET_KEEPCAPS, 1) != 0 || ::setgroups(0, nullptr) != 0 ||
        ::setresgid(uid, uid, uid) != 0 || ::setresuid(uid, uid, uid) != 0) {
      ::_exit(2);
    }
    __user_cap_header_struct header{_LINUX_CAPABILITY_VERSION_3, 0};
    __user_cap_data_struct data[_LINUX_CAPABILITY_U32S_3]{};
    data[CAP_TO_INDEX(CAP_AUDIT_WRITE)].permitted = CAP_TO_MASK(CAP_AUDIT_WRITE);
    data[CAP_TO_INDEX(CAP_AUDIT_WRITE)].effective = CAP_TO_MASK(CAP_AUDIT_WRITE);
    if (::syscall(SYS_capset, &header, data) != 0 || ::getuid() != uid) ::_exit(3);
    const int fd = audit_open();
    if (fd < 0) ::_exit(4);
    const int rc = audit_log_user_avc_message(fd, AUDIT_USER_AVC, body.c_str(), nullptr, nullptr,
                                              nullptr, uid);
    audit_close(fd);
    ::_exit(rc > 0 ? 0 : 5);
  }
  int status = 0;
  if (::waitpid(child, &status, 0) != child) return false;
  return WIFEXITED(status) && WEXITSTATUS(status) == 0;
}

// Anyone with CAP_AUDIT_WRITE can send a USER_AVC; only root's and the bus daemon's are believed
// (analyzer::TrustPolicy). The same D-Bus denial sent by root and by `nobody` must come out as two
// groups, the second one unverified with the kernel-attached sender uid, never merged.
TEST(WatchE2E, UserAvcFromAnOrdinaryUserIsUnverifiedAndKeptApart) {
  if (auto why = netlink_unavailable(); !why.empty()) GTEST_SKIP() << why;
  constexpr uid_t kNobody = 65534;
  TempDir tmp;
  const std::string tag = make_tag("nonroot");
  const fs::path db = tmp.path() / "w.db";
  Watch watch({"--json", "--source", "netlink", "--profile", tag, "--db", db.string(), "--profiles",
               tmp.profiles().string(), "--max-events", "2", "--duration", "20"});
  ASSERT_TRUE(watch.wait_stderr("listening on netlink", std::chrono::seconds(20))) << watch.err();
  const std::string body = bodies_for(tag).back();  // the D-Bus Hello
  const int fd = audit_open();
  ASSERT_GE(fd, 0);
  inject(fd, body);
  audit_close(fd);
  ASSERT_TRUE(inject_as(kNobody, body))
      << "the kernel refused a USER_AVC from uid " << kNobody << " holding CAP_AUDIT_WRITE";
  EXPECT_EQ(watch.finish(), 0) << watch.err();
  std::vector<json> events;
  for (const auto& j : json_lines(watch.out())) {
    if (j.contains("event")) events.push_back(j);
  }
  ASSERT_EQ(events.size(), 2u) << watch.out();
  std::map<uint64_t, json> by_sender;
  for (const auto& e : events) by_sender[e["event"]["sender_uid"].get<uint64_t>()] = e;
  ASSERT_TRUE(by_sender.contains(0)) << watch.out();
  ASSERT_TRUE(by_sender.contains(kNobody)) << watch.out();
  const json& trusted = by_sender[0];
  const json& forged = by_sender[kNobody];
  EXPECT_EQ(trusted["unverified"], false) << trusted.dump();
  EXPECT_EQ(forged["unverified"], true) << forged.dump();
  EXPECT_EQ(forged["event"]["dbus_member"], "Hello");
  EXPECT_NE(trusted["group"], forged["group"]) << "a forged record joined the trusted group";
  EXPECT_EQ(forged["new_group"], true);
  EXPECT_EQ(forged["count"], 1);
  ASSERT_TRUE(forged.contains("proposals")) << forged.dump();
  for (const auto& p : forged["proposals"]) EXPECT_EQ(p["unverified"], true) << p.dump();
}

TEST(WatchE2E, NetlinkEventsAreParsedGroupedAndStored) {
  if (auto why = netlink_unavailable(); !why.empty()) GTEST_SKIP() << why;
  TempDir tmp;
  const std::string tag = make_tag("netlink");
  const fs::path db = tmp.path() / "w.db";
  Watch watch({"--json", "--source", "netlink", "--profile", tag, "--db", db.string(), "--profiles",
               tmp.profiles().string(), "--max-events", "5", "--duration", "20"});
  ASSERT_TRUE(watch.wait_stderr("listening on netlink", std::chrono::seconds(20))) << watch.err();
  const int fd = audit_open();
  ASSERT_GE(fd, 0);
  for (const auto& body : bodies_for(tag)) inject(fd, body);
  audit_close(fd);
  EXPECT_EQ(watch.finish(), 0) << watch.err();
  const auto lines = json_lines(watch.out());
  ASSERT_FALSE(lines.empty());
  expect_parsed_and_grouped(lines, tag, "netlink");
  const auto& summary = lines.back()["summary"];
  EXPECT_EQ(summary["shown"], 5);
  EXPECT_EQ(summary["groups"], 4);
  EXPECT_EQ(summary["stopped"], "reached --max-events");
  EXPECT_EQ(summary["losses"]["netlink"]["overflow_episodes"], 0);
  // Root reads AUDIT_GET: whether a daemon is registered is known, never null.
  EXPECT_TRUE(summary["losses"]["netlink"]["audit_daemon"].is_boolean()) << summary.dump();
  expect_stored(db, tag, 5, 4);
}

TEST(WatchE2E, SigintFlushesStoresAndExitsZero) {
  if (auto why = netlink_unavailable(); !why.empty()) GTEST_SKIP() << why;
  TempDir tmp;
  const std::string tag = make_tag("sigint");
  const fs::path db = tmp.path() / "w.db";
  Watch watch({"--source", "netlink", "--profile", tag, "--db", db.string(), "--profiles",
               tmp.profiles().string()});
  ASSERT_TRUE(watch.wait_stderr("listening on netlink", std::chrono::seconds(20))) << watch.err();
  const int fd = audit_open();
  ASSERT_GE(fd, 0);
  const auto bodies = bodies_for(tag);
  inject(fd, bodies[0]);
  inject(fd, bodies[1]);
  audit_close(fd);
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  watch.signal(SIGINT);
  EXPECT_EQ(watch.finish(), 0) << watch.err();
  // Text mode: the group once, with its rule, then the count update at exit, then the summary.
  EXPECT_NE(watch.out().find("#1 DENIED file open /etc/" + tag + ".conf r  profile " + tag +
                             "  [userspace-audit, sent by uid 0]"),
            std::string::npos)
      << watch.out();
  EXPECT_NE(watch.out().find("   rule: /etc/" + tag + ".conf r,"), std::string::npos)
      << watch.out();
  EXPECT_NE(watch.out().find("  #1 \u00d72\n"), std::string::npos) << watch.out();
  EXPECT_NE(watch.out().find("watch: interrupted (SIGINT) after "), std::string::npos)
      << watch.out();
  expect_stored(db, tag, 2, 1);
}

// Total of the stored counts of `tag`'s groups (read-only, while watch writes).
uint64_t stored_count(const fs::path& db_path, const std::string& tag) {
  aatune::store::OpenOptions options;
  options.read_only = true;
  auto db = aatune::store::Store::open(db_path.string(), options);
  if (!db) return 0;
  aatune::store::GroupFilter filter;
  filter.profile = tag;
  filter.all = true;
  auto g = db->groups(filter);
  if (!g) return 0;
  uint64_t total = 0;
  for (const auto& group : *g) total += group.count;
  return total;
}

// A burst as fast as libaudit can send: either every record arrives, or watch reports the loss
// with an exact number (the receive thread keeps the socket drained; serial gaps count what an
// ENOBUFS hid). Records of other processes lost in the same overflow are in the count too, so
// the count equals our own loss exactly only when no other traffic was seen.
TEST(WatchE2E, BurstIsLosslessOrLossIsCountedExactly) {
  if (auto why = netlink_unavailable(); !why.empty()) GTEST_SKIP() << why;
  constexpr uint64_t kRecords = 20000;
  TempDir tmp;
  const std::string tag = make_tag("burst");
  const fs::path db = tmp.path() / "w.db";
  Watch watch({"--json", "--quiet", "--source", "netlink", "--profile", tag, "--db", db.string(),
               "--profiles", tmp.profiles().string(), "--max-events", std::to_string(kRecords),
               "--duration", "300"});
  ASSERT_TRUE(watch.wait_stderr("listening on netlink", std::chrono::seconds(20))) << watch.err();
  const int fd = audit_open();
  ASSERT_GE(fd, 0);
  for (uint64_t i = 0; i < kRecords; ++i) {
    // 50 distinct files: 50 groups of 400.
    inject(fd, "apparmor=\"DENIED\" operation=\"open\" class=\"file\" profile=\"" + tag +
                   "\" name=\"/srv/" + tag + "/f" + std::to_string(i % 50) +
                   "\" pid=77 comm=\"burst\" requested_mask=\"r\" denied_mask=\"r\" fsuid=0 "
                   "ouid=0 seq=" +
                   std::to_string(i));
  }
  audit_close(fd);
  // Without loss watch stops by itself at --max-events. With loss it never gets there: stop it
  // once the stored count has stopped growing.
  uint64_t last = 0;
  int stable = 0;
  while (!watch.exited() && stable < 20) {
    std::this_thread::sleep_for(std::chrono::milliseconds(250));
    const uint64_t now = stored_count(db, tag);
    stable = now == last && now > 0 ? stable + 1 : 0;
    last = now;
  }
  if (!watch.exited()) watch.signal(SIGINT);
  EXPECT_EQ(watch.finish(), 0) << watch.err();
  const auto lines = json_lines(watch.out());
  ASSERT_EQ(lines.size(), 1u) << watch.out();
  const auto& s = lines[0]["summary"];
  const uint64_t shown = s["shown"];
  const auto& nl = s["losses"]["netlink"];
  const uint64_t lost = nl["lost"];
  const uint64_t missing = kRecords - shown;
  EXPECT_EQ(lost, nl["serial_gaps"].get<uint64_t>() + nl["queue_dropped"].get<uint64_t>());
  EXPECT_GE(lost, missing) << "a silent loss: " << s.dump();
  const uint64_t foreign = s["records"].get<uint64_t>() - shown;
  if (foreign == 0) {
    EXPECT_EQ(lost, missing) << s.dump();
  }
  if (shown == kRecords) {
    EXPECT_EQ(s["stopped"], "reached --max-events");
    EXPECT_EQ(s["groups"], 50);
  }
  if (lost > 0) {
    EXPECT_NE(watch.err().find("loss on netlink: "), std::string::npos) << watch.err();
  }
  std::cout << "[ burst    ] " << shown << "/" << kRecords << " shown, lost " << lost
            << " (foreign records seen " << foreign << ") in " << s["seconds"] << " s\n";
  expect_stored(db, tag, shown, s["groups"].get<size_t>());
}

// A followed log file in auditd's format (no EOE): the file appears only after watch started,
// the AVC is put back together with its SYSCALL, CWD, PATH and hex PROCTITLE records after a
// bounded wait, and after a rotation the new file is followed.
TEST(WatchE2E, FollowedFileAppearsLaterIsReassembledAndRotated) {
  TempDir tmp;
  const std::string tag = make_tag("file");
  const fs::path log = tmp.path() / "audit.log";
  const fs::path db = tmp.path() / "w.db";
  Watch watch({"--json", "--source", log.string(), "--profile", tag, "--db", db.string(),
               "--profiles", tmp.profiles().string(), "--max-events", "2", "--duration", "30"});
  ASSERT_TRUE(
      watch.wait_stderr("listening on " + log.string() + " (followed)", std::chrono::seconds(20)))
      << watch.err();
  const std::string id = "audit(1795424536.908:4711): ";
  {
    std::ofstream out(log);
    out << "type=AVC msg=" << id << "apparmor=\"DENIED\" operation=\"open\" class=\"file\" "
        << "profile=\"" << tag << "\" name=\"/etc/" << tag
        << ".conf\" pid=160 comm=\"aa_exercise\" "
        << "requested_mask=\"r\" denied_mask=\"r\" fsuid=0 ouid=0\n"
        << "type=SYSCALL msg=" << id << "arch=c000003e syscall=257 success=no exit=-13 "
        << "a0=ffffff9c a1=47b245 a2=0 a3=0 items=1 ppid=1 pid=160 auid=4294967295 uid=0 gid=0 "
        << "euid=0 suid=0 fsuid=0 egid=0 sgid=0 fsgid=0 tty=(none) ses=4294967295 "
        << "comm=\"aa_exercise\" exe=\"/usr/bin/aa_exercise\" subj=" << tag << " key=(null)\n"
        << "type=CWD msg=" << id << "cwd=\"/root\"\n"
        << "type=PATH msg=" << id << "item=0 name=\"/etc/" << tag << ".conf\" inode=12 "
        << "dev=00:01 mode=0100644 ouid=0 ogid=0 rdev=00:00 nametype=NORMAL\n"
        // "aa_exercise\0--all": argv with its NUL separator forces hex.
        << "type=PROCTITLE msg=" << id << "proctitle=61615F6578657263697365002D2D616C6C\n";
  }
  // The first event is released only after its bounded wait (no EOE in a file).
  for (int i = 0; i < 100 && json_lines(watch.out()).empty(); ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  ASSERT_EQ(json_lines(watch.out()).size(), 1u) << watch.err();
  fs::rename(log, tmp.path() / "audit.log.1");
  std::ofstream(log) << "type=AVC msg=audit(1795424540.000:4712): apparmor=\"DENIED\" "
                     << "operation=\"capable\" class=\"cap\" profile=\"" << tag
                     << "\" pid=161 comm=\"ping\" capability=13  capname=\"net_raw\"\n";
  EXPECT_EQ(watch.finish(), 0) << watch.err();
  const auto lines = json_lines(watch.out());
  ASSERT_EQ(lines.size(), 3u) << watch.out() << watch.err();
  const auto& first = lines[0];
  EXPECT_EQ(first["event"]["operation"], "open");
  EXPECT_EQ(first["trust"], "auditd");
  EXPECT_EQ(first["source"], log.string());
  const auto& evidence = first["evidence"];
  EXPECT_EQ(evidence["exe"], "/usr/bin/aa_exercise") << evidence.dump();
  EXPECT_EQ(evidence["command"], "aa_exercise --all");
  EXPECT_EQ(evidence["cwd"], "/root");
  EXPECT_EQ(evidence["subject"], tag);
  EXPECT_EQ(evidence["syscall"], "257");
  EXPECT_EQ(evidence["paths"], json::array({"/etc/" + tag + ".conf"}));
  EXPECT_EQ(evidence["companions"].size(), 4u);
  EXPECT_EQ(lines[1]["event"]["operation"], "capable");
  EXPECT_EQ(lines[2]["summary"]["losses"][log.string()]["reopened"], 1);
  EXPECT_NE(watch.err().find(log.string() + " was rotated or truncated (1 time(s))"),
            std::string::npos)
      << watch.err();
  expect_stored(db, tag, 2, 2);
}

// Auto-selection says which source it took and why it passed over the others. As an
// unprivileged user neither netlink (CAP_AUDIT_READ) nor kmsg (CAP_SYSLOG with dmesg_restrict)
// can be opened, so watch falls back to a readable log, or says that none is left.
TEST(WatchE2E, AutoSelectionSaysWhichSourceAndWhy) {
  if (::geteuid() != 0) GTEST_SKIP() << "needs root (to run watch once as root, once as nobody)";
  if (auto why = netlink_unavailable(); !why.empty()) GTEST_SKIP() << why;
  TempDir tmp;
  fs::permissions(tmp.path(), fs::perms::all);
  {
    Watch watch({"--json", "--quiet", "--db", (tmp.path() / "root.db").string(), "--profiles",
                 tmp.profiles().string(), "--duration", "0.5"});
    EXPECT_EQ(watch.finish(), 0) << watch.err();
    EXPECT_NE(watch.err().find("aatune: watch: source netlink (audit multicast group: every "
                               "record, coexists with auditd)\n"),
              std::string::npos)
        << watch.err();
  }
  Watch watch({"--json", "--quiet", "--db", (tmp.path() / "nobody.db").string(), "--profiles",
               tmp.profiles().string(), "--duration", "0.5"},
              /*as_nobody=*/true);
  const int status = watch.finish();
  const std::string& err = watch.err();
  EXPECT_NE(err.find("audit netlink: joining the read-only multicast group needs CAP_AUDIT_READ"),
            std::string::npos)
      << err;
  std::ifstream restrict_file("/proc/sys/kernel/dmesg_restrict");
  int restrict = 0;
  restrict_file >> restrict;
  if (restrict == 1) {
    EXPECT_NE(err.find("/dev/kmsg: reading the kernel log needs CAP_SYSLOG"), std::string::npos)
        << err;
    const bool followed = err.find("; falling back to following ") != std::string::npos;
    const bool none = err.find("; and no readable log file") != std::string::npos;
    EXPECT_TRUE(followed != none) << err;
    EXPECT_EQ(status, followed ? 0 : 3) << err;
  } else {
    EXPECT_NE(err.find("; falling back to /dev/kmsg (rate limited: 10 records per 5 s)"),
              std::string::npos)
        << err;
    EXPECT_EQ(status, 0) << err;
  }
}

}  // namespace
