#include "store/store.h"

#include <sqlite3.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zstd.h>

#include <algorithm>
#include <array>
#include <bit>
#include <charconv>
#include <cstdlib>
#include <ctime>
#include <deque>
#include <filesystem>
#include <fstream>
#include <functional>
#include <limits>
#include <map>
#include <thread>
#include <tuple>
#include <type_traits>
#include <unordered_map>

#include "collector/parser.h"
#include "store/delta_batch.h"
#include "store/varint.h"

namespace aatune::store {
namespace {

using collector::Event;

// "aaTN": lets a foreign SQLite file with user_version set be told apart from ours.
constexpr int32_t kApplicationId = 0x61615446;
constexpr int kBusyTimeoutMs = 5000;
// Frames of slices (docs/store.md "Frames"): about this many bytes of slices each, compressed at
// zstd's fastest level (measured on generated logs: 16 KiB gives ~3.8x and decompresses in
// ~15 us; 64 KiB gives ~4.8x but a reader of one group then decompresses 4x more per slice).
constexpr size_t kFrameBytes = 16 * 1024;
constexpr int kFrameLevel = 1;
// A batch of at most this many frames (what `watch` writes at a modest rate) is compressed on
// the writing thread: starting a thread costs more than compressing ~50 KiB.
constexpr size_t kFramesCompressedInline = 3;
// A frame's header that claims more than this is damage, not data: a slice is at most a batch.
constexpr unsigned long long kMaxFrameBytes = 256ULL << 20;

struct DbCloser {
  void operator()(sqlite3* db) const { sqlite3_close_v2(db); }
};
struct StmtFinalizer {
  void operator()(sqlite3_stmt* s) const { sqlite3_finalize(s); }
};
struct ZstdCCtxFree {
  void operator()(ZSTD_CCtx* c) const { ZSTD_freeCCtx(c); }
};
struct ZstdDCtxFree {
  void operator()(ZSTD_DCtx* c) const { ZSTD_freeDCtx(c); }
};
using DbHandle = std::unique_ptr<sqlite3, DbCloser>;
using Stmt = std::unique_ptr<sqlite3_stmt, StmtFinalizer>;

// Schema migrations: step i brings the file to user_version i+1. Never edit a released step;
// append a new one.
constexpr std::array<std::string_view, Store::kSchemaVersion> kMigrations{R"sql(
CREATE TABLE sources(
  id INTEGER PRIMARY KEY,
  name TEXT NOT NULL UNIQUE,
  first_scan INTEGER NOT NULL,
  last_scan INTEGER NOT NULL);
CREATE TABLE checkpoints(
  identity TEXT PRIMARY KEY,
  source_id INTEGER NOT NULL REFERENCES sources(id),
  device INTEGER NOT NULL,
  inode INTEGER NOT NULL,
  offset INTEGER NOT NULL,
  line_no INTEGER NOT NULL,
  cursor TEXT NOT NULL,
  updated_at INTEGER NOT NULL);
CREATE TABLE groups(
  id INTEGER PRIMARY KEY,
  key TEXT NOT NULL UNIQUE,
  profile TEXT NOT NULL,
  class TEXT NOT NULL,
  count INTEGER NOT NULL DEFAULT 0,
  first_seen INTEGER,
  last_seen INTEGER);
CREATE INDEX groups_profile ON groups(profile);
CREATE TABLE group_hosts(
  group_id INTEGER NOT NULL REFERENCES groups(id),
  host TEXT NOT NULL,
  count INTEGER NOT NULL,
  PRIMARY KEY(group_id, host)) WITHOUT ROWID;
CREATE TABLE events(
  id INTEGER PRIMARY KEY,
  fingerprint INTEGER NOT NULL UNIQUE,
  group_id INTEGER NOT NULL REFERENCES groups(id),
  event_type INTEGER NOT NULL,
  container INTEGER NOT NULL,
  trust INTEGER NOT NULL,
  record_type INTEGER NOT NULL,
  epoch INTEGER,
  msec INTEGER,
  serial INTEGER,
  profile TEXT,
  operation TEXT,
  host TEXT,
  fields BLOB NOT NULL);
CREATE INDEX events_group ON events(group_id);
CREATE TABLE raw_records(
  event_id INTEGER PRIMARY KEY REFERENCES events(id),
  source_id INTEGER NOT NULL REFERENCES sources(id),
  line_no INTEGER NOT NULL,
  raw TEXT NOT NULL);
CREATE TABLE decisions(
  id INTEGER PRIMARY KEY,
  group_key TEXT NOT NULL,
  kind TEXT NOT NULL CHECK(kind IN ('accepted', 'denied', 'ignored', 'deferred')),
  uid INTEGER NOT NULL,
  user TEXT NOT NULL,
  at INTEGER NOT NULL,
  profile_hash TEXT NOT NULL);
CREATE INDEX decisions_key ON decisions(group_key, id);
CREATE TABLE applied_changes(
  id INTEGER PRIMARY KEY,
  group_key TEXT NOT NULL,
  rule TEXT NOT NULL,
  target_file TEXT NOT NULL,
  diff TEXT NOT NULL,
  backup_path TEXT NOT NULL,
  validated INTEGER NOT NULL,
  validate_output TEXT NOT NULL,
  reloaded INTEGER NOT NULL,
  reload_output TEXT NOT NULL,
  at INTEGER NOT NULL);
)sql",
                                                                          R"sql(
-- Schema 2, the lean layout (docs/store.md "Layout"): one row per record holding the raw text
-- and the columns the raw text alone cannot give back (source, container, trust, a fallback
-- host); `fields` only for records that are not a plain parse of their text (v1 rows keep
-- theirs, their v1 columns folded in). Dedup in its own small table ordered by time, so a scan
-- appends instead of inserting all over a hash-ordered index. Groups found by a 64-bit hash of
-- the key (aatune_key_hash(), registered by the store) instead of a unique text index; no index
-- on profile (queries by profile read the groups table, which a scan writes at every new group).
CREATE TABLE fingerprints(
  epoch INTEGER NOT NULL,
  fingerprint INTEGER NOT NULL,
  PRIMARY KEY(epoch, fingerprint)) WITHOUT ROWID;
CREATE TABLE records(
  id INTEGER PRIMARY KEY,
  group_id INTEGER NOT NULL REFERENCES groups(id),
  source_id INTEGER NOT NULL REFERENCES sources(id),
  line_no INTEGER NOT NULL,
  container INTEGER NOT NULL,
  trust INTEGER NOT NULL,
  host TEXT,
  raw TEXT NOT NULL,
  fields BLOB);
INSERT INTO fingerprints(epoch, fingerprint) SELECT coalesce(epoch, 0), fingerprint FROM events;
INSERT INTO records(id, group_id, source_id, line_no, container, trust, host, raw, fields)
SELECT e.id, e.group_id, r.source_id, r.line_no, e.container, e.trust, e.host, r.raw, CAST(
  '5:event' || length(CAST(e.event_type AS TEXT)) || ':' || e.event_type ||
  '11:record_type' || length(CAST(e.record_type AS TEXT)) || ':' || e.record_type ||
  CASE WHEN e.epoch IS NULL THEN '' ELSE
    '5:epoch' || length(CAST(e.epoch AS TEXT)) || ':' || e.epoch END ||
  CASE WHEN e.msec IS NULL THEN '' ELSE
    '4:msec' || length(CAST(e.msec AS TEXT)) || ':' || e.msec END ||
  CASE WHEN e.serial IS NULL THEN '' ELSE
    '6:serial' || length(CAST(e.serial AS TEXT)) || ':' || e.serial END ||
  CASE WHEN e.profile IS NULL THEN '' ELSE
    '7:profile' || length(CAST(e.profile AS BLOB)) || ':' || e.profile END ||
  CASE WHEN e.operation IS NULL THEN '' ELSE
    '9:operation' || length(CAST(e.operation AS BLOB)) || ':' || e.operation END ||
  e.fields AS BLOB)
FROM events e JOIN raw_records r ON r.event_id = e.id;
DROP TABLE raw_records;
DROP TABLE events;
CREATE INDEX records_group ON records(group_id);
CREATE TABLE groups_v2(
  id INTEGER PRIMARY KEY,
  key_hash INTEGER NOT NULL UNIQUE,
  key TEXT NOT NULL,
  profile TEXT NOT NULL,
  class TEXT NOT NULL,
  count INTEGER NOT NULL DEFAULT 0,
  first_seen INTEGER,
  last_seen INTEGER);
INSERT INTO groups_v2(id, key_hash, key, profile, class, count, first_seen, last_seen)
SELECT id, aatune_key_hash(key), key, profile, class, count, first_seen, last_seen FROM groups;
DROP TABLE groups;
ALTER TABLE groups_v2 RENAME TO groups;
-- Ad-hoc queries written against schema 1 (`select count(*) from events`) keep working.
CREATE VIEW events AS SELECT id, group_id, container, trust, host FROM records;
)sql",
                                                                          R"sql(
-- Schema 3, records in blocks (docs/store.md "Layout"): a batch of records that are a plain parse
-- of their text is one record_blocks row, whose `meta` holds per record the varints (length,
-- group, source, line, container, trust, host, epoch) and the 8-byte fingerprint, so dedup needs
-- no per-record index. The text, byte-exact (it is evidence), is in block_slices: one row per
-- group per block with that group's records of the block (ordinal in the block, container, trust,
-- host, the raw line), so that reading a group reads its slices, not whole blocks. Record ids are
-- one sequence shared with `records`: a block holds [first_record, first_record + count).
-- Nothing is moved: schema-2 rows stay in records.
CREATE TABLE record_blocks(
  id INTEGER PRIMARY KEY,
  first_record INTEGER NOT NULL,
  count INTEGER NOT NULL,
  min_epoch INTEGER,
  max_epoch INTEGER,
  meta BLOB NOT NULL);
CREATE INDEX record_blocks_epoch ON record_blocks(max_epoch, min_epoch);
-- Appended in (block, group) order; found by group through the index.
CREATE TABLE block_slices(
  id INTEGER PRIMARY KEY,
  block_id INTEGER NOT NULL REFERENCES record_blocks(id),
  group_id INTEGER NOT NULL REFERENCES groups(id),
  records BLOB NOT NULL);
CREATE INDEX block_slices_group ON block_slices(group_id, block_id);
-- A group's counters in a narrow table of their own: a batch updates thousands of groups spread
-- over the whole table, and each commit writes every page it dirtied; with the key text beside
-- the counters that was the whole groups table per batch (measured: half the first scan).
CREATE TABLE group_stats(
  group_id INTEGER PRIMARY KEY,
  count INTEGER NOT NULL,
  first_seen INTEGER,
  last_seen INTEGER);
INSERT INTO group_stats(group_id, count, first_seen, last_seen)
SELECT id, count, first_seen, last_seen FROM groups;
ALTER TABLE groups DROP COLUMN count;
ALTER TABLE groups DROP COLUMN first_seen;
ALTER TABLE groups DROP COLUMN last_seen;
-- Schema-1 ad-hoc queries (`select count(*) from events`) count the records of blocks too; the
-- block columns are in `meta`, which SQL cannot decode, hence NULL.
DROP VIEW events;
CREATE VIEW events AS
WITH RECURSIVE block_ids(id, last) AS (
  SELECT first_record, first_record + count - 1 FROM record_blocks WHERE count > 0
  UNION ALL SELECT id + 1, last FROM block_ids WHERE id < last)
SELECT id, group_id, container, trust, host FROM records
UNION ALL SELECT id, NULL, NULL, NULL, NULL FROM block_ids;
)sql",
                                                                          R"sql(
-- Schema 4, group counters and the slices' group index written once per scan (docs/store.md
-- "Group counters"). A batch of block records updated thousands of group_stats / group_hosts
-- rows and inserted as many entries all over the (group, block) index of block_slices; each
-- commit then rewrote every page it had touched, all over those tables (measured: most of the
-- scan's writes). Now a batch appends one group_deltas row per (slice, host) in its own
-- transaction: its count and first/last seen (the group's in that batch, the same on each host's
-- row; count 0 for a group the batch created, whose group_stats row it wrote directly) and the
-- slice. group_stats, group_hosts and slice_index hold what was folded; readers add the rows still
-- in group_deltas; a fold (end of a scan, or in the batch's own transaction for other writers)
-- moves them over and deletes them in one transaction, so a crash in between counts nothing twice
-- and loses nothing.
CREATE TABLE group_deltas(
  id INTEGER PRIMARY KEY,
  slice_id INTEGER NOT NULL REFERENCES block_slices(id),
  group_id INTEGER NOT NULL REFERENCES groups(id),
  host TEXT NOT NULL,
  count INTEGER NOT NULL,
  first_seen INTEGER,
  last_seen INTEGER);
-- A group's slices in order (slice ids grow with block ids): the index block_slices_group was.
CREATE TABLE slice_index(
  group_id INTEGER NOT NULL,
  slice_id INTEGER NOT NULL,
  PRIMARY KEY(group_id, slice_id)) WITHOUT ROWID;
INSERT INTO slice_index(group_id, slice_id) SELECT group_id, id FROM block_slices
  ORDER BY group_id, id;
DROP INDEX block_slices_group;
)sql",
                                                                          R"sql(
-- Schema 5, the raw text compressed (docs/store.md "Frames"): the slices of a batch, in the order
-- they are written, are cut into frames of about 16 KiB, each compressed with zstd. A slice
-- written since then has an empty `records` and says where its bytes are in its frame; a slice
-- of an older scan keeps its bytes in `records` (frame_id NULL). A 16 KiB frame holds
-- the text ~4x smaller and decompresses in ~15 us, so reading one group stays cheap.
CREATE TABLE slice_frames(
  id INTEGER PRIMARY KEY,
  data BLOB NOT NULL);
ALTER TABLE block_slices ADD COLUMN frame_id INTEGER;
ALTER TABLE block_slices ADD COLUMN frame_offset INTEGER;
ALTER TABLE block_slices ADD COLUMN frame_length INTEGER;
)sql",
                                                                          R"sql(
-- Schema 6, a batch's group deltas in one row (docs/store.md "Group counters"): a scan wrote one
-- group_deltas row per (slice, host), 400 k rows for a 1M-line log and a third of the store
-- thread's time. Now one group_delta_batches row per batch holds them all (store/delta_batch.h);
-- rows of older versions stay in group_delta_rows; the view group_deltas shows both as before,
-- expanding the blobs with aatune_deltas(), which the store registers on every connection.
ALTER TABLE group_deltas RENAME TO group_delta_rows;
CREATE TABLE group_delta_batches(
  id INTEGER PRIMARY KEY,
  deltas BLOB NOT NULL);
CREATE VIEW group_deltas AS
  SELECT slice_id, group_id, host, count, first_seen, last_seen FROM group_delta_rows
  UNION ALL
  SELECT d.slice_id, d.group_id, d.host, d.count, d.first_seen, d.last_seen
  FROM group_delta_batches AS b, aatune_deltas(b.deltas) AS d;
)sql"};

// Common table expressions every reader of group counters starts with: `stats` is group_stats
// plus the deltas not folded yet (normally none: the MATERIALIZED aggregate is then empty and
// costs nothing), with the columns group_stats has. Every group has a group_stats row.
constexpr std::string_view kStatsCte = R"sql(
pending AS MATERIALIZED (
  SELECT group_id, sum(count) AS count, min(first_seen) AS first_seen,
    max(last_seen) AS last_seen
  FROM group_deltas GROUP BY group_id),
stats AS (
  SELECT t.group_id AS group_id, t.count + coalesce(p.count, 0) AS count,
    CASE WHEN p.first_seen IS NULL THEN t.first_seen WHEN t.first_seen IS NULL THEN p.first_seen
      ELSE min(t.first_seen, p.first_seen) END AS first_seen,
    CASE WHEN p.last_seen IS NULL THEN t.last_seen WHEN t.last_seen IS NULL THEN p.last_seen
      ELSE max(t.last_seen, p.last_seen) END AS last_seen
  FROM group_stats AS t LEFT JOIN pending AS p ON p.group_id = t.group_id))sql";

std::string with_stats(std::string_view query) {
  return "WITH " + std::string(kStatsCte) + std::string(query);
}

// ---- fingerprint ------------------------------------------------------------------------------

uint64_t fnv1a(std::string_view s, uint64_t h = 0xcbf29ce484222325ULL) {
  for (unsigned char c : s) {
    h ^= c;
    h *= 0x100000001b3ULL;
  }
  return h;
}

uint64_t mix(uint64_t h, uint64_t v) {
  // splitmix64 finaliser over the combination: FNV alone spreads small integers poorly.
  h ^= v + 0x9e3779b97f4a7c15ULL + (h << 6) + (h >> 2);
  h ^= h >> 30;
  h *= 0xbf58476d1ce4e5b9ULL;
  h ^= h >> 27;
  h *= 0x94d049bb133111ebULL;
  h ^= h >> 31;
  return h;
}

// The part of a record that is the same whichever container carried it: from `apparmor=` on,
// without auditd's ENRICHED tail (after 0x1D), the closing quote of a USER_AVC msg='…' and
// trailing blanks (auditd trims one, syslog daemons may add one).
std::string_view normalized_body(std::string_view raw) {
  const size_t at = raw.find("apparmor=");
  if (at != std::string_view::npos) raw.remove_prefix(at);
  if (const size_t gs = raw.find('\x1d'); gs != std::string_view::npos) raw = raw.substr(0, gs);
  while (!raw.empty() && (raw.back() == ' ' || raw.back() == '\'' || raw.back() == '\r' ||
                          raw.back() == '\n' || raw.back() == '\t')) {
    raw.remove_suffix(1);
  }
  return raw;
}

// ---- field encoding -----------------------------------------------------------------------------

// Visits every optional field of an Event that is not kept in its own column. The names are the
// JSON names of `aatune parse`; the order is the storage order.
template <class E, class F>
void visit_blob_fields(E& e, F&& f) {
  f("audit_id", e.audit_id);
  f("rule_class", e.rule_class);
  f("info", e.info);
  f("error_code", e.error_code);
  f("requested_mask", e.requested_mask);
  f("denied_mask", e.denied_mask);
  f("fsuid", e.fsuid);
  f("ouid", e.ouid);
  f("namespace", e.ns);
  f("peer_profile", e.peer_profile);
  f("peer", e.peer);
  f("name", e.name);
  f("name2", e.name2);
  f("comm", e.comm);
  f("attribute", e.attribute);
  f("info_peer", e.info_peer);
  f("active_hat", e.active_hat);
  f("execpath", e.execpath);
  f("pid", e.pid);
  f("peer_pid", e.peer_pid);
  f("task", e.task);
  f("magic_token", e.magic_token);
  f("parent", e.parent);
  f("net_family", e.net_family);
  f("net_protocol", e.net_protocol);
  f("net_sock_type", e.net_sock_type);
  f("net_local_addr", e.net_local_addr);
  f("net_local_port", e.net_local_port);
  f("net_foreign_addr", e.net_foreign_addr);
  f("net_foreign_port", e.net_foreign_port);
  f("net_addr", e.net_addr);
  f("peer_addr", e.peer_addr);
  f("dbus_bus", e.dbus_bus);
  f("dbus_path", e.dbus_path);
  f("dbus_interface", e.dbus_interface);
  f("dbus_member", e.dbus_member);
  f("signal", e.signal);
  f("fs_type", e.fs_type);
  f("flags", e.flags);
  f("src_name", e.src_name);
  f("timestamp", e.timestamp);
  f("sender_uid", e.sender_uid);
}

// Length-prefixed "<len>:<bytes>" items: values are decoded kernel text and may hold any byte.
// Runs once per stored record, so lengths and numbers go through to_chars into the output buffer
// (no temporary strings).
void put_number(std::string& out, uint64_t n) {
  char buf[24];
  const auto r = std::to_chars(buf, buf + sizeof buf, n);
  out.append(buf, static_cast<size_t>(r.ptr - buf));
}

template <class N>
void put_number_item(std::string& out, N n) {
  char buf[24];
  const auto r = std::to_chars(buf, buf + sizeof buf, n);
  put_number(out, static_cast<uint64_t>(r.ptr - buf));
  out += ':';
  out.append(buf, static_cast<size_t>(r.ptr - buf));
}

void put(std::string& out, std::string_view s, std::string_view prefix = {}) {
  put_number(out, prefix.size() + s.size());
  out += ':';
  out += prefix;
  out += s;
}

bool take(std::string_view& in, std::string_view& item) {
  size_t len = 0;
  const auto [p, ec] = std::from_chars(in.data(), in.data() + in.size(), len);
  if (ec != std::errc() || p == in.data() + in.size() || *p != ':') return false;
  const size_t head = static_cast<size_t>(p - in.data()) + 1;
  if (in.size() - head < len) return false;
  item = in.substr(head, len);
  in.remove_prefix(head + len);
  return true;
}

// Appends the encoded fields of `e` to `out` (the caller reuses one buffer across records). The
// blob holds everything but container, trust, host and raw (columns); schema 2's migration
// writes the same items for schema 1's columns.
void encode_fields_into(const Event& e, std::string& out) {
  put(out, "event");
  put_number_item(out, static_cast<int>(e.event));
  put(out, "record_type");
  put_number_item(out, e.record_type);
  if (!e.record_type_name.empty()) {
    put(out, "record_type_name");
    put(out, e.record_type_name);
  }
  auto opt_number = [&](std::string_view key, const auto& v) {
    if (!v) return;
    put(out, key);
    put_number_item(out, *v);
  };
  opt_number("epoch", e.epoch);
  opt_number("msec", e.audit_msec);
  opt_number("serial", e.audit_sub_id);
  if (e.profile) {
    put(out, "profile");
    put(out, *e.profile);
  }
  if (e.operation) {
    put(out, "operation");
    put(out, *e.operation);
  }
  visit_blob_fields(e, [&](std::string_view key, const auto& field) {
    if (!field) return;
    put(out, key);
    if constexpr (std::is_same_v<std::decay_t<decltype(*field)>, std::string>) {
      put(out, *field);
    } else {
      put_number_item(out, *field);
    }
  });
  for (const auto& [k, v] : e.extra) {
    put(out, k, "+");  // '+' cannot start a modelled name: extra keys stay apart.
    put(out, v);
  }
}

void decode_fields(std::string_view in, Event& e) {
  std::string_view key;
  std::string_view value;
  while (take(in, key) && take(in, value)) {
    if (key.starts_with('+')) {
      e.extra.emplace_back(std::string(key.substr(1)), std::string(value));
      continue;
    }
    auto number = [&]<class T>(T& n) {
      return std::from_chars(value.data(), value.data() + value.size(), n).ec == std::errc();
    };
    if (key == "event") {
      int n = 0;
      if (number(n)) e.event = static_cast<collector::EventType>(n);
      continue;
    }
    if (key == "record_type") {
      number(e.record_type);
      continue;
    }
    if (key == "record_type_name") {
      e.record_type_name = std::string(value);
      continue;
    }
    if (key == "epoch" || key == "msec" || key == "serial") {
      int64_t n = 0;
      if (!number(n)) continue;
      if (key == "epoch") {
        e.epoch = n;
      } else if (key == "msec") {
        e.audit_msec = static_cast<uint32_t>(n);
      } else {
        e.audit_sub_id = static_cast<uint32_t>(n);
      }
      continue;
    }
    if (key == "profile" || key == "operation") {
      (key == "profile" ? e.profile : e.operation) = std::string(value);
      continue;
    }
    visit_blob_fields(e, [&](std::string_view name, auto& field) {
      if (name != key) return;
      using T = std::decay_t<decltype(*field)>;
      if constexpr (std::is_same_v<T, std::string>) {
        field = std::string(value);
      } else {
        T n{};
        if (std::from_chars(value.data(), value.data() + value.size(), n).ec == std::errc()) {
          field = n;
        }
      }
    });
  }
}

int64_t now_seconds() {
  return static_cast<int64_t>(std::time(nullptr));
}

std::string column_text(sqlite3_stmt* s, int i) {
  const auto* p = sqlite3_column_text(s, i);
  return p ? std::string(reinterpret_cast<const char*>(p),
                         static_cast<size_t>(sqlite3_column_bytes(s, i)))
           : std::string();
}

std::optional<int64_t> column_opt_int(sqlite3_stmt* s, int i) {
  if (sqlite3_column_type(s, i) == SQLITE_NULL) return std::nullopt;
  return sqlite3_column_int64(s, i);
}

std::optional<std::string> column_opt_text(sqlite3_stmt* s, int i) {
  if (sqlite3_column_type(s, i) == SQLITE_NULL) return std::nullopt;
  return column_text(s, i);
}

void bind_text(sqlite3_stmt* s, int i, std::string_view v) {
  // A default string_view has no data pointer, which SQLite would store as NULL.
  sqlite3_bind_text(s, i, v.data() ? v.data() : "", static_cast<int>(v.size()), SQLITE_STATIC);
}

template <class T>
void bind_opt_int(sqlite3_stmt* s, int i, const std::optional<T>& v) {
  if (v) {
    sqlite3_bind_int64(s, i, static_cast<int64_t>(*v));
  } else {
    sqlite3_bind_null(s, i);
  }
}

void bind_opt_text(sqlite3_stmt* s, int i, const std::optional<std::string>& v) {
  if (v) {
    bind_text(s, i, *v);
  } else {
    sqlite3_bind_null(s, i);
  }
}

bool has_sqlite_magic(const std::filesystem::path& p, bool& empty) {
  std::ifstream in(p, std::ios::binary);
  std::array<char, 16> head{};
  in.read(head.data(), head.size());
  empty = in.gcount() == 0;
  return in.gcount() == static_cast<std::streamsize>(head.size()) &&
         std::string_view(head.data(), head.size()) == std::string_view("SQLite format 3\0", 16);
}

// The 64-bit identity of a grouping key (groups.key_hash): FNV-1a finished by a 64-bit mixer.
int64_t key_hash(std::string_view key) {
  return static_cast<int64_t>(mix(fnv1a(key), key.size()));
}

// aatune_key_hash(TEXT): the same hash for SQL (schema 2's migration).
void sql_key_hash(sqlite3_context* ctx, int /*argc*/, sqlite3_value** argv) {
  const auto* p = reinterpret_cast<const char*>(sqlite3_value_text(argv[0]));
  const auto n = static_cast<size_t>(sqlite3_value_bytes(argv[0]));
  sqlite3_result_int64(ctx, key_hash(std::string_view(p ? p : "", p ? n : 0)));
}

// One group's share of a batch, folded in memory so that each group is written once per batch.
// Strings point into the batch's records, which outlive the transaction.
struct GroupDelta {
  std::string_view key;
  const Event* sample = nullptr;  // The first added record: profile for the groups row.
  int64_t id = 0;
  uint64_t count = 0;
  std::optional<int64_t> first;
  std::optional<int64_t> last;
  std::vector<std::pair<std::string_view, uint64_t>> hosts;  // Nearly always one.
  std::string slice;          // Its records in this batch's block (put_slice_record).
  int64_t last_ordinal = -1;  // Of the last record put into `slice`.
  bool counted = false;       // Its counts are written (a new group): no group_deltas row.
};

// A batch's group deltas by key hash. The deltas live in a deque (stable addresses, which the
// per-record pointers need) and are reused batch after batch, their buffers' capacity kept; the
// index is open addressing over (hash, position + 1), cleared per batch.
class DeltaTable {
 public:
  /// The delta of `hash`, a cleared one if the batch has none yet.
  GroupDelta& operator[](int64_t hash) {
    if ((used_ + 1) * 2 > index_.size()) grow();
    const size_t mask = index_.size() - 1;
    for (size_t i = slot_of(hash);; i = (i + 1) & mask) {
      auto& [h, pos] = index_[i];
      if (pos != 0 && h == hash) return pool_[pos - 1];
      if (pos == 0) {
        h = hash;
        pos = ++used_;
        if (used_ > pool_.size()) pool_.emplace_back();
        GroupDelta& g = pool_[used_ - 1];
        g.key = {};
        g.sample = nullptr;
        g.id = 0;
        g.count = 0;
        g.first.reset();
        g.last.reset();
        g.hosts.clear();
        g.slice.clear();
        g.last_ordinal = -1;
        g.counted = false;
        hashes_.resize(used_);
        hashes_[used_ - 1] = hash;
        return g;
      }
    }
  }
  void clear() {
    std::ranges::fill(index_, std::pair<int64_t, size_t>{0, 0});
    used_ = 0;
  }
  [[nodiscard]] size_t size() const { return used_; }
  /// The i-th delta of the batch (insertion order) and its key hash.
  [[nodiscard]] GroupDelta& at(size_t i) { return pool_[i]; }
  [[nodiscard]] int64_t hash_at(size_t i) const { return hashes_[i]; }

 private:
  size_t slot_of(int64_t hash) const {
    return static_cast<size_t>((static_cast<uint64_t>(hash) * 0x9e3779b97f4a7c15ULL) >> shift_);
  }
  void grow() {
    const size_t n = index_.empty() ? 4096 : index_.size() * 2;
    std::vector<std::pair<int64_t, size_t>> old = std::move(index_);
    index_.assign(n, {0, 0});
    shift_ = 64 - std::countr_zero(n);
    const size_t mask = n - 1;
    for (const auto& [h, pos] : old) {
      if (pos == 0) continue;
      size_t i = slot_of(h);
      while (index_[i].second != 0) i = (i + 1) & mask;
      index_[i] = {h, pos};
    }
  }

  std::deque<GroupDelta> pool_;
  std::vector<int64_t> hashes_;
  std::vector<std::pair<int64_t, size_t>> index_;
  size_t used_ = 0;
  int shift_ = 64;
};

// ---- record blocks ------------------------------------------------------------------------------

// meta of a record block: a format byte, then per record the varints below and the fingerprint as
// 8 little-endian bytes (it is random: a varint would be longer).
constexpr char kMetaFormat = 1;

using internal::get_varint;
using internal::put_varint;
using internal::unzigzag;
using internal::zigzag;

struct BlockRecord {
  uint64_t raw_length = 0;
  int64_t group_id = 0;
  int64_t source_id = 0;
  uint64_t line_no = 0;
  int container = 0;
  int trust = 0;
  std::optional<std::string_view> host;
  int64_t epoch = 0;  // 0: the record has none.
  uint64_t fingerprint = 0;
};

void put_block_record(std::string& out, const BlockRecord& r) {
  put_varint(out, r.raw_length);
  put_varint(out, static_cast<uint64_t>(r.group_id));
  put_varint(out, static_cast<uint64_t>(r.source_id));
  put_varint(out, r.line_no);
  put_varint(out, static_cast<uint64_t>(r.container));
  put_varint(out, static_cast<uint64_t>(r.trust));
  put_varint(out, r.host ? r.host->size() + 1 : 0);  // 0: no host (not the same as "").
  if (r.host) out += *r.host;
  put_varint(out, zigzag(r.epoch));
  for (int i = 0; i < 8; ++i) out += static_cast<char>((r.fingerprint >> (8 * i)) & 0xff);
}

bool get_block_record(std::string_view& in, BlockRecord& r) {
  uint64_t v = 0;
  if (!get_varint(in, r.raw_length)) return false;
  if (!get_varint(in, v)) return false;
  r.group_id = static_cast<int64_t>(v);
  if (!get_varint(in, v)) return false;
  r.source_id = static_cast<int64_t>(v);
  if (!get_varint(in, r.line_no)) return false;
  if (!get_varint(in, v)) return false;
  r.container = static_cast<int>(v);
  if (!get_varint(in, v)) return false;
  r.trust = static_cast<int>(v);
  if (!get_varint(in, v)) return false;
  if (v == 0) {
    r.host.reset();
  } else {
    if (in.size() < v - 1) return false;
    r.host = in.substr(0, v - 1);
    in.remove_prefix(v - 1);
  }
  if (!get_varint(in, v)) return false;
  r.epoch = unzigzag(v);
  if (in.size() < 8) return false;
  r.fingerprint = 0;
  for (int i = 0; i < 8; ++i) {
    r.fingerprint |= static_cast<uint64_t>(static_cast<unsigned char>(in[static_cast<size_t>(i)]))
                     << (8 * i);
  }
  in.remove_prefix(8);
  return true;
}

// The fingerprints a connection knows to be stored: an open-addressing set of 64-bit values
// (no allocation per insert: a scan adds half a million of them).
class FingerprintSet {
 public:
  /// True if `fp` was not in the set (it is now).
  bool insert(uint64_t fp) {
    if (fp == 0) fp = 1;  // 0 marks an empty slot.
    if ((size_ + 1) * 2 > slots_.size()) grow();
    const size_t mask = slots_.size() - 1;
    for (size_t i = (fp * 0x9e3779b97f4a7c15ULL) >> shift_;; i = (i + 1) & mask) {
      if (slots_[i] == fp) return false;
      if (slots_[i] == 0) {
        slots_[i] = fp;
        ++size_;
        return true;
      }
    }
  }
  void clear() {
    slots_.clear();
    size_ = 0;
    shift_ = 64;
  }

 private:
  void grow() {
    std::vector<uint64_t> old = std::move(slots_);
    const size_t n = old.empty() ? 1024 : old.size() * 2;
    slots_.assign(n, 0);
    shift_ = 64 - std::countr_zero(n);
    size_ = 0;
    for (uint64_t fp : old) {
      if (fp != 0) insert(fp);
    }
  }

  std::vector<uint64_t> slots_;
  size_t size_ = 0;
  int shift_ = 64;
};

// A slice: the records of one group in one block, each as the varints ordinal delta (from the
// previous record of the slice; the first from -1), container, trust, host (0 = none, else
// length + 1 and the bytes), raw length, then the raw bytes.
void put_slice_record(std::string& out, uint64_t ordinal_delta, int container, int trust,
                      const std::optional<std::string>& host, std::string_view raw) {
  put_varint(out, ordinal_delta);
  put_varint(out, static_cast<uint64_t>(container));
  put_varint(out, static_cast<uint64_t>(trust));
  put_varint(out, host ? host->size() + 1 : 0);
  if (host) out += *host;
  put_varint(out, raw.size());
  out += raw;
}

}  // namespace

// ---- public pure helpers ----------------------------------------------------------------------

std::string_view to_string(DecisionKind kind) {
  switch (kind) {
    case DecisionKind::kAccepted:
      return "accepted";
    case DecisionKind::kDenied:
      return "denied";
    case DecisionKind::kIgnored:
      return "ignored";
    case DecisionKind::kDeferred:
      return "deferred";
  }
  return "deferred";
}

std::optional<DecisionKind> decision_kind_from_string(std::string_view text) {
  for (auto k : {DecisionKind::kAccepted, DecisionKind::kDenied, DecisionKind::kIgnored,
                 DecisionKind::kDeferred}) {
    if (to_string(k) == text) return k;
  }
  return std::nullopt;
}

bool is_open(const Group& group, const std::optional<std::string>& current_hash) {
  if (!group.decision) return true;
  if (group.decision->kind == DecisionKind::kDeferred) return true;
  // A decision was made about the profile as it was; once the file changed the denial may mean
  // something else, so it is offered again.
  return current_hash && !group.decision->profile_hash.empty() &&
         *current_hash != group.decision->profile_hash;
}

uint64_t record_fingerprint(const Event& e) {
  uint64_t h = fnv1a(normalized_body(e.raw));
  if (e.epoch || e.audit_sub_id) {
    h = mix(h, static_cast<uint64_t>(e.epoch.value_or(0)));
    h = mix(h, e.audit_msec.value_or(0));
    h = mix(h, e.audit_sub_id.value_or(0));
  } else {
    // No audit id (dbus-daemon's syslog fallback): the same text at another time is another
    // denial, so the container's time and host take part.
    h = mix(h, fnv1a(e.timestamp.value_or("")));
    h = mix(h, fnv1a(e.host.value_or("")));
  }
  return h;
}

std::string default_db_path(const DbLocationInputs& in) {
  if (in.uid == 0) return "/var/lib/aatune/aatune.db";
  if (in.xdg_state_home && !in.xdg_state_home->empty() && in.xdg_state_home->front() == '/') {
    return *in.xdg_state_home + "/aatune/aatune.db";
  }
  if (in.home && !in.home->empty()) return *in.home + "/.local/state/aatune/aatune.db";
  return {};
}

std::string locate_db(const std::optional<std::string>& flag) {
  if (flag) return *flag;
  auto env = [](const char* name) -> std::optional<std::string> {
    const char* v = std::getenv(name);
    return v && *v ? std::optional<std::string>(v) : std::nullopt;
  };
  if (auto v = env("AATUNE_DB")) return *v;
  return default_db_path({static_cast<uint64_t>(::getuid()), env("XDG_STATE_HOME"), env("HOME")});
}

// ---- Store --------------------------------------------------------------------------------------

struct Store::Impl {
  std::string path;
  DbHandle db;
  int version = 0;
  bool read_only = false;
  std::unordered_map<int64_t, int64_t> group_ids;  // key_hash -> groups.id
  std::unordered_map<std::string, int64_t> source_ids;
  Stmt insert_fingerprint;
  Stmt insert_record;
  // Prepared on first use and kept: a scan runs these once per batch or per new group/source.
  Stmt insert_source;
  Stmt insert_group;
  Stmt insert_stats;
  Stmt select_group;
  Stmt update_group;
  Stmt insert_host;
  Stmt upsert_host;
  Stmt upsert_checkpoint;
  std::string fields_buffer;  // encode_fields_into() target, reused across records
  Stmt insert_block;
  Stmt select_data_version;
  Stmt select_next_record;
  Stmt select_block_meta;
  Stmt select_fingerprints;
  // Dedup (docs/store.md "Deduplication"): the fingerprints stored in the epoch ranges `loaded`
  // (sorted, disjoint, inclusive), valid while no other connection has committed since
  // `data_version` was read.
  FingerprintSet seen;
  std::vector<std::pair<int64_t, int64_t>> loaded;
  int64_t data_version = -1;
  // Per-batch scratch, kept to reuse their storage (no allocation per record or per group in
  // the steady state: a delta's slice and host list keep their capacity for the next batch).
  std::vector<GroupDelta*> record_groups;
  DeltaTable deltas;
  std::vector<uint64_t> fingerprints;
  std::vector<std::pair<int64_t, GroupDelta*>> slice_order;            // (group id, delta)
  std::vector<std::tuple<int64_t, int64_t, GroupDelta*>> write_order;  // (id, key hash, delta)
  Stmt insert_slice;
  Stmt insert_frame;
  Stmt insert_delta_batch;
  Stmt select_delta_rows;
  Stmt select_delta_batches;
  std::string delta_batch;  // This batch's group deltas (store/delta_batch.h)
  Stmt fold_slice;
  Stmt fold_stats;
  std::string block_meta;
  // Frames being written (docs/store.md "Frames"): per slice of slice_order its frame's id and
  // its offset and length in that frame once decompressed.
  struct SlicePlace {
    int64_t frame_id = 0;
    size_t offset = 0;
    size_t length = 0;
  };
  std::vector<SlicePlace> slice_places;
  std::string frames_raw;                               // The batch's slices, back to back
  std::vector<std::pair<size_t, size_t>> frame_ranges;  // Each frame's [begin, end) in it
  std::vector<std::string> frames_packed;               // Each frame compressed
  std::unique_ptr<ZSTD_CCtx, ZstdCCtxFree> compressor;

  StoreError error(std::string_view what) const {
    return StoreError{path + ": " + std::string(what) + ": " + sqlite3_errmsg(db.get())};
  }

  std::expected<Stmt, StoreError> prepare(std::string_view sql) const {
    sqlite3_stmt* s = nullptr;
    if (sqlite3_prepare_v2(db.get(), sql.data(), static_cast<int>(sql.size()), &s, nullptr) !=
        SQLITE_OK) {
      return std::unexpected(error("cannot prepare query"));
    }
    return Stmt(s);
  }

  // The statement `slot` holds, preparing it the first time.
  std::expected<sqlite3_stmt*, StoreError> cached(Stmt& slot, std::string_view sql) const {
    if (!slot) {
      auto s = prepare(sql);
      if (!s) return std::unexpected(s.error());
      slot = std::move(*s);
    }
    sqlite3_reset(slot.get());
    sqlite3_clear_bindings(slot.get());
    return slot.get();
  }

  std::expected<void, StoreError> exec(const char* sql, std::string_view what) const {
    if (sqlite3_exec(db.get(), sql, nullptr, nullptr, nullptr) != SQLITE_OK) {
      return std::unexpected(error(what));
    }
    return {};
  }

  std::expected<int64_t, StoreError> pragma_int(const char* sql) const {
    auto s = prepare(sql);
    if (!s) return std::unexpected(s.error());
    if (sqlite3_step(s->get()) != SQLITE_ROW) return std::unexpected(error("cannot read header"));
    return sqlite3_column_int64(s->get(), 0);
  }

  // Runs `body` in one write transaction; rolls back (and forgets cached ids) on failure.
  template <class F>
  auto transaction(F&& body) -> decltype(body()) {
    if (read_only) {
      return std::unexpected(StoreError{path + ": the store was opened read-only"});
    }
    if (auto r = exec("BEGIN IMMEDIATE", "cannot start a write transaction"); !r) {
      return std::unexpected(r.error());
    }
    auto result = body();
    if (result) {
      if (sqlite3_exec(db.get(), "COMMIT", nullptr, nullptr, nullptr) == SQLITE_OK) return result;
      result = std::unexpected(error("write failed"));
    }
    sqlite3_exec(db.get(), "ROLLBACK", nullptr, nullptr, nullptr);
    group_ids.clear();
    source_ids.clear();
    forget_fingerprints();  // It may hold the rolled-back batch's.
    return result;
  }

  void forget_fingerprints() {
    seen.clear();
    loaded.clear();
    data_version = -1;
  }

  // Inside a write transaction: drops what this connection knows of the stored fingerprints if
  // another connection committed since it was learnt (PRAGMA data_version moves only then).
  std::expected<void, StoreError> check_data_version() {
    auto s = cached(select_data_version, "PRAGMA data_version");
    if (!s) return std::unexpected(s.error());
    if (sqlite3_step(*s) != SQLITE_ROW) return std::unexpected(error("cannot read header"));
    const int64_t v = sqlite3_column_int64(*s, 0);
    sqlite3_reset(*s);
    if (v != data_version) {
      forget_fingerprints();
      data_version = v;
    }
    return {};
  }

  // Adds to `seen` every stored fingerprint with an epoch in [lo, hi]: from the blocks whose
  // range overlaps it and from the fingerprints table (records outside blocks).
  std::expected<void, StoreError> load_fingerprints(int64_t lo, int64_t hi) {
    auto b = cached(select_block_meta,
                    "SELECT meta FROM record_blocks WHERE max_epoch >= ?1 AND min_epoch <= ?2");
    if (!b) return std::unexpected(b.error());
    sqlite3_bind_int64(*b, 1, lo);
    sqlite3_bind_int64(*b, 2, hi);
    int rc;
    while ((rc = sqlite3_step(*b)) == SQLITE_ROW) {
      const auto* p = static_cast<const char*>(sqlite3_column_blob(*b, 0));
      std::string_view meta(p ? p : "", static_cast<size_t>(sqlite3_column_bytes(*b, 0)));
      if (meta.empty() || meta.front() != kMetaFormat) {
        sqlite3_reset(*b);
        return std::unexpected(StoreError{path + ": a record block has an unknown format"});
      }
      meta.remove_prefix(1);
      BlockRecord r;
      while (!meta.empty()) {
        // A block cut short would silently leave its later records out of dedup: refuse it.
        if (!get_block_record(meta, r)) {
          sqlite3_reset(*b);
          return std::unexpected(StoreError{path + ": a record block is damaged"});
        }
        seen.insert(r.fingerprint);
      }
    }
    sqlite3_reset(*b);
    if (rc != SQLITE_DONE) return std::unexpected(error("cannot read record blocks"));
    auto f = cached(select_fingerprints,
                    "SELECT fingerprint FROM fingerprints WHERE epoch BETWEEN ?1 AND ?2");
    if (!f) return std::unexpected(f.error());
    sqlite3_bind_int64(*f, 1, lo);
    sqlite3_bind_int64(*f, 2, hi);
    while ((rc = sqlite3_step(*f)) == SQLITE_ROW) {
      seen.insert(static_cast<uint64_t>(sqlite3_column_int64(*f, 0)));
    }
    sqlite3_reset(*f);
    if (rc != SQLITE_DONE) return std::unexpected(error("cannot read fingerprints"));
    return {};
  }

  // Makes `seen` cover the epochs [lo, hi], loading only the parts not loaded yet.
  std::expected<void, StoreError> cover(int64_t lo, int64_t hi) {
    int64_t cursor = lo;
    for (const auto& [a, b] : loaded) {
      if (cursor > hi) break;
      if (b < cursor) continue;
      if (a > hi) break;
      if (a > cursor) {
        if (auto r = load_fingerprints(cursor, a - 1); !r) return r;
      }
      if (b == std::numeric_limits<int64_t>::max()) return {};
      cursor = b + 1;
    }
    if (cursor <= hi) {
      if (auto r = load_fingerprints(cursor, hi); !r) return r;
    }
    loaded.emplace_back(lo, hi);
    std::ranges::sort(loaded);
    std::vector<std::pair<int64_t, int64_t>> merged;
    for (const auto& iv : loaded) {
      if (!merged.empty() && iv.first <= merged.back().second + 1) {
        merged.back().second = std::max(merged.back().second, iv.second);
      } else {
        merged.push_back(iv);
      }
    }
    loaded = std::move(merged);
    return {};
  }

  // The next id of the record sequence shared by `records` and the blocks.
  std::expected<int64_t, StoreError> next_record_id() {
    auto s = cached(select_next_record,
                    "SELECT max(coalesce((SELECT max(id) FROM records), 0), coalesce((SELECT "
                    "first_record + count - 1 FROM record_blocks ORDER BY id DESC LIMIT 1), 0))");
    if (!s) return std::unexpected(s.error());
    if (sqlite3_step(*s) != SQLITE_ROW) return std::unexpected(error("cannot read records"));
    const int64_t id = sqlite3_column_int64(*s, 0) + 1;
    sqlite3_reset(*s);
    return id;
  }

  std::expected<void, StoreError> migrate() {
    return transaction([&]() -> std::expected<void, StoreError> {
      // Re-read under the write lock: another process may have migrated meanwhile.
      auto v = pragma_int("PRAGMA user_version");
      if (!v) return std::unexpected(v.error());
      for (int step = static_cast<int>(*v); step < kSchemaVersion; ++step) {
        const std::string sql(kMigrations[static_cast<size_t>(step)]);
        if (auto r = exec(sql.c_str(), "schema migration failed"); !r) return r;
        const std::string bump = "PRAGMA application_id=" + std::to_string(kApplicationId) +
                                 ";PRAGMA user_version=" + std::to_string(step + 1);
        if (auto r = exec(bump.c_str(), "schema migration failed"); !r) return r;
      }
      version = kSchemaVersion;
      return {};
    });
  }

  std::expected<int64_t, StoreError> source_id(const std::string& name) {
    if (auto it = source_ids.find(name); it != source_ids.end()) return it->second;
    auto ins = cached(insert_source,
                      "INSERT INTO sources(name, first_scan, last_scan) VALUES(?1, ?2, ?2) "
                      "ON CONFLICT(name) DO UPDATE SET last_scan=excluded.last_scan RETURNING id");
    if (!ins) return std::unexpected(ins.error());
    bind_text(*ins, 1, name);
    sqlite3_bind_int64(*ins, 2, now_seconds());
    if (sqlite3_step(*ins) != SQLITE_ROW) return std::unexpected(error("write failed"));
    const int64_t id = sqlite3_column_int64(*ins, 0);
    sqlite3_reset(*ins);
    source_ids.emplace(name, id);
    return id;
  }

  // Compresses each frame of frames_raw into frames_packed. Touches nothing but those and the
  // compressor, so it runs on a thread of its own while the slices are inserted.
  std::expected<void, StoreError> compress_frames() {
    if (!compressor) compressor.reset(ZSTD_createCCtx());
    if (!compressor) {
      return std::unexpected(StoreError{path + ": cannot compress records: out of memory"});
    }
    frames_packed.resize(frame_ranges.size());
    for (size_t k = 0; k < frame_ranges.size(); ++k) {
      const auto [begin, end] = frame_ranges[k];
      std::string& packed = frames_packed[k];
      packed.resize(ZSTD_compressBound(end - begin));
      const size_t n = ZSTD_compressCCtx(compressor.get(), packed.data(), packed.size(),
                                         frames_raw.data() + begin, end - begin, kFrameLevel);
      if (ZSTD_isError(n) != 0) {
        return std::unexpected(
            StoreError{path + ": cannot compress records: " + ZSTD_getErrorName(n)});
      }
      packed.resize(n);
    }
    return {};
  }

  // Inserts frames_packed with the ids first_id, first_id + 1, …
  std::expected<void, StoreError> write_frames(int64_t first_id) {
    auto f = cached(insert_frame, "INSERT INTO slice_frames(id, data) VALUES(?1, ?2)");
    if (!f) return std::unexpected(f.error());
    for (size_t k = 0; k < frames_packed.size(); ++k) {
      sqlite3_reset(*f);
      sqlite3_bind_int64(*f, 1, first_id + static_cast<int64_t>(k));
      sqlite3_bind_blob64(*f, 2, frames_packed[k].data(), frames_packed[k].size(), SQLITE_STATIC);
      if (sqlite3_step(*f) != SQLITE_DONE) return std::unexpected(error("write failed"));
    }
    sqlite3_reset(*f);
    return {};
  }

  // Inside a write transaction: adds every pending group delta to group_stats / group_hosts and
  // its slice to slice_index, and deletes them, so each is counted exactly once whatever happens
  // around it. The deltas are read once in table order and aggregated here: SQLite's GROUP BY
  // sorter took 1.1 s for a 1M-line scan's 400k rows (three statements), this ~ a third of it.
  // Every table is then written in key order (for a first scan's slice_index, an append).
  std::expected<void, StoreError> fold() {
    struct Delta {
      int64_t group_id;
      int64_t slice_id;
      int64_t count;
      std::optional<int64_t> first;
      std::optional<int64_t> last;
      size_t host;  // Into `hosts`: there are few, and sorting plain structs is quick.
    };
    std::vector<Delta> rows;
    // A delta takes at least 5 bytes of its batch's blob: room for all of them, no regrowth (the
    // part never used is never touched, so it costs address space, not memory).
    if (auto n =
            pragma_int("SELECT (SELECT count(*) FROM group_delta_rows) + "
                       "(SELECT coalesce(sum(length(deltas)), 0) / 5 FROM group_delta_batches)");
        n) {
      rows.reserve(static_cast<size_t>(*n));
    }
    std::vector<std::string> hosts;
    // Looked up by string_view: no string built per delta (there are ~400 k, of a few hosts).
    struct ViewHash {
      using is_transparent = void;
      size_t operator()(std::string_view v) const { return std::hash<std::string_view>{}(v); }
    };
    std::unordered_map<std::string, size_t, ViewHash, std::equal_to<>> host_ids;
    const auto host_id = [&](std::string_view host) {
      auto it = host_ids.find(host);
      if (it == host_ids.end()) {
        it = host_ids.emplace(std::string(host), hosts.size()).first;
        hosts.push_back(it->first);
      }
      return it->second;
    };
    {
      // Rows of older versions (schema 4–5), normally none.
      auto q = cached(select_delta_rows,
                      "SELECT group_id, slice_id, count, first_seen, last_seen, host "
                      "FROM group_delta_rows");
      if (!q) return std::unexpected(q.error());
      int rc;
      while ((rc = sqlite3_step(*q)) == SQLITE_ROW) {
        rows.push_back(Delta{sqlite3_column_int64(*q, 0), sqlite3_column_int64(*q, 1),
                             sqlite3_column_int64(*q, 2), column_opt_int(*q, 3),
                             column_opt_int(*q, 4), host_id(column_text(*q, 5))});
      }
      sqlite3_reset(*q);
      if (rc != SQLITE_DONE) return std::unexpected(error("cannot read group counts"));
    }
    {
      // The batches' blobs, decoded here rather than through the view: a scan's fold reads
      // ~400 k deltas.
      auto q = cached(select_delta_batches, "SELECT deltas FROM group_delta_batches");
      if (!q) return std::unexpected(q.error());
      int rc;
      while ((rc = sqlite3_step(*q)) == SQLITE_ROW) {
        const auto* p = static_cast<const char*>(sqlite3_column_blob(*q, 0));
        internal::DeltaBatchReader batch;
        if (!batch.open(
                std::string_view(p ? p : "", static_cast<size_t>(sqlite3_column_bytes(*q, 0))))) {
          sqlite3_reset(*q);
          return std::unexpected(StoreError{path + ": a group delta batch is damaged"});
        }
        internal::GroupDelta d;
        int got = 0;
        while ((got = batch.next(d)) > 0) {
          rows.push_back(
              Delta{d.group_id, d.slice_id, d.count, d.first_seen, d.last_seen, host_id(d.host)});
        }
        if (got < 0) {
          sqlite3_reset(*q);
          return std::unexpected(StoreError{path + ": a group delta batch is damaged"});
        }
      }
      sqlite3_reset(*q);
      if (rc != SQLITE_DONE) return std::unexpected(error("cannot read group counts"));
    }
    if (rows.empty()) return {};

    std::vector<std::pair<int64_t, int64_t>> slices;
    slices.reserve(rows.size());
    for (const Delta& r : rows) slices.emplace_back(r.group_id, r.slice_id);
    std::ranges::sort(slices);
    const auto dup = std::ranges::unique(slices);
    slices.erase(dup.begin(), dup.end());
    auto ix =
        cached(fold_slice, "INSERT OR IGNORE INTO slice_index(group_id, slice_id) VALUES(?1, ?2)");
    if (!ix) return std::unexpected(ix.error());
    for (const auto& [group, slice] : slices) {
      sqlite3_reset(*ix);
      sqlite3_bind_int64(*ix, 1, group);
      sqlite3_bind_int64(*ix, 2, slice);
      if (sqlite3_step(*ix) != SQLITE_DONE) return std::unexpected(error("write failed"));
    }
    sqlite3_reset(*ix);

    // Counted rows only (count 0 marks a slice of a group its batch counted directly).
    std::erase_if(rows, [](const Delta& r) { return r.count == 0; });
    std::ranges::sort(rows, [](const Delta& a, const Delta& b) {
      return std::tie(a.group_id, a.host) < std::tie(b.group_id, b.host);
    });
    auto st = cached(
        fold_stats,
        "INSERT INTO group_stats(group_id, count, first_seen, last_seen) VALUES(?1, ?2, ?3, ?4) "
        "ON CONFLICT(group_id) DO UPDATE SET count = count + excluded.count, "
        "first_seen = CASE WHEN excluded.first_seen IS NULL THEN first_seen "
        "WHEN first_seen IS NULL THEN excluded.first_seen "
        "ELSE min(first_seen, excluded.first_seen) END, "
        "last_seen = CASE WHEN excluded.last_seen IS NULL THEN last_seen "
        "WHEN last_seen IS NULL THEN excluded.last_seen "
        "ELSE max(last_seen, excluded.last_seen) END");
    if (!st) return std::unexpected(st.error());
    auto ho = cached(upsert_host,
                     "INSERT INTO group_hosts(group_id, host, count) VALUES(?1, ?2, ?3) "
                     "ON CONFLICT(group_id, host) DO UPDATE SET count = count + excluded.count");
    if (!ho) return std::unexpected(ho.error());
    auto earliest = [](std::optional<int64_t> a, std::optional<int64_t> b) {
      return a && b ? std::optional(std::min(*a, *b)) : a ? a : b;
    };
    auto latest = [](std::optional<int64_t> a, std::optional<int64_t> b) {
      return a && b ? std::optional(std::max(*a, *b)) : a ? a : b;
    };
    for (size_t i = 0; i < rows.size();) {
      const int64_t group = rows[i].group_id;
      int64_t count = 0;
      std::optional<int64_t> first;
      std::optional<int64_t> last;
      while (i < rows.size() && rows[i].group_id == group) {
        const size_t host = rows[i].host;
        int64_t host_count = 0;
        for (; i < rows.size() && rows[i].group_id == group && rows[i].host == host; ++i) {
          host_count += rows[i].count;
          first = earliest(first, rows[i].first);
          last = latest(last, rows[i].last);
        }
        count += host_count;
        sqlite3_reset(*ho);
        sqlite3_bind_int64(*ho, 1, group);
        bind_text(*ho, 2, hosts[host]);
        sqlite3_bind_int64(*ho, 3, host_count);
        if (sqlite3_step(*ho) != SQLITE_DONE) return std::unexpected(error("write failed"));
      }
      sqlite3_reset(*st);
      sqlite3_bind_int64(*st, 1, group);
      sqlite3_bind_int64(*st, 2, count);
      bind_opt_int(*st, 3, first);
      bind_opt_int(*st, 4, last);
      if (sqlite3_step(*st) != SQLITE_DONE) return std::unexpected(error("write failed"));
    }
    sqlite3_reset(*ho);
    sqlite3_reset(*st);
    return exec("DELETE FROM group_delta_rows; DELETE FROM group_delta_batches",
                "cannot fold group counts");
  }

  // With `counts` false (block records, whose counts go to group_deltas) a group that exists is
  // not written at all; a new one is still inserted with its counts (appended rows, cheap), and
  // `g.counted` says so, so that it gets no delta.
  std::expected<void, StoreError> write_group(GroupDelta& g, int64_t hash, bool counts = true) {
    bool created = false;
    if (auto it = group_ids.find(hash); it != group_ids.end()) {
      g.id = it->second;
    } else {
      auto ins = cached(insert_group,
                        "INSERT OR IGNORE INTO groups(key_hash, key, profile, class) "
                        "VALUES(?1, ?2, ?3, ?4)");
      if (!ins) return std::unexpected(ins.error());
      // The key's first two fields (U+001F separated) are profile and class; keep them as
      // columns so that status/list can filter without knowing the key format.
      const std::string_view k = g.key;
      const size_t a = k.find('\x1f');
      const size_t b = a == std::string_view::npos ? a : k.find('\x1f', a + 1);
      const std::string_view profile =
          g.sample->profile ? std::string_view(*g.sample->profile) : k.substr(0, a);
      const std::string_view cls =
          a == std::string_view::npos
              ? std::string_view()
              : k.substr(a + 1, b == std::string_view::npos ? std::string_view::npos : b - a - 1);
      sqlite3_bind_int64(*ins, 1, hash);
      bind_text(*ins, 2, k);
      bind_text(*ins, 3, profile);
      bind_text(*ins, 4, cls);
      if (sqlite3_step(*ins) != SQLITE_DONE) return std::unexpected(error("write failed"));
      if (sqlite3_changes(db.get()) == 1) {
        g.id = sqlite3_last_insert_rowid(db.get());
        created = true;
        auto st = cached(insert_stats,
                         "INSERT INTO group_stats(group_id, count, first_seen, last_seen) "
                         "VALUES(?1, ?2, ?3, ?4)");
        if (!st) return std::unexpected(st.error());
        sqlite3_bind_int64(*st, 1, g.id);
        sqlite3_bind_int64(*st, 2, static_cast<int64_t>(g.count));
        bind_opt_int(*st, 3, g.first);
        bind_opt_int(*st, 4, g.last);
        g.counted = true;
        if (sqlite3_step(*st) != SQLITE_DONE) return std::unexpected(error("write failed"));
      } else {
        auto sel = cached(select_group, "SELECT id, key FROM groups WHERE key_hash = ?1");
        if (!sel) return std::unexpected(sel.error());
        sqlite3_bind_int64(*sel, 1, hash);
        if (sqlite3_step(*sel) != SQLITE_ROW) return std::unexpected(error("cannot read group"));
        g.id = sqlite3_column_int64(*sel, 0);
        if (column_text(*sel, 1) != k) {
          sqlite3_reset(*sel);
          return std::unexpected(StoreError{path + ": two grouping keys share the hash " +
                                            std::to_string(hash) + "; report this as a bug"});
        }
        sqlite3_reset(*sel);
      }
      group_ids.emplace(hash, g.id);
    }
    if (!counts && !created) return {};
    if (!created) {
      auto upd = cached(
          update_group,
          "UPDATE group_stats SET count = count + ?2, "
          "first_seen = CASE WHEN ?3 IS NULL THEN first_seen WHEN first_seen IS NULL THEN ?3 "
          "ELSE min(first_seen, ?3) END, "
          "last_seen = CASE WHEN ?4 IS NULL THEN last_seen WHEN last_seen IS NULL THEN ?4 "
          "ELSE max(last_seen, ?4) END WHERE group_id = ?1");
      if (!upd) return std::unexpected(upd.error());
      sqlite3_bind_int64(*upd, 1, g.id);
      sqlite3_bind_int64(*upd, 2, static_cast<int64_t>(g.count));
      bind_opt_int(*upd, 3, g.first);
      bind_opt_int(*upd, 4, g.last);
      if (sqlite3_step(*upd) != SQLITE_DONE) return std::unexpected(error("write failed"));
    }
    for (const auto& [h, n] : g.hosts) {
      auto host = created
                      ? cached(insert_host,
                               "INSERT INTO group_hosts(group_id, host, count) VALUES(?1, ?2, ?3)")
                      : cached(upsert_host,
                               "INSERT INTO group_hosts(group_id, host, count) VALUES(?1, ?2, ?3) "
                               "ON CONFLICT(group_id, host) DO UPDATE SET "
                               "count = count + excluded.count");
      if (!host) return std::unexpected(host.error());
      sqlite3_bind_int64(*host, 1, g.id);
      bind_text(*host, 2, h);
      sqlite3_bind_int64(*host, 3, static_cast<int64_t>(n));
      if (sqlite3_step(*host) != SQLITE_DONE) return std::unexpected(error("write failed"));
    }
    return {};
  }
};

Store::Store(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
Store::Store(Store&&) noexcept = default;
Store& Store::operator=(Store&&) noexcept = default;
Store::~Store() = default;

const std::string& Store::path() const {
  return impl_->path;
}
int Store::schema_version() const {
  return impl_->version;
}

std::expected<Store, StoreError> Store::open(const std::string& path, const OpenOptions& options) {
  auto impl = std::make_unique<Impl>();
  impl->path = path;
  impl->read_only = options.read_only;
  const bool memory = path == ":memory:";
  if (path.empty()) return std::unexpected(StoreError{"no store path given (use --db PATH)"});

  if (!memory) {
    std::error_code ec;
    const std::filesystem::path p(path);
    if (std::filesystem::exists(p, ec)) {
      if (std::filesystem::is_directory(p, ec)) {
        return std::unexpected(StoreError{path + ": is a directory, not an aatune store"});
      }
      bool empty = false;
      if (!has_sqlite_magic(p, empty) && !empty) {
        return std::unexpected(
            StoreError{path + ": file is not a database (not an aatune store); nothing changed"});
      }
    } else if (options.read_only) {
      return std::unexpected(StoreError{path + ": no such store (run 'aatune scan' to create it)"});
    } else if (p.has_parent_path()) {
      std::filesystem::create_directories(p.parent_path(), ec);
      if (ec) {
        return std::unexpected(StoreError{path + ": cannot create directory " +
                                          p.parent_path().string() + ": " + ec.message()});
      }
    }
  }

  sqlite3* raw = nullptr;
  const int flags =
      (options.read_only ? SQLITE_OPEN_READONLY : SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE) |
      SQLITE_OPEN_NOMUTEX;
  const int rc = sqlite3_open_v2(path.c_str(), &raw, flags, nullptr);
  impl->db.reset(raw);
  if (rc != SQLITE_OK) {
    return std::unexpected(StoreError{
        path + ": cannot open store: " + (raw ? sqlite3_errmsg(raw) : sqlite3_errstr(rc))});
  }
  sqlite3_busy_timeout(impl->db.get(), kBusyTimeoutMs);
  if (sqlite3_create_function_v2(impl->db.get(), "aatune_key_hash", 1,
                                 SQLITE_UTF8 | SQLITE_DETERMINISTIC, nullptr, sql_key_hash, nullptr,
                                 nullptr, nullptr) != SQLITE_OK ||
      internal::register_delta_batch_function(impl->db.get()) != SQLITE_OK) {
    return std::unexpected(impl->error("cannot open store"));
  }

  auto app_id = impl->pragma_int("PRAGMA application_id");
  auto version = impl->pragma_int("PRAGMA user_version");
  auto tables = impl->pragma_int("SELECT count(*) FROM sqlite_master");
  if (!app_id || !version || !tables) {
    return std::unexpected(StoreError{path + ": file is not a database (not an aatune store): " +
                                      sqlite3_errmsg(impl->db.get())});
  }
  if ((*app_id != 0 && *app_id != kApplicationId) || (*version == 0 && *tables > 0) ||
      (*version > 0 && *app_id != kApplicationId)) {
    return std::unexpected(StoreError{
        path +
        ": is not an aatune database (it holds other data); nothing changed. Use --db to "
        "choose another file"});
  }
  if (*version > kSchemaVersion) {
    return std::unexpected(StoreError{path + ": store schema version " + std::to_string(*version) +
                                      " is newer than this aatune understands (" +
                                      std::to_string(kSchemaVersion) +
                                      "); upgrade aatune or use another --db"});
  }
  impl->version = static_cast<int>(*version);

  if (options.read_only) {
    if (impl->version < kSchemaVersion) {
      return std::unexpected(StoreError{path + ": store schema version " +
                                        std::to_string(impl->version) +
                                        " is older than this aatune's; run 'aatune scan' first"});
    }
  } else {
    // WAL lets status/list (and a second scan's reads) run while a scan writes; NORMAL sync is
    // durable across process crashes and only risks the last commits on power loss.
    if (!memory) {
      if (auto r = impl->exec("PRAGMA journal_mode=WAL", "cannot enable WAL"); !r) {
        return std::unexpected(r.error());
      }
    }
    if (auto r = impl->exec("PRAGMA synchronous=NORMAL", "cannot set synchronous"); !r) {
      return std::unexpected(r.error());
    }
    // A bulk scan touches index pages all over the file: a 64 MiB cache and a 64 MiB WAL between
    // checkpoints keep it from re-reading and re-writing the same pages (measured: half the
    // system time of a 1M-line scan with the defaults).
    if (auto r = impl->exec("PRAGMA cache_size=-65536; PRAGMA wal_autocheckpoint=16384; "
                            "PRAGMA temp_store=MEMORY",
                            "cannot set cache size");
        !r) {
      return std::unexpected(r.error());
    }
    if (options.max_size_bytes) {
      auto page = impl->pragma_int("PRAGMA page_size");
      if (!page) return std::unexpected(page.error());
      const std::string sql = "PRAGMA max_page_count=" +
                              std::to_string(std::max<uint64_t>(
                                  1, *options.max_size_bytes / static_cast<uint64_t>(*page)));
      if (auto r = impl->pragma_int(sql.c_str()); !r) return std::unexpected(r.error());
    }
    if (impl->version < kSchemaVersion) {
      if (auto r = impl->migrate(); !r) return std::unexpected(r.error());
    }
    auto fp =
        impl->prepare("INSERT OR IGNORE INTO fingerprints(epoch, fingerprint) VALUES(?1, ?2)");
    if (!fp) return std::unexpected(fp.error());
    impl->insert_fingerprint = std::move(*fp);
    auto rec = impl->prepare(
        "INSERT INTO records(id, group_id, source_id, line_no, container, trust, host, raw, "
        "fields) VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)");
    if (!rec) return std::unexpected(rec.error());
    impl->insert_record = std::move(*rec);
  }
  return Store(std::move(impl));
}

std::expected<std::optional<Checkpoint>, StoreError> Store::find_checkpoint(
    std::string_view identity) {
  auto s = impl_->prepare(
      "SELECT c.identity, s.name, c.device, c.inode, c.offset, c.line_no, c.cursor "
      "FROM checkpoints c JOIN sources s ON s.id = c.source_id WHERE c.identity = ?1");
  if (!s) return std::unexpected(s.error());
  bind_text(s->get(), 1, identity);
  const int rc = sqlite3_step(s->get());
  if (rc == SQLITE_DONE) return std::nullopt;
  if (rc != SQLITE_ROW) return std::unexpected(impl_->error("cannot read checkpoint"));
  Checkpoint c;
  c.identity = column_text(s->get(), 0);
  c.source = column_text(s->get(), 1);
  c.device = static_cast<uint64_t>(sqlite3_column_int64(s->get(), 2));
  c.inode = static_cast<uint64_t>(sqlite3_column_int64(s->get(), 3));
  c.offset = static_cast<uint64_t>(sqlite3_column_int64(s->get(), 4));
  c.line_no = static_cast<uint64_t>(sqlite3_column_int64(s->get(), 5));
  c.cursor = column_text(s->get(), 6);
  return c;
}

std::expected<IngestResult, StoreError> Store::ingest(std::span<const NewRecord> records,
                                                      std::span<const Checkpoint> checkpoints,
                                                      const IngestOptions& options) {
  Impl& d = *impl_;
  return d.transaction([&]() -> std::expected<IngestResult, StoreError> {
    IngestResult result;
    if (auto v = d.check_data_version(); !v) return std::unexpected(v.error());
    // Pass 0: fingerprints, and the epochs they need to be checked against.
    d.fingerprints.resize(records.size());
    int64_t lo = std::numeric_limits<int64_t>::max();
    int64_t hi = std::numeric_limits<int64_t>::min();
    bool without_epoch = false;
    for (size_t i = 0; i < records.size(); ++i) {
      const Event& e = records[i].event;
      d.fingerprints[i] =
          records[i].fingerprint != 0 ? records[i].fingerprint : record_fingerprint(e);
      const int64_t epoch = e.epoch.value_or(0);
      if (epoch == 0) {
        without_epoch = true;
      } else {
        lo = std::min(lo, epoch);
        hi = std::max(hi, epoch);
      }
    }
    if (without_epoch) {
      if (auto c = d.cover(0, 0); !c) return std::unexpected(c.error());
    }
    if (lo <= hi) {
      if (auto c = d.cover(lo, hi); !c) return std::unexpected(c.error());
    }

    // Pass 1: dedup and fold each new record into its group's share of the batch. Consecutive
    // records often share a group: the last one is remembered instead of hashed again.
    d.deltas.clear();
    d.record_groups.assign(records.size(), nullptr);
    const std::string* last_key = nullptr;
    GroupDelta* last_delta = nullptr;
    for (size_t i = 0; i < records.size(); ++i) {
      const NewRecord& r = records[i];
      const Event& e = r.event;
      if (!d.seen.insert(d.fingerprints[i])) {
        ++result.duplicates;
        continue;
      }
      ++result.added;
      if (last_key == nullptr || *last_key != r.group_key) {
        last_delta = &d.deltas[key_hash(r.group_key)];
        last_key = &r.group_key;
        if (last_delta->sample == nullptr) {
          last_delta->key = r.group_key;
          last_delta->sample = &e;
        }
      }
      GroupDelta& g = *last_delta;
      d.record_groups[i] = &g;
      ++g.count;
      if (e.epoch) {
        g.first = g.first ? std::min(*g.first, *e.epoch) : *e.epoch;
        g.last = g.last ? std::max(*g.last, *e.epoch) : *e.epoch;
      }
      const std::string_view host = e.host ? std::string_view(*e.host) : std::string_view();
      auto it = std::ranges::find(g.hosts, host, &std::pair<std::string_view, uint64_t>::first);
      if (it != g.hosts.end()) {
        ++it->second;
      } else {
        g.hosts.emplace_back(host, 1);
      }
    }

    // Pass 2: each touched group written once, known groups in id order (their counters and
    // hosts are then updated page after page instead of all over the tables), new ones after.
    // Block records' counts go to group_deltas below, so a group this connection knows needs no
    // write at all then.
    const bool block = options.events_parsed_from_raw;
    d.write_order.clear();
    for (size_t i = 0; i < d.deltas.size(); ++i) {
      GroupDelta& g = d.deltas.at(i);
      const int64_t hash = d.deltas.hash_at(i);
      if (const auto it = d.group_ids.find(hash); it != d.group_ids.end()) {
        if (block) {
          g.id = it->second;
          continue;
        }
        d.write_order.emplace_back(it->second, hash, &g);
      } else {
        d.write_order.emplace_back(std::numeric_limits<int64_t>::max(), hash, &g);
      }
    }
    std::ranges::sort(d.write_order);
    for (const auto& [id, hash, g] : d.write_order) {
      if (auto w = d.write_group(*g, hash, !block); !w) return std::unexpected(w.error());
    }

    // Pass 3: the new records, in reading order, with ids from the shared sequence.
    if (result.added > 0) {
      auto next = d.next_record_id();
      if (!next) return std::unexpected(next.error());
      int64_t id = *next;
      const int64_t first_record = id;
      const std::string* last_source = nullptr;
      int64_t last_source_id = 0;
      d.block_meta.assign(1, kMetaFormat);
      std::optional<int64_t> min_epoch;
      std::optional<int64_t> max_epoch;
      sqlite3_stmt* ins = d.insert_record.get();
      sqlite3_stmt* fp = d.insert_fingerprint.get();
      for (size_t i = 0; i < records.size(); ++i) {
        GroupDelta* g = d.record_groups[i];
        if (g == nullptr) continue;
        const NewRecord& r = records[i];
        const Event& e = r.event;
        if (last_source == nullptr || *last_source != r.source) {
          auto src = d.source_id(r.source);
          if (!src) return std::unexpected(src.error());
          last_source = &r.source;
          last_source_id = *src;
        }
        const int64_t epoch = e.epoch.value_or(0);
        if (block) {
          // The text goes into its group's slice verbatim; meta keeps what dedup and a reader
          // of the whole block need.
          put_block_record(
              d.block_meta,
              BlockRecord{e.raw.size(), g->id, last_source_id, r.line_no,
                          static_cast<int>(e.container), static_cast<int>(e.trust),
                          e.host ? std::optional<std::string_view>(*e.host) : std::nullopt, epoch,
                          d.fingerprints[i]});
          const int64_t ordinal = id - first_record;
          put_slice_record(g->slice, static_cast<uint64_t>(ordinal - g->last_ordinal),
                           static_cast<int>(e.container), static_cast<int>(e.trust), e.host, e.raw);
          g->last_ordinal = ordinal;
          min_epoch = std::min(min_epoch.value_or(epoch), epoch);
          max_epoch = std::max(max_epoch.value_or(epoch), epoch);
          ++id;
          continue;
        }
        sqlite3_reset(fp);
        sqlite3_bind_int64(fp, 1, epoch);
        sqlite3_bind_int64(fp, 2, static_cast<int64_t>(d.fingerprints[i]));
        if (sqlite3_step(fp) != SQLITE_DONE) return std::unexpected(d.error("write failed"));
        sqlite3_reset(ins);
        sqlite3_bind_int64(ins, 1, id++);
        sqlite3_bind_int64(ins, 2, g->id);
        sqlite3_bind_int64(ins, 3, last_source_id);
        sqlite3_bind_int64(ins, 4, static_cast<int64_t>(r.line_no));
        sqlite3_bind_int(ins, 5, static_cast<int>(e.container));
        sqlite3_bind_int(ins, 6, static_cast<int>(e.trust));
        bind_opt_text(ins, 7, e.host);
        bind_text(ins, 8, e.raw);
        d.fields_buffer.clear();
        encode_fields_into(e, d.fields_buffer);
        sqlite3_bind_blob(ins, 9, d.fields_buffer.data(), static_cast<int>(d.fields_buffer.size()),
                          SQLITE_STATIC);
        if (sqlite3_step(ins) != SQLITE_DONE) return std::unexpected(d.error("write failed"));
      }
      sqlite3_reset(fp);
      sqlite3_reset(ins);
      if (block) {
        auto b = d.cached(d.insert_block,
                          "INSERT INTO record_blocks(first_record, count, min_epoch, max_epoch, "
                          "meta) VALUES(?1, ?2, ?3, ?4, ?5)");
        if (!b) return std::unexpected(b.error());
        sqlite3_bind_int64(*b, 1, first_record);
        sqlite3_bind_int64(*b, 2, id - first_record);
        bind_opt_int(*b, 3, min_epoch);
        bind_opt_int(*b, 4, max_epoch);
        sqlite3_bind_blob64(*b, 5, d.block_meta.data(), d.block_meta.size(), SQLITE_STATIC);
        if (sqlite3_step(*b) != SQLITE_DONE) return std::unexpected(d.error("write failed"));
        const int64_t block_id = sqlite3_last_insert_rowid(d.db.get());
        sqlite3_reset(*b);
        // In group order: the rows are appended, the group index gets them in key order.
        d.slice_order.clear();
        for (size_t i = 0; i < d.deltas.size(); ++i) {
          d.slice_order.emplace_back(d.deltas.at(i).id, &d.deltas.at(i));
        }
        std::ranges::sort(d.slice_order);
        // The slices' bytes in frames (docs/store.md "Frames"). The frames' ids are known before
        // they are written (this transaction is the only writer), so they are compressed on a
        // thread of their own while the slices and deltas are inserted, then written.
        auto last_frame = d.pragma_int("SELECT coalesce(max(id), 0) FROM slice_frames");
        if (!last_frame) return std::unexpected(last_frame.error());
        d.slice_places.assign(d.slice_order.size(), {});
        d.frames_raw.clear();
        d.frame_ranges.clear();
        size_t frame_begin = 0;
        for (size_t i = 0; i < d.slice_order.size(); ++i) {
          const std::string& bytes = d.slice_order[i].second->slice;
          if (d.frames_raw.size() > frame_begin &&
              d.frames_raw.size() - frame_begin + bytes.size() > kFrameBytes) {
            d.frame_ranges.emplace_back(frame_begin, d.frames_raw.size());
            frame_begin = d.frames_raw.size();
          }
          d.slice_places[i] = {*last_frame + 1 + static_cast<int64_t>(d.frame_ranges.size()),
                               d.frames_raw.size() - frame_begin, bytes.size()};
          d.frames_raw += bytes;
        }
        if (d.frames_raw.size() > frame_begin) {
          d.frame_ranges.emplace_back(frame_begin, d.frames_raw.size());
        }
        std::expected<void, StoreError> compressed;
        std::optional<std::jthread> compressing;
        if (d.frame_ranges.size() <= kFramesCompressedInline) {
          compressed = d.compress_frames();  // a small batch (watch): not worth a thread
        } else {
          compressing.emplace([&] { compressed = d.compress_frames(); });
        }
        // Joined on every way out of this scope (an error below returns while it runs).
        struct Join {
          std::optional<std::jthread>& thread;
          ~Join() { thread.reset(); }
        } join{compressing};
        auto sl = d.cached(d.insert_slice,
                           "INSERT INTO block_slices(block_id, group_id, records, frame_id, "
                           "frame_offset, frame_length) VALUES(?1, ?2, X'', ?3, ?4, ?5)");
        if (!sl) return std::unexpected(sl.error());
        // Each slice's group counts, appended to the batch's one delta row (docs/store.md "Group
        // counters"); a delta with count 0 for a group created by this batch (counted already),
        // which only indexes its slice.
        internal::begin_delta_batch(d.delta_batch);
        for (size_t i = 0; i < d.slice_order.size(); ++i) {
          const auto& [gid, g] = d.slice_order[i];
          const Impl::SlicePlace& place = d.slice_places[i];
          sqlite3_reset(*sl);
          sqlite3_bind_int64(*sl, 1, block_id);
          sqlite3_bind_int64(*sl, 2, gid);
          sqlite3_bind_int64(*sl, 3, place.frame_id);
          sqlite3_bind_int64(*sl, 4, static_cast<int64_t>(place.offset));
          sqlite3_bind_int64(*sl, 5, static_cast<int64_t>(place.length));
          if (sqlite3_step(*sl) != SQLITE_DONE) return std::unexpected(d.error("write failed"));
          const int64_t slice_id = sqlite3_last_insert_rowid(d.db.get());
          if (g->counted) {
            internal::put_delta(d.delta_batch, {slice_id, gid, {}, 0, std::nullopt, std::nullopt});
            continue;
          }
          for (const auto& [host, n] : g->hosts) {
            internal::put_delta(d.delta_batch,
                                {slice_id, gid, host, static_cast<int64_t>(n), g->first, g->last});
          }
        }
        sqlite3_reset(*sl);
        {
          auto db =
              d.cached(d.insert_delta_batch, "INSERT INTO group_delta_batches(deltas) VALUES(?1)");
          if (!db) return std::unexpected(db.error());
          sqlite3_bind_blob64(*db, 1, d.delta_batch.data(), d.delta_batch.size(), SQLITE_STATIC);
          const int rc = sqlite3_step(*db);
          sqlite3_reset(*db);
          if (rc != SQLITE_DONE) return std::unexpected(d.error("write failed"));
        }
        compressing.reset();
        if (!compressed) return std::unexpected(compressed.error());
        if (auto w = d.write_frames(*last_frame + 1); !w) return std::unexpected(w.error());
      }
    }

    for (const Checkpoint& c : checkpoints) {
      auto src = d.source_id(c.source);
      if (!src) return std::unexpected(src.error());
      auto cp = d.cached(
          d.upsert_checkpoint,
          "INSERT INTO checkpoints(identity, source_id, device, inode, offset, line_no, cursor, "
          "updated_at) VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8) ON CONFLICT(identity) DO UPDATE SET "
          "source_id=excluded.source_id, device=excluded.device, inode=excluded.inode, "
          "offset=excluded.offset, line_no=excluded.line_no, cursor=excluded.cursor, "
          "updated_at=excluded.updated_at");
      if (!cp) return std::unexpected(cp.error());
      bind_text(*cp, 1, c.identity);
      sqlite3_bind_int64(*cp, 2, *src);
      sqlite3_bind_int64(*cp, 3, static_cast<int64_t>(c.device));
      sqlite3_bind_int64(*cp, 4, static_cast<int64_t>(c.inode));
      sqlite3_bind_int64(*cp, 5, static_cast<int64_t>(c.offset));
      sqlite3_bind_int64(*cp, 6, static_cast<int64_t>(c.line_no));
      bind_text(*cp, 7, c.cursor);
      sqlite3_bind_int64(*cp, 8, now_seconds());
      if (sqlite3_step(*cp) != SQLITE_DONE) return std::unexpected(d.error("write failed"));
    }
    if (block && !options.defer_group_counts) {
      if (auto f = d.fold(); !f) return std::unexpected(f.error());
    }
    return result;
  });
}

std::expected<void, StoreError> Store::fold_group_counts() {
  Impl& d = *impl_;
  // Nothing pending (a re-scan that read nothing new, or on a read-only file): no write
  // transaction at all. Deltas committed after this look are folded by their own scan.
  auto pending = d.pragma_int(
      "SELECT EXISTS(SELECT 1 FROM group_delta_rows) OR EXISTS(SELECT 1 FROM group_delta_batches)");
  if (!pending) return std::unexpected(pending.error());
  if (*pending == 0) return {};
  return d.transaction([&] { return d.fold(); });
}

std::expected<std::vector<Group>, StoreError> Store::groups(const GroupFilter& filter) {
  Impl& d = *impl_;
  std::unordered_map<std::string, Decision> decisions;
  {
    auto s = d.prepare(
        "SELECT group_key, kind, uid, user, at, profile_hash FROM decisions "
        "WHERE id IN (SELECT max(id) FROM decisions GROUP BY group_key)");
    if (!s) return std::unexpected(s.error());
    int rc;
    while ((rc = sqlite3_step(s->get())) == SQLITE_ROW) {
      Decision dec;
      dec.group_key = column_text(s->get(), 0);
      dec.kind =
          decision_kind_from_string(column_text(s->get(), 1)).value_or(DecisionKind::kDeferred);
      dec.uid = static_cast<uint64_t>(sqlite3_column_int64(s->get(), 2));
      dec.user = column_text(s->get(), 3);
      dec.at = sqlite3_column_int64(s->get(), 4);
      dec.profile_hash = column_text(s->get(), 5);
      decisions.emplace(dec.group_key, std::move(dec));
    }
    if (rc != SQLITE_DONE) return std::unexpected(d.error("cannot read decisions"));
  }
  std::unordered_map<int64_t, std::vector<HostCount>> hosts;
  {
    auto s = d.prepare("SELECT group_id, host, count FROM group_hosts ORDER BY group_id, host");
    if (!s) return std::unexpected(s.error());
    int rc;
    while ((rc = sqlite3_step(s->get())) == SQLITE_ROW) {
      hosts[sqlite3_column_int64(s->get(), 0)].push_back(HostCount{
          column_text(s->get(), 1), static_cast<uint64_t>(sqlite3_column_int64(s->get(), 2))});
    }
    if (rc != SQLITE_DONE) return std::unexpected(d.error("cannot read hosts"));
  }
  {
    // Hosts of the deltas not folded yet, added in (normally there are none).
    auto s = d.prepare(
        "SELECT group_id, host, sum(count) FROM group_deltas WHERE count > 0 "
        "GROUP BY group_id, host");
    if (!s) return std::unexpected(s.error());
    int rc;
    while ((rc = sqlite3_step(s->get())) == SQLITE_ROW) {
      auto& list = hosts[sqlite3_column_int64(s->get(), 0)];
      std::string host = column_text(s->get(), 1);
      const auto n = static_cast<uint64_t>(sqlite3_column_int64(s->get(), 2));
      auto it = std::ranges::lower_bound(list, host, {}, &HostCount::host);
      if (it != list.end() && it->host == host) {
        it->count += n;
      } else {
        list.insert(it, HostCount{std::move(host), n});
      }
    }
    if (rc != SQLITE_DONE) return std::unexpected(d.error("cannot read hosts"));
  }
  auto s = d.prepare(with_stats(
      " SELECT g.id, g.key, g.profile, g.class, s.count, s.first_seen, s.last_seen FROM groups g "
      "JOIN stats s ON s.group_id = g.id "
      "WHERE s.count > 0 AND (?1 IS NULL OR g.profile = ?1) AND (?2 IS NULL OR s.last_seen >= ?2) "
      "ORDER BY profile, count DESC, key"));
  if (!s) return std::unexpected(s.error());
  bind_opt_text(s->get(), 1, filter.profile);
  bind_opt_int(s->get(), 2, filter.since);
  std::vector<Group> out;
  int rc;
  while ((rc = sqlite3_step(s->get())) == SQLITE_ROW) {
    Group g;
    g.id = sqlite3_column_int64(s->get(), 0);
    g.key = column_text(s->get(), 1);
    g.profile = column_text(s->get(), 2);
    g.rule_class = column_text(s->get(), 3);
    g.count = static_cast<uint64_t>(sqlite3_column_int64(s->get(), 4));
    g.first_seen = column_opt_int(s->get(), 5);
    g.last_seen = column_opt_int(s->get(), 6);
    if (auto it = hosts.find(g.id); it != hosts.end()) g.hosts = std::move(it->second);
    if (auto it = decisions.find(g.key); it != decisions.end()) g.decision = it->second;
    if (!filter.all) {
      const auto hash = filter.profile_hash ? filter.profile_hash(g.profile) : std::nullopt;
      if (!is_open(g, hash)) continue;
    }
    out.push_back(std::move(g));
  }
  if (rc != SQLITE_DONE) return std::unexpected(d.error("cannot read groups"));
  return out;
}

std::expected<std::vector<Event>, StoreError> Store::events_of_group(std::string_view group_key,
                                                                     size_t limit) {
  const GroupSampleRequest request{std::string(group_key), limit};
  auto all = events_of_groups(std::span(&request, 1));
  if (!all) return std::unexpected(all.error());
  return std::move(all->front());
}

namespace {

// The bytes of one block_slices row read by `row` (columns: first_record, records, frame_id,
// frame_offset, frame_length): in the row (before schema 5) or in its frame, which is kept
// decompressed for the next slice (docs/store.md "Frames": read in slice-id order, consecutive
// slices share frames).
class SliceBytes {
 public:
  /// `frame_query`: "SELECT data FROM slice_frames WHERE id = ?1"; `read_error`: what a failed
  /// step of it reports (the store's own message for a read that failed).
  SliceBytes(std::string path, sqlite3_stmt* frame_query, std::function<StoreError()> read_error)
      : path_(std::move(path)), query_(frame_query), read_error_(std::move(read_error)) {}

  std::expected<std::string_view, StoreError> of(sqlite3_stmt* row) {
    if (sqlite3_column_type(row, 2) == SQLITE_NULL) {
      const auto* p = static_cast<const char*>(sqlite3_column_blob(row, 1));
      return std::string_view(p ? p : "", static_cast<size_t>(sqlite3_column_bytes(row, 1)));
    }
    const int64_t wanted = sqlite3_column_int64(row, 2);
    if (wanted != frame_id_ || frame_id_ == 0) {
      if (auto r = load(wanted); !r) return std::unexpected(r.error());
    }
    const int64_t offset = sqlite3_column_int64(row, 3);
    const int64_t length = sqlite3_column_int64(row, 4);
    if (offset < 0 || length < 0 || static_cast<uint64_t>(offset) > frame_.size() ||
        static_cast<uint64_t>(length) > frame_.size() - static_cast<uint64_t>(offset)) {
      return std::unexpected(damaged());
    }
    return std::string_view(frame_).substr(static_cast<size_t>(offset),
                                           static_cast<size_t>(length));
  }

  [[nodiscard]] StoreError damaged() const {
    return StoreError{path_ + ": a record block is damaged"};
  }

 private:
  std::expected<void, StoreError> load(int64_t id) {
    frame_id_ = 0;
    sqlite3_stmt* q = query_;
    sqlite3_reset(q);
    sqlite3_bind_int64(q, 1, id);
    const int rc = sqlite3_step(q);
    if (rc == SQLITE_DONE) return std::unexpected(damaged());
    if (rc != SQLITE_ROW) return std::unexpected(read_error_());
    const void* packed = sqlite3_column_blob(q, 0);
    const auto packed_size = static_cast<size_t>(sqlite3_column_bytes(q, 0));
    const unsigned long long size =
        packed != nullptr ? ZSTD_getFrameContentSize(packed, packed_size) : 0;
    if (packed == nullptr || size == ZSTD_CONTENTSIZE_ERROR || size == ZSTD_CONTENTSIZE_UNKNOWN ||
        size > kMaxFrameBytes) {
      return std::unexpected(damaged());
    }
    if (!decompressor_) decompressor_.reset(ZSTD_createDCtx());
    if (!decompressor_) return std::unexpected(StoreError{path_ + ": out of memory"});
    frame_.resize(static_cast<size_t>(size));
    const size_t n =
        ZSTD_decompressDCtx(decompressor_.get(), frame_.data(), frame_.size(), packed, packed_size);
    if (ZSTD_isError(n) != 0 || n != frame_.size()) return std::unexpected(damaged());
    frame_id_ = id;
    return {};
  }

  std::string path_;
  sqlite3_stmt* query_;
  std::function<StoreError()> read_error_;
  std::unique_ptr<ZSTD_DCtx, ZstdDCtxFree> decompressor_;
  int64_t frame_id_ = 0;  ///< Of frame_ (0: none)
  std::string frame_;
};

}  // namespace

std::expected<std::vector<std::vector<Event>>, StoreError> Store::events_of_groups(
    std::span<const GroupSampleRequest> requests) {
  Impl& d = *impl_;
  std::vector<std::vector<Event>> out(requests.size());
  // Per request, its records with their ids in the shared sequence (`records` rows first, then
  // block records), merged and cut to the limit at the end.
  std::vector<std::vector<std::pair<int64_t, Event>>> found(requests.size());
  std::vector<size_t> from_records(requests.size(), 0);
  // (slice id, request): the first `limit` slices of each group (a slice holds at least one of
  // its records), read below in slice-id order, i.e. in storage order.
  std::vector<std::pair<int64_t, size_t>> wanted;

  auto g = d.prepare("SELECT id FROM groups WHERE key_hash = ?1 AND key = ?2");
  if (!g) return std::unexpected(g.error());
  auto r = d.prepare(
      "SELECT id, container, trust, host, raw, fields FROM records WHERE group_id = ?1 "
      "ORDER BY id LIMIT ?2");
  if (!r) return std::unexpected(r.error());
  // The group's slices: those indexed by a fold, and those of batches not folded yet (normally
  // none; group_deltas is then empty).
  auto sl = d.prepare(
      "SELECT slice_id FROM slice_index WHERE group_id = ?1 "
      "UNION SELECT slice_id FROM group_deltas WHERE group_id = ?1 ORDER BY 1 LIMIT ?2");
  if (!sl) return std::unexpected(sl.error());
  for (size_t i = 0; i < requests.size(); ++i) {
    const auto& [key, limit] = requests[i];
    if (limit == 0) continue;
    sqlite3_stmt* gq = g->get();
    sqlite3_reset(gq);
    sqlite3_bind_int64(gq, 1, key_hash(key));
    bind_text(gq, 2, key);
    int rc = sqlite3_step(gq);
    if (rc == SQLITE_DONE) continue;
    if (rc != SQLITE_ROW) return std::unexpected(d.error("cannot read events"));
    const int64_t group_id = sqlite3_column_int64(gq, 0);

    sqlite3_stmt* q = r->get();
    sqlite3_reset(q);
    sqlite3_bind_int64(q, 1, group_id);
    sqlite3_bind_int64(q, 2, static_cast<int64_t>(std::min<size_t>(limit, INT64_MAX)));
    while ((rc = sqlite3_step(q)) == SQLITE_ROW) {
      auto& [id, e] = found[i].emplace_back(sqlite3_column_int64(q, 0), Event{});
      const auto* raw = reinterpret_cast<const char*>(sqlite3_column_text(q, 4));
      const std::string_view raw_text(raw ? raw : "",
                                      raw ? static_cast<size_t>(sqlite3_column_bytes(q, 4)) : 0);
      if (sqlite3_column_type(q, 5) == SQLITE_NULL) {
        // A schema-2 plain parse of its text: parse it again. parse_record keeps what it could
        // decode should a later parser refuse the line.
        e = collector::parse_record(raw_text).event;
      } else {
        const auto* blob = static_cast<const char*>(sqlite3_column_blob(q, 5));
        decode_fields(
            std::string_view(blob ? blob : "", static_cast<size_t>(sqlite3_column_bytes(q, 5))), e);
        e.raw = std::string(raw_text);
      }
      // What the text alone cannot tell: how it travelled and a host the source supplied.
      e.container = static_cast<collector::Container>(sqlite3_column_int(q, 1));
      e.trust = static_cast<collector::Trust>(sqlite3_column_int(q, 2));
      e.host = column_opt_text(q, 3);
    }
    if (rc != SQLITE_DONE) return std::unexpected(d.error("cannot read events"));
    from_records[i] = found[i].size();

    sqlite3_stmt* sq = sl->get();
    sqlite3_reset(sq);
    sqlite3_bind_int64(sq, 1, group_id);
    sqlite3_bind_int64(sq, 2, static_cast<int64_t>(std::min<size_t>(limit, INT64_MAX)));
    while ((rc = sqlite3_step(sq)) == SQLITE_ROW)
      wanted.emplace_back(sqlite3_column_int64(sq, 0), i);
    if (rc != SQLITE_DONE) return std::unexpected(d.error("cannot read events"));
  }

  // The slices in storage order: each page and each frame is read once.
  std::ranges::sort(wanted);
  auto b = d.prepare(
      "SELECT b.first_record, s.records, s.frame_id, s.frame_offset, s.frame_length "
      "FROM block_slices AS s JOIN record_blocks AS b ON b.id = s.block_id WHERE s.id = ?1");
  if (!b) return std::unexpected(b.error());
  auto frames = d.prepare("SELECT data FROM slice_frames WHERE id = ?1");
  if (!frames) return std::unexpected(frames.error());
  SliceBytes bytes(d.path, frames->get(), [&d] { return d.error("cannot read events"); });
  std::vector<size_t> from_blocks(requests.size(), 0);
  for (const auto& [slice_id, i] : wanted) {
    const size_t limit = requests[i].limit;
    if (from_blocks[i] >= limit) continue;
    sqlite3_stmt* q = b->get();
    sqlite3_reset(q);
    sqlite3_bind_int64(q, 1, slice_id);
    const int rc = sqlite3_step(q);
    if (rc == SQLITE_DONE) return std::unexpected(bytes.damaged());
    if (rc != SQLITE_ROW) return std::unexpected(d.error("cannot read events"));
    int64_t id = sqlite3_column_int64(q, 0) - 1;
    auto slice_bytes = bytes.of(q);
    if (!slice_bytes) return std::unexpected(slice_bytes.error());
    std::string_view slice = *slice_bytes;
    while (from_blocks[i] < limit && !slice.empty()) {
      uint64_t delta = 0;
      uint64_t container = 0;
      uint64_t trust = 0;
      uint64_t host = 0;
      uint64_t length = 0;
      bool ok = get_varint(slice, delta) && get_varint(slice, container) &&
                get_varint(slice, trust) && get_varint(slice, host) && host <= slice.size() + 1;
      std::optional<std::string> host_name;
      if (ok && host > 0) {
        host_name = std::string(slice.substr(0, host - 1));
        slice.remove_prefix(host - 1);
      }
      ok = ok && get_varint(slice, length) && length <= slice.size();
      if (!ok) return std::unexpected(bytes.damaged());
      id += static_cast<int64_t>(delta);
      auto& [eid, e] =
          found[i].emplace_back(id, collector::parse_record(slice.substr(0, length)).event);
      slice.remove_prefix(length);
      e.container = static_cast<collector::Container>(container);
      e.trust = static_cast<collector::Trust>(trust);
      e.host = std::move(host_name);
      ++from_blocks[i];
    }
  }

  for (size_t i = 0; i < requests.size(); ++i) {
    auto& f = found[i];
    // Both halves are sorted by id already.
    std::ranges::inplace_merge(f, f.begin() + static_cast<ptrdiff_t>(from_records[i]), {},
                               &std::pair<int64_t, Event>::first);
    if (f.size() > requests[i].limit) f.resize(requests[i].limit);
    out[i].reserve(f.size());
    for (auto& [id, e] : f) out[i].push_back(std::move(e));
  }
  return out;
}

std::expected<void, StoreError> Store::record_decision(const Decision& dec) {
  Impl& d = *impl_;
  return d.transaction([&]() -> std::expected<void, StoreError> {
    auto s = d.prepare(
        "INSERT INTO decisions(group_key, kind, uid, user, at, profile_hash) "
        "VALUES(?1, ?2, ?3, ?4, ?5, ?6)");
    if (!s) return std::unexpected(s.error());
    bind_text(s->get(), 1, dec.group_key);
    bind_text(s->get(), 2, to_string(dec.kind));
    sqlite3_bind_int64(s->get(), 3, static_cast<int64_t>(dec.uid));
    bind_text(s->get(), 4, dec.user);
    sqlite3_bind_int64(s->get(), 5, dec.at);
    bind_text(s->get(), 6, dec.profile_hash);
    if (sqlite3_step(s->get()) != SQLITE_DONE) return std::unexpected(d.error("write failed"));
    return {};
  });
}

std::expected<int64_t, StoreError> Store::record_change(const AppliedChange& c) {
  Impl& d = *impl_;
  return d.transaction([&]() -> std::expected<int64_t, StoreError> {
    auto s = d.prepare(
        "INSERT INTO applied_changes(group_key, rule, target_file, diff, backup_path, validated, "
        "validate_output, reloaded, reload_output, at) "
        "VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)");
    if (!s) return std::unexpected(s.error());
    bind_text(s->get(), 1, c.group_key);
    bind_text(s->get(), 2, c.rule);
    bind_text(s->get(), 3, c.target_file);
    bind_text(s->get(), 4, c.diff);
    bind_text(s->get(), 5, c.backup_path);
    sqlite3_bind_int(s->get(), 6, c.validated ? 1 : 0);
    bind_text(s->get(), 7, c.validate_output);
    sqlite3_bind_int(s->get(), 8, c.reloaded ? 1 : 0);
    bind_text(s->get(), 9, c.reload_output);
    sqlite3_bind_int64(s->get(), 10, c.at);
    if (sqlite3_step(s->get()) != SQLITE_DONE) return std::unexpected(d.error("write failed"));
    return sqlite3_last_insert_rowid(d.db.get());
  });
}

std::expected<std::vector<AppliedChange>, StoreError> Store::changes() {
  auto s = impl_->prepare(
      "SELECT id, group_key, rule, target_file, diff, backup_path, validated, validate_output, "
      "reloaded, reload_output, at FROM applied_changes ORDER BY id");
  if (!s) return std::unexpected(s.error());
  std::vector<AppliedChange> out;
  int rc;
  while ((rc = sqlite3_step(s->get())) == SQLITE_ROW) {
    sqlite3_stmt* q = s->get();
    AppliedChange c;
    c.id = sqlite3_column_int64(q, 0);
    c.group_key = column_text(q, 1);
    c.rule = column_text(q, 2);
    c.target_file = column_text(q, 3);
    c.diff = column_text(q, 4);
    c.backup_path = column_text(q, 5);
    c.validated = sqlite3_column_int(q, 6) != 0;
    c.validate_output = column_text(q, 7);
    c.reloaded = sqlite3_column_int(q, 8) != 0;
    c.reload_output = column_text(q, 9);
    c.at = sqlite3_column_int64(q, 10);
    out.push_back(std::move(c));
  }
  if (rc != SQLITE_DONE) return std::unexpected(impl_->error("cannot read changes"));
  return out;
}

std::expected<Totals, StoreError> Store::totals() {
  auto s = impl_->prepare(
      with_stats(" SELECT (SELECT count(*) FROM records) + (SELECT coalesce(sum(count), 0) FROM "
                 "record_blocks), (SELECT count(*) FROM stats WHERE count > 0), "
                 "(SELECT count(*) FROM sources)"));
  if (!s) return std::unexpected(s.error());
  if (sqlite3_step(s->get()) != SQLITE_ROW) return std::unexpected(impl_->error("cannot read"));
  return Totals{static_cast<uint64_t>(sqlite3_column_int64(s->get(), 0)),
                static_cast<uint64_t>(sqlite3_column_int64(s->get(), 1)),
                static_cast<uint64_t>(sqlite3_column_int64(s->get(), 2))};
}

// ---- profile summaries

namespace {

// Sets connection pragmas for one query and puts the previous values back. A read-write store
// keeps a 64 MiB page cache and in-memory temporary storage for bulk scans; for the summary's one
// pass over the groups (and its GROUP BY sorter, 100k rows for a 1 M-event store) they only cost
// page faults in a fresh process: measured, 300 ms of CPU instead of 170 ms.
class PragmaScope {
 public:
  PragmaScope(sqlite3* db, std::initializer_list<std::pair<const char*, const char*>> settings)
      : db_(db) {
    for (const auto& [name, value] : settings) {
      sqlite3_stmt* raw = nullptr;
      const std::string get = std::string("PRAGMA ") + name;
      if (sqlite3_prepare_v2(db_, get.c_str(), -1, &raw, nullptr) != SQLITE_OK) continue;
      const Stmt s(raw);
      if (sqlite3_step(s.get()) != SQLITE_ROW) continue;
      saved_.emplace_back(get + "=" + std::to_string(sqlite3_column_int64(s.get(), 0)));
      sqlite3_exec(db_, (get + "=" + value).c_str(), nullptr, nullptr, nullptr);
    }
  }
  PragmaScope(const PragmaScope&) = delete;
  PragmaScope& operator=(const PragmaScope&) = delete;
  ~PragmaScope() {
    for (const auto& sql : saved_) sqlite3_exec(db_, sql.c_str(), nullptr, nullptr, nullptr);
  }

 private:
  sqlite3* db_;
  std::vector<std::string> saved_;
};

}  // namespace

std::expected<std::vector<ProfileSummary>, StoreError> Store::profile_summaries(
    const SummaryFilter& filter) {
  const PragmaScope lean(impl_->db.get(), {{"cache_size", "-2000"}, {"temp_store", "0"}});
  // One pass over the groups, aggregated by (profile, activity bucket, latest decision kind,
  // decision hash): the rows are few (profiles x buckets x distinct decisions), never one per
  // group. Whether a decision holds depends on the profile's current hash, which only the caller
  // knows, so that last step is is_open() below, the same rule groups() applies. The latest
  // decisions are materialized once (they are few) rather than looked up per group, and the
  // groups are read in table order: through the profile index every row would be a random read.
  auto s = impl_->prepare(with_stats(R"sql(,
latest AS MATERIALIZED (
  SELECT group_key, kind, profile_hash FROM decisions
  WHERE id IN (SELECT max(id) FROM decisions GROUP BY group_key)),
span AS MATERIALIZED (
  SELECT min(s.last_seen) AS lo, max(max(s.last_seen) - min(s.last_seen), 1) AS width
  FROM groups AS g JOIN stats AS s ON s.group_id = g.id
  WHERE s.count > 0 AND g.class != 'status' AND (?1 IS NULL OR s.last_seen >= ?1))
SELECT g.profile,
  CASE WHEN ?2 > 0 AND s.last_seen IS NOT NULL
       THEN min(?2 - 1, (s.last_seen - span.lo) * (?2 - 1) / span.width) END AS bucket,
  d.kind, d.profile_hash, count(*), sum(s.count), max(s.last_seen)
FROM groups AS g NOT INDEXED JOIN stats AS s ON s.group_id = g.id CROSS JOIN span
LEFT JOIN latest AS d ON d.group_key = g.key
WHERE s.count > 0 AND g.class != 'status' AND (?1 IS NULL OR s.last_seen >= ?1)
GROUP BY g.profile, bucket, d.kind, d.profile_hash)sql"));
  if (!s) return std::unexpected(s.error());
  bind_opt_int(s->get(), 1, filter.since);
  sqlite3_bind_int64(s->get(), 2, static_cast<int64_t>(filter.buckets));
  std::map<std::string, ProfileSummary, std::less<>> rows;
  std::map<std::string, std::optional<std::string>, std::less<>> hashes;
  int rc;
  while ((rc = sqlite3_step(s->get())) == SQLITE_ROW) {
    sqlite3_stmt* q = s->get();
    std::string profile = column_text(q, 0);
    auto it = rows.find(profile);
    if (it == rows.end()) {
      ProfileSummary p;
      p.profile = profile;
      p.activity.assign(filter.buckets, 0);
      it = rows.emplace(profile, std::move(p)).first;
    }
    ProfileSummary& r = it->second;
    const auto groups = static_cast<uint64_t>(sqlite3_column_int64(q, 4));
    const auto events = static_cast<uint64_t>(sqlite3_column_int64(q, 5));
    // A stand-in group carrying only what is_open() looks at.
    Group g;
    if (const auto kind = column_opt_text(q, 2)) {
      Decision dec;
      dec.kind = decision_kind_from_string(*kind).value_or(DecisionKind::kDeferred);
      dec.profile_hash = column_text(q, 3);
      g.decision = std::move(dec);
    }
    std::optional<std::string> current;
    if (g.decision && g.decision->kind != DecisionKind::kDeferred &&
        !g.decision->profile_hash.empty() && filter.profile_hash) {
      auto h = hashes.find(profile);
      if (h == hashes.end()) h = hashes.emplace(profile, filter.profile_hash(profile)).first;
      current = h->second;
    }
    (is_open(g, current) ? r.open : r.decided) += groups;
    r.events += events;
    if (const auto last = column_opt_int(q, 6))
      r.last_seen = std::max(r.last_seen.value_or(*last), *last);
    if (const auto b = column_opt_int(q, 1); b && filter.buckets > 0) {
      const auto i =
          static_cast<size_t>(std::clamp<int64_t>(*b, 0, static_cast<int64_t>(filter.buckets) - 1));
      r.activity[i] += events;
    }
  }
  if (rc != SQLITE_DONE) return std::unexpected(impl_->error("cannot read profile summaries"));
  std::vector<ProfileSummary> out;
  out.reserve(rows.size());
  for (auto& [name, r] : rows) out.push_back(std::move(r));
  return out;
}

}  // namespace aatune::store

// ---- tui queries

namespace aatune::store {

std::expected<std::vector<Group>, StoreError> Store::profile_groups(const GroupFilter& filter) {
  if (!filter.profile) return std::unexpected(StoreError{impl_->path + ": no profile to list"});
  // One profile's rows through groups_profile, each with its latest decision looked up through
  // decisions_key: a few thousand index probes instead of reading every group, host and decision.
  auto s = impl_->prepare(with_stats(R"sql(
SELECT g.id, g.key, g.profile, g.class, s.count, s.first_seen, s.last_seen,
  d.group_key, d.kind, d.uid, d.user, d.at, d.profile_hash
FROM groups AS g
JOIN stats AS s ON s.group_id = g.id
LEFT JOIN decisions AS d ON d.id =
  (SELECT max(x.id) FROM decisions AS x WHERE x.group_key = g.key)
WHERE g.profile = ?1 AND s.count > 0 AND (?2 IS NULL OR s.last_seen >= ?2)
ORDER BY s.count DESC, g.key)sql"));
  if (!s) return std::unexpected(s.error());
  bind_opt_text(s->get(), 1, filter.profile);
  bind_opt_int(s->get(), 2, filter.since);
  std::vector<Group> out;
  std::optional<std::optional<std::string>> hash;  // Asked once, only if a decision could hold.
  int rc;
  while ((rc = sqlite3_step(s->get())) == SQLITE_ROW) {
    sqlite3_stmt* q = s->get();
    Group g;
    g.id = sqlite3_column_int64(q, 0);
    g.key = column_text(q, 1);
    g.profile = column_text(q, 2);
    g.rule_class = column_text(q, 3);
    g.count = static_cast<uint64_t>(sqlite3_column_int64(q, 4));
    g.first_seen = column_opt_int(q, 5);
    g.last_seen = column_opt_int(q, 6);
    if (sqlite3_column_type(q, 7) != SQLITE_NULL) {
      Decision dec;
      dec.group_key = column_text(q, 7);
      dec.kind = decision_kind_from_string(column_text(q, 8)).value_or(DecisionKind::kDeferred);
      dec.uid = static_cast<uint64_t>(sqlite3_column_int64(q, 9));
      dec.user = column_text(q, 10);
      dec.at = sqlite3_column_int64(q, 11);
      dec.profile_hash = column_text(q, 12);
      g.decision = std::move(dec);
    }
    if (!filter.all) {
      std::optional<std::string> current;
      if (g.decision && g.decision->kind != DecisionKind::kDeferred && filter.profile_hash) {
        if (!hash) hash = filter.profile_hash(g.profile);
        current = *hash;
      }
      if (!is_open(g, current)) continue;
    }
    out.push_back(std::move(g));
  }
  if (rc != SQLITE_DONE) return std::unexpected(impl_->error("cannot read groups"));
  return out;
}

}  // namespace aatune::store
