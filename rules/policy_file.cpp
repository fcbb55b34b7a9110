#include "rules/policy_file.h"

#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <ctime>
#include <fstream>
#include <nlohmann/json.hpp>
#include <optional>
#include <sstream>
#include <system_error>
#include <thread>
#include <type_traits>
#include <utility>

#include "rules/text.h"

namespace aatune::rules {
namespace fs = std::filesystem;

namespace {

using text::cat;

constexpr std::string_view kTempPrefix = ".aatune-tmp-";

// Owns a file descriptor.
class Fd {
 public:
  explicit Fd(int fd) : fd_(fd) {}
  Fd(const Fd&) = delete;
  Fd& operator=(const Fd&) = delete;
  ~Fd() {
    if (fd_ >= 0) ::close(fd_);
  }
  int get() const { return fd_; }
  // Closes now, reporting the error close() found (NFS reports write errors there).
  int close() { return ::close(std::exchange(fd_, -1)); }

 private:
  int fd_;
};

FileError errno_error(const fs::path& path, std::string_view what, int err) {
  FileError::Kind kind = FileError::Kind::kIo;
  if (err == EACCES || err == EPERM || err == EROFS) kind = FileError::Kind::kPermission;
  if (err == ENOSPC || err == EFBIG || err == EDQUOT) kind = FileError::Kind::kNoSpace;
  return FileError{kind, cat(path.string(), ": ", what, ": ", std::strerror(err))};
}

std::expected<std::string, FileError> read_all(const fs::path& path, int& err) {
  Fd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (fd.get() < 0) {
    err = errno;
    return std::unexpected(errno_error(path, "cannot read", errno));
  }
  std::string out;
  char buf[65536];
  for (;;) {
    const ssize_t n = ::read(fd.get(), buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      err = errno;
      return std::unexpected(errno_error(path, "cannot read", errno));
    }
    if (n == 0) break;
    out.append(buf, static_cast<size_t>(n));
  }
  err = 0;
  return out;
}

std::expected<void, FileError> fsync_dir(const fs::path& dir) {
  Fd fd(::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (fd.get() < 0) return std::unexpected(errno_error(dir, "cannot open directory", errno));
  if (::fsync(fd.get()) != 0 && errno != EINVAL) {
    return std::unexpected(errno_error(dir, "cannot sync directory", errno));
  }
  return {};
}

// The file must still be what the caller read: same existence, same bytes.
std::expected<void, FileError> check_unchanged(const FileSnapshot& old) {
  int err = 0;
  auto now = read_all(old.resolved, err);
  if (!now && err != ENOENT) return std::unexpected(now.error());
  const bool exists = now.has_value();
  if (exists != old.exists || (exists && *now != old.content)) {
    return std::unexpected(FileError{FileError::Kind::kChanged,
                                     cat(old.path.string(),
                                         ": changed on disk since it was read; nothing written "
                                         "(run again to redo the change on the new content)")});
  }
  return {};
}

std::expected<void, FileError> write_fd(int fd, std::string_view content, const fs::path& path) {
  size_t done = 0;
  while (done < content.size()) {
    const ssize_t n = ::write(fd, content.data() + done, content.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return std::unexpected(errno_error(path, "cannot write", errno));
    done += static_cast<size_t>(n);
  }
  return {};
}

// Writes `content` to a new temp file beside `target` and renames it over `target`.
std::expected<void, FileError> replace_with(const fs::path& target, std::string_view content,
                                            const FileSnapshot* meta) {
  const fs::path dir = target.parent_path();
  if (meta && !meta->exists) {
    // A new file (a local/ override) may need its directory.
    std::error_code ec;
    fs::create_directories(dir, ec);
  }
  std::string tmpl = (dir / cat(kTempPrefix, target.filename().string(), "-XXXXXX"));
  const int raw = ::mkstemp(tmpl.data());
  if (raw < 0 && meta != nullptr && errno == EACCES) {
    // `meta` is only given for files of the profile tree (atomic_replace), never the state dir.
    // EACCES is a missing write permission; EPERM (immutable) and EROFS keep the system's words,
    // since running as root would not help there.
    return std::unexpected(FileError{FileError::Kind::kPermission,
                                     cat("permission denied writing ", target.string(),
                                         ": need write access to the profile tree (run as root)")});
  }
  if (raw < 0) return std::unexpected(errno_error(target, "cannot create a temp file", errno));
  Fd fd(raw);
  const fs::path tmp(tmpl);
  auto fail = [&](FileError e) -> std::expected<void, FileError> {
    ::unlink(tmp.c_str());
    e.message += " (file left unchanged)";
    return std::unexpected(std::move(e));
  };
  if (auto w = write_fd(fd.get(), content, target); !w) return fail(w.error());
  const mode_t mode = meta && meta->exists ? meta->mode : 0644;
  if (::fchmod(fd.get(), mode & 07777) != 0) {
    return fail(errno_error(target, "cannot set mode", errno));
  }
  if (meta && meta->exists && (meta->uid != ::geteuid() || meta->gid != ::getegid())) {
    if (::fchown(fd.get(), meta->uid, meta->gid) != 0) {
      return fail(errno_error(target, "cannot keep owner", errno));
    }
  }
  if (::fsync(fd.get()) != 0) return fail(errno_error(target, "cannot sync", errno));
  if (fd.close() != 0) return fail(errno_error(target, "cannot write", errno));
  // A file that reads back wrong must not replace a good one.
  int err = 0;
  auto back = read_all(tmp, err);
  if (!back) return fail(back.error());
  if (*back != content) {
    return fail(
        FileError{FileError::Kind::kIo, cat(target.string(), ": temp file read back differs")});
  }
  if (meta) {
    if (auto c = check_unchanged(*meta); !c) return fail(c.error());
  }
  if (::rename(tmp.c_str(), target.c_str()) != 0) {
    return fail(errno_error(target, "cannot replace", errno));
  }
  return fsync_dir(dir);
}

std::string timestamp_id() {
  const auto now = std::chrono::system_clock::now();
  const auto secs = std::chrono::floor<std::chrono::seconds>(now);
  const auto us = std::chrono::duration_cast<std::chrono::microseconds>(now - secs).count();
  const std::time_t t = std::chrono::system_clock::to_time_t(secs);
  std::tm tm{};
  ::gmtime_r(&t, &tm);
  char buf[64];
  std::strftime(buf, sizeof buf, "%Y%m%dT%H%M%S", &tm);
  char id[96];
  std::snprintf(id, sizeof id, "%s.%06lld-%d", buf, static_cast<long long>(us),
                static_cast<int>(::getpid()));
  return id;
}

std::string iso_now() {
  const std::time_t t = std::chrono::system_clock::to_time_t(std::chrono::system_clock::now());
  std::tm tm{};
  ::gmtime_r(&t, &tm);
  char buf[64];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
  return buf;
}

fs::path stored_path_for(const fs::path& tree, const fs::path& target) {
  std::error_code ec;
  const fs::path base = fs::weakly_canonical(tree, ec);
  const fs::path rel = target.lexically_relative(base);
  if (!rel.empty() && *rel.begin() != "..") return fs::path("files") / rel;
  return fs::path("abs") / target.relative_path();
}

nlohmann::json to_json(const BackupManifest& m) {
  nlohmann::json entries = nlohmann::json::array();
  for (const BackupEntry& e : m.entries) {
    entries.push_back({{"target", e.target.string()},
                       {"path", e.path.string()},
                       {"existed", e.existed},
                       {"stored", e.stored},
                       {"old_hash", e.old_hash},
                       {"new_hash", e.new_hash}});
  }
  nlohmann::json profiles = nlohmann::json::array();
  for (const fs::path& p : m.profile_files) profiles.push_back(p.string());
  nlohmann::json j = {{"id", m.id},
                      {"profile_files", profiles},
                      {"created", m.created},
                      {"description", m.description},
                      {"tree", m.tree.string()},
                      {"undone", m.undone},
                      {"entries", entries}};
  if (m.link) {
    j["link"] = {{"path", m.link->link.string()},
                 {"target", m.link->target.string()},
                 {"created", m.link->created}};
  }
  return j;
}

// The manifest in `j` (of backup dir `dir`); nullopt when a field has the wrong type.
std::optional<BackupManifest> manifest_from_json(const nlohmann::json& j, const fs::path& dir) {
  try {
    BackupManifest m;
    m.dir = dir;
    m.id = j.value("id", dir.filename().string());
    m.created = j.value("created", "");
    m.description = j.value("description", "");
    m.tree = j.value("tree", "");
    m.undone = j.value("undone", false);
    for (const auto& p : j.value("profile_files", nlohmann::json::array())) {
      if (p.is_string()) m.profile_files.emplace_back(p.get<std::string>());
    }
    if (const auto l = j.find("link"); l != j.end() && l->is_object()) {
      m.link = LinkChange{l->value("path", ""), l->value("target", ""), l->value("created", true)};
    }
    for (const auto& e : j.value("entries", nlohmann::json::array())) {
      m.entries.push_back(BackupEntry{e.value("target", ""), e.value("path", ""),
                                      e.value("existed", true), e.value("stored", ""),
                                      e.value("old_hash", ""), e.value("new_hash", "")});
    }
    return m;
  } catch (const nlohmann::json::exception&) {
    return std::nullopt;
  }
}

}  // namespace

std::string content_hash(std::string_view content) {
  uint64_t h = 14695981039346656037ULL;
  for (unsigned char c : content) {
    h ^= c;
    h *= 1099511628211ULL;
  }
  char buf[17];
  std::snprintf(buf, sizeof buf, "%016llx", static_cast<unsigned long long>(h));
  return buf;
}

std::expected<FileSnapshot, FileError> read_snapshot(const fs::path& path) {
  FileSnapshot snap;
  snap.path = path;
  std::error_code ec;
  snap.resolved = fs::weakly_canonical(path, ec);
  if (ec) return std::unexpected(errno_error(path, "cannot resolve", ec.value()));
  int err = 0;
  auto content = read_all(snap.resolved, err);
  if (!content) {
    if (err != ENOENT) return std::unexpected(content.error());
    snap.uid = ::geteuid();
    snap.gid = ::getegid();
    snap.hash = content_hash("");
    return snap;
  }
  struct stat st {};
  if (::stat(snap.resolved.c_str(), &st) != 0) {
    return std::unexpected(errno_error(path, "cannot stat", errno));
  }
  snap.exists = true;
  snap.content = std::move(*content);
  snap.hash = content_hash(snap.content);
  snap.mode = st.st_mode & 07777;
  snap.uid = st.st_uid;
  snap.gid = st.st_gid;
  return snap;
}

std::expected<void, FileError> atomic_replace(const FileSnapshot& old, std::string_view content) {
  if (auto c = check_unchanged(old); !c) return c;
  return replace_with(old.resolved, content, &old);
}

std::expected<void, FileError> remove_unchanged(const FileSnapshot& old) {
  if (auto c = check_unchanged(old); !c) return c;
  if (!old.exists) return {};
  if (::unlink(old.resolved.c_str()) != 0) {
    return std::unexpected(errno_error(old.path, "cannot remove", errno));
  }
  return fsync_dir(old.resolved.parent_path());
}

size_t remove_stale_temp_files(const fs::path& dir) {
  size_t removed = 0;
  std::error_code ec;
  for (fs::directory_iterator it(dir, ec), end; !ec && it != end; it.increment(ec)) {
    const std::string name = it->path().filename().string();
    if (name.starts_with(kTempPrefix) && ::unlink(it->path().c_str()) == 0) ++removed;
  }
  return removed;
}

std::expected<TreeLock, FileError> TreeLock::acquire(const fs::path& lock_file,
                                                     std::chrono::milliseconds wait) {
  // A directory is locked through a read-only descriptor of itself (flock works on any open
  // file): locking the tree writes nothing into it, so a refused change leaves it byte-identical.
  std::error_code dir_ec;
  const bool is_dir = fs::is_directory(lock_file, dir_ec);
  const int fd = is_dir ? ::open(lock_file.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC)
                        : ::open(lock_file.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600);
  if (fd < 0) return std::unexpected(errno_error(lock_file, "cannot open lock file", errno));
  TreeLock lock(fd);
  const auto deadline = std::chrono::steady_clock::now() + wait;
  for (;;) {
    if (::flock(fd, LOCK_EX | LOCK_NB) == 0) return lock;
    if (errno != EWOULDBLOCK && errno != EINTR) {
      return std::unexpected(errno_error(lock_file, "cannot lock", errno));
    }
    if (std::chrono::steady_clock::now() >= deadline) {
      return std::unexpected(
          FileError{FileError::Kind::kLocked, cat(lock_file.string(),
                                                  ": another aatune process is changing this "
                                                  "policy tree; try again when it has finished")});
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
}

TreeLock::TreeLock(TreeLock&& other) noexcept : fd_(std::exchange(other.fd_, -1)) {}

TreeLock& TreeLock::operator=(TreeLock&& other) noexcept {
  if (this != &other) {
    if (fd_ >= 0) ::close(fd_);
    fd_ = std::exchange(other.fd_, -1);
  }
  return *this;
}

TreeLock::~TreeLock() {
  if (fd_ >= 0) ::close(fd_);
}

fs::path lock_file_for(const fs::path& tree) {
  return tree;
}

std::expected<BackupManifest, FileError> create_backup(const fs::path& backups_root,
                                                       const fs::path& tree,
                                                       std::string_view description,
                                                       std::span<const FileSnapshot> olds,
                                                       std::span<const std::string> new_contents,
                                                       std::span<const fs::path> profile_files) {
  BackupManifest m;
  m.id = timestamp_id();
  m.dir = backups_root / m.id;
  m.created = iso_now();
  m.description = std::string(description);
  m.tree = tree;
  m.profile_files.assign(profile_files.begin(), profile_files.end());
  std::error_code ec;
  fs::create_directories(m.dir, ec);
  if (ec) return std::unexpected(errno_error(m.dir, "cannot create backup directory", ec.value()));
  for (size_t i = 0; i < olds.size(); ++i) {
    const FileSnapshot& old = olds[i];
    BackupEntry e;
    e.target = old.resolved;
    e.path = fs::absolute(old.path, ec).lexically_normal();
    e.existed = old.exists;
    e.old_hash = old.hash;
    e.new_hash = content_hash(i < new_contents.size() ? new_contents[i] : std::string());
    if (old.exists) {
      const fs::path stored = stored_path_for(tree, old.resolved);
      e.stored = stored.string();
      fs::create_directories((m.dir / stored).parent_path(), ec);
      if (ec) return std::unexpected(errno_error(m.dir, "cannot create backup", ec.value()));
      if (auto r = replace_with(m.dir / stored, old.content, nullptr); !r) {
        return std::unexpected(r.error());
      }
    }
    m.entries.push_back(std::move(e));
  }
  if (auto w = write_manifest(m); !w) return std::unexpected(w.error());
  return m;
}

std::expected<BackupManifest, FileError> record_link_change(
    const fs::path& backups_root, const fs::path& tree, std::string_view description,
    const LinkChange& link, std::span<const fs::path> profile_files) {
  BackupManifest m;
  m.id = timestamp_id();
  m.dir = backups_root / m.id;
  m.created = iso_now();
  m.description = std::string(description);
  m.tree = tree;
  m.profile_files.assign(profile_files.begin(), profile_files.end());
  m.link = link;
  std::error_code ec;
  fs::create_directories(m.dir, ec);
  if (ec) return std::unexpected(errno_error(m.dir, "cannot create backup directory", ec.value()));
  if (auto w = write_manifest(m); !w) return std::unexpected(w.error());
  return m;
}

std::expected<void, FileError> write_manifest(const BackupManifest& m) {
  return replace_with(m.dir / "manifest.json", to_json(m).dump(2) + "\n", nullptr);
}

std::expected<std::vector<BackupManifest>, FileError> list_backups(const fs::path& backups_root) {
  std::vector<BackupManifest> out;
  std::error_code ec;
  if (!fs::exists(backups_root, ec)) return out;
  for (fs::directory_iterator it(backups_root, ec), end; !ec && it != end; it.increment(ec)) {
    const fs::path manifest = it->path() / "manifest.json";
    int err = 0;
    auto text = read_all(manifest, err);
    if (!text) continue;  // A backup interrupted before its manifest was written is not one.
    const nlohmann::json j = nlohmann::json::parse(*text, nullptr, false);
    if (j.is_discarded() || !j.is_object()) continue;
    auto m = manifest_from_json(j, it->path());
    if (!m) continue;  // A field of the wrong type: not a manifest aatune wrote.
    out.push_back(std::move(*m));
  }
  if (ec) return std::unexpected(errno_error(backups_root, "cannot list backups", ec.value()));
  std::ranges::sort(out, {}, &BackupManifest::id);
  return out;
}

std::expected<std::string, FileError> read_backup(const BackupManifest& m, const BackupEntry& e) {
  if (!e.existed) return std::string();
  int err = 0;
  auto text = read_all(m.dir / e.stored, err);
  if (!text) return std::unexpected(text.error());
  if (content_hash(*text) != e.old_hash) {
    return std::unexpected(FileError{
        FileError::Kind::kCorrupt,
        cat((m.dir / e.stored).string(), ": backup content does not match its recorded hash")});
  }
  return text;
}

}  // namespace aatune::rules
