// Following a growing log file with `tail -F` semantics: rotation (a new inode under the same
// name: the rest of the old file is read first), copy-truncate (the file got shorter), and a file
// that appears only later.
#pragma once

#include <cstdint>
#include <expected>
#include <string>
#include <vector>

namespace aatune::collector {

class FollowSource {
 public:
  /// `from_start`: read what is already in the file first; otherwise start at its current end.
  /// A missing file is not an error: it is picked up when it appears.
  explicit FollowSource(std::string path, bool from_start = false);
  FollowSource(FollowSource&& other) noexcept;
  FollowSource& operator=(FollowSource&& other) noexcept;
  FollowSource(const FollowSource&) = delete;
  FollowSource& operator=(const FollowSource&) = delete;
  ~FollowSource();

  /// Complete lines appended since the last call (a partial last line waits for its newline,
  /// except at the end of a rotated-away file, which is final). Never blocks; call it
  /// periodically.
  [[nodiscard]] std::expected<std::vector<std::string>, std::string> poll();

  [[nodiscard]] const std::string& path() const { return path_; }
  /// Rotations and truncations noticed so far (reported, so the user knows why counts restart).
  [[nodiscard]] uint64_t reopened() const { return reopened_; }

 private:
  /// Reads the open file from offset_ to its end (bounded), appending complete lines.
  std::expected<void, std::string> read_open(std::vector<std::string>& lines, bool& at_end);
  void close_file();

  std::string path_;
  bool from_start_;
  int fd_ = -1;  ///< Kept open across polls, so lines written just before a rotation are read.
  uint64_t device_ = 0;
  uint64_t inode_ = 0;
  uint64_t offset_ = 0;
  uint64_t reopened_ = 0;
  bool opened_once_ = false;
  std::string partial_;
};

}  // namespace aatune::collector
