// File permission masks as the kernel logs them, folded into rule permissions.
#pragma once

#include <string>
#include <string_view>

namespace aatune::analyzer {

/// Rule permissions for a logged file mask, in AppArmor's canonical order (m r w a l k).
/// The kernel logs create (`c`), delete (`d`) and attribute changes as their own letters; policy
/// grants all of them with `w`. `w` implies `a` (the parser rejects both together). Exec (`x`)
/// is not a file permission here: exec groups get an exec mode instead. Old kernels wrote
/// `r::` / `::r` (owner::other); the colons are ignored.
[[nodiscard]] std::string file_perms_from_mask(std::string_view logged_mask);

/// Union of two permission strings, canonical order: merge_perms("r", "w") == "rw".
[[nodiscard]] std::string merge_perms(std::string_view a, std::string_view b);

}  // namespace aatune::analyzer
