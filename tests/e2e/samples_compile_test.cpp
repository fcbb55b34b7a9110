// The bundled sample profile trees (samples/*/apparmor.d) must compile with the real
// apparmor_parser: every other test and the demo use them as a real host's /etc/apparmor.d.
//
// Each tree is compiled on its own (-I and --base point at it), so an include that only resolves
// against this machine's /etc/apparmor.d is caught as an error.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <map>
#include <regex>
#include <set>
#include <sstream>
#include <string>
#include <vector>

extern char** environ;

namespace {

namespace fs = std::filesystem;

const fs::path kSamples = fs::path(AATUNE_SOURCE_DIR) / "samples";
constexpr const char* kUuid = "7f3c9a2e-5b1d-4e8a-9c6f-2d4b8e1a0c35";

struct RunResult {
  int exit_code = -1;
  std::string output;  // stdout and stderr, interleaved
};

// Runs argv[0] with argv (no shell), collecting its output.
RunResult run(const std::vector<std::string>& args) {
  std::array<int, 2> pipe_fds{};
  if (pipe2(pipe_fds.data(), O_CLOEXEC) != 0) {
    return {-1, "pipe2 failed"};
  }
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_adddup2(&actions, pipe_fds[1], STDOUT_FILENO);
  posix_spawn_file_actions_adddup2(&actions, pipe_fds[1], STDERR_FILENO);
  std::vector<char*> argv;
  for (const auto& arg : args) {
    argv.push_back(const_cast<char*>(arg.c_str()));
  }
  argv.push_back(nullptr);
  pid_t pid = 0;
  const int rc = posix_spawn(&pid, argv[0], &actions, nullptr, argv.data(), environ);
  posix_spawn_file_actions_destroy(&actions);
  close(pipe_fds[1]);
  RunResult result;
  if (rc != 0) {
    close(pipe_fds[0]);
    result.output = "posix_spawn " + args[0] + " failed: " + std::to_string(rc);
    return result;
  }
  std::array<char, 4096> buffer{};
  ssize_t n = 0;
  while ((n = read(pipe_fds[0], buffer.data(), buffer.size())) > 0) {
    result.output.append(buffer.data(), static_cast<size_t>(n));
  }
  close(pipe_fds[0]);
  int status = 0;
  waitpid(pid, &status, 0);
  result.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  return result;
}

RunResult compile(const fs::path& tree, const fs::path& profile) {
  return run(
      {APPARMOR_PARSER, "-QTK", "-I", tree.string(), "--base", tree.string(), profile.string()});
}

bool parser_available() {
  return access(APPARMOR_PARSER, X_OK) == 0;
}

std::vector<fs::path> sample_trees() {
  std::vector<fs::path> trees;
  if (!fs::is_directory(kSamples)) {
    return trees;
  }
  for (const auto& entry : fs::directory_iterator(kSamples)) {
    if (fs::is_directory(entry.path() / "apparmor.d")) {
      trees.push_back(entry.path() / "apparmor.d");
    }
  }
  std::sort(trees.begin(), trees.end());
  return trees;
}

// Files that are loaded as policy, as apparmor.service would: everything except the include
// directories and virt-aa-helper's generated `.files` includes.
std::vector<fs::path> profile_files(const fs::path& tree) {
  static const std::set<std::string> kIncludeDirs = {
      "tunables", "abstractions", "local", "disable", "abi", "force-complain", "cache"};
  std::vector<fs::path> files;
  for (auto it = fs::recursive_directory_iterator(tree); it != fs::recursive_directory_iterator();
       ++it) {
    const auto name = it->path().filename().string();
    if (it->is_directory()) {
      if (it.depth() == 0 && kIncludeDirs.contains(name)) {
        it.disable_recursion_pending();
      }
      continue;
    }
    if (!it->is_regular_file() || name.starts_with(".") || it->path().extension() == ".files" ||
        name == "README") {
      continue;
    }
    files.push_back(it->path());
  }
  std::sort(files.begin(), files.end());
  return files;
}

struct SampleProfile {
  fs::path tree;
  fs::path file;
};

// Shown by gtest when a parameterized case fails.
void PrintTo(const SampleProfile& profile, std::ostream* os) {
  *os << profile.file;
}

std::vector<SampleProfile> all_profiles() {
  std::vector<SampleProfile> all;
  for (const auto& tree : sample_trees()) {
    for (const auto& file : profile_files(tree)) {
      all.push_back({tree, file});
    }
  }
  return all;
}

std::string read_file(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

// RAII temporary directory.
class TempDir {
 public:
  TempDir() {
    std::string pattern = (fs::temp_directory_path() / "aatune-samples-XXXXXX").string();
    if (mkdtemp(pattern.data()) != nullptr) {
      path_ = pattern;
    }
  }
  ~TempDir() {
    std::error_code ec;
    if (!path_.empty()) {
      fs::remove_all(path_, ec);
    }
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  const fs::path& path() const { return path_; }

 private:
  fs::path path_;
};

class SampleProfileTest : public ::testing::TestWithParam<SampleProfile> {};

TEST_P(SampleProfileTest, Compiles) {
  if (!parser_available()) {
    GTEST_SKIP() << APPARMOR_PARSER << " is not installed";
  }
  const auto& [tree, file] = GetParam();
  const auto result = compile(tree, file);
  EXPECT_EQ(result.exit_code, 0) << "apparmor_parser -QTK -I " << tree << " --base " << tree << " "
                                 << file << " failed:\n"
                                 << result.output;
}

std::string profile_test_name(const ::testing::TestParamInfo<SampleProfile>& info) {
  std::string name = info.param.tree.parent_path().filename().string() + "_" +
                     fs::relative(info.param.file, info.param.tree).string();
  std::replace_if(
      name.begin(), name.end(), [](char c) { return !std::isalnum(c); }, '_');
  return name;
}

INSTANTIATE_TEST_SUITE_P(Samples, SampleProfileTest, ::testing::ValuesIn(all_profiles()),
                         profile_test_name);
GTEST_ALLOW_UNINSTANTIATED_PARAMETERIZED_TEST(SampleProfileTest);

TEST(SamplesTest, FindsEveryProfileOfEveryTree) {
  std::vector<std::string> found;
  for (const auto& [tree, file] : all_profiles()) {
    found.push_back(fs::relative(file, kSamples).string());
  }
  const std::vector<std::string> expected = {
      "desktop/apparmor.d/usr.bin.keepassxc-proxy",
      "desktop/apparmor.d/usr.lib.firefox-esr.firefox-esr",
      "libvirt/apparmor.d/libvirt/TEMPLATE.qemu",
      std::string("libvirt/apparmor.d/libvirt/libvirt-") + kUuid,
      "libvirt/apparmor.d/usr.bin.man",
      "libvirt/apparmor.d/usr.lib.libvirt.virt-aa-helper",
      "libvirt/apparmor.d/usr.sbin.chronyd",
      "libvirt/apparmor.d/usr.sbin.libvirtd",
  };
  EXPECT_EQ(found, expected);
}

TEST(SamplesTest, BrokenProfileDoesNotCompile) {
  if (!parser_available()) {
    GTEST_SKIP() << APPARMOR_PARSER << " is not installed";
  }
  TempDir dir;
  ASSERT_FALSE(dir.path().empty());
  const auto profile = dir.path() / "usr.bin.broken";
  std::ofstream(profile) << "#include <tunables/global>\n"
                            "profile broken /usr/bin/broken {\n"
                            "  /etc/passwd rr\n"  // no trailing comma
                            "}\n";
  const auto result = compile(kSamples / "libvirt" / "apparmor.d", profile);
  EXPECT_NE(result.exit_code, 0) << result.output;
  EXPECT_NE(result.output.find("AppArmor parser error"), std::string::npos) << result.output;
}

TEST(SamplesTest, IncludesResolveOnlyInsideTheTree) {
  if (!parser_available()) {
    GTEST_SKIP() << APPARMOR_PARSER << " is not installed";
  }
  // abstractions/dbus exists in a stock /etc/apparmor.d but not in the sample tree.
  TempDir dir;
  ASSERT_FALSE(dir.path().empty());
  const auto profile = dir.path() / "usr.bin.outside";
  std::ofstream(profile) << "#include <tunables/global>\n"
                            "profile outside /usr/bin/outside {\n"
                            "  #include <abstractions/dbus>\n"
                            "}\n";
  const auto result = compile(kSamples / "libvirt" / "apparmor.d", profile);
  EXPECT_NE(result.exit_code, 0) << result.output;
  EXPECT_NE(result.output.find("Could not open 'abstractions/dbus'"), std::string::npos)
      << result.output;
}

// The libvirt scenario depends on what the tree does NOT allow; keep those gaps in place.
TEST(SamplesTest, LibvirtTreeKeepsTheScenarioGaps) {
  const auto tree = kSamples / "libvirt" / "apparmor.d";
  const auto libvirtd = read_file(tree / "usr.sbin.libvirtd");
  EXPECT_EQ(libvirtd.find("virtiofsd"), std::string::npos);
  EXPECT_NE(libvirtd.find("include if exists <local/usr.sbin.libvirtd>"), std::string::npos);
  EXPECT_TRUE(fs::is_regular_file(tree / "local" / "usr.sbin.libvirtd"));

  const auto guest = read_file(tree / "libvirt" / (std::string("libvirt-") + kUuid));
  EXPECT_NE(guest.find(std::string("profile libvirt-") + kUuid), std::string::npos);
  EXPECT_NE(guest.find("#include <abstractions/libvirt-qemu>"), std::string::npos);
  EXPECT_NE(guest.find(std::string("#include <libvirt/libvirt-") + kUuid + ".files>"),
            std::string::npos);

  const auto files = read_file(tree / "libvirt" / (std::string("libvirt-") + kUuid + ".files"));
  EXPECT_TRUE(files.starts_with("# DO NOT EDIT THIS FILE DIRECTLY."));
  EXPECT_NE(files.find("\"/var/lib/libvirt/images/webvm.qcow2\" rwk,"), std::string::npos);
  EXPECT_EQ(files.find("/srv/vms"), std::string::npos);
  EXPECT_EQ(files.find("hugepages"), std::string::npos);
}

// Key of one AppArmor record, independent of its container: what the two logs must agree on.
std::multiset<std::string> apparmor_records(const fs::path& log) {
  static const std::regex kRecord(
      R"re(apparmor="([A-Z]+)" operation="([a-z_]+)".* profile="([^"]+)"(?: name="([^"]*)")?.* pid=([0-9]+) comm="([^"]+)")re");
  std::multiset<std::string> keys;
  std::istringstream lines(read_file(log));
  std::string line;
  while (std::getline(lines, line)) {
    std::smatch m;
    if (std::regex_search(line, m, kRecord)) {
      keys.insert(m[1].str() + " " + m[2].str() + " " + m[3].str() + " " + m[4].str() + " " +
                  m[5].str() + " " + m[6].str());
    }
  }
  return keys;
}

TEST(SamplesTest, LibvirtKernLogAndAuditLogHoldTheSameRecords) {
  const auto logs = kSamples / "libvirt" / "logs";
  auto from_kern = apparmor_records(logs / "kern.log");
  const auto from_audit = apparmor_records(logs / "audit.log");
  ASSERT_EQ(from_audit.size(), 27U);
  // kern.log lost 4 records to the printk rate limit ("kauditd_printk_skb: 4 callbacks
  // suppressed"); auditd got them all.
  EXPECT_EQ(from_kern.size(), from_audit.size() - 4);
  EXPECT_TRUE(
      std::includes(from_audit.begin(), from_audit.end(), from_kern.begin(), from_kern.end()));
  EXPECT_NE(read_file(logs / "kern.log").find("kauditd_printk_skb: 4 callbacks suppressed"),
            std::string::npos);
}

}  // namespace
