// The headline scenario ("my VM will not start") through the real binary on a temp copy of
// samples/libvirt: suggest explains, apply writes the right lines into the right files, every
// changed profile compiles with the real apparmor_parser, and a second run finds nothing. Also the
// refusals: failed validation, failed reload, risky grants without --force, forged log lines.
// AATUNE_UPDATE_GOLDEN=1 rewrites samples/libvirt/expected/ for review instead of comparing.
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>
#include <string>
#include <vector>

#include "e2e/support.h"

namespace {

namespace fs = std::filesystem;
using namespace aatune::e2e;  // NOLINT: the shared test helpers (support.h)

constexpr const char* kGuest = "libvirt-7f3c9a2e-5b1d-4e8a-9c6f-2d4b8e1a0c35";

std::string replace_all(std::string s, const std::string& from, const std::string& to) {
  for (size_t at = s.find(from); at != std::string::npos; at = s.find(from, at + to.size()))
    s.replace(at, from.size(), to);
  return s;
}

std::vector<std::string> lines_of(const std::string& text) {
  std::vector<std::string> out;
  std::istringstream in(text);
  for (std::string l; std::getline(in, l);) out.push_back(l);
  return out;
}

// The lines of `now` that are not in `before`, requiring every line of `before` to be kept, in
// order and byte-for-byte (an insertion-only edit). Adds a failure otherwise.
std::vector<std::string> inserted_lines(const std::string& before, const std::string& now,
                                        const std::string& name) {
  const auto b = lines_of(before);
  const auto n = lines_of(now);
  std::vector<std::string> added;
  size_t i = 0;
  for (const auto& line : n) {
    if (i < b.size() && line == b[i])
      ++i;
    else
      added.push_back(line);
  }
  EXPECT_EQ(i, b.size()) << name << ": an original line was changed or lost: '"
                         << (i < b.size() ? b[i] : "") << "'";
  return added;
}

class ScenarioLibvirt : public ::testing::Test {
 protected:
  void SetUp() override {
    sample_ = fs::path(AATUNE_SOURCE_DIR) / "samples/libvirt";
    if (!fs::exists(sample_ / "apparmor.d") || !fs::exists(sample_ / "logs/kern.log"))
      GTEST_SKIP() << "samples/libvirt is not there";
    if (!fs::exists(APPARMOR_PARSER)) GTEST_SKIP() << APPARMOR_PARSER << " is not installed";
    tmp_ = fs::temp_directory_path() /
           ("aatune-scenario-" + std::to_string(getpid()) + "-" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(tmp_);
    fs::create_directories(tmp_);
    tree_ = tmp_ / "apparmor.d";
    fs::copy(sample_ / "apparmor.d", tree_, fs::copy_options::recursive);
    before_ = snapshot(tree_);
  }
  void TearDown() override {
    if (!tmp_.empty()) fs::remove_all(tmp_);
  }

  Result run(const std::vector<std::string>& args, const std::string& stdin_file = "/dev/null") {
    return run_aatune(args, tmp_, {.stdin_file = stdin_file});
  }
  std::vector<std::string> common() const {
    return {"--profiles", tree_.string(), "--libvirt-xml", (sample_ / "domain.xml").string()};
  }
  std::vector<std::string> logs() const {
    return {(sample_ / "logs/kern.log").string(), (sample_ / "logs/audit.log").string()};
  }
  Result suggest() {
    auto a = common();
    a.insert(a.begin(), "suggest");
    for (const auto& l : logs()) a.push_back(l);
    return run(a);
  }
  Result apply(std::vector<std::string> extra) {
    auto a = common();
    a.insert(a.begin(), "apply");
    a.insert(a.end(), {"--db", ":memory:", "--state", (tmp_ / "state").string()});
    a.insert(a.end(), extra.begin(), extra.end());
    for (const auto& l : logs()) a.push_back(l);
    return run(a);
  }
  // Paths in outputs, relative to the sample: the temp dir never shows in goldens.
  std::string normalise(const std::string& text) const {
    std::string t = replace_all(text, tree_.string(), "apparmor.d");
    return replace_all(t, sample_.string() + "/", "");
  }
  bool compiles(const fs::path& file, std::string* output) {
    const fs::path log = tmp_ / "parser.out";
    const std::string cmd = quote(APPARMOR_PARSER) + " -QTK --base " + quote(tree_) + " -I " +
                            quote(tree_) + " " + quote(file) + " >" + quote(log) + " 2>&1";
    const int st = std::system(cmd.c_str());
    *output = slurp(log);
    return WIFEXITED(st) && WEXITSTATUS(st) == 0;
  }
  fs::path write_script(const std::string& name, const std::string& body) {
    const fs::path p = tmp_ / name;
    spit(p, "#!/bin/sh\n" + body);
    fs::permissions(p, fs::perms::owner_all);
    return p;
  }
  void expect_tree_unchanged() {
    const auto now = snapshot(tree_);
    EXPECT_EQ(now.size(), before_.size());
    for (const auto& [rel, bytes] : before_) {
      auto it = now.find(rel);
      ASSERT_NE(it, now.end()) << rel << " disappeared";
      EXPECT_EQ(it->second, bytes) << rel << " changed";
    }
  }

  fs::path sample_, tmp_, tree_;
  std::map<std::string, std::string> before_;
};

TEST_F(ScenarioLibvirt, SuggestExplainsEveryFix) {
  const Result r = suggest();
  EXPECT_EQ(r.status, 1) << r.err;
  const std::string out = normalise(r.out);
  // virtiofsd: no exec rule, helpers of libvirtd get PUx, into libvirtd's local override.
  EXPECT_NE(
      out.find("/usr/lib/qemu/virtiofsd PUx,\n     why: libvirtd may not execute "
               "/usr/lib/qemu/virtiofsd: no exec rule covers it; helpers of libvirtd get PUx"),
      std::string::npos)
      << out;
  EXPECT_NE(out.find("into: apparmor.d/local/usr.sbin.libvirtd (default)"), std::string::npos);
  // The disk image goes into the guest's base profile; the .files include comes with a warning.
  EXPECT_NE(out.find("owner /srv/vms/webvm-data.qcow2 rw,"), std::string::npos);
  EXPECT_NE(out.find(std::string("into: apparmor.d/libvirt/") + kGuest + " (default)"),
            std::string::npos);
  EXPECT_NE(out.find(std::string("into: apparmor.d/libvirt/") + kGuest +
                     ".files — virt-aa-helper regenerates this file on the next start of the VM"),
            std::string::npos);
  // The signal pair, both sides.
  EXPECT_NE(out.find(std::string("signal send set=term peer=") + kGuest +
                     ",   (pair 1: accept or reject together)"),
            std::string::npos);
  EXPECT_NE(
      out.find("signal receive set=term peer=libvirtd,   (pair 1: accept or reject together)"),
      std::string::npos);
  // The hugepages path, and the VM name where the UUID is.
  EXPECT_NE(out.find("/dev/hugepages/libvirt/qemu/3-webvm/"), std::string::npos);
  EXPECT_NE(out.find(std::string("== ") + kGuest + " (VM webvm)"), std::string::npos);
}

TEST_F(ScenarioLibvirt, ApplyAllWritesExactLinesAndCompiles) {
  const Result r = apply({"--all", "--force", "--yes", "--no-reload"});
  ASSERT_EQ(r.status, 0) << r.out << r.err;
  const std::string out = normalise(r.out);
  const auto after = snapshot(tree_);

  std::map<std::string, std::vector<std::string>> added;
  for (const auto& [rel, bytes] : after) {
    auto it = before_.find(rel);
    const std::string old = it == before_.end() ? std::string() : it->second;
    if (old == bytes) continue;
    added[rel] = inserted_lines(old, bytes, rel);
  }
  const std::string guest = std::string("libvirt/") + kGuest;
  const std::map<std::string, std::vector<std::string>> expected = {
      {"local/usr.sbin.libvirtd",
       {"/usr/lib/qemu/virtiofsd PUx,", std::string("signal send set=term peer=") + kGuest + ","}},
      {guest,
       {"  owner /srv/vms/webvm-data.qcow2 rw,",
        "  owner /dev/hugepages/libvirt/qemu/3-webvm/qemu_back_mem.pc.ram.Xk3vQb w,",
        "  signal receive set=term peer=libvirtd,"}},
      {"local/usr.sbin.chronyd",
       {"# Site-specific additions and overrides for profile '/usr/sbin/chronyd'.",
        "capability net_admin,", "/run/chrony-dhcp/ r,", "/run/chrony-dhcp/eno1.sources r,",
        "/sys/class/ptp/ r,", "/etc/adjtime r,", "unix create type=dgram,"}},
  };
  for (const auto& [rel, lines] : expected) {
    ASSERT_TRUE(added.contains(rel)) << rel << " not changed\n" << out;
    for (const auto& l : lines) {
      EXPECT_NE(std::ranges::find(added[rel], l), added[rel].end())
          << rel << ": missing '" << l << "'\n"
          << after.at(rel);
    }
  }
  // The .files include virt-aa-helper owns is not touched; nothing outside the expected files is.
  EXPECT_EQ(after.at(guest + ".files"), before_.at(guest + ".files"));
  for (const auto& [rel, lines] : added) {
    if (rel == "usr.sbin.chronyd") continue;  // gains the include of its new local/ override
    EXPECT_TRUE(expected.contains(rel)) << rel << " changed unexpectedly";
  }
  // The diff was printed first, with the inserted lines.
  EXPECT_NE(out.find("+/usr/lib/qemu/virtiofsd PUx,"), std::string::npos) << out;
  EXPECT_NE(out.find("+  owner /srv/vms/webvm-data.qcow2 rw,"), std::string::npos) << out;
  EXPECT_NE(out.find("skipped: reload"), std::string::npos) << out;
  // Every changed profile compiles with the real parser.
  for (const char* f : {"usr.sbin.libvirtd", "usr.sbin.chronyd"}) {
    std::string msg;
    EXPECT_TRUE(compiles(tree_ / f, &msg)) << f << ": " << msg;
  }
  std::string msg;
  EXPECT_TRUE(compiles(tree_ / guest, &msg)) << msg;

  // A second run proposes nothing.
  const Result again = suggest();
  EXPECT_EQ(again.status, 0) << again.out;
  EXPECT_NE(again.out.find("nothing to do"), std::string::npos) << again.out;
  const auto settled = snapshot(tree_);
  const Result reapply = apply({"--all", "--force", "--yes", "--no-reload"});
  EXPECT_EQ(reapply.status, 0) << reapply.out << reapply.err;
  EXPECT_NE(reapply.out.find("nothing to do"), std::string::npos) << reapply.out;
  EXPECT_EQ(snapshot(tree_), settled);
}

TEST_F(ScenarioLibvirt, VolatileGlobKeepsWorkingOnTheNextStart) {
  // suggest offers it first among the hugepages file's alternatives.
  const Result s = suggest();
  const std::string glob = "owner /dev/hugepages/libvirt/qemu/[0-9]*-webvm/qemu_back_mem.pc.ram." +
                           std::string(6, '?') + " w,";
  EXPECT_NE(s.out.find("     or (volatile): " + glob +
                       "   # globs only what changes on every run: "
                       "3-webvm (libvirt's domain id, new on every start), .Xk3vQb (a random "
                       "temporary-file suffix)"),
            std::string::npos)
      << s.out;
  EXPECT_EQ(s.out.find("*.Xk3vQb"), std::string::npos) << s.out;

  // apply --glob volatile writes it (validated by the real parser); the rules without such
  // parts stay exact.
  const Result r = apply({"--all", "--force", "--yes", "--no-reload", "--glob", "volatile"});
  ASSERT_EQ(r.status, 0) << r.out << r.err;
  const std::string guest = slurp(tree_ / "libvirt" / kGuest);
  EXPECT_NE(guest.find("  " + glob + "\n"), std::string::npos) << guest;
  EXPECT_EQ(guest.find("Xk3vQb"), std::string::npos) << guest;
  EXPECT_NE(guest.find("  owner /srv/vms/webvm-data.qcow2 rw,\n"), std::string::npos) << guest;
  std::string msg;
  EXPECT_TRUE(compiles(tree_ / "libvirt" / kGuest, &msg)) << msg;

  // The guest's next start: a new domain id and a new suffix. Nothing is left to propose for it.
  std::string next;
  for (const auto& l : lines_of(slurp(sample_ / "logs/kern.log"))) {
    if (l.find("qemu_back_mem") == std::string::npos) continue;
    next += replace_all(replace_all(l, "/3-webvm/", "/5-webvm/"), ".Xk3vQb", ".p9QmZt") + "\n";
  }
  ASSERT_FALSE(next.empty());
  const fs::path log = tmp_ / "next-start.log";
  spit(log, next);
  auto a = common();
  a.insert(a.begin(), "suggest");
  a.push_back(log.string());
  const Result again = run(a);
  EXPECT_EQ(again.status, 0) << again.out << again.err;
  EXPECT_NE(again.out.find("already allowed by the profile tree on disk"), std::string::npos)
      << again.out;
  EXPECT_NE(again.out.find("nothing to do"), std::string::npos) << again.out;
}

TEST_F(ScenarioLibvirt, UnknownGlobLevelIsAUsageErrorAndWritesNothing) {
  for (const auto& [args, message] : std::vector<std::pair<std::vector<std::string>, std::string>>{
           {{"--glob", "volatil"},
            "unknown --glob level 'volatil' (0, 1, 2, ext, var or volatile)"},
           {{"--glob", ""}, "--glob needs a level (0, 1, 2, ext, var or volatile)"}}) {
    auto a = args;
    a.insert(a.begin(), {"--all", "--force", "--yes", "--no-reload"});
    const Result r = apply(a);
    EXPECT_EQ(r.status, 2) << r.out << r.err;
    EXPECT_NE(r.err.find("aatune apply: error: " + message), std::string::npos) << r.err;
  }
  expect_tree_unchanged();
}

TEST_F(ScenarioLibvirt, ReloadRunsTheLoaderOnEveryChangedProfile) {
  const fs::path rec = tmp_ / "loader.argv";
  const fs::path loader = write_script("loader", "echo \"$@\" >>" + quote(rec) + "\n");
  const Result r = apply({"--all", "--force", "--yes", "--loader", loader.string()});
  ASSERT_EQ(r.status, 0) << r.out << r.err;
  const auto calls = lines_of(slurp(rec));
  std::vector<std::string> want = {"-r " + (tree_ / "usr.sbin.libvirtd").string(),
                                   "-r " + (tree_ / "libvirt" / kGuest).string(),
                                   "-r " + (tree_ / "usr.sbin.chronyd").string()};
  std::ranges::sort(want);
  auto got = calls;
  std::ranges::sort(got);
  EXPECT_EQ(got, want) << slurp(rec);
}

TEST_F(ScenarioLibvirt, ValidationFailureWritesNothing) {
  const fs::path parser =
      write_script("parser", "echo 'AppArmor parser error: syntax error, line 3' >&2\nexit 1\n");
  const Result r = apply({"--all", "--force", "--yes", "--no-reload", "--parser", parser.string()});
  EXPECT_EQ(r.status, 4) << r.out << r.err;
  EXPECT_NE(r.err.find("AppArmor parser error: syntax error, line 3"), std::string::npos) << r.err;
  expect_tree_unchanged();
}

TEST_F(ScenarioLibvirt, InvalidTreeIsRefusedByTheRealParser) {
  // A broken rule already in the guest's profile: the candidate cannot compile.
  const fs::path guest = tree_ / "libvirt" / kGuest;
  std::string text = slurp(guest);
  text = replace_all(text, "  #include <abstractions/libvirt-qemu>\n",
                     "  #include <abstractions/libvirt-qemu>\n  /bogus rwzq,\n");
  spit(guest, text);
  before_ = snapshot(tree_);
  const Result r = apply({"--all", "--force", "--yes", "--no-reload"});
  EXPECT_EQ(r.status, 4) << r.out << r.err;
  expect_tree_unchanged();
}

TEST_F(ScenarioLibvirt, ReloadFailureRollsBack) {
  const fs::path loader = write_script("loader", "echo 'cannot load: no AppArmor' >&2\nexit 1\n");
  const Result r = apply({"--all", "--force", "--yes", "--loader", loader.string()});
  EXPECT_EQ(r.status, 4) << r.out << r.err;
  EXPECT_NE(r.err.find("cannot load: no AppArmor"), std::string::npos) << r.err;
  expect_tree_unchanged();
}

TEST_F(ScenarioLibvirt, AllWithoutForceSkipsThePUx) {
  const Result r = apply({"--all", "--yes", "--no-reload"});
  EXPECT_EQ(r.status, 0) << r.out << r.err;
  EXPECT_NE(r.out.find("skipped #1 libvirtd: /usr/lib/qemu/virtiofsd PUx, — high risk (exec may "
                       "fall back to unconfined): pass --force to take it"),
            std::string::npos)
      << r.out;
  EXPECT_EQ(slurp(tree_ / "local/usr.sbin.libvirtd").find("virtiofsd"), std::string::npos);
  EXPECT_NE(slurp(tree_ / "libvirt" / kGuest).find("owner /srv/vms/webvm-data.qcow2 rw,"),
            std::string::npos);
}

TEST_F(ScenarioLibvirt, SelectOneSideOfAPairTakesBoth) {
  const Result r = apply({"--select", "11", "--yes", "--no-reload"});
  EXPECT_EQ(r.status, 0) << r.out << r.err;
  EXPECT_NE(slurp(tree_ / "local/usr.sbin.libvirtd").find("signal send set=term peer="),
            std::string::npos);
  EXPECT_NE(slurp(tree_ / "libvirt" / kGuest).find("signal receive set=term peer=libvirtd,"),
            std::string::npos);
  EXPECT_EQ(slurp(tree_ / "libvirt" / kGuest).find("qcow2"), std::string::npos);
}

TEST_F(ScenarioLibvirt, FilesTargetWarns) {
  const Result r = apply({"--select", "3", "--target", "files", "--yes", "--no-reload"});
  EXPECT_EQ(r.status, 0) << r.out << r.err;
  EXPECT_NE(r.out.find("warning: "), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("virt-aa-helper"), std::string::npos) << r.out;
  EXPECT_NE(slurp(tree_ / "libvirt" / (std::string(kGuest) + ".files")).find("webvm-data.qcow2"),
            std::string::npos);
}

TEST_F(ScenarioLibvirt, NotATerminalWithoutYesRefuses) {
  const Result r = apply({"--all", "--force", "--no-reload"});
  EXPECT_EQ(r.status, 1) << r.out << r.err;
  EXPECT_NE(r.err.find("pass --yes"), std::string::npos) << r.err;
  expect_tree_unchanged();
}

TEST_F(ScenarioLibvirt, ForgedLineIsNeverApplied) {
  // The libvirt logs plus the line user alice wrote with logger (samples/mixed/kern.log).
  std::string forged;
  for (const auto& l : lines_of(slurp(fs::path(AATUNE_SOURCE_DIR) / "samples/mixed/kern.log"))) {
    if (l.find(" alice: audit:") != std::string::npos) forged += l + "\n";
  }
  ASSERT_FALSE(forged.empty());
  const fs::path log = tmp_ / "forged.log";
  spit(log, slurp(sample_ / "logs/kern.log") + forged);
  auto a = common();
  a.insert(a.begin(), "apply");
  a.insert(a.end(), {"--all", "--force", "--yes", "--no-reload", "--db", ":memory:", "--state",
                     (tmp_ / "state").string(), log.string()});
  const Result r = run(a);
  EXPECT_EQ(r.status, 0) << r.out << r.err;
  EXPECT_NE(r.out.find("/etc/shadow r, — unverified evidence (text anyone could have written) is "
                       "never part of --all"),
            std::string::npos)
      << r.out;
  for (const auto& [rel, bytes] : snapshot(tree_))
    EXPECT_EQ(bytes.find("/etc/shadow"), std::string::npos) << rel;
}

// samples/libvirt/expected/: suggest.txt and apply.diff, paths relative to the sample.
TEST_F(ScenarioLibvirt, GoldenOutputs) {
  const fs::path dir = sample_ / "expected";
  const std::string suggest_txt = normalise(suggest().out);
  const Result r = apply({"--all", "--force", "--yes", "--no-reload"});
  ASSERT_EQ(r.status, 0) << r.err;
  std::string diff;
  for (const auto& l : lines_of(normalise(r.out))) {
    if (l.starts_with("backup: ")) continue;  // timestamped
    diff += l + "\n";
  }
  const std::map<std::string, std::string> outputs = {{"suggest.txt", suggest_txt},
                                                      {"apply.txt", diff}};
  const char* update = std::getenv("AATUNE_UPDATE_GOLDEN");
  for (const auto& [name, text] : outputs) {
    if (update != nullptr && std::string(update) == "1") {
      fs::create_directories(dir);
      spit(dir / name, text);
      continue;
    }
    ASSERT_TRUE(fs::exists(dir / name))
        << (dir / name) << " missing: run with AATUNE_UPDATE_GOLDEN=1 and review";
    EXPECT_EQ(text, slurp(dir / name)) << name << " differs from the golden file";
  }
}

}  // namespace
