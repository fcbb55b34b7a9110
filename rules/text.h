// Small string helpers shared inside rules/ (not part of the module's public surface).
#pragma once

#include <string>
#include <string_view>
#include <type_traits>

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

}  // namespace aatune::rules::text
