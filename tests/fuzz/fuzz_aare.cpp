// libFuzzer target for the AARE matcher (rules::Aare::compile + matches).
//
// Patterns come from profile files and, through quoting, from names in denial logs; paths come
// from logs. The matcher must survive any pattern (bounded time and memory: a pattern of nested
// alternations and globs must not blow up) and any path. Input layout:
//
//   <pattern> "\n" <path> ["\n" <path> …]
//
// with two variables defined (@{HOME} with two values, @{x} referring to @{HOME}). Besides "no
// crash", the target checks the matcher's own promises (contract_broken aborts):
//   - a pattern without any AARE special character is literal and matches itself;
//   - matching is deterministic (a copy of the compiled pattern gives the same answer);
//   - the one-shot aare_matches() agrees with compile + matches.
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>

#include "rules/aare.h"

namespace {

[[noreturn]] void contract_broken(const char* what, std::string_view pattern,
                                  std::string_view path) {
  std::fprintf(stderr, "fuzz: contract broken: %s\n  pattern: %.*s\n  path: %.*s\n", what,
               static_cast<int>(pattern.size() > 300 ? 300 : pattern.size()), pattern.data(),
               static_cast<int>(path.size() > 300 ? 300 : path.size()), path.data());
  std::abort();
}

bool has_special(std::string_view s) {
  return s.find_first_of("*?[]{}\\^@") != std::string_view::npos;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view input(reinterpret_cast<const char*>(data), size);
  static const aatune::rules::Variables kVars{
      {"HOME", {"/home/*", "/root"}},
      {"x", {"@{HOME}/.cache", "/tmp/{a,b}"}},
  };
  const size_t nl = input.find('\n');
  const std::string_view pattern = input.substr(0, nl);
  const std::string_view paths =
      nl == std::string_view::npos ? std::string_view() : input.substr(nl + 1);

  auto aare = aatune::rules::Aare::compile(pattern, kVars);
  if (!aare) {
    // A pattern that does not compile matches nothing, whatever the path.
    if (aatune::rules::aare_matches(pattern, paths, kVars)) {
      contract_broken("aare_matches true for a pattern that does not compile", pattern, paths);
    }
    return 0;
  }
  if (!has_special(pattern) && pattern.find('\0') == std::string_view::npos) {
    if (!aare->is_literal()) contract_broken("plain pattern not literal", pattern, pattern);
    if (!aare->matches(pattern)) contract_broken("literal does not match itself", pattern, pattern);
  }
  const aatune::rules::Aare copy = *aare;
  (void)aare->matches(pattern);
  for (size_t start = 0; start <= paths.size() && !paths.empty();) {
    size_t end = paths.find('\n', start);
    if (end == std::string_view::npos) end = paths.size();
    const std::string_view path = paths.substr(start, end - start);
    const bool m = aare->matches(path);
    if (copy.matches(path) != m) contract_broken("matching is not deterministic", pattern, path);
    if (aatune::rules::aare_matches(pattern, path, kVars) != m) {
      contract_broken("aare_matches disagrees with compile + matches", pattern, path);
    }
    start = end + 1;
  }
  return 0;
}
