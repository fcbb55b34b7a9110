// libapparmor's own parser test corpus (testsuite/test_multi): every .in rendered in test_multi's
// layout must equal its .out byte for byte. One test per file, so ctest lists all 179.
#include <gtest/gtest.h>

#include <algorithm>
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

const fs::path kCorpus = AATUNE_CONFORMANCE_DIR;

std::vector<std::string> corpus_cases() {
  std::vector<std::string> names;
  std::error_code ec;
  for (const auto& entry : fs::directory_iterator(kCorpus, ec)) {
    if (entry.path().extension() == ".in") names.push_back(entry.path().stem().string());
  }
  std::ranges::sort(names);
  // A missing corpus must fail loudly, not pass with zero cases.
  if (names.empty()) names.emplace_back("MISSING_CORPUS");
  return names;
}

std::string slurp(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// test_multi parses the file's first record; the reader joins a wrapped dbus record the way
// test_multi's whole-file read does.
std::string render(const fs::path& in) {
  auto reader = LineReader::open(in.string());
  if (!reader) return "cannot open: " + reader.error().message;
  auto line = reader->next();
  if (!line || !*line) return "no line read";
  const auto outcome = parse_record((*line)->text);
  return format_aalogparse(outcome.event, in.filename().string());
}

class Conformance : public ::testing::TestWithParam<std::string> {};

TEST_P(Conformance, MatchesLibapparmorTestMulti) {
  ASSERT_NE(GetParam(), "MISSING_CORPUS") << "libapparmor conformance corpus not found in "
                                          << kCorpus << " (set -DAATUNE_CONFORMANCE_DIR=…)";
  const fs::path in = kCorpus / (GetParam() + ".in");
  const fs::path out = kCorpus / (GetParam() + ".out");
  ASSERT_TRUE(fs::exists(out)) << out;
  EXPECT_EQ(render(in), slurp(out));
}

INSTANTIATE_TEST_SUITE_P(TestMulti, Conformance, ::testing::ValuesIn(corpus_cases()),
                         [](const ::testing::TestParamInfo<std::string>& info) {
                           std::string name = info.param;
                           std::ranges::replace_if(
                               name,
                               [](char c) { return !std::isalnum(static_cast<unsigned char>(c)); },
                               '_');
                           return name;
                         });

}  // namespace
}  // namespace aatune::collector
