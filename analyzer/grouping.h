// The grouping key: which events are "the same denial". Shared by the analyzer's groups and the
// store's denial-group table, so that the two can never disagree.
#pragma once

#include <string>

#include "collector/event.h"

namespace aatune::analyzer {

/// Identical denials share a key: same host-independent subject, class, operation, target, mask.
struct GroupKey {
  std::string profile;     ///< Subject label as logged (may be a `parent//child` or a stack).
  std::string rule_class;  ///< Normalised class: file, exec, capability, network, signal, …
  std::string operation;
  std::string target;  ///< Path, capability name, peer label, dbus member…: what was accessed.
  std::string mask;    ///< Denied (else requested) mask, as logged.

  friend bool operator==(const GroupKey&, const GroupKey&) = default;
  friend auto operator<=>(const GroupKey&, const GroupKey&) = default;
};

/// The class of an event, from `class=` when present and inferred from the operation otherwise
/// (kernels before 6.x do not print `class=`).
[[nodiscard]] std::string event_class(const collector::Event& event);

[[nodiscard]] GroupKey group_key(const collector::Event& event);

/// A stable one-line text form of the key (fields joined by U+001F), for storage and hashing.
[[nodiscard]] std::string to_string(const GroupKey& key);

}  // namespace aatune::analyzer
