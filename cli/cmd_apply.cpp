// aatune apply: accept proposals non-interactively. The logs are read and analyzed exactly as
// `suggest` does (cli/common.h), so the ids `suggest` prints select here; the accepted rules go
// into their targets as one ChangeSet (validated by apparmor_parser, written atomically with
// backups, reloaded or rolled back) and each change is recorded in the store.
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <iostream>
#include <map>
#include <optional>
#include <ostream>
#include <set>
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
#include "rules/profile_tree.h"
#include "store/store.h"

namespace aatune::cli {
namespace {

namespace fs = std::filesystem;
using analyzer::Proposal;

constexpr std::string_view kUsage =
    "usage: aatune apply [--profiles DIR] [--target profile|local|files] [--select ID…|--all]\n"
    "                    [--force] [--glob 0|1|2|ext|var|volatile] [--no-reload]\n"
    "                    [--loader CMD] [--parser PATH] [--yes] [--db PATH] [--state DIR]\n"
    "                    [--libvirt-xml DIR] [LOG…]\n"
    "  Accepts the proposals `aatune suggest` makes for the same LOG files and writes them into\n"
    "  the profile tree DIR (default /etc/apparmor.d) as one validated, atomic change. With --db\n"
    "  and no LOG, the proposals are those for the store's open denial groups (what scan and\n"
    "  watch collected, as `aatune list` shows them).\n"
    "  --select ID…     proposals by the #id suggest prints (the other side of a peer pair too)\n"
    "  --all            every proposal except risky ones (need --force) and unverified evidence\n"
    "  --force          also take grants the analyzer rates high or critical\n"
    "  --target T       local (the local/ override), profile (the profile's file) or files (a\n"
    "                   libvirt guest's .files include); default: each proposal's default\n"
    "  --glob LEVEL     0 exact (default), 1 one-level glob, 2 recursive, ext, var, volatile\n"
    "                   (only the parts that change on every run: a libvirt domain id, a\n"
    "                   random suffix) — when the proposal offers that alternative, else exact\n"
    "  --no-reload      write and validate, but do not load into the kernel\n"
    "  --loader CMD     program that loads policy (default /sbin/apparmor_parser); gets -r FILE\n"
    "  --parser PATH    apparmor_parser used to validate (default /sbin/apparmor_parser)\n"
    "  --yes            do not ask (required when stdin is not a terminal)\n"
    "  --db PATH        the store the changes are recorded in (':memory:' for none)\n"
    "  --state DIR      backups for `aatune undo` (default as for undo)\n"
    "  --libvirt-xml DIR  libvirt domain XML files: VM names for UUIDs\n"
    "  Exit status: 0 applied or nothing to do, 1 refused or nothing selected, 2 usage,\n"
    "  3 permission, 4 validation or reload failed (nothing changed).\n";

enum class TargetOpt { kDefault, kProfile, kLocal, kFiles };

struct Options {
  std::string profiles = "/etc/apparmor.d";
  TargetOpt target = TargetOpt::kDefault;
  std::set<size_t> select;
  bool all = false;
  bool force = false;
  std::optional<analyzer::Alternative::Kind> glob;
  bool yes = false;
  std::optional<std::string> db;
  std::string libvirt_xml;
  std::vector<std::string> logs;
  bool from_store = false;
  rules::CommitOptions commit;
};

std::vector<std::string> split_words(const std::string& s) {
  std::istringstream in(s);
  std::vector<std::string> out;
  for (std::string w; in >> w;) out.push_back(w);
  return out;
}

// "3", "#3", "3,5": proposal ids as suggest prints them.
std::optional<std::vector<size_t>> parse_ids(std::string_view text) {
  std::vector<size_t> ids;
  std::string item;
  std::istringstream in{std::string(text)};
  while (std::getline(in, item, ',')) {
    if (item.starts_with('#')) item.erase(0, 1);
    if (item.empty() || !std::ranges::all_of(item, [](char c) { return c >= '0' && c <= '9'; }))
      return std::nullopt;
    const size_t v = std::strtoul(item.c_str(), nullptr, 10);
    if (v == 0) return std::nullopt;
    ids.push_back(v);
  }
  if (ids.empty()) return std::nullopt;
  return ids;
}

std::optional<std::string> parse_options(const Invocation& inv, Options& o, bool& help) {
  o.commit.state_dir = rules::default_state_dir();
  const auto& a = inv.args;
  bool selecting = false;
  for (size_t i = 0; i < a.size(); ++i) {
    const std::string& arg = a[i];
    auto value = [&]() -> std::optional<std::string> {
      if (i + 1 >= a.size() || a[i + 1].empty()) return std::nullopt;
      return a[++i];
    };
    if (selecting && !arg.starts_with("--")) {
      if (auto ids = parse_ids(arg)) {
        o.select.insert(ids->begin(), ids->end());
        continue;
      }
    }
    selecting = false;
    if (arg == "-h" || arg == "--help") {
      help = true;
    } else if (arg == "--all") {
      o.all = true;
    } else if (arg == "--force") {
      o.force = true;

    } else if (arg == "--yes" || arg == "-y") {
      o.yes = true;
    } else if (arg == "--no-reload") {
      o.commit.reload = false;
    } else if (arg == "--select") {
      const auto v = value();
      const auto ids = v ? parse_ids(*v) : std::nullopt;
      if (!ids) return "--select needs proposal ids as suggest prints them (e.g. --select 3 5)";
      o.select.insert(ids->begin(), ids->end());
      selecting = true;
    } else if (arg == "--target") {
      const auto v = value();
      if (!v) return "--target needs a value (profile, local or files)";
      if (*v == "profile")
        o.target = TargetOpt::kProfile;
      else if (*v == "local")
        o.target = TargetOpt::kLocal;
      else if (*v == "files")
        o.target = TargetOpt::kFiles;
      else
        return "unknown --target '" + *v + "' (profile, local or files)";
    } else if (arg == "--glob") {
      const auto v = value();
      using K = analyzer::Alternative::Kind;
      if (!v) return "--glob needs a level (0, 1, 2, ext, var or volatile)";
      if (*v == "0")
        o.glob.reset();
      else if (*v == "1")
        o.glob = K::kGlob;
      else if (*v == "2")
        o.glob = K::kRecursive;
      else if (*v == "ext")
        o.glob = K::kExtension;
      else if (*v == "var")
        o.glob = K::kVariable;
      else if (*v == "volatile")
        o.glob = K::kVolatile;
      else
        return "unknown --glob level '" + *v + "' (0, 1, 2, ext, var or volatile)";
    } else if (arg == "--profiles" || arg == "--state" || arg == "--loader" || arg == "--parser" ||
               arg == "--db" || arg == "--libvirt-xml") {
      const auto v = value();
      if (!v) return arg + " needs a value";
      if (arg == "--profiles") o.profiles = *v;
      if (arg == "--state") o.commit.state_dir = *v;
      if (arg == "--parser") o.commit.loader.parser = *v;
      if (arg == "--db") o.db = *v;
      if (arg == "--libvirt-xml") o.libvirt_xml = *v;
      if (arg == "--loader") {
        o.commit.loader.loader = split_words(*v);
        if (o.commit.loader.loader.empty()) return "--loader needs a command";
      }
    } else if (arg.starts_with("-") && arg != "-") {
      return "unknown option '" + arg + "'";
    } else {
      o.logs.push_back(arg);
    }
  }
  o.commit.tree = o.profiles;
  // Logs given: they are the input (the store only records); none but a store: the store.
  o.from_store = o.logs.empty() && o.db.has_value() && *o.db != ":memory:";
  if (!help && o.all == !o.select.empty())
    return o.all ? "--all and --select exclude each other"
                 : "say which proposals: --select ID… or --all";
  return std::nullopt;
}

void print_outputs(std::ostream& os, const std::vector<rules::ProcessResult>& runs,
                   bool failed_only) {
  for (const auto& r : runs) {
    if (r.output.empty() || (failed_only && r.ok())) continue;
    os << "aatune: output of '" << r.command_line() << "':\n" << r.output;
    if (r.output.back() != '\n') os << '\n';
  }
}

// The rule as it will be written: the --glob alternative when this proposal offers it.
std::string chosen_rule(const Proposal& p, const Options& o) {
  if (o.glob) {
    for (const auto& alt : p.alternatives) {
      if (alt.kind == *o.glob) return alt.text;
    }
  }
  return p.rule;
}

rules::RuleTarget chosen_target(const Proposal& p, const Options& o) {
  switch (o.target) {
    case TargetOpt::kProfile:
      return rules::RuleTarget::kProfile;
    case TargetOpt::kLocal:
      return rules::RuleTarget::kLocal;
    case TargetOpt::kFiles:
      return rules::RuleTarget::kLibvirt;
    case TargetOpt::kDefault:
      break;
  }
  for (const auto& t : p.targets) {
    if (!t.is_default) continue;
    switch (t.file.kind) {
      case analyzer::TargetFile::Kind::kLocal:
        return rules::RuleTarget::kLocal;
      case analyzer::TargetFile::Kind::kProfileFile:
      case analyzer::TargetFile::Kind::kLibvirtBase:
        return rules::RuleTarget::kProfile;
      case analyzer::TargetFile::Kind::kLibvirtFiles:
        return rules::RuleTarget::kLibvirt;
    }
  }
  return rules::RuleTarget::kLocal;
}

std::string display_name(const Proposal& p) {
  return p.vm_name.empty() ? p.profile : p.profile + " (VM " + p.vm_name + ")";
}

// Why `p` is not taken; empty when it is.
std::string skip_reason(const Proposal& p, const Options& o, bool explicitly_selected) {
  if (p.unverified && !explicitly_selected)
    return "unverified evidence (text anyone could have written) is never part of --all; "
           "select it by id with --force if you trust it";
  if (p.unverified && !o.force) return "unverified evidence: pass --force to take it anyway";
  if (p.rule.empty()) return "no rule can be proposed: " + p.refused;
  if (!p.profile_in_tree) return "no profile of that name in " + o.profiles;
  if (p.why.code == analyzer::WhyCode::kAlreadyAllowed)
    return "already allowed on disk (reload the profile instead)";
  if (p.why.code == analyzer::WhyCode::kExplicitDeny) return "an explicit deny rule wins over it";
  if (p.severity.level >= analyzer::Severity::kHigh && !o.force)
    return std::string(analyzer::to_string(p.severity.level)) + " risk (" + p.severity.reason +
           "): pass --force to take it";
  // The guardrail list (docs/security.md), including the site's own `risk` entries.
  if (p.guardrail.needs_force && !o.force)
    return "widens the confinement (" + p.guardrail.reason + "): pass --force to take it";
  return {};
}

struct Chosen {
  const Proposal* proposal = nullptr;
  std::string rule;
  rules::RuleTarget target = rules::RuleTarget::kLocal;
};

bool confirm(const Invocation& inv) {
  inv.out << "Apply these changes? [y/N] " << std::flush;
  std::string answer;
  if (!std::getline(std::cin, answer)) return false;
  return answer == "y" || answer == "Y" || answer == "yes";
}

void record_in_store(const Invocation& inv, const Options& o, const analyzer::Analysis& analysis,
                     const std::vector<Chosen>& chosen, const rules::ChangeSet& cs,
                     const rules::CommitResult& result) {
  const std::string path = store::locate_db(o.db);
  auto db = store::Store::open(path);
  if (!db) {
    inv.err << "aatune: warning: the change is applied but not recorded: " << db.error().message
            << '\n';
    return;
  }
  const int64_t now = std::chrono::duration_cast<std::chrono::seconds>(
                          std::chrono::system_clock::now().time_since_epoch())
                          .count();
  std::string validate_output;
  for (const auto& v : result.validations) validate_output += v.output;
  std::string reload_output;
  for (const auto& r : result.reloads) reload_output += r.output;
  std::string diff;
  for (const auto& d : result.diffs) diff += d.diff;
  const char* user = std::getenv("USER");
  const auto tree_after = rules::read_profile_tree(o.profiles);
  for (const auto& c : chosen) {
    const Proposal& p = *c.proposal;
    // The file that received the rule, and its hash after the change: a decision holds until
    // that file changes again.
    std::string target_file;
    for (const auto& e : cs.edits) {
      if (e.new_content.find(c.rule) != std::string::npos &&
          e.old.content.find(c.rule) == std::string::npos) {
        target_file = e.old.path.string();
        break;
      }
    }
    // The decision holds while the profile's files stay as written now: the same hash that
    // status/list/tui check (cli/profile_hash.h), over the tree after the change.
    const std::string hash = tree_after ? profile_content_hash(*tree_after, p.profile) : "";
    for (size_t gi : p.groups) {
      const std::string key = analyzer::to_string(analysis.grouped.groups[gi].key);
      store::AppliedChange change;
      change.group_key = key;
      change.rule = c.rule;
      change.target_file = target_file.empty() ? p.profile : target_file;
      change.diff = diff;
      change.backup_path = result.backup ? result.backup->dir.string() : std::string();
      change.validated = true;
      change.validate_output = validate_output;
      change.reloaded = o.commit.reload;
      change.reload_output = reload_output;
      change.at = now;
      store::Decision decision{
          key, store::DecisionKind::kAccepted, getuid(), user ? user : std::string(), now, hash};
      auto r1 = db->record_change(change);
      auto r2 = db->record_decision(decision);
      if (!r1 || !r2) {
        inv.err << "aatune: warning: the change is applied but not recorded: "
                << (!r1 ? r1.error().message : r2.error().message) << '\n';
        return;
      }
    }
  }
}

// The stored events of every open group (undecided, or deferred), oldest first per group, as
// `aatune list` analyzes them: what watch/scan collected, without the logs.
std::expected<LogEvents, std::string> read_store_events(const std::optional<std::string>& db_flag) {
  store::OpenOptions ro;
  ro.read_only = true;
  auto db = store::Store::open(store::locate_db(db_flag), ro);
  if (!db) return std::unexpected(db.error().message);
  auto groups = db->groups(store::GroupFilter{});
  if (!groups) return std::unexpected(groups.error().message);
  LogEvents out;
  for (const auto& g : *groups) {
    auto events = db->events_of_group(g.key, 100);
    if (!events) return std::unexpected(events.error().message);
    for (auto& e : *events) out.events.push_back({std::move(e), "store", 0});
  }
  return out;
}

}  // namespace

int run_apply(const Invocation& inv) {
  Options o;
  bool help = false;
  if (auto err = parse_options(inv, o, help)) {
    inv.err << "aatune apply: error: " << *err << '\n' << kUsage;
    return kExitUsage;
  }
  if (help) {
    inv.out << kUsage;
    return kExitOk;
  }
  if (o.logs.empty() && !o.from_store) o.logs = default_logs();
  if (o.logs.empty() && !o.from_store) {
    inv.err << "aatune apply: error: no log found (/var/log/audit/audit.log, /var/log/kern.log, "
               "/var/log/syslog); name one, or read a store with --db PATH\n";
    return kExitUsage;
  }
  auto tree = rules::read_profile_tree(o.profiles);
  if (!tree) {
    inv.err << "aatune apply: error: " << tree.error() << '\n';
    return kExitUsage;
  }
  auto logged = o.from_store ? read_store_events(o.db) : read_log_events(o.logs, inv.err);
  if (!logged) {
    inv.err << "aatune apply: error: " << logged.error() << '\n';
    return kExitUsage;
  }
  analyzer::AnalyzeOptions aopt;
  aopt.trust = system_trust_policy();
  if (inv.config != nullptr) aopt.risky_paths = inv.config->risk;
  if (!o.libvirt_xml.empty()) aopt.vm_names = read_vm_names(o.libvirt_xml, inv.err);
  const analyzer::TreeView view(*tree);
  const analyzer::Analysis analysis = analyzer::analyze(logged->events, view, aopt);

  if (analysis.proposals.empty()) {
    inv.out << (o.from_store ? "nothing to do: no open denial groups in the store\n"
                             : "nothing to do: no proposals for these logs\n");
    return kExitOk;
  }
  for (size_t id : o.select) {
    if (id > analysis.proposals.size()) {
      inv.err << "aatune apply: error: no proposal #" << id << " (there are "
              << analysis.proposals.size() << "; see 'aatune suggest')\n";
      return kExitUsage;
    }
  }

  // Selection, then pairs: one side of a peer pair selects the other, and a pair goes or stays
  // as a whole (half a pair still fails at the other end).
  std::set<size_t> wanted;
  for (const auto& p : analysis.proposals) {
    if (o.all || o.select.contains(p.id)) wanted.insert(p.id);
  }
  for (const auto& p : analysis.proposals) {
    if (!p.pair || !wanted.contains(p.id)) continue;
    for (const auto& q : analysis.proposals) {
      if (q.pair == p.pair) wanted.insert(q.id);
    }
  }
  std::map<size_t, std::string> skipped;
  for (const auto& p : analysis.proposals) {
    if (!wanted.contains(p.id)) continue;
    std::string why = skip_reason(
        p, o, o.select.contains(p.id) || (p.pair && std::ranges::any_of(o.select, [&](size_t s) {
                                            return analysis.proposals[s - 1].pair == p.pair;
                                          })));
    if (!why.empty()) skipped[p.id] = why;
  }
  for (const auto& p : analysis.proposals) {
    if (!p.pair || !wanted.contains(p.id) || skipped.contains(p.id)) continue;
    for (const auto& q : analysis.proposals) {
      if (q.pair == p.pair && q.id != p.id && skipped.contains(q.id))
        skipped[p.id] = "its peer pair #" + std::to_string(q.id) + " is skipped";
    }
  }

  std::vector<Chosen> chosen;
  for (const auto& p : analysis.proposals) {
    if (!wanted.contains(p.id)) continue;
    if (auto it = skipped.find(p.id); it != skipped.end()) {
      inv.out << "skipped #" << p.id << " " << display_name(p) << ": "
              << (p.rule.empty() ? std::string() : p.rule + " — ") << it->second << '\n';
      continue;
    }
    chosen.push_back({&p, chosen_rule(p, o), chosen_target(p, o)});
  }
  if (chosen.empty()) {
    // Rules already on disk leave nothing to do; a refusal (risk, unverified) is a finding.
    const bool refused = std::ranges::any_of(skipped, [](const auto& s) {
      return s.second.find("--force") != std::string::npos ||
             s.second.find("--all") != std::string::npos;
    });
    inv.out << (refused ? "nothing selected to apply\n" : "nothing to do\n");
    return refused ? kExitFindings : kExitOk;
  }

  // One plan_rules call per (profile, target), in proposal order, so rules of one profile land
  // together and in the order suggest printed them.
  rules::ChangeSet cs;
  cs.description = "aatune apply";
  std::vector<std::pair<std::pair<std::string, rules::RuleTarget>, std::vector<std::string>>>
      batches;
  for (const auto& c : chosen) {
    const auto key = std::make_pair(c.proposal->profile, c.target);
    auto it = std::ranges::find_if(batches, [&](const auto& b) { return b.first == key; });
    if (it == batches.end()) {
      batches.push_back({key, {}});
      it = std::prev(batches.end());
    }
    if (std::ranges::find(it->second, c.rule) == it->second.end()) it->second.push_back(c.rule);
  }
  std::set<std::string> warned;
  size_t added = 0;
  for (const auto& [key, rules_text] : batches) {
    auto plan = rules::plan_rules(cs, o.profiles, key.first, rules_text, key.second);
    if (!plan) {
      inv.err << "aatune apply: error: " << plan.error().message << '\n';
      return exit_code_for(plan.error().kind);
    }
    added += plan->added.size();
    for (const auto& r : plan->present)
      inv.out << "already present in " << key.first << ": " << r << '\n';
    for (const auto& w : plan->warnings) {
      if (warned.insert(w).second) inv.out << "warning: " << w << '\n';
    }
  }

  // Where several profiles share a file, reloading it reloads them all: say so before the diff.
  if (o.commit.reload) {
    std::set<std::string> named;
    for (const auto& [key, rules_text] : batches) named.insert(key.first);
    const auto all_profiles = rules::list_profiles(o.profiles);
    for (const auto& file : cs.profile_files) {
      std::vector<std::string> others;
      bool ours = false;
      for (const auto& loc : all_profiles) {
        if (fs::absolute(loc.file).lexically_normal() != file) continue;
        ours = ours || named.contains(loc.name);
        if (loc.name.find("//") == std::string::npos && !named.contains(loc.name))
          others.push_back(loc.name);
      }
      if (!ours || others.empty()) continue;
      inv.out << "note: reloading " << file.string() << " also reloads";
      for (size_t i = 0; i < others.size(); ++i) inv.out << (i ? ", '" : " '") << others[i] << "'";
      inv.out << " (unchanged)\n";
    }
  }

  // The diff of every file first.
  std::string diffs;
  for (const auto& e : cs.edits) {
    const std::string label = e.old.path.string();
    diffs += rules::unified_diff(e.old.exists ? std::string_view(e.old.content) : "", e.new_content,
                                 e.old.exists ? label : "/dev/null", label);
  }
  if (diffs.empty() || added == 0) {
    inv.out << "nothing to do: every selected rule is already in place\n";
    return kExitOk;
  }
  inv.out << diffs;

  if (!o.yes) {
    if (!isatty(STDIN_FILENO)) {
      inv.err << "aatune apply: error: not a terminal and no --yes: refusing to change the tree "
                 "(pass --yes to apply the diff above)\n";
      return kExitFindings;
    }
    if (!confirm(inv)) {
      inv.out << "nothing changed\n";
      return kExitFindings;
    }
  }

  auto result = rules::commit(cs, o.commit);
  if (!result) {
    const auto& e = result.error();
    inv.err << "aatune apply: error: " << e.message << '\n';
    if (e.kind == rules::CommitError::Kind::kValidation) {
      print_outputs(inv.err, e.result.validations, true);
      inv.err << "aatune apply: nothing was written\n";
    }
    if (e.kind == rules::CommitError::Kind::kReload) {
      print_outputs(inv.err, e.result.reloads, true);
      print_outputs(inv.err, e.result.rollback_reloads, false);
      if (e.result.rolled_back)
        inv.err << "aatune apply: every file was restored to its previous content\n";
    }
    if (e.kind == rules::CommitError::Kind::kPermission)
      inv.err << "aatune apply: hint: run as root, or point --profiles at a writable copy\n";
    return exit_code_for(e.kind);
  }
  print_outputs(inv.out, result->reloads, false);
  size_t files = result->diffs.size();
  inv.out << "applied " << chosen.size() << " proposal(s) to " << files
          << " file(s); validated with " << o.commit.loader.parser << '\n';
  for (const auto& s : result->skipped) inv.out << "skipped: " << s << '\n';
  if (result->backup)
    inv.out << "backup: " << result->backup->dir.string() << " (aatune undo restores it)\n";
  record_in_store(inv, o, analysis, chosen, cs, *result);
  return kExitOk;
}

}  // namespace aatune::cli
