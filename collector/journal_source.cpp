#include "collector/journal_source.h"

#include <cerrno>
#include <cstring>
#include <string_view>

#ifdef AATUNE_WITH_JOURNAL
#include <systemd/sd-journal.h>
#endif

namespace aatune::collector {

std::string journal_line(const std::string& transport, const std::string& message,
                         std::optional<uint64_t> audit_type, std::optional<std::string> audit_id,
                         uint64_t realtime_usec) {
  if (transport != "audit" || !audit_id || message.find("audit(") != std::string::npos) {
    return message;
  }
  // journald-audit.c replaces `audit(<sec>.<msec>:<serial>): ` with the type name; the entry's
  // timestamp is the audit one, so the header can be rebuilt exactly.
  std::string_view body = message;
  if (const size_t sp = body.find(' ');
      sp != std::string_view::npos && body.substr(0, sp).find('=') == std::string_view::npos) {
    body.remove_prefix(sp + 1);
  }
  const uint64_t sec = realtime_usec / 1'000'000;
  const uint64_t msec = (realtime_usec / 1000) % 1000;
  char ms[4];
  ms[0] = static_cast<char>('0' + msec / 100);
  ms[1] = static_cast<char>('0' + msec / 10 % 10);
  ms[2] = static_cast<char>('0' + msec % 10);
  ms[3] = '\0';
  return "type=" + std::to_string(audit_type.value_or(1400)) + " msg=audit(" + std::to_string(sec) +
         "." + ms + ":" + *audit_id + "): " + std::string(body);
}

#ifdef AATUNE_WITH_JOURNAL

namespace {

struct JournalCloser {
  void operator()(sd_journal* j) const { sd_journal_close(j); }
};

std::optional<std::string> field(sd_journal* j, const char* name) {
  const void* data = nullptr;
  size_t len = 0;
  if (sd_journal_get_data(j, name, &data, &len) < 0) return std::nullopt;
  std::string_view kv(static_cast<const char*>(data), len);
  const size_t eq = kv.find('=');
  if (eq == std::string_view::npos) return std::nullopt;
  return std::string(kv.substr(eq + 1));
}

}  // namespace

struct JournalSource::Impl {
  std::unique_ptr<sd_journal, JournalCloser> journal;
};

JournalSource::JournalSource(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
JournalSource::JournalSource(JournalSource&&) noexcept = default;
JournalSource& JournalSource::operator=(JournalSource&&) noexcept = default;
JournalSource::~JournalSource() = default;

std::expected<JournalSource, std::string> JournalSource::open(const JournalOptions& options) {
  sd_journal* raw = nullptr;
  const int rc = options.directory
                     ? sd_journal_open_directory(&raw, options.directory->c_str(), 0)
                     : sd_journal_open(&raw, SD_JOURNAL_LOCAL_ONLY | SD_JOURNAL_SYSTEM);
  if (rc < 0) return std::unexpected("cannot open the journal: " + std::string(strerror(-rc)));
  auto impl = std::make_unique<Impl>();
  impl->journal.reset(raw);
  sd_journal* j = raw;
  // Kernel OR audit transport (sd-journal ORs matches of the same field).
  if (sd_journal_add_match(j, "_TRANSPORT=kernel", 0) < 0 ||
      sd_journal_add_match(j, "_TRANSPORT=audit", 0) < 0) {
    return std::unexpected("cannot filter the journal");
  }
  // sd_journal_open succeeds with no files at all; a journal that holds nothing is "not here".
  uint64_t usage = 0;
  if (sd_journal_get_usage(j, &usage) < 0 || usage == 0) {
    return std::unexpected("no journal files (journald not running or not persistent)");
  }
  if (options.after_cursor && !options.after_cursor->empty()) {
    if (sd_journal_seek_cursor(j, options.after_cursor->c_str()) < 0) {
      return std::unexpected("invalid journal cursor");
    }
    // Seeking positions *at* the cursor's entry; step over it (it was read last time).
    if (sd_journal_next(j) > 0 && sd_journal_test_cursor(j, options.after_cursor->c_str()) <= 0) {
      sd_journal_previous(j);
    }
  } else {
    sd_journal_seek_head(j);
  }
  return JournalSource(std::move(impl));
}

std::expected<std::optional<JournalEntry>, std::string> JournalSource::next() {
  sd_journal* j = impl_->journal.get();
  const int rc = sd_journal_next(j);
  if (rc < 0) return std::unexpected("journal read failed: " + std::string(strerror(-rc)));
  if (rc == 0) return std::nullopt;
  JournalEntry e;
  e.transport = field(j, "_TRANSPORT").value_or("");
  const std::string message = field(j, "MESSAGE").value_or("");
  std::optional<uint64_t> type;
  if (auto t = field(j, "_AUDIT_TYPE")) type = std::strtoull(t->c_str(), nullptr, 10);
  uint64_t usec = 0;
  sd_journal_get_realtime_usec(j, &usec);
  e.line = journal_line(e.transport, message, type, field(j, "_AUDIT_ID"), usec);
  e.hostname = field(j, "_HOSTNAME");
  char* cursor = nullptr;
  if (sd_journal_get_cursor(j, &cursor) >= 0) {
    e.cursor = cursor;
    free(cursor);
  }
  return e;
}

#else  // !AATUNE_WITH_JOURNAL

struct JournalSource::Impl {};
JournalSource::JournalSource(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
JournalSource::JournalSource(JournalSource&&) noexcept = default;
JournalSource& JournalSource::operator=(JournalSource&&) noexcept = default;
JournalSource::~JournalSource() = default;

std::expected<JournalSource, std::string> JournalSource::open(const JournalOptions&) {
  return std::unexpected("built without journal support (AATUNE_WITH_JOURNAL=OFF)");
}
std::expected<std::optional<JournalEntry>, std::string> JournalSource::next() {
  return std::nullopt;
}

#endif

}  // namespace aatune::collector
