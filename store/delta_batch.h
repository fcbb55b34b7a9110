// A batch's group deltas as one blob (docs/store.md "Group counters", schema 6): what schema 4
// wrote as one group_deltas row per (slice, host) — 400 k rows for a 1M-line scan, most of the
// store thread's SQLite work — is one group_delta_batches row per batch. SQL still sees rows:
// the view `group_deltas` expands the blobs through the table-valued function aatune_deltas(),
// registered on every connection of the store. Internal to the store module.
#pragma once

#include <sqlite3.h>

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace aatune::store::internal {

/// One delta: `count` records of group `group_id` from `host` in slice `slice_id`, first and
/// last seen (count 0: a group its batch created and counted directly; the row only indexes the
/// slice).
struct GroupDelta {
  int64_t slice_id = 0;
  int64_t group_id = 0;
  std::string_view host;  ///< Into the blob (reading) or the caller's string (writing).
  int64_t count = 0;
  std::optional<int64_t> first_seen;
  std::optional<int64_t> last_seen;
};

/// Starts a batch blob in `out` (cleared).
void begin_delta_batch(std::string& out);
/// Appends `d` to a blob begun by begin_delta_batch().
void put_delta(std::string& out, const GroupDelta& d);

/// Reads the deltas of one blob in order.
class DeltaBatchReader {
 public:
  /// False (and nothing to read) if `blob` is not a delta batch this version understands.
  [[nodiscard]] bool open(std::string_view blob);
  /// The next delta into `d` (its host points into the blob). Returns 1, 0 at the end, -1 if the
  /// blob is damaged.
  [[nodiscard]] int next(GroupDelta& d);

 private:
  std::string_view rest_;
};

/// Registers aatune_deltas(BLOB), the table-valued function behind the view `group_deltas`:
/// one row (slice_id, group_id, host, count, first_seen, last_seen) per delta of the blob. A
/// damaged blob is SQLITE_CORRUPT.
int register_delta_batch_function(sqlite3* db);

}  // namespace aatune::store::internal
