// Shared by the store tests: a temporary directory that removes itself, and a read-only peek at
// the file with SQL (what a test checks underneath the Store API).
#pragma once

#include <gtest/gtest.h>
#include <sqlite3.h>
#include <stdlib.h>

#include <cstdint>
#include <filesystem>
#include <string>
#include <system_error>

#include "store/delta_batch.h"

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

/// The one integer `sql` selects from the store file `db`, read through its own read-only
/// connection.
inline int64_t sql_count(const std::string& db, const char* sql) {
  sqlite3* raw = nullptr;
  EXPECT_EQ(sqlite3_open_v2(db.c_str(), &raw, SQLITE_OPEN_READONLY, nullptr), SQLITE_OK);
  // The view group_deltas expands blobs through the store's table-valued function.
  EXPECT_EQ(internal::register_delta_batch_function(raw), SQLITE_OK);
  sqlite3_stmt* s = nullptr;
  EXPECT_EQ(sqlite3_prepare_v2(raw, sql, -1, &s, nullptr), SQLITE_OK) << sqlite3_errmsg(raw);
  EXPECT_EQ(sqlite3_step(s), SQLITE_ROW);
  const int64_t n = sqlite3_column_int64(s, 0);
  sqlite3_finalize(s);
  sqlite3_close(raw);
  return n;
}

}  // namespace aatune::store::test
