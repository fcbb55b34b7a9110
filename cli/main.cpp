// aatune: the entry point. Thin on purpose: it picks the subcommand and hands over.
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cctype>
#include <cstdlib>
#include <filesystem>
#include <iostream>
#include <optional>
#include <span>
#include <sstream>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "cli/commands.h"
#include "cli/config.h"
#include "rules/text.h"

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

using aatune::rules::text::edit_distance;

// The options a subcommand documents, read from its own --help text (the single source of truth,
// so this list cannot drift from the command).
std::string help_text(const Command& command);

std::vector<std::string> documented_options(const Command& command) {
  std::vector<std::string> options;
  const std::string text = help_text(command);
  for (size_t at = text.find("--"); at != std::string::npos; at = text.find("--", at + 2)) {
    size_t end = at + 2;
    while (end < text.size() &&
           (std::isalnum(static_cast<unsigned char>(text[end])) != 0 || text[end] == '-')) {
      ++end;
    }
    if (end > at + 2) options.push_back(text.substr(at, end - at));
  }
  std::ranges::sort(options);
  options.erase(std::ranges::unique(options).begin(), options.end());
  return options;
}

// Options the help shows with a value ("--db PATH"): the word after them is not an operand.
bool takes_value(const std::string& help, const std::string& option) {
  for (size_t at = help.find(option + " "); at != std::string::npos;
       at = help.find(option + " ", at + 1)) {
    const size_t v = at + option.size() + 1;
    if (v < help.size() && std::isupper(static_cast<unsigned char>(help[v])) != 0) return true;
  }
  return false;
}

std::string help_text(const Command& command) {
  std::ostringstream help;
  std::ostringstream ignored;
  const std::vector<std::string> args{"--help"};
  command.run(Invocation{args, help, ignored});
  return help.str();
}

// The configuration files supply defaults as if they were flags written before the user's own:
// each command keeps one way of reading its options, and a flag given on the command line wins.
std::vector<std::string> with_config_defaults(const Command& command,
                                              const std::vector<std::string>& args,
                                              const aatune::cli::Config& config) {
  const aatune::cli::Config defaults;
  const auto options = documented_options(command);
  const auto documents = [&](const std::string& o) {
    return std::ranges::binary_search(options, o);
  };
  const auto given = [&](const std::string& o) {
    return std::ranges::any_of(
        args, [&](const std::string& a) { return a == o || a.starts_with(o + "="); });
  };
  std::vector<std::string> out;
  const auto add = [&](const std::string& option, const std::string& value, bool differs) {
    if (differs && documents(option) && !given(option)) {
      out.push_back(option);
      out.push_back(value);
    }
  };
  add("--profiles", config.profiles, config.profiles != defaults.profiles);
  add("--target", config.target, !config.target.empty());
  add("--loader", config.loader, config.loader != defaults.loader);
  add("--parser", config.parser, config.parser != defaults.parser);
  if (documents("--redact-pattern")) {
    for (const std::string& pattern : config.redact) {
      out.push_back("--redact-pattern");
      out.push_back(pattern);
    }
  }
  out.insert(out.end(), args.begin(), args.end());
  // `source` lines are what `scan` reads when no SOURCE is named.
  if (command.name == "scan" && !config.sources.empty()) {
    const std::string help = help_text(command);
    bool operand = false;
    for (size_t i = 0; i < args.size(); ++i) {
      if (args[i] == "--") {
        operand = i + 1 < args.size();
        break;
      }
      if (args[i].starts_with("-")) {
        if (args[i].find('=') == std::string::npos && takes_value(help, args[i])) ++i;
        continue;
      }
      operand = true;
    }
    if (!operand) out.insert(out.end(), config.sources.begin(), config.sources.end());
  }
  return out;
}

// The value of `--name V` or `--name=V` (the last one wins, as in the commands' own parsing).
std::optional<std::string> option_value(const std::vector<std::string>& args,
                                        std::string_view name) {
  std::optional<std::string> value;
  for (size_t i = 0; i < args.size(); ++i) {
    if (args[i] == "--") break;
    if (args[i] == name && i + 1 < args.size()) {
      value = args[++i];
    } else if (args[i].starts_with(name) && args[i].size() > name.size() &&
               args[i][name.size()] == '=') {
      value = args[i].substr(name.size() + 1);
    }
  }
  return value;
}

// A store kept inside the profile tree is refused: reading the tree opens and closes the store's
// `-wal`/`-shm` files, and closing any descriptor of a file drops every POSIX lock this process
// holds on it, so SQLite's locks silently vanish under a concurrent writer (SIGBUS seen in tests).
std::optional<std::string> store_inside_tree(const Command& command,
                                             const std::vector<std::string>& args) {
  const auto options = documented_options(command);
  if (!std::ranges::binary_search(options, std::string("--profiles")) ||
      !std::ranges::binary_search(options, std::string("--db"))) {
    return std::nullopt;
  }
  std::optional<std::string> db = option_value(args, "--db");
  if (!db) {
    if (const char* env = std::getenv("AATUNE_DB"); env != nullptr && *env != '\0') db = env;
  }
  if (!db || *db == ":memory:") return std::nullopt;
  const std::string tree = option_value(args, "--profiles").value_or("/etc/apparmor.d");
  std::error_code ec;
  const auto db_path = std::filesystem::weakly_canonical(std::filesystem::absolute(*db, ec), ec);
  if (ec) return std::nullopt;
  const auto tree_path = std::filesystem::weakly_canonical(std::filesystem::absolute(tree, ec), ec);
  if (ec) return std::nullopt;
  const auto rel = db_path.lexically_relative(tree_path);
  if (rel.empty() || *rel.begin() == "..") return std::nullopt;
  return "the store '" + *db + "' is inside the profile tree '" + tree +
         "': keep it outside (reading the tree would break the store's locks); pass another --db";
}

// A mistyped option close to a documented one ("--profils") gets "did you mean"; anything else is
// left to the command, which knows its own syntax (and its undocumented compatibility spellings).
std::optional<std::pair<std::string, std::string>> misspelt_option(
    const Command& command, std::span<const std::string> args) {
  std::vector<std::string> options;
  for (const std::string& arg : args) {
    if (arg == "--") break;
    if (!arg.starts_with("--") || arg.size() < 4) continue;
    const std::string name = arg.substr(0, arg.find('='));
    if (options.empty()) options = documented_options(command);
    if (options.empty() || std::ranges::binary_search(options, name)) continue;
    const auto best = std::ranges::min_element(
        options, {}, [&](const std::string& o) { return edit_distance(o, name); });
    if (edit_distance(*best, name) <= 2) return std::pair{name, *best};
  }
  return std::nullopt;
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
        kCommands, {}, [&](const Command& c) { return edit_distance(c.name, args[0]); });
    if (edit_distance(best->name, args[0]) <= 2) {
      std::cerr << "aatune: hint: did you mean '" << best->name << "'?\n";
    }
    return aatune::cli::kExitUsage;
  }
  const std::vector<std::string> rest(args.begin() + 1, args.end());
  if (const auto typo = misspelt_option(*it, rest)) {
    std::cerr << "aatune " << it->name << ": error: unknown option '" << typo->first << "'\n"
              << "aatune: hint: did you mean '" << typo->second << "'?\n";
    return aatune::cli::kExitUsage;
  }
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
  const std::vector<std::string> configured = with_config_defaults(*it, rest, *config);
  if (const auto inside = store_inside_tree(*it, configured)) {
    std::cerr << "aatune " << it->name << ": error: " << *inside << '\n';
    return aatune::cli::kExitUsage;
  }
  return it->run(Invocation{configured, std::cout, std::cerr, &*config});
}
