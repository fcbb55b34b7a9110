// What the analyzer needs to know about the profile tree on disk: a narrow, read-only view.
// `tree_view.h` implements it over rules::ProfileTree; the analyzer itself never does I/O.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "rules/rule.h"

namespace aatune::analyzer {

/// A rule in the tree, with where it is written.
struct RuleSite {
  std::string file;
  uint64_t line = 0;
  std::string text;  ///< The rule as written, for the explanation.
};

/// What the tree does with one request of one profile.
struct CoverageAnswer {
  enum class Kind {
    kNone,       ///< No rule allows it.
    kAllowed,    ///< An allow rule covers it (so the loaded policy is older than the file).
    kDenied,     ///< An explicit `deny` rule covers it (deny wins over allow).
    kOwnerOnly,  ///< Only `owner` rules cover it and the request was not by the owner.
  };
  Kind kind = Kind::kNone;
  std::optional<RuleSite> site;
};

/// One request, in the terms of a rule: `rule` is the minimal rule that would allow exactly the
/// request (e.g. `/etc/foo r,`, `signal (receive) set=(term) peer=a,`); `owner_request` says the
/// request was made by the file's owner (fsuid == ouid).
struct Request {
  std::string rule_class;  ///< file, exec, capability, network, unix, signal, ptrace, dbus, …
  std::string text;        ///< The rule as rendered.
  std::optional<rules::Rule> rule;  ///< The same, typed (absent when the model cannot read it).
  bool owner_request = false;
};

/// Where a rule for a profile can be written.
struct TargetFile {
  enum class Kind { kLocal, kProfileFile, kLibvirtBase, kLibvirtFiles };
  Kind kind = Kind::kLocal;
  std::string path;     ///< Absolute, or relative to the tree root.
  std::string warning;  ///< Why this choice may not last (libvirt .files), else empty.
};

/// A read-only policy model. Names are full hnames ("parent//child" for children and hats).
class PolicyView {
 public:
  virtual ~PolicyView() = default;

  /// Is there a profile (or child/hat) of exactly this name in the tree?
  [[nodiscard]] virtual bool has_profile(std::string_view name) const = 0;
  /// Is this profile marked `flags=(complain)` (or unconfined) in the tree?
  [[nodiscard]] virtual bool in_complain_mode(std::string_view name) const = 0;
  /// The profile a program path attaches to (its name or attachment matches), if any.
  [[nodiscard]] virtual std::optional<std::string> profile_for_program(
      std::string_view path) const = 0;
  /// How the tree answers a request of `profile`.
  [[nodiscard]] virtual CoverageAnswer coverage(std::string_view profile,
                                                const Request& request) const = 0;
  /// The exec modes (`ix`, `PUx`, …) that `profile`'s own rules already use, for the exec
  /// default ("helpers of a trusted daemon get PUx").
  [[nodiscard]] virtual std::vector<std::string> exec_modes_used(
      std::string_view profile) const = 0;
  /// Variables defined in the tree (tunables included): name without `@{}` → values.
  [[nodiscard]] virtual std::vector<std::pair<std::string, std::vector<std::string>>> variables()
      const = 0;
  /// Abstractions (`abstractions/…` include names) whose rules allow `request`, each with the
  /// rule that does (the analyzer ranks them by how specific that rule is).
  [[nodiscard]] virtual std::vector<std::pair<std::string, RuleSite>> abstractions_allowing(
      const Request& request) const = 0;
  /// Does the tree refer to the running profile with `@{profile_name}` anywhere?
  [[nodiscard]] virtual bool uses_profile_name_variable() const = 0;
  /// Files a rule for `profile` can go to, the default first.
  [[nodiscard]] virtual std::vector<TargetFile> target_files(std::string_view profile) const = 0;
};

}  // namespace aatune::analyzer
