// Chunks are cut at nominal offsets k * chunk_bytes, moved forward to the first line start whose
// first byte may start a chunk (see may_start_chunk). The worker that ends a chunk and the one
// that starts the next apply the same rule to the same bytes, so the chunks partition the file
// exactly without the workers talking to each other. Each worker reads through its own
// LineReader (fixed buffers), so nothing is mapped and memory does not grow with the file.
#include "collector/chunked_count.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <condition_variable>
#include <cstring>
#include <limits>
#include <mutex>
#include <optional>
#include <thread>
#include <utility>
#include <vector>

#include "collector/format.h"
#include "collector/unique_fd.h"

namespace aatune::collector {
namespace {

constexpr uint64_t kNoStop = std::numeric_limits<uint64_t>::max();

// Per-class totals of one chunk. A map lookup per record (string compares through memcmp) cost
// 3 % of the instructions of `parse --count`; a dozen classes fit a short list, told apart by
// size and first byte.
class ClassTally {
 public:
  void add(std::string_view cls) {
    for (auto& [name, n] : slots_) {
      if (name.size() == cls.size() && (cls.empty() || name[0] == cls[0]) &&
          std::equal(name.begin(), name.end(), cls.begin())) {
        ++n;
        return;
      }
    }
    slots_.emplace_back(std::string(cls), 1);
  }
  void add_to(ClassCounts& counts) const {
    for (const auto& [name, n] : slots_) counts.per_class[name] += n;
  }

 private:
  std::vector<std::pair<std::string, uint64_t>> slots_;
};

struct ChunkResult {
  ClassCounts counts;
  std::vector<InvalidLine> invalid;  ///< Line numbers relative to the chunk's first line.
  uint64_t physical_lines = 0;       ///< Newline-terminated lines the chunk spans.
  std::optional<ReaderError> error;
};

// Classifies the logical lines of `reader` until EOF or the first line at or after `stop` that
// may start a chunk (that line belongs to the next chunk). `sink` receives invalid records with
// the reader's line numbers.
template <typename Sink>
std::expected<uint64_t, ReaderError> count_lines(LineReader& reader, uint64_t stop,
                                                 ClassCounts& counts, Sink&& sink) {
  Event event;
  ClassTally tally;
  struct AddTally {  // on every way out
    const ClassTally& tally;
    ClassCounts& counts;
    ~AddTally() { tally.add_to(counts); }
  } add_tally{tally, counts};
  while (true) {
    auto next = reader.next_scanned();
    if (!next) return std::unexpected(next.error());
    if (!*next) return 0;  // EOF: the last chunk, nobody needs its line count
    const LineView& line = (*next)->line;
    const std::optional<LineFacts>& facts = (*next)->facts;
    if (line.offset >= stop && (line.text.empty() || may_start_chunk(line.text[0]))) {
      return line.line_no - 1;
    }
    ++counts.lines;
    if (reader.last_truncated()) {
      ++counts.invalid;
      sink(InvalidLine{line.line_no, ParseError{ParseError::Kind::kInvalid, "",
                                                "line longer than 1 MiB, skipped"}});
      continue;
    }
    if (line.text.empty()) continue;
    // Noise (half the lines) is settled by the scan: classify_line() would say kNotAppArmor.
    if (facts && !facts->may_be_apparmor) {
      ++counts.other;
      continue;
    }
    if (auto error =
            facts ? classify_scanned(line.text, *facts, event) : classify_line(line.text, event)) {
      if (error->kind == ParseError::Kind::kInvalid) {
        ++counts.invalid;
        sink(InvalidLine{line.line_no, std::move(*error)});
      } else {
        ++counts.other;
      }
      continue;
    }
    ++counts.records;
    tally.add(record_class(event));
  }
}

// The first offset >= nominal where a chunk may start (a line start, see may_start_chunk), or
// `size` if there is none.
std::expected<uint64_t, ReaderError> chunk_start(const std::string& path, int fd, uint64_t nominal,
                                                 uint64_t size) {
  if (nominal == 0) return 0;
  std::array<char, 64 * 1024> block{};
  uint64_t pos = nominal - 1;  // the byte before a candidate must be a newline
  bool after_newline = false;
  while (pos < size) {
    const ssize_t n = ::pread(fd, block.data(), block.size(), static_cast<off_t>(pos));
    if (n < 0) {
      if (errno == EINTR) continue;
      return std::unexpected(ReaderError{path, std::strerror(errno)});
    }
    if (n == 0) break;
    for (ssize_t i = 0; i < n; ++i) {
      if (after_newline && may_start_chunk(block[static_cast<size_t>(i)])) {
        return pos + static_cast<uint64_t>(i);
      }
      after_newline = block[static_cast<size_t>(i)] == '\n';
    }
    pos += static_cast<uint64_t>(n);
  }
  return size;
}

ChunkResult count_chunk(const std::string& path, int fd, uint64_t index, uint64_t chunk_bytes,
                        uint64_t chunks, uint64_t size) {
  ChunkResult result;
  auto start = chunk_start(path, fd, index * chunk_bytes, size);
  if (!start) {
    result.error = start.error();
    return result;
  }
  if (*start >= size) return result;
  auto reader = LineReader::open(path, *start);
  if (!reader) {
    result.error = reader.error();
    return result;
  }
  const uint64_t stop = index + 1 == chunks ? kNoStop : (index + 1) * chunk_bytes;
  auto lines = count_lines(*reader, stop, result.counts, [&](InvalidLine&& invalid) {
    result.invalid.push_back(std::move(invalid));
  });
  if (!lines) {
    result.error = lines.error();
  } else {
    result.physical_lines = *lines;
  }
  return result;
}

std::expected<ClassCounts, ReaderError> count_sequential(
    const std::string& path, const std::function<void(const InvalidLine&)>& on_invalid) {
  auto reader = LineReader::open(path);
  if (!reader) return std::unexpected(reader.error());
  ClassCounts counts;
  auto lines =
      count_lines(*reader, kNoStop, counts, [&](InvalidLine&& invalid) { on_invalid(invalid); });
  if (!lines) return std::unexpected(lines.error());
  return counts;
}

// Chunks in flight, shared by the workers and the merging thread.
struct Shared {
  std::mutex mutex;
  std::condition_variable changed;
  uint64_t next_chunk = 0;  ///< The next chunk a worker takes.
  uint64_t merged = 0;      ///< Chunks merged so far (in file order).
  bool stop = false;        ///< The merger gave up (an error): workers finish now.
  std::map<uint64_t, ChunkResult> done;
};

std::expected<ClassCounts, ReaderError> count_parallel(
    const std::string& path, int fd, uint64_t size, unsigned jobs, uint64_t chunk_bytes,
    const std::function<void(const InvalidLine&)>& on_invalid) {
  const uint64_t chunks = std::max<uint64_t>(1, (size + chunk_bytes - 1) / chunk_bytes);
  jobs = static_cast<unsigned>(std::min<uint64_t>(jobs, chunks));
  // A worker runs at most this many chunks ahead of the merge: bounded memory for the results.
  const uint64_t window = 2ULL * jobs;
  Shared shared;
  auto worker = [&] {
    while (true) {
      uint64_t index = 0;
      {
        std::unique_lock lock(shared.mutex);
        shared.changed.wait(lock, [&] {
          return shared.stop || shared.next_chunk >= chunks ||
                 shared.next_chunk < shared.merged + window;
        });
        if (shared.stop || shared.next_chunk >= chunks) return;
        index = shared.next_chunk++;
      }
      ChunkResult result = count_chunk(path, fd, index, chunk_bytes, chunks, size);
      {
        std::lock_guard lock(shared.mutex);
        shared.done.emplace(index, std::move(result));
      }
      shared.changed.notify_all();
    }
  };
  std::vector<std::jthread> threads;
  threads.reserve(jobs);
  for (unsigned i = 0; i < jobs; ++i) threads.emplace_back(worker);

  ClassCounts total;
  std::optional<ReaderError> error;
  uint64_t base = 0;  // physical lines before the chunk being merged
  for (uint64_t index = 0; index < chunks; ++index) {
    ChunkResult result;
    {
      std::unique_lock lock(shared.mutex);
      shared.changed.wait(lock, [&] { return shared.done.contains(index); });
      auto node = shared.done.extract(index);
      result = std::move(node.mapped());
    }
    if (result.error) {
      error = std::move(result.error);
      break;
    }
    for (auto& invalid : result.invalid) {
      invalid.line_no += base;
      on_invalid(invalid);
    }
    total += result.counts;
    base += result.physical_lines;
    {
      std::lock_guard lock(shared.mutex);
      shared.merged = index + 1;
    }
    shared.changed.notify_all();
  }
  {
    std::lock_guard lock(shared.mutex);
    shared.stop = true;
  }
  shared.changed.notify_all();
  threads.clear();  // joins
  if (error) return std::unexpected(std::move(*error));
  return total;
}

}  // namespace

ClassCounts& ClassCounts::operator+=(const ClassCounts& other) {
  for (const auto& [cls, n] : other.per_class) per_class[cls] += n;
  records += other.records;
  invalid += other.invalid;
  this->other += other.other;
  lines += other.lines;
  return *this;
}

std::expected<ClassCounts, ReaderError> count_records(
    const std::string& path, const CountOptions& options,
    const std::function<void(const InvalidLine&)>& on_invalid) {
  unsigned jobs = options.jobs;
  if (jobs == 0) jobs = std::max(1U, std::thread::hardware_concurrency());
  jobs = std::min(jobs, CountOptions::kMaxJobs);
  if (path == "-" || jobs == 1) return count_sequential(path, on_invalid);

  const UniqueFd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (fd.get() < 0) return std::unexpected(ReaderError{path, std::strerror(errno)});
  struct stat st {};
  if (::fstat(fd.get(), &st) != 0) return std::unexpected(ReaderError{path, std::strerror(errno)});
  std::array<unsigned char, 2> magic{};
  const ssize_t got = ::pread(fd.get(), magic.data(), magic.size(), 0);
  const bool gzip = got == 2 && magic[0] == 0x1f && magic[1] == 0x8b;
  // A pipe or a gzip stream can only be read from the start: one pass.
  if (!S_ISREG(st.st_mode) || gzip || options.chunk_bytes == 0) {
    return count_sequential(path, on_invalid);
  }
  return count_parallel(path, fd.get(), static_cast<uint64_t>(st.st_size), jobs,
                        options.chunk_bytes, on_invalid);
}

}  // namespace aatune::collector
