// Plain-text tables for the commands that print one (scan, status, list).
#pragma once

#include <cstdint>
#include <initializer_list>
#include <optional>
#include <string>
#include <string_view>

namespace aatune::cli {

/// One column of a row (GCC 12 has no <format>): width > 0 pads on the right, < 0 aligns right.
struct Cell {
  Cell(std::string_view s, int w) : text(s), width(w) {}
  Cell(uint64_t n, int w) : text(std::to_string(n)), width(w) {}
  std::string text;
  int width;
};

/// The cells joined by one space, each padded to its width (longer text is never cut).
[[nodiscard]] std::string row(std::initializer_list<Cell> cells);

/// Epoch seconds as UTC text in strftime `format`; "-" when unknown.
[[nodiscard]] std::string utc_time(std::optional<int64_t> seconds, const char* format);

}  // namespace aatune::cli
