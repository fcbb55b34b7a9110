// The counting fast path (classify_line, LineReader::next_view) must decide exactly like the full
// path (parse_line, LineReader::next): same records, same errors, same classes, same line numbers.
#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "collector/format.h"
#include "collector/parser.h"
#include "collector/reader.h"

namespace aatune::collector {
namespace {

namespace fs = std::filesystem;

std::vector<std::string> lines_of(const fs::path& file) {
  std::ifstream in(file, std::ios::binary);
  std::vector<std::string> out;
  std::string line;
  while (std::getline(in, line)) out.push_back(line);
  return out;
}

// Hand-written edge cases: each exercises a check that lean mode must still run.
const std::vector<std::string> kEdgeCases = {
    // Valid, with a hex label and an unknown key.
    R"(type=AVC msg=audit(1.2:3): apparmor="DENIED" operation="open" profile=2F62696E name="/x" )"
    R"(pid=1 comm="a" requested_mask="r" denied_mask="r" fsuid=0 ouid=0 zzz="q")",
    // Odd-length hex in name=.
    R"(type=AVC msg=audit(1.2:3): apparmor="DENIED" operation="open" profile="p" name=ABC)",
    // Hex label that is not UTF-8.
    R"(type=AVC msg=audit(1.2:3): apparmor="DENIED" operation="exec" profile="p" target=FFFE)",
    // Invalid UTF-8 in a quoted value.
    "type=AVC msg=audit(1.2:3): apparmor=\"DENIED\" operation=\"open\" profile=\"p\" name=\"\xff\"",
    // A number field that is not a number.
    R"(type=AVC msg=audit(1.2:3): apparmor="DENIED" operation="open" profile="p" pid=x1)",
    // USER_AVC with sender keys and the unquoted subj mode suffix.
    R"(type=USER_AVC msg=audit(1.2:3): pid=1 uid=101 auid=4294967295 ses=4294967295 )"
    R"(subj=/usr/bin/dbus-daemon (enforce) msg='apparmor="DENIED" operation="dbus_method_call" )"
    R"(bus="system" path="/a" interface="b" member="c" mask="send" name="d" pid=2 )"
    R"(label="p" peer_pid=3 peer_label="q" exe="/usr/bin/dbus-daemon" sauid=101 hostname=? )"
    R"(addr=? terminal=?')",
    // Network record without class= (class inferred from family).
    R"(Nov 14 22:13:34 h kernel: [ 1.2] audit: type=1400 audit(1.2:3): apparmor="DENIED" )"
    R"(operation="create" profile="p" pid=1 comm="a" family="inet" sock_type="raw" protocol=1 )"
    R"(requested_mask="create" denied_mask="create")",
    // setrlimit without class=: rlimits, not file.
    R"(audit: type=1400 audit(1.2:3): apparmor="DENIED" operation="setrlimit" profile="p" )"
    R"(pid=1 comm="a" rlimit=nofile value=1024)",
    // Broken tail, a bad audit id, noise, a foreign record and an SELinux AVC.
    R"(type=AVC msg=audit(1.2:3): apparmor="DENIED" operation="open" profile="p" name="/x" junk)",
    R"(type=AVC msg=audit(1.2): apparmor="DENIED" operation="open")",
    "Nov 14 22:13:34 h sshd[1]: Accepted publickey for apparmor=root",
    R"(type=SYSCALL msg=audit(1.2:3): arch=c000003e syscall=2 comm="apparmor=")",
    R"(type=AVC msg=audit(1.2:3): avc:  denied  { read } for pid=1 comm="a")",
    R"(type=1502 audit(1.2:3): operation="open" profile="p" name="/x" pid=1)",
};

void expect_same_decision(const std::string& line, const std::string& where) {
  SCOPED_TRACE(where + ": " + line.substr(0, 160));
  const auto full = parse_line(line);
  Event reused;
  reused.name = "stale value from an earlier line";
  const auto lean = classify_line(line, reused);
  ASSERT_EQ(full.has_value(), !lean.has_value());
  if (!full) {
    EXPECT_EQ(static_cast<int>(full.error().kind), static_cast<int>(lean->kind));
    EXPECT_EQ(full.error().field, lean->field);
    EXPECT_EQ(full.error().message, lean->message);
    return;
  }
  EXPECT_EQ(record_class(*full), record_class(reused));
  EXPECT_EQ(full->event, reused.event);
  EXPECT_EQ(full->container, reused.container);
  EXPECT_EQ(full->trust, reused.trust);
  EXPECT_EQ(full->record_type, reused.record_type);
  EXPECT_FALSE(reused.name.has_value());
}

TEST(ClassifyLine, AgreesWithParseLineOnTheConformanceCorpus) {
  size_t n = 0;
  std::error_code ec;
  for (const auto& entry : fs::directory_iterator(AATUNE_CONFORMANCE_DIR, ec)) {
    if (entry.path().extension() != ".in") continue;
    for (const auto& line : lines_of(entry.path())) {
      expect_same_decision(line, entry.path().filename().string());
      ++n;
    }
  }
  EXPECT_GE(n, 179u);
}

TEST(ClassifyLine, AgreesWithParseLineOnRealKernelFixtures) {
  size_t n = 0;
  for (const auto& entry : fs::directory_iterator(fs::path(AATUNE_FIXTURES_DIR) / "real-kernel")) {
    for (const auto& line : lines_of(entry.path())) {
      expect_same_decision(line, entry.path().filename().string());
      ++n;
    }
  }
  EXPECT_GT(n, 0u);
}

TEST(ClassifyLine, AgreesWithParseLineOnEdgeCases) {
  for (const auto& line : kEdgeCases) expect_same_decision(line, "edge case");
}

TEST(ClassifyLine, SetrlimitWithoutClassIsRlimits) {
  Event ev;
  ASSERT_FALSE(classify_line(kEdgeCases[7], ev).has_value());
  EXPECT_EQ(record_class(ev), "rlimits");
}

TEST(ClassifyLine, OddHexNamesTheField) {
  Event ev;
  const auto error = classify_line(kEdgeCases[1], ev);
  ASSERT_TRUE(error.has_value());
  EXPECT_EQ(error->kind, ParseError::Kind::kInvalid);
  EXPECT_EQ(error->field, "name");
  EXPECT_EQ(error->message, "odd-length hex value in name=");
}

class NextView : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() / ("aatune-nextview-" + std::to_string(::getpid()));
    fs::create_directories(dir_);
  }
  void TearDown() override { fs::remove_all(dir_); }
  fs::path dir_;
};

TEST_F(NextView, ReturnsTheSameLinesAsNext) {
  // A wrapped dbus record (joined), an empty line, a line over the cap and no final newline.
  std::ostringstream text;
  text << "first line\n"
       << "Nov 14 22:13:34 h dbus-daemon[1]: apparmor=\"DENIED\" msg='apparmor=\"DENIED\" "
          "operation=\"dbus_method_call\"\n"
       << "   bus=\"system\" path=\"/a\"'\n"
       << "\n"
       << std::string(LineReader::kMaxLineBytes + 10, 'x') << '\n'
       << "after the long one\n";
  for (int i = 0; i < 20000; ++i) text << "filler line " << i << '\n';
  text << "last without newline";
  const fs::path file = dir_ / "log";
  std::ofstream(file, std::ios::binary) << text.str();

  auto a = LineReader::open(file.string());
  auto b = LineReader::open(file.string());
  ASSERT_TRUE(a && b);
  size_t n = 0;
  while (true) {
    auto full = a->next();
    auto view = b->next_view();
    ASSERT_TRUE(full && view);
    ASSERT_EQ(full->has_value(), view->has_value());
    if (!*full) break;
    ++n;
    SCOPED_TRACE("line " + std::to_string(n));
    EXPECT_EQ((*full)->text, (*view)->text);
    EXPECT_EQ((*full)->line_no, (*view)->line_no);
    EXPECT_EQ((*full)->offset, (*view)->offset);
    EXPECT_EQ(a->last_truncated(), b->last_truncated());
    EXPECT_EQ(a->offset(), b->offset());
  }
  EXPECT_EQ(n, 20006u);
}

}  // namespace
}  // namespace aatune::collector
