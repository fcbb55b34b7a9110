// The groups screen analyses a sample of each group's records; the Detail screen asks the backend
// for the whole evidence, once, when it opens (cli/cmd_tui.cpp: items() samples, evidence() reads
// up to 100 records per group).
#include <gtest/gtest.h>

#include <algorithm>
#include <set>

#include "tui/app.h"
#include "tui/terminal.h"
#include "tui/text.h"

namespace aatune::tui {
namespace {

analyzer::Group group(uint64_t count, std::set<uint64_t> pids) {
  analyzer::Group g;
  g.key = {"web", "file", "open", "/srv/data", "r"};
  g.count = count;
  g.pids = std::move(pids);
  g.comms = {"httpd"};
  return g;
}

class SampledBackend final : public Backend {
 public:
  std::expected<std::vector<ProfileRow>, std::string> profiles() override {
    return std::vector<ProfileRow>{{"web", "", "enforce", 1, 0, std::nullopt, {}}};
  }
  std::expected<std::vector<Item>, std::string> items(std::string_view) override {
    ++items_calls;
    analyzer::Proposal p;
    p.id = 1;
    p.profile = "web";
    p.rule_class = "file";
    p.rule = "/srv/data r,";
    p.why.text = "no rule allows it";
    // A sample of 3 records of a group the store counts 150 times.
    return std::vector<Item>{{p, {group(3, {10, 11, 12})}, {"k1"}, 150, false}};
  }
  std::expected<std::vector<analyzer::Group>, std::string> evidence(const Item& item) override {
    ++evidence_calls;
    asked_keys = item.group_keys;
    return std::vector<analyzer::Group>{group(100, {10, 11, 12, 13, 14})};
  }
  std::expected<void, std::string> ignore(std::span<const std::string>) override { return {}; }
  std::expected<std::string, std::string> check_rule(std::string_view t) override {
    return std::string(t);
  }
  std::expected<Preview, std::string> preview(std::span<const Accepted>) override {
    return Preview{};
  }
  std::expected<std::string, std::string> save(std::span<const Accepted>) override { return ""; }
  std::expected<std::string, std::string> reload(std::string_view) override { return ""; }
  std::expected<std::string, std::string> disable(std::string_view) override { return ""; }
  std::expected<std::string, std::string> toggle_mode(std::string_view) override { return ""; }
  std::expected<std::string, std::string> undo() override { return ""; }

  int items_calls = 0;
  int evidence_calls = 0;
  std::vector<std::string> asked_keys;
};

std::vector<std::string> run(App& app, std::string_view script, Size size = {60, 16}) {
  auto keys = parse_keys(script);
  EXPECT_TRUE(keys.has_value()) << keys.error();
  return run_batch(app, *keys, size);
}

TEST(SampledEvidence, GroupsScreenNeverLoadsTheFullEvidence) {
  SampledBackend be;
  App app(be);
  app.start();
  const auto s = run(app, "Enter Down Up End Home", {100, 16});
  EXPECT_EQ(be.items_calls, 1);
  EXPECT_EQ(be.evidence_calls, 0);
  EXPECT_EQ(
      s[2],
      fit(">   low      file       /srv/data                    r      150    /srv/data r,", 100));
}

TEST(SampledEvidence, DetailShowsEveryRecordNotTheSample) {
  SampledBackend be;
  App app(be);
  app.start();
  const auto s = run(app, "Enter Enter Down Up");
  EXPECT_EQ(be.evidence_calls, 1);  // once, not per keypress
  EXPECT_EQ(be.asked_keys, std::vector<std::string>{"k1"});
  EXPECT_NE(std::ranges::find(s, fit("Evidence: 100x open /srv/data mask r", 60)), s.end());
  EXPECT_NE(std::ranges::find(s, fit("  pid 10,11,12,13,14  comm httpd  first -  last -", 60)),
            s.end());
  // Back and in again: the item already holds the full evidence.
  (void)run(app, "Esc Enter");
  EXPECT_EQ(be.evidence_calls, 1);
}

}  // namespace
}  // namespace aatune::tui
