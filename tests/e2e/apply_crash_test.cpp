// Crash safety of `aatune apply` as a test: killed with SIGKILL at random moments, on a copy of
// samples/libvirt, every file of the tree is byte-identical to its old or its new content, no
// stray file appears where apparmor tooling would read it, and the tree still compiles.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <map>
#include <random>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "e2e/support.h"
#include "rules/loader.h"

namespace {

namespace fs = std::filesystem;
using namespace aatune::e2e;  // NOLINT: the shared test helpers (support.h)

// Regular files, relative path → bytes; dot files (aatune's temp files, its lock) are not
// policy and are listed separately by the caller.
std::map<std::string, std::string> policy_files(const fs::path& root) {
  return snapshot(root, /*skip_dot_files=*/true);
}

pid_t spawn(const std::vector<std::string>& args) {
  return spawn_silent(args);
}

bool compiles(const fs::path& tree, const fs::path& file, std::string* output) {
  auto v = aatune::rules::run_process(
      {APPARMOR_PARSER, "-QTK", "--base", tree.string(), "-I", tree.string(), file.string()});
  *output = v ? v->output : v.error();
  return v && v->ok();
}

TEST(ApplyCrashSafety, SigkillDuringApply) {
  const fs::path sample = fs::path(AATUNE_SOURCE_DIR) / "samples/libvirt";
  if (!fs::exists(sample / "apparmor.d")) GTEST_SKIP() << "samples/libvirt is not there";
  char tmpl[] = "/tmp/aatune-apply-crash-XXXXXX";
  const fs::path root = ::mkdtemp(tmpl);
  const fs::path tree = root / "apparmor.d";
  auto reset = [&] {
    fs::remove_all(tree);
    fs::copy(sample / "apparmor.d", tree, fs::copy_options::recursive);
  };
  const std::vector<std::string> command = {AATUNE_BINARY,
                                            "apply",
                                            "--all",
                                            "--force",
                                            "--yes",
                                            "--no-reload",
                                            "--profiles",
                                            tree.string(),
                                            "--state",
                                            (root / "state").string(),
                                            "--db",
                                            ":memory:",
                                            "--parser",
                                            APPARMOR_PARSER,
                                            (sample / "logs/kern.log").string()};
  reset();
  const auto old_files = policy_files(tree);
  // One uninterrupted run gives the new contents and the window the kills are spread over.
  const auto t0 = std::chrono::steady_clock::now();
  int status = 0;
  ::waitpid(spawn(command), &status, 0);
  const auto run_us =
      std::chrono::duration_cast<std::chrono::microseconds>(std::chrono::steady_clock::now() - t0)
          .count();
  ASSERT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0);
  const auto new_files = policy_files(tree);
  ASSERT_NE(old_files, new_files);
  std::vector<fs::path> profiles;
  for (const auto& [rel, bytes] : new_files) {
    if (old_files.contains(rel) && old_files.at(rel) == bytes) continue;
    // The changed policy files, compiled through the profile that includes them.
    if (rel.starts_with("local/"))
      profiles.push_back(tree / rel.substr(6));
    else
      profiles.push_back(tree / rel);
  }

  std::mt19937 rng(4242);
  std::uniform_int_distribution<long> delay(0, run_us * 11 / 10);
  int iterations = 0;
  int completed = 0;
  for (; iterations < 200; ++iterations) {
    reset();
    const pid_t pid = spawn(command);
    std::this_thread::sleep_for(std::chrono::microseconds(delay(rng)));
    ::kill(pid, SIGKILL);
    ::waitpid(pid, &status, 0);
    if (WIFEXITED(status)) ++completed;
    const auto now = policy_files(tree);
    for (const auto& [rel, bytes] : now) {
      const bool is_old = old_files.contains(rel) && old_files.at(rel) == bytes;
      const bool is_new = new_files.contains(rel) && new_files.at(rel) == bytes;
      ASSERT_TRUE(is_old || is_new)
          << "iteration " << iterations << ": " << rel << " is neither old nor new:\n"
          << bytes;
    }
    for (const auto& [rel, bytes] : old_files)
      ASSERT_TRUE(now.contains(rel)) << "iteration " << iterations << ": " << rel << " vanished";
    if (iterations % 40 == 0 || iterations == 199) {
      for (const auto& p : profiles) {
        std::string out;
        ASSERT_TRUE(compiles(tree, p, &out)) << "iteration " << iterations << ": " << out;
      }
    }
  }
  RecordProperty("killed_mid_run", iterations - completed);
  fs::remove_all(root);
}

}  // namespace
