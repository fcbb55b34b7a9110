// aatune watch: live collection. Reads the audit netlink group (or /dev/kmsg, or follows a log
// file), reassembles multi-record events, prints each new denial group once with its proposal and
// explanation, keeps counting, stores everything, and reports every loss with a number.
#include <linux/audit.h>
#include <malloc.h>
#include <pthread.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <chrono>
#include <condition_variable>
#include <cstring>
#include <deque>
#include <filesystem>
#include <fstream>
#include <iomanip>
#include <map>
#include <memory>
#include <mutex>
#include <nlohmann/json.hpp>
#include <optional>
#include <ostream>
#include <set>
#include <span>
#include <sstream>
#include <string>
#include <thread>
#include <unordered_map>
#include <utility>
#include <variant>
#include <vector>

#include "analyzer/analyzer.h"
#include "analyzer/correlation.h"
#include "analyzer/grouping.h"
#include "analyzer/tree_view.h"
#include "cli/commands.h"
#include "cli/common.h"
#include "cli/config.h"
#include "collector/follow_source.h"
#include "collector/live_source.h"
#include "collector/parser.h"
#include "rules/profile_tree.h"
#include "store/store.h"

namespace aatune::cli {
namespace {

namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;
using nlohmann::ordered_json;

constexpr std::string_view kUsage =
    "usage: aatune watch [--json] [--profile P] [--source auto|netlink|kmsg|FILE]… [--from-start]\n"
    "                    [--db PATH] [--profiles DIR] [--max-events N] [--duration SECONDS]\n"
    "                    [--quiet]\n"
    "  Collects AppArmor denials as they happen, prints each new group once (with the proposed\n"
    "  rule and why it was denied) and then its count, and stores everything for `aatune tui`.\n"
    "  --source auto     netlink if permitted, else /dev/kmsg, else the busiest log file\n"
    "  --source netlink  the kernel audit multicast group (needs CAP_AUDIT_READ; lossless)\n"
    "  --source kmsg     /dev/kmsg (needs CAP_SYSLOG; rate limited by the kernel)\n"
    "  --source FILE     follow FILE like `tail -F` (rotation and truncation handled)\n"
    "  --from-start      kmsg/FILE: read what is already there first\n"
    "  --profile P       only show denials of profile P (and its children P//…)\n"
    "  --profiles DIR    the profile tree the proposals are checked against (/etc/apparmor.d)\n"
    "  --db PATH         the store (default: $AATUNE_DB or the per-user location; :memory:)\n"
    "  --json            one JSON object per event, then a summary object\n"
    "  --max-events N    stop after N shown events;  --duration S  stop after S seconds\n"
    "  --quiet           only losses and the summary\n"
    "  Ctrl-C or SIGTERM stop cleanly: pending events are stored and a summary printed.\n";

// Stored in batches (on the store's own thread) so a TUI reading the store sees events within a
// fraction of a second while a burst does not cost one transaction per few records.
constexpr auto kIngestInterval = std::chrono::milliseconds(50);
constexpr size_t kIngestBatch = 2048;
constexpr auto kCountUpdateInterval = std::chrono::seconds(1);
constexpr auto kLossCheckInterval = std::chrono::seconds(1);
constexpr auto kReadSlice = std::chrono::milliseconds(100);
constexpr uint64_t kMaxInvalidWarnings = 10;

struct Options {
  bool json = false;
  bool quiet = false;
  bool from_start = false;
  std::optional<std::string> profile;
  std::vector<std::string> sources;
  std::optional<std::string> db;
  std::string profiles = "/etc/apparmor.d";
  std::optional<uint64_t> max_events;
  std::optional<double> duration;
};

std::expected<Options, std::string> parse_options(std::span<const std::string> args, bool& help) {
  Options opt;
  for (size_t i = 0; i < args.size(); ++i) {
    const std::string& a = args[i];
    auto value = [&]() -> std::expected<std::string, std::string> {
      if (i + 1 >= args.size()) return std::unexpected(a + " needs a value");
      return args[++i];
    };
    if (a == "--help" || a == "-h") {
      help = true;
      return opt;
    } else if (a == "--json") {
      opt.json = true;
    } else if (a == "--quiet") {
      opt.quiet = true;
    } else if (a == "--from-start") {
      opt.from_start = true;
    } else if (a == "--profile" || a == "--source" || a == "--db" || a == "--profiles" ||
               a == "--max-events" || a == "--duration") {
      auto v = value();
      if (!v) return std::unexpected(v.error());
      if (a == "--profile") {
        opt.profile = *v;
      } else if (a == "--source") {
        opt.sources.push_back(*v);
      } else if (a == "--db") {
        opt.db = *v;
      } else if (a == "--profiles") {
        opt.profiles = *v;
      } else if (a == "--max-events") {
        uint64_t n = 0;
        const auto [p, ec] = std::from_chars(v->data(), v->data() + v->size(), n);
        if (ec != std::errc() || p != v->data() + v->size() || n == 0) {
          return std::unexpected("--max-events: '" + *v + "' is not a positive whole number");
        }
        opt.max_events = n;
      } else {
        double s = 0;
        const auto [p, ec] = std::from_chars(v->data(), v->data() + v->size(), s);
        if (ec != std::errc() || p != v->data() + v->size() || !(s > 0)) {
          return std::unexpected("--duration: '" + *v + "' is not a positive number of seconds");
        }
        opt.duration = s;
      }
    } else {
      return std::unexpected("unknown option '" + a + "'");
    }
  }
  if (opt.sources.empty()) opt.sources.emplace_back("auto");
  if (std::ranges::count(opt.sources, std::string("auto")) > 1) {
    return std::unexpected("--source auto given twice");
  }
  return opt;
}

// ---------------------------------------------------------------------------------------------
// Sources

enum class SourceKind { kNetlink, kKmsg, kFile };

struct Source {
  std::string name;  ///< "netlink", "kmsg" or the followed path: the store's source name.
  SourceKind kind = SourceKind::kFile;
  /// netlink and kmsg are received on a thread of their own, so a slow parse or store never
  /// makes the kernel drop records for us; files are polled.
  std::unique_ptr<collector::LiveReceiver> live;
  std::optional<collector::FollowSource> file;
  analyzer::Correlator correlator;  ///< One per source: serials of different sources never mix.
  std::optional<uint32_t> kernel_lost_at_start;
  collector::LossReport reported;  ///< What was last reported, to print only changes.
  uint64_t reopened_reported = 0;
  uint64_t file_lines = 0;
  bool blocking() const { return live != nullptr; }
  uint64_t records() const { return live ? live->records() : file_lines; }
};

std::string readlink_text(const char* path) {
  std::error_code ec;
  const auto target = fs::read_symlink(path, ec);
  return ec ? std::string() : target.string();
}

// A netlink socket outside the initial network namespace binds but hears nothing
// (records.md §2.1): refuse it with the reason instead of watching silence.
std::optional<std::string> netns_problem() {
  const std::string self = readlink_text("/proc/self/ns/net");
  const std::string init = readlink_text("/proc/1/ns/net");
  if (self.empty() || init.empty() || self == init) return std::nullopt;
  return "audit netlink: this process is not in the initial network namespace (" + self + " vs " +
         init + "), where the kernel would send it nothing";
}

// While auditd is registered the kernel stops writing audit records to kmsg (records.md §2.2).
std::optional<int> running_auditd() {
  std::ifstream in("/run/auditd.pid");
  int pid = 0;
  if (!(in >> pid) || pid <= 0) return std::nullopt;
  if (::kill(pid, 0) != 0 && errno == ESRCH) return std::nullopt;
  return pid;
}

// The log file most recently written to is the one the system currently logs into.
std::optional<std::string> busiest_log() {
  std::optional<std::string> best;
  fs::file_time_type best_time{};
  for (const char* p :
       {"/var/log/audit/audit.log", "/var/log/kern.log", "/var/log/syslog", "/var/log/messages"}) {
    std::error_code ec;
    if (!fs::is_regular_file(p, ec) || ::access(p, R_OK) != 0) continue;
    const auto t = fs::last_write_time(p, ec);
    if (ec) continue;
    if (!best || t > best_time) {
      best = p;
      best_time = t;
    }
  }
  return best;
}

Source file_source(const std::string& path, bool from_start) {
  Source s;
  s.name = path;
  s.kind = SourceKind::kFile;
  s.file.emplace(path, from_start);
  return s;
}

std::expected<Source, std::string> open_netlink() {
  if (auto problem = netns_problem()) return std::unexpected(*problem);
  auto nl = collector::NetlinkSource::open();
  if (!nl) return std::unexpected(nl.error());
  Source s;
  s.name = "netlink";
  s.kind = SourceKind::kNetlink;
  // Read before the first record: the delta is what the kernel dropped while we listened.
  s.kernel_lost_at_start = collector::read_kernel_lost();
  s.live = std::make_unique<collector::LiveReceiver>(std::move(*nl));
  return s;
}

std::expected<Source, std::string> open_kmsg(bool from_start) {
  auto km = collector::KmsgSource::open(from_start);
  if (!km) return std::unexpected(km.error());
  Source s;
  s.name = "kmsg";
  s.kind = SourceKind::kKmsg;
  s.live = std::make_unique<collector::LiveReceiver>(std::move(*km));
  return s;
}

// auto: netlink, else kmsg, else the busiest log; every step says why on `err`.
std::expected<Source, std::string> open_auto(bool from_start, std::ostream& err) {
  auto nl = open_netlink();
  if (nl) {
    err << "aatune: watch: source netlink (audit multicast group: every record, coexists with "
           "auditd)\n";
    return nl;
  }
  std::string why = nl.error();
  if (const auto auditd = running_auditd()) {
    err << "aatune: watch: " << why << "; /dev/kmsg is empty while auditd (pid " << *auditd
        << ") runs, falling back to its log\n";
  } else {
    auto km = open_kmsg(from_start);
    if (km) {
      err << "aatune: watch: " << why
          << "; falling back to /dev/kmsg (rate limited: 10 records per 5 s)\n";
      return km;
    }
    why += "; " + km.error();
  }
  const auto log = busiest_log();
  if (!log) {
    return std::unexpected(why +
                           "; and no readable log file (/var/log/audit/audit.log, "
                           "/var/log/kern.log, /var/log/syslog, /var/log/messages)");
  }
  err << "aatune: watch: " << why << "; falling back to following " << *log << '\n';
  return file_source(*log, from_start);
}

std::expected<Source, std::string> open_source(const std::string& spec, bool from_start,
                                               std::ostream& err) {
  if (spec == "auto") return open_auto(from_start, err);
  if (spec == "netlink") return open_netlink();
  if (spec == "kmsg") return open_kmsg(from_start);
  std::error_code ec;
  if (fs::is_directory(spec, ec)) return std::unexpected(spec + ": is a directory, not a log file");
  // A missing file is fine (it is picked up when it appears), an unreadable one is not.
  if (fs::exists(spec, ec) && ::access(spec.c_str(), R_OK) != 0) {
    return std::unexpected(spec + ": " + std::strerror(errno));
  }
  return file_source(spec, from_start);
}

std::string listening_text(const Source& s) {
  switch (s.kind) {
    case SourceKind::kNetlink:
      return "netlink (audit multicast group " + std::to_string(AUDIT_NLGRP_READLOG) + ")";
    case SourceKind::kKmsg:
      return "/dev/kmsg";
    case SourceKind::kFile:
      break;
  }
  return s.name + " (followed)";
}

using Line = collector::LiveLine;  ///< type 0 when the source does not know it (files).

// Taken in slices, so batches and buffers stay small and warm while a burst is worked through.
constexpr size_t kMaxLinesPerRead = 1024;

std::expected<std::vector<Line>, std::string> read_source(Source& s,
                                                          std::chrono::milliseconds timeout) {
  if (s.live) return s.live->take(timeout, kMaxLinesPerRead);
  auto lines = s.file->poll();
  if (!lines) return std::unexpected(lines.error());
  std::vector<Line> out;
  out.reserve(lines->size());
  for (auto& l : *lines) out.push_back({0, std::move(l)});
  s.file_lines += out.size();
  return out;
}

// Companion record types that carry evidence (SYSCALL, CWD, PATH, PROCTITLE, EOE).
bool may_be_companion(int type) {
  return type == 0 || type == 1300 || type == 1302 || type == 1307 || type == 1320 || type == 1327;
}

// ---------------------------------------------------------------------------------------------
// Signals: blocked for the whole run and polled, so no handler and no global flag is needed.

class BlockedSignals {
 public:
  BlockedSignals() {
    sigemptyset(&set_);
    sigaddset(&set_, SIGINT);
    sigaddset(&set_, SIGTERM);
    pthread_sigmask(SIG_BLOCK, &set_, &old_);
  }
  ~BlockedSignals() {
    // Discard what arrived after we stopped looking, then restore the caller's mask.
    timespec zero{0, 0};
    while (sigtimedwait(&set_, nullptr, &zero) > 0) {
    }
    pthread_sigmask(SIG_SETMASK, &old_, nullptr);
  }
  BlockedSignals(const BlockedSignals&) = delete;
  BlockedSignals& operator=(const BlockedSignals&) = delete;

  /// The pending signal, waiting at most `timeout`; 0 if none.
  [[nodiscard]] int wait(std::chrono::milliseconds timeout) const {
    timespec ts{static_cast<time_t>(timeout.count() / 1000),
                static_cast<long>((timeout.count() % 1000) * 1000000)};
    const int sig = sigtimedwait(&set_, nullptr, &ts);
    return sig > 0 ? sig : 0;
  }

 private:
  sigset_t set_{};
  sigset_t old_{};
};

// ---------------------------------------------------------------------------------------------
// Output

std::string trust_tag(const collector::Event& ev) {
  switch (ev.trust) {
    case collector::Trust::kKernel:
      return "kernel";
    case collector::Trust::kAuditDaemon:
      return "auditd";
    case collector::Trust::kUserspaceAudit:
      return "userspace-audit, sent by uid " +
             (ev.sender_uid ? std::to_string(*ev.sender_uid) : std::string("?"));
    case collector::Trust::kUnverified:
      return "UNVERIFIED: text anyone could have written";
  }
  return "?";
}

bool is_denial(const collector::Event& ev) {
  using collector::EventType;
  return ev.profile && (ev.event == EventType::kDenied || ev.event == EventType::kAllowed ||
                        ev.event == EventType::kKilled);
}

bool profile_matches(const std::optional<std::string>& want, const collector::Event& ev) {
  if (!want) return true;
  if (!ev.profile) return false;
  const std::string_view p = *ev.profile;
  return p.starts_with(*want) &&
         (p.size() == want->size() || p.substr(want->size()).starts_with("//"));
}

std::string dump_json(const ordered_json& j) {
  return j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

// A JSON string exactly as ordered_json::dump writes it (invalid UTF-8 replaced).
void append_json_string(std::string& out, std::string_view text) {
  out += dump_json(ordered_json(text));
}

// `ce` is the evidence that arrived with the event; nullptr for a record that never has any.
ordered_json evidence_json(const analyzer::CorrelatedEvent* ce) {
  ordered_json j = ordered_json::object();
  if (ce == nullptr) {
    j["companions"] = ordered_json::array();
    return j;
  }
  auto put = [&](const char* key, const std::optional<std::string>& v) {
    if (v) j[key] = *v;
  };
  put("exe", ce->exe);
  put("command", ce->command);
  put("cwd", ce->cwd);
  put("subject", ce->subject);
  put("syscall", ce->syscall);
  if (!ce->paths.empty()) j["paths"] = ce->paths;
  auto& raw = j["companions"] = ordered_json::array();
  for (const auto& c : ce->companions) raw.push_back(c.raw);
  return j;
}

ordered_json proposals_json(const analyzer::Analysis& a) {
  auto out = ordered_json::array();
  for (const auto& p : a.proposals) {
    ordered_json j;
    j["profile"] = p.profile;
    j["class"] = p.rule_class;
    j["rule"] = p.rule.empty() ? ordered_json(nullptr) : ordered_json(p.rule);
    if (!p.refused.empty()) j["refused"] = p.refused;
    j["why"] = {{"code", analyzer::to_string(p.why.code)}, {"text", p.why.text}};
    j["severity"] = analyzer::to_string(p.severity.level);
    j["peer_side"] = p.peer_side;
    j["unverified"] = p.unverified;
    out.push_back(std::move(j));
  }
  return out;
}

void print_group_text(std::ostream& out, size_t id, const collector::Event& ev,
                      const analyzer::CorrelatedEvent* ce, const analyzer::GroupKey& key,
                      const std::optional<analyzer::Analysis>& a) {
  out << '#' << id << ' ' << collector::to_string(ev.event) << ' ' << key.rule_class << ' '
      << key.operation;
  if (!key.target.empty()) out << ' ' << key.target;
  if (!key.mask.empty()) out << ' ' << key.mask;
  out << "  profile " << key.profile << "  [" << trust_tag(ev) << "]\n";
  std::string who;
  if (ev.comm) who += "comm " + *ev.comm;
  if (ev.pid) who += (who.empty() ? "" : ", ") + std::string("pid ") + std::to_string(*ev.pid);
  if (ce != nullptr && ce->exe) who += (who.empty() ? "" : ", ") + std::string("exe ") + *ce->exe;
  if (ce != nullptr && ce->command) {
    who += (who.empty() ? "" : ", ") + std::string("cmd \"") + *ce->command + '"';
  }
  if (ce != nullptr && ce->cwd) who += (who.empty() ? "" : ", ") + std::string("cwd ") + *ce->cwd;
  if (!who.empty()) out << "   by: " << who << '\n';
  if (!a) return;
  for (const auto& p : a->proposals) {
    out << "   " << (p.peer_side ? "peer rule: " : "rule: ")
        << (p.rule.empty() ? "(none: " + p.refused + ")" : p.rule) << "   ["
        << analyzer::to_string(p.severity.level) << "]";
    if (p.profile != key.profile) out << " in " << p.profile;
    out << '\n';
    out << "   why: " << p.why.text << " [" << analyzer::to_string(p.why.code) << "]\n";
    for (const auto& n : p.why.notes) out << "   note: " << n << '\n';
    for (const auto& t : p.targets) {
      if (t.is_default) out << "   into: " << t.file.path << '\n';
    }
  }
}

struct GroupState {
  size_t id = 0;
  uint64_t count = 0;
  uint64_t printed = 0;
  Clock::time_point printed_at{};
};

// Why the kernel's `lost` may not be ours (collector::LossReport::audit_daemon).
constexpr std::string_view kNoDaemonClause =
    " (no audit daemon is registered: with audit=1 the kernel counts its hold-queue overflows "
    "there too, records it multicast to watch all the same)";

std::string loss_text(const collector::LossReport& r, const std::optional<uint32_t>& lost_start) {
  std::ostringstream s;
  s << (r.serial_gaps + r.queue_dropped) << " record(s) lost: " << r.serial_gaps
    << " missing by serial (" << r.overflow_episodes << " receive-buffer overflow(s), ENOBUFS), "
    << r.queue_dropped << " dropped by our queue";
  if (r.uncounted_tail)
    s << ", and an unknown number more (no record arrived after the last ENOBUFS)";
  if (r.kernel_lost && lost_start) {
    const int64_t kernel = static_cast<int64_t>(*r.kernel_lost) - static_cast<int64_t>(*lost_start);
    s << ", kernel lost +" << kernel;
    if (kernel > 0 && r.audit_daemon == false) s << kNoDaemonClause;
  } else {
    s << ", kernel lost count unreadable (needs CAP_AUDIT_CONTROL)";
  }
  return s.str();
}

// ---------------------------------------------------------------------------------------------
// The watcher

// Stores batches on a thread of its own, so SQLite's work (and freeing the stored events) runs
// next to parsing instead of after it. The queue is bounded: when the store falls behind, the
// main thread waits here while the receive thread keeps the kernel's socket drained.
class StoreWriter {
 public:
  explicit StoreWriter(store::Store& db) : db_(db) {
    thread_ = std::jthread([this](std::stop_token stop) { run(std::move(stop)); });
  }
  StoreWriter(const StoreWriter&) = delete;
  StoreWriter& operator=(const StoreWriter&) = delete;
  ~StoreWriter() { finish(); }

  /// Hands the first `count` records of `batch` over (waits while kMaxPendingBatches are
  /// queued). Returns a stored batch to fill next (empty at first): its records are overwritten
  /// in place, so their strings keep their capacity and a record costs no heap allocation.
  std::vector<store::NewRecord> submit(std::vector<store::NewRecord> batch, size_t count) {
    std::unique_lock lock(mutex_);
    changed_.wait(lock, [&] { return pending_.size() < kMaxPendingBatches; });
    pending_.emplace_back(std::move(batch), count);
    changed_.notify_all();
    if (spare_.empty()) return {};
    auto out = std::move(spare_.back());
    spare_.pop_back();
    return out;
  }

  /// Stores everything submitted, then ends the thread. Idempotent.
  void finish() {
    if (!thread_.joinable()) return;
    {
      std::lock_guard lock(mutex_);
      finishing_ = true;
      changed_.notify_all();
    }
    thread_.join();
  }

  [[nodiscard]] uint64_t added() const {
    std::lock_guard lock(mutex_);
    return added_;
  }
  [[nodiscard]] uint64_t duplicates() const {
    std::lock_guard lock(mutex_);
    return duplicates_;
  }
  /// The first store error, if any; batches after it are discarded.
  [[nodiscard]] std::optional<std::string> error() const {
    std::lock_guard lock(mutex_);
    return error_;
  }

 private:
  static constexpr size_t kMaxPendingBatches = 4;

  void run(const std::stop_token& /*stop*/) {
    std::unique_lock lock(mutex_);
    for (;;) {
      changed_.wait(lock, [&] { return !pending_.empty() || finishing_; });
      if (pending_.empty()) return;  // finishing_ and nothing left
      auto [batch, count] = std::move(pending_.front());
      pending_.pop_front();
      const bool failed = error_.has_value();
      lock.unlock();
      std::optional<std::expected<store::IngestResult, store::StoreError>> r;
      // Every event is parse_line() of its raw text; what watch changes (container and trust of
      // a netlink record) the store keeps in columns of its own.
      if (!failed) {
        r = db_.ingest(std::span(batch.data(), count), {},
                       store::IngestOptions{.events_parsed_from_raw = true});
      }
      lock.lock();
      if (r && *r) {
        added_ += (*r)->added;
        duplicates_ += (*r)->duplicates;
      } else if (r && !error_) {
        error_ = r->error().message;
      }
      if (spare_.size() < kMaxPendingBatches) spare_.push_back(std::move(batch));
      changed_.notify_all();
    }
  }

  store::Store& db_;
  mutable std::mutex mutex_;
  std::condition_variable changed_;
  std::deque<std::pair<std::vector<store::NewRecord>, size_t>> pending_;  ///< Batch, count.
  std::vector<std::vector<store::NewRecord>> spare_;  ///< Stored batches, to be overwritten.
  bool finishing_ = false;
  uint64_t added_ = 0;
  uint64_t duplicates_ = 0;
  std::optional<std::string> error_;
  std::jthread thread_;  ///< Last: started after, and joined before, everything it uses.
};

// A userspace message (USER_AVC from dbus-daemon, 1100–1199) and a record without an audit id
// never get companions (the Correlator's contract), so they skip its pending map: during a burst
// those moves of whole Events through its vectors were the largest cost per record.
bool needs_correlation(const collector::Event& ev) {
  return ev.audit_id && !(ev.record_type >= 1100 && ev.record_type <= 1199);
}

class Watcher {
 public:
  Watcher(const Options& opt, const Invocation& inv, store::Store& db,
          const analyzer::PolicyView* view)
      : opt_(opt), inv_(inv), writer_(db), view_(view) {
    analysis_options_.trust = system_trust_policy();
    if (inv.config != nullptr) analysis_options_.risky_paths = inv.config->risk;
    batch_.reserve(kIngestBatch);
  }

  /// The next record slot of the batch: a stored record to overwrite, or a new one.
  store::NewRecord& next_record() {
    if (used_ == batch_.size()) batch_.emplace_back();
    return batch_[used_++];
  }
  /// Gives the slot next_record() returned last back.
  void drop_last_record() { --used_; }

  void feed(Source& s, std::vector<Line>& lines, Clock::time_point now) {
    for (auto& line : lines) {
      if (collector::may_be_apparmor(line.text)) {
        // Parsed straight into its place in the store's batch: no Event is moved on the way
        // unless it has to wait for its evidence.
        store::NewRecord& rec = next_record();
        const auto error = collector::parse_line_into(line.text, rec.event);
        if (!error) {
          collector::Event& ev = rec.event;
          if (s.kind == SourceKind::kNetlink) {
            // Read straight from the kernel, not from auditd's file.
            ev.container = collector::Container::kNetlink;
            if (ev.trust == collector::Trust::kAuditDaemon) ev.trust = collector::Trust::kKernel;
          }
          if (needs_correlation(ev)) {
            s.correlator.add_event(std::move(ev), now);
            drop_last_record();
          } else {
            handle(s, rec, nullptr, now);
          }
          continue;
        }
        drop_last_record();
        if (error->kind == collector::ParseError::Kind::kInvalid) {
          if (++invalid_ <= kMaxInvalidWarnings) {
            inv_.err << "aatune: warning: " << s.name << ": "
                     << (error->field.empty() ? "" : error->field + ": ") << error->message << '\n';
          }
          continue;
        }
      }
      if (!may_be_companion(line.type)) continue;
      if (auto c = collector::parse_companion(line.text)) {
        s.correlator.add_companion(std::move(*c), now);
      }
    }
  }

  void drain(Source& s, std::vector<analyzer::CorrelatedEvent> ready, Clock::time_point now) {
    for (auto& ce : ready) {
      store::NewRecord& rec = next_record();
      rec.event = std::move(ce.event);
      handle(s, rec, &ce, now);
    }
  }

  /// Hands the batch to the store's thread if it is due (or `force`). False once the store
  /// failed (the error is in store_error()).
  bool maybe_ingest(Clock::time_point now, bool force) {
    if (used_ > 0 && (force || used_ >= kIngestBatch || now - last_ingest_ >= kIngestInterval)) {
      batch_ = writer_.submit(std::move(batch_), used_);
      used_ = 0;
      batch_.reserve(kIngestBatch);
      last_ingest_ = now;
    }
    return !writer_.error();
  }

  /// Everything handed over is stored (or failed). Then added()/duplicates() are final.
  void finish_store() { writer_.finish(); }
  [[nodiscard]] std::optional<std::string> store_error() const { return writer_.error(); }

  void print_count_updates(Clock::time_point now, bool force) {
    if (opt_.quiet || opt_.json) {
      dirty_.clear();
      return;
    }
    for (auto it = dirty_.begin(); it != dirty_.end();) {
      GroupState& g = (it->first ? unverified_groups_ : groups_).at(it->second);
      if (g.count != g.printed && (force || now - g.printed_at >= kCountUpdateInterval)) {
        inv_.out << "  #" << g.id << " \u00d7" << g.count << '\n';
        g.printed = g.count;
        g.printed_at = now;
        printed_ = true;
      }
      if (g.count == g.printed) {
        it = dirty_.erase(it);
      } else {
        ++it;
      }
    }
  }

  void flush_output() {
    if (!json_buffer_.empty()) {
      inv_.out.write(json_buffer_.data(), static_cast<std::streamsize>(json_buffer_.size()));
      json_buffer_.clear();
    }
    if (printed_) inv_.out.flush();
    printed_ = false;
  }

  [[nodiscard]] bool done() const { return opt_.max_events && shown_ >= *opt_.max_events; }
  [[nodiscard]] uint64_t shown() const { return shown_; }
  [[nodiscard]] uint64_t received() const { return received_; }
  [[nodiscard]] uint64_t other() const { return other_; }
  [[nodiscard]] uint64_t invalid() const { return invalid_; }
  [[nodiscard]] size_t group_count() const { return groups_.size() + unverified_groups_.size(); }
  [[nodiscard]] uint64_t added() const { return writer_.added(); }
  [[nodiscard]] uint64_t duplicates() const { return writer_.duplicates(); }

 private:
  /// Counts and shows `rec` (the last record of the batch, its event filled in). `evidence`
  /// holds what arrived with it (its own event is moved out); nullptr for a record that never
  /// has any.
  void handle(const Source& s, store::NewRecord& rec, const analyzer::CorrelatedEvent* evidence,
              Clock::time_point now) {
    ++received_;
    const collector::Event& ev = rec.event;
    rec.source = s.name;
    rec.group_key.clear();
    analyzer::append_group_key(ev, rec.group_key);
    const bool wanted = is_denial(ev) && profile_matches(opt_.profile, ev);
    if (!wanted) {
      ++other_;  // Stored either way.
      return;
    }
    // Past --max-events a wanted denial is stored, not shown.
    if (done()) return;
    ++shown_;
    show_event(s, ev, evidence, rec.group_key, now);
  }

  void show_event(const Source& s, const collector::Event& ev,
                  const analyzer::CorrelatedEvent* evidence, const std::string& key_text,
                  Clock::time_point now) {
    // The same trust decision as suggest/apply/tui (USER_AVC senders included); a forged line
    // never joins a trusted group (the analyzer's rule, kept here too).
    const bool unverified = analyzer::is_unverified(ev, analysis_options_.trust);
    // Looked up by hash without building a second key: a trusted and an unverified group of the
    // same key live in separate maps.
    auto& groups = unverified ? unverified_groups_ : groups_;
    auto [it, inserted] = groups.try_emplace(key_text);
    GroupState& g = it->second;
    if (inserted) g.id = groups_.size() + unverified_groups_.size();
    ++g.count;
    if (opt_.quiet) return;

    // Analysed once per new group; later events only update its count.
    std::optional<analyzer::Analysis> analysis;
    if (inserted && view_) {
      const std::vector<analyzer::LoggedEvent> one{{ev, s.name, 0}};
      analysis = analyzer::analyze(one, *view_, analysis_options_);
    }
    if (opt_.json) {
      // The object's own members are written directly and the lines collected for one write per
      // drained batch: building and dumping a whole ordered_json per event doubled watch's CPU.
      std::string& o = json_buffer_;
      o += "{\"group\":";
      o += std::to_string(g.id);
      o += ",\"key\":";
      append_json_string(o, key_text);
      o += inserted ? ",\"new_group\":true,\"count\":" : ",\"new_group\":false,\"count\":";
      o += std::to_string(g.count);
      o += ",\"source\":";
      append_json_string(o, s.name);
      o += ",\"trust\":";
      append_json_string(o, collector::to_string(ev.trust));
      o += unverified ? ",\"unverified\":true,\"event\":" : ",\"unverified\":false,\"event\":";
      o += dump_json(to_json(ev));
      o += ",\"evidence\":";
      o += evidence == nullptr ? std::string(R"({"companions":[]})")
                               : dump_json(evidence_json(evidence));
      if (analysis) {
        o += ",\"proposals\":";
        o += dump_json(proposals_json(*analysis));
      }
      o += "}\n";
      printed_ = true;
      return;
    }
    if (inserted) {
      print_group_text(inv_.out, g.id, ev, evidence, analyzer::group_key(ev), analysis);
      g.printed = g.count;
      g.printed_at = now;
      printed_ = true;
    } else {
      dirty_.insert({unverified, it->first});
    }
  }

  const Options& opt_;
  const Invocation& inv_;
  StoreWriter writer_;
  const analyzer::PolicyView* view_;
  analyzer::AnalyzeOptions analysis_options_;  ///< Trust policy and the config's risk entries.
  std::unordered_map<std::string, GroupState> groups_;             ///< By key text.
  std::unordered_map<std::string, GroupState> unverified_groups_;  ///< The same, unverified.
  std::set<std::pair<bool, std::string>> dirty_;  ///< (unverified, key): count not printed yet.
  std::vector<store::NewRecord> batch_;
  size_t used_ = 0;  ///< Records of batch_ in use; the rest are stored ones to overwrite.
  Clock::time_point last_ingest_ = Clock::now();
  uint64_t received_ = 0;
  uint64_t shown_ = 0;
  uint64_t other_ = 0;
  uint64_t invalid_ = 0;
  bool printed_ = false;
  std::string json_buffer_;  ///< --json lines not written yet (see flush_output()).
};

// Reports losses that grew since the last report; the totals go into the summary.
void report_losses(Source& s, std::ostream& err, ordered_json* summary) {
  if (s.kind == SourceKind::kNetlink) {
    collector::LossReport r = s.live->losses();
    if (const auto status = collector::read_kernel_audit_status()) {
      r.kernel_lost = status->lost;
      r.audit_daemon = status->daemon_pid != 0;
    }
    const bool grew =
        r.overflow_episodes != s.reported.overflow_episodes ||
        r.serial_gaps != s.reported.serial_gaps || r.queue_dropped != s.reported.queue_dropped ||
        (r.uncounted_tail && !s.reported.uncounted_tail) ||
        (r.kernel_lost && s.reported.kernel_lost && *r.kernel_lost != *s.reported.kernel_lost);
    if (grew && !summary) {
      err << "aatune: watch: loss on netlink: " << loss_text(r, s.kernel_lost_at_start) << '\n';
    }
    s.reported = r;
    if (summary) {
      ordered_json j;
      j["lost"] = r.serial_gaps + r.queue_dropped;
      j["serial_gaps"] = r.serial_gaps;
      j["queue_dropped"] = r.queue_dropped;
      j["overflow_episodes"] = r.overflow_episodes;
      j["uncounted_tail"] = r.uncounted_tail;
      j["kernel_lost"] = r.kernel_lost && s.kernel_lost_at_start
                             ? ordered_json(static_cast<int64_t>(*r.kernel_lost) -
                                            static_cast<int64_t>(*s.kernel_lost_at_start))
                             : ordered_json(nullptr);
      j["audit_daemon"] = r.audit_daemon ? ordered_json(*r.audit_daemon) : ordered_json(nullptr);
      (*summary)[s.name] = j;
    }
  } else if (s.kind == SourceKind::kKmsg) {
    const collector::LossReport r = s.live->losses();
    const bool grew =
        r.overwritten != s.reported.overwritten || r.queue_dropped != s.reported.queue_dropped;
    if (grew && !summary) {
      err << "aatune: watch: loss on /dev/kmsg: " << r.overwritten
          << " record(s) overwritten by the ring before they were read, " << r.queue_dropped
          << " dropped by our queue\n";
    }
    s.reported = r;
    if (summary) {
      (*summary)[s.name] = {{"lost", r.overwritten + r.queue_dropped},
                            {"overwritten", r.overwritten},
                            {"queue_dropped", r.queue_dropped}};
    }
  } else {
    const auto& f = *s.file;
    if (f.reopened() != s.reopened_reported && !summary) {
      err << "aatune: watch: " << f.path() << " was rotated or truncated (" << f.reopened()
          << " time(s)); following the new file\n";
    }
    s.reopened_reported = f.reopened();
    if (summary) (*summary)[s.name] = {{"reopened", f.reopened()}};
  }
}

std::string loss_summary_text(const ordered_json& losses) {
  std::string out;
  for (const auto& [name, j] : losses.items()) {
    if (!out.empty()) out += "; ";
    out += name + ": ";
    if (j.contains("overflow_episodes")) {
      out += std::to_string(j["lost"].get<uint64_t>()) + " lost (" +
             std::to_string(j["serial_gaps"].get<uint64_t>()) + " missing by serial after " +
             std::to_string(j["overflow_episodes"].get<uint64_t>()) + " ENOBUFS, " +
             std::to_string(j["queue_dropped"].get<uint64_t>()) + " dropped by our queue" +
             (j["uncounted_tail"].get<bool>() ? ", an unknown number more after the last ENOBUFS"
                                              : "") +
             "), kernel lost " +
             (j["kernel_lost"].is_null() ? std::string("unknown")
                                         : "+" + std::to_string(j["kernel_lost"].get<int64_t>())) +
             (!j["kernel_lost"].is_null() && j["kernel_lost"].get<int64_t>() > 0 &&
                      j["audit_daemon"] == false
                  ? std::string(kNoDaemonClause)
                  : std::string());
    } else if (j.contains("overwritten")) {
      out += std::to_string(j["lost"].get<uint64_t>()) + " lost (" +
             std::to_string(j["overwritten"].get<uint64_t>()) + " overwritten, " +
             std::to_string(j["queue_dropped"].get<uint64_t>()) + " dropped by our queue)";
    } else {
      out += std::to_string(j["reopened"].get<uint64_t>()) + " rotation(s)";
    }
  }
  return out;
}

}  // namespace

int run_watch(const Invocation& inv) {
  bool help = false;
  auto parsed = parse_options(inv.args, help);
  if (help) {
    inv.out << kUsage;
    return kExitOk;
  }
  if (!parsed) {
    inv.err << "aatune: error: " << parsed.error() << '\n' << kUsage;
    return kExitUsage;
  }
  const Options& opt = *parsed;

  // Records are allocated on one thread (receive, parse) and freed on another (store), in
  // batches of a few MiB. glibc would hand each freed batch back to the kernel and fault the
  // pages in again for the next one: a quarter of watch's CPU during a burst. Keep up to
  // kKeptFreeMemory of freed memory for reuse instead.
  // (Not one arena for all threads: the receive thread must never wait for malloc's lock while
  // a preempted parser holds it; one such stall under load overflowed the socket.)
  constexpr int kKeptFreeMemory = 64 << 20;
  (void)mallopt(M_TRIM_THRESHOLD, kKeptFreeMemory);
  (void)mallopt(M_MMAP_THRESHOLD, 32 << 20);

  // Blocked before any source exists, so a Ctrl-C during start-up is not lost either.
  const BlockedSignals signals;

  std::vector<Source> sources;
  for (const auto& spec : opt.sources) {
    auto s = open_source(spec, opt.from_start, inv.err);
    if (!s) {
      inv.err << "aatune: error: " << s.error() << '\n';
      return kExitPermission;
    }
    sources.push_back(std::move(*s));
  }

  const std::string db_path = store::locate_db(opt.db);
  if (db_path.empty()) {
    inv.err << "aatune: error: no store location (set --db, $AATUNE_DB or $HOME)\n";
    return kExitUsage;
  }
  if (db_path != ":memory:") {
    std::error_code ec;
    fs::create_directories(fs::path(db_path).parent_path(), ec);
  }
  auto db = store::Store::open(db_path);
  if (!db) {
    inv.err << "aatune: error: " << db.error().message << '\n';
    return kExitPermission;
  }

  std::optional<rules::ProfileTree> tree;
  std::unique_ptr<analyzer::TreeView> view;
  if (auto t = rules::read_profile_tree(opt.profiles)) {
    tree = std::move(*t);
    view = std::make_unique<analyzer::TreeView>(*tree);
  } else {
    inv.err << "aatune: warning: " << t.error() << "; showing denials without proposals\n";
  }

  Watcher watcher(opt, inv, *db, view.get());
  for (const auto& s : sources)
    inv.err << "aatune: watch: listening on " << listening_text(s) << '\n';
  inv.err.flush();

  const auto start = Clock::now();
  // No --duration: a deadline that never comes (avoids an optional GCC 12 misreads as unset).
  const Clock::time_point deadline = opt.duration
                                         ? start + std::chrono::duration_cast<Clock::duration>(
                                                       std::chrono::duration<double>(*opt.duration))
                                         : Clock::time_point::max();
  size_t blocking = 0;
  for (const auto& s : sources) blocking += s.blocking() ? 1 : 0;
  const auto slice =
      blocking == 0 ? std::chrono::milliseconds(0) : kReadSlice / static_cast<int>(blocking);

  std::string stop_reason;
  int exit_code = kExitOk;
  auto last_loss_check = start;
  while (stop_reason.empty()) {
    if (const int sig = signals.wait(std::chrono::milliseconds(0))) {
      stop_reason = sig == SIGINT ? "interrupted (SIGINT)" : "terminated (SIGTERM)";
      break;
    }
    bool any = false;
    for (auto& s : sources) {
      auto lines = read_source(s, s.blocking() ? slice : std::chrono::milliseconds(0));
      if (!lines) {
        inv.err << "aatune: error: " << lines.error() << '\n';
        stop_reason = "source failed";
        exit_code = kExitPermission;
        break;
      }
      any = any || !lines->empty();
      const auto now = Clock::now();
      watcher.feed(s, *lines, now);
      watcher.drain(s, s.correlator.take_ready(now), now);
    }
    if (blocking == 0 && !any) {
      if (const int sig = signals.wait(kReadSlice)) {
        stop_reason = sig == SIGINT ? "interrupted (SIGINT)" : "terminated (SIGTERM)";
      }
    }
    const auto now = Clock::now();
    if (!watcher.maybe_ingest(now, false) && stop_reason.empty()) {
      stop_reason = "store failed";
      exit_code = kExitPermission;
    }
    watcher.print_count_updates(now, false);
    watcher.flush_output();
    if (now - last_loss_check >= kLossCheckInterval) {
      for (auto& s : sources) report_losses(s, inv.err, nullptr);
      last_loss_check = now;
    }
    if (watcher.done() && stop_reason.empty()) stop_reason = "reached --max-events";
    if (now >= deadline && stop_reason.empty()) stop_reason = "reached --duration";
  }

  // Stop the receivers (a last drain of what the kernel already queued for us), store what they
  // queued, then release what is still waiting for its evidence as it is.
  for (auto& s : sources) {
    if (!s.live) continue;
    s.live->stop();
    for (;;) {
      auto lines = s.live->take(std::chrono::milliseconds(0));
      if (!lines || lines->empty()) break;
      watcher.feed(s, *lines, Clock::now());
    }
  }
  const auto end = Clock::now();
  for (auto& s : sources) watcher.drain(s, s.correlator.flush(), end);
  (void)watcher.maybe_ingest(end, true);
  watcher.finish_store();
  if (const auto error = watcher.store_error()) {
    inv.err << "aatune: error: " << *error << '\n';
    exit_code = kExitPermission;
    if (stop_reason.empty() || stop_reason.starts_with("reached")) stop_reason = "store failed";
  }
  watcher.print_count_updates(end, true);
  watcher.flush_output();

  ordered_json losses = ordered_json::object();
  for (auto& s : sources) report_losses(s, inv.err, &losses);
  const double seconds = std::chrono::duration<double>(end - start).count();
  uint64_t records = 0;
  for (const auto& s : sources) records += s.records();
  if (opt.json) {
    ordered_json j;
    j["summary"] = {{"stopped", stop_reason},    {"seconds", seconds},
                    {"records", records},        {"received", watcher.received()},
                    {"shown", watcher.shown()},  {"groups", watcher.group_count()},
                    {"other", watcher.other()},  {"invalid", watcher.invalid()},
                    {"stored", watcher.added()}, {"duplicates", watcher.duplicates()},
                    {"db", db->path()},          {"losses", losses}};
    inv.out << j.dump() << '\n';
  } else {
    inv.out << "watch: " << stop_reason << " after " << std::fixed << std::setprecision(1)
            << seconds << " s: " << watcher.shown() << " denial(s) shown in "
            << watcher.group_count() << " group(s); " << watcher.received()
            << " record(s) received, " << watcher.added() << " stored (" << watcher.duplicates()
            << " already stored) in " << db->path() << "; invalid " << watcher.invalid()
            << "; losses: " << loss_summary_text(losses) << '\n';
  }
  inv.out.flush();
  return exit_code;
}

}  // namespace aatune::cli
