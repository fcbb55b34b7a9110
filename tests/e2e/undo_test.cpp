// `aatune undo` over every kind of change (applied rules, complain/enforce, disable/enable), the
// store's record of lifecycle actions, --no-reload, and a tree that cannot be written: a full disk
// (a small tmpfs) and a read-only mount. Through the real binary on a temp copy of a tree, with
// the real apparmor_parser and a recording loader.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "e2e/support.h"
#include "rules/loader.h"
#include "rules/policy_file.h"
#include "store/store.h"

namespace {

namespace fs = std::filesystem;
using namespace aatune::e2e;  // NOLINT: the shared test helpers (support.h)

std::vector<std::string> sorted_lines(const std::string& text) {
  std::vector<std::string> out;
  std::istringstream in(text);
  for (std::string l; std::getline(in, l);) out.push_back(l);
  std::ranges::sort(out);
  return out;
}

class UndoE2E : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/aatune-undo-XXXXXX";
    root_ = ::mkdtemp(tmpl);
    tree_ = root_ / "apparmor.d";
    copy_tree();
    log_ = root_ / "loader.log";
    std::ofstream(root_ / "record.sh") << "#!/bin/sh\necho \"$@\" >> " << log_.string() << "\n";
    ::chmod((root_ / "record.sh").c_str(), 0755);
    db_ = root_ / "aatune.db";
  }
  void TearDown() override {
    if (mounted_) ::umount2(tree_.c_str(), MNT_DETACH);
    fs::remove_all(root_);
  }
  void copy_tree() {
    fs::copy(fs::path(AATUNE_SOURCE_DIR) / "tests/rules/data/editor", tree_,
             fs::copy_options::recursive);
  }
  // Puts the tree on a tmpfs of `kib` KiB; false when this machine does not allow mounting.
  bool tree_on_tmpfs(int kib) {
    fs::remove_all(tree_);
    fs::create_directories(tree_);
    const std::string opts = "size=" + std::to_string(kib) + "k";
    if (::mount("tmpfs", tree_.c_str(), "tmpfs", 0, opts.c_str()) != 0) return false;
    mounted_ = true;
    copy_tree_into();
    return true;
  }
  void copy_tree_into() {
    for (const auto& e :
         fs::directory_iterator(fs::path(AATUNE_SOURCE_DIR) / "tests/rules/data/editor")) {
      fs::copy(e.path(), tree_ / e.path().filename(), fs::copy_options::recursive);
    }
  }

  aatune::rules::ProcessResult run(std::vector<std::string> args) {
    std::vector<std::string> argv{AATUNE_BINARY};
    argv.insert(argv.end(), args.begin(), args.end());
    const std::vector<std::string> common{"--profiles", tree_.string(),
                                          "--state",    (root_ / "state").string(),
                                          "--loader",   (root_ / "record.sh").string(),
                                          "--parser",   APPARMOR_PARSER,
                                          "--db",       db_.string()};
    argv.insert(argv.end(), common.begin(), common.end());
    auto r = aatune::rules::run_process(argv);
    EXPECT_TRUE(r.has_value());
    return r.value_or(aatune::rules::ProcessResult{});
  }
  std::vector<std::string> recorded() {
    std::vector<std::string> out;
    auto s = aatune::store::Store::open(db_.string());
    EXPECT_TRUE(s.has_value());
    if (!s) return out;
    auto changes = s->changes();
    EXPECT_TRUE(changes.has_value());
    if (changes) {
      for (const auto& c : *changes) out.push_back(c.rule + " -> " + c.target_file);
    }
    return out;
  }
  // Every regular file and link of the tree with its content or target.
  std::vector<std::string> listing() {
    std::vector<std::string> out;
    for (const auto& e : fs::recursive_directory_iterator(tree_)) {
      const std::string rel = fs::relative(e.path(), tree_).string();
      if (e.is_symlink()) {
        out.push_back(rel + " -> " + fs::read_symlink(e.path()).string());
      } else if (e.is_regular_file()) {
        out.push_back(rel + ": " + aatune::rules::content_hash(slurp(e.path())));
      }
    }
    std::ranges::sort(out);
    return out;
  }
  fs::path root_, tree_, log_, db_;
  bool mounted_ = false;
};

TEST_F(UndoE2E, UndoReversesEveryLifecycleActionNewestFirst) {
  const fs::path file = tree_ / "usr.bin.foo";
  const fs::path link = tree_ / "disable" / "usr.bin.foo";
  const auto original = listing();
  const std::string original_text = slurp(file);

  ASSERT_EQ(run({"complain", "foo"}).exit_code, 0);
  const std::string complain_text = slurp(file);
  ASSERT_NE(complain_text, original_text);
  auto d = run({"disable", "foo"});
  ASSERT_EQ(d.exit_code, 0) << d.output;
  ASSERT_TRUE(fs::is_symlink(link));
  auto e = run({"enable", "foo"});
  ASSERT_EQ(e.exit_code, 0) << e.output;
  ASSERT_FALSE(fs::is_symlink(link));

  // Undo the enable: the link is back and the profile unloaded again.
  fs::remove(log_);
  auto u1 = run({"undo"});
  ASSERT_EQ(u1.exit_code, 0) << u1.output;
  EXPECT_TRUE(fs::is_symlink(link));
  EXPECT_EQ(fs::read_symlink(link), file);
  EXPECT_EQ(slurp(log_), "-R " + file.string() + "\n");
  EXPECT_NE(u1.output.find("(enable foo): restored " + link.string() + "\n"), std::string::npos)
      << u1.output;

  // Undo the disable and the complain together: link gone, profile loaded, file as it was.
  fs::remove(log_);
  auto u2 = run({"undo", "2"});
  ASSERT_EQ(u2.exit_code, 0) << u2.output;
  EXPECT_FALSE(fs::is_symlink(link));
  EXPECT_EQ(slurp(file), original_text);
  EXPECT_EQ(listing(), original);
  EXPECT_EQ(slurp(log_), "-r " + file.string() + "\n-r " + file.string() + "\n");
  EXPECT_NE(u2.output.find("(disable foo): removed " + link.string() + "\n"), std::string::npos)
      << u2.output;
  EXPECT_NE(u2.output.find("(complain foo): 1 file(s) restored\n"), std::string::npos) << u2.output;

  auto nothing = run({"undo"});
  EXPECT_EQ(nothing.exit_code, 2) << nothing.output;
  EXPECT_EQ(nothing.output, "aatune: error: nothing to undo for " + tree_.string() + " in " +
                                (root_ / "state" / "backups").string() + "\n");

  // Every action that changed something is in the store's changes table.
  EXPECT_EQ(recorded(), (std::vector<std::string>{
                            "complain foo -> " + file.string(),
                            "disable foo -> " + file.string(),
                            "enable foo -> " + file.string(),
                            "undo 1 -> " + file.string(),
                            "undo 2 -> " + file.string() + " " + file.string(),
                        }));
}

TEST_F(UndoE2E, NoReloadSaysWhatEachCommandSkipped) {
  const std::string f = (tree_ / "usr.bin.foo").string();
  const std::vector<std::pair<std::vector<std::string>, std::string>> steps{
      {{"complain", "foo"}, "skipped: reload of " + f + ": --no-reload\n"},
      {{"enforce", "foo"}, "skipped: reload of " + f + ": --no-reload\n"},
      {{"disable", "foo"}, "skipped: unload of " + f + ": --no-reload\n"},
      {{"enable", "foo"}, "skipped: load of " + f + ": --no-reload\n"},
      {{"undo"}, "skipped: unload of " + f + ": --no-reload\n"},
      {{"undo"}, "skipped: load of " + f + ": --no-reload\n"},
      {{"undo"}, "skipped: reload of " + f + ": --no-reload\n"},
  };
  for (const auto& [args, skipped] : steps) {
    auto a = args;
    a.push_back("--no-reload");
    auto r = run(a);
    EXPECT_EQ(r.exit_code, 0) << args[0] << ": " << r.output;
    EXPECT_NE(r.output.find(skipped), std::string::npos) << args[0] << ": " << r.output;
  }
  EXPECT_FALSE(fs::exists(log_)) << slurp(log_);
}

TEST_F(UndoE2E, OtherProfilesOfTheFileAreNamedFirst) {
  const std::string f = (tree_ / "usr.sbin.multi").string();
  auto d = run({"disable", "multi-b"});
  ASSERT_EQ(d.exit_code, 0) << d.output;
  EXPECT_TRUE(d.output.starts_with("note: " + f +
                                   " also defines '/usr/sbin/multi-a': they are disabled with it\n"
                                   "disabled 'multi-b': " +
                                   f + " linked into " + (tree_ / "disable").string() + "\n"))
      << d.output;
  auto c = run({"complain", "/usr/sbin/multi-a"});
  ASSERT_EQ(c.exit_code, 0) << c.output;
  EXPECT_TRUE(
      c.output.starts_with("note: reloading " + f + " also reloads 'multi-b' (unchanged)\n"))
      << c.output;
}

TEST_F(UndoE2E, ConcurrentRunIsRefusedByTheLock) {
  const std::string before = slurp(tree_ / "usr.bin.foo");
  auto lock = aatune::rules::TreeLock::acquire(aatune::rules::lock_file_for(tree_));
  ASSERT_TRUE(lock.has_value());
  auto r = run({"complain", "foo"});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_EQ(r.output, "aatune: error: " + tree_.string() +
                          ": another aatune process is changing this policy tree; try again when "
                          "it has finished\n");
  EXPECT_EQ(slurp(tree_ / "usr.bin.foo"), before);
}

TEST_F(UndoE2E, FullDiskLeavesEveryFileAndNothingToUndo) {
  if (!tree_on_tmpfs(256)) GTEST_SKIP() << "cannot mount a tmpfs here (needs CAP_SYS_ADMIN)";
  // Fill the file system to the last byte.
  {
    const int fd = ::open((tree_ / ".filler").c_str(), O_WRONLY | O_CREAT, 0600);
    ASSERT_GE(fd, 0);
    const std::string block(4096, 'x');
    while (::write(fd, block.data(), block.size()) > 0) {
    }
    while (::write(fd, block.data(), 1) > 0) {
    }
    ASSERT_EQ(errno, ENOSPC);
    ::close(fd);
  }
  const auto before = listing();
  auto r = run({"complain", "foo"});
  EXPECT_EQ(r.exit_code, 1) << r.output;
  EXPECT_EQ(r.output, "aatune: error: " + (tree_ / "usr.bin.foo").string() +
                          ": cannot write: No space left on device (file left unchanged)\n");
  EXPECT_EQ(listing(), before);
  EXPECT_FALSE(fs::exists(log_));
  for (const auto& e : fs::directory_iterator(tree_)) {
    EXPECT_FALSE(e.path().filename().string().starts_with(".aatune-tmp-")) << e.path();
  }
  // The failed change is not offered to undo.
  EXPECT_EQ(run({"undo"}).exit_code, 2);
  EXPECT_TRUE(recorded().empty());
}

TEST_F(UndoE2E, ReadOnlyTreeIsRefusedWithAHint) {
  if (!tree_on_tmpfs(1024)) GTEST_SKIP() << "cannot mount a tmpfs here (needs CAP_SYS_ADMIN)";
  ASSERT_EQ(::mount(nullptr, tree_.c_str(), nullptr, MS_REMOUNT | MS_RDONLY, nullptr), 0)
      << std::strerror(errno);
  const auto before = listing();
  auto c = run({"complain", "foo"});
  EXPECT_EQ(c.exit_code, 3) << c.output;
  EXPECT_EQ(c.output, "aatune: error: " + (tree_ / "usr.bin.foo").string() +
                          ": cannot create a temp file: Read-only file system\naatune: hint: "
                          "run as root, or point --profiles at a writable copy\n");
  auto d = run({"disable", "foo"});
  EXPECT_EQ(d.exit_code, 3) << d.output;
  EXPECT_EQ(d.output, "aatune: error: " + (tree_ / "disable").string() +
                          ": cannot create directory: Read-only file system\naatune: hint: run as "
                          "root, or point --profiles at a writable copy\n");
  EXPECT_EQ(listing(), before);
  EXPECT_FALSE(fs::exists(log_));
  EXPECT_EQ(run({"undo"}).exit_code, 2);
}

// `apply` with a store and no LOG takes the proposals for the store's open groups: the same
// change as from the logs the store was filled from; afterwards the groups are decided.
TEST(ApplyFromStore, SameChangeAsFromTheLogs) {
  const fs::path sample = fs::path(AATUNE_SOURCE_DIR) / "samples/libvirt";
  if (!fs::exists(sample / "apparmor.d")) GTEST_SKIP() << "samples/libvirt is not there";
  char tmpl[] = "/tmp/aatune-apply-store-XXXXXX";
  const fs::path root = ::mkdtemp(tmpl);
  const fs::path log = sample / "logs/kern.log";
  auto apply = [&](const fs::path& tree, std::vector<std::string> input) {
    std::vector<std::string> argv{AATUNE_BINARY, "apply",        "--all",
                                  "--yes",       "--no-reload",  "--profiles",
                                  tree.string(), "--state",      (root / "state").string(),
                                  "--parser",    APPARMOR_PARSER};
    argv.insert(argv.end(), input.begin(), input.end());
    auto r = aatune::rules::run_process(argv);
    EXPECT_TRUE(r.has_value());
    return r.value_or(aatune::rules::ProcessResult{});
  };
  const fs::path from_logs = root / "a", from_store = root / "b";
  fs::copy(sample / "apparmor.d", from_logs, fs::copy_options::recursive);
  fs::copy(sample / "apparmor.d", from_store, fs::copy_options::recursive);
  auto a = apply(from_logs, {"--db", ":memory:", log.string()});
  ASSERT_EQ(a.exit_code, 0) << a.output;

  const fs::path db = root / "aatune.db";
  auto scan = aatune::rules::run_process(
      {AATUNE_BINARY, "scan", "--quiet", "--db", db.string(), log.string()});
  ASSERT_TRUE(scan && scan->ok()) << (scan ? scan->output : scan.error());
  auto b = apply(from_store, {"--db", db.string()});
  ASSERT_EQ(b.exit_code, 0) << b.output;
  EXPECT_NE(b.output.find("applied "), std::string::npos) << b.output;
  for (const auto& e : fs::recursive_directory_iterator(from_logs)) {
    if (!e.is_regular_file()) continue;
    const fs::path rel = fs::relative(e.path(), from_logs);
    // The same lines; their order follows the input's (log order, or the store's group order).
    EXPECT_EQ(sorted_lines(slurp(e.path())), sorted_lines(slurp(from_store / rel))) << rel;
  }
  // Accepted groups are decided: a second run proposes only what --all refused the first time.
  auto again = apply(from_store, {"--db", db.string()});
  EXPECT_EQ(again.exit_code, 1) << again.output;
  EXPECT_EQ(again.output.find("applied "), std::string::npos) << again.output;
  EXPECT_TRUE(again.output.ends_with("nothing selected to apply\n")) << again.output;
  // The applied groups are not even looked at again (else: "already allowed on disk").
  EXPECT_EQ(again.output.find("already allowed"), std::string::npos) << again.output;
  fs::remove_all(root);
}

}  // namespace
