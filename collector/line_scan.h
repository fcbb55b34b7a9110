// One pass over a line's bytes that finds where it ends and everything the parser and the reader
// ask of the whole line first: the prefilter's needle, a NUL byte, a byte >= 0x80, a single
// quote. The counting path used to make four passes for that (memchr for the newline, the quote
// scan, may_be_apparmor, the parser's byte scan); a noise line, half of a log, now costs one.
#pragma once

#include <cstddef>

namespace aatune::collector {

/// Facts about one line (without its newline).
struct LineFacts {
  bool may_be_apparmor = false;  ///< Exactly may_be_apparmor(line).
  bool nul = false;              ///< The line holds a NUL byte.
  bool high_bit = false;         ///< The line holds a byte >= 0x80.
  bool quote = false;            ///< The line holds a single quote.
};

struct ScannedLine {
  size_t length = 0;     ///< Bytes before the first newline, or `avail` if there is none.
  bool newline = false;  ///< A newline ends the line within `avail`.
  LineFacts facts;       ///< Facts of data[0, length).
};

/// Scans `data[0, avail)` up to the first newline.
[[nodiscard]] ScannedLine scan_line(const char* data, size_t avail);

}  // namespace aatune::collector
