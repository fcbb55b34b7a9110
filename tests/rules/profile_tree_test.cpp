#include "rules/profile_tree.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <string>

namespace aatune::rules {
namespace {

namespace fs = std::filesystem;

const fs::path kTree = fs::path(AATUNE_SOURCE_DIR) / "tests/rules/data/tree";
const std::string kUuid = "0b5e4e2c-2d5c-4c1f-9a3b-1a2b3c4d5e6f";

const ProfileTree& tree() {
  static const ProfileTree t = read_profile_tree(kTree).value();
  return t;
}

Rule req(std::string_view text) {
  return parse_rule(text).value();
}

Coverage cov(std::string_view profile, std::string_view request, bool owner = false) {
  auto c = tree().coverage(profile, req(request), owner);
  EXPECT_TRUE(c.has_value()) << (c ? "" : c.error());
  return c.value_or(Coverage{});
}

std::string site(const std::optional<RuleEntry>& e) {
  if (!e) return "-";
  return fs::path(e->file).lexically_relative(kTree).string() + ":" + std::to_string(e->line) +
         " " + e->text + (e->from_include() ? " via " + e->via_include : "");
}

TEST(ProfileTree, FindsProfilesChildrenAndHats) {
  std::vector<std::string> names;
  for (const auto& p : tree().profiles) names.push_back(p.name);
  EXPECT_EQ(names, (std::vector<std::string>{"libvirt-" + kUuid, "/usr/bin/legacy", "food",
                                             "food//worker", "food//cgi"}));
  const Profile* food = tree().find("food");
  ASSERT_NE(food, nullptr);
  EXPECT_EQ(food->attachment, "/usr/sbin/food");
  EXPECT_EQ(food->flags, (std::vector<std::string>{"attach_disconnected", "complain"}));
  EXPECT_TRUE(food->complain());
  EXPECT_EQ(food->file, (kTree / "usr.sbin.food").string());
  EXPECT_EQ(food->header_line, 7u);
  EXPECT_EQ(food->open_line, 7u);
  EXPECT_EQ(food->close_line, 36u);
  EXPECT_EQ(food->includes,
            (std::vector<std::string>{"abstractions/base", "abstractions/nameservice",
                                      "abstractions/dir.d", "local/usr.sbin.food"}));
  const Profile* worker = tree().find("food//worker");
  ASSERT_NE(worker, nullptr);
  EXPECT_EQ(worker->parent, "food");
  EXPECT_FALSE(worker->is_hat);
  EXPECT_EQ(worker->header_line, 26u);
  EXPECT_EQ(worker->close_line, 29u);
  EXPECT_EQ(worker->rules.size(), 2u);
  const Profile* cgi = tree().find("food//^cgi");
  ASSERT_NE(cgi, nullptr);
  EXPECT_TRUE(cgi->is_hat);
  EXPECT_EQ(cgi->local_name, "cgi");
  EXPECT_EQ(cgi->close_line, 33u);
  const Profile* legacy = tree().find("/usr/bin/legacy");
  ASSERT_NE(legacy, nullptr);
  EXPECT_EQ(legacy->attachment, "/usr/bin/legacy");
  EXPECT_TRUE(legacy->disabled);
  EXPECT_FALSE(legacy->complain());
  EXPECT_FALSE(food->disabled);
  EXPECT_EQ(tree().find("LIBVIRT_TEMPLATE"), nullptr);
  EXPECT_EQ(tree().find("nope"), nullptr);
}

TEST(ProfileTree, RulesKeepTheirOrigin) {
  const Profile* food = tree().find("food");
  ASSERT_NE(food, nullptr);
  std::vector<std::string> sites;
  for (const auto& r : food->rules) sites.push_back(site(r));
  EXPECT_EQ(sites,
            (std::vector<std::string>{
                "abstractions/base:1 /etc/ld.so.cache r, via abstractions/base",
                "abstractions/base:2 @{PROC}/@{pid}/maps r, via abstractions/base",
                "abstractions/base:3 /{,usr/}lib{,32,64}/** mr, via abstractions/base",
                "abstractions/nameservice:1 /etc/hosts r, via abstractions/nameservice",
                "abstractions/nameservice:2 network inet dgram, via abstractions/nameservice",
                "abstractions/nameservice.d/extra:1 /etc/nsswitch.conf r, via "
                "abstractions/nameservice",
                "abstractions/dir.d/a:1 /opt/dir/a r, via abstractions/dir.d",
                "abstractions/dir.d/b:1 /opt/dir/b r, via abstractions/dir.d",
                "usr.sbin.food:12 capability net_bind_service,",
                "usr.sbin.food:13 @{FOO_DIR}/** rw,",
                "usr.sbin.food:14 owner @{HOME}/.food/** rw,",
                "usr.sbin.food:15 deny /etc/shadow r,",
                "usr.sbin.food:16 audit deny @{PROC}/@{pid}/mem w,",
                "usr.sbin.food:17 /usr/{bin,sbin}/helper PUx,",
                "usr.sbin.food:18 /usr/lib/food/worker Cx -> worker,",
                "usr.sbin.food:19 signal (receive) set=(term, hup) peer=unconfined,",
                "usr.sbin.food:20 ptrace read peer=food//worker,",
                "usr.sbin.food:21 dbus send bus=system path=/org/freedesktop/DBus "
                "interface=org.freedesktop.DBus member=Hello,",
                "usr.sbin.food:23 prompt /new/keyword r,",
                "usr.sbin.food:24 all,",
                "local/usr.sbin.food:2 /etc/food/extra.conf r, via local/usr.sbin.food",
            }));
}

TEST(ProfileTree, CollectsVariablesFromTunablesAndPreamble) {
  const auto& v = tree().variables;
  EXPECT_EQ(v.at("HOMEDIRS"), (std::vector<std::string>{"/home/", "/srv/home/"}));
  EXPECT_EQ(v.at("HOME"), (std::vector<std::string>{"@{HOMEDIRS}/*/", "/root/"}));
  EXPECT_EQ(v.at("PROC"), (std::vector<std::string>{"/proc/"}));
  EXPECT_EQ(v.at("FOO_DIR"), (std::vector<std::string>{"/var/lib/food", "/srv/food"}));
  EXPECT_FALSE(tree().uses_profile_name_variable);
}

TEST(ProfileTree, WarnsOnceAboutUnknownSyntax) {
  std::vector<std::string> w;
  for (const auto& x : tree().warnings) {
    w.push_back(fs::path(x.file).lexically_relative(kTree).string() + ":" + std::to_string(x.line) +
                ": " + x.message);
  }
  EXPECT_EQ(w, (std::vector<std::string>{
                   "usr.sbin.food:23: unknown rule 'prompt': 'prompt /new/keyword r,' kept as "
                   "text",
                   "usr.sbin.food:24: unknown rule 'all': 'all,' kept as text",
               }));
}

TEST(ProfileTree, CoverageOfFileRequests) {
  auto c = cov("food", "/var/lib/food/data/x rw,");
  EXPECT_EQ(c.kind, CoverageKind::kAllowed);
  EXPECT_EQ(site(c.allow), "usr.sbin.food:13 @{FOO_DIR}/** rw,");
  EXPECT_EQ(cov("food", "/srv/food/a a,").kind, CoverageKind::kAllowed);  // w implies a

  c = cov("food", "/var/lib/food/x k,");
  EXPECT_EQ(c.kind, CoverageKind::kNone);
  EXPECT_EQ(c.missing, "k");

  c = cov("food", "/etc/shadow r,");
  EXPECT_EQ(c.kind, CoverageKind::kDenied);
  EXPECT_EQ(site(c.deny), "usr.sbin.food:15 deny /etc/shadow r,");
  EXPECT_EQ(c.missing, "r");

  c = cov("food", "/proc/4242/mem w,");
  EXPECT_EQ(c.kind, CoverageKind::kDenied);
  EXPECT_EQ(site(c.deny), "usr.sbin.food:16 audit deny @{PROC}/@{pid}/mem w,");

  c = cov("food", "/home/bob/.food/cfg w,");
  EXPECT_EQ(c.kind, CoverageKind::kOwnerOnly);
  EXPECT_EQ(site(c.owner), "usr.sbin.food:14 owner @{HOME}/.food/** rw,");
  EXPECT_EQ(cov("food", "/home/bob/.food/cfg w,", true).kind, CoverageKind::kAllowed);
  EXPECT_EQ(cov("food", "/srv/home/eve/.food/cfg r,", true).kind, CoverageKind::kAllowed);
  EXPECT_EQ(cov("food", "/home/.food/cfg r,", true).kind, CoverageKind::kNone);

  c = cov("food", "/etc/ld.so.cache r,");
  EXPECT_EQ(c.kind, CoverageKind::kAllowed);
  EXPECT_EQ(site(c.allow), "abstractions/base:1 /etc/ld.so.cache r, via abstractions/base");
  EXPECT_EQ(cov("food", "/proc/1234/maps r,").kind, CoverageKind::kAllowed);
  EXPECT_EQ(cov("food", "/proc/self/maps r,").kind, CoverageKind::kNone);
  EXPECT_EQ(cov("food", "/etc/hosts r,").kind, CoverageKind::kAllowed);
  EXPECT_EQ(cov("food", "/etc/nsswitch.conf r,").kind, CoverageKind::kAllowed);
  EXPECT_EQ(cov("food", "/opt/dir/b r,").kind, CoverageKind::kAllowed);
  c = cov("food", "/etc/food/extra.conf r,");
  EXPECT_EQ(site(c.allow), "local/usr.sbin.food:2 /etc/food/extra.conf r, via local/usr.sbin.food");
  EXPECT_EQ(cov("food", "/usr/lib64/libfoo.so m,").kind, CoverageKind::kAllowed);

  c = cov("food", "/etc/passwd r,");
  EXPECT_EQ(c.kind, CoverageKind::kNone);
  EXPECT_EQ(c.missing, "r");
  EXPECT_FALSE(c.allow.has_value());

  // Exec: any exec mode covers an `x` request.
  EXPECT_EQ(cov("food", "/usr/sbin/helper x,").kind, CoverageKind::kAllowed);
  EXPECT_EQ(cov("food", "/usr/local/bin/helper x,").kind, CoverageKind::kNone);

  // Escaped literal paths are unescaped before matching.
  EXPECT_EQ(cov("food", "/var/lib/food/a\\*b r,").kind, CoverageKind::kAllowed);

  // Children and hats have their own rules only.
  EXPECT_EQ(cov("food//worker", "/var/lib/food/queue/a r,").kind, CoverageKind::kAllowed);
  EXPECT_EQ(cov("food//worker", "/var/lib/food/queue/ r,").kind, CoverageKind::kNone);
  EXPECT_EQ(cov("food//worker", "/etc/ld.so.cache r,").kind, CoverageKind::kNone);
  EXPECT_EQ(cov("food//^cgi", "/srv/cgi/a/b r,").kind, CoverageKind::kAllowed);

  EXPECT_EQ(cov("libvirt-" + kUuid, "\"/var/lib/libvirt/images/disk 1.qcow2\" rk,").kind,
            CoverageKind::kAllowed);
  auto lv = tree().coverage(
      "libvirt-" + kUuid,
      Rule{.body = FileRule{.path = "/var/lib/libvirt/images/disk 1.qcow2", .perms = "rk"}});
  ASSERT_TRUE(lv);
  EXPECT_EQ(lv->kind, CoverageKind::kAllowed);
}

TEST(ProfileTree, CoverageOfOtherClasses) {
  EXPECT_EQ(cov("food", "capability net_bind_service,").kind, CoverageKind::kAllowed);
  EXPECT_EQ(cov("food", "capability sys_admin,").kind, CoverageKind::kNone);
  EXPECT_EQ(cov("food", "network inet dgram,").kind, CoverageKind::kAllowed);
  EXPECT_EQ(cov("food", "network inet stream,").kind, CoverageKind::kNone);
  EXPECT_EQ(cov("food", "signal receive set=term peer=unconfined,").kind, CoverageKind::kAllowed);
  EXPECT_EQ(cov("food", "signal receive set=kill peer=unconfined,").kind, CoverageKind::kNone);
  EXPECT_EQ(cov("food", "signal send set=term peer=unconfined,").kind, CoverageKind::kNone);
  EXPECT_EQ(cov("food", "signal receive set=hup peer=other,").kind, CoverageKind::kNone);
  EXPECT_EQ(cov("food", "ptrace read peer=food//worker,").kind, CoverageKind::kAllowed);
  EXPECT_EQ(cov("food", "ptrace trace peer=food//worker,").kind, CoverageKind::kNone);
  EXPECT_EQ(cov("food",
                "dbus send bus=system path=/org/freedesktop/DBus "
                "interface=org.freedesktop.DBus member=Hello peer=(name=org.freedesktop.DBus),")
                .kind,
            CoverageKind::kAllowed);
  EXPECT_EQ(cov("food",
                "dbus send bus=session path=/org/freedesktop/DBus "
                "interface=org.freedesktop.DBus member=Hello,")
                .kind,
            CoverageKind::kNone);
  EXPECT_EQ(cov("food", "unix connect type=stream,").kind, CoverageKind::kNone);
  EXPECT_EQ(tree().coverage("nope", req("capability chown,")).error(), "no profile named 'nope'");
}

TEST(ProfileTree, IncludesAllowingAndExecModes) {
  EXPECT_EQ(tree().includes_allowing(req("/etc/hosts r,")),
            (std::vector<std::string>{"abstractions/nameservice"}));
  EXPECT_EQ(tree().includes_allowing(req("/etc/ld.so.cache r,")),
            (std::vector<std::string>{"abstractions/base"}));
  EXPECT_TRUE(tree().includes_allowing(req("/etc/passwd r,")).empty());
  auto sites = tree().includes_allowing_with_site(req("/etc/nsswitch.conf r,"));
  // Nested includes are listed under their own name too (a quoted include as written).
  ASSERT_EQ(sites.size(), 2u);
  EXPECT_EQ(sites[1].first, "nameservice.d/extra");
  EXPECT_EQ(sites[0].first, "abstractions/nameservice");
  EXPECT_EQ(
      site(sites[0].second),
      "abstractions/nameservice.d/extra:1 /etc/nsswitch.conf r, via abstractions/nameservice");
  EXPECT_EQ(tree().exec_modes_used("food"), (std::vector<std::string>{"Cx", "PUx"}));
  EXPECT_TRUE(tree().exec_modes_used("food//worker").empty());
}

TEST(ProfileTree, FilesForProfiles) {
  auto f = tree().files_for("food").value();
  EXPECT_EQ(f.profile_file, (kTree / "usr.sbin.food").string());
  EXPECT_EQ(f.local_include, "local/usr.sbin.food");
  EXPECT_EQ(f.local_file, (kTree / "local/usr.sbin.food").string());
  EXPECT_TRUE(f.local_included);
  EXPECT_TRUE(f.local_exists);
  EXPECT_EQ(f.libvirt_files, "");

  f = tree().files_for("/usr/bin/legacy").value();
  EXPECT_EQ(f.local_include, "local/usr.bin.legacy");
  EXPECT_FALSE(f.local_included);
  EXPECT_FALSE(f.local_exists);

  EXPECT_EQ(tree().files_for("food//worker").value().local_include, "local/usr.sbin.food.worker");

  f = tree().files_for("libvirt-" + kUuid).value();
  EXPECT_EQ(f.profile_file, (kTree / "libvirt" / ("libvirt-" + kUuid)).string());
  EXPECT_EQ(f.libvirt_files, (kTree / "libvirt" / ("libvirt-" + kUuid + ".files")).string());
  EXPECT_EQ(f.local_include, "local/libvirt-" + kUuid);

  EXPECT_EQ(tree().files_for("nope").error(), "no profile named 'nope'");
}

TEST(ProfileTree, ProfileForProgram) {
  const Profile* p = tree().profile_for_program("/usr/sbin/food");
  ASSERT_NE(p, nullptr);
  EXPECT_EQ(p->name, "food");
  p = tree().profile_for_program("/usr/bin/legacy");
  ASSERT_NE(p, nullptr);
  EXPECT_EQ(p->name, "/usr/bin/legacy");
  EXPECT_EQ(tree().profile_for_program("/usr/bin/other"), nullptr);
}

TEST(ProfileTree, MissingRootIsAnError) {
  EXPECT_EQ(read_profile_tree("/nonexistent/aatune").error(),
            "/nonexistent/aatune: no such directory");
  EXPECT_EQ(read_profile_tree(kTree / "usr.sbin.food").error(),
            (kTree / "usr.sbin.food").string() + ": not a directory");
}

class TempTree : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() /
           ("aatune-tree-" + std::to_string(getpid()) + "-" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::create_directories(dir_);
  }
  void TearDown() override { fs::remove_all(dir_); }
  void write(const std::string& rel, const std::string& text) {
    fs::create_directories((dir_ / rel).parent_path());
    std::ofstream(dir_ / rel) << text;
  }
  fs::path dir_;
};

TEST_F(TempTree, BrokenFilesNeverCrash) {
  write("a", "profile a {\n  /x r,\n}\n}\n");
  write("b", "profile b {\n  /y r\n}\n");
  write("c", "profile c {\n  include <nothere>\n  include if exists <nothere2>\n  /z r,\n");
  write("d", std::string("\x01\x02{{{ }}} ,,, \"unterminated\n@{\n", 32));
  write("e", "include <e2>\n");
  write("e2", "include <e>\n");
  auto t = read_profile_tree(dir_);
  ASSERT_TRUE(t);
  std::vector<std::string> w;
  for (const auto& x : t->warnings) {
    w.push_back(fs::path(x.file).filename().string() + ":" + std::to_string(x.line) + ": " +
                x.message);
  }
  EXPECT_EQ(t->find("a")->close_line, 3u);
  EXPECT_EQ(t->find("b")->rules.size(), 1u);
  EXPECT_EQ(render(t->find("b")->rules[0].rule), "/y r,");
  EXPECT_EQ(t->find("c")->rules.size(), 1u);
  ASSERT_GE(w.size(), 4u);
  EXPECT_EQ(w[0], "a:4: '}' without a matching '{'");
  EXPECT_EQ(w[1], "b:2: statement '/y r' is missing its ',' before '}'");
  EXPECT_EQ(w[2], "c:2: include <nothere> not found (" + (dir_ / "nothere").string() + ")");
  EXPECT_EQ(w[3], "c:0: unclosed '{' at end of file");
  bool recursion = false;
  for (const auto& s : w) recursion |= s.find("recurses into itself") != std::string::npos;
  EXPECT_TRUE(recursion);
}

TEST_F(TempTree, ProfileNameVariableAndQuotedNames) {
  write("q",
        "profile \"my app\" \"/opt/my app/bin\" {\n  @{PROC}/@{pid}/attr/current r,\n"
        "  /run/@{profile_name}.pid w,\n}\n");
  write("tunables/proc", "@{PROC}=/proc/\n@{pid}={[1-9],[1-9][0-9]}\n");
  write("r", "include <tunables/proc>\nprofile r {\n  /x/@{undefined} r,\n}\n");
  auto t = read_profile_tree(dir_);
  ASSERT_TRUE(t);
  EXPECT_TRUE(t->uses_profile_name_variable);
  ASSERT_NE(t->find("my app"), nullptr);
  EXPECT_EQ(t->find("my app")->attachment, "/opt/my app/bin");
  EXPECT_EQ(t->coverage("my app", req("\"/run/my app.pid\" w,"))->kind, CoverageKind::kAllowed);
  EXPECT_EQ(t->coverage("r", req("/x/y r,"))->kind, CoverageKind::kNone);
  ASSERT_EQ(t->warnings.size(), 1u);
  EXPECT_EQ(t->warnings[0].message, "undefined variable @{undefined} (rule ignored in coverage)");
}

// `alias FROM -> TO,`: the parser duplicates every rule under FROM for TO, so coverage does too.
TEST_F(TempTree, AliasesApplyToCoverage) {
  write("tunables/alias", "alias /usr/ -> /mnt/usr/,\nalias broken,\n");
  write("a",
        "include <tunables/alias>\nprofile a {\n  /usr/bin/** r,\n  deny /usr/bin/secret r,\n"
        "}\n");
  auto t = read_profile_tree(dir_);
  ASSERT_TRUE(t);
  ASSERT_EQ(t->aliases.size(), 1u);
  EXPECT_EQ(t->aliases[0], (std::pair<std::string, std::string>{"/usr/", "/mnt/usr/"}));
  EXPECT_EQ(t->coverage("a", req("/usr/bin/ls r,"))->kind, CoverageKind::kAllowed);
  EXPECT_EQ(t->coverage("a", req("/mnt/usr/bin/ls r,"))->kind, CoverageKind::kAllowed);
  EXPECT_EQ(t->coverage("a", req("/mnt/usr/bin/secret r,"))->kind, CoverageKind::kDenied);
  EXPECT_EQ(t->coverage("a", req("/mnt/opt/ls r,"))->kind, CoverageKind::kNone);
  ASSERT_EQ(t->warnings.size(), 1u);
  EXPECT_EQ(t->warnings[0].message, "alias without '->': ignored");
}

TEST(ProfileTree, ReadsTheSystemTreeIfPresent) {
  if (!fs::is_directory("/etc/apparmor.d")) GTEST_SKIP() << "no /etc/apparmor.d on this machine";
  auto t = read_profile_tree("/etc/apparmor.d");
  ASSERT_TRUE(t) << t.error();
  for (const auto& w : t->warnings) ADD_FAILURE() << w.file << ":" << w.line << ": " << w.message;
  if (t->find("/usr/bin/man") != nullptr) {
    EXPECT_EQ(t->coverage("/usr/bin/man", req("/etc/ld.so.cache r,"))->kind,
              CoverageKind::kAllowed);
  }
}

}  // namespace
}  // namespace aatune::rules
