#include "rules/policy_file.h"

#include <gtest/gtest.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>

namespace aatune::rules {
namespace {

namespace fs = std::filesystem;

std::string slurp(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

void spit(const fs::path& p, const std::string& text) {
  std::ofstream(p, std::ios::binary) << text;
}

// Names in `dir` other than the expected ones (temp leftovers would show here).
std::vector<std::string> entries(const fs::path& dir) {
  std::vector<std::string> out;
  for (const auto& e : fs::directory_iterator(dir)) out.push_back(e.path().filename().string());
  std::ranges::sort(out);
  return out;
}

class PolicyFileTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/aatune-pf-XXXXXX";
    dir_ = ::mkdtemp(tmpl);
    file_ = dir_ / "usr.bin.foo";
    spit(file_, "profile foo {\n}\n");
    ::chmod(file_.c_str(), 0640);
  }
  void TearDown() override {
    std::system(("chattr -i " + dir_.string() + " 2>/dev/null").c_str());
    fs::remove_all(dir_);
  }
  fs::path dir_;
  fs::path file_;
};

TEST_F(PolicyFileTest, ReplaceKeepsModeAndLeavesNoTemp) {
  auto snap = read_snapshot(file_);
  ASSERT_TRUE(snap.has_value());
  EXPECT_EQ(snap->hash, content_hash("profile foo {\n}\n"));
  ASSERT_TRUE(atomic_replace(*snap, "profile foo {\n  /x r,\n}\n").has_value());
  EXPECT_EQ(slurp(file_), "profile foo {\n  /x r,\n}\n");
  struct stat st {};
  ASSERT_EQ(::stat(file_.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 07777, 0640u);
  EXPECT_EQ(entries(dir_), std::vector<std::string>{"usr.bin.foo"});
}

TEST_F(PolicyFileTest, RefusesWhenChangedOnDisk) {
  auto snap = read_snapshot(file_);
  ASSERT_TRUE(snap.has_value());
  spit(file_, "profile foo { # edited by hand\n}\n");
  auto r = atomic_replace(*snap, "new\n");
  ASSERT_FALSE(r.has_value());
  EXPECT_EQ(r.error().kind, FileError::Kind::kChanged);
  EXPECT_EQ(r.error().message,
            file_.string() +
                ": changed on disk since it was read; nothing written (run again to redo the "
                "change on the new content)");
  EXPECT_EQ(slurp(file_), "profile foo { # edited by hand\n}\n");
}

TEST_F(PolicyFileTest, SymlinkTargetIsEditedAndLinkKept) {
  fs::create_directories(dir_ / "pkg");
  const fs::path real = dir_ / "pkg" / "real";
  spit(real, "old\n");
  const fs::path link = dir_ / "linked";
  fs::create_symlink(real, link);
  auto snap = read_snapshot(link);
  ASSERT_TRUE(snap.has_value());
  EXPECT_EQ(snap->resolved, fs::canonical(real));
  ASSERT_TRUE(atomic_replace(*snap, "new\n").has_value());
  EXPECT_TRUE(fs::is_symlink(link));
  EXPECT_EQ(slurp(real), "new\n");
}

TEST_F(PolicyFileTest, NewFileAndRemoval) {
  const fs::path local = dir_ / "local" / "usr.bin.foo";
  auto snap = read_snapshot(local);
  ASSERT_TRUE(snap.has_value());
  EXPECT_FALSE(snap->exists);
  ASSERT_TRUE(atomic_replace(*snap, "/x r,\n").has_value());
  EXPECT_EQ(slurp(local), "/x r,\n");
  auto again = read_snapshot(local);
  ASSERT_TRUE(remove_unchanged(*again).has_value());
  EXPECT_FALSE(fs::exists(local));
}

TEST_F(PolicyFileTest, LockContention) {
  auto first = TreeLock::acquire(lock_file_for(dir_));
  ASSERT_TRUE(first.has_value());
  auto second = TreeLock::acquire(lock_file_for(dir_), std::chrono::milliseconds(50));
  ASSERT_FALSE(second.has_value());
  EXPECT_EQ(second.error().kind, FileError::Kind::kLocked);
  EXPECT_EQ(second.error().message,
            dir_.string() +
                ": another aatune process is changing this policy tree; try again when it has "
                "finished");
  { TreeLock released = std::move(*first); }
  EXPECT_TRUE(TreeLock::acquire(lock_file_for(dir_)).has_value());
}

TEST_F(PolicyFileTest, BackupManifestRoundTrip) {
  auto snap = read_snapshot(file_);
  ASSERT_TRUE(snap.has_value());
  const fs::path root = dir_ / "state" / "backups";
  const std::vector<FileSnapshot> olds{*snap};
  const std::vector<std::string> news{"new\n"};
  const std::vector<fs::path> profiles{file_};
  auto m = create_backup(root, dir_, "test change", olds, news, profiles);
  ASSERT_TRUE(m.has_value()) << m.error().message;
  auto all = list_backups(root);
  ASSERT_TRUE(all.has_value());
  ASSERT_EQ(all->size(), 1u);
  const BackupManifest& b = all->front();
  EXPECT_EQ(b.description, "test change");
  ASSERT_EQ(b.entries.size(), 1u);
  EXPECT_EQ(b.entries[0].stored, "files/usr.bin.foo");
  EXPECT_EQ(b.entries[0].new_hash, content_hash("new\n"));
  EXPECT_EQ(b.profile_files, profiles);
  EXPECT_EQ(read_backup(b, b.entries[0]).value(), "profile foo {\n}\n");
}

TEST_F(PolicyFileTest, StaleTempFilesAreRemoved) {
  spit(dir_ / ".aatune-tmp-usr.bin.foo-abc123", "half");
  EXPECT_EQ(remove_stale_temp_files(dir_), 1u);
  EXPECT_EQ(entries(dir_), std::vector<std::string>{"usr.bin.foo"});
}

TEST_F(PolicyFileTest, ReadOnlyTreeLeavesOldFile) {
  if (std::system(("chattr +i " + dir_.string() + " 2>/dev/null").c_str()) != 0) {
    GTEST_SKIP() << "chattr +i is not supported on this file system, cannot make a read-only dir";
  }
  auto snap = read_snapshot(file_);
  ASSERT_TRUE(snap.has_value());
  auto r = atomic_replace(*snap, "new\n");
  ASSERT_FALSE(r.has_value());
  EXPECT_EQ(r.error().kind, FileError::Kind::kPermission);
  EXPECT_EQ(r.error().message,
            file_.string() + ": cannot create a temp file: Operation not permitted");
  EXPECT_EQ(slurp(file_), "profile foo {\n}\n");
}

TEST_F(PolicyFileTest, FileSizeLimitLeavesOldFileAndNoTemp) {
  // RLIMIT_FSIZE makes write() fail with EFBIG, as a full disk fails with ENOSPC; in a child so
  // the limit does not leak into other tests.
  auto snap = read_snapshot(file_);
  ASSERT_TRUE(snap.has_value());
  const pid_t pid = ::fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    ::signal(SIGXFSZ, SIG_IGN);
    const rlimit lim{1024, 1024};
    ::setrlimit(RLIMIT_FSIZE, &lim);
    auto r = atomic_replace(*snap, std::string(4096, 'x'));
    const bool ok = !r.has_value() && r.error().kind == FileError::Kind::kNoSpace &&
                    r.error().message == file_.string() +
                                             ": cannot write: File too large (file left "
                                             "unchanged)";
    ::_exit(ok ? 0 : 1);
  }
  int status = 0;
  ::waitpid(pid, &status, 0);
  ASSERT_TRUE(WIFEXITED(status));
  EXPECT_EQ(WEXITSTATUS(status), 0);
  EXPECT_EQ(slurp(file_), "profile foo {\n}\n");
  EXPECT_EQ(entries(dir_), std::vector<std::string>{"usr.bin.foo"});
}

}  // namespace
}  // namespace aatune::rules
