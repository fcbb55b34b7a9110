#include "rules/loader.h"

#include <fcntl.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <system_error>
#include <type_traits>
#include <utility>

#include "rules/diff.h"
#include "rules/text.h"

extern char** environ;

namespace aatune::rules {
namespace fs = std::filesystem;

namespace {

using text::cat;

// Owns the two ends of a pipe.
class Pipe {
 public:
  Pipe() {
    if (::pipe2(fds_, O_CLOEXEC) != 0) fds_[0] = fds_[1] = -1;
  }
  Pipe(const Pipe&) = delete;
  Pipe& operator=(const Pipe&) = delete;
  ~Pipe() {
    close_read();
    close_write();
  }
  bool ok() const { return fds_[0] >= 0; }
  int read_end() const { return fds_[0]; }
  int write_end() const { return fds_[1]; }
  void close_read() {
    if (fds_[0] >= 0) ::close(std::exchange(fds_[0], -1));
  }
  void close_write() {
    if (fds_[1] >= 0) ::close(std::exchange(fds_[1], -1));
  }

 private:
  int fds_[2] = {-1, -1};
};

// Owns posix_spawn's file actions.
class SpawnActions {
 public:
  SpawnActions() { ::posix_spawn_file_actions_init(&fa_); }
  SpawnActions(const SpawnActions&) = delete;
  SpawnActions& operator=(const SpawnActions&) = delete;
  ~SpawnActions() { ::posix_spawn_file_actions_destroy(&fa_); }
  posix_spawn_file_actions_t* get() { return &fa_; }

 private:
  posix_spawn_file_actions_t fa_;
};

CommitError fail(CommitError::Kind kind, std::string message, CommitResult result) {
  return CommitError{kind, std::move(message), std::move(result)};
}

CommitError::Kind kind_of(const FileError& e) {
  switch (e.kind) {
    case FileError::Kind::kChanged:
      return CommitError::Kind::kChanged;
    case FileError::Kind::kLocked:
      return CommitError::Kind::kLocked;
    case FileError::Kind::kPermission:
      return CommitError::Kind::kPermission;
    default:
      return CommitError::Kind::kIo;
  }
}

fs::path absolute_normal(const fs::path& p) {
  std::error_code ec;
  return fs::absolute(p, ec).lexically_normal();
}

// The path of `p` inside `tree`, or empty when it is outside.
fs::path relative_in(const fs::path& tree, const fs::path& p) {
  // The directories are resolved (a tree under a symlinked /tmp), the file itself is not (a
  // symlinked profile is staged where its link is).
  std::error_code ec;
  const fs::path ap = absolute_normal(p);
  const fs::path dir = fs::weakly_canonical(ap.parent_path(), ec);
  const fs::path rel = (dir / ap.filename()).lexically_relative(fs::weakly_canonical(tree, ec));
  if (rel.empty() || *rel.begin() == "..") return {};
  return rel;
}

// Copies the policy tree for staging: dot files, caches and the disable/ links are left out
// (apparmor_parser ignores them when it reads the tree, too); symlinks are copied as the files
// they point to, as the parser would read them.
std::expected<void, std::string> copy_tree(const fs::path& from, const fs::path& to) {
  std::error_code ec;
  fs::create_directories(to, ec);
  if (ec) return std::unexpected(cat(to.string(), ": cannot create: ", ec.message()));
  fs::recursive_directory_iterator it(from, fs::directory_options::skip_permission_denied, ec);
  if (ec) return std::unexpected(cat(from.string(), ": cannot read: ", ec.message()));
  for (const fs::recursive_directory_iterator end; it != end; it.increment(ec)) {
    if (ec) return std::unexpected(cat(from.string(), ": cannot read: ", ec.message()));
    const std::string name = it->path().filename().string();
    const fs::path rel = it->path().lexically_relative(from);
    const bool skip_dir = it.depth() == 0 && (name == "disable" || name.starts_with("cache") ||
                                              name == "force-complain");
    if (name.starts_with('.') || skip_dir) {
      if (it->is_directory(ec)) it.disable_recursion_pending();
      continue;
    }
    if (it->is_directory(ec)) {
      fs::create_directories(to / rel, ec);
    } else if (it->is_regular_file(ec)) {
      fs::copy_file(it->path(), to / rel, fs::copy_options::overwrite_existing, ec);
      if (ec) {
        return std::unexpected(cat(it->path().string(), ": cannot stage: ", ec.message()));
      }
    }
    ec.clear();
  }
  return {};
}

std::expected<void, std::string> write_plain(const fs::path& path, std::string_view content) {
  std::error_code ec;
  fs::create_directories(path.parent_path(), ec);
  const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) return std::unexpected(cat(path.string(), ": ", std::strerror(errno)));
  size_t done = 0;
  while (done < content.size()) {
    const ssize_t n = ::write(fd, content.data() + done, content.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      const int err = errno;
      ::close(fd);
      return std::unexpected(cat(path.string(), ": ", std::strerror(err)));
    }
    done += static_cast<size_t>(n);
  }
  if (::close(fd) != 0) return std::unexpected(cat(path.string(), ": ", std::strerror(errno)));
  return {};
}

// Removes the staging copy when the commit is over, however it ends.
class StagingDir {
 public:
  explicit StagingDir(fs::path dir) : dir_(std::move(dir)) {}
  StagingDir(const StagingDir&) = delete;
  StagingDir& operator=(const StagingDir&) = delete;
  ~StagingDir() {
    std::error_code ec;
    fs::remove_all(dir_, ec);
  }
  const fs::path& path() const { return dir_; }

 private:
  fs::path dir_;
};

std::string first_line(const std::string& text) {
  std::string_view t = text;
  // apparmor_parser prints this warning on kernels without AppArmor; it says nothing about us.
  while (t.starts_with("Cache read/write disabled")) {
    const size_t nl = t.find('\n');
    t = nl == std::string_view::npos ? std::string_view() : t.substr(nl + 1);
  }
  const size_t nl = t.find('\n');
  return std::string(t.substr(0, nl));
}

// Puts every file back to its old bytes; returns the errors it met (ideally none).
std::vector<std::string> restore_all(const ChangeSet& cs, size_t count) {
  std::vector<std::string> errors;
  for (size_t i = 0; i < count; ++i) {
    const FileEdit& e = cs.edits[i];
    auto now = read_snapshot(e.old.path);
    if (!now) {
      errors.push_back(now.error().message);
      continue;
    }
    std::expected<void, FileError> r;
    if (e.old.exists) {
      r = atomic_replace(*now, e.old.content);
    } else {
      r = remove_unchanged(*now);
    }
    if (!r) errors.push_back(r.error().message);
  }
  return errors;
}

}  // namespace

std::string ProcessResult::command_line() const {
  std::string out;
  for (const std::string& a : argv) out += (out.empty() ? "" : " ") + a;
  return out;
}

std::expected<ProcessResult, std::string> run_process(const std::vector<std::string>& argv) {
  if (argv.empty()) return std::unexpected("empty command");
  Pipe pipe;
  if (!pipe.ok()) return std::unexpected(cat("pipe: ", std::strerror(errno)));
  SpawnActions actions;
  ::posix_spawn_file_actions_addopen(actions.get(), 0, "/dev/null", O_RDONLY, 0);
  ::posix_spawn_file_actions_adddup2(actions.get(), pipe.write_end(), 1);
  ::posix_spawn_file_actions_adddup2(actions.get(), pipe.write_end(), 2);
  std::vector<char*> cargv;
  for (const std::string& a : argv) cargv.push_back(const_cast<char*>(a.c_str()));
  cargv.push_back(nullptr);
  pid_t pid = 0;
  const int rc =
      ::posix_spawnp(&pid, argv[0].c_str(), actions.get(), nullptr, cargv.data(), environ);
  if (rc != 0) return std::unexpected(cat(argv[0], ": cannot run: ", std::strerror(rc)));
  pipe.close_write();
  ProcessResult result;
  result.argv = argv;
  char buf[4096];
  for (;;) {
    const ssize_t n = ::read(pipe.read_end(), buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    result.output.append(buf, static_cast<size_t>(n));
  }
  int status = 0;
  while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  result.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  return result;
}

std::expected<ProcessResult, std::string> validate(const fs::path& profile_file,
                                                   const fs::path& tree, const LoaderConfig& cfg) {
  return run_process(
      {cfg.parser, "-QTK", "--base", tree.string(), "-I", tree.string(), profile_file.string()});
}

std::expected<ProcessResult, std::string> reload(const fs::path& profile_file,
                                                 const LoaderConfig& cfg) {
  std::vector<std::string> argv = cfg.loader;
  argv.push_back("-r");
  argv.push_back(profile_file.string());
  return run_process(argv);
}

std::expected<ProcessResult, std::string> unload(const fs::path& profile_file,
                                                 const LoaderConfig& cfg) {
  std::vector<std::string> argv = cfg.loader;
  argv.push_back("-R");
  argv.push_back(profile_file.string());
  return run_process(argv);
}

std::expected<FileEdit*, FileError> ChangeSet::edit_for(const fs::path& path) {
  auto snap = read_snapshot(path);
  if (!snap) return std::unexpected(snap.error());
  for (FileEdit& e : edits) {
    if (e.old.resolved == snap->resolved) return &e;
  }
  FileEdit e;
  e.new_content = snap->content;
  e.old = std::move(*snap);
  edits.push_back(std::move(e));
  return &edits.back();
}

void ChangeSet::add_profile_file(const fs::path& path) {
  const fs::path p = absolute_normal(path);
  if (std::ranges::find(profile_files, p) == profile_files.end()) profile_files.push_back(p);
}

std::expected<CommitResult, CommitError> commit(const ChangeSet& cs, const CommitOptions& opts) {
  CommitResult result;
  const fs::path tree = absolute_normal(opts.tree);
  auto lock = TreeLock::acquire(lock_file_for(tree), opts.lock_wait);
  if (!lock) return std::unexpected(fail(kind_of(lock.error()), lock.error().message, result));

  // Leftovers of a killed run: temp files beside the edited files, old staging copies.
  remove_stale_temp_files(tree);
  for (const FileEdit& e : cs.edits) remove_stale_temp_files(e.old.resolved.parent_path());
  std::error_code ec;
  fs::remove_all(opts.state_dir / "staging", ec);

  // Only edits that change something; every file must still be what the caller read.
  ChangeSet work;
  work.description = cs.description;
  std::vector<fs::path> rels;
  for (const FileEdit& e : cs.edits) {
    const bool noop = e.remove ? !e.old.exists : (e.old.exists && e.new_content == e.old.content);
    if (noop) continue;
    const fs::path rel = relative_in(tree, e.old.path);
    if (rel.empty()) {
      return std::unexpected(
          fail(CommitError::Kind::kUsage,
               cat(e.old.path.string(), ": not inside the policy tree ", tree.string()), result));
    }
    auto now = read_snapshot(e.old.path);
    if (!now) return std::unexpected(fail(kind_of(now.error()), now.error().message, result));
    if (now->exists != e.old.exists || now->content != e.old.content) {
      return std::unexpected(fail(CommitError::Kind::kChanged,
                                  cat(e.old.path.string(),
                                      ": changed on disk since it was read; nothing written (run "
                                      "again to redo the change)"),
                                  result));
    }
    result.diffs.push_back({e.old.path, unified_diff(e.old.content, e.remove ? "" : e.new_content,
                                                     e.old.path.string(), e.old.path.string())});
    work.edits.push_back(e);
    rels.push_back(rel);
  }
  if (work.edits.empty()) return result;

  std::vector<fs::path> profiles;
  auto add_profile = [&](const fs::path& p) {
    const fs::path a = absolute_normal(p);
    if (std::ranges::find(profiles, a) == profiles.end()) profiles.push_back(a);
  };
  for (const fs::path& p : cs.profile_files) add_profile(p);
  for (size_t i = 0; i < work.edits.size(); ++i) {
    if (!work.edits[i].remove && rels[i].parent_path().empty()) add_profile(work.edits[i].old.path);
  }

  // Validate in a staging copy of the tree, where includes resolve as they will after the change.
  const StagingDir staging(opts.state_dir / "staging" / cat(::getpid()));
  const fs::path stage = staging.path() / "tree";
  if (auto c = copy_tree(tree, stage); !c) {
    return std::unexpected(fail(CommitError::Kind::kIo, c.error(), result));
  }
  for (size_t i = 0; i < work.edits.size(); ++i) {
    if (work.edits[i].remove) {
      fs::remove(stage / rels[i], ec);
    } else if (auto w = write_plain(stage / rels[i], work.edits[i].new_content); !w) {
      return std::unexpected(fail(CommitError::Kind::kIo, w.error(), result));
    }
  }
  for (const fs::path& p : profiles) {
    const fs::path rel = relative_in(tree, p);
    auto v = validate(stage / rel, stage, opts.loader);
    if (!v) return std::unexpected(fail(CommitError::Kind::kValidation, v.error(), result));
    // The staging path means nothing to the user: name the real file.
    std::string out = v->output;
    for (size_t pos; (pos = out.find(stage.string())) != std::string::npos;) {
      out.replace(pos, stage.string().size(), tree.string());
    }
    v->output = out;
    result.validations.push_back(*v);
    if (!v->ok()) {
      return std::unexpected(fail(
          CommitError::Kind::kValidation,
          cat(p.string(), ": apparmor_parser rejected the new policy: ", first_line(out)), result));
    }
  }
  if (opts.dry_run) {
    result.skipped.push_back("writing files: dry run");
    return result;
  }

  std::vector<FileSnapshot> olds;
  std::vector<std::string> news;
  for (const FileEdit& e : work.edits) {
    olds.push_back(e.old);
    news.push_back(e.remove ? std::string() : e.new_content);
  }
  auto backup =
      create_backup(opts.state_dir / "backups", tree, cs.description, olds, news, profiles);
  if (!backup)
    return std::unexpected(fail(kind_of(backup.error()), backup.error().message, result));
  result.backup = *backup;

  for (size_t i = 0; i < work.edits.size(); ++i) {
    const FileEdit& e = work.edits[i];
    auto r = e.remove ? remove_unchanged(e.old) : atomic_replace(e.old, e.new_content);
    if (!r) {
      const auto errors = restore_all(work, i);
      std::string msg = r.error().message;
      if (!errors.empty()) msg += "; restoring the files written before also failed: " + errors[0];
      result.backup->undone = true;
      (void)write_manifest(*result.backup);
      return std::unexpected(fail(kind_of(r.error()), msg, result));
    }
  }

  if (!opts.reload) {
    for (const fs::path& p : profiles) {
      result.skipped.push_back(cat("reload of ", p.string(), ": --no-reload"));
    }
    return result;
  }
  for (size_t i = 0; i < profiles.size(); ++i) {
    auto r = reload(profiles[i], opts.loader);
    if (r) result.reloads.push_back(*r);
    if (r && r->ok()) continue;
    // The kernel refused: put every file back and reload what had already been loaded.
    const std::string why = r ? first_line(r->output) : r.error();
    const auto errors = restore_all(work, work.edits.size());
    for (size_t j = 0; j < i; ++j) {
      if (auto rr = reload(profiles[j], opts.loader)) result.rollback_reloads.push_back(*rr);
    }
    result.rolled_back = errors.empty();
    result.backup->undone = true;
    (void)write_manifest(*result.backup);
    std::string msg = cat(profiles[i].string(), ": reload failed (", why, "); ");
    msg += errors.empty() ? "all files restored to their old content"
                          : "restoring failed: " + errors[0];
    return std::unexpected(fail(CommitError::Kind::kReload, msg, result));
  }
  return result;
}

fs::path default_state_dir() {
  if (const char* s = std::getenv("AATUNE_STATE_DIR"); s && *s) return s;
  if (::geteuid() == 0) return "/var/lib/aatune";
  if (const char* x = std::getenv("XDG_STATE_HOME"); x && *x) return fs::path(x) / "aatune";
  if (const char* h = std::getenv("HOME"); h && *h) return fs::path(h) / ".local/state/aatune";
  return "/var/lib/aatune";
}

}  // namespace aatune::rules
