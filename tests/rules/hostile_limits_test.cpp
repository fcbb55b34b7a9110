// Limits of the profile tree reader: include cycles, include depth, oversized files, huge lines.
#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <string>

#include "rules/aare.h"
#include "rules/profile_tree.h"
#include "rules/rule.h"

namespace aatune::rules {
namespace {

namespace fs = std::filesystem;

class HostileLimits : public ::testing::Test {
 protected:
  void SetUp() override {
    root_ = fs::temp_directory_path() / ("aatune-limits-" + std::to_string(::getpid()));
    fs::create_directories(root_ / "abstractions");
  }
  void TearDown() override { fs::remove_all(root_); }
  void write(const std::string& rel, const std::string& text) {
    std::ofstream(root_ / rel, std::ios::binary) << text;
  }
  bool has_warning(const ProfileTree& t, const std::string& file, size_t line,
                   const std::string& message) {
    for (const auto& w : t.warnings) {
      if (w.file == file && w.line == line && w.message == message) return true;
    }
    return false;
  }
  fs::path root_;
};

TEST_F(HostileLimits, IncludeCycleIsDetectedAndReported) {
  write("abstractions/a", "/a r,\ninclude <abstractions/b>\n");
  write("abstractions/b", "/b r,\ninclude <abstractions/a>\n");
  write("app", "profile app {\n  include <abstractions/a>\n}\n");
  auto tree = read_profile_tree(root_);
  ASSERT_TRUE(tree.has_value()) << tree.error();
  EXPECT_TRUE(has_warning(*tree, (root_ / "abstractions/b").string(), 2,
                          "include <abstractions/a> recurses into itself; skipped"));
  const Profile* app = tree->find("app");
  ASSERT_NE(app, nullptr);
  EXPECT_EQ(app->rules.size(), 2u);  // /a and /b once each
}

TEST_F(HostileLimits, IncludeDepthIsBounded) {
  for (int i = 0; i < 40; ++i) {
    write(
        "abstractions/d" + std::to_string(i),
        "/d" + std::to_string(i) + " r,\ninclude <abstractions/d" + std::to_string(i + 1) + ">\n");
  }
  write("abstractions/d40", "/d40 r,\n");
  write("app", "profile app {\n  include <abstractions/d0>\n}\n");
  auto tree = read_profile_tree(root_);
  ASSERT_TRUE(tree.has_value()) << tree.error();
  EXPECT_TRUE(has_warning(*tree, (root_ / "abstractions/d31").string(), 2,
                          "include <abstractions/d32> nests deeper than 32 includes; skipped"));
  EXPECT_EQ(tree->find("app")->rules.size(), 32u);
}

TEST_F(HostileLimits, OversizedPolicyFileIsSkipped) {
  std::string big = "profile big {\n";
  while (big.size() <= 4 * 1024 * 1024) big += "  /tmp/aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa r,\n";
  big += "}\n";
  write("big", big);
  write("small", "profile small {\n  /tmp/x r,\n}\n");
  auto tree = read_profile_tree(root_);
  ASSERT_TRUE(tree.has_value()) << tree.error();
  EXPECT_EQ(tree->find("big"), nullptr);
  ASSERT_NE(tree->find("small"), nullptr);
  EXPECT_TRUE(has_warning(*tree, (root_ / "big").string(), 0,
                          "file is " + std::to_string(big.size()) +
                              " bytes, over the 4194304-byte limit for policy files; skipped"));
}

TEST_F(HostileLimits, HugeLineStaysOneRule) {
  // A 1 MiB path on one line: read as one rule, matched as a literal, no blow-up.
  const std::string path = "/tmp/" + std::string(1 << 20, 'a');
  write("app", "profile app {\n  " + path + " r,\n}\n");
  auto tree = read_profile_tree(root_);
  ASSERT_TRUE(tree.has_value()) << tree.error();
  const Profile* app = tree->find("app");
  ASSERT_NE(app, nullptr);
  ASSERT_EQ(app->rules.size(), 1u);
  auto cov = tree->coverage("app", Rule{.body = FileRule{.path = path, .perms = "r"}});
  ASSERT_TRUE(cov.has_value());
  EXPECT_EQ(cov->kind, CoverageKind::kAllowed);
  EXPECT_FALSE(aare_matches(path, path + "a"));
}

TEST_F(HostileLimits, DeeplyNestedAlternationIsRefusedOrMatches) {
  std::string pattern = "/tmp/";
  for (int i = 0; i < 2000; ++i) pattern += "{a,";
  pattern += "b";
  for (int i = 0; i < 2000; ++i) pattern += "}";
  auto aare = Aare::compile(pattern);
  if (aare) {
    EXPECT_TRUE(aare->matches("/tmp/a"));
    EXPECT_TRUE(aare->matches("/tmp/b"));
    EXPECT_FALSE(aare->matches("/tmp/c"));
  } else {
    EXPECT_FALSE(aare.error().empty());
  }
}

}  // namespace
}  // namespace aatune::rules
