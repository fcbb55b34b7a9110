// A simple, documented risk ranking of what a proposal would grant (docs/suggest.md, "Severity").
// Used to order proposals (riskiest first) and to warn before dangerous grants.
#pragma once

#include <string>
#include <string_view>

#include "analyzer/grouping.h"

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

}  // namespace aatune::analyzer
