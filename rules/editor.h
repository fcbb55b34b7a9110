// Minimal textual edits of AppArmor profile files: insert rendered rule lines into a profile block,
// keep a local/ override included, set or clear flags=(complain). Pure functions: text in, text
// out; everything the edit does not need to touch stays byte-for-byte identical.
#pragma once

#include <cstddef>
#include <expected>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace aatune::rules {

/// One profile, hat or child-profile block found in a policy file.
struct ProfileBlock {
  std::string name;        ///< Full name: "parent//child" for children and hats (no '^').
  std::string local_name;  ///< The name as written in its own header, without '^'.
  bool is_hat = false;
  size_t header_begin = 0;  ///< Offset of the first non-blank character of the header.
  size_t open = 0;          ///< Offset of the block's '{'.
  size_t close = 0;         ///< Offset of the matching '}'.
  size_t header_line = 0;   ///< 1-based line numbers: where the header starts,
  size_t open_line = 0;     ///< where its '{' is (later when the header spans lines),
  size_t close_line = 0;    ///< and where the matching '}' is.
  int depth = 0;            ///< 0 for a top-level profile.
};

/// A failed edit; `line` is 1-based, 0 when the whole file is meant.
struct EditError {
  std::string message;
  size_t line = 0;
};

/// Every profile/hat block in `text`, in order of their headers. Braces in comments, quoted strings
/// and AARE alternations (`/usr/{bin,sbin}/x`) are ignored. A header may span lines
/// (`profile foo /usr/bin/foo` then `flags=(complain) {`, or `{` alone on the next line): it starts
/// after the previous statement. Errors: unbalanced braces.
[[nodiscard]] std::expected<std::vector<ProfileBlock>, EditError> find_profile_blocks(
    std::string_view text);

/// The block of profile `name` ("p", "p//child", "p//^hat" and "p//hat" all work).
[[nodiscard]] std::expected<ProfileBlock, EditError> find_profile_block(std::string_view text,
                                                                        std::string_view name);

/// A rule line with comments stripped and whitespace collapsed; used to decide "already present".
[[nodiscard]] std::string normalize_rule(std::string_view line);

/// What an insertion did.
struct InsertResult {
  std::string text;                  ///< The new file content (== input when nothing was added).
  std::vector<std::string> added;    ///< Rule lines added, in order.
  std::vector<std::string> present;  ///< Rule lines skipped because they were already there.
};

/// Inserts `rules` (already rendered, e.g. "/usr/lib/qemu/virtiofsd PUx,") into the block of
/// `profile`, after its last statement and before its closing '}', indented like its rules.
[[nodiscard]] std::expected<InsertResult, EditError> insert_rules(
    std::string_view text, std::string_view profile, std::span<const std::string> rules);

/// Inserts `rules` at the top level of a file that is included inside a profile block (a local/
/// override or a libvirt `.files` include): appended at the end.
[[nodiscard]] std::expected<InsertResult, EditError> insert_top_level_rules(
    std::string_view text, std::span<const std::string> rules);

/// Makes sure the block of `profile` includes `include_path` (e.g. "local/usr.sbin.foo"), adding
/// `include if exists <include_path>` when neither `include` nor `#include` (with or without
/// `if exists`) of it is there.
[[nodiscard]] std::expected<InsertResult, EditError> ensure_include(std::string_view text,
                                                                    std::string_view profile,
                                                                    std::string_view include_path);

/// The include path of the local override used by `profile`: the one its block already includes
/// (`local/...`), else "local/<file_basename>" for a top-level profile, else
/// "local/<file_basename>.<child>" (with '/' of deeper names written as '.'). Error when the result
/// is not a plain relative path below the tree (absolute, empty, `.` or `..` component, control
/// byte): a crafted include or profile name must never steer a write outside the tree.
[[nodiscard]] std::expected<std::string, EditError> local_include_path(
    std::string_view text, std::string_view profile, std::string_view file_basename);

/// The content of a new local override file (a header comment only).
[[nodiscard]] std::string new_local_override(std::string_view profile);

/// Sets (`complain`=true) or clears the `complain` flag on the header of `profile`, keeping every
/// other flag; adds `flags=(complain)` where there is no flags clause and removes the clause when
/// it becomes empty. Unchanged text when the profile is already in that mode.
[[nodiscard]] std::expected<std::string, EditError> set_complain_flag(std::string_view text,
                                                                      std::string_view profile,
                                                                      bool complain);

/// The flags of `profile`'s header, in written order (empty when none).
[[nodiscard]] std::expected<std::vector<std::string>, EditError> profile_flags(
    std::string_view text, std::string_view profile);

}  // namespace aatune::rules
