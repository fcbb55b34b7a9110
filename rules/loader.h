// Validating and loading policy with the real apparmor_parser, and committing a set of file edits
// as one transaction: lock, check unchanged, validate in a staging copy, back up, replace
// atomically, reload, and roll every file back if the reload fails.
#pragma once

#include <chrono>
#include <expected>
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include "rules/policy_file.h"

namespace aatune::rules {

/// A finished subprocess: its argv, exit status and its stdout+stderr as written (interleaved).
struct ProcessResult {
  std::vector<std::string> argv;
  int exit_code = -1;  ///< 128+N when killed by signal N.
  std::string output;
  [[nodiscard]] bool ok() const { return exit_code == 0; }
  /// argv joined with spaces, for messages.
  [[nodiscard]] std::string command_line() const;
};

/// Runs `argv` (no shell; argv[0] is searched in PATH when it has no '/'), stdin from /dev/null.
/// The error is for "could not start at all".
[[nodiscard]] std::expected<ProcessResult, std::string> run_process(
    const std::vector<std::string>& argv);

/// Which programs compile and load policy. Tests point `loader` at a recording script.
struct LoaderConfig {
  std::string parser = "/sbin/apparmor_parser";                 ///< For validation (-QTK).
  std::vector<std::string> loader = {"/sbin/apparmor_parser"};  ///< Gets -r FILE / -R FILE.
};

/// Compiles `profile_file` without loading it: `parser -QTK --base TREE -I TREE FILE`.
[[nodiscard]] std::expected<ProcessResult, std::string> validate(
    const std::filesystem::path& profile_file, const std::filesystem::path& tree,
    const LoaderConfig& cfg);
/// Loads or replaces the profiles of `profile_file` in the kernel: `loader -r FILE`.
[[nodiscard]] std::expected<ProcessResult, std::string> reload(
    const std::filesystem::path& profile_file, const LoaderConfig& cfg);
/// Removes the profiles of `profile_file` from the kernel: `loader -R FILE`.
[[nodiscard]] std::expected<ProcessResult, std::string> unload(
    const std::filesystem::path& profile_file, const LoaderConfig& cfg);

/// One file's new content (or its removal), against the snapshot it was computed from.
struct FileEdit {
  FileSnapshot old;
  std::string new_content;
  bool remove = false;  ///< Delete the file (undo of a file aatune created).
};

/// Edits applied together. `profile_files` are the files to compile and reload (a local/ override
/// is checked through the profile that includes it); edited files directly in the tree are added.
struct ChangeSet {
  std::string description;
  std::vector<FileEdit> edits;
  std::vector<std::filesystem::path> profile_files;

  /// The edit of `path` (resolved), adding one read from disk when there is none yet, so that
  /// several edits of one file compose. Errors: the file cannot be read.
  [[nodiscard]] std::expected<FileEdit*, FileError> edit_for(const std::filesystem::path& path);
  void add_profile_file(const std::filesystem::path& path);
};

struct CommitOptions {
  std::filesystem::path tree = "/etc/apparmor.d";
  std::filesystem::path state_dir;  ///< backups/ and staging/ live here.
  bool reload = true;               ///< false: everything else, and say what was skipped.
  bool dry_run = false;             ///< Validate and diff only.
  LoaderConfig loader;
  std::chrono::milliseconds lock_wait{2000};
};

struct FileDiff {
  std::filesystem::path path;
  std::string diff;  ///< unified diff, labels are the path.
};

struct CommitResult {
  std::vector<FileDiff> diffs;  ///< Only files that change.
  std::vector<ProcessResult> validations;
  std::vector<ProcessResult> reloads;
  std::optional<BackupManifest> backup;
  std::vector<std::string> skipped;  ///< What was not done and why ("reload of X: --no-reload").
  bool rolled_back = false;
  std::vector<ProcessResult> rollback_reloads;
  [[nodiscard]] bool changed() const { return !diffs.empty(); }
};

struct CommitError {
  enum class Kind { kUsage, kChanged, kLocked, kPermission, kIo, kValidation, kReload };
  Kind kind = Kind::kIo;
  std::string message;  ///< One line.
  CommitResult result;  ///< What had been done: outputs of the failed parser/loader runs.
};

/// Applies `cs` as one transaction; see the file comment. Nothing is written when validation
/// fails; when a reload fails every file is restored to its old bytes (and the profiles reloaded
/// before are reloaded again from the old files).
[[nodiscard]] std::expected<CommitResult, CommitError> commit(const ChangeSet& cs,
                                                              const CommitOptions& opts);

/// Default state dir: $AATUNE_STATE_DIR, else /var/lib/aatune for root, else
/// $XDG_STATE_HOME/aatune (or ~/.local/state/aatune).
[[nodiscard]] std::filesystem::path default_state_dir();

}  // namespace aatune::rules
