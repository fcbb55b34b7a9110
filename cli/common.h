// Helpers shared by the subcommands that read logs and propose rules (suggest, apply): the same
// logs read the same way give the same proposals, so ids printed by `suggest` select in `apply`.
#pragma once

#include <cstdint>
#include <expected>
#include <iosfwd>
#include <map>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "analyzer/grouping.h"
#include "collector/event.h"
#include "rules/loader.h"

namespace aatune::cli {

/// libvirt names each guest profile libvirt-<uuid>; the domain XML files in `dir` (or the one
/// file `dir`) map the uuid to the VM name. Unreadable files are warned about on `err`.
[[nodiscard]] std::map<std::string, std::string> read_vm_names(const std::string& dir,
                                                               std::ostream& err);

/// Whose USER_AVC records are trusted on this system: root and the D-Bus daemon's user
/// (`messagebus` on Debian/Ubuntu, `dbus` on Fedora/Arch), looked up with getpwnam.
[[nodiscard]] analyzer::TrustPolicy system_trust_policy();

/// The logs read when none is named: whichever of audit.log, kern.log, syslog exist.
[[nodiscard]] std::vector<std::string> default_logs();

/// One log that was read, for reports ("the sources that were read").
struct LogSource {
  std::string path;
  uint64_t records = 0;  ///< AppArmor records parsed from it (duplicates of earlier logs too).
};

struct LogEvents {
  std::vector<analyzer::LoggedEvent> events;
  uint64_t invalid = 0;            ///< AppArmor-looking lines that did not parse (warned on `err`).
  std::vector<LogSource> sources;  ///< Every log of the call, in order.
  /// Audit event id → the SYSCALL/PROCTITLE/CWD/PATH records of that event, in log order; only
  /// with ReadLogOptions::companions and only for ids of the AppArmor records read.
  std::map<std::string, std::vector<collector::Companion>> companions;
};

struct ReadLogOptions {
  bool companions = false;  ///< Also keep the companion records (export's evidence).
};

/// Reads the AppArmor records of `logs` in order. The error is one line naming the file.
[[nodiscard]] std::expected<LogEvents, std::string> read_log_events(
    const std::vector<std::string>& logs, std::ostream& err, const ReadLogOptions& options = {});

/// One event as the JSON object `aatune parse --format json` prints (libapparmor's field names;
/// absent fields are left out). Shared so that `parse` and `watch` speak the same vocabulary.
[[nodiscard]] nlohmann::ordered_json to_json(const collector::Event& ev);

/// The exit code (cli/commands.h) for a change that apply, the TUI or a lifecycle command could
/// not commit.
[[nodiscard]] int exit_code_for(rules::CommitError::Kind kind);

}  // namespace aatune::cli
