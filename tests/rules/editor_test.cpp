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
  // Only the child's header changes.
  auto child = set_complain_flag(kFoo, "foo//helper", true);
  ASSERT_TRUE(child.has_value());
  std::string e3 = kFoo;
  e3.replace(e3.find("/usr/lib/foo/helper {"), 21, "/usr/lib/foo/helper flags=(complain) {");
  EXPECT_EQ(*child, e3);
}

}  // namespace
}  // namespace aatune::rules
