// `aatune parse --count`'s engine: per-class totals of a whole log, on several cores for a plain
// file. The file is cut into chunks at line starts that cannot separate a wrapped record from its
// continuation line; each chunk is classified by a worker with its own fixed-size reader (memory
// stays flat in the file size) and the results are merged in file order, so totals and the
// invalid-record reports (with exact line numbers) are the same as one sequential pass.
#pragma once

#include <cstdint>
#include <expected>
#include <functional>
#include <map>
#include <string>

#include "collector/parser.h"
#include "collector/reader.h"

namespace aatune::collector {

struct ClassCounts {
  std::map<std::string, uint64_t, std::less<>> per_class;  ///< record_class() -> records
  uint64_t records = 0;
  uint64_t invalid = 0;  ///< Broken records and lines over the 1 MiB limit.
  uint64_t other = 0;    ///< Lines that are not AppArmor records.
  uint64_t lines = 0;    ///< Logical lines (a wrapped record counts once).

  ClassCounts& operator+=(const ClassCounts& other);
};

/// One invalid record: its 1-based line number in the file and why (a line over the limit has
/// the message "line longer than 1 MiB, skipped" and no field).
struct InvalidLine {
  uint64_t line_no = 0;
  ParseError error;
};

struct CountOptions {
  unsigned jobs = 0;                  ///< Workers; 0 = one per core (capped at kMaxJobs).
  uint64_t chunk_bytes = 8ULL << 20;  ///< Nominal chunk size (tests inject tiny ones).
  static constexpr unsigned kMaxJobs = 16;
};

/// Counts the records of `path` ("-" is stdin; stdin and gzip files are read sequentially).
/// `on_invalid` is called for each invalid record in file order, from the calling thread.
[[nodiscard]] std::expected<ClassCounts, ReaderError> count_records(
    const std::string& path, const CountOptions& options,
    const std::function<void(const InvalidLine&)>& on_invalid);

/// True if a chunk may start at a line whose first byte is `first` (the byte after a newline):
/// a wrapped record's continuation line starts with a space or a tab and is never cut off.
[[nodiscard]] constexpr bool may_start_chunk(char first) {
  return first != ' ' && first != '\t';
}

}  // namespace aatune::collector
