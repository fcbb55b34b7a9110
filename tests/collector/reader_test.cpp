// LineReader on real files in a temporary directory: plain, gzip, continuation joins, offsets.
#include "collector/reader.h"

#include <gtest/gtest.h>
#include <unistd.h>
#include <zlib.h>

#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

namespace aatune::collector {
namespace {

namespace fs = std::filesystem;

class ReaderTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() /
           ("aatune-reader-" + std::to_string(::getpid()) + "-" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::create_directories(dir_);
  }
  void TearDown() override { fs::remove_all(dir_); }

  std::string write(const std::string& name, const std::string& content) {
    const fs::path p = dir_ / name;
    std::ofstream(p, std::ios::binary) << content;
    return p.string();
  }
  std::string write_gz(const std::string& name, const std::string& content) {
    const fs::path p = dir_ / name;
    gzFile f = gzopen(p.c_str(), "wb");
    gzwrite(f, content.data(), static_cast<unsigned>(content.size()));
    gzclose(f);
    return p.string();
  }
  static std::vector<RawLine> all(LineReader& r) {
    std::vector<RawLine> out;
    while (true) {
      auto l = r.next();
      EXPECT_TRUE(l.has_value());
      if (!l || !*l) break;
      out.push_back(**l);
    }
    return out;
  }

  fs::path dir_;
};

TEST_F(ReaderTest, PlainLinesNumbersAndOffsets) {
  auto r = LineReader::open(write("a.log", "one\ntwo\n\nfour"));
  ASSERT_TRUE(r.has_value());
  const auto lines = all(*r);
  ASSERT_EQ(lines.size(), 4u);
  EXPECT_EQ(lines[1].text, "two");
  EXPECT_EQ(lines[1].line_no, 2u);
  EXPECT_EQ(lines[1].offset, 4u);
  EXPECT_EQ(lines[2].text, "");
  EXPECT_EQ(lines[3].text, "four");
  EXPECT_EQ(r->offset(), 13u);
}

TEST_F(ReaderTest, GzipByNameAndByMagic) {
  const std::string content = "type=AVC one\ntype=AVC two\n";
  for (const auto& path : {write_gz("kern.log.2.gz", content), write_gz("rotated.1", content)}) {
    auto r = LineReader::open(path);
    ASSERT_TRUE(r.has_value());
    const auto lines = all(*r);
    ASSERT_EQ(lines.size(), 2u) << path;
    EXPECT_EQ(lines[1].text, "type=AVC two");
  }
}

TEST_F(ReaderTest, ResumesFromOffset) {
  const std::string path = write("b.log", "first\nsecond\nthird\n");
  auto r = LineReader::open(path);
  ASSERT_TRUE(r.has_value());
  ASSERT_TRUE(r->next().value().has_value());
  const uint64_t checkpoint = r->offset();
  EXPECT_EQ(checkpoint, 6u);
  auto resumed = LineReader::open(path, checkpoint);
  ASSERT_TRUE(resumed.has_value());
  const auto lines = all(*resumed);
  ASSERT_EQ(lines.size(), 2u);
  EXPECT_EQ(lines[0].text, "second");
  EXPECT_EQ(lines[0].offset, 6u);
}

TEST_F(ReaderTest, JoinsWrappedUserAvcOnlyWhenQuoteIsOpen) {
  const std::string path = write("c.log",
                                 "k: msg='apparmor=\"ALLOWED\" peer_label=\"unconfined\"\n"
                                 "                  exe=\"/usr/bin/dbus-daemon\" terminal=?'\n"
                                 "  indented but not a continuation\n"
                                 "k: msg='open\n"
                                 "next record\n");
  auto r = LineReader::open(path);
  ASSERT_TRUE(r.has_value());
  const auto lines = all(*r);
  ASSERT_EQ(lines.size(), 4u);
  EXPECT_EQ(lines[0].text,
            "k: msg='apparmor=\"ALLOWED\" peer_label=\"unconfined\" exe=\"/usr/bin/dbus-daemon\" "
            "terminal=?'");
  EXPECT_EQ(lines[0].line_no, 1u);
  EXPECT_EQ(lines[1].text, "  indented but not a continuation");
  EXPECT_EQ(lines[1].line_no, 3u);
  EXPECT_EQ(lines[2].text, "k: msg='open");
  EXPECT_EQ(lines[3].text, "next record");
  EXPECT_EQ(lines[3].line_no, 5u);
}

TEST_F(ReaderTest, LongLineIsTruncatedAndFlagged) {
  std::string big(LineReader::kMaxLineBytes + 5000, 'x');
  auto r = LineReader::open(write("d.log", "short\n" + big + "\nafter\n"));
  ASSERT_TRUE(r.has_value());
  ASSERT_EQ(r->next().value()->text, "short");
  EXPECT_FALSE(r->last_truncated());
  auto l = r->next().value();
  ASSERT_TRUE(l.has_value());
  EXPECT_EQ(l->text.size(), LineReader::kMaxLineBytes);
  EXPECT_TRUE(r->last_truncated());
  auto after = r->next().value();
  ASSERT_TRUE(after.has_value());
  EXPECT_EQ(after->text, "after");
  EXPECT_EQ(after->line_no, 3u);
  EXPECT_FALSE(r->last_truncated());
}

TEST_F(ReaderTest, MissingFileNamesThePath) {
  auto r = LineReader::open((dir_ / "nope.log").string());
  ASSERT_FALSE(r.has_value());
  EXPECT_EQ(r.error().path, (dir_ / "nope.log").string());
  EXPECT_EQ(r.error().message, "No such file or directory");
}

}  // namespace
}  // namespace aatune::collector
