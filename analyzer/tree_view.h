// PolicyView over a profile tree read from disk by the rules module (rules::read_profile_tree).
#pragma once

#include "analyzer/policy_view.h"
#include "rules/profile_tree.h"

namespace aatune::analyzer {

/// Answers the analyzer's questions from a rules::ProfileTree. Holds a reference: the tree must
/// outlive the view.
class TreeView final : public PolicyView {
 public:
  explicit TreeView(const rules::ProfileTree& tree) : tree_(tree) {}

  [[nodiscard]] bool has_profile(std::string_view name) const override;
  [[nodiscard]] bool in_complain_mode(std::string_view name) const override;
  [[nodiscard]] std::optional<std::string> profile_for_program(
      std::string_view path) const override;
  [[nodiscard]] CoverageAnswer coverage(std::string_view profile,
                                        const Request& request) const override;
  [[nodiscard]] std::vector<std::string> exec_modes_used(std::string_view profile) const override;
  [[nodiscard]] std::vector<std::pair<std::string, std::vector<std::string>>> variables()
      const override;
  [[nodiscard]] std::vector<std::pair<std::string, RuleSite>> abstractions_allowing(
      const Request& request) const override;
  [[nodiscard]] bool uses_profile_name_variable() const override;
  [[nodiscard]] std::vector<TargetFile> target_files(std::string_view profile) const override;

 private:
  const rules::ProfileTree& tree_;
};

}  // namespace aatune::analyzer
