// Small helpers shared by the end-to-end tests: files in and out, shell quoting, tree snapshots.
#pragma once

#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>
#include <string>

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
inline std::map<std::string, std::string> snapshot(const std::filesystem::path& root) {
  std::map<std::string, std::string> out;
  for (const auto& e : std::filesystem::recursive_directory_iterator(root)) {
    if (e.is_regular_file() && !e.is_symlink())
      out[std::filesystem::relative(e.path(), root).string()] = slurp(e.path());
  }
  return out;
}

}  // namespace aatune::e2e
