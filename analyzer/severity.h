// A simple, documented risk ranking of what a proposal would grant (docs/suggest.md, "Severity").
// Used to order proposals (riskiest first) and to warn before dangerous grants.
#pragma once

#include <string>
#include <string_view>

#include "analyzer/grouping.h"
#include "rules/rule.h"

namespace aatune::analyzer {

enum class Severity { kLow = 0, kMedium = 1, kHigh = 2, kCritical = 3 };

[[nodiscard]] std::string_view to_string(Severity severity);

struct SeverityAssessment {
  Severity level = Severity::kLow;
  std::string reason;  ///< Why, in a few words ("write under /etc"); empty for kLow.
};

/// Rates the grant a group asks for. `file_perms` are the rule permissions proposed for a file
/// group (after mask folding, e.g. "rw"); `exec_mode` the proposed exec transition ("ix", "Px",
/// "PUx", "ux"…), empty when not an exec.
[[nodiscard]] SeverityAssessment assess_severity(const GroupKey& key, std::string_view file_perms,
                                                 std::string_view exec_mode);

/// A grant that widens a confinement a lot (docs/security.md, "Risk guardrails"): it needs an
/// explicit confirmation naming `reason`, and `apply --all` takes it only with `--force`.
struct Guardrail {
  bool needs_force = false;
  std::string reason;  ///< e.g. "write under /etc"; empty when !needs_force.
};

/// The guardrail for one rule as it would be written. The list: file writes (w, a) under /etc,
/// /usr, /boot, /lib*, /sys, /proc/sys; `**` at the top of a tree (`/**`, `/etc/**`,
/// `@{HOME}/**`); exec modes that may run unconfined (ux Ux pux PUx cux CUx); capabilities
/// sys_admin sys_module sys_ptrace mac_admin mac_override dac_override sys_rawio (or all
/// capabilities); ptrace trace whose peer may be unconfined. Deny rules never need force.
[[nodiscard]] Guardrail guardrail_for_rule(const rules::Rule& rule);

}  // namespace aatune::analyzer
