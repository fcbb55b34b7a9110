// The App's keys and screens, over a Backend that keeps its data in memory and records what it
// was asked to do (the real one, over store + rules, is exercised by tests/e2e/tui_*).
#include "tui/app.h"

#include <gtest/gtest.h>

#include <algorithm>

#include "tui/terminal.h"
#include "tui/text.h"

namespace aatune::tui {
namespace {

analyzer::Proposal proposal(size_t id, std::string profile, std::string rule) {
  analyzer::Proposal p;
  p.id = id;
  p.profile = std::move(profile);
  p.rule_class = "file";
  p.rule = std::move(rule);
  p.why.text = "no rule allows it";
  return p;
}

class MemoryBackend final : public Backend {
 public:
  MemoryBackend() {
    ProfileRow vm{"libvirt-7f3c", "webvm", "enforce", 2, 0, 1795425736, {0, 1, 4}};
    ProfileRow d{"libvirtd", "", "enforce", 1, 1, 1795425736, {2, 0, 0}};
    rows = {vm, d};
    auto file = proposal(1, "libvirt-7f3c", "owner /srv/vms/webvm-data.qcow2 rw,");
    file.alternatives = {
        {analyzer::Alternative::Kind::kGlob, "owner /srv/vms/* rw,", ""},
        {analyzer::Alternative::Kind::kRecursive, "owner /srv/vms/** rw,", ""},
        {analyzer::Alternative::Kind::kExtension, "owner /srv/vms/*.qcow2 rw,", ""}};
    file.targets = {
        {{analyzer::TargetFile::Kind::kLibvirtBase, "/t/libvirt/libvirt-7f3c", ""}, true},
        {{analyzer::TargetFile::Kind::kLibvirtFiles, "/t/libvirt/libvirt-7f3c.files",
          "virt-aa-helper regenerates this file"},
         false}};
    auto recv = proposal(2, "libvirt-7f3c", "signal receive set=term peer=libvirtd,");
    recv.rule_class = "signal";
    recv.pair = 1;
    auto send = proposal(3, "libvirtd", "signal send set=term peer=libvirt-7f3c,");
    send.rule_class = "signal";
    send.pair = 1;
    send.peer_side = true;
    auto forged = proposal(4, "libvirt-7f3c", "/etc/shadow r,");
    forged.unverified = true;
    analyzer::Group g;
    g.key = {"libvirt-7f3c", "file", "open", "/srv/vms/webvm-data.qcow2", "wr"};
    g.count = 4;
    g.pids = {5236};
    g.comms = {"qemu-system-x86"};
    vm_items = {
        {file, {g}, {"k1"}, 4}, {recv, {}, {"k2"}, 2}, {send, {}, {}, 0}, {forged, {}, {"k4"}, 1}};
  }

  std::expected<std::vector<ProfileRow>, std::string> profiles() override { return rows; }
  std::expected<std::vector<Item>, std::string> items(std::string_view p) override {
    if (p == "libvirt-7f3c") return vm_items;
    return std::vector<Item>{};
  }
  std::expected<void, std::string> ignore(std::span<const std::string> keys) override {
    ignored.insert(ignored.end(), keys.begin(), keys.end());
    return {};
  }
  std::expected<std::string, std::string> check_rule(std::string_view text) override {
    if (text.find(',') == std::string_view::npos) return std::unexpected("missing ','");
    return std::string(text);
  }
  std::expected<Preview, std::string> preview(std::span<const Accepted> a) override {
    Preview pv;
    std::string diff = "@@ -1 +1,2 @@\n";
    for (const auto& x : a) diff += "+" + x.rule + "\n";
    pv.files.push_back({"/t/file", diff});
    return pv;
  }
  std::expected<std::string, std::string> save(std::span<const Accepted> a) override {
    saved.assign(a.begin(), a.end());
    return "saved " + std::to_string(a.size()) + " rule(s)";
  }
  std::expected<std::string, std::string> reload(std::string_view p) override {
    return "reloaded " + std::string(p);
  }
  std::expected<std::string, std::string> disable(std::string_view p) override {
    disabled.emplace_back(p);
    return "disabled " + std::string(p);
  }
  std::expected<std::string, std::string> toggle_mode(std::string_view p) override {
    return "complain " + std::string(p);
  }
  std::expected<std::string, std::string> undo() override { return "undone"; }

  std::vector<ProfileRow> rows;
  std::vector<Item> vm_items;
  std::vector<std::string> ignored;
  std::vector<Accepted> saved;
  std::vector<std::string> disabled;
};

std::vector<std::string> run(App& app, std::string_view script, Size size = {80, 24}) {
  auto keys = parse_keys(script);
  EXPECT_TRUE(keys.has_value()) << keys.error();
  return run_batch(app, *keys, size);
}

TEST(Keys, ParseScript) {
  auto k = parse_keys("Down Enter A 'ab Esc ?");
  ASSERT_TRUE(k.has_value());
  EXPECT_EQ(*k, (std::vector<int>{kKeyDown, kKeyEnter, 'A', 'a', 'b', kKeyEsc, '?'}));
  EXPECT_EQ(parse_keys("Dwn").error(),
            "unknown key 'Dwn' (Up Down PgUp PgDn Home End Enter Esc BSpace Space, a letter, or "
            "'text)");
}

TEST(App, ProfilesScreenGolden) {
  MemoryBackend be;
  App app(be);
  app.start();
  const auto s = run(app, "");
  EXPECT_EQ(s[0], fit("aatune — profiles with open denials (2)", 80));
  EXPECT_EQ(s[1],
            "  Profile         VM             Mode     Open  Done  Last seen        Activity ");
  EXPECT_EQ(s[2],
            "> libvirt-7f3c    webvm          enforce  2     0     2026-11-23 09:22  ▂█      ");
  EXPECT_EQ(s[3],
            "  libvirtd                       enforce  1     1     2026-11-23 09:22 █        ");
  EXPECT_EQ(s[23], fit("2 profile(s) with open denials", 80));
  for (const auto& l : s) EXPECT_EQ(display_width(l), 80u);
}

TEST(App, AllowWithGlobPairAndSave) {
  MemoryBackend be;
  App app(be);
  app.start();
  auto s = run(app, "Enter G A");
  EXPECT_EQ(app.screen(), ScreenId::kGroups);
  EXPECT_EQ(s[23], fit("allow: owner /srv/vms/* rw, → /t/libvirt/libvirt-7f3c (1 accepted; S to "
                       "review)",
                       80));
  s = run(app, "P");  // selection moved to the signal after A
  EXPECT_EQ(s[23], fit("accepted the pair: 2 rule(s) (3 accepted; S to review)", 80));
  s = run(app, "S");
  EXPECT_EQ(app.screen(), ScreenId::kReview);
  EXPECT_EQ(s[1], fit("=== /t/file", 80));
  EXPECT_EQ(s[3], fit("+owner /srv/vms/* rw,", 80));
  EXPECT_EQ(s[4], fit("+signal receive set=term peer=libvirtd,", 80));
  EXPECT_EQ(s[5], fit("+signal send set=term peer=libvirt-7f3c,", 80));
  s = run(app, "y");
  ASSERT_EQ(be.saved.size(), 3u);
  EXPECT_EQ(be.saved[0].target, TargetKind::kProfile);
  EXPECT_EQ(be.saved[0].group_keys, std::vector<std::string>{"k1"});
  EXPECT_EQ(be.saved[2].profile, "libvirtd");
  EXPECT_EQ(s[23], fit("saved 3 rule(s)", 80));
  EXPECT_FALSE(app.unsaved());
}

TEST(App, GlobCycleOffersTheChangingPartsFirst) {
  MemoryBackend be;
  auto& alts = be.vm_items[0].proposal.alternatives;
  alts.insert(alts.begin(), {analyzer::Alternative::Kind::kVolatile,
                             "owner /srv/vms/[0-9]*-webvm-data.qcow2 rw,", ""});
  App app(be);
  app.start();
  run(app, "Enter");
  // Each G takes the next glob; after the last one, the exact rule again.
  for (const char* rule : {"owner /srv/vms/[0-9]*-webvm-data.qcow2 rw,", "owner /srv/vms/* rw,",
                           "owner /srv/vms/** rw,", "owner /srv/vms/webvm-data.qcow2 rw,"}) {
    EXPECT_EQ(run(app, "G")[23], fit(std::string("rule: ") + rule, 80));
  }
}

TEST(App, TargetCycleShowsFilesWarningAndToggles) {
  MemoryBackend be;
  App app(be);
  app.start();
  auto s = run(app, "Enter T");
  EXPECT_EQ(s[23], fit("target: /t/libvirt/libvirt-7f3c.files [.files] — warning: virt-aa-helper "
                       "regenerates this file",
                       80));
  s = run(app, "O U");
  EXPECT_EQ(s[23], fit("rule: audit /srv/vms/webvm-data.qcow2 rw,", 80));
  s = run(app, "E D");
  EXPECT_EQ(s[23], fit("deny: audit deny /srv/vms/*.qcow2 rw, → /t/libvirt/libvirt-7f3c.files (1 "
                       "accepted; S to review)",
                       80));
}

TEST(App, UnverifiedNeedsConfirmationNamingTheReason) {
  MemoryBackend be;
  App app(be);
  app.start();
  auto s = run(app, "Enter End A");
  EXPECT_EQ(s[23], fit("Unverified evidence: the records could have been forged by any process "
                       "(logger). Accept anyway? [y/N]",
                       80));
  s = run(app, "n");
  EXPECT_EQ(s[23], fit("cancelled", 80));
  EXPECT_FALSE(app.unsaved());
  run(app, "A y");
  EXPECT_TRUE(app.unsaved());
}

TEST(App, QuitAsksWhenUnsavedAndIgnoreIsRemembered) {
  MemoryBackend be;
  App app(be);
  app.start();
  auto s = run(app, "Enter Down I");
  EXPECT_EQ(be.ignored, std::vector<std::string>{"k2"});
  EXPECT_EQ(s[23], fit("ignored: signal receive set=term peer=libvirtd, (remembered)", 80));
  run(app, "Home A");
  auto keys = parse_keys("q");
  EXPECT_EQ(app.handle((*keys)[0]), Outcome::kRedraw);
  EXPECT_EQ(app.view().status, "1 accepted rule(s) not saved. Quit anyway? [y/N]");
  EXPECT_EQ(app.handle('y'), Outcome::kQuit);
}

TEST(App, EditRuleIsCheckedAndDisableAsks) {
  MemoryBackend be;
  App app(be);
  app.start();
  auto s = run(app, "Enter N");
  EXPECT_EQ(s[23], fit("Rule: owner /srv/vms/webvm-data.qcow2 rw,", 80));
  s = run(app, "BSpace Enter");
  EXPECT_EQ(s[23], fit("not a valid rule: missing ','", 80));
  s = run(app, "N BSpace BSpace BSpace 'r, Enter");
  EXPECT_EQ(s[23], fit("rule: owner /srv/vms/webvm-data.qcow2 r,", 80));
  s = run(app, "Esc Esc X");
  EXPECT_EQ(s[23], fit("Disable profile libvirt-7f3c (unload it and keep it off)? [y/N]", 80));
  s = run(app, "y");
  EXPECT_EQ(be.disabled, std::vector<std::string>{"libvirt-7f3c"});
}

TEST(App, DetailShowsWhyRuleTargetAlternativesEvidence) {
  MemoryBackend be;
  App app(be);
  app.start();
  const auto s = run(app, "Enter Enter", {60, 16});
  const std::vector<std::string> expected{
      fit("aatune — libvirt-7f3c — proposal 1", 60),
      fit("Why: no rule allows it [no-rule]", 60),
      fit("Risk: low", 60),
      fit("Rule: owner /srv/vms/webvm-data.qcow2 rw,", 60),
      fit("Into: /t/libvirt/libvirt-7f3c [libvirt profile] (T: 1/2)", 60),
      fit("Alternatives (G glob, E extension, V variables):", 60),
      fit("  glob: owner /srv/vms/* rw,", 60),
      fit("  recursive: owner /srv/vms/** rw,", 60),
      fit("  extension: owner /srv/vms/*.qcow2 rw,", 60),
      fit("Evidence: 4x open /srv/vms/webvm-data.qcow2 mask wr", 60),
      fit("  pid 5236  comm qemu-system-x86  first -  last -", 60),
      fit("", 60),
      fit("", 60),
      fit("", 60),
      fit("A allow  D deny  I ignore  G/E/V alternatives  O owner  U audit  N edit  T target  P "
          "pair  Esc back",
          60),
      fit("2 profile(s) with open denials", 60),
  };
  EXPECT_EQ(s, expected);
}

TEST(App, GroupsSortedBySeverityThenCountWithThePeerSideNextToItsPair) {
  MemoryBackend be;
  be.vm_items[3].proposal.severity.level = analyzer::Severity::kHigh;  // the /etc/shadow read
  be.vm_items[1].count = 5;  // the signal the guest received, now more often than the disk
  App app(be);
  app.start();
  const auto s = run(app, "Enter", {120, 12});
  EXPECT_EQ(s[1], fit("    Severity Class      Target                       Mask   Count  Proposal",
                      120));
  EXPECT_EQ(s[2],
            fit("> ! high     file       (peer) libvirt-7f3c                 1      /etc/shadow r,",
                120));
  EXPECT_EQ(s[3],
            fit("    low      signal     (peer) libvirt-7f3c                 5      signal receive "
                "set=term peer=libvirtd,",
                120));
  EXPECT_EQ(s[4],
            fit("  P low      signal     (peer) libvirtd                     0      signal send "
                "set=term peer=libvirt-7f3c,",
                120));
  EXPECT_EQ(s[5], fit("    low      file       /srv/vms/webvm-data.qcow2    wr     4      owner "
                      "/srv/vms/webvm-data.qcow2 rw,",
                      120));
}

TEST(App, HelpListsEveryKey) {
  MemoryBackend be;
  App app(be);
  app.start();
  const auto s = run(app, "?", {80, 30});
  std::string all;
  for (const auto& l : s) all += l + "\n";
  for (const auto& h : key_help())
    EXPECT_NE(all.find(std::string(h.keys)), std::string::npos) << h.keys;
  run(app, "x");  // any key closes it
  EXPECT_TRUE(app.view().overlay.empty());
}

}  // namespace
}  // namespace aatune::tui
