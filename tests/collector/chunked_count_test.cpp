// The chunked counter must give exactly what one sequential full parse gives: same totals, same
// invalid records with the same line numbers, in file order, whatever the chunk size, and a
// wrapped record is never cut from its continuation line.
#include "collector/chunked_count.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "collector/format.h"

namespace aatune::collector {
namespace {

namespace fs = std::filesystem;

struct Outcome {
  ClassCounts counts;
  std::vector<std::string> invalid;  // "LINE: message (field)"
};

std::string describe(const Outcome& o) {
  std::ostringstream out;
  out << "records " << o.counts.records << " invalid " << o.counts.invalid << " other "
      << o.counts.other << " lines " << o.counts.lines << '\n';
  for (const auto& [cls, n] : o.counts.per_class) out << "  " << cls << ' ' << n << '\n';
  for (const auto& line : o.invalid) out << line << '\n';
  return out.str();
}

std::string invalid_text(uint64_t line_no, const ParseError& error) {
  return std::to_string(line_no) + ": " + error.message + " (" + error.field + ")";
}

Outcome count(const fs::path& file, unsigned jobs, uint64_t chunk_bytes) {
  Outcome o;
  CountOptions options;
  options.jobs = jobs;
  options.chunk_bytes = chunk_bytes;
  auto counts = count_records(file.string(), options, [&](const InvalidLine& invalid) {
    o.invalid.push_back(invalid_text(invalid.line_no, invalid.error));
  });
  EXPECT_TRUE(counts.has_value()) << (counts ? "" : counts.error().message);
  if (counts) o.counts = *counts;
  return o;
}

// The reference: LineReader::next() and the full parse_line(), one line after the other.
Outcome reference(const fs::path& file) {
  Outcome o;
  auto reader = LineReader::open(file.string());
  EXPECT_TRUE(reader.has_value());
  while (reader) {
    auto next = reader->next();
    EXPECT_TRUE(next.has_value());
    if (!next || !*next) break;
    const RawLine& line = **next;
    ++o.counts.lines;
    if (reader->last_truncated()) {
      ++o.counts.invalid;
      o.invalid.push_back(std::to_string(line.line_no) + ": line longer than 1 MiB, skipped ()");
      continue;
    }
    if (line.text.empty()) continue;
    auto event = parse_line(line.text);
    if (!event) {
      if (event.error().kind == ParseError::Kind::kInvalid) {
        ++o.counts.invalid;
        o.invalid.push_back(invalid_text(line.line_no, event.error()));
      } else {
        ++o.counts.other;
      }
      continue;
    }
    ++o.counts.records;
    ++o.counts.per_class[std::string(record_class(*event))];
  }
  return o;
}

class ChunkedCount : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() / ("aatune-chunked-" + std::to_string(::getpid()));
    fs::create_directories(dir_);
  }
  void TearDown() override { fs::remove_all(dir_); }
  fs::path write(const std::string& name, const std::string& text) {
    const fs::path file = dir_ / name;
    std::ofstream(file, std::ios::binary) << text;
    return file;
  }
  fs::path dir_;
};

// A dbus-daemon record that rsyslog wrapped: the body's raw newline became a continuation line
// (libapparmor's testcase_dbus_09).
const std::string kWrappedHead =
    "Nov 14 22:13:34 lap dbus-daemon[1034]: apparmor=\"DENIED\" msg='apparmor=\"DENIED\" "
    "operation=\"dbus_method_call\" bus=\"system\" path=\"/org/freedesktop/hostname1\"\n";
const std::string kWrappedTail =
    "   interface=\"org.freedesktop.DBus.Properties\" member=\"GetAll\" mask=\"send\" "
    "name=\"org.freedesktop.hostname1\" pid=2471 label=\"/usr/bin/evince\" peer_pid=1 "
    "peer_label=\"unconfined\"'\n";

std::string small_log() {
  std::string text;
  text += "Nov 14 22:13:30 lap sshd[1]: Accepted publickey for user\n";
  text +=
      "type=AVC msg=audit(1.2:3): apparmor=\"DENIED\" operation=\"open\" profile=\"/usr/bin/a\" "
      "name=\"/etc/x\" pid=1 comm=\"a\" requested_mask=\"r\" denied_mask=\"r\" fsuid=0 ouid=0\n";
  text += kWrappedHead + kWrappedTail;
  text +=
      "type=AVC msg=audit(1.2:4): apparmor=\"DENIED\" operation=\"open\" profile=\"p\" "
      "name=ABC\n";  // line 5: odd-length hex
  text += "\n";
  text += kWrappedHead + kWrappedTail;  // lines 7-8
  text +=
      "type=AVC msg=audit(1.2:5): apparmor=\"DENIED\" operation=\"capable\" profile=\"p\" "
      "pid=2 comm=\"b\" capability=12  capname=\"net_admin\"\n";
  text += "type=AVC msg=audit(1.2:6): apparmor=\"DENIED\" operation=\"open\" pid=x1\n";  // 10
  text += "\t indented noise that is not a continuation\n";
  text += "last line without a newline apparmor=";
  return text;
}

TEST_F(ChunkedCount, SequentialMatchesTheFullParse) {
  const fs::path file = write("small.log", small_log());
  const Outcome seq = count(file, 1, 0);
  EXPECT_EQ(describe(seq), describe(reference(file)));
  EXPECT_EQ(seq.counts.records, 4u);
  EXPECT_EQ(seq.counts.per_class.at("dbus"), 2u);
  EXPECT_EQ(seq.counts.lines, 10u);  // 12 physical lines, two wrapped records joined
  ASSERT_EQ(seq.invalid.size(), 3u);
  EXPECT_EQ(seq.invalid[0], "5: odd-length hex value in name= (name)");
  EXPECT_EQ(seq.invalid[1], "10: expected a number in pid= (pid)");
  EXPECT_EQ(seq.invalid[2],
            "12: unrecognised text before the record (not audit.log, syslog, dmesg or journal "
            "format) ()");
}

TEST_F(ChunkedCount, EveryChunkSizeGivesTheSameResult) {
  // Every chunk size from 1 byte to the whole file puts a nominal cut at every byte offset,
  // including the first byte of each continuation line.
  const std::string text = small_log();
  const fs::path file = write("small.log", text);
  const std::string expected = describe(reference(file));
  for (uint64_t chunk = 1; chunk <= text.size() + 1; ++chunk) {
    SCOPED_TRACE("chunk_bytes " + std::to_string(chunk));
    ASSERT_EQ(describe(count(file, 2, chunk)), expected);
  }
  EXPECT_EQ(describe(count(file, 3, 7)), expected);
}

TEST_F(ChunkedCount, WrappedRecordExactlyAtAChunkBoundary) {
  std::string text = "noise line one\nnoise line two\n";
  const uint64_t continuation = text.size() + kWrappedHead.size();
  text += kWrappedHead + kWrappedTail + "after\n";
  const fs::path file = write("wrapped.log", text);
  ASSERT_EQ(text.substr(continuation, 3), "   ");
  // The nominal cut falls on the continuation line's first byte and on the bytes around it.
  for (const uint64_t chunk : {continuation - 1, continuation, continuation + 1}) {
    SCOPED_TRACE("chunk_bytes " + std::to_string(chunk));
    const Outcome o = count(file, 2, chunk);
    EXPECT_EQ(o.counts.records, 1u);
    EXPECT_EQ(o.counts.per_class.at("dbus"), 1u);
    EXPECT_EQ(o.counts.lines, 4u);
    EXPECT_EQ(o.counts.other, 3u);
    EXPECT_TRUE(o.invalid.empty());
  }
}

TEST_F(ChunkedCount, OverlongLinesAcrossChunks) {
  // A line over the 1 MiB limit spans several chunks; the lines after it keep their numbers.
  std::string text = "type=AVC msg=audit(1.2:6): apparmor=\"DENIED\" operation=\"open\" pid=x1\n";
  text += std::string(LineReader::kMaxLineBytes + 300000, 'x') + "\n";
  text += "type=AVC msg=audit(1.2:7): apparmor=\"DENIED\" operation=\"open\" pid=x2\n";
  const fs::path file = write("long.log", text);
  const std::string expected = describe(reference(file));
  for (const uint64_t chunk : {uint64_t{4096}, uint64_t{300000}, uint64_t{1} << 20}) {
    SCOPED_TRACE("chunk_bytes " + std::to_string(chunk));
    const Outcome o = count(file, 2, chunk);
    EXPECT_EQ(describe(o), expected);
    ASSERT_EQ(o.invalid.size(), 3u);
    EXPECT_EQ(o.invalid[1], "2: line longer than 1 MiB, skipped ()");
    EXPECT_EQ(o.invalid[2], "3: expected a number in pid= (pid)");
  }
}

TEST_F(ChunkedCount, GzipIsReadSequentially) {
  const fs::path file = write("small.log", small_log());
  const std::string expected = describe(reference(file));
  const std::string cmd = "gzip -k '" + file.string() + "'";
  ASSERT_EQ(std::system(cmd.c_str()), 0);
  EXPECT_EQ(describe(count(dir_ / "small.log.gz", 2, 16)), expected);
}

TEST_F(ChunkedCount, MissingFileIsAnError) {
  CountOptions options;
  auto counts = count_records((dir_ / "nope.log").string(), options, [](const InvalidLine&) {});
  ASSERT_FALSE(counts.has_value());
  EXPECT_EQ(counts.error().message, "No such file or directory");
}

TEST_F(ChunkedCount, GeneratedLogMatchesTheFullParse) {
  // The benchmark generator's log (every class and container, wrapped dbus records), with an
  // invalid record after every 997th line so that line numbers are checked across chunks.
  const fs::path generated = dir_ / "gen.log";
  const std::string cmd = "python3 '" AATUNE_SOURCE_DIR
                          "/tests/bench/gen_log.py' --lines 20000 "
                          "--seed 3 '" +
                          generated.string() + "'";
  ASSERT_EQ(std::system(cmd.c_str()), 0) << cmd;
  std::ifstream in(generated, std::ios::binary);
  std::string text;
  std::string line;
  for (size_t n = 1; std::getline(in, line); ++n) {
    text += line + '\n';
    if (n % 997 == 0) {
      text += "type=AVC msg=audit(1.2:" + std::to_string(n) +
              "): apparmor=\"DENIED\" operation=\"open\" profile=\"p\" name=ABC\n";
    }
  }
  const fs::path file = write("mixed.log", text);
  const Outcome expected = reference(file);
  ASSERT_GT(expected.counts.records, 8000u);
  ASSERT_GE(expected.invalid.size(), 20u);
  ASSERT_GT(expected.counts.per_class.count("dbus"), 0u);
  for (const uint64_t chunk : {uint64_t{1000}, uint64_t{65536}, uint64_t{1} << 20}) {
    for (const unsigned jobs : {2U, 3U}) {
      SCOPED_TRACE("chunk_bytes " + std::to_string(chunk) + " jobs " + std::to_string(jobs));
      EXPECT_EQ(describe(count(file, jobs, chunk)), describe(expected));
    }
  }
}

}  // namespace
}  // namespace aatune::collector
