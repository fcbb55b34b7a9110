// The subcommands of `aatune`. Each lives in its own cli/cmd_<name>.cpp; main.cpp only dispatches.
// Only the CLI prints errors and chooses exit codes.
#pragma once

#include <iosfwd>
#include <span>
#include <string>

namespace aatune::cli {

/// Exit codes, documented in docs/aatune.1: consistent across every subcommand.
enum ExitCode : int {
  kExitOk = 0,
  kExitFindings = 1,    ///< Something was found / a change was refused.
  kExitUsage = 2,       ///< Bad command line or bad input file.
  kExitPermission = 3,  ///< Not allowed (root needed, read-only tree, …).
  kExitValidation = 4,  ///< apparmor_parser refused the candidate, or reload failed.
};

struct Config;  // cli/config.h

/// What a subcommand gets: its arguments (without the subcommand name) and the streams to use.
struct Invocation {
  std::span<const std::string> args;
  std::ostream& out;
  std::ostream& err;
  /// The configuration files' values (cli/config.h); the command's own flags win over them.
  /// nullptr (e.g. a command calling another) means the built-in defaults.
  const Config* config = nullptr;
};

int run_parse(const Invocation& inv);
int run_suggest(const Invocation& inv);
int run_apply(const Invocation& inv);
int run_undo(const Invocation& inv);
int run_disable(const Invocation& inv);
int run_enable(const Invocation& inv);
int run_complain(const Invocation& inv);
int run_enforce(const Invocation& inv);
int run_scan(const Invocation& inv);
int run_status(const Invocation& inv);
int run_list(const Invocation& inv);
int run_watch(const Invocation& inv);
int run_tui(const Invocation& inv);
int run_export(const Invocation& inv);

}  // namespace aatune::cli
