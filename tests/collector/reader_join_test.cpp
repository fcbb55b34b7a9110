// Which lines open a USER_AVC msg='…' that the next, indented line continues: the reader joins
// exactly those, through next() and next_view() alike, and never a line whose msg is closed.
#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "collector/reader.h"

namespace aatune::collector {
namespace {

namespace fs = std::filesystem;

// The logical lines of `first` + "\n  cont\n" through both reading paths.
std::vector<std::string> read_both(const std::string& first, bool view) {
  const fs::path file = fs::temp_directory_path() /
                        ("aatune-join-" + std::to_string(::getpid()) + (view ? "v" : "n"));
  std::ofstream(file, std::ios::binary) << first << "\n  cont\nlast\n";
  auto reader = LineReader::open(file.string());
  EXPECT_TRUE(reader.has_value());
  std::vector<std::string> out;
  while (reader) {
    if (view) {
      auto next = reader->next_view();
      if (!next || !*next) break;
      out.emplace_back((*next)->text);
    } else {
      auto next = reader->next();
      if (!next || !*next) break;
      out.push_back((*next)->text);
    }
  }
  fs::remove(file);
  return out;
}

struct JoinCase {
  std::string line;
  bool joined;
};

TEST(ReaderJoin, OnlyAnOpenMsgIsContinued) {
  const std::vector<JoinCase> cases = {
      {"k: msg='apparmor=\"DENIED\" operation=\"dbus_method_call\"", true},
      {"k: msg='x' msg='y", true},         // the last msg=' is open
      {"it's k: msg='open", true},         // a quote before the msg does not matter
      {"k: xmsg='open", true},             // any key ending in msg
      {"k: msg='x' b='c", false},          // the msg is closed; b=' is not a msg
      {"k: msg='a 'quoted' text", false},  // closed (and reopened by text)
      {"k: msg='closed'", false},
      {"no quote at all", false},
      {"msg=", false},
      {"'", false},
  };
  for (const auto& c : cases) {
    for (const bool view : {false, true}) {
      SCOPED_TRACE(c.line + (view ? " (next_view)" : " (next)"));
      const auto lines = read_both(c.line, view);
      if (c.joined) {
        ASSERT_EQ(lines.size(), 2u);
        EXPECT_EQ(lines[0], c.line + " cont");
      } else {
        ASSERT_EQ(lines.size(), 3u);
        EXPECT_EQ(lines[0], c.line);
        EXPECT_EQ(lines[1], "  cont");
      }
    }
  }
}

// A continuation line of blanks only (found by fuzz_line_reader: it made next() throw
// std::out_of_range) joins as the one separating space, and reading goes on.
TEST(ReaderJoin, BlankContinuationLineJoinsAsOneSpace) {
  const std::string first = "k: msg='apparmor=\"DENIED\" operation=\"dbus_method_call\"";
  for (const bool view : {false, true}) {
    SCOPED_TRACE(view ? "next_view" : "next");
    const fs::path file = fs::temp_directory_path() /
                          ("aatune-blank-" + std::to_string(::getpid()) + (view ? "v" : "n"));
    std::ofstream(file, std::ios::binary) << first << "\n \t \n  cont\nlast\n";
    auto reader = LineReader::open(file.string());
    ASSERT_TRUE(reader.has_value());
    std::vector<std::string> lines;
    for (;;) {
      if (view) {
        auto next = reader->next_view();
        ASSERT_TRUE(next.has_value());
        if (!*next) break;
        lines.emplace_back((*next)->text);
      } else {
        auto next = reader->next();
        ASSERT_TRUE(next.has_value());
        if (!*next) break;
        lines.push_back((*next)->text);
      }
    }
    fs::remove(file);
    EXPECT_EQ(lines, (std::vector<std::string>{first + "  cont", "last"}));
  }
}

}  // namespace
}  // namespace aatune::collector
