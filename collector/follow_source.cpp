#include "collector/follow_source.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <utility>

namespace aatune::collector {
namespace {

// Bound one poll's work so a huge backlog cannot starve the caller's other sources.
constexpr size_t kMaxBytesPerPoll = 8 << 20;

class Fd {
 public:
  explicit Fd(int fd) : fd_(fd) {}
  Fd(const Fd&) = delete;
  Fd& operator=(const Fd&) = delete;
  ~Fd() {
    if (fd_ >= 0) ::close(fd_);
  }
  int get() const { return fd_; }

 private:
  int fd_;
};

}  // namespace

FollowSource::FollowSource(std::string path, bool from_start)
    : path_(std::move(path)), from_start_(from_start) {}

std::expected<std::vector<std::string>, std::string> FollowSource::poll() {
  std::vector<std::string> lines;
  Fd fd(::open(path_.c_str(), O_RDONLY | O_CLOEXEC));
  if (fd.get() < 0) {
    if (errno == ENOENT) {
      // Not there yet (or mid-rotation): whatever appears under the name later is all new.
      if (!opened_once_) from_start_ = true;
      return lines;
    }
    return std::unexpected(path_ + ": " + std::strerror(errno));
  }
  struct stat st {};
  if (::fstat(fd.get(), &st) != 0) return std::unexpected(path_ + ": " + std::strerror(errno));
  const auto size = static_cast<uint64_t>(st.st_size);
  if (!opened_once_) {
    opened_once_ = true;
    device_ = st.st_dev;
    inode_ = st.st_ino;
    offset_ = from_start_ ? 0 : size;
  } else if (st.st_dev != device_ || st.st_ino != inode_) {
    // Rotated: the name now points at a new file, which starts empty or with new lines only.
    device_ = st.st_dev;
    inode_ = st.st_ino;
    offset_ = 0;
    partial_.clear();
    ++reopened_;
  } else if (size < offset_) {
    // Copy-truncate: the same file was emptied and written again.
    offset_ = 0;
    partial_.clear();
    ++reopened_;
  }
  if (size == offset_) return lines;
  std::string chunk(std::min<uint64_t>(size - offset_, kMaxBytesPerPoll), '\0');
  const ssize_t n = ::pread(fd.get(), chunk.data(), chunk.size(), static_cast<off_t>(offset_));
  if (n < 0) return std::unexpected(path_ + ": " + std::strerror(errno));
  chunk.resize(static_cast<size_t>(n));
  offset_ += static_cast<uint64_t>(n);
  size_t start = 0;
  for (size_t nl = chunk.find('\n'); nl != std::string::npos; nl = chunk.find('\n', start)) {
    partial_.append(chunk, start, nl - start);
    lines.push_back(std::move(partial_));
    partial_.clear();
    start = nl + 1;
  }
  partial_.append(chunk, start, std::string::npos);
  return lines;
}

}  // namespace aatune::collector
