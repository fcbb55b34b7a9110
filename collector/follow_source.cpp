#include "collector/follow_source.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <utility>

namespace aatune::collector {
namespace {

// Bound one poll's work so a huge backlog cannot starve the caller's other sources.
constexpr size_t kMaxBytesPerPoll = 8 << 20;

std::string error_text(const std::string& path, int err) {
  return path + ": " + std::strerror(err);
}

}  // namespace

FollowSource::FollowSource(std::string path, bool from_start)
    : path_(std::move(path)), from_start_(from_start) {
  // The starting point is now, not the first poll: lines written in between are new lines.
  const int fd = ::open(path_.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    // Not there yet: whatever appears under the name later is all new. Other errors are
    // reported by poll(), which tries again.
    if (errno == ENOENT) from_start_ = true;
    return;
  }
  struct stat st {};
  if (::fstat(fd, &st) != 0) {
    ::close(fd);
    return;
  }
  fd_ = fd;
  opened_once_ = true;
  device_ = st.st_dev;
  inode_ = st.st_ino;
  offset_ = from_start_ ? 0 : static_cast<uint64_t>(st.st_size);
}

FollowSource::FollowSource(FollowSource&& other) noexcept
    : path_(std::move(other.path_)),
      from_start_(other.from_start_),
      fd_(std::exchange(other.fd_, -1)),
      device_(other.device_),
      inode_(other.inode_),
      offset_(other.offset_),
      reopened_(other.reopened_),
      opened_once_(other.opened_once_),
      partial_(std::move(other.partial_)) {}

FollowSource& FollowSource::operator=(FollowSource&& other) noexcept {
  if (this != &other) {
    close_file();
    path_ = std::move(other.path_);
    from_start_ = other.from_start_;
    fd_ = std::exchange(other.fd_, -1);
    device_ = other.device_;
    inode_ = other.inode_;
    offset_ = other.offset_;
    reopened_ = other.reopened_;
    opened_once_ = other.opened_once_;
    partial_ = std::move(other.partial_);
  }
  return *this;
}

FollowSource::~FollowSource() {
  close_file();
}

void FollowSource::close_file() {
  if (fd_ >= 0) ::close(fd_);
  fd_ = -1;
}

std::expected<void, std::string> FollowSource::read_open(std::vector<std::string>& lines,
                                                         bool& at_end) {
  struct stat st {};
  if (::fstat(fd_, &st) != 0) return std::unexpected(error_text(path_, errno));
  const auto size = static_cast<uint64_t>(st.st_size);
  if (size < offset_) {
    // Copy-truncate: the same file was emptied and written again.
    offset_ = 0;
    partial_.clear();
    ++reopened_;
  }
  at_end = true;
  if (size == offset_) return {};
  const uint64_t want = size - offset_;
  std::string chunk(std::min<uint64_t>(want, kMaxBytesPerPoll), '\0');
  const ssize_t n = ::pread(fd_, chunk.data(), chunk.size(), static_cast<off_t>(offset_));
  if (n < 0) return std::unexpected(error_text(path_, errno));
  chunk.resize(static_cast<size_t>(n));
  offset_ += static_cast<uint64_t>(n);
  at_end = static_cast<uint64_t>(n) == want;
  size_t start = 0;
  for (size_t nl = chunk.find('\n'); nl != std::string::npos; nl = chunk.find('\n', start)) {
    partial_.append(chunk, start, nl - start);
    lines.push_back(std::move(partial_));
    partial_.clear();
    start = nl + 1;
  }
  partial_.append(chunk, start, std::string::npos);
  return {};
}

std::expected<std::vector<std::string>, std::string> FollowSource::poll() {
  std::vector<std::string> lines;
  bool at_end = true;
  if (fd_ >= 0) {
    // Finish what is already open first: after a rotation the logger may have written its last
    // lines into the old file, which only this descriptor still reaches.
    if (auto r = read_open(lines, at_end); !r) return std::unexpected(r.error());
    if (!at_end) return lines;
  }
  struct stat st {};
  if (::stat(path_.c_str(), &st) != 0) {
    const int err = errno;
    if (err == ENOENT) {
      // Not there yet (or mid-rotation): whatever appears under the name later is all new.
      if (!opened_once_) from_start_ = true;
      return lines;
    }
    return std::unexpected(error_text(path_, err));
  }
  if (fd_ >= 0 && st.st_dev == device_ && st.st_ino == inode_) return lines;
  const int fd = ::open(path_.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    const int err = errno;
    if (err == ENOENT) return lines;  // Renamed away between stat() and open().
    return std::unexpected(error_text(path_, err));
  }
  struct stat opened {};
  if (::fstat(fd, &opened) != 0) {
    const int err = errno;
    ::close(fd);
    return std::unexpected(error_text(path_, err));
  }
  if (fd_ >= 0) {
    // Rotated: the old file is finished, so its unterminated last line is final too. The new
    // file starts empty or with new lines only.
    if (!partial_.empty()) lines.push_back(std::exchange(partial_, {}));
    ++reopened_;
    offset_ = 0;
  } else if (!opened_once_) {
    offset_ = from_start_ ? 0 : static_cast<uint64_t>(opened.st_size);
  } else {
    offset_ = 0;
  }
  close_file();
  fd_ = fd;
  opened_once_ = true;
  device_ = opened.st_dev;
  inode_ = opened.st_ino;
  if (auto r = read_open(lines, at_end); !r) return std::unexpected(r.error());
  return lines;
}

}  // namespace aatune::collector
