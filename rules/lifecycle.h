// Profile-level operations on a policy tree: find the file defining a profile, plan rule
// additions (profile file, local/ override, libvirt .files include), disable/enable, complain/
// enforce, and undo of committed change sets. Every file change goes through commit().
#pragma once

#include <expected>
#include <filesystem>
#include <functional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "rules/loader.h"

namespace aatune::rules {

/// Where a profile is defined.
struct ProfileLocation {
  std::string name;                 ///< Full name ("parent//child" for children and hats).
  std::filesystem::path file;       ///< The policy file defining it.
  std::vector<std::string> others;  ///< Other top-level profiles defined in the same file.
};

/// Every profile (children and hats included) defined by the tree's top-level files and
/// libvirt/libvirt-* files. Backup, dot and package-manager leftover files are ignored.
[[nodiscard]] std::vector<ProfileLocation> list_profiles(const std::filesystem::path& tree);

/// The file defining `name`. kUsage error: "no profile 'x' in TREE" with a "did you mean".
[[nodiscard]] std::expected<ProfileLocation, CommitError> find_profile(
    const std::filesystem::path& tree, std::string_view name);

/// Where new rules go.
enum class RuleTarget {
  kProfile,  ///< The profile's own block in its file.
  kLocal,    ///< The local/ override the profile includes (created, and included, if missing).
  kLibvirt,  ///< libvirt/<profile>.files, the include virt-aa-helper writes for a guest.
};

/// What planning a rule addition found.
struct RulePlan {
  std::vector<std::string> added;
  std::vector<std::string> present;   ///< Already there; not added again.
  std::vector<std::string> warnings;  ///< For the user, e.g. that a file is regenerated.
};

/// Adds `rules` for `profile` to `cs` (composing with edits already in it) according to
/// `target`, and registers the profile file to validate/reload.
[[nodiscard]] std::expected<RulePlan, CommitError> plan_rules(ChangeSet& cs,
                                                              const std::filesystem::path& tree,
                                                              std::string_view profile,
                                                              std::span<const std::string> rules,
                                                              RuleTarget target);

/// Result of a lifecycle action: what happened, for the CLI to print.
struct ActionResult {
  std::vector<std::string> messages;     ///< Plain sentences, in order.
  CommitResult commit;                   ///< For complain/enforce/undo; `backup` for every action.
  std::vector<ProcessResult> processes;  ///< Loader runs of disable/enable (and their undo).
  std::vector<std::string> skipped;
  std::vector<std::filesystem::path> files;  ///< Profile files the action was about.
};

/// Receives, before anything is changed, what an action touches besides the named profile (other
/// profiles defined in the same file). Without one, those sentences go into `messages`.
using BeforeNotice = std::function<void(const std::string&)>;

/// Unloads the profile's file (`loader -R`) and links it into <tree>/disable/. Recorded under
/// <state_dir>/backups so that `undo_changes` can reverse it.
[[nodiscard]] std::expected<ActionResult, CommitError> disable_profile(
    std::string_view name, const CommitOptions& opts, const BeforeNotice& before = {});
/// Removes the disable/ link and loads the file (`loader -r`); recorded like disable.
[[nodiscard]] std::expected<ActionResult, CommitError> enable_profile(
    std::string_view name, const CommitOptions& opts, const BeforeNotice& before = {});
/// Sets (complain=true) or clears flags=(complain) on the profile's header.
[[nodiscard]] std::expected<ActionResult, CommitError> set_profile_mode(
    std::string_view name, bool complain, const CommitOptions& opts,
    const BeforeNotice& before = {});
/// Reverses the last `count` recorded changes of this tree, newest first: restores the files of
/// applied rules and complain/enforce edits (validated and reloaded through commit()), removes the
/// disable/ link of a disable and loads the profile again, or puts back the link of an enable and
/// unloads the profile. Refuses a file or link changed since.
[[nodiscard]] std::expected<ActionResult, CommitError> undo_changes(size_t count,
                                                                    const CommitOptions& opts);

}  // namespace aatune::rules
