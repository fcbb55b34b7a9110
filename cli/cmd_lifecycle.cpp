// aatune undo / disable / enable / complain / enforce: profile lifecycle on a policy tree. Every
// action is recorded for `undo` (in the state dir's backups) and in the store's changes table.
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <functional>
#include <optional>
#include <ostream>
#include <sstream>
#include <string>
#include <vector>

#include "cli/commands.h"
#include "cli/common.h"
#include "rules/lifecycle.h"
#include "store/store.h"

namespace aatune::cli {
namespace {

namespace rules = aatune::rules;

struct Options {
  std::optional<std::string> positional;
  rules::CommitOptions commit;
  std::optional<std::string> db;
  bool help = false;
};

constexpr const char* kCommonHelp =
    "  --profiles DIR   policy tree (default /etc/apparmor.d)\n"
    "  --state DIR      aatune state: backups for undo (default $AATUNE_STATE_DIR, "
    "/var/lib/aatune\n"
    "                   for root, else $XDG_STATE_HOME/aatune)\n"
    "  --no-reload      change the files but do not touch the kernel; say what was skipped\n"
    "  --loader CMD     program that loads policy (default /sbin/apparmor_parser); gets -r/-R "
    "FILE\n"
    "  --parser PATH    apparmor_parser used to validate (default /sbin/apparmor_parser)\n"
    "  --db PATH        the store the change is recorded in (':memory:' for none)\n"
    "  -h, --help       this help\n";

std::vector<std::string> split_words(const std::string& s) {
  std::istringstream in(s);
  std::vector<std::string> out;
  for (std::string w; in >> w;) out.push_back(w);
  return out;
}

// Parses the options every lifecycle command shares; an error is a one-line message.
std::optional<std::string> parse(const Invocation& inv, Options& o) {
  o.commit.state_dir = rules::default_state_dir();
  const auto& a = inv.args;
  for (size_t i = 0; i < a.size(); ++i) {
    auto value = [&]() -> std::optional<std::string> {
      if (i + 1 >= a.size()) return std::nullopt;
      return a[++i];
    };
    if (a[i] == "-h" || a[i] == "--help") {
      o.help = true;
    } else if (a[i] == "--no-reload") {
      o.commit.reload = false;
    } else if (a[i] == "--profiles" || a[i] == "--state" || a[i] == "--loader" ||
               a[i] == "--parser" || a[i] == "--db") {
      const std::string name = a[i];
      const auto v = value();
      if (!v || v->empty()) return name + " needs a value";
      if (name == "--profiles") o.commit.tree = *v;
      if (name == "--state") o.commit.state_dir = *v;
      if (name == "--parser") o.commit.loader.parser = *v;
      if (name == "--db") o.db = *v;
      if (name == "--loader") o.commit.loader.loader = split_words(*v);
      if (name == "--loader" && o.commit.loader.loader.empty()) return "--loader needs a command";
    } else if (a[i].starts_with("-") && a[i] != "-") {
      return "unknown option '" + a[i] + "'";
    } else if (!o.positional) {
      o.positional = a[i];
    } else {
      return "unexpected argument '" + a[i] + "'";
    }
  }
  return std::nullopt;
}

void print_outputs(std::ostream& os, const std::vector<rules::ProcessResult>& runs) {
  for (const auto& r : runs) {
    if (r.output.empty()) continue;
    os << "aatune: output of '" << r.command_line() << "':\n" << r.output;
    if (r.output.back() != '\n') os << '\n';
  }
}

int report_error(const Invocation& inv, const rules::CommitError& e) {
  inv.err << "aatune: error: " << e.message << '\n';
  if (e.kind == rules::CommitError::Kind::kValidation) {
    for (const auto& v : e.result.validations) {
      if (!v.ok()) print_outputs(inv.err, {v});
    }
  }
  if (e.kind == rules::CommitError::Kind::kReload) {
    print_outputs(inv.err, e.result.reloads);
    print_outputs(inv.err, e.result.rollback_reloads);
  }
  if (e.kind == rules::CommitError::Kind::kPermission) {
    inv.err << "aatune: hint: run as root, or point --profiles at a writable copy\n";
  }
  return exit_code_for(e.kind);
}

std::string joined_output(const std::vector<rules::ProcessResult>& runs) {
  std::string out;
  for (const auto& r : runs) out += r.output;
  return out;
}

// A change made by `what` (e.g. "disable foo") as a row of the store's changes table, next to the
// rules `apply` records; a store that cannot be written only costs the record, with a warning.
void record_in_store(const Invocation& inv, const Options& o, const std::string& what,
                     const rules::ActionResult& r) {
  auto db = store::Store::open(store::locate_db(o.db));
  if (!db) {
    inv.err << "aatune: warning: done, but not recorded: " << db.error().message << '\n';
    return;
  }
  store::AppliedChange c;
  c.rule = what;
  for (const auto& f : r.files) c.target_file += (c.target_file.empty() ? "" : " ") + f.string();
  for (const auto& d : r.commit.diffs) c.diff += d.diff;
  if (r.commit.diffs.empty()) {
    for (const auto& m : r.messages) c.diff += m + '\n';
  }
  if (r.commit.backup) c.backup_path = r.commit.backup->dir.string();
  c.validated = !r.commit.validations.empty() &&
                std::ranges::all_of(r.commit.validations, [](const auto& v) { return v.ok(); });
  c.validate_output = joined_output(r.commit.validations);
  std::vector<rules::ProcessResult> loads = r.commit.reloads;
  loads.insert(loads.end(), r.processes.begin(), r.processes.end());
  c.reloaded = !loads.empty() && r.skipped.empty() &&
               std::ranges::all_of(loads, [](const auto& v) { return v.ok(); });
  c.reload_output = joined_output(loads);
  c.at = std::chrono::duration_cast<std::chrono::seconds>(
             std::chrono::system_clock::now().time_since_epoch())
             .count();
  if (auto id = db->record_change(c); !id) {
    inv.err << "aatune: warning: done, but not recorded: " << id.error().message << '\n';
  }
}

int report(const Invocation& inv, const rules::ActionResult& r) {
  for (const auto& d : r.commit.diffs) inv.out << d.diff;
  // What the loader said (apparmor_parser warnings on a real host), as every subprocess's output.
  print_outputs(inv.out, r.commit.reloads);
  print_outputs(inv.out, r.processes);
  for (const auto& m : r.messages) inv.out << m << '\n';
  for (const auto& s : r.skipped) inv.out << "skipped: " << s << '\n';
  if (r.commit.backup) {
    inv.out << "backup: " << r.commit.backup->dir.string() << " ('aatune undo' reverses it)\n";
  }
  return kExitOk;
}

using Action = std::function<std::expected<rules::ActionResult, rules::CommitError>(
    std::string_view, const rules::CommitOptions&, const rules::BeforeNotice&)>;

int run_profile_action(const Invocation& inv, const char* name, const char* summary,
                       const Action& action) {
  Options o;
  if (auto err = parse(inv, o)) {
    inv.err << "aatune " << name << ": error: " << *err << '\n';
    return kExitUsage;
  }
  if (o.help) {
    inv.out << "usage: aatune " << name << " PROFILE [OPTIONS]\n\n"
            << summary << "\n\noptions:\n"
            << kCommonHelp;
    return kExitOk;
  }
  if (!o.positional) {
    inv.err << "aatune " << name << ": error: missing PROFILE (see 'aatune " << name
            << " --help')\n";
    return kExitUsage;
  }
  // What else the action touches is said before it happens (flushed, in case it then hangs).
  const rules::BeforeNotice before = [&](const std::string& sentence) {
    inv.out << "note: " << sentence << '\n' << std::flush;
  };
  auto r = action(*o.positional, o.commit, before);
  if (!r) return report_error(inv, r.error());
  // No backup: nothing changed ("already disabled", "already in complain mode").
  if (r->commit.backup) record_in_store(inv, o, std::string(name) + " " + *o.positional, *r);
  return report(inv, *r);
}

}  // namespace

int run_disable(const Invocation& inv) {
  return run_profile_action(
      inv, "disable",
      "Unload PROFILE (apparmor_parser -R FILE) and link its file into DIR/disable/ so it stays\n"
      "off across reboots. Other profiles defined in the same file are named before they go too.",
      rules::disable_profile);
}

int run_enable(const Invocation& inv) {
  return run_profile_action(
      inv, "enable", "Remove PROFILE's link from DIR/disable/ and load it (apparmor_parser -r).",
      rules::enable_profile);
}

int run_complain(const Invocation& inv) {
  return run_profile_action(
      inv, "complain",
      "Add flags=(complain) to PROFILE's header (other flags kept), validate, write, reload.",
      [](std::string_view n, const rules::CommitOptions& o, const rules::BeforeNotice& b) {
        return rules::set_profile_mode(n, true, o, b);
      });
}

int run_enforce(const Invocation& inv) {
  return run_profile_action(
      inv, "enforce",
      "Remove the complain flag from PROFILE's header (the flags clause goes when empty),\n"
      "validate, write, reload.",
      [](std::string_view n, const rules::CommitOptions& o, const rules::BeforeNotice& b) {
        return rules::set_profile_mode(n, false, o, b);
      });
}

int run_undo(const Invocation& inv) {
  Options o;
  if (auto err = parse(inv, o)) {
    inv.err << "aatune undo: error: " << *err << '\n';
    return kExitUsage;
  }
  if (o.help) {
    inv.out << "usage: aatune undo [N] [OPTIONS]\n\nRestore the files of the last N (default 1) "
               "changes aatune made to the tree\n(applied rules, complain/enforce, "
               "disable/enable): restore"
               " files from their backups,\nvalidate and reload; remove or put back disable/ links"
               " and load or unload.\nRefuses files and links changed since.\n\noptions:\n"
            << kCommonHelp;
    return kExitOk;
  }
  size_t n = 1;
  if (o.positional) {
    char* end = nullptr;
    const unsigned long v = std::strtoul(o.positional->c_str(), &end, 10);
    if (o.positional->empty() || *end != '\0' || v == 0 || o.positional->front() == '-') {
      inv.err << "aatune undo: error: N must be a positive number, not '" << *o.positional << "'\n";
      return kExitUsage;
    }
    n = v;
  }
  auto r = rules::undo_changes(n, o.commit);
  if (!r) return report_error(inv, r.error());
  record_in_store(inv, o, "undo " + std::to_string(n), *r);
  return report(inv, *r);
}

}  // namespace aatune::cli
