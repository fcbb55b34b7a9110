// Streaming line reader over log files: plain, rotated .gz (zlib), or stdin ("-").
// Memory stays flat in the file size. Joins the records that a syslog daemon wrapped onto a
// continuation line (libapparmor's testcase_dbus_09: a USER_AVC msg='…' with a raw newline).
#pragma once

#include <cstdint>
#include <expected>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "collector/line_scan.h"

namespace aatune::collector {

/// One logical line: its text (without the newline), the 1-based number of its first physical
/// line, and the byte offset of its start in the (decompressed) stream.
struct RawLine {
  std::string text;
  uint64_t line_no = 0;
  uint64_t offset = 0;
};

/// A RawLine that borrows its text from the reader (see LineReader::next_view).
struct LineView {
  std::string_view text;
  uint64_t line_no = 0;
  uint64_t offset = 0;
};

/// A LineView with, when the reader's fast path served it, the facts of one scan_line() pass.
struct ScannedView {
  LineView line;
  std::optional<LineFacts> facts;  ///< Absent for joined, truncated or buffer-crossing lines.
};

struct ReaderError {
  std::string path;
  std::string message;
};

/// Reads logical lines. Lines longer than `max_line_bytes` are returned truncated with
/// `truncated` set on the reader so the caller can report them (they are never a crash).
class LineReader {
 public:
  /// Opens `path` ("-" is stdin). A ".gz" name, or gzip magic bytes, selects zlib.
  /// `start_offset` skips that many (decompressed) bytes first: the checkpoint of a re-scan.
  [[nodiscard]] static std::expected<LineReader, ReaderError> open(const std::string& path,
                                                                   uint64_t start_offset = 0);
  LineReader(LineReader&&) noexcept;
  LineReader& operator=(LineReader&&) noexcept;
  ~LineReader();

  /// The next logical line, std::nullopt at end of input; a read error is returned as an error.
  [[nodiscard]] std::expected<std::optional<RawLine>, ReaderError> next();

  /// Like next() without copying the text: it points into the reader's buffer and stays valid
  /// only until the next call. Same lines, numbers, offsets and truncation as next().
  [[nodiscard]] std::expected<std::optional<LineView>, ReaderError> next_view();

  /// Like next_view(), finding the line's end with scan_line() (one pass for the newline and the
  /// parser's whole-line facts) instead of memchr: the counting path. Same lines as next_view().
  [[nodiscard]] std::expected<std::optional<ScannedView>, ReaderError> next_scanned();

  /// Bytes consumed so far (decompressed), i.e. the offset to resume from.
  [[nodiscard]] uint64_t offset() const;
  [[nodiscard]] const std::string& path() const;
  /// True if the last line returned was cut at the maximum line length (1 MiB).
  [[nodiscard]] bool last_truncated() const;

  static constexpr size_t kMaxLineBytes = 1 << 20;

 private:
  struct Impl;
  explicit LineReader(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace aatune::collector
