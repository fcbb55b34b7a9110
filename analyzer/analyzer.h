// Events to proposals: the minimal rule per group, its alternatives, the peer cross-check, the
// explanation against the tree on disk, a severity and where the rule can be written.
// Pure logic: the tree comes in as a PolicyView, the events as values.
#pragma once

#include <cstddef>
#include <expected>
#include <map>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "analyzer/grouping.h"
#include "analyzer/policy_view.h"
#include "analyzer/severity.h"

namespace aatune::analyzer {

/// Why a denial happened, checked against the tree (docs/suggest.md, "Why").
enum class WhyCode {
  kNoRule,               ///< No rule covers it.
  kExplicitDeny,         ///< A `deny` rule covers it (file:line in `site`).
  kAlreadyAllowed,       ///< A rule on disk allows it: the loaded policy is older; reload.
  kOwnerMismatch,        ///< Only an `owner` rule covers it and fsuid != ouid.
  kDisconnectedPath,     ///< The path could not be named from the namespace root.
  kNoTransitionProfile,  ///< The exec rule asks for a profile that is not loaded.
  kComplainMode,         ///< Complain mode: allowed and logged; no rule covers it.
  kMissingChild,         ///< The event is for a child profile or hat that is not in the tree.
  kProfileNotInTree,     ///< No profile of that name in the tree (treated as empty).
};

/// Machine code, e.g. "explicit-deny".
[[nodiscard]] std::string_view to_string(WhyCode code);

struct Explanation {
  WhyCode code = WhyCode::kNoRule;
  std::string text;                ///< One sentence for people.
  std::optional<RuleSite> site;    ///< The rule that decided it, when one did.
  std::vector<std::string> notes;  ///< Extra facts (unverified evidence, complain mode, …).
};

/// Another way to write the rule.
struct Alternative {
  enum class Kind {
    kGlob,
    kRecursive,
    kExtension,
    kVariable,
    kAbstraction,
    kOwner,
    kExecMode,
    kFlag,
    kFineGrained,  ///< AppArmor 4 network rule with ip/port (apparmor_parser 4.0 or later).
    /// The parts of the path that change on every run (libvirt's domain id, a mkstemp suffix)
    /// globbed, and nothing else: the exact rule would never match the next run's path.
    kVolatile,
  };
  Kind kind = Kind::kGlob;
  std::string text;  ///< The rule (or include / flag) as it would be written.
  std::string note;  ///< When it is the better choice, or what it costs.
};

[[nodiscard]] std::string_view to_string(Alternative::Kind kind);

/// One place the rule may go; `is_default` marks the recommendation.
struct TargetChoice {
  TargetFile file;
  bool is_default = false;
};

struct Proposal {
  size_t id = 0;        ///< 1-based, in output order.
  std::string profile;  ///< Where the rule belongs (full hname).
  std::string rule_class;
  std::vector<size_t> groups;  ///< Indices into Analysis::grouped.groups this proposal answers.
  /// The minimal rule, rendered with its trailing comma; empty when `refused` says why not.
  std::string rule;
  std::optional<rules::Rule> rule_value;  ///< The same rule, typed (rules::parse_rule of it).
  std::string refused;
  std::vector<Alternative> alternatives;
  Explanation why;
  SeverityAssessment severity;
  Guardrail guardrail;  ///< Set when the rule needs an explicit confirmation / `--force`.
  std::vector<TargetChoice> targets;
  std::optional<size_t> pair;  ///< Pair id shared by the two sides of a peer access.
  bool peer_side = false;      ///< Added by the peer cross-check (no denial logged for it).
  bool unverified = false;     ///< Some evidence is text anyone could have written.
  bool complain = false;       ///< Evidence is complain-mode ALLOWED records.
  bool profile_in_tree = true;
  std::string vm_name;  ///< For libvirt-<uuid> guests, when the caller knows the name.
};

struct AnalyzeOptions {
  /// libvirt guest UUID → VM name (the CLI reads domain XML; the analyzer does not).
  std::map<std::string, std::string> vm_names;
  /// Whose USER_AVC records are trusted (the CLI adds the D-Bus daemon's uid to root).
  TrustPolicy trust;
  /// The site's own additions to the guardrail list (config `risk`): AppArmor patterns or
  /// directories; a file grant on a matching path needs the same confirmation/--force.
  std::vector<std::string> risky_paths;
};

struct Analysis {
  Grouped grouped;
  std::vector<Proposal> proposals;  ///< Riskiest first; pairs adjacent.
};

/// Groups `events` and proposes rules for them against `policy`.
[[nodiscard]] Analysis analyze(std::span<const LoggedEvent> events, const PolicyView& policy,
                               const AnalyzeOptions& options = {});

/// Literal path quoting: AARE-special characters are escaped so a logged name can never widen a
/// rule; quoted when it contains blanks. Refuses (with the reason) names that cannot be a rule.
[[nodiscard]] std::expected<std::string, std::string> quote_literal_path(std::string_view path);

}  // namespace aatune::analyzer
