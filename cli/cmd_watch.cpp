// aatune watch: live collection. Reads the audit netlink group (or /dev/kmsg, or follows a log
// file), reassembles multi-record events, prints each new denial group once with its proposal and
// explanation, keeps counting, stores everything, and reports every loss with a number.
#include <linux/audit.h>
#include <pthread.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <chrono>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iomanip>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <ostream>
#include <set>
#include <span>
#include <sstream>
#include <string>
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

// Stored in batches so a TUI reading the store sees events within a fraction of a second while a
// burst does not cost one transaction per record.
constexpr auto kIngestInterval = std::chrono::milliseconds(200);
constexpr size_t kIngestBatch = 1000;
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
  return *ev.profile == *want || ev.profile->starts_with(*want + "//");
}

ordered_json evidence_json(const analyzer::CorrelatedEvent& ce) {
  ordered_json j = ordered_json::object();
  auto put = [&](const char* key, const std::optional<std::string>& v) {
    if (v) j[key] = *v;
  };
  put("exe", ce.exe);
  put("command", ce.command);
  put("cwd", ce.cwd);
  put("subject", ce.subject);
  put("syscall", ce.syscall);
  if (!ce.paths.empty()) j["paths"] = ce.paths;
  auto& raw = j["companions"] = ordered_json::array();
  for (const auto& c : ce.companions) raw.push_back(c.raw);
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

void print_group_text(std::ostream& out, size_t id, const analyzer::CorrelatedEvent& ce,
                      const analyzer::GroupKey& key, const std::optional<analyzer::Analysis>& a) {
  const auto& ev = ce.event;
  out << '#' << id << ' ' << collector::to_string(ev.event) << ' ' << key.rule_class << ' '
      << key.operation;
  if (!key.target.empty()) out << ' ' << key.target;
  if (!key.mask.empty()) out << ' ' << key.mask;
  out << "  profile " << key.profile << "  [" << trust_tag(ev) << "]\n";
  std::string who;
  if (ev.comm) who += "comm " + *ev.comm;
  if (ev.pid) who += (who.empty() ? "" : ", ") + std::string("pid ") + std::to_string(*ev.pid);
  if (ce.exe) who += (who.empty() ? "" : ", ") + std::string("exe ") + *ce.exe;
  if (ce.command) who += (who.empty() ? "" : ", ") + std::string("cmd \"") + *ce.command + '"';
  if (ce.cwd) who += (who.empty() ? "" : ", ") + std::string("cwd ") + *ce.cwd;
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

std::string loss_text(const collector::LossReport& r, const std::optional<uint32_t>& lost_start) {
  std::ostringstream s;
  s << (r.serial_gaps + r.queue_dropped) << " record(s) lost: " << r.serial_gaps
    << " missing by serial (" << r.overflow_episodes << " receive-buffer overflow(s), ENOBUFS), "
    << r.queue_dropped << " dropped by our queue";
  if (r.kernel_lost && lost_start) {
    s << ", kernel lost +"
      << (static_cast<int64_t>(*r.kernel_lost) - static_cast<int64_t>(*lost_start));
  } else {
    s << ", kernel lost count unreadable (needs CAP_AUDIT_CONTROL)";
  }
  return s.str();
}

// ---------------------------------------------------------------------------------------------
// The watcher

class Watcher {
 public:
  Watcher(const Options& opt, const Invocation& inv, store::Store& db,
          const analyzer::PolicyView* view)
      : opt_(opt), inv_(inv), db_(db), view_(view) {
    analysis_options_.trust = system_trust_policy();
    if (inv.config != nullptr) analysis_options_.risky_paths = inv.config->risk;
  }

  void feed(Source& s, std::vector<Line>& lines, Clock::time_point now) {
    for (auto& line : lines) {
      if (collector::may_be_apparmor(line.text)) {
        auto ev = collector::parse_line(line.text);
        if (ev) {
          if (s.kind == SourceKind::kNetlink) {
            // Read straight from the kernel, not from auditd's file.
            ev->container = collector::Container::kNetlink;
            if (ev->trust == collector::Trust::kAuditDaemon) ev->trust = collector::Trust::kKernel;
          }
          s.correlator.add_event(std::move(*ev), now);
          continue;
        }
        if (ev.error().kind == collector::ParseError::Kind::kInvalid) {
          if (++invalid_ <= kMaxInvalidWarnings) {
            inv_.err << "aatune: warning: " << s.name << ": "
                     << (ev.error().field.empty() ? "" : ev.error().field + ": ")
                     << ev.error().message << '\n';
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
    for (auto& ce : ready) handle(s, std::move(ce), now);
  }

  /// Stores the batch if it is due (or `force`). False on a store error (already reported).
  bool maybe_ingest(Clock::time_point now, bool force) {
    if (batch_.empty()) return true;
    if (!force && batch_.size() < kIngestBatch && now - last_ingest_ < kIngestInterval) return true;
    auto r = db_.ingest(batch_);
    last_ingest_ = now;
    batch_.clear();
    if (!r) {
      inv_.err << "aatune: error: " << r.error().message << '\n';
      store_failed_ = true;
      return false;
    }
    added_ += r->added;
    duplicates_ += r->duplicates;
    return true;
  }

  void print_count_updates(Clock::time_point now, bool force) {
    if (opt_.quiet || opt_.json) {
      dirty_.clear();
      return;
    }
    for (auto it = dirty_.begin(); it != dirty_.end();) {
      GroupState& g = groups_.at(*it);
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
    if (printed_) inv_.out.flush();
    printed_ = false;
  }

  [[nodiscard]] bool done() const { return opt_.max_events && shown_ >= *opt_.max_events; }
  [[nodiscard]] uint64_t shown() const { return shown_; }
  [[nodiscard]] uint64_t received() const { return received_; }
  [[nodiscard]] uint64_t other() const { return other_; }
  [[nodiscard]] uint64_t invalid() const { return invalid_; }
  [[nodiscard]] size_t group_count() const { return groups_.size(); }
  [[nodiscard]] uint64_t added() const { return added_; }
  [[nodiscard]] uint64_t duplicates() const { return duplicates_; }
  [[nodiscard]] bool store_failed() const { return store_failed_; }

 private:
  void handle(Source& s, analyzer::CorrelatedEvent ce, Clock::time_point now) {
    ++received_;
    const analyzer::GroupKey key = analyzer::group_key(ce.event);
    std::string key_text = analyzer::to_string(key);
    const bool wanted = is_denial(ce.event) && profile_matches(opt_.profile, ce.event);
    const bool show = wanted && !done();
    // The same trust decision as suggest/apply/tui (USER_AVC senders included).
    const bool unverified = analyzer::is_unverified(ce.event, analysis_options_.trust);
    // The event is moved into the batch unless it is printed below: a copy per record was the
    // largest cost of a burst.
    if (show && !opt_.quiet) {
      batch_.push_back(store::NewRecord{s.name, 0, ce.event, key_text});
    } else {
      batch_.push_back(store::NewRecord{s.name, 0, std::move(ce.event), key_text});
    }
    if (!show) {
      // Stored either way; past --max-events a wanted denial is not shown.
      if (!wanted) ++other_;
      return;
    }
    ++shown_;
    // A forged line never joins a trusted group (the analyzer's rule, kept here too).
    std::string display_key = key_text + (unverified ? "\x1funverified" : "");
    auto [it, inserted] = groups_.try_emplace(std::move(display_key));
    GroupState& g = it->second;
    if (inserted) g.id = groups_.size();
    ++g.count;

    std::optional<analyzer::Analysis> analysis;
    if (inserted && view_ && !opt_.quiet) {
      const std::vector<analyzer::LoggedEvent> one{{ce.event, s.name, 0}};
      analysis = analyzer::analyze(one, *view_, analysis_options_);
    }
    if (opt_.json) {
      if (opt_.quiet) return;
      ordered_json j;
      j["group"] = g.id;
      j["key"] = key_text;
      j["new_group"] = inserted;
      j["count"] = g.count;
      j["source"] = s.name;
      j["trust"] = collector::to_string(ce.event.trust);
      j["unverified"] = unverified;
      j["event"] = to_json(ce.event);
      j["evidence"] = evidence_json(ce);
      if (analysis) j["proposals"] = proposals_json(*analysis);
      inv_.out << j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace) << '\n';
      printed_ = true;
      return;
    }
    if (opt_.quiet) return;
    if (inserted) {
      print_group_text(inv_.out, g.id, ce, key, analysis);
      g.printed = g.count;
      g.printed_at = now;
      printed_ = true;
    } else {
      dirty_.insert(it->first);
    }
  }

  const Options& opt_;
  const Invocation& inv_;
  store::Store& db_;
  const analyzer::PolicyView* view_;
  analyzer::AnalyzeOptions analysis_options_;  ///< Trust policy and the config's risk entries.
  std::map<std::string, GroupState> groups_;
  std::set<std::string> dirty_;  ///< Groups whose count changed since it was printed.
  std::vector<store::NewRecord> batch_;
  Clock::time_point last_ingest_ = Clock::now();
  uint64_t received_ = 0;
  uint64_t shown_ = 0;
  uint64_t other_ = 0;
  uint64_t invalid_ = 0;
  uint64_t added_ = 0;
  uint64_t duplicates_ = 0;
  bool printed_ = false;
  bool store_failed_ = false;
};

// Reports losses that grew since the last report; the totals go into the summary.
void report_losses(Source& s, std::ostream& err, ordered_json* summary) {
  if (s.kind == SourceKind::kNetlink) {
    collector::LossReport r = s.live->losses();
    r.kernel_lost = collector::read_kernel_lost();
    const bool grew =
        r.overflow_episodes != s.reported.overflow_episodes ||
        r.serial_gaps != s.reported.serial_gaps || r.queue_dropped != s.reported.queue_dropped ||
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
      j["kernel_lost"] = r.kernel_lost && s.kernel_lost_at_start
                             ? ordered_json(static_cast<int64_t>(*r.kernel_lost) -
                                            static_cast<int64_t>(*s.kernel_lost_at_start))
                             : ordered_json(nullptr);
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
             std::to_string(j["queue_dropped"].get<uint64_t>()) + " dropped by our queue), " +
             "kernel lost " +
             (j["kernel_lost"].is_null() ? std::string("unknown")
                                         : "+" + std::to_string(j["kernel_lost"].get<int64_t>()));
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
    if (!watcher.maybe_ingest(now, false)) {
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
  if (!watcher.store_failed() && !watcher.maybe_ingest(end, true)) exit_code = kExitPermission;
  watcher.print_count_updates(end, true);

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
