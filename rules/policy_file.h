// Policy files on disk, changed safely: read with a content hash, replace atomically (a file is
// always either its old or its new content), keep backups with a manifest for `undo`, and an
// advisory lock so two aatune processes never interleave edits of one tree.
//
// Symlinks: a profile that is a symlink (distribution trees sometimes link profiles from
// elsewhere) is edited where it points: the resolved file is replaced and the link is kept, so
// the link keeps working and the package's file gets the change, as an editor would do.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <expected>
#include <filesystem>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace aatune::rules {

/// Why a file operation failed; `message` is one line naming the file.
struct FileError {
  enum class Kind { kIo, kPermission, kNoSpace, kChanged, kLocked, kCorrupt };
  Kind kind = Kind::kIo;
  std::string message;
};

/// A file as read: its bytes, their hash and the metadata a replacement must keep.
struct FileSnapshot {
  std::filesystem::path path;      ///< As given.
  std::filesystem::path resolved;  ///< Symlinks resolved: what is read and what gets replaced.
  bool exists = false;             ///< False: the file is to be created.
  std::string content;
  std::string hash;  ///< content_hash(content).
  mode_t mode = 0644;
  uid_t uid = 0;
  gid_t gid = 0;
};

/// A stable 64-bit FNV-1a hash of `content`, 16 hex digits.
[[nodiscard]] std::string content_hash(std::string_view content);

/// Reads `path`. A missing file is not an error (exists=false, empty content).
[[nodiscard]] std::expected<FileSnapshot, FileError> read_snapshot(
    const std::filesystem::path& path);

/// Replaces `old.resolved` with `content`: temp file `.aatune-tmp-*` in the same directory, all
/// bytes written and fsync'ed, mode/owner of the old file, then rename() over the target and an
/// fsync of the directory. Refuses (kChanged) when the file no longer matches `old`. On any error
/// the old file is intact and the temp file is gone.
[[nodiscard]] std::expected<void, FileError> atomic_replace(const FileSnapshot& old,
                                                            std::string_view content);

/// Removes a file that still matches `old` (undo of a file aatune created), then fsyncs its
/// directory.
[[nodiscard]] std::expected<void, FileError> remove_unchanged(const FileSnapshot& old);

/// Deletes `.aatune-tmp-*` files left in `dir` by a process that was killed; call under the lock.
/// Returns how many were removed.
size_t remove_stale_temp_files(const std::filesystem::path& dir);

/// An exclusive advisory lock (flock) on a lock file, held while the object lives.
class TreeLock {
 public:
  /// Takes the lock, retrying until `wait` has passed; kLocked names the lock file when another
  /// process keeps it.
  [[nodiscard]] static std::expected<TreeLock, FileError> acquire(
      const std::filesystem::path& lock_file,
      std::chrono::milliseconds wait = std::chrono::milliseconds(0));
  TreeLock(TreeLock&& other) noexcept;
  TreeLock& operator=(TreeLock&& other) noexcept;
  TreeLock(const TreeLock&) = delete;
  TreeLock& operator=(const TreeLock&) = delete;
  ~TreeLock();

 private:
  explicit TreeLock(int fd) : fd_(fd) {}
  int fd_ = -1;
};

/// What to lock to guard edits of the policy tree `tree`: the tree directory itself, so that
/// taking the lock creates no file in it.
[[nodiscard]] std::filesystem::path lock_file_for(const std::filesystem::path& tree);

/// One file of a backup.
struct BackupEntry {
  std::filesystem::path target;  ///< The (resolved) file that was replaced.
  std::filesystem::path path;    ///< The file as the change named it (a link in the tree).
                                 ///< Empty in manifests written before it existed.
  bool existed = true;           ///< False: aatune created it; undo removes it.
  std::string stored;            ///< Path of the saved old content, relative to the backup dir.
  std::string old_hash;
  std::string new_hash;
};

/// A link in `<tree>/disable/` that a lifecycle action created (disable) or removed (enable); undo
/// reverses it.
struct LinkChange {
  std::filesystem::path link;    ///< <tree>/disable/<file>.
  std::filesystem::path target;  ///< What the link points (pointed) to.
  bool created = true;           ///< true: `disable` made it; false: `enable` removed it.
};

/// A change set's backup: `<backups_root>/<id>/manifest.json` + `files/...`; for disable/enable,
/// the link change instead of files.
struct BackupManifest {
  std::filesystem::path dir;
  std::string id;  ///< Sortable: "YYYYmmddTHHMMSS.uuuuuu-<pid>".
  std::string created;
  std::string description;
  std::filesystem::path tree;
  std::vector<BackupEntry> entries;
  std::vector<std::filesystem::path> profile_files;  ///< To validate and reload after a restore.
  std::optional<LinkChange> link;                    ///< Set for disable/enable.
  bool undone = false;
};

/// Saves the old content of every snapshot under a new backup dir in `backups_root` and writes
/// its manifest (atomically) before anything is replaced. `new_contents[i]` belongs to
/// `olds[i]`.
[[nodiscard]] std::expected<BackupManifest, FileError> create_backup(
    const std::filesystem::path& backups_root, const std::filesystem::path& tree,
    std::string_view description, std::span<const FileSnapshot> olds,
    std::span<const std::string> new_contents,
    std::span<const std::filesystem::path> profile_files);

/// Records a disable/enable link change under a new backup dir in `backups_root` (a manifest and
/// no files), so that `undo` can reverse it. Written before the link is touched.
[[nodiscard]] std::expected<BackupManifest, FileError> record_link_change(
    const std::filesystem::path& backups_root, const std::filesystem::path& tree,
    std::string_view description, const LinkChange& link,
    std::span<const std::filesystem::path> profile_files);

/// Rewrites the manifest of `m` (e.g. after marking it undone).
[[nodiscard]] std::expected<void, FileError> write_manifest(const BackupManifest& m);

/// Every backup under `backups_root` that has a readable manifest, oldest first.
[[nodiscard]] std::expected<std::vector<BackupManifest>, FileError> list_backups(
    const std::filesystem::path& backups_root);

/// The saved old content of `e`.
[[nodiscard]] std::expected<std::string, FileError> read_backup(const BackupManifest& m,
                                                                const BackupEntry& e);

}  // namespace aatune::rules
