// aatune scan: read log sources into the event store, incrementally.
//
// A file is identified by its family (kern.log, syslog, …) and a hash of its first line, not by its
// name or inode, so that `kern.log` → `kern.log.1` → `kern.log.2.gz` keeps its checkpoint and only
// what was appended since the last scan is read. Records are stored once whatever source carried
// them (the store's fingerprint), so overlapping sources and copy-truncate never double count.
#include <pthread.h>
#include <sys/stat.h>
#include <unistd.h>

#include <array>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <cstring>
#include <deque>
#include <filesystem>
#include <fstream>
#include <initializer_list>
#include <iostream>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "analyzer/grouping.h"
#include "cli/commands.h"
#include "cli/table.h"
#include "collector/journal_source.h"
#include "collector/live_source.h"
#include "collector/log_discovery.h"
#include "collector/parser.h"
#include "collector/reader.h"
#include "store/store.h"

namespace aatune::cli {
namespace {

namespace fs = std::filesystem;
using collector::SourceKind;

// Records per transaction: large enough that commits cost little (each commit writes every page
// it dirtied; the groups' hash index is touched all over, so fewer commits write it fewer times:
// measured on the 1M-line log, 16,384 took 8.2 s of CPU against 10.6 s for 4,096), small enough
// that a failure loses little work and the two batches in flight (their Events are reused) keep
// memory flat.
constexpr size_t kBatchRecords = 16384;

struct Options {
  std::optional<std::string> db;
  std::vector<std::string> sources;
  std::string root = "/";
  bool journal = true;
  bool kmsg = true;
  bool quiet = false;
};

struct SourceStats {
  std::string name;
  uint64_t lines = 0;
  uint64_t added = 0;
  uint64_t duplicates = 0;
  uint64_t invalid = 0;
  std::string note;
};

constexpr std::string_view kUsage =
    "usage: aatune scan [--db PATH] [--root DIR] [--no-journal] [--no-kmsg] [--quiet] "
    "[SOURCE…]\n"
    "  SOURCE      a log file (plain or .gz); 'journal' or 'kmsg' for those sources.\n"
    "              Without SOURCE, the machine's logs are discovered.\n"
    "  --db PATH   the store (default $AATUNE_DB, else the per-user or /var/lib location)\n"
    "  --root DIR  discover logs under DIR instead of /\n";

std::string hex64(uint64_t v) {
  char buf[17];
  std::snprintf(buf, sizeof buf, "%016llx", static_cast<unsigned long long>(v));
  return buf;
}

uint64_t fnv1a(std::string_view s) {
  uint64_t h = 0xcbf29ce484222325ULL;
  for (unsigned char c : s) {
    h ^= c;
    h *= 0x100000001b3ULL;
  }
  return h;
}

// `kern.log.2.gz` → `kern.log`: the identity must not change when logrotate renames the file.
std::string family_of(const std::string& path) {
  std::string name = fs::path(path).filename().string();
  if (name.ends_with(".gz")) name.resize(name.size() - 3);
  const size_t dot = name.find_last_of(".-");
  if (dot != std::string::npos && dot + 1 < name.size() &&
      name.find_first_not_of("0123456789", dot + 1) == std::string::npos) {
    name.resize(dot);
  }
  return name;
}

class Progress {
 public:
  Progress(std::ostream& err, bool enabled, uint64_t total)
      : err_(err), enabled_(enabled), total_(total), start_(Clock::now()), last_(start_) {}
  void update(uint64_t done_in_source) {
    if (!enabled_) return;
    const auto now = Clock::now();
    if (now - last_ < std::chrono::milliseconds(200)) return;
    last_ = now;
    const double secs = std::chrono::duration<double>(now - start_).count();
    const uint64_t done = base_ + done_in_source;
    const double rate = secs > 0 ? static_cast<double>(done) / secs / 1e6 : 0;
    const int pct = total_ ? static_cast<int>(std::min<uint64_t>(100, done * 100 / total_)) : 0;
    const int bar = pct / 5;
    char buf[96];
    std::snprintf(buf, sizeof buf, "] %3d%% %.1f/%.1f MB %.1f MB/s ", pct,
                  static_cast<double>(done) / 1e6, static_cast<double>(total_) / 1e6, rate);
    err_ << "\r[" << std::string(bar, '#') << std::string(20 - bar, ' ') << buf << std::flush;
    drawn_ = true;
  }
  void source_done(uint64_t bytes) { base_ += bytes; }
  void clear() {
    if (drawn_) err_ << "\r" << std::string(70, ' ') << "\r" << std::flush;
    drawn_ = false;
  }

 private:
  using Clock = std::chrono::steady_clock;
  std::ostream& err_;
  bool enabled_;
  uint64_t total_;
  uint64_t base_ = 0;
  Clock::time_point start_;
  Clock::time_point last_;
  bool drawn_ = false;
};

struct ScanError {
  std::string message;
  int exit_code;
};

// A batch of parsed records on its way to the store. Batches go round between the reading thread
// and the store thread and are reused: the records' Events keep their strings' capacity, so the
// steady state allocates nothing per record.
struct Batch {
  std::vector<store::NewRecord> records;
  size_t used = 0;
  std::optional<store::Checkpoint> checkpoint;
};

// The store thread. Reading and parsing run on the caller's thread while the previous batch is
// written here, so a scan takes max(parse, store) instead of their sum on two cores. Each batch
// is still one transaction with its checkpoint, committed in reading order.
class Writer {
 public:
  explicit Writer(store::Store& db) : db_(db) {
    for (auto& b : pool_) {
      b = std::make_unique<Batch>();
      b->records.reserve(kBatchRecords);
      free_.push_back(b.get());
    }
    thread_ = std::thread([this] { run(); });
    pthread_setname_np(thread_.native_handle(), "aatune-store");  // for top/perf
  }
  Writer(const Writer&) = delete;
  Writer& operator=(const Writer&) = delete;
  ~Writer() {
    {
      std::lock_guard lock(mutex_);
      stopping_ = true;
    }
    changed_.notify_all();
    thread_.join();
  }

  /// An empty batch to fill; waits while every batch is queued or being written.
  Batch& take() {
    std::unique_lock lock(mutex_);
    changed_.wait(lock, [&] { return !free_.empty(); });
    Batch* b = free_.back();
    free_.pop_back();
    b->used = 0;
    b->checkpoint.reset();
    return *b;
  }

  /// Queues a filled batch for writing.
  void submit(Batch& b) {
    {
      std::lock_guard lock(mutex_);
      queue_.push_back(&b);
    }
    changed_.notify_all();
  }

  /// Gives back a batch that was taken but not filled.
  void give_back(Batch& b) {
    {
      std::lock_guard lock(mutex_);
      free_.push_back(&b);
    }
    changed_.notify_all();
  }

  /// True once a write failed; later batches are dropped, not written.
  [[nodiscard]] bool failed() {
    std::lock_guard lock(mutex_);
    return error_.has_value();
  }

  /// Waits until every queued batch is written; what was added since the last call, or the
  /// first error. The store may be used by the caller's thread until the next submit().
  std::expected<store::IngestResult, store::StoreError> drain() {
    std::unique_lock lock(mutex_);
    changed_.wait(lock, [&] { return queue_.empty() && !busy_; });
    if (error_) return std::unexpected(*error_);
    return std::exchange(counts_, store::IngestResult{});
  }

 private:
  void run() {
    std::unique_lock lock(mutex_);
    while (true) {
      changed_.wait(lock, [&] { return stopping_ || !queue_.empty(); });
      if (stopping_) return;
      Batch* b = queue_.front();
      queue_.pop_front();
      busy_ = true;
      const bool skip = error_.has_value();
      lock.unlock();
      std::optional<std::expected<store::IngestResult, store::StoreError>> r;
      if (!skip) {
        std::vector<store::Checkpoint> cps;
        if (b->checkpoint) cps.push_back(*b->checkpoint);
        // Group counters are folded once at the end of the scan (run_scan), not per batch.
        r = db_.ingest(std::span(b->records.data(), b->used), cps,
                       {.events_parsed_from_raw = true, .defer_group_counts = true});
      }
      lock.lock();
      if (r && *r) {
        counts_.added += (*r)->added;
        counts_.duplicates += (*r)->duplicates;
      } else if (r && !error_) {
        error_ = r->error();
      }
      busy_ = false;
      free_.push_back(b);
      changed_.notify_all();
    }
  }

  // Double buffering: one batch being filled while the other is written. (A third one bought
  // nothing measurable and costs its memory.)
  std::array<std::unique_ptr<Batch>, 2> pool_;
  store::Store& db_;
  std::mutex mutex_;
  std::condition_variable changed_;
  std::vector<Batch*> free_;
  std::deque<Batch*> queue_;
  bool busy_ = false;
  bool stopping_ = false;
  std::optional<store::StoreError> error_;
  store::IngestResult counts_;
  std::thread thread_;
};

class Scanner {
 public:
  Scanner(store::Store& db, const Invocation& inv) : db_(db), inv_(inv), writer_(db) {}
  Scanner(const Scanner&) = delete;
  Scanner& operator=(const Scanner&) = delete;
  ~Scanner() {
    if (filling_) writer_.give_back(*filling_);
  }

  // Adds one parsed (or rejected) line. Parsed into the batch's next record in place (no Event
  // per line); scan sets no field but a fallback host, which is what lets the store keep only
  // the raw text (IngestOptions::events_parsed_from_raw).
  void line(SourceStats& st, const std::string& source, std::string_view text, uint64_t line_no,
            const std::optional<std::string>& fallback_host = {}) {
    ++st.lines;
    if (!collector::may_be_apparmor(text)) return;
    if (filling_ == nullptr) filling_ = &writer_.take();
    Batch& b = *filling_;
    if (b.used == b.records.size()) b.records.emplace_back();
    store::NewRecord& rec = b.records[b.used];
    if (auto err = collector::parse_line_into(text, rec.event)) {
      if (err->kind == collector::ParseError::Kind::kInvalid) {
        ++st.invalid;
        inv_.err << "aatune: warning: " << source << ":" << line_no << ": " << err->message << '\n';
      }
      return;
    }
    if (!rec.event.host && fallback_host) rec.event.host = fallback_host;
    rec.group_key.clear();
    analyzer::append_group_key(rec.event, rec.group_key);
    rec.source.assign(source);
    rec.line_no = line_no;
    // Here rather than on the store thread, which is the slower of the two.
    rec.fingerprint = store::record_fingerprint(rec.event);
    ++b.used;
  }

  [[nodiscard]] bool full() const { return filling_ && filling_->used >= kBatchRecords; }

  /// Hands the batch (and the checkpoint it reaches) to the store thread. An error is that of
  /// an earlier batch (or this one if it could not be queued): the scan stops there.
  std::expected<void, ScanError> flush(std::optional<store::Checkpoint> checkpoint) {
    if ((filling_ == nullptr || filling_->used == 0) && !checkpoint) return {};
    if (filling_ == nullptr) filling_ = &writer_.take();
    filling_->checkpoint = std::move(checkpoint);
    writer_.submit(*filling_);
    filling_ = nullptr;
    if (writer_.failed()) return finish_error();
    return {};
  }

  /// Waits for the store thread; adds what the source's batches stored to `st`.
  std::expected<void, ScanError> finish(SourceStats& st) {
    auto r = writer_.drain();
    if (!r) return std::unexpected(ScanError{r.error().message, kExitPermission});
    st.added += r->added;
    st.duplicates += r->duplicates;
    return {};
  }

  /// The store, once every queued batch is written (it is not shared between threads).
  std::expected<std::optional<store::Checkpoint>, ScanError> find_checkpoint(
      std::string_view identity) {
    if (auto r = writer_.drain(); !r) {
      return std::unexpected(ScanError{r.error().message, kExitPermission});
    }
    auto cp = db_.find_checkpoint(identity);
    if (!cp) return std::unexpected(ScanError{cp.error().message, kExitUsage});
    return *cp;
  }

 private:
  std::expected<void, ScanError> finish_error() {
    auto r = writer_.drain();
    return std::unexpected(
        ScanError{r ? std::string("store write failed") : r.error().message, kExitPermission});
  }

  store::Store& db_;
  const Invocation& inv_;
  Writer writer_;
  Batch* filling_ = nullptr;
};

// Bytes at the end of a plain file: tells whether its last line is complete.
bool ends_with_newline(const std::string& path, uint64_t offset) {
  if (offset == 0) return true;
  std::ifstream in(path, std::ios::binary);
  in.seekg(static_cast<std::streamoff>(offset - 1));
  char c = 0;
  return in.get(c) && c == '\n';
}

std::expected<SourceStats, ScanError> scan_file(Scanner& sc, const std::string& path,
                                                Progress& progress) {
  SourceStats st{path, 0, 0, 0, 0, ""};
  struct stat sb {};
  if (::stat(path.c_str(), &sb) != 0) {
    st.note = std::string("skipped: ") + std::strerror(errno);
    return st;
  }
  const bool gz = path.ends_with(".gz");
  // Identity: family + first line. An unreadable file is reported and skipped, never fatal.
  auto first = collector::LineReader::open(path);
  if (!first) {
    st.note = "skipped: " + first.error().message;
    return st;
  }
  auto head = first->next();
  if (!head) {
    st.note = "skipped: " + head.error().message;
    return st;
  }
  if (!*head) {
    st.note = "empty";
    return st;
  }
  const std::string identity = "file:" + hex64(fnv1a(family_of(path) + '\n' + (*head)->text));
  auto cp = sc.find_checkpoint(identity);
  if (!cp) return std::unexpected(cp.error());
  uint64_t start = 0;
  uint64_t base_line = 0;
  if (*cp) {
    start = (*cp)->offset;
    base_line = (*cp)->line_no;
    if (!gz && static_cast<uint64_t>(sb.st_size) < start) {
      // Same first line, fewer bytes: copytruncate wrote it anew. Dedup keeps re-reads harmless.
      st.note = "shrank since the last scan: read again from the start";
      start = 0;
      base_line = 0;
    } else if ((*cp)->source != path) {
      st.note = "same file as " + (*cp)->source + " (rotated): resumed";
    }
  }
  if (!gz && start == static_cast<uint64_t>(sb.st_size)) {
    progress.source_done(static_cast<uint64_t>(sb.st_size));
    return st;  // Nothing new: no reader, no transaction.
  }
  auto reader = collector::LineReader::open(path, start);
  if (!reader) {
    st.note = "skipped: " + reader.error().message;
    return st;
  }
  auto make_checkpoint = [&](uint64_t offset, uint64_t line_no) {
    return store::Checkpoint{
        identity, path, static_cast<uint64_t>(sb.st_dev), static_cast<uint64_t>(sb.st_ino), offset,
        line_no,  ""};
  };
  // One line of lookahead: the last line of a live file may still be being written; it is
  // processed only once its newline is there (next scan), so a record is never split. The line
  // is borrowed from the reader and copied into one reused buffer (no allocation per line).
  bool have_pending = false;
  std::string pending_text;
  uint64_t pending_line_no = 0;
  uint64_t done_offset = start;
  uint64_t done_lines = base_line;
  while (true) {
    auto next = reader->next_view();
    if (!next) {
      st.note = "read error: " + next.error().message + " (kept what was read)";
      break;
    }
    if (have_pending) {
      if (!*next && !gz && !ends_with_newline(path, reader->offset())) break;
      const uint64_t line_no = base_line + pending_line_no;
      sc.line(st, path, pending_text, line_no);
      done_offset = *next ? (*next)->offset : reader->offset();
      done_lines = line_no;
      if (sc.full()) {
        if (auto r = sc.flush(make_checkpoint(done_offset, done_lines)); !r) {
          return std::unexpected(r.error());
        }
      }
      progress.update(done_offset - start);
    }
    if (!*next) break;
    have_pending = true;
    pending_text.assign((*next)->text);
    pending_line_no = (*next)->line_no;
  }
  if (auto r = sc.flush(make_checkpoint(done_offset, done_lines)); !r) {
    return std::unexpected(r.error());
  }
  if (auto r = sc.finish(st); !r) return std::unexpected(r.error());
  progress.source_done(done_offset - start);

  // Rotation or truncation while we read: reported, never fatal.
  struct stat after {};
  if (::stat(path.c_str(), &after) != 0) {
    st.note = "disappeared during the scan (rotated or deleted); read up to byte " +
              std::to_string(done_offset);
  } else if (!gz &&
             (static_cast<uint64_t>(after.st_size) < done_offset || after.st_size < sb.st_size)) {
    // Smaller than what was read, or than when the scan began (truncated before the reader got
    // past its first line, which then finds nothing to read).
    st.note = "shrank during the scan (truncated); it will be read from the start next time";
  }
  return st;
}

std::expected<SourceStats, ScanError> scan_journal(Scanner& sc) {
  SourceStats st{"journal", 0, 0, 0, 0, ""};
  auto cp = sc.find_checkpoint("journal");
  if (!cp) return std::unexpected(cp.error());
  collector::JournalOptions opts;
  if (*cp) opts.after_cursor = (*cp)->cursor;
  auto j = collector::JournalSource::open(opts);
  if (!j) {
    st.note = "skipped: " + j.error();
    return st;
  }
  std::string cursor = *cp ? (*cp)->cursor : "";
  uint64_t n = *cp ? (*cp)->line_no : 0;
  auto checkpoint = [&] { return store::Checkpoint{"journal", "journal", 0, 0, 0, n, cursor}; };
  while (true) {
    auto e = j->next();
    if (!e) {
      st.note = e.error();
      break;
    }
    if (!*e) break;
    ++n;
    sc.line(st, "journal", (*e)->line, n, (*e)->hostname);
    cursor = (*e)->cursor;
    if (sc.full()) {
      if (auto r = sc.flush(checkpoint()); !r) return std::unexpected(r.error());
    }
  }
  if (auto r = sc.flush(checkpoint()); !r) return std::unexpected(r.error());
  if (auto r = sc.finish(st); !r) return std::unexpected(r.error());
  if (st.lines == 0 && st.note.empty()) st.note = "nothing new in the journal";
  return st;
}

std::expected<SourceStats, ScanError> scan_kmsg(Scanner& sc, const std::string& path) {
  SourceStats st{path, 0, 0, 0, 0, ""};
  // The whole ring buffer each time: it is small (128 KiB) and the store's fingerprint drops
  // what an earlier scan already stored.
  auto k = collector::KmsgSource::open(/*from_start=*/true, path);
  if (!k) {
    st.note = "skipped: " + k.error();
    return st;
  }
  uint64_t n = 0;
  while (true) {
    auto lines = k->read(std::chrono::milliseconds(0));
    if (!lines) {
      st.note = lines.error();
      break;
    }
    if (lines->empty()) break;
    for (const auto& l : *lines) {
      sc.line(st, path, l.text, ++n);
    }
  }
  if (auto r = sc.flush(std::nullopt); !r) return std::unexpected(r.error());
  if (auto r = sc.finish(st); !r) return std::unexpected(r.error());
  return st;
}

std::expected<Options, std::string> parse_args(std::span<const std::string> args) {
  Options o;
  for (size_t i = 0; i < args.size(); ++i) {
    const std::string& a = args[i];
    auto value = [&](std::string_view flag) -> std::expected<std::string, std::string> {
      if (i + 1 >= args.size()) return std::unexpected(std::string(flag) + " needs a value");
      return args[++i];
    };
    if (a == "--db" || a == "--root") {
      auto v = value(a);
      if (!v) return std::unexpected(v.error());
      if (a == "--db") {
        o.db = *v;
      } else {
        o.root = *v;
      }
    } else if (a.starts_with("--db=")) {
      o.db = a.substr(5);
    } else if (a == "--no-journal") {
      o.journal = false;
    } else if (a == "--no-kmsg") {
      o.kmsg = false;
    } else if (a == "--quiet" || a == "-q") {
      o.quiet = true;
    } else if (a.starts_with("-") && a != "-") {
      return std::unexpected("unknown option '" + a + "'");
    } else {
      o.sources.push_back(a);
    }
  }
  return o;
}

}  // namespace

int run_scan(const Invocation& inv) {
  for (const auto& a : inv.args) {
    if (a == "--help" || a == "-h") {
      inv.out << kUsage;
      return kExitOk;
    }
  }
  auto opts = parse_args(inv.args);
  if (!opts) {
    inv.err << "aatune: error: scan: " << opts.error() << '\n' << kUsage;
    return kExitUsage;
  }

  std::vector<collector::SourceCandidate> sources;
  if (opts->sources.empty()) {
    sources = collector::discover_sources({opts->root, opts->journal, opts->kmsg});
  } else {
    for (const auto& s : opts->sources) {
      if (s == "journal") {
        sources.push_back({SourceKind::kJournal, "journal", ""});
      } else if (s == "kmsg") {
        sources.push_back({SourceKind::kKmsg, "/dev/kmsg", ""});
      } else {
        std::error_code ec;
        std::string reason;
        if (!fs::exists(s, ec)) reason = "no such file";
        sources.push_back({SourceKind::kFile, s, reason});
      }
    }
  }

  const std::string db_path = store::locate_db(opts->db);
  auto db = store::Store::open(db_path);
  if (!db) {
    inv.err << "aatune: error: " << db.error().message << '\n';
    return kExitUsage;
  }

  uint64_t total = 0;
  for (const auto& s : sources) {
    std::error_code ec;
    if (s.kind == SourceKind::kFile && s.skip_reason.empty()) total += fs::file_size(s.path, ec);
  }
  const bool tty = ::isatty(STDERR_FILENO) == 1 && !opts->quiet;
  Progress progress(inv.err, tty, total);
  Scanner scanner(*db, inv);
  std::vector<SourceStats> stats;
  bool missing_named = false;
  const auto started = std::chrono::steady_clock::now();
  for (const auto& s : sources) {
    if (!s.skip_reason.empty()) {
      stats.push_back(SourceStats{s.path, 0, 0, 0, 0, "skipped: " + s.skip_reason});
      if (!opts->sources.empty()) missing_named = true;
      continue;
    }
    std::expected<SourceStats, ScanError> r;
    switch (s.kind) {
      case SourceKind::kFile:
        r = scan_file(scanner, s.path, progress);
        break;
      case SourceKind::kJournal:
        r = scan_journal(scanner);
        break;
      case SourceKind::kKmsg:
        r = scan_kmsg(scanner, s.path);
        break;
    }
    if (!r) {
      progress.clear();
      inv.err << "aatune: error: " << r.error().message
              << "\naatune: hint: the store keeps every batch committed before the error; "
                 "fix the cause and run 'aatune scan' again\n";
      return r.error().exit_code;
    }
    stats.push_back(std::move(*r));
  }
  // Every batch is written (each source drained the store thread). Until this fold the readers
  // add the batches' group deltas themselves, so a scan killed before it loses nothing.
  if (auto f = db->fold_group_counts(); !f) {
    progress.clear();
    inv.err << "aatune: error: " << f.error().message
            << "\naatune: hint: the records are stored; the next 'aatune scan' completes the "
               "counts\n";
    return kExitPermission;
  }
  progress.clear();
  const double secs =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();

  uint64_t lines = 0, added = 0, dups = 0, invalid = 0;
  inv.out << row({Cell("source", 40), Cell("lines", -10), Cell("new", -10), Cell("duplicate", -10),
                  Cell("invalid", -8)})
          << '\n';
  for (const auto& st : stats) {
    inv.out << row({Cell(st.name, 40), Cell(st.lines, -10), Cell(st.added, -10),
                    Cell(st.duplicates, -10), Cell(st.invalid, -8)});
    if (!st.note.empty()) inv.out << "  (" << st.note << ")";
    inv.out << '\n';
    lines += st.lines;
    added += st.added;
    dups += st.duplicates;
    invalid += st.invalid;
  }
  inv.out << row({Cell("total", 40), Cell(lines, -10), Cell(added, -10), Cell(dups, -10),
                  Cell(invalid, -8)})
          << '\n';
  char elapsed[32];
  std::snprintf(elapsed, sizeof elapsed, "%.2f s", secs);
  inv.out << "store: " << db->path() << " (" << elapsed << ")\n";
  if (missing_named) {
    inv.err << "aatune: error: some sources named on the command line could not be read\n";
    return kExitUsage;
  }
  return kExitOk;
}

}  // namespace aatune::cli
