// End to end: the real `aatune watch` reading the real kernel. USER_AVC records are injected
// through the audit netlink socket (the only AppArmor-shaped records this kernel can produce,
// records.md §4), with bodies of several classes, and must come out parsed, grouped and stored.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <libaudit.h>
#include <linux/netlink.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <map>
#include <nlohmann/json.hpp>
#include <optional>
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
  }
  ~TempDir() {
    std::error_code ec;
    fs::remove_all(path_, ec);
  }
  [[nodiscard]] const fs::path& path() const { return path_; }

 private:
  fs::path path_;
};

// The real binary, with stdout and stderr on pipes; no shell.
class Watch {
 public:
  explicit Watch(const std::vector<std::string>& args) {
    int out[2];
    int err[2];
    EXPECT_EQ(::pipe2(out, O_CLOEXEC), 0);
    EXPECT_EQ(::pipe2(err, O_CLOEXEC), 0);
    pid_ = ::fork();
    if (pid_ == 0) {
      ::dup2(out[1], 1);
      ::dup2(err[1], 2);
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
      while ((n = ::read(out_, buf, sizeof buf)) > 0) stdout_.append(buf, static_cast<size_t>(n));
    });
  }
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

  /// Waits for the exit; returns the exit status (or -signal).
  int finish() {
    int status = 0;
    ::waitpid(pid_, &status, 0);
    reaped_ = true;
    reader_.join();
    char buf[4096];
    ssize_t n;
    while ((n = ::read(err_, buf, sizeof buf)) > 0) stderr_.append(buf, static_cast<size_t>(n));
    return WIFEXITED(status) ? WEXITSTATUS(status) : -WTERMSIG(status);
  }

  void signal(int sig) const { ::kill(pid_, sig); }
  [[nodiscard]] const std::string& out() const { return stdout_; }
  [[nodiscard]] const std::string& err() const { return stderr_; }

 private:
  pid_t pid_ = -1;
  int out_ = -1;
  int err_ = -1;
  bool reaped_ = false;
  std::thread reader_;
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

// kmsg first: printk's budget is 10 lines per 5 s (records.md §2.2), so this runs before the
// tests below flood it, and sends only a few records.

TEST(WatchE2E, NetlinkEventsAreParsedGroupedAndStored) {
  if (auto why = netlink_unavailable(); !why.empty()) GTEST_SKIP() << why;
  TempDir tmp;
  const std::string tag = make_tag("netlink");
  const fs::path db = tmp.path() / "w.db";
  Watch watch({"--json", "--source", "netlink", "--profile", tag, "--db", db.string(), "--profiles",
               tmp.path().string(), "--max-events", "5", "--duration", "20"});
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
  expect_stored(db, tag, 5, 4);
}

TEST(WatchE2E, SigintFlushesStoresAndExitsZero) {
  if (auto why = netlink_unavailable(); !why.empty()) GTEST_SKIP() << why;
  TempDir tmp;
  const std::string tag = make_tag("sigint");
  const fs::path db = tmp.path() / "w.db";
  Watch watch({"--source", "netlink", "--profile", tag, "--db", db.string(), "--profiles",
               tmp.path().string()});
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

// A burst as fast as libaudit can send: either every record arrives, or watch reports the loss
// with a number (missing serials count exactly what ENOBUFS hid).

}  // namespace
