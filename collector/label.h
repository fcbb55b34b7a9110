// AppArmor label text, split into its parts (records.md §1.3). Pure; no policy knowledge.
#pragma once

#include <string>
#include <string_view>
#include <vector>

namespace aatune::collector {

/// One profile of a label: `:ns:/usr/bin/foo//hat` → ns "ns", profile "/usr/bin/foo//hat",
/// root "/usr/bin/foo", children {"hat"}.
struct LabelPart {
  std::string ns;       ///< Policy namespace from the `:ns:` prefix; empty for the viewer's own.
  std::string profile;  ///< Full hierarchical name (children joined with `//`).
  std::string root;     ///< The top-level profile.
  std::vector<std::string> children;  ///< Child profiles / hats, outermost first.
};

/// Splits a label into its stack (`a//&b`), dropping a trailing mode suffix (` (enforce)`).
/// An empty label gives an empty vector.
[[nodiscard]] std::vector<LabelPart> split_label(std::string_view label);

}  // namespace aatune::collector
