// The profile content hash that decisions are tied to (issue 4): a decision about a denial holds
// while the files that make up the profile are unchanged, and the denial is offered again once
// they change on disk. Every command that records or checks a decision must use this one hash.
#pragma once

#include <string>
#include <string_view>

#include "rules/profile_tree.h"

namespace aatune::cli {

/// Hash over everything a rule for `profile` can be written into: the file defining it, its
/// `local/` override and, for libvirt guests, the `.files` include. A profile missing from the
/// tree hashes to a fixed "absent" value, so creating it later counts as a change.
[[nodiscard]] std::string profile_content_hash(const rules::ProfileTree& tree,
                                               std::string_view profile);

}  // namespace aatune::cli
