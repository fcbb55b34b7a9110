// aatune's configuration: /etc/aatune/aatune.conf, then $XDG_CONFIG_HOME/aatune/config, then flags.
// Each later layer overrides the single-valued keys of the earlier ones and adds to the lists.
#pragma once

#include <expected>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace aatune::cli {

struct Config {
  std::string profiles = "/etc/apparmor.d";  ///< `profiles`: the policy tree.
  std::string target;                        ///< `target`: profile|local|files; empty = per rule.
  std::string loader = "/sbin/apparmor_parser";  ///< `loader`: loads policy (gets -r FILE).
  std::string parser = "/sbin/apparmor_parser";  ///< `parser`: validates candidates.
  std::string db;                    ///< `db`: the event store; empty = built-in default.
  std::vector<std::string> risk;     ///< `risk`: extra paths rated risky to grant.
  std::vector<std::string> redact;   ///< `redact`: extra regexes removed from exports.
  std::vector<std::string> sources;  ///< `source`: log sources scanned by default.
};

/// Reads one config file's text onto `cfg` (layering). `file` names it in errors, which read
/// "FILE:LINE: ..." and leave `cfg` unchanged.
[[nodiscard]] std::expected<void, std::string> parse_config(std::string_view text,
                                                            std::string_view file, Config& cfg);

/// The config files read, in order: the system file, then the user's
/// ($XDG_CONFIG_HOME/aatune/config, else ~/.config/aatune/config). `etc_dir` replaces
/// /etc/aatune (for tests); missing files are skipped by load_config.
[[nodiscard]] std::vector<std::string> config_files(std::string_view etc_dir = "/etc/aatune");

/// Reads the existing files of `files` in order onto the defaults.
[[nodiscard]] std::expected<Config, std::string> load_config(const std::vector<std::string>& files);

/// The flags win over every file: --profiles, --target, --loader, --parser and --db in `args`
/// (a subcommand's arguments) override the config's values. Other arguments are ignored here.
void apply_flags(std::span<const std::string> args, Config& cfg);

}  // namespace aatune::cli
