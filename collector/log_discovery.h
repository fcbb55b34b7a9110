// Where this machine keeps AppArmor records: auditd's log, the syslog files (with their rotated
// siblings), the journal and the kernel ring buffer. Finding them is I/O; ordering rotated names is
// a pure function so it can be tested on its own.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace aatune::collector {

enum class SourceKind { kFile, kJournal, kKmsg };

[[nodiscard]] std::string_view to_string(SourceKind kind);

/// One place records may be. `skip_reason` is empty when the source can be read.
struct SourceCandidate {
  SourceKind kind = SourceKind::kFile;
  std::string path;  ///< File path, "journal" or the kmsg device path.
  std::string skip_reason;
};

struct DiscoveryOptions {
  std::string root = "/";  ///< Prefix for every path (tests point it at a temp tree).
  bool journal = true;
  bool kmsg = true;
};

/// The log files, oldest first within each family (`kern.log.3.gz`, `kern.log.2.gz`,
/// `kern.log.1`, `kern.log`), then the journal, then kmsg. Unreadable or empty files are listed
/// with a reason instead of being dropped silently.
[[nodiscard]] std::vector<SourceCandidate> discover_sources(const DiscoveryOptions& options);

/// How old a rotated name is relative to `base`: 0 for the live file, N for `.N` / `.N.gz`,
/// std::nullopt for names that are not a rotation of `base` (`kern.log.bak`, `syslog-ng.conf`).
/// Date-suffixed rotations (`-20240101`) map to a large number that orders oldest first.
[[nodiscard]] std::optional<long long> rotation_age(std::string_view base, std::string_view name);

/// `names` (file names in one directory) that rotate from `base`, oldest first.
[[nodiscard]] std::vector<std::string> rotation_order(std::string_view base,
                                                      std::vector<std::string> names);

}  // namespace aatune::collector
