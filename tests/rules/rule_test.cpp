#include "rules/rule.h"

#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <array>
#include <cctype>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "rules/aare.h"

namespace aatune::rules {
namespace {

// Runs a command, returns (exit status, stdout).
std::pair<int, std::string> run(const std::string& cmd) {
  std::string out;
  FILE* p = popen(cmd.c_str(), "r");
  if (p == nullptr) return {-1, ""};
  std::array<char, 4096> buf{};
  size_t n = 0;
  while ((n = fread(buf.data(), 1, buf.size(), p)) > 0) out.append(buf.data(), n);
  const int status = pclose(p);
  return {WIFEXITED(status) ? WEXITSTATUS(status) : -1, out};
}

std::string shell_quote(std::string_view s) {
  std::string out = "'";
  for (const char c : s) {
    if (c == '\'') {
      out += "'\\''";
    } else {
      out += c;
    }
  }
  return out + "'";
}

// apparmor_parser -QTK, with the notice about the missing kernel interface (this machine has no
// AppArmor LSM) filtered out and its exit status kept.
std::string parser_command(const std::filesystem::path& profile) {
  return "out=$(" + std::string(APPARMOR_PARSER) + " -QTK " + shell_quote(profile.string()) +
         " 2>&1); rc=$?; printf '%s' \"$out\" | grep -v 'Cache read/write disabled'; exit $rc";
}

Rule file(std::string path, std::string perms, std::string exec = "", std::string target = "") {
  return Rule{.body =
                  FileRule{std::move(path), std::move(perms), std::move(exec), std::move(target)}};
}

struct Case {
  Rule rule;
  std::string text;
  const char* python_class;  // python3-apparmor class that renders it, or nullptr
};

std::vector<Case> table() {
  Rule owner_rw = file("/home/*/.cache/foo/**", "wr");
  owner_rw.owner = true;
  Rule deny_audit = file("/etc/shadow", "r");
  deny_audit.deny = true;
  deny_audit.audit = true;
  Rule deny_x = file("/usr/bin/nc", "", "x");
  deny_x.deny = true;
  Rule leading = file("/etc/hosts", "r");
  std::get<FileRule>(leading.body).leading_perms = true;
  Rule deny_cap{.body = CapabilityRule{{"sys_module"}}};
  deny_cap.deny = true;
  return {
      {file("/etc/passwd", "r"), "/etc/passwd r,", "FileRule"},
      {file("/var/log/foo.log", "kw"), "/var/log/foo.log wk,", "FileRule"},
      {file("/var/log/bar.log", "a"), "/var/log/bar.log a,", "FileRule"},
      {file("/usr/lib/x/*.so", "rm"), "/usr/lib/x/*.so mr,", "FileRule"},
      {owner_rw, "owner /home/*/.cache/foo/** rw,", "FileRule"},
      {deny_audit, "audit deny /etc/shadow r,", "FileRule"},
      {deny_x, "deny /usr/bin/nc x,", "FileRule"},
      {leading, "r /etc/hosts,", "FileRule"},
      {file("/usr/lib/qemu/virtiofsd", "", "PUx"), "/usr/lib/qemu/virtiofsd PUx,", "FileRule"},
      {file("/usr/bin/foo", "r", "Px", "foo_helper"), "/usr/bin/foo rPx -> foo_helper,",
       "FileRule"},
      {file("/bin/dash", "rm", "ix"), "/bin/dash mrix,", "FileRule"},
      {file("/srv/My Files/a.txt", "r"), "\"/srv/My Files/a.txt\" r,", "FileRule"},
      {file("/tmp/a", "l", "", "/tmp/b"), "/tmp/a l -> /tmp/b,", "FileRule"},
      {Rule{.body = LinkRule{false, "/tmp/x", "/tmp/y"}}, "link /tmp/x -> /tmp/y,", "FileRule"},
      {Rule{.body = LinkRule{true, "/tmp/x", "/tmp/**"}}, "link subset /tmp/x -> /tmp/**,",
       "FileRule"},
      {Rule{.body = CapabilityRule{{"sys_admin"}}}, "capability sys_admin,", "CapabilityRule"},
      {Rule{.body = CapabilityRule{{"setuid", "chown", "setgid"}}},
       "capability chown setgid setuid,", "CapabilityRule"},
      {deny_cap, "deny capability sys_module,", "CapabilityRule"},
      {Rule{.body = CapabilityRule{}}, "capability,", "CapabilityRule"},
      {Rule{.body = NetworkRule{"inet", "stream"}}, "network inet stream,", "NetworkRule"},
      {Rule{.body = NetworkRule{"inet6", ""}}, "network inet6,", "NetworkRule"},
      {Rule{.body = NetworkRule{"netlink", "raw"}}, "network netlink raw,", "NetworkRule"},
      {Rule{.body = NetworkRule{}}, "network,", "NetworkRule"},
      {Rule{.body = NetworkRule{.family = "inet",
                                .type_or_protocol = "stream",
                                .local_ip = "10.0.0.1",
                                .local_port = "80"}},
       "network inet stream ip=10.0.0.1 port=80,", nullptr},
      {Rule{.body = NetworkRule{.family = "inet6",
                                .type_or_protocol = "stream",
                                .access = {"send", "connect"},
                                .peer_ip = "2001:db8::1",
                                .peer_port = "443"}},
       "network (connect, send) inet6 stream peer=(ip=2001:db8::1 port=443),", nullptr},
      {Rule{.body = NetworkRule{.family = "inet", .access = {"bind"}, .local_port = "8080"}},
       "network (bind) inet port=8080,", nullptr},
      {Rule{.body = SignalRule{{"send"}, {"term"}, "foo"}}, "signal send set=term peer=foo,",
       "SignalRule"},
      {Rule{.body = SignalRule{{"send", "receive"}, {"term", "hup", "kill"}, "/usr/sbin/x"}},
       "signal (receive send) set=(hup kill term) peer=/usr/sbin/x,", "SignalRule"},
      {Rule{.body = SignalRule{{"receive"}, {}, "unconfined"}}, "signal receive peer=unconfined,",
       "SignalRule"},
      {Rule{.body = SignalRule{}}, "signal,", "SignalRule"},
      {Rule{.body = PtraceRule{{"read"}, "libvirtd"}}, "ptrace read peer=libvirtd,", "PtraceRule"},
      {Rule{.body = PtraceRule{{"trace", "read"}, "unconfined"}},
       "ptrace (read trace) peer=unconfined,", "PtraceRule"},
      {Rule{.body = PtraceRule{{"tracedby"}, ""}}, "ptrace tracedby,", "PtraceRule"},
      {Rule{.body = DbusRule{{"send"},
                             "system",
                             "/org/freedesktop/DBus",
                             "",
                             "org.freedesktop.DBus",
                             "Hello",
                             "org.freedesktop.DBus",
                             "unconfined"}},
       "dbus send bus=system path=/org/freedesktop/DBus interface=org.freedesktop.DBus "
       "member=Hello peer=(name=org.freedesktop.DBus label=unconfined),",
       "DbusRule"},
      {Rule{.body = DbusRule{{"bind"}, "session", "", "org.example.Foo", "", "", "", ""}},
       "dbus bind bus=session name=org.example.Foo,", "DbusRule"},
      {Rule{.body = DbusRule{{"receive", "send"}, "session", "", "", "", "", "", "foo"}},
       "dbus (receive send) bus=session peer=(label=foo),", "DbusRule"},
      {Rule{.body = ChangeProfileRule{"", "", "foo"}}, "change_profile -> foo,",
       "ChangeProfileRule"},
      {Rule{.body = ChangeProfileRule{"unsafe", "/usr/bin/x", "bar"}},
       "change_profile unsafe /usr/bin/x -> bar,", "ChangeProfileRule"},
      {Rule{.body = UnixRule{{"connect"}, "stream", "", "@/tmp/.X11-unix/X0", "", "", ""}},
       "unix connect type=stream addr=@/tmp/.X11-unix/X0,", nullptr},
      {Rule{.body = UnixRule{{"send", "receive"}, "dgram", "", "", "", "unconfined", "none"}},
       "unix (receive send) type=dgram peer=(label=unconfined addr=none),", nullptr},
      {Rule{
           .body =
               MountRule{
                   MountRule::Kind::kMount, {"tmpfs"}, {"rw", "nosuid"}, "tmpfs", "/run/foo/", ""}},
       "mount fstype=tmpfs options=(rw,nosuid) tmpfs -> /run/foo/,", nullptr},
      {Rule{.body = MountRule{MountRule::Kind::kRemount, {}, {"ro"}, "", "/mnt/", ""}},
       "remount options=ro /mnt/,", nullptr},
      {Rule{.body = MountRule{MountRule::Kind::kUmount, {}, {}, "", "/mnt/**", ""}},
       "umount /mnt/**,", nullptr},
      {Rule{.body = MountRule{MountRule::Kind::kPivotRoot, {}, {}, "/old/", "/new/", ""}},
       "pivot_root oldroot=/old/ /new/,", nullptr},
      {Rule{.body = UsernsRule{true}}, "userns create,", nullptr},
      {Rule{.body = IoUringRule{{"sqpoll"}, "foo"}}, "io_uring sqpoll label=foo,", nullptr},
      {Rule{.body = MqueueRule{{"read", "write"}, "posix", "", "/q1"}},
       "mqueue (read write) type=posix /q1,", nullptr},
  };
}

// Rules the installed parser (3.0.8) cannot compile.
bool parser_knows(const Rule& r) {
  if (const auto* n = std::get_if<NetworkRule>(&r.body); n && n->is_fine_grained()) return false;
  return !std::holds_alternative<UsernsRule>(r.body) &&
         !std::holds_alternative<IoUringRule>(r.body) &&
         !std::holds_alternative<MqueueRule>(r.body);
}

TEST(RuleRender, CanonicalText) {
  for (const auto& c : table()) EXPECT_EQ(render(c.rule), c.text);
}

TEST(RuleRender, RoundTripsThroughParse) {
  for (const auto& c : table()) {
    auto parsed = parse_rule(c.text);
    ASSERT_TRUE(parsed) << c.text << ": " << parsed.error();
    EXPECT_EQ(render(*parsed), c.text);
    EXPECT_TRUE(same_rule(*parsed, c.rule)) << c.text;
  }
}

TEST(RuleRender, MatchesPython3Apparmor) {
  const char* python = "/usr/bin/python3";
  if (run(std::string(python) + " -c 'import apparmor.rule.file' 2>/dev/null").first != 0) {
    GTEST_SKIP() << "python3-apparmor is not importable with " << python;
  }
  // One interpreter for the whole table: each input line is "<module> <Class> <rule>".
  const std::string script =
      "import sys, importlib\n"
      "for line in sys.stdin.read().splitlines():\n"
      "    mod, cls, rule = line.split(' ', 2)\n"
      "    c = getattr(importlib.import_module('apparmor.rule.' + mod), cls)\n"
      "    print(c.parse(rule).get_clean())\n";
  std::string input;
  std::vector<std::string> expected;
  for (const auto& c : table()) {
    if (c.python_class == nullptr) continue;
    const std::string cls = c.python_class;
    std::string module = cls.substr(0, cls.size() - 4);  // "FileRule" -> "File"
    std::string snake;
    for (const char ch : module) {
      if (std::isupper(static_cast<unsigned char>(ch)) && !snake.empty()) snake += '_';
      snake += static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
    }
    input += snake + " " + cls + " " + render(c.rule) + "\n";
    expected.push_back(render(c.rule));
  }
  auto [rc, out] = run("printf '%s' " + shell_quote(input) + " | " + python + " -c " +
                       shell_quote(script) + " 2>&1");
  ASSERT_EQ(rc, 0) << out;
  std::vector<std::string> got;
  size_t start = 0;
  for (size_t nl = out.find('\n'); nl != std::string::npos; nl = out.find('\n', start)) {
    got.push_back(out.substr(start, nl - start));
    start = nl + 1;
  }
  ASSERT_EQ(got.size(), expected.size()) << out;
  for (size_t i = 0; i < got.size(); ++i) {
    EXPECT_EQ(expected[i], got[i]) << "python3-apparmor renders it differently";
  }
}

TEST(RuleRender, ApparmorParserCompilesEveryRenderedRule) {
  if (access(APPARMOR_PARSER, X_OK) != 0) GTEST_SKIP() << APPARMOR_PARSER << " not installed";
  const auto dir =
      std::filesystem::temp_directory_path() / ("aatune-rule-test-" + std::to_string(getpid()));
  std::filesystem::create_directories(dir);
  std::string profile = "profile aatune_render_test /usr/bin/aatune-test {\n";
  for (const auto& c : table()) {
    if (parser_knows(c.rule)) profile += "  " + render(c.rule) + "\n";
  }
  // Literal paths with AARE specials, escaped, must compile too.
  for (const char* p : {"/tmp/a*b", "/tmp/@{HOME}", "/tmp/x[1]{2}?", "/tmp/with space/^x"}) {
    profile += "  " + render(file(quote_path_literal(p).value(), "r")) + "\n";
  }
  profile += "}\n";
  const auto path = dir / "profile";
  std::ofstream(path) << profile;
  auto [rc, out] = run(parser_command(path));
  std::filesystem::remove_all(dir);
  EXPECT_EQ(rc, 0) << out << "\n" << profile;
  EXPECT_EQ(out, "");
}

TEST(QuotePathLiteral, EscapesAareSpecials) {
  EXPECT_EQ(quote_path_literal("/etc/passwd").value(), "/etc/passwd");
  EXPECT_EQ(quote_path_literal("/tmp/a*b?c").value(), "/tmp/a\\*b\\?c");
  EXPECT_EQ(quote_path_literal("/tmp/[x]{y,z}").value(), "/tmp/\\[x\\]\\{y,z\\}");
  EXPECT_EQ(quote_path_literal("/tmp/@{HOME}").value(), "/tmp/@\\{HOME\\}");
  EXPECT_EQ(quote_path_literal("/tmp/a\\b^").value(), "/tmp/a\\\\b\\^");
  EXPECT_EQ(render(file(quote_path_literal("/srv/a b/*").value(), "r")), "\"/srv/a b/\\*\" r,");
}

TEST(QuotePathLiteral, RefusesWhatCannotBeWritten) {
  EXPECT_EQ(quote_path_literal("/tmp/a\nb").error(), "path contains a newline");
  EXPECT_EQ(quote_path_literal(std::string_view("/tmp/a\0b", 8)).error(),
            "path contains a NUL byte");
  EXPECT_EQ(quote_path_literal("/tmp/a\x1b").error(), "path contains a control character");
  EXPECT_EQ(quote_path_literal("tmp/a").error(), "path 'tmp/a' is not absolute");
  EXPECT_EQ(quote_path_literal("").error(), "empty path");
}

TEST(RenderChecked, RefusesInvalidRules) {
  EXPECT_EQ(render_checked(file("", "r")).error(), "file rule has an empty path");
  EXPECT_EQ(render_checked(file("/a", "")).error(), "file rule for /a has no permissions");
  EXPECT_EQ(render_checked(file("/a", "rq")).error(),
            "file rule for /a has invalid permissions 'rq'");
  EXPECT_EQ(render_checked(file("/a", "", "x")).error(),
            "plain 'x' needs an exec mode (ix, px, Px, …) in an allow rule");
  EXPECT_EQ(render_checked(file("/a", "r", "", "b")).error(), "'-> b' needs an exec mode or 'l'");
  EXPECT_EQ(render_checked(file("/a\nb", "r")).error(),
            "value '/a b' contains a newline or control character");
  EXPECT_EQ(render_checked(file("/a", "r")).value(), "/a r,");
}

TEST(ParseRule, QualifiersCommentsAndSpacing) {
  auto r = parse_rule("  audit  deny owner /etc/**   rw,  # no");
  ASSERT_TRUE(r);
  EXPECT_TRUE(r->audit);
  EXPECT_TRUE(r->deny);
  EXPECT_TRUE(r->owner);
  EXPECT_EQ(render(*r), "audit deny owner /etc/** rw,");
  EXPECT_EQ(render(parse_rule("allow /a r").value()), "/a r,");
  EXPECT_EQ(render(parse_rule("owner file /a r,").value()), "owner /a r,");
  EXPECT_EQ(render(parse_rule("@{PROC}/@{pid}/stat r,").value()), "@{PROC}/@{pid}/stat r,");
  EXPECT_EQ(render(parse_rule("signal (send, receive) set=(hup, term) peer=x,").value()),
            "signal (receive send) set=(hup term) peer=x,");
  EXPECT_EQ(render(parse_rule("dbus send bus=system peer=(name=org.a, label=b),").value()),
            "dbus send bus=system peer=(name=org.a label=b),");
  EXPECT_EQ(render(parse_rule("network tcp,").value()), "network tcp,");
  EXPECT_EQ(render(parse_rule("\"/a b/c\" rw,").value()), "\"/a b/c\" rw,");
  EXPECT_EQ(render(parse_rule("umount,").value()), "umount,");
  EXPECT_EQ(render(parse_rule("mount options=(ro, bind) /a/ -> /b/,").value()),
            "mount options=(ro,bind) /a/ -> /b/,");
}

TEST(ParseRule, UnknownSyntaxIsKeptNotRejected) {
  for (const char* text : {"all,", "rlimit nofile <= 1024,", "prompt /a r,",
                           "network inet stream ip=127.0.0.1 interface=eth0,",
                           "unix (send) type=stream attr=x,", "userns foo bar,"}) {
    auto r = parse_rule(text);
    ASSERT_TRUE(r) << text << ": " << r.error();
    ASSERT_TRUE(std::holds_alternative<UnknownRule>(r->body)) << text;
    EXPECT_EQ(rule_class(*r), "unknown");
    std::string expected = text;
    EXPECT_EQ(render(*r), expected);
  }
  EXPECT_EQ(std::get<UnknownRule>(parse_rule("all,")->body).reason, "unknown rule 'all'");
}

TEST(ParseRule, MalformedKnownRulesAreErrors) {
  EXPECT_EQ(parse_rule("/etc/passwd,").error(),
            "file rule needs a path and permissions in '/etc/passwd'");
  EXPECT_EQ(parse_rule("/etc/passwd rq,").error(),
            "unknown file permissions 'rq' in '/etc/passwd rq'");
  EXPECT_EQ(parse_rule("\"/etc/pa r,").error(), "unterminated quote in '\"/etc/pa r'");
  EXPECT_EQ(parse_rule("signal send set=(hup,").error(), "unclosed '(' in 'signal send set=(hup'");
  EXPECT_EQ(parse_rule("signal send bogus=1,").error(),
            "unknown signal condition 'bogus=' in 'signal send bogus=1'");
  EXPECT_EQ(parse_rule("capability Sys_Admin,").error(),
            "invalid capability name 'Sys_Admin' in 'capability Sys_Admin'");
  EXPECT_EQ(parse_rule("   ,").error(), "empty rule");
  EXPECT_EQ(parse_rule("audit deny,").error(), "qualifiers without a rule in 'audit deny'");
  EXPECT_EQ(parse_rule("link /a /b,").error(),
            "link rule must be 'link [subset] PATH -> TARGET' in 'link /a /b'");
}

TEST(ParseRule, ClassNames) {
  EXPECT_EQ(rule_class(parse_rule("/a r,").value()), "file");
  EXPECT_EQ(rule_class(parse_rule("ptrace,").value()), "ptrace");
  EXPECT_EQ(rule_class(parse_rule("pivot_root,").value()), "pivot_root");
  EXPECT_EQ(rule_class(parse_rule("unmount /x,").value()), "umount");
  EXPECT_EQ(rule_class(parse_rule("change_profile,").value()), "change_profile");
}

}  // namespace
}  // namespace aatune::rules

namespace aatune::rules {
namespace {

// Hostile input must never crash or hang the parser, the renderer or the matcher: random
// statements built from the characters that matter to AppArmor's syntax.
TEST(ParseRule, RandomInputNeverCrashes) {
  const std::string alphabet = "/@{}[]()*?^\\\",=-> \t#abrwxlkmPUCix\n\x01";
  const std::vector<std::string> words = {"audit ",      "deny ",    "owner ", "signal ", "dbus ",
                                          "unix ",       "mount ",   "peer=(", "set=(",   "link ",
                                          "capability ", "network ", "-> ",    "@{HOME}", "/tmp/"};
  uint32_t state = 12345;
  const auto next = [&state] {
    state = state * 1103515245u + 12345u;
    return (state >> 16) & 0x7fff;
  };
  for (int i = 0; i < 3000; ++i) {
    std::string s;
    const int len = static_cast<int>(next() % 40);
    for (int k = 0; k < len; ++k) {
      if (next() % 4 == 0) {
        s += words[next() % words.size()];
      } else {
        s += alphabet[next() % alphabet.size()];
      }
    }
    auto r = parse_rule(s);
    if (r) {
      const std::string text = render(*r);
      EXPECT_FALSE(text.empty());
      (void)render_checked(*r);
    } else {
      EXPECT_FALSE(r.error().empty());
    }
    auto a = Aare::compile(s);
    if (a) (void)a->matches("/tmp/" + s);
    (void)quote_path_literal(s);
  }
}

// Whatever we can parse, we render into text that parses back to the same rule.
TEST(ParseRule, RenderedRulesParseBackToThemselves) {
  for (const char* text :
       {"owner @{HOME}/.config/{foo,bar}/** rwk,", "/usr/bin/x Cx -> &child,",
        "audit capability setuid setgid,", "deny ptrace (trace, read) peer=@{profile_name},",
        "unix (connect, send, receive) type=stream peer=(label=foo, addr=\"@/x y\"),",
        "dbus (send, receive) bus=session interface=\"org.a b\" peer=(label=x),",
        "mount fstype=(ext4, xfs) options=(ro nosuid) /dev/sd* -> /mnt/**,",
        "change_profile safe /usr/bin/* -> {a,b},", "pivot_root oldroot=/o/ /n/ -> p,",
        "r /etc/hosts,", "link subset @{HOME}/a -> @{HOME}/b,"}) {
    auto r = parse_rule(text);
    ASSERT_TRUE(r) << text << ": " << r.error();
    const std::string once = render(*r);
    auto again = parse_rule(once);
    ASSERT_TRUE(again) << once << ": " << again.error();
    EXPECT_EQ(render(*again), once) << text;
  }
}

TEST(NetworkRule, FineGrainedFormIsTyped) {
  auto r = parse_rule("network (connect,send) inet stream peer=(ip=10.1.2.3, port=80),");
  ASSERT_TRUE(r) << r.error();
  const auto* n = std::get_if<NetworkRule>(&r->body);
  ASSERT_NE(n, nullptr);
  EXPECT_EQ(n->family, "inet");
  EXPECT_EQ(n->type_or_protocol, "stream");
  EXPECT_EQ(n->access, (std::vector<std::string>{"connect", "send"}));
  EXPECT_EQ(n->peer_ip, "10.1.2.3");
  EXPECT_EQ(n->peer_port, "80");
  EXPECT_TRUE(n->is_fine_grained());
  EXPECT_EQ(render(*r), "network (connect, send) inet stream peer=(ip=10.1.2.3 port=80),");
  EXPECT_FALSE(std::get<NetworkRule>(parse_rule("network inet tcp,")->body).is_fine_grained());
  EXPECT_EQ(parse_rule("network inet port=70000,").error(),
            "invalid network port '70000' in 'network inet port=70000'");
  EXPECT_EQ(
      render_checked(Rule{.body = NetworkRule{.family = "inet", .local_ip = "10.0.0.256"}}).error(),
      "network rule has an invalid ip '10.0.0.256'");
  EXPECT_EQ(render_checked(Rule{.body = NetworkRule{.family = "unix", .local_port = "1"}}).error(),
            "network ip=/port= conditions need the family inet or inet6");
  EXPECT_EQ(render_checked(Rule{.body = NetworkRule{.family = "inet", .local_ip = "none"}}).value(),
            "network inet ip=none,");
}

// Debian 12's apparmor_parser (3.0.8) predates fine-grained network rules: that is why the
// analyzer proposes the coarse rule and offers the fine-grained one only as an alternative. When
// this test fails, the installed parser learnt them and the default can change.
TEST(NetworkRule, InstalledParserRejectsTheFineGrainedForm) {
  if (access(APPARMOR_PARSER, X_OK) != 0) GTEST_SKIP() << APPARMOR_PARSER << " not installed";
  const auto dir =
      std::filesystem::temp_directory_path() / ("aatune-net-test-" + std::to_string(getpid()));
  std::filesystem::create_directories(dir);
  const auto write_and_run = [&](const std::string& rule) {
    std::ofstream(dir / "p") << "profile net_test {\n  " << rule << "\n}\n";
    return run(parser_command(dir / "p")).first;
  };
  EXPECT_EQ(write_and_run("network inet stream,"), 0);
  EXPECT_NE(write_and_run("network inet stream ip=10.0.0.1 port=80,"), 0);
  std::filesystem::remove_all(dir);
}

TEST(ParseRule, QuotedNamesKeepEveryByte) {
  auto r = parse_rule("\"/tmp/a  \tb  \" r,");
  ASSERT_TRUE(r) << r.error();
  EXPECT_EQ(std::get<FileRule>(r->body).path, "/tmp/a  \tb  ");
  // Outside quotes blanks still collapse.
  EXPECT_EQ(render(parse_rule("  /tmp/x    rw ,  # c").value()), "/tmp/x rw,");
  // Escapes other than \" belong to the AARE and are kept.
  EXPECT_EQ(std::get<FileRule>(parse_rule("\"/a\\\\\\\" b\" r,")->body).path, "/a\\\\\" b");
}

TEST(QuotePathLiteral, CommasAndTrailingBackslashStayInsideTheName) {
  // A bare ',' at the end of a name would end the rule for apparmor_parser.
  EXPECT_EQ(render(file(quote_path_literal("/tmp/a,").value(), "r")), "\"/tmp/a,\" r,");
  EXPECT_EQ(render(file(quote_path_literal("/tmp/a,,b").value(), "r")), "\"/tmp/a,,b\" r,");
  EXPECT_EQ(render(file("/etc/{passwd,group}", "r")), "/etc/{passwd,group} r,");
  // A final backslash would escape the closing quote or the blank after it: written in octal.
  EXPECT_EQ(quote_path_literal("/tmp/a\\").value(), "/tmp/a\\134");
  EXPECT_EQ(quote_label_literal("x\\").value(), "x\\134");
  EXPECT_TRUE(aare_matches(quote_path_literal("/tmp/a\\").value(), "/tmp/a\\"));
  EXPECT_FALSE(aare_matches(quote_path_literal("/tmp/a\\").value(), "/tmp/a134"));
  EXPECT_EQ(quote_value("a=b"), "\"a=b\"");
  EXPECT_EQ(quote_value("plain"), "plain");
}

}  // namespace
}  // namespace aatune::rules
