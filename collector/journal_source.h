// Reads the systemd journal natively (sd-journal), kernel and audit transports only, and hands
// back lines parse_line() understands plus the cursor to resume from.
#pragma once

#include <cstdint>
#include <expected>
#include <memory>
#include <optional>
#include <string>

namespace aatune::collector {

/// One journal entry of interest.
struct JournalEntry {
  /// Text for parse_line(): the kernel transport's MESSAGE as is (`audit: type=1400 audit(…): …`);
  /// for the audit transport, whose MESSAGE drops the `audit(…)` header ("AVC apparmor=…"),
  /// the header is rebuilt from the entry's audit timestamp and _AUDIT_ID so that the record
  /// deduplicates against the same record read from audit.log or kern.log.
  std::string line;
  std::string cursor;  ///< Checkpoint: resume after this entry.
  std::string transport;
  std::optional<std::string> hostname;
};

struct JournalOptions {
  std::optional<std::string> directory;  ///< Read this journal directory instead of the system's.
  std::optional<std::string> after_cursor;
};

/// An open journal reader. Move-only; owns the sd_journal handle.
class JournalSource {
 public:
  /// Opens the journal. Returns an error string (not fatal for callers) when the journal is not
  /// available: built without libsystemd, or no journal files readable.
  [[nodiscard]] static std::expected<JournalSource, std::string> open(
      const JournalOptions& options = {});
  JournalSource(JournalSource&&) noexcept;
  JournalSource& operator=(JournalSource&&) noexcept;
  ~JournalSource();

  /// The next kernel/audit entry, std::nullopt at the current end.
  [[nodiscard]] std::expected<std::optional<JournalEntry>, std::string> next();

 private:
  struct Impl;
  explicit JournalSource(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

/// The line handed to the parser for one entry's fields; pure, exposed for tests.
/// `audit_type_name` and `audit_id` are the audit transport's _AUDIT_TYPE_NAME/_AUDIT_ID;
/// `realtime_usec` is the entry's timestamp (the audit timestamp for that transport).
[[nodiscard]] std::string journal_line(const std::string& transport, const std::string& message,
                                       std::optional<uint64_t> audit_type,
                                       std::optional<std::string> audit_id, uint64_t realtime_usec);

}  // namespace aatune::collector
