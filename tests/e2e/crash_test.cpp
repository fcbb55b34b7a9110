// Crash safety as a test: `aatune complain/enforce --no-reload` killed with SIGKILL at random
// moments never leaves a profile that is neither its old nor its new content, nor a tree that
// does not compile, nor a stray file apparmor tooling would read as a profile.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <fstream>
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

pid_t spawn(const std::vector<std::string>& args) {
  return spawn_silent(args, /*keep_stdin=*/true);
}

TEST(CrashSafety, SigkillDuringComplainEnforce) {
  char tmpl[] = "/tmp/aatune-crash-XXXXXX";
  const fs::path root = ::mkdtemp(tmpl);
  const fs::path tree = root / "apparmor.d";
  fs::copy(fs::path(AATUNE_SOURCE_DIR) / "tests/rules/data/editor", tree,
           fs::copy_options::recursive);
  const fs::path file = tree / "usr.bin.foo";
  const std::string enforce_text = slurp(file);
  std::string complain_text = enforce_text;
  complain_text.replace(complain_text.find("(attach_disconnected)"), 21,
                        "(attach_disconnected,complain)");
  auto command = [&](bool complain) {
    return std::vector<std::string>{AATUNE_BINARY,
                                    complain ? "complain" : "enforce",
                                    "foo",
                                    "--profiles",
                                    tree.string(),
                                    "--state",
                                    (root / "state").string(),
                                    "--no-reload",
                                    "--db",
                                    (root / "aatune.db").string(),
                                    "--parser",
                                    APPARMOR_PARSER};
  };
  // How long one uninterrupted run takes: kills are spread over that window.
  const auto t0 = std::chrono::steady_clock::now();
  int status = 0;
  ::waitpid(spawn(command(true)), &status, 0);
  const auto run_us =
      std::chrono::duration_cast<std::chrono::microseconds>(std::chrono::steady_clock::now() - t0)
          .count();
  ASSERT_EQ(slurp(file), complain_text);

  std::mt19937 rng(12345);
  std::uniform_int_distribution<long> delay(0, run_us * 11 / 10);
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(300);
  const std::vector<std::string> names_before = [&] {
    std::vector<std::string> v;
    for (const auto& e : fs::directory_iterator(tree)) v.push_back(e.path().filename().string());
    return v;
  }();
  int iterations = 0;
  int completed = 0;
  for (; iterations < 220 && std::chrono::steady_clock::now() < deadline; ++iterations) {
    const bool to_complain = slurp(file) == enforce_text;
    const pid_t pid = spawn(command(to_complain));
    std::this_thread::sleep_for(std::chrono::microseconds(delay(rng)));
    ::kill(pid, SIGKILL);
    ::waitpid(pid, &status, 0);
    if (WIFEXITED(status)) ++completed;
    const std::string now = slurp(file);
    ASSERT_TRUE(now == enforce_text || now == complain_text)
        << "iteration " << iterations << ": torn file:\n"
        << now;
    for (const auto& e : fs::directory_iterator(tree)) {
      const std::string name = e.path().filename().string();
      const bool known = std::ranges::find(names_before, name) != names_before.end();
      ASSERT_TRUE(known || name.starts_with('.') || name == "local")
          << "iteration " << iterations << ": stray file " << name;
    }
    if (iterations % 25 == 0) {
      auto v = aatune::rules::run_process(
          {APPARMOR_PARSER, "-QTK", "--base", tree.string(), "-I", tree.string(), file.string()});
      ASSERT_TRUE(v && v->ok()) << (v ? v->output : v.error());
    }
  }
  EXPECT_GE(iterations, 200);
  // A full run afterwards cleans what killed runs left behind and the tree still compiles.
  const bool to_complain = slurp(file) == enforce_text;
  ::waitpid(spawn(command(to_complain)), &status, 0);
  ASSERT_TRUE(WIFEXITED(status));
  EXPECT_EQ(WEXITSTATUS(status), 0);
  EXPECT_EQ(slurp(file), to_complain ? complain_text : enforce_text);
  for (const auto& e : fs::directory_iterator(tree)) {
    EXPECT_FALSE(e.path().filename().string().starts_with(".aatune-tmp-")) << e.path();
  }
  auto v = aatune::rules::run_process(
      {APPARMOR_PARSER, "-QTK", "--base", tree.string(), "-I", tree.string(), file.string()});
  ASSERT_TRUE(v && v->ok());
  RecordProperty("killed_mid_run", iterations - completed);
  fs::remove_all(root);
}

}  // namespace
