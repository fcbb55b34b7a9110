// aatune tui [--profiles DIR] [--db PATH] [--no-reload] [--loader CMD] [--state DIR]
//            [--libvirt-xml DIR] [--batch KEYS [--size WxH]] [LOG…]
// The triage TUI over the real store, analyzer and rules. The views live in tui/; this file wires
// them to the world through tui::Backend.
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <filesystem>
#include <map>
#include <optional>
#include <ostream>
#include <sstream>
#include <string>
#include <vector>

#include "analyzer/analyzer.h"
#include "analyzer/tree_view.h"
#include "cli/commands.h"
#include "cli/common.h"
#include "cli/config.h"
#include "cli/profile_hash.h"
#include "rules/diff.h"
#include "rules/lifecycle.h"
#include "rules/loader.h"
#include "rules/profile_tree.h"
#include "rules/rule.h"
#include "store/store.h"
#include "tui/app.h"
#include "tui/backend.h"
#include "tui/terminal.h"

namespace aatune::cli {
namespace {

namespace fs = std::filesystem;

constexpr std::string_view kUsage =
    "usage: aatune tui [--profiles DIR] [--db PATH] [--no-reload] [--loader CMD] [--state DIR]\n"
    "                  [--libvirt-xml DIR] [--batch KEYS [--size WxH]] [LOG…]\n"
    "  Triage the stored denials interactively. LOG files are scanned into the store first.\n"
    "  --profiles DIR     the profile tree (default /etc/apparmor.d)\n"
    "  --db PATH          the event store (default: see 'aatune scan --help')\n"
    "  --no-reload        validate and write, but do not load profiles into the kernel\n"
    "  --loader CMD       program that loads policy (default /sbin/apparmor_parser)\n"
    "  --state DIR        where backups are kept (default /var/lib/aatune for root)\n"
    "  --libvirt-xml DIR  libvirt domain XML files: VM names for libvirt-<uuid> profiles\n"
    "  --batch KEYS       no terminal: feed KEYS (e.g. \"Enter Down A S y\") and print the\n"
    "                     final screen; --size WxH sets its size (default 80x24)\n"
    "  Press ? in the TUI for the keys.\n";

constexpr size_t kActivityBuckets = 8;
// Records per group the groups screen analyses: the proposal needs one record's fields (and the
// trust of its records); the count comes from the store (D-Bus groups excepted, see items()). The
// Detail screen loads the evidence.
constexpr size_t kSampleRecords = 3;
// Records per group the Detail screen shows as evidence (as `aatune suggest` reads them).
constexpr size_t kEvidenceRecords = 100;

struct Options {
  std::string profiles = "/etc/apparmor.d";
  std::optional<std::string> db;
  bool reload = true;
  std::string loader;
  std::string state;
  std::string libvirt_xml;
  std::optional<std::string> batch;
  tui::Size size{80, 24};
  std::vector<std::string> logs;
};

rules::RuleTarget rule_target(tui::TargetKind k) {
  switch (k) {
    case tui::TargetKind::kProfile:
      return rules::RuleTarget::kProfile;
    case tui::TargetKind::kLocal:
      return rules::RuleTarget::kLocal;
    case tui::TargetKind::kLibvirtFiles:
      return rules::RuleTarget::kLibvirt;
  }
  return rules::RuleTarget::kLocal;
}

std::string join(const std::vector<std::string>& parts, std::string_view sep) {
  std::string out;
  for (const auto& p : parts) out += (out.empty() ? "" : std::string(sep)) + p;
  return out;
}

// The first line of a process's output, for the one-line status.
std::string first_line(const std::string& s) {
  const size_t n = s.find('\n');
  return n == std::string::npos ? s : s.substr(0, n);
}

std::string commit_error_text(const rules::CommitError& e) {
  std::string msg = e.message;
  for (const auto& v : e.result.validations) {
    if (!v.ok()) msg += ": " + first_line(v.output);
  }
  if (e.result.rolled_back) msg += " (rolled back)";
  return msg;
}

class RealBackend final : public tui::Backend {
 public:
  RealBackend(store::Store& db, fs::path tree_dir, rules::CommitOptions opts,
              std::map<std::string, std::string> names)
      : db_(db), tree_dir_(std::move(tree_dir)), opts_(std::move(opts)), names_(std::move(names)) {}
  /// The configuration's additions to the guardrail list (config `risk`).
  void set_risky_paths(std::vector<std::string> paths) { risky_paths_ = std::move(paths); }

  /// LOG files to scan into the store as the TUI's first job (with its progress line).
  void scan_first(std::vector<std::string> scan_args, size_t logs) {
    scan_args_ = std::move(scan_args);
    scan_logs_ = logs;
  }

  std::string refresh_label() const override {
    return scan_args_.empty() ? std::string()
                              : "scanning " + std::to_string(scan_logs_) + " log(s)";
  }

  std::expected<std::string, std::string> refresh() override {
    if (scan_args_.empty()) return std::string();
    // Scanning is the scan command's job: run it, don't repeat it.
    std::ostringstream out;
    std::ostringstream err;
    const int rc = run_scan(Invocation{scan_args_, out, err});
    scan_args_.clear();
    if (rc != kExitOk) {
      std::string e = first_line(err.str());
      if (e.starts_with("aatune: error: ")) e.erase(0, 15);
      return std::unexpected("scan failed: " + e);
    }
    return "scanned " + std::to_string(scan_logs_) + " log(s)";
  }

  std::expected<void, std::string> load_tree() {
    auto t = rules::read_profile_tree(tree_dir_.string());
    if (!t) return std::unexpected(t.error());
    tree_ = std::move(*t);
    return {};
  }

  std::expected<std::vector<tui::ProfileRow>, std::string> profiles() override {
    // One row per profile, aggregated by the store (never one row per group: a store of 1 M
    // events holds ~100k groups). Policy loads are not denials; the store leaves them out. A
    // profile's files are hashed only when one of its decisions could hold.
    store::SummaryFilter filter;
    filter.buckets = kActivityBuckets;
    filter.profile_hash = [this](std::string_view p) -> std::optional<std::string> {
      return hash_of(p);
    };
    auto summaries = db_.profile_summaries(filter);
    if (!summaries) return std::unexpected(summaries.error().message);
    const analyzer::TreeView view(*tree_);
    std::vector<tui::ProfileRow> out;
    for (auto& s : *summaries) {
      if (s.open == 0) continue;
      tui::ProfileRow r;
      r.name = std::move(s.profile);
      r.open = s.open;
      r.decided = s.decided;
      r.last_seen = s.last_seen;
      r.activity = std::move(s.activity);
      r.mode = !view.has_profile(r.name)       ? "absent"
               : view.in_complain_mode(r.name) ? "complain"
                                               : "enforce";
      if (r.name.starts_with("libvirt-")) {
        const auto it = names_.find(r.name.substr(8));
        if (it != names_.end()) r.vm_name = it->second;
      }
      out.push_back(std::move(r));
    }
    std::ranges::stable_sort(out, [](const auto& a, const auto& b) { return a.open > b.open; });
    return out;
  }

  std::expected<std::vector<tui::Item>, std::string> items(std::string_view profile) override {
    store::GroupFilter filter;
    filter.profile = std::string(profile);
    filter.profile_hash = [this](std::string_view p) -> std::optional<std::string> {
      return hash_of(p);
    };
    auto groups = db_.profile_groups(filter);
    if (!groups) return std::unexpected(groups.error().message);
    std::vector<analyzer::LoggedEvent> events;
    size_t expected = 0;
    std::vector<store::GroupSampleRequest> samples;
    samples.reserve(groups->size());
    for (const auto& g : *groups) {
      expected += std::min<uint64_t>(g.count, sample_size(g));
      samples.push_back({g.key, sample_size(g)});
    }
    events.reserve(expected);  // an Event is large: no copies while growing
    // All groups in one pass over the store (in storage order), not one lookup per group.
    auto sampled = db_.events_of_groups(samples);
    if (!sampled) return std::unexpected(sampled.error().message);
    for (auto& evs : *sampled) {
      for (auto& e : evs) events.push_back({std::move(e), "store", 0});
    }
    const analyzer::TreeView view(*tree_);
    analyzer::AnalyzeOptions aopt;
    aopt.trust = system_trust_policy();
    aopt.risky_paths = risky_paths_;
    aopt.vm_names = names_;
    const analyzer::Analysis a = analyzer::analyze(events, view, aopt);
    // The store counts every record; the analysis only saw the sampled ones.
    std::map<std::string, uint64_t> counts;
    for (const auto& g : *groups) counts[g.key] = g.count;
    std::vector<tui::Item> out;
    for (const auto& p : a.proposals) {
      tui::Item item{p, {}, {}, 0, true};
      for (size_t gi : p.groups) {
        const auto& g = a.grouped.groups[gi];
        item.evidence.push_back(g);
        item.group_keys.push_back(analyzer::to_string(g.key));
        const auto c = counts.find(item.group_keys.back());
        item.count += c == counts.end() ? g.count : c->second;
        // More records stored than sampled: the Detail screen fetches the rest.
        if (c != counts.end() && c->second > g.count) item.evidence_complete = false;
      }
      out.push_back(std::move(item));
    }
    return out;
  }

  std::expected<std::vector<analyzer::Group>, std::string> evidence(
      const tui::Item& item) override {
    std::vector<analyzer::LoggedEvent> events;
    std::vector<std::string> keys = item.group_keys;
    std::ranges::sort(keys);
    const auto [first, last] = std::ranges::unique(keys);
    keys.erase(first, last);
    for (const auto& key : keys) {
      auto evs = db_.events_of_group(key, kEvidenceRecords);
      if (!evs) return std::unexpected(evs.error().message);
      for (auto& e : *evs) events.push_back({std::move(e), "store", 0});
    }
    // Grouped exactly as items() grouped the sample, so trusted and unverified records of one
    // store group stay apart; only the groups this proposal answers are kept, in its order.
    analyzer::Grouped grouped = analyzer::group_events(events, system_trust_policy());
    std::vector<analyzer::Group> out;
    for (const auto& want : item.evidence) {
      const auto it = std::ranges::find_if(grouped.groups, [&](const analyzer::Group& g) {
        return g.key == want.key && g.unverified == want.unverified;
      });
      out.push_back(it == grouped.groups.end() ? want : std::move(*it));
    }
    return out;
  }

  std::expected<void, std::string> ignore(std::span<const std::string> keys) override {
    for (const auto& k : keys) {
      if (auto r = db_.record_decision(decision(k, store::DecisionKind::kIgnored)); !r) {
        return std::unexpected(r.error().message);
      }
    }
    return {};
  }

  std::expected<std::string, std::string> check_rule(std::string_view text) override {
    auto r = rules::parse_rule(text);
    if (!r) return std::unexpected(r.error());
    return rules::render_checked(*r);
  }

  std::expected<tui::Preview, std::string> preview(
      std::span<const tui::Accepted> accepted) override {
    rules::ChangeSet cs;
    tui::Preview pv;
    if (auto r = plan(cs, accepted, pv.warnings); !r) return std::unexpected(r.error());
    for (const auto& e : cs.edits) {
      const std::string path = e.old.path.string();
      std::string d = rules::unified_diff(e.old.content, e.new_content, path, path);
      if (!d.empty()) pv.files.push_back({path, std::move(d)});
    }
    return pv;
  }

  std::expected<std::string, std::string> save(std::span<const tui::Accepted> accepted) override {
    rules::ChangeSet cs;
    cs.description = "aatune tui: " + std::to_string(accepted.size()) + " rule(s)";
    std::vector<std::string> warnings;
    if (auto r = plan(cs, accepted, warnings); !r) return std::unexpected(r.error());
    auto res = rules::commit(cs, opts_);
    if (!res) return std::unexpected(commit_error_text(res.error()));
    // Decisions are tied to the profile as written now, so read the changed tree first.
    if (auto r = load_tree(); !r) return std::unexpected(r.error());
    for (const auto& a : accepted) {
      for (const auto& k : a.group_keys) {
        const auto kind = a.deny ? store::DecisionKind::kDenied : store::DecisionKind::kAccepted;
        if (auto r = db_.record_decision(decision(k, kind)); !r) {
          return std::unexpected(r.error().message);
        }
      }
    }
    const bool validated =
        std::ranges::all_of(res->validations, [](const auto& v) { return v.ok(); });
    const bool reloaded = !res->reloads.empty() &&
                          std::ranges::all_of(res->reloads, [](const auto& v) { return v.ok(); });
    for (const auto& d : res->diffs) {
      store::AppliedChange ch;
      ch.group_key = accepted.front().group_keys.empty() ? "" : accepted.front().group_keys.front();
      for (const auto& a : accepted) ch.rule += (ch.rule.empty() ? "" : "\n") + a.rule;
      ch.target_file = d.path.string();
      ch.diff = d.diff;
      ch.backup_path = res->backup ? res->backup->dir.string() : "";
      ch.validated = validated;
      ch.reloaded = reloaded;
      ch.at = std::time(nullptr);
      if (auto r = db_.record_change(ch); !r) return std::unexpected(r.error().message);
    }
    if (!res->changed()) return "nothing to write: the rules are already there";
    std::string msg = "saved " + std::to_string(accepted.size()) + " rule(s) to " +
                      std::to_string(res->diffs.size()) + " file(s), validated";
    if (reloaded)
      msg += ", reloaded";
    else if (!opts_.reload)
      msg += ", not reloaded (--no-reload)";
    else if (!res->skipped.empty())
      msg += "; " + join(res->skipped, "; ");
    return msg;
  }

  std::expected<std::string, std::string> reload(std::string_view profile) override {
    if (!opts_.reload) return "reload of " + std::string(profile) + " skipped: --no-reload";
    auto loc = rules::find_profile(tree_dir_, profile);
    if (!loc) return std::unexpected(loc.error().message);
    auto r = rules::reload(loc->file, opts_.loader);
    if (!r) return std::unexpected(r.error());
    if (!r->ok()) return std::unexpected("reload failed: " + first_line(r->output));
    return "reloaded " + std::string(profile);
  }

  std::expected<std::string, std::string> disable(std::string_view profile) override {
    auto r = rules::disable_profile(profile, opts_);
    if (!r) return std::unexpected(commit_error_text(r.error()));
    return join(r->messages, "; ");
  }

  std::expected<std::string, std::string> toggle_mode(std::string_view profile) override {
    const bool complain = !analyzer::TreeView(*tree_).in_complain_mode(profile);
    auto r = rules::set_profile_mode(profile, complain, opts_);
    if (!r) return std::unexpected(commit_error_text(r.error()));
    if (auto t = load_tree(); !t) return std::unexpected(t.error());
    return join(r->messages, "; ");
  }

  std::expected<std::string, std::string> undo() override {
    auto r = rules::undo_changes(1, opts_);
    if (!r) return std::unexpected(commit_error_text(r.error()));
    if (auto t = load_tree(); !t) return std::unexpected(t.error());
    return join(r->messages, "; ");
  }

 private:
  // D-Bus denials arrive as USER_AVC records whose trust depends on each sender, so one store
  // group can hold trusted and unverified records that the analyzer keeps apart: those groups
  // are read as deeply as the evidence, so the proposals stay the same.
  static size_t sample_size(const store::Group& g) {
    return g.rule_class == "dbus" ? kEvidenceRecords : kSampleRecords;
  }

  // The hash a decision about `profile` is tied to (cli/profile_hash.h): the same one that
  // status/list check, so an ignored group comes back once the profile's files change.
  std::string hash_of(std::string_view profile) const {
    return profile_content_hash(*tree_, profile);
  }

  // A group key starts with its profile name (analyzer::to_string(GroupKey)).
  store::Decision decision(const std::string& key, store::DecisionKind kind) const {
    store::Decision d;
    d.group_key = key;
    d.kind = kind;
    d.profile_hash = hash_of(std::string_view(key).substr(0, key.find('\x1f')));
    d.uid = getuid();
    const char* user = std::getenv("USER");
    d.user = user ? user : "";
    d.at = std::time(nullptr);
    return d;
  }

  std::expected<void, std::string> plan(rules::ChangeSet& cs,
                                        std::span<const tui::Accepted> accepted,
                                        std::vector<std::string>& warnings) {
    for (const auto& a : accepted) {
      const std::vector<std::string> rule{a.rule};
      auto r = rules::plan_rules(cs, tree_dir_, a.profile, rule, rule_target(a.target));
      if (!r) return std::unexpected(r.error().message);
      for (auto& w : r->warnings) {
        if (std::ranges::find(warnings, w) == warnings.end()) warnings.push_back(std::move(w));
      }
    }
    return {};
  }

  store::Store& db_;
  fs::path tree_dir_;
  rules::CommitOptions opts_;
  std::map<std::string, std::string> names_;
  std::vector<std::string> risky_paths_;
  std::optional<rules::ProfileTree> tree_;
  std::vector<std::string> scan_args_;
  size_t scan_logs_ = 0;
};

std::expected<Options, std::string> parse_args(std::span<const std::string> args) {
  Options o;
  for (size_t i = 0; i < args.size(); ++i) {
    const std::string& a = args[i];
    auto value = [&]() -> std::expected<std::string, std::string> {
      if (i + 1 >= args.size()) return std::unexpected(a + " needs a value");
      return args[++i];
    };
    std::expected<std::string, std::string> v;
    if (a == "--no-reload") {
      o.reload = false;
    } else if (a == "--profiles" || a == "--db" || a == "--loader" || a == "--state" ||
               a == "--libvirt-xml" || a == "--batch" || a == "--size") {
      v = value();
      if (!v) return std::unexpected(v.error());
      if (a == "--profiles")
        o.profiles = *v;
      else if (a == "--db")
        o.db = *v;
      else if (a == "--loader")
        o.loader = *v;
      else if (a == "--state")
        o.state = *v;
      else if (a == "--libvirt-xml")
        o.libvirt_xml = *v;
      else if (a == "--batch")
        o.batch = *v;
      else {
        size_t w = 0;
        size_t h = 0;
        if (std::sscanf(v->c_str(), "%zux%zu", &w, &h) != 2 || w < 20 || h < 5) {
          return std::unexpected("--size: '" + *v + "' is not WxH (at least 20x5)");
        }
        o.size = {w, h};
      }
    } else if (a.starts_with("-") && a != "-") {
      return std::unexpected("unknown option '" + a + "'");
    } else {
      o.logs.push_back(a);
    }
  }
  return o;
}

}  // namespace

int run_tui(const Invocation& inv) {
  for (const auto& a : inv.args) {
    if (a == "--help" || a == "-h") {
      inv.out << kUsage;
      return kExitOk;
    }
  }
  auto opt = parse_args(inv.args);
  if (!opt) {
    inv.err << "aatune: error: " << opt.error() << '\n' << kUsage;
    return kExitUsage;
  }
  if (!opt->batch && (isatty(STDIN_FILENO) == 0 || isatty(STDOUT_FILENO) == 0)) {
    inv.err << "aatune: error: tui needs a terminal (use --batch KEYS without one)\n";
    return kExitUsage;
  }
  const std::string db_path = store::locate_db(opt->db);
  for (const auto& log : opt->logs) {
    // Named before the screen opens: a typo is an error on the command line, not a status line.
    std::error_code ec;
    if (!fs::exists(log, ec)) {
      inv.err << "aatune: error: " << log << ": no such file\n";
      return kExitUsage;
    }
  }
  std::vector<std::string> scan_args;
  if (!opt->logs.empty()) {
    scan_args = {"--db", db_path, "--no-journal", "--no-kmsg", "--quiet"};
    scan_args.insert(scan_args.end(), opt->logs.begin(), opt->logs.end());
  }
  if (opt->batch && !scan_args.empty()) {
    // Headless: nobody watches a progress line, and a failed scan must fail the command.
    std::ostringstream out;
    if (const int rc = run_scan(Invocation{scan_args, out, inv.err}); rc != kExitOk) return rc;
    scan_args.clear();
  }
  auto db = store::Store::open(db_path);
  if (!db) {
    inv.err << "aatune: error: " << db.error().message << '\n';
    return kExitUsage;
  }
  rules::CommitOptions copts;
  copts.tree = opt->profiles;
  copts.state_dir = opt->state.empty() ? rules::default_state_dir() : fs::path(opt->state);
  copts.reload = opt->reload;
  if (!opt->loader.empty()) {
    std::istringstream words(opt->loader);
    copts.loader.loader.clear();
    for (std::string w; words >> w;) copts.loader.loader.push_back(w);
  }
  const auto names = opt->libvirt_xml.empty() ? std::map<std::string, std::string>()
                                              : read_vm_names(opt->libvirt_xml, inv.err);
  RealBackend backend(*db, opt->profiles, copts, names);
  if (inv.config != nullptr) backend.set_risky_paths(inv.config->risk);
  backend.scan_first(std::move(scan_args), opt->logs.size());
  if (auto r = backend.load_tree(); !r) {
    inv.err << "aatune: error: " << r.error() << '\n';
    return kExitUsage;
  }
  tui::App app(backend, opt->size);
  app.start();
  if (opt->batch) {
    auto keys = tui::parse_keys(*opt->batch);
    if (!keys) {
      inv.err << "aatune: error: --batch: " << keys.error() << '\n';
      return kExitUsage;
    }
    for (const auto& line : tui::run_batch(app, *keys, opt->size)) inv.out << line << '\n';
    return kExitOk;
  }
  if (auto r = tui::run_terminal(app); !r) {
    inv.err << "aatune: error: " << r.error() << '\n';
    return kExitUsage;
  }
  return kExitOk;
}

}  // namespace aatune::cli
