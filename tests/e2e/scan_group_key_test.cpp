// The scan builds each record's group key with analyzer::append_group_key (no GroupKey, no
// allocation); it must be byte for byte what to_string(group_key()) gives everywhere else, or the
// store's groups would split from the analyzer's.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "analyzer/grouping.h"
#include "collector/parser.h"

namespace aatune {
namespace {

namespace fs = std::filesystem;

std::vector<std::string> corpus_lines() {
  std::vector<std::string> lines;
  auto read = [&](const fs::path& p) {
    std::ifstream in(p);
    for (std::string line; std::getline(in, line);) lines.push_back(line);
  };
  for (const auto& e : fs::directory_iterator(AATUNE_CONFORMANCE_DIR)) {
    if (e.path().extension() == ".in") read(e.path());
  }
  for (const auto& e : fs::recursive_directory_iterator(AATUNE_FIXTURES_DIR)) {
    if (e.is_regular_file() && e.path().extension() == ".txt") read(e.path());
  }
  return lines;
}

TEST(ScanGroupKeyTest, AppendGroupKeyEqualsToStringOfGroupKeyOnEveryCorpusRecord) {
  size_t records = 0;
  std::string out = "left over from the previous record";
  for (const std::string& line : corpus_lines()) {
    auto e = collector::parse_line(line);
    if (!e) continue;
    ++records;
    out.clear();
    analyzer::append_group_key(*e, out);
    EXPECT_EQ(out, analyzer::to_string(analyzer::group_key(*e))) << line;
  }
  EXPECT_GT(records, 150u);
}

TEST(ScanGroupKeyTest, AppendGroupKeyEqualsToStringOfGroupKeyPerClass) {
  std::vector<collector::Event> events(9);
  events[0].operation = "capable";
  events[0].name = "sys_admin";  // no capname: the name is the target
  events[1].operation = "capable";
  events[1].extra = {{"capname", "net_raw"}, {"capname", ""}};  // last capname empty
  events[2].operation = "signal";
  events[2].peer_profile = "unconfined";
  events[2].signal = "kill";
  events[3].operation = "ptrace";
  events[3].peer = "p";
  events[3].peer_profile = "q";
  events[4].rule_class = "net";
  events[4].net_family = "unix";
  events[4].net_sock_type = "stream";
  events[4].peer_addr = "@x";
  events[5].operation = "connect";
  events[5].net_family = "inet";
  events[5].net_protocol = "6";
  events[6].operation = "dbus_method_call";
  events[6].dbus_bus = "system";
  events[6].dbus_member = "Get";
  events[7].operation = "mount";
  events[7].name = "/mnt";
  events[7].fs_type = "tmpfs";
  events[8].operation = "link";
  events[8].profile = "p//child";
  events[8].name = "/a";
  events[8].name2 = "/b";
  events[8].requested_mask = "l";
  for (const auto& e : events) {
    std::string out;
    analyzer::append_group_key(e, out);
    EXPECT_EQ(out, analyzer::to_string(analyzer::group_key(e)));
  }
}

}  // namespace
}  // namespace aatune
