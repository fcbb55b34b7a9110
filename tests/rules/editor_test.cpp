#include "rules/editor.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace aatune::rules {
namespace {

const std::string kFoo =
    "# Profile for foo. { not a block\n"
    "include <tunables/global>\n"
    "@{LIBS}={/usr/,}lib{,64}\n"
    "\n"
    "profile foo /usr/bin/foo flags=(attach_disconnected) {\n"
    "  include <abstractions/base>\n"
    "\n"
    "  /etc/foo/{a,b}.conf r,   # config }\n"
    "  \"/srv/with space/{x,y}\" r,\n"
    "\n"
    "  ^hat {\n"
    "    /var/lib/foo/hat r,\n"
    "  }\n"
    "\n"
    "  profile helper /usr/lib/foo/helper {\n"
    "    /usr/lib/foo/helper mr,\n"
    "  }\n"
    "  # trailing comment\n"
    "}\n"
    "\n"
    "/usr/bin/legacy {\n"
    "\t/etc/legacy r,\n"
    "}\n";

std::vector<std::string> names(const std::vector<ProfileBlock>& blocks) {
  std::vector<std::string> out;
  for (const auto& b : blocks) out.push_back(b.name);
  return out;
}

TEST(EditorBlocks, FindsProfilesHatsChildrenAndLegacyHeaders) {
  auto blocks = find_profile_blocks(kFoo);
  ASSERT_TRUE(blocks.has_value()) << blocks.error().message;
  EXPECT_EQ(names(*blocks),
            (std::vector<std::string>{"foo", "foo//hat", "foo//helper", "/usr/bin/legacy"}));
  EXPECT_EQ((*blocks)[0].header_line, 5u);
  EXPECT_EQ((*blocks)[0].close_line, 19u);
  EXPECT_TRUE((*blocks)[1].is_hat);
  EXPECT_EQ((*blocks)[2].depth, 1);
  EXPECT_EQ((*blocks)[3].header_line, 21u);
}

TEST(EditorBlocks, UnbalancedBraceNamesTheLine) {
  auto r = find_profile_blocks("profile a {\n  /x r,\n\nprofile b {\n}\n");
  ASSERT_FALSE(r.has_value());
  EXPECT_EQ(r.error().message, "'{' is never closed");
  EXPECT_EQ(r.error().line, 1u);
  auto r2 = find_profile_blocks("/a {\n}\n}\n");
  ASSERT_FALSE(r2.has_value());
  EXPECT_EQ(r2.error().message, "unmatched '}'");
  EXPECT_EQ(r2.error().line, 3u);
}

TEST(EditorInsert, AddsAfterLastRuleIndentedLikeTheBlock) {
  const std::vector<std::string> rules{"/usr/lib/qemu/virtiofsd PUx,", "/run/foo/ rw,"};
  auto r = insert_rules(kFoo, "foo", rules);
  ASSERT_TRUE(r.has_value()) << r.error().message;
  std::string expected = kFoo;
  expected.replace(expected.find("  # trailing comment\n"), 0,
                   "  /usr/lib/qemu/virtiofsd PUx,\n  /run/foo/ rw,\n");
  EXPECT_EQ(r->text, expected);
  EXPECT_EQ(r->added, rules);
}

TEST(EditorInsert, IsIdempotentWithWhitespaceNormalised) {
  const std::vector<std::string> rules{"/usr/lib/qemu/virtiofsd PUx,"};
  auto once = insert_rules(kFoo, "foo", rules);
  ASSERT_TRUE(once.has_value());
  auto twice = insert_rules(once->text, "foo",
                            std::vector<std::string>{"  /usr/lib/qemu/virtiofsd   PUx, "});
  ASSERT_TRUE(twice.has_value());
  EXPECT_EQ(twice->text, once->text);
  EXPECT_TRUE(twice->added.empty());
  EXPECT_EQ(twice->present, std::vector<std::string>{"/usr/lib/qemu/virtiofsd   PUx,"});
  // A rule that exists with a trailing comment counts as present too.
  auto commented = insert_rules(kFoo, "foo", std::vector<std::string>{"/etc/foo/{a,b}.conf r,"});
  ASSERT_TRUE(commented.has_value());
  EXPECT_EQ(commented->text, kFoo);
}

TEST(EditorInsert, ChildProfileAndHatByName) {
  auto child = insert_rules(kFoo, "foo//helper", std::vector<std::string>{"/tmp/x rw,"});
  ASSERT_TRUE(child.has_value()) << child.error().message;
  std::string expected = kFoo;
  expected.replace(expected.find("    /usr/lib/foo/helper mr,\n") + 28, 0, "    /tmp/x rw,\n");
  EXPECT_EQ(child->text, expected);

  for (const char* name : {"foo//^hat", "foo//hat"}) {
    auto hat = insert_rules(kFoo, name, std::vector<std::string>{"/tmp/h r,"});
    ASSERT_TRUE(hat.has_value()) << name;
    std::string e = kFoo;
    e.replace(e.find("    /var/lib/foo/hat r,\n") + 24, 0, "    /tmp/h r,\n");
    EXPECT_EQ(hat->text, e) << name;
  }
  auto legacy = insert_rules(kFoo, "/usr/bin/legacy", std::vector<std::string>{"/x r,"});
  ASSERT_TRUE(legacy.has_value());
  EXPECT_EQ(legacy->text, kFoo.substr(0, kFoo.size() - 2) + "\t/x r,\n}\n");
}

TEST(EditorInsert, UnknownProfileIsAnError) {
  auto r = insert_rules(kFoo, "bar", std::vector<std::string>{"/x r,"});
  ASSERT_FALSE(r.has_value());
  EXPECT_EQ(r.error().message, "no profile 'bar' in this file");
}

TEST(EditorInsert, EmptyAndOneLineBlocks) {
  auto empty = insert_rules("profile e {\n}\n", "e", std::vector<std::string>{"/x r,"});
  ASSERT_TRUE(empty.has_value());
  EXPECT_EQ(empty->text, "profile e {\n  /x r,\n}\n");
  auto one = insert_rules("profile e { /a r, }\n", "e", std::vector<std::string>{"/x r,"});
  ASSERT_TRUE(one.has_value());
  EXPECT_EQ(one->text, "profile e { /a r,\n  /x r,\n}\n");
}

TEST(EditorTopLevel, AppendsToIncludeFilesKeepingIndent) {
  const std::string files = "# DO NOT EDIT\n  \"/var/lib/libvirt/images/g.qcow2\" rwk,\n";
  auto r = insert_top_level_rules(
      files,
      std::vector<std::string>{"\"/var/lib/libvirt/images/g.qcow2\" rwk,", "/dev/vfio/7 rw,"});
  ASSERT_TRUE(r.has_value());
  EXPECT_EQ(r->text, files + "  /dev/vfio/7 rw,\n");
  EXPECT_EQ(r->added.size(), 1u);
  auto no_nl = insert_top_level_rules("/a r,", std::vector<std::string>{"/b r,"});
  ASSERT_TRUE(no_nl.has_value());
  EXPECT_EQ(no_nl->text, "/a r,\n/b r,\n");
}

TEST(EditorInclude, AddsIncludeIfExistsOnlyWhenMissing) {
  auto r = ensure_include(kFoo, "foo", "local/usr.bin.foo");
  ASSERT_TRUE(r.has_value());
  std::string expected = kFoo;
  expected.replace(expected.find("  # trailing comment\n"), 0,
                   "  include if exists <local/usr.bin.foo>\n");
  EXPECT_EQ(r->text, expected);
  auto again = ensure_include(r->text, "foo", "local/usr.bin.foo");
  ASSERT_TRUE(again.has_value());
  EXPECT_EQ(again->text, r->text);
  const std::string hash_form = "/a {\n  #include if exists <local/a>\n}\n";
  auto legacy = ensure_include(hash_form, "/a", "local/a");
  ASSERT_TRUE(legacy.has_value());
  EXPECT_EQ(legacy->text, hash_form);
}

TEST(EditorInclude, LocalPathFollowsExistingIncludeOrConvention) {
  EXPECT_EQ(local_include_path(kFoo, "foo", "usr.bin.foo").value(), "local/usr.bin.foo");
  EXPECT_EQ(local_include_path(kFoo, "foo//helper", "usr.bin.foo").value(),
            "local/usr.bin.foo.helper");
  EXPECT_EQ(local_include_path("/a {\n  include if exists <local/custom>\n}\n", "/a", "a").value(),
            "local/custom");
  EXPECT_EQ(new_local_override("foo"),
            "# Site-specific additions and overrides for profile 'foo'.\n"
            "# This file is included inside the profile and is kept across package upgrades.\n");
}

TEST(EditorFlags, AddsKeepsAndRemovesComplain) {
  auto on = set_complain_flag(kFoo, "foo", true);
  ASSERT_TRUE(on.has_value());
  std::string expected = kFoo;
  expected.replace(expected.find("attach_disconnected)"), 20, "attach_disconnected,complain)");
  EXPECT_EQ(*on, expected);
  EXPECT_EQ(profile_flags(*on, "foo").value(),
            (std::vector<std::string>{"attach_disconnected", "complain"}));
  EXPECT_EQ(set_complain_flag(*on, "foo", true).value(), *on);
  EXPECT_EQ(set_complain_flag(*on, "foo", false).value(), kFoo);

  auto legacy = set_complain_flag(kFoo, "/usr/bin/legacy", true);
  ASSERT_TRUE(legacy.has_value());
  std::string e2 = kFoo;
  e2.replace(e2.find("/usr/bin/legacy {"), 17, "/usr/bin/legacy flags=(complain) {");
  EXPECT_EQ(*legacy, e2);
  EXPECT_EQ(set_complain_flag(*legacy, "/usr/bin/legacy", false).value(), kFoo);

  EXPECT_EQ(set_complain_flag("profile x flags=(complain, audit) {\n}\n", "x", false).value(),
            "profile x flags=(audit) {\n}\n");
  EXPECT_EQ(set_complain_flag("profile x flags=(audit, mediate_deleted) {\n}\n", "x", true).value(),
            "profile x flags=(audit, mediate_deleted, complain) {\n}\n");
  EXPECT_EQ(set_complain_flag("profile x flags=(enforce) {\n}\n", "x", true).value(),
            "profile x flags=(complain) {\n}\n");
  EXPECT_EQ(set_complain_flag("profile x flags=(complain){\n}\n", "x", false).value(),
            "profile x {\n}\n");
  // `flags=` may be left out: the bare list is the clause.
  EXPECT_EQ(profile_flags("profile x /usr/bin/x (attach_disconnected) {\n}\n", "x").value(),
            std::vector<std::string>{"attach_disconnected"});
  EXPECT_EQ(
      set_complain_flag("profile x /usr/bin/x (attach_disconnected) {\n}\n", "x", true).value(),
      "profile x /usr/bin/x (attach_disconnected,complain) {\n}\n");
  EXPECT_EQ(set_complain_flag("profile x (complain) {\n}\n", "x", false).value(),
            "profile x {\n}\n");
  EXPECT_EQ(set_complain_flag("profile \"/a (b)\" {\n}\n", "/a (b)", true).value(),
            "profile \"/a (b)\" flags=(complain) {\n}\n");
  // Only the child's header changes.
  auto child = set_complain_flag(kFoo, "foo//helper", true);
  ASSERT_TRUE(child.has_value());
  std::string e3 = kFoo;
  e3.replace(e3.find("/usr/lib/foo/helper {"), 21, "/usr/lib/foo/helper flags=(complain) {");
  EXPECT_EQ(*child, e3);
}

// Headers that span lines: flags on the next line, '{' alone on the next line, a comment between.
const std::string kMultiLine =
    "include <tunables/global>\n"
    "\n"
    "profile foo /usr/bin/foo\n"
    "    flags=(attach_disconnected) {\n"
    "  /etc/foo r,\n"
    "\n"
    "  profile helper /usr/lib/foo/helper\n"
    "  {\n"
    "    /usr/lib/foo/helper mr,\n"
    "  }\n"
    "}\n"
    "\n"
    "# legacy form\n"
    "/usr/bin/legacy\n"
    "{\n"
    "}\n"
    "\n"
    "profile bar # the bar tool\n"
    "{\n"
    "  /bar r,\n"
    "}\n";

TEST(EditorMultiLineHeader, BlocksAreFoundWithTheirHeaderLines) {
  auto blocks = find_profile_blocks(kMultiLine);
  ASSERT_TRUE(blocks.has_value()) << blocks.error().message;
  EXPECT_EQ(names(*blocks),
            (std::vector<std::string>{"foo", "foo//helper", "/usr/bin/legacy", "bar"}));
  const std::vector<std::pair<size_t, size_t>> lines{{3, 4}, {7, 8}, {14, 15}, {18, 19}};
  for (size_t i = 0; i < lines.size(); ++i) {
    EXPECT_EQ((*blocks)[i].header_line, lines[i].first) << (*blocks)[i].name;
    EXPECT_EQ((*blocks)[i].open_line, lines[i].second) << (*blocks)[i].name;
  }
  EXPECT_EQ(kMultiLine.substr((*blocks)[0].header_begin, 7), "profile");
  EXPECT_EQ(profile_flags(kMultiLine, "foo").value(),
            std::vector<std::string>{"attach_disconnected"});
  // A block that is not a profile keeps its own line as its header.
  auto cond = find_profile_blocks("profile p {\n  /a r,\n  if defined @{X} {\n    /b r,\n  }\n}\n");
  ASSERT_TRUE(cond.has_value());
  EXPECT_EQ(names(*cond), std::vector<std::string>{"p"});
}

TEST(EditorMultiLineHeader, RulesGoIntoTheRightBlock) {
  const std::vector<std::string> rule{"/x r,"};
  auto foo = insert_rules(kMultiLine, "foo", rule);
  ASSERT_TRUE(foo.has_value()) << foo.error().message;
  std::string e1 = kMultiLine;
  e1.insert(e1.find("  }\n}\n") + 4, "  /x r,\n");
  EXPECT_EQ(foo->text, e1);

  auto helper = insert_rules(kMultiLine, "foo//helper", rule);
  ASSERT_TRUE(helper.has_value()) << helper.error().message;
  std::string e2 = kMultiLine;
  e2.insert(e2.find("    /usr/lib/foo/helper mr,\n") + 28, "    /x r,\n");
  EXPECT_EQ(helper->text, e2);

  auto legacy = insert_rules(kMultiLine, "/usr/bin/legacy", rule);
  ASSERT_TRUE(legacy.has_value()) << legacy.error().message;
  std::string e3 = kMultiLine;
  e3.insert(e3.find("/usr/bin/legacy\n{\n") + 18, "  /x r,\n");
  EXPECT_EQ(legacy->text, e3);

  // The continuation line of a header is not mistaken for a rule that is already there.
  auto present = insert_rules(kMultiLine, "foo", std::vector<std::string>{"/etc/foo r,"});
  ASSERT_TRUE(present.has_value());
  EXPECT_EQ(present->text, kMultiLine);
  auto inc = ensure_include(kMultiLine, "bar", "local/bar");
  ASSERT_TRUE(inc.has_value());
  std::string e4 = kMultiLine;
  e4.insert(e4.find("  /bar r,\n") + 10, "  include if exists <local/bar>\n");
  EXPECT_EQ(inc->text, e4);
}

TEST(EditorMultiLineHeader, ComplainFlagIsSetAndClearedInPlace) {
  // flags=(…) on the continuation line.
  auto foo = set_complain_flag(kMultiLine, "foo", true);
  ASSERT_TRUE(foo.has_value()) << foo.error().message;
  std::string e1 = kMultiLine;
  e1.replace(e1.find("(attach_disconnected)"), 21, "(attach_disconnected,complain)");
  EXPECT_EQ(*foo, e1);
  EXPECT_EQ(set_complain_flag(*foo, "foo", false).value(), kMultiLine);

  // '{' alone on the next line: the clause goes after the header's last word.
  auto helper = set_complain_flag(kMultiLine, "foo//helper", true);
  ASSERT_TRUE(helper.has_value());
  std::string e2 = kMultiLine;
  e2.replace(e2.find("/usr/lib/foo/helper\n"), 20, "/usr/lib/foo/helper flags=(complain)\n");
  EXPECT_EQ(*helper, e2);
  EXPECT_EQ(set_complain_flag(*helper, "foo//helper", false).value(), kMultiLine);

  // A comment ending the header line stays a comment, after the clause.
  auto bar = set_complain_flag(kMultiLine, "bar", true);
  ASSERT_TRUE(bar.has_value());
  std::string e3 = kMultiLine;
  e3.replace(e3.find("profile bar # the bar tool"), 26,
             "profile bar flags=(complain) # the bar tool");
  EXPECT_EQ(*bar, e3);
  EXPECT_EQ(set_complain_flag(*bar, "bar", false).value(), kMultiLine);

  // A clause alone on its line that becomes empty goes with its line break.
  EXPECT_EQ(
      set_complain_flag("profile x /usr/bin/x\n    flags=(complain) {\n}\n", "x", false).value(),
      "profile x /usr/bin/x {\n}\n");
}

TEST(EditorInclude, LocalPathNeverLeavesTheTree) {
  auto dotdot = local_include_path(
      "profile evil {\n  include if exists <local/../../../etc/passwd>\n}\n", "evil", "evil");
  ASSERT_FALSE(dotdot.has_value());
  EXPECT_EQ(dotdot.error().message,
            "profile 'evil': local include 'local/../../../etc/passwd' would point outside the "
            "profile tree");
  EXPECT_EQ(dotdot.error().line, 1u);
  auto empty_part = local_include_path("profile e {\n  include <local//x>\n}\n", "e", "e");
  ASSERT_FALSE(empty_part.has_value());
  EXPECT_EQ(empty_part.error().message,
            "profile 'e': local include 'local//x' would point outside the profile tree");
  // A child profile's name becomes part of the file name: a crafted one must not climb out.
  const std::string child = "profile p {\n  profile ../../../etc/cron.d/x {\n  }\n}\n";
  auto climb = local_include_path(child, "p//../../../etc/cron.d/x", "usr.bin.p");
  ASSERT_FALSE(climb.has_value());
  EXPECT_EQ(climb.error().message,
            "profile 'p//../../../etc/cron.d/x': local include 'local/usr.bin.p.../../../etc/"
            "cron.d/x' would point outside the profile tree");
  EXPECT_EQ(climb.error().line, 2u);
  // Dots inside a name are fine.
  EXPECT_EQ(local_include_path("profile p {\n  profile a.b {\n  }\n}\n", "p//a.b", "p").value(),
            "local/p.a.b");
}

}  // namespace
}  // namespace aatune::rules
