// aatune: the entry point. Thin on purpose: it picks the subcommand and hands over.
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cstdlib>
#include <iostream>
#include <string>
#include <string_view>
#include <vector>

#include "cli/commands.h"
#include "cli/config.h"

namespace {

using aatune::cli::Invocation;

struct Command {
  std::string_view name;
  int (*run)(const Invocation&);
  std::string_view summary;
};

constexpr std::array kCommands{
    Command{"parse", aatune::cli::run_parse, "parse log records and print them (json|aalogparse)"},
    Command{"suggest", aatune::cli::run_suggest, "propose policy rules for the denials in logs"},
    Command{"apply", aatune::cli::run_apply, "write accepted rules, validate, reload"},
    Command{"undo", aatune::cli::run_undo, "restore the files of the last applied changes"},
    Command{"disable", aatune::cli::run_disable, "unload one profile and keep it off"},
    Command{"enable", aatune::cli::run_enable, "re-enable a disabled profile"},
    Command{"complain", aatune::cli::run_complain, "put a profile in complain mode"},
    Command{"enforce", aatune::cli::run_enforce, "put a profile in enforce mode"},
    Command{"scan", aatune::cli::run_scan, "read log sources into the event store"},
    Command{"status", aatune::cli::run_status, "per-profile summary of stored denials"},
    Command{"list", aatune::cli::run_list, "list denial groups with proposals"},
    Command{"watch", aatune::cli::run_watch, "follow live denials (netlink, kmsg, files)"},
    Command{"tui", aatune::cli::run_tui, "triage denials interactively"},
    Command{"export", aatune::cli::run_export, "write a redacted bug-report bundle"},
};

// Edit distance, for "did you mean".
size_t distance(std::string_view a, std::string_view b) {
  std::vector<size_t> row(b.size() + 1);
  for (size_t j = 0; j <= b.size(); ++j) row[j] = j;
  for (size_t i = 1; i <= a.size(); ++i) {
    size_t diag = row[0];
    row[0] = i;
    for (size_t j = 1; j <= b.size(); ++j) {
      const size_t up = row[j];
      row[j] = std::min({row[j] + 1, row[j - 1] + 1, diag + (a[i - 1] == b[j - 1] ? 0 : 1)});
      diag = up;
    }
  }
  return row[b.size()];
}

void print_usage(std::ostream& os) {
  os << "usage: aatune COMMAND [OPTIONS] [ARGS…]\n\ncommands:\n";
  for (const auto& c : kCommands) {
    os << "  " << c.name << std::string(10 - c.name.size(), ' ') << c.summary << '\n';
  }
  os << "\nRun 'aatune COMMAND --help' for the options of one command, 'man aatune' for more.\n"
        "Configuration: /etc/aatune/aatune.conf, then $XDG_CONFIG_HOME/aatune/config; flags win.\n";
}

}  // namespace

int main(int argc, char** argv) {
  const std::vector<std::string> args(argv + std::min(argc, 1), argv + argc);
  // Plain `aatune` on a terminal opens the triage TUI.
  if (args.empty() && isatty(STDIN_FILENO) != 0 && isatty(STDOUT_FILENO) != 0) {
    return aatune::cli::run_tui(Invocation{args, std::cout, std::cerr});
  }
  if (args.empty() || args[0] == "--help" || args[0] == "-h" || args[0] == "help") {
    print_usage(args.empty() ? std::cerr : std::cout);
    return args.empty() ? aatune::cli::kExitUsage : aatune::cli::kExitOk;
  }
  if (args[0] == "--version" || args[0] == "-V") {
    std::cout << "aatune " << AATUNE_VERSION << '\n';
    return aatune::cli::kExitOk;
  }
  const auto it = std::ranges::find(kCommands, std::string_view(args[0]), &Command::name);
  if (it == kCommands.end()) {
    std::cerr << "aatune: error: unknown command '" << args[0] << "'\n";
    const auto best = std::ranges::min_element(
        kCommands, {}, [&](const Command& c) { return distance(c.name, args[0]); });
    if (distance(best->name, args[0]) <= 2) {
      std::cerr << "aatune: hint: did you mean '" << best->name << "'?\n";
    }
    return aatune::cli::kExitUsage;
  }
  const std::vector<std::string> rest(args.begin() + 1, args.end());
  // A bad config file stops every command: running with half the administrator's settings
  // could write to the wrong tree.
  const auto config = aatune::cli::load_config(aatune::cli::config_files());
  if (!config) {
    std::cerr << "aatune: error: " << config.error() << '\n';
    return aatune::cli::kExitUsage;
  }
  // The store is located from $AATUNE_DB by every command; the config's `db` fills it in when
  // the environment does not say (precedence: config < environment < --db).
  if (!config->db.empty() && std::getenv("AATUNE_DB") == nullptr) {
    ::setenv("AATUNE_DB", config->db.c_str(), 0);
  }
  return it->run(Invocation{rest, std::cout, std::cerr, &*config});
}
