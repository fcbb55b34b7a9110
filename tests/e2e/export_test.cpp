// `aatune export` through the real binary on a temp copy of samples/libvirt: golden files for
// each format (JSON compared structurally, Markdown as text, the tar's member list and members),
// deterministic output, the virtiofsd bug-report patch applying with `patch -p1` and compiling
// with the real apparmor_parser (also redacted, on the redacted tree of the bundle), and every
// piece of personal data planted in a log gone from every format.
// AATUNE_UPDATE_GOLDEN=1 rewrites samples/libvirt/expected/export.* for review instead of
// comparing.
#include <gtest/gtest.h>
#include <sys/utsname.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "e2e/support.h"

namespace {

namespace fs = std::filesystem;
using namespace aatune::e2e;  // NOLINT: the shared test helpers (support.h)
using nlohmann::json;

constexpr const char* kGuest = "libvirt-7f3c9a2e-5b1d-4e8a-9c6f-2d4b8e1a0c35";

std::string replace_all(std::string s, const std::string& from, const std::string& to) {
  if (from.empty()) return s;
  for (size_t at = s.find(from); at != std::string::npos; at = s.find(from, at + to.size()))
    s.replace(at, from.size(), to);
  return s;
}

std::string to_hex(const std::string& text) {
  constexpr std::string_view kHex = "0123456789ABCDEF";
  std::string out;
  for (unsigned char c : text) {
    out += kHex[c >> 4];
    out += kHex[c & 0xf];
  }
  return out;
}

// Every regular file below `root`, relative path → bytes.
std::map<std::string, std::string> snapshot(const fs::path& root) {
  std::map<std::string, std::string> out;
  for (const auto& e : fs::recursive_directory_iterator(root))
    if (e.is_regular_file()) out[fs::relative(e.path(), root).string()] = slurp(e.path());
  return out;
}

// The lines a unified diff adds, per file (the `+++ b/` name).
std::map<std::string, std::vector<std::string>> added_lines(const std::string& diff) {
  std::map<std::string, std::vector<std::string>> out;
  std::istringstream in(diff);
  std::string file;
  for (std::string l; std::getline(in, l);) {
    if (l.starts_with("+++ b/")) {
      file = l.substr(6);
      out[file];
    } else if (l.starts_with("+") && !l.starts_with("+++")) {
      out[file].push_back(l.substr(1));
    }
  }
  return out;
}

class Export : public ::testing::Test {
 protected:
  void SetUp() override {
    sample_ = fs::path(AATUNE_SOURCE_DIR) / "samples/libvirt";
    if (!fs::exists(sample_ / "apparmor.d") || !fs::exists(sample_ / "logs/kern.log"))
      GTEST_SKIP() << "samples/libvirt is not there";
    tmp_ = fs::temp_directory_path() /
           ("aatune-export-" + std::to_string(getpid()) + "-" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(tmp_);
    fs::create_directories(tmp_ / "work");
    work_ = tmp_ / "work";
    // The command runs inside `work_` with relative paths, so no temp path reaches the output.
    fs::copy(sample_ / "apparmor.d", work_ / "apparmor.d", fs::copy_options::recursive);
    fs::copy(sample_ / "logs", work_ / "logs", fs::copy_options::recursive);
    fs::copy(sample_ / "domain.xml", work_ / "domain.xml");
    pristine_ = snapshot(work_ / "apparmor.d");
  }
  void TearDown() override {
    if (!tmp_.empty()) fs::remove_all(tmp_);
  }

  Result run(const std::vector<std::string>& args, const std::string& env = "") {
    return run_aatune(args, tmp_, {.prefix = env, .cwd = work_});
  }
  static std::vector<std::string> sample_args(std::vector<std::string> extra) {
    std::vector<std::string> a = {"export",     "--profiles", "apparmor.d",    "--libvirt-xml",
                                  "domain.xml", "--no-probe", "logs/kern.log", "logs/audit.log"};
    a.insert(a.end(), extra.begin(), extra.end());
    return a;
  }
  // A shell command in `dir`; its exit status (output into `*output`).
  int sh(const fs::path& dir, const std::string& command, std::string* output = nullptr) {
    const fs::path log = tmp_ / "sh.out";
    const int st = std::system(
        ("cd " + quote(dir) + " && (" + command + ") >" + quote(log) + " 2>&1").c_str());
    if (output) *output = slurp(log);
    return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
  }
  // apparmor_parser -QTK on `file` of `tree`: every include must resolve inside the tree.
  bool compiles(const fs::path& tree, const std::string& rel, std::string* output) {
    return sh(tree,
              quote(APPARMOR_PARSER) + " -QTK --base " + quote(tree) + " -I " + quote(tree) + " " +
                  quote(rel),
              output) == 0;
  }
  // The profile file that compiles `rel`: a local/ override is compiled through its profile,
  // a libvirt .files include through the guest's base profile.
  static std::string profile_file_for(const std::string& rel) {
    if (rel.starts_with("local/")) return rel.substr(6);
    if (rel.ends_with(".files")) return rel.substr(0, rel.size() - 6);
    return rel;
  }
  // Applies `patch` with `patch -p1` in `tree` and compiles every profile it touches.
  void apply_and_compile(const fs::path& tree, const std::string& patch) {
    ASSERT_FALSE(patch.empty());
    spit(tmp_ / "fix.patch", patch);
    std::string out;
    ASSERT_EQ(sh(tree, "patch -p1 --batch --forward < " + quote(tmp_ / "fix.patch"), &out), 0)
        << out << "\n"
        << patch;
    for (const auto& [file, lines] : added_lines(patch)) {
      const std::string prof = profile_file_for(file);
      EXPECT_TRUE(compiles(tree, prof, &out)) << prof << " (patched " << file << "): " << out;
    }
  }
  // The golden file: compared, or rewritten when AATUNE_UPDATE_GOLDEN is set.
  void golden(const std::string& name, const std::string& actual, bool as_json) {
    const fs::path p = sample_ / "expected" / name;
    if (std::getenv("AATUNE_UPDATE_GOLDEN")) {
      spit(p, actual);
      return;
    }
    ASSERT_TRUE(fs::exists(p)) << p << " missing; run with AATUNE_UPDATE_GOLDEN=1 and review it";
    if (as_json) {
      EXPECT_EQ(json::parse(actual), json::parse(slurp(p))) << name << " differs:\n" << actual;
    } else {
      EXPECT_EQ(actual, slurp(p)) << name << " differs";
    }
  }
  // The aatune version in outputs, so that a release does not invalidate the goldens.
  static std::string unversioned(std::string text, const std::string& version) {
    text = replace_all(text, "\"aatune_version\": \"" + version + "\"",
                       "\"aatune_version\": \"VERSION\"");
    text = replace_all(text, "aatune_version: " + version, "aatune_version: VERSION");
    return replace_all(text, "Exported by aatune " + version, "Exported by aatune VERSION");
  }
  std::vector<std::string> tar_members(const fs::path& tgz) {
    std::string out;
    EXPECT_EQ(sh(tmp_, "tar tzf " + quote(tgz), &out), 0) << out;
    std::vector<std::string> names;
    std::istringstream in(out);
    for (std::string l; std::getline(in, l);) names.push_back(l);
    return names;
  }

  fs::path sample_, tmp_, work_;
  std::map<std::string, std::string> pristine_;
};

TEST_F(Export, JsonGoldenDeterministicAndComplete) {
  const Result r = run(sample_args({"--format", "json"}));
  ASSERT_EQ(r.status, 0) << r.err;
  EXPECT_EQ(r.err, "");
  const json doc = json::parse(r.out);
  const std::string version = doc["aatune_version"];
  golden("export.json", unversioned(r.out, version), true);

  // Deterministic: the same input gives the same bytes; keys are sorted at every level.
  const Result again = run(sample_args({"--format", "json"}));
  EXPECT_EQ(again.out, r.out);
  EXPECT_EQ(json::parse(r.out).dump(2) + "\n", r.out);

  // Not redacted by default in JSON: the host name of the log is there.
  EXPECT_EQ(doc["redaction"], (json{{"enabled", false}, {"kinds", json::object()}}));
  EXPECT_NE(r.out.find("kvmhost"), std::string::npos);
  EXPECT_TRUE(doc["generated_at"].is_null());
  EXPECT_EQ(doc["sources"], (json::array({{{"path", "logs/kern.log"}, {"records", 23}},
                                          {{"path", "logs/audit.log"}, {"records", 27}}})));

  // Evidence: the audit.log record of the virtiofsd exec carries its SYSCALL/PROCTITLE/CWD.
  bool found_companions = false;
  for (const auto& d : doc["denials"]) {
    for (const auto& rec : d["records"]) {
      if (rec["source"] != "logs/audit.log" || d["target"] != "/usr/lib/qemu/virtiofsd") continue;
      found_companions = true;
      EXPECT_EQ(rec["process"]["exe"], "/usr/sbin/libvirtd");
      EXPECT_EQ(rec["process"]["cwd"], "/");
      EXPECT_FALSE(rec["process"]["cmdline"].is_null());
      std::set<std::string> types;
      for (const auto& c : rec["companions"]) types.insert(c["type"]);
      EXPECT_TRUE(types.contains("SYSCALL") && types.contains("PROCTITLE") && types.contains("CWD"))
          << rec.dump(2);
    }
  }
  EXPECT_TRUE(found_companions);

  // The policy: each involved profile file and its includes, with a sha256 of the bytes.
  std::set<std::string> files;
  for (const auto& f : doc["policy"]["files"]) {
    files.insert(f["path"]);
    EXPECT_EQ(f["content"], pristine_.at(f["path"].get<std::string>())) << f["path"];
    EXPECT_EQ(f["sha256"].get<std::string>().size(), 64u);
    EXPECT_TRUE(f["package"].is_null());  // --no-probe
  }
  const std::vector<std::string> wanted = {"usr.sbin.libvirtd",
                                           "local/usr.sbin.libvirtd",
                                           "tunables/global",
                                           "abstractions/base",
                                           "abstractions/libvirt-qemu",
                                           std::string("libvirt/") + kGuest,
                                           std::string("libvirt/") + kGuest + ".files",
                                           "usr.sbin.chronyd"};
  for (const auto& want : wanted) EXPECT_TRUE(files.contains(want)) << want;
  for (const auto& p : doc["policy"]["profiles"]) {
    if (p["name"] == "/usr/sbin/chronyd") {
      EXPECT_EQ(p["mode"], "complain");
    }
    if (p["name"] == "libvirtd") {
      EXPECT_EQ(p["mode"], "enforce");
    }
    EXPECT_EQ(p["disabled"], false);
  }
}

TEST_F(Export, MarkdownGolden) {
  const Result r = run(sample_args({"--format", "markdown"}));
  ASSERT_EQ(r.status, 0) << r.err;
  const Result j = run(sample_args({"--format", "json"}));
  const std::string version = json::parse(j.out)["aatune_version"];
  golden("export.md", unversioned(r.out, version), false);
  // Redacted by default: the log's host name is replaced, and the report says so.
  EXPECT_EQ(r.out.find("kvmhost"), std::string::npos);
  EXPECT_NE(r.out.find("- Redacted: host (1 value(s), "), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("```diff\n--- a/usr.sbin.chronyd\n"), std::string::npos);
  EXPECT_NE(r.out.find("\n--- a/usr.sbin.libvirtd\n+++ b/usr.sbin.libvirtd\n"), std::string::npos);
  EXPECT_NE(r.out.find("<details>\n<summary>Denial 1: "), std::string::npos);
}

TEST_F(Export, TarHoldsJsonMarkdownEvidenceAndProfiles) {
  const Result r = run(sample_args({"--format", "tar", "--output", "bundle.tar.gz"}));
  ASSERT_EQ(r.status, 0) << r.err;
  EXPECT_EQ(r.out, "");
  const auto members = tar_members(work_ / "bundle.tar.gz");
  std::string list;
  for (const auto& m : members) list += m + "\n";
  golden("export-tar.txt", list, false);

  // Members equal the other formats (redacted, as tar is by default).
  ASSERT_EQ(sh(work_, "mkdir x && tar xzf bundle.tar.gz -C x"), 0);
  const fs::path x = work_ / "x/aatune-export";
  const Result j = run(sample_args({"--format", "json", "--redact"}));
  const Result md = run(sample_args({"--format", "markdown"}));
  EXPECT_EQ(json::parse(slurp(x / "report.json")), json::parse(j.out));
  EXPECT_EQ(slurp(x / "report.md"), md.out);
  const json doc = json::parse(j.out);
  EXPECT_EQ(slurp(x / "fix.patch"), doc["analysis"]["patch"].get<std::string>());
  EXPECT_EQ(slurp(x / "fix-local.patch"), doc["analysis"]["local_patch"].get<std::string>());
  for (const auto& f : doc["policy"]["files"])
    EXPECT_EQ(slurp(x / "apparmor.d" / f["path"].get<std::string>()), f["content"]) << f["path"];
  // The raw excerpt: every record's line (and companions) verbatim.
  const std::string log = slurp(x / "denials.log");
  EXPECT_NE(log.find("apparmor=\"DENIED\" operation=\"exec\" class=\"file\" profile=\"libvirtd\" "
                     "name=\"/usr/lib/qemu/virtiofsd\""),
            std::string::npos);
  EXPECT_NE(log.find("type=PROCTITLE msg=audit("), std::string::npos);

  // Byte for byte reproducible.
  ASSERT_EQ(run(sample_args({"--format", "tar", "--output", "again.tar.gz"})).status, 0);
  EXPECT_EQ(slurp(work_ / "bundle.tar.gz"), slurp(work_ / "again.tar.gz"));
  // Nothing written into the tree.
  EXPECT_EQ(snapshot(work_ / "apparmor.d"), pristine_);
}

TEST_F(Export, VirtiofsdBundleHasTheOneLinePatchAndItsLocalAlternative) {
  if (!fs::exists(APPARMOR_PARSER)) GTEST_SKIP() << APPARMOR_PARSER << " is not installed";
  // Find the virtiofsd denial's number, then export only it.
  const json all = json::parse(run(sample_args({})).out);
  size_t id = 0;
  for (const auto& d : all["denials"])
    if (d["target"] == "/usr/lib/qemu/virtiofsd") id = d["id"];
  ASSERT_NE(id, 0u);
  const Result r = run(sample_args({"--group", std::to_string(id)}));
  ASSERT_EQ(r.status, 0) << r.err;
  const json doc = json::parse(r.out);
  const std::string patch = doc["analysis"]["patch"];
  const std::string local = doc["analysis"]["local_patch"];
  EXPECT_EQ(added_lines(patch), (std::map<std::string, std::vector<std::string>>{
                                    {"usr.sbin.libvirtd", {"  /usr/lib/qemu/virtiofsd PUx,"}}}))
      << patch;
  EXPECT_TRUE(patch.starts_with("--- a/usr.sbin.libvirtd\n+++ b/usr.sbin.libvirtd\n@@ ")) << patch;
  EXPECT_EQ(added_lines(local), (std::map<std::string, std::vector<std::string>>{
                                    {"local/usr.sbin.libvirtd", {"/usr/lib/qemu/virtiofsd PUx,"}}}))
      << local;
  ASSERT_EQ(doc["denials"].size(), 1u);
  EXPECT_EQ(doc["denials"][0]["id"], id);

  // Upstream patch on one copy of the tree, the local alternative on another.
  fs::copy(work_ / "apparmor.d", tmp_ / "upstream", fs::copy_options::recursive);
  fs::copy(work_ / "apparmor.d", tmp_ / "local", fs::copy_options::recursive);
  apply_and_compile(tmp_ / "upstream", patch);
  apply_and_compile(tmp_ / "local", local);
  std::string out;
  EXPECT_NE(slurp(tmp_ / "upstream/usr.sbin.libvirtd").find("  /usr/lib/qemu/virtiofsd PUx,\n"),
            std::string::npos);
}

TEST_F(Export, WholeScenarioPatchesApplyAndCompile) {
  if (!fs::exists(APPARMOR_PARSER)) GTEST_SKIP() << APPARMOR_PARSER << " is not installed";
  const json doc = json::parse(run(sample_args({})).out);
  fs::copy(work_ / "apparmor.d", tmp_ / "upstream", fs::copy_options::recursive);
  fs::copy(work_ / "apparmor.d", tmp_ / "local", fs::copy_options::recursive);
  apply_and_compile(tmp_ / "upstream", doc["analysis"]["patch"]);
  apply_and_compile(tmp_ / "local", doc["analysis"]["local_patch"]);
  // The guest's generated profile is per host: it is no upstream matter.
  for (const auto& [file, lines] : added_lines(doc["analysis"]["patch"]))
    EXPECT_FALSE(file.starts_with("libvirt/")) << file;
}

TEST_F(Export, SourceDateEpochDatesTheBundleReproducibly) {
  const Result r = run(sample_args({"--now"}), "SOURCE_DATE_EPOCH=1795425000");
  ASSERT_EQ(r.status, 0) << r.err;
  EXPECT_EQ(json::parse(r.out)["generated_at"], "2026-11-23T09:10:00Z");
  const Result bad = run(sample_args({"--now"}), "SOURCE_DATE_EPOCH=yesterday");
  EXPECT_EQ(bad.status, 2);
  EXPECT_EQ(bad.err, "aatune: error: SOURCE_DATE_EPOCH 'yesterday': not a number of seconds\n");
  EXPECT_EQ(bad.out, "");
}

TEST_F(Export, BadInputIsOneLineAndWritesNothing) {
  Result r = run(sample_args({"--format", "tar"}));
  EXPECT_EQ(r.status, 2);
  EXPECT_EQ(r.err, "aatune: error: --format tar needs --output FILE.tar.gz\n");
  r = run({"export", "--profiles", "apparmor.d", "--no-probe", "logs/missing.log", "--output",
           "out.json"});
  EXPECT_EQ(r.status, 2);
  EXPECT_TRUE(r.err.starts_with("aatune: error: logs/missing.log: ")) << r.err;
  EXPECT_FALSE(fs::exists(work_ / "out.json"));
  r = run(sample_args({"--group", "99"}));
  EXPECT_EQ(r.status, 2);
  EXPECT_TRUE(r.err.starts_with("aatune: error: --group 99: there are ")) << r.err;
  r = run(sample_args({"--redact-pattern", "("}));
  EXPECT_EQ(r.status, 2);
  EXPECT_TRUE(r.err.starts_with("aatune: error: --redact-pattern '(': not a valid regular "))
      << r.err;
}

TEST_F(Export, ProbedEnvironmentAndOwningPackages) {
  // Without --no-probe: this machine's kernel, parser and distribution.
  Result probed = run({"export", "--profiles", "apparmor.d", "logs/kern.log"});
  ASSERT_EQ(probed.status, 0) << probed.err;
  json doc = json::parse(probed.out);
  utsname u{};
  ASSERT_EQ(uname(&u), 0);
  EXPECT_EQ(doc["environment"]["kernel_release"], u.release);
  EXPECT_EQ(doc["environment"]["probed"], true);
  if (fs::exists(APPARMOR_PARSER)) {
    EXPECT_TRUE(doc["environment"]["apparmor_parser_version"].get<std::string>().starts_with(
        "AppArmor parser version"))
        << doc["environment"].dump();
  }
  if (fs::exists("/etc/os-release")) {
    EXPECT_FALSE(doc["environment"]["distribution"].is_null());
  }
  // A copy in a temp dir belongs to no package.
  for (const auto& f : doc["policy"]["files"]) EXPECT_TRUE(f["package"].is_null()) << f["path"];

  // This machine's own tree: dpkg knows who ships tunables/global. A denial of a packaged
  // profile that includes it brings it into the bundle.
  std::string out;
  if (sh(tmp_, "dpkg -S /etc/apparmor.d/tunables/global", &out) != 0)
    GTEST_SKIP() << "dpkg does not know /etc/apparmor.d/tunables/global here";
  const std::string owner = out.substr(0, out.find(':'));
  std::string profile;
  for (const auto& e : fs::directory_iterator("/etc/apparmor.d")) {
    if (!e.is_regular_file()) continue;
    const std::string text = slurp(e.path());
    const size_t at = text.find("\nprofile ");
    if (text.find("tunables/global") == std::string::npos || at == std::string::npos) continue;
    if (sh(tmp_, "dpkg -S " + quote(e.path().string())) != 0) continue;
    const size_t start = at + 9, end = text.find_first_of(" \t{", start);
    profile = text.substr(start, end - start);
    break;
  }
  if (profile.empty()) GTEST_SKIP() << "no packaged named profile in /etc/apparmor.d";
  spit(work_ / "own.log",
       "type=AVC msg=audit(1795425000.100:7): apparmor=\"DENIED\" operation=\"open\" "
       "class=\"file\" profile=\"" +
           profile +
           "\" name=\"/nonexistent/x\" pid=1 comm=\"x\" requested_mask=\"r\" "
           "denied_mask=\"r\" fsuid=0 ouid=0\n");
  probed = run({"export", "--profiles", "/etc/apparmor.d", "own.log"});
  ASSERT_EQ(probed.status, 0) << probed.err;
  doc = json::parse(probed.out);
  bool global = false;
  for (const auto& f : doc["policy"]["files"]) {
    if (f["path"] != "tunables/global") continue;
    global = true;
    EXPECT_EQ(f["package"], owner) << f.dump();
  }
  EXPECT_TRUE(global) << profile << ": " << doc["policy"]["profiles"].dump();
}

// Personal data planted in copies of the logs (and a local override) must be gone from every
// format, and the report counts what was replaced, per kind.
class ExportPii : public Export {
 protected:
  void SetUp() override {
    Export::SetUp();
    if (IsSkipped()) return;
    const fs::path data = fs::path(AATUNE_SOURCE_DIR) / "tests/e2e/data/export";
    fs::copy(data / "pii.log", work_ / "logs/pii.log");
    fs::copy(data / "pii-audit.log", work_ / "logs/pii-audit.log");
    // A rule of the user's own in the local override: the bundle ships it, redacted.
    std::ofstream(work_ / "apparmor.d/local/usr.sbin.libvirtd", std::ios::app)
        << "/home/alice/isos/** r,\n";
  }
  std::vector<std::string> args(std::vector<std::string> extra) {
    std::vector<std::string> a = {"export",         "--profiles",        "apparmor.d",
                                  "--libvirt-xml",  "domain.xml",        "--no-probe",
                                  "--redact-uuids", "--redact-pattern",  "ACME-CORP-[0-9]+",
                                  "logs/pii.log",   "logs/pii-audit.log"};
    a.insert(a.end(), extra.begin(), extra.end());
    return a;
  }
  // Every planted item, as text and as the kernel's hex encoding of it.
  static std::vector<std::string> planted() {
    std::vector<std::string> items = {"alice",
                                      "carol",
                                      "bobs-workstation",
                                      "10.20.30.40",
                                      "192.168.122.45",
                                      "fe80::5054:ff:feab:cdef",
                                      "52:54:00:ab:cd:ef",
                                      "3d9f6c1e-8a2b-4c5d-9e0f-1a2b3c4d5e6f",
                                      "ACME-CORP-4711"};
    const size_t n = items.size();
    for (size_t i = 0; i < n; ++i) items.push_back(to_hex(items[i]));
    return items;
  }
  static void expect_clean(const std::string& what, const std::string& text) {
    for (const auto& item : planted())
      EXPECT_EQ(text.find(item), std::string::npos) << what << " still has '" << item << "'";
  }
};

TEST_F(ExportPii, PlantedDataIsInTheUnredactedExport) {
  // The control: without redaction every item is there, so the other test means something.
  const Result r = run(args({"--no-redact"}));
  ASSERT_EQ(r.status, 0) << r.err;
  for (const auto& item : {"alice", "carol", "bobs-workstation", "10.20.30.40", "192.168.122.45",
                           "fe80::5054:ff:feab:cdef", "52:54:00:ab:cd:ef",
                           "3d9f6c1e-8a2b-4c5d-9e0f-1a2b3c4d5e6f", "ACME-CORP-4711"})
    EXPECT_NE(r.out.find(item), std::string::npos) << item;
  // The command line of the PROCTITLE record carries the address and the host name in hex.
  EXPECT_NE(r.out.find(to_hex("10.20.30.40")), std::string::npos);
}

TEST_F(ExportPii, EveryPlantedItemIsGoneFromEveryFormat) {
  const Result j = run(args({"--redact"}));
  ASSERT_EQ(j.status, 0) << j.err;
  expect_clean("json", j.out);
  const Result md = run(args({"--format", "markdown"}));
  ASSERT_EQ(md.status, 0) << md.err;
  expect_clean("markdown", md.out);
  const Result tar = run(args({"--format", "tar", "--output", "pii.tar.gz"}));
  ASSERT_EQ(tar.status, 0) << tar.err;
  for (const auto& m : tar_members(work_ / "pii.tar.gz")) expect_clean("tar member name", m);
  ASSERT_EQ(sh(work_, "mkdir x && tar xzf pii.tar.gz -C x"), 0);
  for (const auto& [rel, bytes] : snapshot(work_ / "x")) expect_clean("tar:" + rel, bytes);

  // A libvirt profile name keeps its UUID (it names a profile).
  const Result guest = run(sample_args({"--redact", "--redact-uuids"}));
  ASSERT_EQ(guest.status, 0) << guest.err;
  EXPECT_NE(guest.out.find(std::string("\"profile\": \"") + kGuest + "\""), std::string::npos);
  EXPECT_EQ(guest.out.find("00000000-0000-4000-8000-"), std::string::npos);
  // The report counts what it replaced.
  const json doc = json::parse(j.out);
  const json& kinds = doc["redaction"]["kinds"];
  EXPECT_EQ(doc["redaction"]["enabled"], true);
  // alice and carol; bobs-workstation; 10.20.30.40 and 192.168.122.45; one each of the rest.
  const std::map<std::string, int> distinct = {{"user", 2}, {"home", 2},   {"host", 1},
                                               {"ipv4", 2}, {"ipv6", 1},   {"mac", 1},
                                               {"uuid", 1}, {"pattern", 1}};
  EXPECT_EQ(kinds.size(), distinct.size()) << kinds.dump();
  for (const auto& [kind, n] : distinct) {
    ASSERT_TRUE(kinds.contains(kind)) << kind << " in " << kinds.dump();
    EXPECT_EQ(kinds[kind]["distinct"], n) << kind << " in " << kinds.dump();
    EXPECT_GE(kinds[kind]["occurrences"].get<int>(), n) << kind;
  }
  EXPECT_NE(md.out.find("- Redacted: home ("), std::string::npos) << md.out;
}

TEST_F(ExportPii, RedactedPatchAppliesToTheRedactedTreeAndCompiles) {
  if (!fs::exists(APPARMOR_PARSER)) GTEST_SKIP() << APPARMOR_PARSER << " is not installed";
  const Result tar = run(args({"--format", "tar", "--output", "pii.tar.gz"}));
  ASSERT_EQ(tar.status, 0) << tar.err;
  ASSERT_EQ(sh(work_, "mkdir x && tar xzf pii.tar.gz -C x"), 0);
  const fs::path bundle = work_ / "x/aatune-export";
  const std::string patch = slurp(bundle / "fix.patch");
  const std::string local = slurp(bundle / "fix-local.patch");
  // The redacted rules are in it: the home directory became USER<n>.
  EXPECT_NE(patch.find("/home/USER"), std::string::npos) << patch;
  // The bundle's apparmor.d/ is the redacted tree: the profiles and everything they include.
  fs::copy(bundle / "apparmor.d", tmp_ / "upstream", fs::copy_options::recursive);
  fs::copy(bundle / "apparmor.d", tmp_ / "local", fs::copy_options::recursive);
  apply_and_compile(tmp_ / "upstream", patch);
  apply_and_compile(tmp_ / "local", local);
}

}  // namespace
