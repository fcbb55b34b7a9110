#include "collector/journal_source.h"

#include <cerrno>
#include <cstring>
#include <string_view>

#ifdef AATUNE_WITH_JOURNAL
#include <dlfcn.h>
#include <systemd/sd-journal.h>

#include <memory>
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

// libsystemd is opened when a journal is read, not linked: linking it (and through it libgcrypt,
// liblz4, libzstd, liblzma, libcap, libgpg-error) cost every aatune command about 3 ms of start-up
// and 70 page faults, a fifth of what `aatune parse` needs for a whole 1 M-line log. systemd's own
// tools load their optional libraries the same way. The soname is the library's stable ABI.
constexpr const char* kLibsystemd = "libsystemd.so.0";

// The sd-journal calls aatune makes, resolved from one dlopen() handle. The header still gives
// the exact prototypes, so a signature mismatch is a compile error, not a crash.
struct JournalApi {
  void* handle = nullptr;
  decltype(&sd_journal_open) open = nullptr;
  decltype(&sd_journal_open_directory) open_directory = nullptr;
  decltype(&sd_journal_close) close = nullptr;
  decltype(&sd_journal_add_match) add_match = nullptr;
  decltype(&sd_journal_get_usage) get_usage = nullptr;
  decltype(&sd_journal_seek_cursor) seek_cursor = nullptr;
  decltype(&sd_journal_seek_head) seek_head = nullptr;
  decltype(&sd_journal_test_cursor) test_cursor = nullptr;
  decltype(&sd_journal_next) next = nullptr;
  decltype(&sd_journal_previous) previous = nullptr;
  decltype(&sd_journal_get_data) get_data = nullptr;
  decltype(&sd_journal_get_realtime_usec) get_realtime_usec = nullptr;
  decltype(&sd_journal_get_cursor) get_cursor = nullptr;

  JournalApi() = default;
  JournalApi(const JournalApi&) = delete;
  JournalApi& operator=(const JournalApi&) = delete;
  ~JournalApi() {
    if (handle != nullptr) dlclose(handle);
  }
};

template <typename Fn>
bool resolve(void* handle, const char* name, Fn& out, std::string& missing) {
  out = reinterpret_cast<Fn>(dlsym(handle, name));
  if (out == nullptr && missing.empty()) missing = name;
  return out != nullptr;
}

std::expected<std::unique_ptr<JournalApi>, std::string> load_journal_api() {
  auto api = std::make_unique<JournalApi>();
  api->handle = dlopen(kLibsystemd, RTLD_NOW | RTLD_LOCAL);
  if (api->handle == nullptr) {
    const char* why = dlerror();
    return std::unexpected(std::string("cannot read the journal: ") +
                           (why != nullptr ? why : kLibsystemd) +
                           " (install libsystemd0, or read the log files instead)");
  }
  std::string missing;
  resolve(api->handle, "sd_journal_open", api->open, missing);
  resolve(api->handle, "sd_journal_open_directory", api->open_directory, missing);
  resolve(api->handle, "sd_journal_close", api->close, missing);
  resolve(api->handle, "sd_journal_add_match", api->add_match, missing);
  resolve(api->handle, "sd_journal_get_usage", api->get_usage, missing);
  resolve(api->handle, "sd_journal_seek_cursor", api->seek_cursor, missing);
  resolve(api->handle, "sd_journal_seek_head", api->seek_head, missing);
  resolve(api->handle, "sd_journal_test_cursor", api->test_cursor, missing);
  resolve(api->handle, "sd_journal_next", api->next, missing);
  resolve(api->handle, "sd_journal_previous", api->previous, missing);
  resolve(api->handle, "sd_journal_get_data", api->get_data, missing);
  resolve(api->handle, "sd_journal_get_realtime_usec", api->get_realtime_usec, missing);
  resolve(api->handle, "sd_journal_get_cursor", api->get_cursor, missing);
  if (!missing.empty()) {
    return std::unexpected(std::string("cannot read the journal: ") + kLibsystemd + " has no " +
                           missing + " (libsystemd too old)");
  }
  return api;
}

std::optional<std::string> field(const JournalApi& api, sd_journal* j, const char* name) {
  const void* data = nullptr;
  size_t len = 0;
  if (api.get_data(j, name, &data, &len) < 0) return std::nullopt;
  std::string_view kv(static_cast<const char*>(data), len);
  const size_t eq = kv.find('=');
  if (eq == std::string_view::npos) return std::nullopt;
  return std::string(kv.substr(eq + 1));
}

}  // namespace

struct JournalSource::Impl {
  // Declared first so it is destroyed last: the journal is closed before the library goes.
  std::unique_ptr<JournalApi> api;
  struct Closer {
    const JournalApi* api;
    void operator()(sd_journal* j) const { api->close(j); }
  };
  std::unique_ptr<sd_journal, Closer> journal{nullptr, Closer{nullptr}};
};

JournalSource::JournalSource(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
JournalSource::JournalSource(JournalSource&&) noexcept = default;
JournalSource& JournalSource::operator=(JournalSource&&) noexcept = default;
JournalSource::~JournalSource() = default;

std::expected<JournalSource, std::string> JournalSource::open(const JournalOptions& options) {
  auto api = load_journal_api();
  if (!api) return std::unexpected(api.error());
  auto impl = std::make_unique<Impl>();
  impl->api = std::move(*api);
  const JournalApi& sd = *impl->api;
  sd_journal* raw = nullptr;
  const int rc = options.directory ? sd.open_directory(&raw, options.directory->c_str(), 0)
                                   : sd.open(&raw, SD_JOURNAL_LOCAL_ONLY | SD_JOURNAL_SYSTEM);
  if (rc < 0) return std::unexpected("cannot open the journal: " + std::string(strerror(-rc)));
  impl->journal = std::unique_ptr<sd_journal, Impl::Closer>(raw, Impl::Closer{&sd});
  sd_journal* j = raw;
  // Kernel OR audit transport (sd-journal ORs matches of the same field).
  if (sd.add_match(j, "_TRANSPORT=kernel", 0) < 0 || sd.add_match(j, "_TRANSPORT=audit", 0) < 0) {
    return std::unexpected("cannot filter the journal");
  }
  // sd_journal_open succeeds with no files at all; a journal that holds nothing is "not here".
  uint64_t usage = 0;
  if (sd.get_usage(j, &usage) < 0 || usage == 0) {
    return std::unexpected("no journal files (journald not running or not persistent)");
  }
  if (options.after_cursor && !options.after_cursor->empty()) {
    if (sd.seek_cursor(j, options.after_cursor->c_str()) < 0) {
      return std::unexpected("invalid journal cursor");
    }
    // Seeking positions *at* the cursor's entry; step over it (it was read last time).
    if (sd.next(j) > 0 && sd.test_cursor(j, options.after_cursor->c_str()) <= 0) {
      sd.previous(j);
    }
  } else {
    sd.seek_head(j);
  }
  return JournalSource(std::move(impl));
}

std::expected<std::optional<JournalEntry>, std::string> JournalSource::next() {
  const JournalApi& sd = *impl_->api;
  sd_journal* j = impl_->journal.get();
  const int rc = sd.next(j);
  if (rc < 0) return std::unexpected("journal read failed: " + std::string(strerror(-rc)));
  if (rc == 0) return std::nullopt;
  JournalEntry e;
  e.transport = field(sd, j, "_TRANSPORT").value_or("");
  const std::string message = field(sd, j, "MESSAGE").value_or("");
  std::optional<uint64_t> type;
  if (auto t = field(sd, j, "_AUDIT_TYPE")) type = std::strtoull(t->c_str(), nullptr, 10);
  uint64_t usec = 0;
  sd.get_realtime_usec(j, &usec);
  e.line = journal_line(e.transport, message, type, field(sd, j, "_AUDIT_ID"), usec);
  e.hostname = field(sd, j, "_HOSTNAME");
  char* cursor = nullptr;
  if (sd.get_cursor(j, &cursor) >= 0) {
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
