// AppArmor regular expressions (AARE): compile a rule pattern once, match many concrete paths.
//
// Semantics follow apparmor.d(5) and the parser's conversion: `*` = any run of non-'/' characters,
// `**` = any run including '/', `?` = one non-'/' character, `[abc]` `[a-c]` `[^…]` classes,
// `{a,b}` (nested, empty alternatives allowed) alternations, `\x` escapes (`\NNN`: an octal
// byte). As the parser does, a `*`/`**` that forms a whole path component (after '/' and before
// '/' or the end) needs at least
// one character that is not '/', so `/tmp/*` and `/tmp/**` do not match `/tmp/`. Runs of '/' in
// patterns and paths compare as one '/'. Variables (`@{HOME}`) are expanded beforehand from a
// Variables map into alternations, recursively.
#pragma once

#include <cstdint>
#include <expected>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace aatune::rules {

/// Variable name without `@{` `}` → its values (each value may use other variables).
using Variables = std::map<std::string, std::vector<std::string>, std::less<>>;

/// Replaces every `@{name}` in `pattern` with `{v1,v2,…}` (or the single value), recursively.
/// Errors: an undefined variable, an unterminated `@{`, a definition cycle.
[[nodiscard]] std::expected<std::string, std::string> expand_variables(std::string_view pattern,
                                                                       const Variables& vars);

/// A compiled AARE. Cheap to copy (shares its immutable automaton); thread-safe to match.
class Aare {
 public:
  /// Compiles `pattern` after expanding its variables. Errors (one line): unbalanced `{}` or `[]`,
  /// a trailing `\`, an undefined variable.
  [[nodiscard]] static std::expected<Aare, std::string> compile(std::string_view pattern,
                                                                const Variables& vars = {});

  /// Does the pattern match the whole of `path`?
  [[nodiscard]] bool matches(std::string_view path) const;

  /// The pattern as given (before variable expansion).
  [[nodiscard]] const std::string& pattern() const { return pattern_; }

  /// True when the pattern has no glob, class or alternation (after expansion): it matches one
  /// string only.
  [[nodiscard]] bool is_literal() const { return literal_; }

  struct Program;  ///< The compiled automaton (defined in aare.cpp).

 private:
  Aare() = default;
  std::string pattern_;
  std::string prefix_;  ///< Literal start of every match ('/' runs collapsed): a cheap reject.
  bool literal_ = false;
  std::shared_ptr<const Program> program_;
};

/// One-shot convenience: compile and match. Invalid patterns match nothing.
[[nodiscard]] bool aare_matches(std::string_view pattern, std::string_view path,
                                const Variables& vars = {});

}  // namespace aatune::rules
