#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <string>

#include "rules/diff.h"
#include "rules/loader.h"

namespace aatune::rules {
namespace {

namespace fs = std::filesystem;

// What the real `diff -u` prints for the two texts.
std::string real_diff(const std::string& a, const std::string& b) {
  const fs::path dir = fs::temp_directory_path() / ("aatune-diff-" + std::to_string(::getpid()));
  fs::create_directories(dir);
  std::ofstream(dir / "a", std::ios::binary) << a;
  std::ofstream(dir / "b", std::ios::binary) << b;
  auto r = run_process({"diff", "-u", "--label", "old", "--label", "new", (dir / "a").string(),
                        (dir / "b").string()});
  fs::remove_all(dir);
  EXPECT_TRUE(r.has_value());
  return r ? r->output : std::string();
}

std::string numbered(int from, int to) {
  std::string out;
  for (int i = from; i <= to; ++i) out += "  /line/" + std::to_string(i) + " r,\n";
  return out;
}

void expect_like_diff(const std::string& a, const std::string& b) {
  EXPECT_EQ(unified_diff(a, b, "old", "new"), real_diff(a, b));
}

TEST(EditorDiff, EqualTextsGiveNothing) {
  EXPECT_EQ(unified_diff("a\n", "a\n", "x", "y"), "");
}

TEST(EditorDiff, InsertionBeforeClosingBrace) {
  const std::string a = "profile foo {\n" + numbered(1, 10) + "}\n";
  const std::string b = "profile foo {\n" + numbered(1, 10) + "  /new r,\n  /new2 w,\n}\n";
  expect_like_diff(a, b);
  EXPECT_EQ(unified_diff(a, b, "old", "new"),
            "--- old\n+++ new\n@@ -9,4 +9,6 @@\n   /line/8 r,\n   /line/9 r,\n   /line/10 r,\n"
            "+  /new r,\n+  /new2 w,\n }\n");
}

TEST(EditorDiff, HeaderChangeAndSeparateHunks) {
  const std::string a = "profile foo {\n" + numbered(1, 20) + "}\n";
  std::string b = "profile foo flags=(complain) {\n" + numbered(1, 20) + "}\n";
  b.replace(b.find("/line/15 r,"), 11, "/line/15 rw,");
  expect_like_diff(a, b);
}

TEST(EditorDiff, NearbyChangesMergeIntoOneHunk) {
  const std::string a = numbered(1, 12);
  std::string b = numbered(1, 12);
  b.replace(b.find("/line/3 r,"), 10, "/line/3 w,");
  b.replace(b.find("/line/9 r,"), 10, "/line/9 w,");
  expect_like_diff(a, b);
}

TEST(EditorDiff, FromAndToEmptyAndMissingNewline) {
  expect_like_diff("", "a\nb\n");
  expect_like_diff("a\nb\n", "");
  expect_like_diff("a\nb", "a\nb\n");
  expect_like_diff("x\ny\nz", "x\ny\nw");
}

}  // namespace
}  // namespace aatune::rules
