#include "rules/aare.h"

#include <gtest/gtest.h>

#include <string>

namespace aatune::rules {
namespace {

bool m(std::string_view pattern, std::string_view path, const Variables& vars = {}) {
  auto a = Aare::compile(pattern, vars);
  EXPECT_TRUE(a.has_value()) << pattern << ": " << (a ? "" : a.error());
  return a && a->matches(path);
}

// The tunables as Debian 12 ships them (tunables/home, proc, kernelvars, multiarch).
Variables debian_tunables() {
  return {
      {"HOMEDIRS", {"/home/"}},
      {"HOME", {"@{HOMEDIRS}/*/", "/root/"}},
      {"PROC", {"/proc/"}},
      {"pid",
       {"{[1-9],[1-9][0-9],[1-9][0-9][0-9],[1-9][0-9][0-9][0-9],[1-9][0-9][0-9][0-9][0-9],[1-9][0-"
        "9]"
        "[0-9][0-9][0-9][0-9],[1-4][0-9][0-9][0-9][0-9][0-9][0-9]}"}},
      {"pids", {"@{pid}"}},
      {"multiarch", {"*-linux-gnu*"}},
  };
}

TEST(Aare, LiteralMatchesOnlyItself) {
  EXPECT_TRUE(m("/etc/passwd", "/etc/passwd"));
  EXPECT_FALSE(m("/etc/passwd", "/etc/passwd2"));
  EXPECT_FALSE(m("/etc/passwd", "/etc/passw"));
  EXPECT_TRUE(Aare::compile("/etc/passwd")->is_literal());
  EXPECT_FALSE(Aare::compile("/etc/*")->is_literal());
}

TEST(Aare, SingleStarStopsAtSlash) {
  EXPECT_TRUE(m("/tmp/*", "/tmp/a"));
  EXPECT_FALSE(m("/tmp/*", "/tmp/a/b"));
  EXPECT_TRUE(m("/tmp/*.log", "/tmp/x.log"));
  EXPECT_TRUE(m("/tmp/*.log", "/tmp/.log"));  // not a whole component: may be empty
  EXPECT_TRUE(m("/tmp/a*", "/tmp/a"));
}

TEST(Aare, WholeComponentStarNeedsOneCharacter) {
  // apparmor.d(5): none of these match the /tmp/ directory itself.
  EXPECT_FALSE(m("/tmp/*", "/tmp/"));
  EXPECT_FALSE(m("/tmp/**", "/tmp/"));
  EXPECT_FALSE(m("/tmp/*/", "/tmp/"));
  EXPECT_FALSE(m("/tmp/**/", "/tmp/"));
  EXPECT_FALSE(m("/*/foo", "//foo"));
  EXPECT_TRUE(m("/tmp/*/", "/tmp/d/"));
  EXPECT_FALSE(m("/tmp/*/", "/tmp/d"));
  EXPECT_TRUE(m("/tmp/**/", "/tmp/a/b/"));
  EXPECT_FALSE(m("/tmp/**/", "/tmp/a/b"));
}

TEST(Aare, DoubleStarCrossesSlashes) {
  EXPECT_TRUE(m("/tmp/**", "/tmp/a"));
  EXPECT_TRUE(m("/tmp/**", "/tmp/a/b/c"));
  EXPECT_TRUE(m("/tmp/**", "/tmp/a/"));
  EXPECT_FALSE(m("/tmp/**", "/tmpx/a"));
  EXPECT_TRUE(m("/usr/**.so", "/usr/lib/x/libc.so"));
  EXPECT_TRUE(m("/**", "/etc/passwd"));
}

TEST(Aare, TrailingSlashDistinguishesDirectories) {
  EXPECT_TRUE(m("/var/lib/foo/", "/var/lib/foo/"));
  EXPECT_FALSE(m("/var/lib/foo/", "/var/lib/foo"));
  EXPECT_FALSE(m("/var/lib/foo", "/var/lib/foo/"));
  EXPECT_TRUE(m("/var/lib/foo{,/}", "/var/lib/foo/"));
}

TEST(Aare, QuestionMarkIsOneNonSlash) {
  EXPECT_TRUE(m("/dev/tty?", "/dev/tty1"));
  EXPECT_FALSE(m("/dev/tty?", "/dev/tty"));
  EXPECT_FALSE(m("/dev/tty?", "/dev/tty12"));
  EXPECT_FALSE(m("/a?b", "/a/b"));
}

TEST(Aare, CharacterClasses) {
  EXPECT_TRUE(m("/dev/sd[a-c]", "/dev/sdb"));
  EXPECT_FALSE(m("/dev/sd[a-c]", "/dev/sdd"));
  EXPECT_TRUE(m("/dev/sd[^a-c]", "/dev/sdd"));
  EXPECT_FALSE(m("/dev/sd[^a-c]", "/dev/sda"));
  EXPECT_TRUE(m("/x/[abc]", "/x/c"));
  EXPECT_TRUE(m("/x/[\\]]", "/x/]"));
  EXPECT_TRUE(m("/x/[{,}]", "/x/,"));  // braces are plain inside a class
}

TEST(Aare, Alternations) {
  EXPECT_TRUE(m("/usr/{bin,sbin}/foo", "/usr/bin/foo"));
  EXPECT_TRUE(m("/usr/{bin,sbin}/foo", "/usr/sbin/foo"));
  EXPECT_FALSE(m("/usr/{bin,sbin}/foo", "/usr/lib/foo"));
  EXPECT_TRUE(m("/{,usr/}lib{,32,64}/x", "/lib/x"));
  EXPECT_TRUE(m("/{,usr/}lib{,32,64}/x", "/usr/lib64/x"));
  EXPECT_TRUE(m("/a{b,c{d,e}}f", "/acef"));
  EXPECT_FALSE(m("/a{b,c{d,e}}f", "/acf"));
  EXPECT_TRUE(m("/etc/foo{,.conf}", "/etc/foo"));
  EXPECT_TRUE(m("/etc/foo{,.conf}", "/etc/foo.conf"));
  EXPECT_TRUE(m("/x/{,}", "/x/"));
}

TEST(Aare, EscapesAreLiteral) {
  EXPECT_TRUE(m("/tmp/a\\*b", "/tmp/a*b"));
  EXPECT_FALSE(m("/tmp/a\\*b", "/tmp/axb"));
  EXPECT_TRUE(m("/tmp/\\{x\\}", "/tmp/{x}"));
  EXPECT_TRUE(m("/tmp/\\@\\{HOME\\}", "/tmp/@{HOME}"));
  EXPECT_TRUE(m("/tmp/a\\?", "/tmp/a?"));
  EXPECT_FALSE(m("/tmp/a\\?", "/tmp/ab"));
  EXPECT_TRUE(m("/tmp/a\\[1\\]", "/tmp/a[1]"));
}

TEST(Aare, RunsOfSlashesCompareAsOne) {
  EXPECT_TRUE(m("/etc//passwd", "/etc/passwd"));
  EXPECT_TRUE(m("/etc/passwd", "/etc//passwd"));
}

TEST(Aare, VariablesFromTunables) {
  const Variables v = debian_tunables();
  EXPECT_TRUE(m("@{HOME}/.bashrc", "/home/alice/.bashrc", v));
  EXPECT_TRUE(m("@{HOME}/.bashrc", "/root/.bashrc", v));
  EXPECT_FALSE(m("@{HOME}/.bashrc", "/home/.bashrc", v));
  EXPECT_FALSE(m("@{HOME}/.bashrc", "/home/a/b/.bashrc", v));
  EXPECT_TRUE(m("@{PROC}/@{pid}/status", "/proc/1234/status", v));
  EXPECT_TRUE(m("@{PROC}/@{pids}/status", "/proc/1/status", v));
  EXPECT_FALSE(m("@{PROC}/@{pid}/status", "/proc/self/status", v));
  EXPECT_FALSE(m("@{PROC}/@{pid}/status", "/proc/0/status", v));
  EXPECT_FALSE(m("@{PROC}/@{pid}/status", "/proc/01/status", v));
  EXPECT_TRUE(m("/usr/lib/@{multiarch}/libc.so.6", "/usr/lib/x86_64-linux-gnu/libc.so.6", v));
  EXPECT_FALSE(m("/usr/lib/@{multiarch}/libc.so.6", "/usr/lib/libc.so.6", v));
}

TEST(Aare, ExpandVariablesBuildsAlternations) {
  const Variables v = debian_tunables();
  EXPECT_EQ(expand_variables("@{HOME}x", v).value(), "{/home//*/,/root/}x");
  EXPECT_EQ(expand_variables("\\@{HOME}", v).value(), "\\@{HOME}");
  EXPECT_EQ(expand_variables("@{nope}/x", v).error(), "undefined variable @{nope}");
  Variables cyc{{"a", {"@{b}"}}, {"b", {"x@{a}"}}};
  EXPECT_EQ(expand_variables("@{a}", cyc).error(), "variable @{a} is defined in a cycle");
  EXPECT_EQ(expand_variables("/x/@{a", v).error(),
            "unterminated variable reference '@{' in '/x/@{a'");
}

TEST(Aare, InvalidPatternsAreErrors) {
  EXPECT_EQ(Aare::compile("/a/{b,c").error(), "unclosed '{' at offset 3 in '/a/{b,c'");
  EXPECT_EQ(Aare::compile("/a/[bc").error(), "unclosed '[' at offset 3 in '/a/[bc'");
  EXPECT_EQ(Aare::compile("/a/b}").error(), "unmatched '}' at offset 4 in '/a/b}'");
  EXPECT_EQ(Aare::compile("/a/b\\").error(), "trailing '\\' at offset 4 in '/a/b\\'");
  EXPECT_EQ(Aare::compile("/a/{b}").error(), "'{…}' without ',' at offset 3 in '/a/{b}'");
  EXPECT_FALSE(aare_matches("/a/{b", "/a/b"));
}

TEST(Aare, LargeInputsStayLinear) {
  // A pathological backtracking case for naive matchers.
  std::string pattern = "/";
  for (int i = 0; i < 30; ++i) pattern += "**a";
  std::string path = "/" + std::string(5000, 'a') + "b";
  auto a = Aare::compile(pattern);
  ASSERT_TRUE(a);
  EXPECT_FALSE(a->matches(path));
}

TEST(Aare, CompiledPatternIsReusable) {
  auto a = Aare::compile("/srv/{www,ftp}/**", {});
  ASSERT_TRUE(a);
  const Aare copy = *a;
  EXPECT_TRUE(copy.matches("/srv/www/index.html"));
  EXPECT_TRUE(a->matches("/srv/ftp/pub/x"));
  EXPECT_FALSE(a->matches("/srv/git/x"));
  EXPECT_EQ(copy.pattern(), "/srv/{www,ftp}/**");
}

}  // namespace
}  // namespace aatune::rules
