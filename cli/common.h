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

namespace aatune::cli {

/// libvirt names each guest profile libvirt-<uuid>; the domain XML files in `dir` (or the one
/// file `dir`) map the uuid to the VM name. Unreadable files are warned about on `err`.
[[nodiscard]] std::map<std::string, std::string> read_vm_names(const std::string& dir,
                                                               std::ostream& err);

/// The logs read when none is named: whichever of audit.log, kern.log, syslog exist.
[[nodiscard]] std::vector<std::string> default_logs();

struct LogEvents {
  std::vector<analyzer::LoggedEvent> events;
  uint64_t invalid = 0;  ///< AppArmor-looking lines that did not parse (warned on `err`).
};

/// Reads the AppArmor records of `logs` in order. The error is one line naming the file.
[[nodiscard]] std::expected<LogEvents, std::string> read_log_events(
    const std::vector<std::string>& logs, std::ostream& err);

/// One event as the JSON object `aatune parse --format json` prints (libapparmor's field names;
/// absent fields are left out). Shared so that `parse` and `watch` speak the same vocabulary.
[[nodiscard]] nlohmann::ordered_json to_json(const collector::Event& ev);

}  // namespace aatune::cli
