// Redaction of bug-report bundles: the personal data a log and a profile tree carry (user names,
// home directories, host names, IP and MAC addresses, optionally UUIDs and user patterns) is
// replaced by stable placeholders, consistently within one bundle. Placeholders keep the syntax of
// what they replace (an IPv4 becomes a documentation address), so a redacted rule still parses.
#pragma once

#include <cstdint>
#include <expected>
#include <map>
#include <nlohmann/json.hpp>
#include <regex>
#include <string>
#include <string_view>
#include <vector>

namespace aatune::analyzer {

struct RedactOptions {
  bool uuids = false;                 ///< Also UUIDs, except in `libvirt-<uuid>` profile names.
  std::vector<std::string> patterns;  ///< ECMAScript regexes, each match → `REDACTED<n>`.
  std::vector<std::string> hosts;     ///< Host names known to the caller (e.g. this machine's).
};

/// How much of one kind was replaced.
struct RedactCount {
  uint64_t distinct = 0;     ///< Different values.
  uint64_t occurrences = 0;  ///< Replacements made.
};

/// Two passes: learn() every text of the bundle first (user and host names are discovered in one
/// place and replaced everywhere), then redact() each text.
class Redactor {
 public:
  /// Errors: a pattern that is not a valid regex (the message names it).
  [[nodiscard]] static std::expected<Redactor, std::string> create(const RedactOptions& options);

  void learn(std::string_view text);
  [[nodiscard]] std::string redact(std::string_view text);

  /// learn() then redact() over every string value of a JSON document (keys are kept).
  void redact_json(nlohmann::json& doc);

  /// Kind ("user", "home", "host", "ipv4", "ipv6", "mac", "uuid", "pattern") → counts.
  [[nodiscard]] const std::map<std::string, RedactCount>& counts() const { return counts_; }

 private:
  explicit Redactor(RedactOptions options) : options_(std::move(options)) {}
  std::string placeholder(const std::string& kind, const std::string& value);
  std::string replace_all(std::string text, const std::regex& re, const std::string& kind,
                          int group);

  RedactOptions options_;
  std::vector<std::regex> patterns_;
  std::vector<std::string> users_;  ///< Learned user names, in order of discovery.
  std::vector<std::string> hosts_;
  std::map<std::string, std::map<std::string, std::string>> map_;  ///< kind → value → placeholder
  std::map<std::string, RedactCount> counts_;
};

}  // namespace aatune::analyzer
