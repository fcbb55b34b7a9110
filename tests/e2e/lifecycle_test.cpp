// disable / enable / complain / enforce / undo through the real binary on a temp tree.
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "e2e/support.h"
#include "rules/loader.h"

namespace {

namespace fs = std::filesystem;
using namespace aatune::e2e;  // NOLINT: the shared test helpers (support.h)

class LifecycleE2E : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/aatune-life-XXXXXX";
    root_ = ::mkdtemp(tmpl);
    tree_ = root_ / "apparmor.d";
    fs::copy(fs::path(AATUNE_SOURCE_DIR) / "tests/rules/data/editor", tree_,
             fs::copy_options::recursive);
    log_ = root_ / "loader.log";
    std::ofstream(root_ / "record.sh") << "#!/bin/sh\necho \"$@\" >> " << log_.string() << "\n";
    ::chmod((root_ / "record.sh").c_str(), 0755);
  }
  void TearDown() override { fs::remove_all(root_); }

  aatune::rules::ProcessResult run(std::vector<std::string> args) {
    std::vector<std::string> argv{AATUNE_BINARY};
    argv.insert(argv.end(), args.begin(), args.end());
    const std::vector<std::string> common{"--profiles", tree_.string(),
                                          "--state",    (root_ / "state").string(),
                                          "--loader",   (root_ / "record.sh").string(),
                                          "--db",       (root_ / "aatune.db").string()};
    argv.insert(argv.end(), common.begin(), common.end());
    auto r = aatune::rules::run_process(argv);
    EXPECT_TRUE(r.has_value());
    return r.value_or(aatune::rules::ProcessResult{});
  }
  fs::path root_, tree_, log_;
};

TEST_F(LifecycleE2E, ComplainEnforceAndUndo) {
  const std::string original = slurp(tree_ / "usr.sbin.multi");
  auto c = run({"complain", "/usr/sbin/multi-a"});
  EXPECT_EQ(c.exit_code, 0) << c.output;
  std::string expected = original;
  expected.replace(expected.find("/usr/sbin/multi-a {"), 19,
                   "/usr/sbin/multi-a flags=(complain) {");
  EXPECT_EQ(slurp(tree_ / "usr.sbin.multi"), expected);
  EXPECT_NE(c.output.find("reloading " + (tree_ / "usr.sbin.multi").string() +
                          " also reloads 'multi-b' (unchanged)"),
            std::string::npos)
      << c.output;
  EXPECT_EQ(slurp(log_), "-r " + (tree_ / "usr.sbin.multi").string() + "\n");

  auto e = run({"enforce", "multi-b"});
  EXPECT_EQ(e.exit_code, 0) << e.output;
  std::string expected2 = expected;
  expected2.replace(expected2.find("profile multi-b flags=(complain) {"), 34, "profile multi-b {");
  EXPECT_EQ(slurp(tree_ / "usr.sbin.multi"), expected2);

  auto again = run({"enforce", "multi-b"});
  EXPECT_EQ(again.exit_code, 0);
  EXPECT_EQ(again.output, "'multi-b' is already in enforce mode\n");

  auto u = run({"undo", "2"});
  EXPECT_EQ(u.exit_code, 0) << u.output;
  EXPECT_EQ(slurp(tree_ / "usr.sbin.multi"), original);
  auto none = run({"undo"});
  EXPECT_EQ(none.exit_code, 2);
}

TEST_F(LifecycleE2E, DisableAndEnable) {
  auto d = run({"disable", "foo"});
  EXPECT_EQ(d.exit_code, 0) << d.output;
  const fs::path link = tree_ / "disable" / "usr.bin.foo";
  ASSERT_TRUE(fs::is_symlink(link));
  EXPECT_EQ(fs::read_symlink(link), tree_ / "usr.bin.foo");
  EXPECT_EQ(slurp(log_), "-R " + (tree_ / "usr.bin.foo").string() + "\n");
  auto en = run({"enable", "foo"});
  EXPECT_EQ(en.exit_code, 0) << en.output;
  EXPECT_FALSE(fs::exists(link));
  EXPECT_EQ(slurp(log_), "-R " + (tree_ / "usr.bin.foo").string() + "\n-r " +
                             (tree_ / "usr.bin.foo").string() + "\n");
  auto not_disabled = run({"enable", "foo"});
  EXPECT_EQ(not_disabled.exit_code, 2);
  EXPECT_EQ(not_disabled.output,
            "aatune: error: 'foo' is not disabled (no " + link.string() + ")\n");
}

TEST_F(LifecycleE2E, UnknownProfileAndUsage) {
  auto r = run({"complain", "fo"});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_EQ(r.output,
            "aatune: error: no profile 'fo' in " + tree_.string() + " (did you mean 'foo'?)\n");
  auto u = run({"disable"});
  EXPECT_EQ(u.exit_code, 2);
  EXPECT_EQ(u.output, "aatune disable: error: missing PROFILE (see 'aatune disable --help')\n");
}

}  // namespace
