// Shared by the store tests: a temporary directory that removes itself.
#pragma once

#include <stdlib.h>

#include <filesystem>
#include <string>
#include <system_error>

namespace aatune::store::test {

class TempDir {
 public:
  /// `prefix` names the directory in $TMPDIR (e.g. "aatune-store"), for whoever finds one left.
  explicit TempDir(const std::string& prefix = "aatune-store") {
    std::string tmpl = (std::filesystem::temp_directory_path() / (prefix + "-XXXXXX")).string();
    path_ = mkdtemp(tmpl.data());
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  ~TempDir() {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }
  [[nodiscard]] const std::filesystem::path& path() const { return path_; }

 private:
  std::filesystem::path path_;
};

}  // namespace aatune::store::test
