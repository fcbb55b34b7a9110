// Schema 6: a batch's group deltas in one blob (store/delta_batch.h), read back by the fold in C++
// and by SQL through aatune_deltas(), the table-valued function behind the view group_deltas.
#include "store/delta_batch.h"

#include <gtest/gtest.h>
#include <sqlite3.h>

#include <limits>
#include <string>
#include <vector>

namespace aatune::store::internal {
namespace {

struct Owned {
  int64_t slice_id;
  int64_t group_id;
  std::string host;
  int64_t count;
  std::optional<int64_t> first_seen;
  std::optional<int64_t> last_seen;
  bool operator==(const Owned&) const = default;
};

const std::vector<Owned> kDeltas{
    {1, 7, "web01", 3, 1795424536, 1795424599},
    {2, 7, "", 0, std::nullopt, std::nullopt},  // a new group's slice: no host, no count
    {300000, 123456789, "db.example.org", 1, -5, 0},
    {std::numeric_limits<int64_t>::max(), 1, "h", std::numeric_limits<int64_t>::max(),
     std::numeric_limits<int64_t>::min(), std::numeric_limits<int64_t>::max()},
};

std::string blob_of(const std::vector<Owned>& deltas) {
  std::string blob;
  begin_delta_batch(blob);
  for (const Owned& d : deltas) {
    put_delta(blob, {d.slice_id, d.group_id, d.host, d.count, d.first_seen, d.last_seen});
  }
  return blob;
}

// -1 if the blob is damaged, else the number read; `out` gets what was read.
int read_all(std::string_view blob, std::vector<Owned>& out) {
  DeltaBatchReader reader;
  if (!reader.open(blob)) return -2;
  GroupDelta d;
  int got = 0;
  while ((got = reader.next(d)) > 0) {
    out.push_back(
        {d.slice_id, d.group_id, std::string(d.host), d.count, d.first_seen, d.last_seen});
  }
  return got < 0 ? -1 : static_cast<int>(out.size());
}

TEST(DeltaBatchTest, EveryDeltaComesBackAsWritten) {
  std::vector<Owned> got;
  EXPECT_EQ(read_all(blob_of(kDeltas), got), static_cast<int>(kDeltas.size()));
  EXPECT_EQ(got, kDeltas);
  std::vector<Owned> none;
  EXPECT_EQ(read_all(blob_of({}), none), 0);
}

TEST(DeltaBatchTest, ACutOrForeignBlobIsDamageNotData) {
  const std::string blob = blob_of(kDeltas);
  // Cut anywhere inside the last delta: never a shorter list read as complete.
  const size_t last_start = blob_of({kDeltas.begin(), kDeltas.end() - 1}).size();
  for (size_t cut = last_start + 1; cut < blob.size(); ++cut) {
    SCOPED_TRACE(cut);
    std::vector<Owned> got;
    EXPECT_EQ(read_all(std::string_view(blob).substr(0, cut), got), -1);
  }
  std::vector<Owned> got;
  EXPECT_EQ(read_all("", got), -2);
  EXPECT_EQ(read_all("\x02" + blob.substr(1), got), -2) << "an unknown format";
}

class DeltaSqlTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_EQ(sqlite3_open(":memory:", &db_), SQLITE_OK);
    ASSERT_EQ(register_delta_batch_function(db_), SQLITE_OK);
  }
  void TearDown() override { sqlite3_close(db_); }

  // The rows aatune_deltas(blob) gives, or the SQLite error code.
  int query(const std::string& blob, std::vector<Owned>& out) {
    sqlite3_stmt* s = nullptr;
    EXPECT_EQ(sqlite3_prepare_v2(db_,
                                 "SELECT slice_id, group_id, host, count, first_seen, last_seen "
                                 "FROM aatune_deltas(?1)",
                                 -1, &s, nullptr),
              SQLITE_OK)
        << sqlite3_errmsg(db_);
    sqlite3_bind_blob(s, 1, blob.data(), static_cast<int>(blob.size()), SQLITE_TRANSIENT);
    int rc = SQLITE_OK;
    const auto opt = [&](int col) {
      return sqlite3_column_type(s, col) == SQLITE_NULL
                 ? std::nullopt
                 : std::optional<int64_t>(sqlite3_column_int64(s, col));
    };
    while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
      out.push_back({sqlite3_column_int64(s, 0), sqlite3_column_int64(s, 1),
                     reinterpret_cast<const char*>(sqlite3_column_text(s, 2)),
                     sqlite3_column_int64(s, 3), opt(4), opt(5)});
    }
    sqlite3_finalize(s);
    return rc;
  }

  sqlite3* db_ = nullptr;
};

TEST_F(DeltaSqlTest, TheFunctionGivesOneRowPerDelta) {
  std::vector<Owned> got;
  EXPECT_EQ(query(blob_of(kDeltas), got), SQLITE_DONE);
  EXPECT_EQ(got, kDeltas);
}

TEST_F(DeltaSqlTest, ADamagedBlobIsAnErrorNotFewerRows) {
  const std::string blob = blob_of(kDeltas);
  std::vector<Owned> got;
  EXPECT_EQ(query(blob.substr(0, blob.size() - 1), got), SQLITE_CORRUPT);
  got.clear();
  EXPECT_EQ(query("\x07garbage", got), SQLITE_CORRUPT);
}

TEST_F(DeltaSqlTest, TheBlobArgumentIsRequired) {
  sqlite3_stmt* s = nullptr;
  EXPECT_NE(sqlite3_prepare_v2(db_, "SELECT * FROM aatune_deltas", -1, &s, nullptr), SQLITE_OK);
  sqlite3_finalize(s);
}

}  // namespace
}  // namespace aatune::store::internal
