// scan_line() must find the same line end as memchr and the same facts as the per-line checks it
// replaces (may_be_apparmor, the NUL / high-bit scan, the quote search); next_scanned() must
// return the same lines as next_view(); classify_scanned() must decide like classify_line().
#include "collector/line_scan.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <random>
#include <sstream>
#include <string>
#include <string_view>
#include <vector>

#include "collector/format.h"
#include "collector/parser.h"
#include "collector/reader.h"

namespace aatune::collector {
namespace {

namespace fs = std::filesystem;

// The facts of `line` computed one check at a time (the reference).
LineFacts reference_facts(std::string_view line) {
  LineFacts f;
  f.may_be_apparmor = may_be_apparmor(line);
  f.nul = line.find('\0') != std::string_view::npos;
  for (const char c : line) f.high_bit = f.high_bit || static_cast<unsigned char>(c) >= 0x80;
  f.quote = line.find('\'') != std::string_view::npos;
  return f;
}

// Scans `buffer` and checks the result against memchr and reference_facts().
void expect_scan_matches(std::string_view buffer) {
  const ScannedLine got = scan_line(buffer.data(), buffer.size());
  const size_t nl = buffer.find('\n');
  const std::string_view line = buffer.substr(0, nl);
  ASSERT_EQ(got.newline, nl != std::string_view::npos);
  ASSERT_EQ(got.length, line.size());
  const LineFacts want = reference_facts(line);
  EXPECT_EQ(got.facts.may_be_apparmor, want.may_be_apparmor);
  EXPECT_EQ(got.facts.nul, want.nul);
  EXPECT_EQ(got.facts.high_bit, want.high_bit);
  EXPECT_EQ(got.facts.quote, want.quote);
}

TEST(ScanLine, EmptyAndNewlineOnly) {
  EXPECT_EQ(scan_line("", 0).length, 0u);
  EXPECT_FALSE(scan_line("", 0).newline);
  const ScannedLine nl = scan_line("\nx", 2);
  EXPECT_TRUE(nl.newline);
  EXPECT_EQ(nl.length, 0u);
  EXPECT_FALSE(nl.facts.may_be_apparmor);
}

TEST(ScanLine, NeedleAtEveryOffsetAroundBlockEdgesAndTheNewline) {
  // Every needle (and near misses) at every offset of lines of many lengths, followed by a
  // newline and then by bytes that must not count: a needle after the newline, or none at all.
  const std::vector<std::string> needles = {
      "apparmor=",          "APPARMOR", "=150", "[150", " 150",
      "apparmor",           "APPARMO",  "=15",  "a=",   "'",
      std::string(1, '\0'), "\xc3\xa9"};
  const std::vector<std::string> tails = {"", "\n", "\napparmor=\"DENIED\" APPARMOR =1503",
                                          "\n" + std::string(80, 'y')};
  size_t cases = 0;
  for (const auto& needle : needles) {
    for (size_t len = 0; len <= 100; ++len) {
      for (size_t at = 0; at + needle.size() <= len; ++at) {
        std::string line(len, 'x');
        line.replace(at, needle.size(), needle);
        for (const auto& tail : tails) {
          SCOPED_TRACE("needle '" + needle + "' at " + std::to_string(at) + " of " +
                       std::to_string(len) + ", tail " + std::to_string(tail.size()));
          expect_scan_matches(line + tail);
          ++cases;
        }
      }
    }
  }
  EXPECT_GT(cases, 40000u);
}

TEST(ScanLine, TheNeedleCutByTheNewlineIsNotOnTheLine) {
  // "apparmor" + newline + "=": the first/last-byte test sees 'a' and '=' 8 apart.
  const std::string buffer = std::string(50, 'x') + "apparmor\n=" + std::string(60, 'z');
  const ScannedLine got = scan_line(buffer.data(), buffer.size());
  EXPECT_TRUE(got.newline);
  EXPECT_EQ(got.length, 58u);
  EXPECT_FALSE(got.facts.may_be_apparmor);
}

TEST(ScanLine, RandomBuffersMatchTheReference) {
  // Bytes drawn mostly from the needles' alphabet so that candidates and confirmations are common.
  std::mt19937 rng(20261123);
  const std::string alphabet = "aApPrRmMoO=[150\n '\x80\xff";
  std::uniform_int_distribution<size_t> pick(0, alphabet.size());  // size(): a NUL byte
  std::uniform_int_distribution<size_t> length(0, 300);
  for (int i = 0; i < 20000; ++i) {
    std::string buffer(length(rng), 'x');
    for (char& c : buffer) {
      const size_t k = pick(rng);
      c = k == alphabet.size() ? '\0' : alphabet[k];
    }
    // Whole needles now and then, so that confirmed hits happen too.
    if (i % 3 == 0 && buffer.size() > 20) buffer.replace(i % (buffer.size() - 12), 9, "apparmor=");
    SCOPED_TRACE("case " + std::to_string(i));
    expect_scan_matches(buffer);
    if (HasFailure()) return;
  }
}

class NextScanned : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() / ("aatune-nextscanned-" + std::to_string(::getpid()));
    fs::create_directories(dir_);
  }
  void TearDown() override { fs::remove_all(dir_); }
  fs::path dir_;
};

TEST_F(NextScanned, ReturnsTheSameLinesAsNextViewWithExactFacts) {
  // A wrapped dbus record (joined), a quoted but closed msg, an empty line, a line over the cap,
  // lines across the reader's buffer refills, and no final newline.
  std::ostringstream text;
  text << "first line\n"
       << "Nov 14 22:13:34 h dbus-daemon[1]: apparmor=\"DENIED\" msg='apparmor=\"DENIED\" "
          "operation=\"dbus_method_call\"\n"
       << "   bus=\"system\" path=\"/a\"'\n"
       << "type=USER_AVC msg=audit(1.2:3): pid=1 msg='apparmor=\"DENIED\" x=\"y\"'\n"
       << "\n"
       << std::string(LineReader::kMaxLineBytes + 10, 'x') << '\n'
       << "after the long one\n";
  for (int i = 0; i < 20000; ++i) {
    text << "filler line " << i << (i % 7 == 0 ? " apparmor=\"DENIED\"" : "")
         << (i % 11 == 0 ? " it's" : "") << '\n';
  }
  text << "last without newline apparmor=";
  const fs::path file = dir_ / "log";
  std::ofstream(file, std::ios::binary) << text.str();

  auto a = LineReader::open(file.string());
  auto b = LineReader::open(file.string());
  ASSERT_TRUE(a && b);
  size_t n = 0;
  size_t with_facts = 0;
  while (true) {
    auto view = a->next_view();
    auto scanned = b->next_scanned();
    ASSERT_TRUE(view && scanned);
    ASSERT_EQ(view->has_value(), scanned->has_value());
    if (!*view) break;
    ++n;
    SCOPED_TRACE("line " + std::to_string(n));
    const LineView& got = (*scanned)->line;
    EXPECT_EQ((*view)->text, got.text);
    EXPECT_EQ((*view)->line_no, got.line_no);
    EXPECT_EQ((*view)->offset, got.offset);
    EXPECT_EQ(a->last_truncated(), b->last_truncated());
    EXPECT_EQ(a->offset(), b->offset());
    if (const auto& facts = (*scanned)->facts) {
      ++with_facts;
      const LineFacts want = reference_facts(got.text);
      EXPECT_EQ(facts->may_be_apparmor, want.may_be_apparmor);
      EXPECT_EQ(facts->nul, want.nul);
      EXPECT_EQ(facts->high_bit, want.high_bit);
      EXPECT_EQ(facts->quote, want.quote);
    }
  }
  EXPECT_EQ(n, 20007u);
  // All but the joined, the overlong, the last and the few lines across a refill.
  EXPECT_GT(with_facts, 19900u);
}

std::vector<std::string> lines_of(const fs::path& file) {
  std::ifstream in(file, std::ios::binary);
  std::vector<std::string> out;
  std::string line;
  while (std::getline(in, line)) out.push_back(line);
  return out;
}

TEST(ClassifyScanned, AgreesWithClassifyLineOnTheCorpora) {
  size_t n = 0;
  std::vector<fs::path> files;
  for (const auto& entry : fs::directory_iterator(AATUNE_CONFORMANCE_DIR)) {
    if (entry.path().extension() == ".in") files.push_back(entry.path());
  }
  for (const auto& entry : fs::directory_iterator(fs::path(AATUNE_FIXTURES_DIR) / "real-kernel")) {
    files.push_back(entry.path());
  }
  for (const auto& file : files) {
    for (const auto& line : lines_of(file)) {
      SCOPED_TRACE(file.filename().string() + ": " + line.substr(0, 120));
      ++n;
      const ScannedLine scan = scan_line(line.data(), line.size());
      Event a;
      Event b;
      const auto want = classify_line(line, a);
      const auto got = classify_scanned(line, scan.facts, b);
      ASSERT_EQ(want.has_value(), got.has_value());
      if (want) {
        EXPECT_EQ(static_cast<int>(want->kind), static_cast<int>(got->kind));
        EXPECT_EQ(want->field, got->field);
        EXPECT_EQ(want->message, got->message);
        continue;
      }
      EXPECT_EQ(record_class(a), record_class(b));
      EXPECT_EQ(a.event, b.event);
      EXPECT_EQ(a.container, b.container);
      EXPECT_EQ(a.trust, b.trust);
    }
  }
  EXPECT_GE(n, 179u);
}

TEST(ClassifyScanned, NulAndInvalidUtf8AreStillFound) {
  const std::string base =
      R"(type=AVC msg=audit(1.2:3): apparmor="DENIED" operation="open" profile="p" name=")";
  for (const std::string& bad : {std::string("a\0b", 3), std::string("\xff")}) {
    const std::string line = base + bad + "\"";
    const ScannedLine scan = scan_line(line.data(), line.size());
    Event ev;
    const auto error = classify_scanned(line, scan.facts, ev);
    ASSERT_TRUE(error.has_value());
    EXPECT_EQ(error->kind, ParseError::Kind::kInvalid);
    EXPECT_EQ(error->message, bad.size() == 3 ? "NUL byte at column 82" : "invalid UTF-8 in name=");
  }
}

}  // namespace
}  // namespace aatune::collector
