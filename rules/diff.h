// Unified diffs of policy files, as `diff -u` prints them: what aatune shows before it writes.
#pragma once

#include <string>
#include <string_view>

namespace aatune::rules {

/// `diff -u --label old_label --label new_label` of two texts, line by line (Myers' shortest edit
/// script). Empty when the texts are equal. A last line without '\n' gets diff's
/// "\ No newline at end of file" marker.
[[nodiscard]] std::string unified_diff(std::string_view old_text, std::string_view new_text,
                                       std::string_view old_label, std::string_view new_label,
                                       int context = 3);

}  // namespace aatune::rules
