// The event store: one SQLite file (WAL) holding what aatune has read and what the user decided.
//
// Tables (docs/store.md): sources, checkpoints, record_blocks + block_slices (a scan's records,
// one block per batch, its verbatim text, evidence, re-parsed on read, in one slice per group;
// slice_index finds a group's slices),
// records (events that are not a plain parse of their text, and schema-2 rows), fingerprints
// (dedup of those), groups + group_stats + group_hosts (the analyzer's grouping key, counted;
// group_deltas: per-batch counts not folded yet),
// decisions and applied_changes. The store knows nothing about policy: callers pass the grouping
// key string and the profile's content hash.
#pragma once

#include <cstdint>
#include <expected>
#include <functional>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "collector/event.h"

namespace aatune::store {

/// One line a user can act on; names the database file.
struct StoreError {
  std::string message;
};

struct OpenOptions {
  bool read_only = false;  ///< status/list: never create or migrate, never write.
  /// Cap on the file size (SQLite max_page_count); writes beyond it fail as "disk full".
  std::optional<uint64_t> max_size_bytes;
};

/// Where a file source was read up to. A file is recognised by its first line (hash), so a
/// rotated `kern.log` → `kern.log.1` → `kern.log.2.gz` keeps its checkpoint under a new name.
struct Checkpoint {
  std::string identity;  ///< "file:<first-line hash>", "journal", "kmsg:<boot id>".
  std::string source;    ///< Where it was last seen: a path, "journal", "kmsg".
  uint64_t device = 0;
  uint64_t inode = 0;
  uint64_t offset = 0;   ///< Bytes consumed (decompressed); kmsg: next sequence number.
  uint64_t line_no = 0;  ///< Lines consumed.
  std::string cursor;    ///< Journal cursor.
};

/// A parsed AppArmor record on its way in.
struct NewRecord {
  std::string source;  ///< Source name (path, "journal", "kmsg").
  uint64_t line_no = 0;
  collector::Event event;
  std::string group_key;  ///< analyzer::to_string(analyzer::group_key(event)).
  /// record_fingerprint(event) when the caller computed it (scan does, on its reading thread, so
  /// that the store thread does less); 0 lets the store compute it.
  uint64_t fingerprint = 0;
};

/// How a batch was produced.
/// A group and how many of its oldest events to read (events_of_groups()).
struct GroupSampleRequest {
  std::string key;
  size_t limit = 100;
};

struct IngestOptions {
  /// Every record's `event` is exactly `collector::parse_line(event.raw)` except for `host` (a
  /// fallback the source supplied), `container` and `trust` (what the source knows about where
  /// the text came from: `watch` marks netlink records as kernel), as `aatune scan` and `watch`
  /// build them. Those three are columns of their own; the store keeps only the raw text besides
  /// and re-parses it on read. Otherwise (synthetic or altered events) it also keeps the decoded
  /// fields, so events_of_group() gives back what came in.
  bool events_parsed_from_raw = false;
  /// Block records' group counters are left as per-batch deltas (group_deltas) for a later
  /// fold_group_counts() instead of being folded into group_stats/group_hosts in this batch's
  /// transaction: what a bulk scan wants (one fold at its end). Readers count the deltas too, so
  /// the numbers are the same either way, and a crash before the fold loses nothing.
  bool defer_group_counts = false;
};

struct IngestResult {
  uint64_t added = 0;
  uint64_t duplicates = 0;  ///< Already stored (same audit id and body), from any source.
};

enum class DecisionKind { kAccepted, kDenied, kIgnored, kDeferred };
[[nodiscard]] std::string_view to_string(DecisionKind kind);
[[nodiscard]] std::optional<DecisionKind> decision_kind_from_string(std::string_view text);

struct Decision {
  std::string group_key;
  DecisionKind kind = DecisionKind::kDeferred;
  uint64_t uid = 0;
  std::string user;
  int64_t at = 0;            ///< Unix seconds.
  std::string profile_hash;  ///< Content hash of the profile file when the user decided.
};

struct HostCount {
  std::string host;
  uint64_t count = 0;
};

struct Group {
  int64_t id = 0;
  std::string key;
  std::string profile;
  std::string rule_class;
  uint64_t count = 0;
  std::optional<int64_t> first_seen;  ///< Audit epoch seconds, when the records carried one.
  std::optional<int64_t> last_seen;
  std::vector<HostCount> hosts;      ///< Empty host name = records without one (kmsg, audit.log).
  std::optional<Decision> decision;  ///< The latest decision, if any.
};

/// Which groups to return. A group with a decision is "decided" and hidden unless `all`, except
/// when it was deferred or when its profile changed on disk since (current hash != stored hash).
struct GroupFilter {
  std::optional<std::string> profile;
  std::optional<int64_t> since;  ///< Only groups last seen at or after (epoch seconds).
  bool all = false;
  /// Current content hash of a profile's file; std::nullopt when unknown (then decisions hold).
  std::function<std::optional<std::string>(std::string_view profile)> profile_hash;
};

/// True if the group still needs the user: no decision, deferred, or its profile changed since.
[[nodiscard]] bool is_open(const Group& group, const std::optional<std::string>& current_hash);

struct AppliedChange {
  int64_t id = 0;
  std::string group_key;  ///< May be empty (a change not tied to one group).
  std::string rule;
  std::string target_file;
  std::string diff;
  std::string backup_path;
  bool validated = false;
  std::string validate_output;
  bool reloaded = false;
  std::string reload_output;
  int64_t at = 0;
};

struct Totals {
  uint64_t events = 0;
  uint64_t groups = 0;
  uint64_t sources = 0;
};

/// The stable 64-bit fingerprint used to store a kernel record once across sources: the audit id
/// (epoch, msec, serial) plus a hash of the body from `apparmor=` on (container wrapping, auditd's
/// enrichment and msg='…' quoting removed). Records without an audit id add host and timestamp.
[[nodiscard]] uint64_t record_fingerprint(const collector::Event& event);

// ---- profile summaries (forward declarations; the types are at the end of this file)
struct ProfileSummary;
struct SummaryFilter;

/// A connection to one store file. Move-only; not thread-safe (open one per thread/process).
class Store {
 public:
  /// Opens or creates `path` (":memory:" for a one-shot store), migrating an older schema.
  /// Refuses a file that is not SQLite, a foreign SQLite database, or a newer schema; in those
  /// cases the file is not modified.
  [[nodiscard]] static std::expected<Store, StoreError> open(const std::string& path,
                                                             const OpenOptions& options = {});
  Store(Store&&) noexcept;
  Store& operator=(Store&&) noexcept;
  ~Store();

  [[nodiscard]] const std::string& path() const;
  [[nodiscard]] int schema_version() const;

  [[nodiscard]] std::expected<std::optional<Checkpoint>, StoreError> find_checkpoint(
      std::string_view identity);

  /// Stores one batch in one transaction together with the checkpoints reached by it, so that a
  /// failure (disk full, read-only) leaves neither half-written. Duplicates are counted, not kept.
  [[nodiscard]] std::expected<IngestResult, StoreError> ingest(
      std::span<const NewRecord> records, std::span<const Checkpoint> checkpoints = {},
      const IngestOptions& options = {});

  /// Moves every pending per-batch group delta into the group counters, in one transaction.
  /// Idempotent; a no-op when nothing is pending. Readers give the same numbers before and after.
  [[nodiscard]] std::expected<void, StoreError> fold_group_counts();

  [[nodiscard]] std::expected<std::vector<Group>, StoreError> groups(const GroupFilter& filter);
  /// The stored events of a group, oldest first, decoded back into Events (raw text included).
  [[nodiscard]] std::expected<std::vector<collector::Event>, StoreError> events_of_group(
      std::string_view group_key, size_t limit = 100);
  /// events_of_group() of many groups at once, one result per request in the same order. Reads
  /// the slices of all of them in storage order (each page and frame once), which for a
  /// profile's thousands of groups is several times quicker than one call per group.
  [[nodiscard]] std::expected<std::vector<std::vector<collector::Event>>, StoreError>
  events_of_groups(std::span<const GroupSampleRequest> requests);

  [[nodiscard]] std::expected<void, StoreError> record_decision(const Decision& decision);
  [[nodiscard]] std::expected<int64_t, StoreError> record_change(const AppliedChange& change);
  [[nodiscard]] std::expected<std::vector<AppliedChange>, StoreError> changes();

  [[nodiscard]] std::expected<Totals, StoreError> totals();

  // ---- profile summaries (see the end of this file)
  /// One row per profile, aggregated by SQL over the groups: what the TUI's first screen and
  /// `aatune status` show, without reading every group.
  [[nodiscard]] std::expected<std::vector<ProfileSummary>, StoreError> profile_summaries(
      const SummaryFilter& filter);

  // ---- tui queries (see the end of this file)
  /// groups() of one profile (`filter.profile` required) through the profile index, without
  /// hosts (left empty): what the TUI's groups screen needs, not a pass over every group.
  [[nodiscard]] std::expected<std::vector<Group>, StoreError> profile_groups(
      const GroupFilter& filter);

  static constexpr int kSchemaVersion = 6;

 private:
  struct Impl;
  explicit Store(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

/// Inputs of the default location, so the choice is a pure function.
struct DbLocationInputs {
  uint64_t uid = 0;
  std::optional<std::string> xdg_state_home;
  std::optional<std::string> home;
};

/// `/var/lib/aatune/aatune.db` for root, else `$XDG_STATE_HOME/aatune/aatune.db` or
/// `~/.local/state/aatune/aatune.db`. Empty when no location can be derived.
[[nodiscard]] std::string default_db_path(const DbLocationInputs& inputs);

/// The store a command uses: `--db` if given, else $AATUNE_DB, else default_db_path() for this
/// process's uid and environment.
[[nodiscard]] std::string locate_db(const std::optional<std::string>& flag);

// ---- profile summaries

/// Which groups Store::profile_summaries() counts, and how.
struct SummaryFilter {
  std::optional<int64_t> since;  ///< Only groups last seen at or after (epoch seconds).
  /// Activity buckets per profile (0: none): the span from the earliest to the latest last_seen
  /// of the counted groups, all profiles together, cut into `buckets`; a group adds its count to
  /// the bucket of its last_seen (the latest one only when it is the latest).
  size_t buckets = 0;
  /// Current content hash of a profile's files, as in GroupFilter (std::nullopt: decisions hold).
  /// Asked once per profile, and only for profiles with a decision that could hold.
  std::function<std::optional<std::string>(std::string_view profile)> profile_hash;
};

/// The denial groups of one profile. Open/decided follow is_open(), so a group counted open here
/// is one groups() returns without `all`. Policy-load records (class "status") are not denials
/// and are not counted.
struct ProfileSummary {
  std::string profile;
  uint64_t open = 0;
  uint64_t decided = 0;
  uint64_t events = 0;  ///< Records in its groups.
  std::optional<int64_t> last_seen;
  std::vector<uint64_t> activity;  ///< SummaryFilter::buckets counts, oldest first.
};

}  // namespace aatune::store
