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

bool has_control(std::string_view s) {
  return std::any_of(s.begin(), s.end(),
                     [](char c) { return static_cast<unsigned char>(c) < 0x20 || c == 0x7f; });
}

std::vector<std::string> hostile_names(size_t count, unsigned seed) {
  std::mt19937 rng(seed);
  std::uniform_int_distribution<size_t> piece(0, kPieces.size() - 1);
  std::uniform_int_distribution<int> len(1, 12);
  std::vector<std::string> out;
  for (size_t i = 0; i < count; ++i) {
    // The index keeps every name distinct, so the parser never merges two rules.
    std::string name = "/tmp/h" + std::to_string(i) + "_";
    const int n = (i % 97 == 0) ? 600 : len(rng);  // some very long names
    for (int k = 0; k < n; ++k) name += kPieces[piece(rng)];
    out.push_back(name);
  }
  return out;
}

// How apparmor_parser's expression dump prints a literal byte string. The parser's slash filter
// makes every run of '/' one '/' (the kernel never names a path with "//"), so the dump does too.
std::string expected_dump(std::string_view path) {
  static constexpr std::string_view kEscaped = " ()*+.[]|";
  std::string out;
  char buf[8];
  for (size_t i = 0; i < path.size(); ++i) {
    const char c = path[i];
    if (c == '/' && i > 0 && path[i - 1] == '/') continue;
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
    std::vector<std::string> extra;
    std::set_difference(got.begin(), got.end(), want.begin(), want.end(),
                        std::back_inserter(extra));
    EXPECT_TRUE(missing.empty()) << missing.size() << " rules compiled to something else, e.g. "
                                 << (missing.empty() ? "" : missing.front())
                                 << " (compiled: " << (extra.empty() ? "" : extra.front()) << ")";
  }

  fs::path dir_;
};

TEST_F(HostileNames, FileRulesMatchExactlyTheNameOrAreRefused) {
  if (access(APPARMOR_PARSER, X_OK) != 0) GTEST_SKIP() << APPARMOR_PARSER << " not installed";
  const auto names = hostile_names(3000, 20261123);
  size_t refused = 0;
  std::vector<std::string> batch_rules, batch_names;
  int batch = 0;
  for (const auto& name : names) {
    auto q = quote_path_literal(name);
    if (!q) {
      ++refused;
      // Only control bytes are a reason to refuse an absolute path.
      EXPECT_TRUE(has_control(name)) << "refused without cause: " << q.error();
      EXPECT_FALSE(q.error().empty());
      continue;
    }
    ASSERT_FALSE(has_control(name)) << "accepted a control byte";
    const std::string text = render(Rule{.body = FileRule{.path = *q, .perms = "r"}});
    ASSERT_EQ(text.find('\n'), std::string::npos);
    // Our own reader reads the rendered text back as the same single rule.
    auto back = parse_rule(text);
    ASSERT_TRUE(back.has_value()) << back.error() << " in " << text;
    const auto* f = std::get_if<FileRule>(&back->body);
    ASSERT_NE(f, nullptr) << text;
    EXPECT_EQ(f->path, *q) << text;
    EXPECT_EQ(f->perms, "r") << text;
    // Our matcher: exactly that path, no sibling.
    auto aare = Aare::compile(*q);
    ASSERT_TRUE(aare.has_value()) << aare.error() << " for " << *q;
    EXPECT_TRUE(aare->is_literal()) << *q;
    EXPECT_TRUE(aare->matches(name)) << *q;
    EXPECT_FALSE(aare->matches(name + "x")) << *q;
    // The parent directory (slashes collapse in AARE, so strip trailing ones first).
    std::string parent = name;
    while (parent.size() > 1 && parent.back() == '/') parent.pop_back();
    parent = parent.substr(0, parent.rfind('/') + 1);
    EXPECT_FALSE(aare->matches(parent)) << *q;
    EXPECT_FALSE(aare->matches("/etc/shadow")) << *q;
    std::string sibling = name;
    std::replace_if(
        sibling.begin(), sibling.end(),
        [](char c) { return c == '*' || c == '?' || c == '[' || c == '{'; }, 'Z');
    if (sibling != name) {
      EXPECT_FALSE(aare->matches(sibling)) << *q;
    }
    batch_rules.push_back(text);
    batch_names.push_back(name);
    if (batch_rules.size() == 500) {
      expect_parser_literal(batch_rules, batch_names, std::to_string(batch++));
      batch_rules.clear();
      batch_names.clear();
    }
  }
  if (!batch_rules.empty()) expect_parser_literal(batch_rules, batch_names, "last");
  EXPECT_GT(refused, 100u);  // the generator does produce control bytes
  EXPECT_LT(refused, names.size() - 1000);
}

TEST_F(HostileNames, PeerLabelsMatchExactlyTheLabelOrAreRefused) {
  if (access(APPARMOR_PARSER, X_OK) != 0) GTEST_SKIP() << APPARMOR_PARSER << " not installed";
  auto names = hostile_names(1200, 7);
  std::vector<std::string> rules, literal_names;
  for (auto& name : names) {
    name = name.substr(5);  // "h12_…": a label need not start with '/'
    auto q = quote_label_literal(name);
    if (!q) {
      EXPECT_TRUE(has_control(name)) << q.error();
      continue;
    }
    auto aare = Aare::compile(*q);
    ASSERT_TRUE(aare.has_value()) << aare.error();
    EXPECT_TRUE(aare->matches(name)) << *q;
    EXPECT_FALSE(aare->matches(name + "x")) << *q;
    EXPECT_FALSE(aare->matches("unconfined")) << *q;
    // Every peer-carrying class renders the label the same way and stays one statement.
    const std::vector<Rule> carriers = {
        Rule{.body = SignalRule{.access = {"send"}, .signals = {"term"}, .peer = *q}},
        Rule{.body = PtraceRule{.access = {"read"}, .peer = *q}},
        Rule{.body = UnixRule{.access = {"connect"}, .type = "stream", .peer_label = *q}},
        Rule{.body = DbusRule{.access = {"send"}, .bus = "system", .peer_label = *q}},
    };
    for (const auto& r : carriers) {
      const std::string text = render(r);
      ASSERT_EQ(text.find('\n'), std::string::npos);
      auto back = parse_rule(text);
      ASSERT_TRUE(back.has_value()) << back.error() << " in " << text;
      EXPECT_TRUE(same_rule(*back, r)) << text << " read back as " << render(*back);
    }
    rules.push_back(render(carriers[0]));
    literal_names.push_back(name);
  }
  // The parser must accept every signal rule; their peers are compiled into the signal
  // expressions, so acceptance plus our round trip is the check here.
  const fs::path file = dir_ / "peers";
  {
    std::ofstream out(file, std::ios::binary);
    out << "profile peers {\n";
    for (const auto& r : rules) out << "  " << r << "\n";
    out << "}\n";
  }
  const ParserRun run = run_parser_dump(file);
  EXPECT_EQ(run.status, 0) << run.output.substr(0, 2000);
}

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
