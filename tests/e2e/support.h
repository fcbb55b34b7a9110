// Small helpers shared by the end-to-end tests: files in and out, shell quoting, tree snapshots.
#pragma once

#include <fcntl.h>
#include <spawn.h>
#include <sys/wait.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>
#include <string>
#include <vector>

extern char** environ;

namespace aatune::e2e {

/// What a command run by a test returned.
struct Result {
  int status = -1;
  std::string out;
  std::string err;
};

inline std::string slurp(const std::filesystem::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

inline void spit(const std::filesystem::path& p, const std::string& text) {
  std::ofstream out(p, std::ios::binary);
  out << text;
}

/// `s` as one word for /bin/sh, whatever it contains.
inline std::string quote(const std::string& s) {
  std::string q = "'";
  for (char c : s) q += c == '\'' ? std::string("'\\''") : std::string(1, c);
  return q + "'";
}

/// Every regular file under `root` (relative path → content): to show that nothing changed.
/// `skip_dot_files`: leave out aatune's own temp files and lock (names starting with '.').
inline std::map<std::string, std::string> snapshot(const std::filesystem::path& root,
                                                   bool skip_dot_files = false) {
  std::map<std::string, std::string> out;
  for (const auto& e : std::filesystem::recursive_directory_iterator(root)) {
    if (!e.is_regular_file() || e.is_symlink()) continue;
    if (skip_dot_files && e.path().filename().string().starts_with('.')) continue;
    out[std::filesystem::relative(e.path(), root).string()] = slurp(e.path());
  }
  return out;
}

/// Runs `command` with /bin/sh; stdout and stderr are captured apart through two files in
/// `scratch` (the command gives its own stdin redirection, if any).
inline Result run_shell(const std::string& command, const std::filesystem::path& scratch) {
  const auto out = scratch / "stdout";
  const auto err = scratch / "stderr";
  const std::string full = "{ " + command + " ; } >" + quote(out) + " 2>" + quote(err);
  const int st = std::system(full.c_str());
  return {WIFEXITED(st) ? WEXITSTATUS(st) : -1, slurp(out), slurp(err)};
}

/// How run_aatune runs the binary under test.
struct RunOptions {
  std::string prefix{};         ///< Words before the binary: `env X=1`, `setpriv …`.
  std::filesystem::path cwd{};  ///< Working directory; empty = the test's own.
  std::string stdin_file = "/dev/null";
};

/// The binary under test (AATUNE_BINARY) with `args`, each passed as one word.
inline Result run_aatune(const std::vector<std::string>& args, const std::filesystem::path& scratch,
                         const RunOptions& options = {}) {
  std::string cmd;
  if (!options.cwd.empty()) cmd = "cd " + quote(options.cwd) + " && ";
  if (!options.prefix.empty()) cmd += options.prefix + " ";
  cmd += quote(AATUNE_BINARY);
  for (const auto& a : args) cmd += " " + quote(a);
  return run_shell(cmd + " <" + quote(options.stdin_file), scratch);
}

/// Starts `args` (argv[0] a path) with stdout and stderr to /dev/null, and stdin too unless
/// `keep_stdin`; returns its pid (-1 if it could not start) for the test to signal and reap.
inline pid_t spawn_silent(const std::vector<std::string>& args, bool keep_stdin = false) {
  std::vector<char*> argv;
  for (const auto& a : args) argv.push_back(const_cast<char*>(a.c_str()));
  argv.push_back(nullptr);
  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  if (!keep_stdin) posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
  posix_spawn_file_actions_addopen(&fa, 1, "/dev/null", O_WRONLY, 0);
  posix_spawn_file_actions_addopen(&fa, 2, "/dev/null", O_WRONLY, 0);
  pid_t pid = -1;
  if (posix_spawn(&pid, argv[0], &fa, nullptr, argv.data(), environ) != 0) pid = -1;
  posix_spawn_file_actions_destroy(&fa);
  return pid;
}

}  // namespace aatune::e2e
