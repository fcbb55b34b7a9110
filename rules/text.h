// Small string helpers shared inside rules/ (not part of the module's public surface).
#pragma once

#include <algorithm>
#include <cstddef>
#include <string>
#include <string_view>
#include <type_traits>
#include <vector>

namespace aatune::rules::text {

inline std::string piece(std::string_view s) {
  return std::string(s);
}
template <typename T>
requires std::is_arithmetic_v<T> std::string piece(T v) {
  return std::to_string(v);
}

/// Concatenates strings and numbers: GCC 12's library has no <format>.
template <typename... T>
std::string cat(const T&... parts) {
  return (std::string() + ... + piece(parts));
}

/// Levenshtein distance, for "did you mean" answers to a mistyped name.
inline size_t edit_distance(std::string_view a, std::string_view b) {
  std::vector<size_t> row(b.size() + 1);
  for (size_t j = 0; j <= b.size(); ++j) row[j] = j;
  for (size_t i = 1; i <= a.size(); ++i) {
    size_t diag = row[0];
    row[0] = i;
    for (size_t j = 1; j <= b.size(); ++j) {
      const size_t up = row[j];
      row[j] = std::min({row[j] + 1, row[j - 1] + 1, diag + (a[i - 1] == b[j - 1] ? 0 : 1)});
      diag = up;
    }
  }
  return row[b.size()];
}

}  // namespace aatune::rules::text
