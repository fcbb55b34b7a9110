// Policy injection property test: names chosen by an attacker (a confined process picks the file
// names in its denials) must render to a rule matching exactly that name, or be refused. The real
// apparmor_parser is the judge of what the rendered text means: its `-D rule-exprs` dump shows the
// expression each rule compiles to, which must be the literal name and nothing wider.
#include <gtest/gtest.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <map>
#include <random>
#include <set>
#include <string>
#include <vector>

#include "rules/aare.h"
#include "rules/profile_tree.h"
#include "rules/rule.h"

namespace aatune::rules {
namespace {

namespace fs = std::filesystem;

// Pieces hostile names are assembled from: AARE and profile-syntax specials, quoting, comments,
// variables, control bytes, invalid UTF-8, traversal.
const std::vector<std::string> kPieces = {"\n",
                                          ",",
                                          "\"",
                                          " ",
                                          "#",
                                          "{",
                                          "}",
                                          "[",
                                          "]",
                                          "*",
                                          "**",
                                          "?",
                                          "^",
                                          "@{",
                                          "\\",
                                          "\t",
                                          "\x01",
                                          "\x1f",
                                          "\x7f",
                                          "\xff",
                                          "\xc3",
                                          "\xa9",
                                          "..",
                                          "/",
                                          "a",
                                          "b",
                                          ".",
                                          "+",
                                          "(",
                                          ")",
                                          "|",
                                          "$",
                                          "=",
                                          "!",
                                          ":",
                                          "-",
                                          "->",
                                          "}",
                                          "r,",
                                          ", /** rwx,",
                                          "\" r,\n/** w,",
                                          "@{HOME}",
                                          "\\\\",
                                          "\\*",
                                          "\\\"",
                                          "%"};

// How apparmor_parser's expression dump prints a literal byte string.
std::string expected_dump(std::string_view path) {
  static constexpr std::string_view kEscaped = " ()*+.[]|";
  std::string out;
  char buf[8];
  for (const char c : path) {
    const auto u = static_cast<unsigned char>(c);
    if (u < 0x20 || u >= 0x7f) {
      std::snprintf(buf, sizeof buf, "\\x%x", u);
      out += buf;
      continue;
    }
    if (kEscaped.find(c) != std::string_view::npos) out += '\\';
    out += c;
  }
  return out;
}

struct ParserRun {
  int status = -1;
  std::string output;
};

ParserRun run_parser_dump(const fs::path& profile) {
  const std::string cmd =
      std::string(APPARMOR_PARSER) + " -QTK -D rule-exprs '" + profile.string() + "' 2>&1";
  ParserRun run;
  FILE* p = popen(cmd.c_str(), "r");
  if (p == nullptr) return run;
  char buf[65536];
  size_t n = 0;
  while ((n = fread(buf, 1, sizeof buf, p)) > 0) run.output.append(buf, n);
  run.status = pclose(p);
  return run;
}

// The right-hand side (compiled expression) of every `rule:` line of the dump.
std::multiset<std::string> dumped_rules(const std::string& output) {
  std::multiset<std::string> out;
  size_t pos = 0;
  while (pos < output.size()) {
    size_t end = output.find('\n', pos);
    if (end == std::string::npos) end = output.size();
    const std::string_view line(output.data() + pos, end - pos);
    pos = end + 1;
    if (!line.starts_with("rule: ")) continue;
    // The compiled side escapes spaces, so its arrow is the last one on the line.
    const size_t arrow = line.rfind("  ->  ");
    const size_t perms = line.rfind(" (0x");
    if (arrow == std::string_view::npos || perms == std::string_view::npos || perms < arrow) {
      continue;
    }
    out.emplace(line.substr(arrow + 6, perms - arrow - 6));
  }
  return out;
}

class HostileNames : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() / ("aatune-hostile-" + std::to_string(::getpid()));
    fs::create_directories(dir_);
  }
  void TearDown() override { fs::remove_all(dir_); }

  // Writes `rules` into one profile, runs the real parser, and checks it compiled exactly the
  // literal `names` (one expression per rule, each the literal name).
  void expect_parser_literal(const std::vector<std::string>& rules,
                             const std::vector<std::string>& names, const std::string& tag) {
    const fs::path file = dir_ / ("p-" + tag);
    {
      std::ofstream out(file, std::ios::binary);
      out << "profile hostile_" << tag << " {\n";
      for (const auto& r : rules) out << "  " << r << "\n";
      out << "}\n";
    }
    const ParserRun run = run_parser_dump(file);
    ASSERT_EQ(run.status, 0) << run.output.substr(0, 2000);
    std::multiset<std::string> want;
    for (const auto& n : names) want.insert(expected_dump(n));
    const auto got = dumped_rules(run.output);
    ASSERT_EQ(got.size(), want.size()) << "the parser saw a different number of rules";
    std::vector<std::string> missing;
    std::set_difference(want.begin(), want.end(), got.begin(), got.end(),
                        std::back_inserter(missing));
    EXPECT_TRUE(missing.empty()) << missing.size() << " rules compiled to something else, e.g. "
                                 << (missing.empty() ? "" : missing.front());
  }

  fs::path dir_;
};

TEST_F(HostileNames, KnownInjectionsAreInert) {
  // A name built to close the rule and open a second, wider one.
  const std::string evil = "/tmp/x r,\n  /** rwix,\n  /tmp/y";
  EXPECT_EQ(quote_path_literal(evil).error(), "path contains a newline");
  const std::string evil2 = "/tmp/a\" r, /** w, \"/b";
  auto q = quote_path_literal(evil2);
  ASSERT_TRUE(q.has_value());
  EXPECT_EQ(render(Rule{.body = FileRule{.path = *q, .perms = "r"}}),
            "\"/tmp/a\\\" r, /\\*\\* w, \\\"/b\" r,");
  EXPECT_EQ(*quote_path_literal("/tmp/@{HOME}/**"), "/tmp/@\\{HOME\\}/\\*\\*");
  EXPECT_EQ(render(Rule{.body = FileRule{.path = "/tmp/bang!", .perms = "r"}}),
            "\"/tmp/bang!\" r,");
  EXPECT_EQ(*quote_label_literal("evil//child*"), "evil//child\\*");
  EXPECT_EQ(quote_label_literal("").error(), "empty label");
}

// A crafted profile or child name must not steer the derived local/ include outside the tree.
TEST_F(HostileNames, DerivedLocalIncludeStaysInTheTree) {
  const fs::path root = dir_ / "tree";
  fs::create_directories(root / "local");
  {
    std::ofstream(root / "usr.bin.app") << "profile app /usr/bin/app {\n"
                                        << "  profile ../../../etc/cron.d/x {\n  }\n"
                                        << "  ^..//.. {\n  }\n"
                                        << "}\n";
    std::ofstream(root / "usr.bin.evil") << "profile evil /usr/bin/evil {\n"
                                         << "  include if exists <local/../../../etc/passwd>\n"
                                         << "}\n";
  }
  auto tree = read_profile_tree(root);
  ASSERT_TRUE(tree.has_value()) << tree.error();
  size_t checked = 0;
  for (const auto& p : tree->profiles) {
    auto files = tree->files_for(p.name);
    if (!files) {
      EXPECT_EQ(p.name, "evil");
      EXPECT_EQ(files.error(),
                "profile 'evil': local include 'local/../../../etc/passwd' would point outside "
                "the profile tree");
      continue;
    }
    ++checked;
    const fs::path local = fs::path(files->local_file).lexically_normal();
    const std::string rel = local.lexically_relative(root).string();
    EXPECT_TRUE(rel.starts_with("local/")) << p.name << " -> " << files->local_file;
    for (const auto& part : fs::path(rel)) EXPECT_NE(part.string(), "..") << rel;
    EXPECT_EQ(fs::path(files->local_include).lexically_normal().string(), files->local_include)
        << p.name;
  }
  EXPECT_GE(checked, 2u);
}

}  // namespace
}  // namespace aatune::rules
