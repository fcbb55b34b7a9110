#include "collector/follow_source.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

namespace aatune::collector {
namespace {

namespace fs = std::filesystem;

class FollowSourceTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() /
           ("aatune-follow-" + std::to_string(::testing::UnitTest::GetInstance()->random_seed()) +
            "-" + ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(dir_);
    fs::create_directories(dir_);
    path_ = (dir_ / "kern.log").string();
  }
  void TearDown() override { fs::remove_all(dir_); }
  void append(const std::string& text) { std::ofstream(path_, std::ios::app) << text; }
  std::vector<std::string> poll(FollowSource& source) {
    auto lines = source.poll();
    EXPECT_TRUE(lines.has_value()) << lines.error();
    return lines.value_or(std::vector<std::string>{});
  }

  fs::path dir_;
  std::string path_;
};

TEST_F(FollowSourceTest, StartsAtTheEndUnlessAskedForTheStart) {
  append("old 1\nold 2\n");
  FollowSource from_end(path_);
  FollowSource from_start(path_, /*from_start=*/true);
  EXPECT_TRUE(poll(from_end).empty());
  EXPECT_EQ(poll(from_start), (std::vector<std::string>{"old 1", "old 2"}));
  append("new\n");
  EXPECT_EQ(poll(from_end), std::vector<std::string>{"new"});
}

TEST_F(FollowSourceTest, PartialLineWaitsForItsNewline) {
  FollowSource source(path_, true);
  append("half");
  EXPECT_TRUE(poll(source).empty());
  append(" and rest\n");
  EXPECT_EQ(poll(source), std::vector<std::string>{"half and rest"});
}

TEST_F(FollowSourceTest, FileThatAppearsLaterIsPickedUp) {
  FollowSource source(path_, /*from_start=*/false);
  EXPECT_TRUE(poll(source).empty());
  append("first\n");
  // The file did not exist at the first poll, so everything in it is new.
  EXPECT_EQ(poll(source), std::vector<std::string>{"first"});
  append("second\n");
  EXPECT_EQ(poll(source), std::vector<std::string>{"second"});
}

TEST_F(FollowSourceTest, FollowsRotationToTheNewFile) {
  append("a\n");
  FollowSource source(path_, true);
  EXPECT_EQ(poll(source), std::vector<std::string>{"a"});
  fs::rename(path_, path_ + ".1");
  append("b\n");
  EXPECT_EQ(poll(source), std::vector<std::string>{"b"});
  EXPECT_EQ(source.reopened(), 1u);
}

TEST_F(FollowSourceTest, CopyTruncateStartsOver) {
  append("one\ntwo\n");
  FollowSource source(path_, true);
  EXPECT_EQ(poll(source).size(), 2u);
  fs::resize_file(path_, 0);
  append("three\n");
  EXPECT_EQ(poll(source), std::vector<std::string>{"three"});
  EXPECT_EQ(source.reopened(), 1u);
}

TEST_F(FollowSourceTest, StartingPointIsConstructionNotTheFirstPoll) {
  append("old\n");
  FollowSource existing(path_);
  append("new\n");
  EXPECT_EQ(poll(existing), std::vector<std::string>{"new"});
  const std::string later = (dir_ / "later.log").string();
  FollowSource missing(later);
  std::ofstream(later) << "first\n";  // appears before the first poll
  const auto lines = missing.poll();
  ASSERT_TRUE(lines.has_value()) << lines.error();
  EXPECT_EQ(*lines, std::vector<std::string>{"first"});
}

TEST_F(FollowSourceTest, LinesWrittenJustBeforeARotationAreNotLost) {
  append("a\n");
  FollowSource source(path_, true);
  EXPECT_EQ(poll(source), std::vector<std::string>{"a"});
  // The logger writes once more into the file it still has open, then rotates.
  append("late\nunterminated");
  fs::rename(path_, path_ + ".1");
  append("b\n");
  EXPECT_EQ(poll(source), (std::vector<std::string>{"late", "unterminated", "b"}));
  EXPECT_EQ(source.reopened(), 1u);
}

TEST_F(FollowSourceTest, RotatedFileThatIsRecreatedLaterIsFollowed) {
  append("a\n");
  FollowSource source(path_, false);
  EXPECT_TRUE(poll(source).empty());
  fs::rename(path_, path_ + ".1");
  // Between the rotation and the new file: nothing new, no error.
  EXPECT_TRUE(poll(source).empty());
  append("b\nc\n");
  EXPECT_EQ(poll(source), (std::vector<std::string>{"b", "c"}));
  EXPECT_EQ(source.reopened(), 1u);
}

TEST_F(FollowSourceTest, AnUnreadableFileIsAnErrorNamingIt) {
  if (::geteuid() == 0) GTEST_SKIP() << "root reads any file: the permission check cannot fail";
  append("x\n");
  fs::permissions(path_, fs::perms::none);
  FollowSource source(path_, true);
  const auto lines = source.poll();
  ASSERT_FALSE(lines.has_value());
  EXPECT_EQ(lines.error(), path_ + ": Permission denied");
}

}  // namespace
}  // namespace aatune::collector
