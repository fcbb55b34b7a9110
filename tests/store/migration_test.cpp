// Schema 2 (the lean layout), 3 (records in blocks) and 4 (group counters folded per scan): a
// schema-1, -2 and -3 file migrate keeping everything, and records stored as a plain parse of their
// text come back from events_of_group() exactly as parse_line() gives them.
#include <gtest/gtest.h>
#include <sqlite3.h>
#include <unistd.h>
#include <zstd.h>

#include <filesystem>
#include <string>
#include <tuple>
#include <vector>

#include "collector/format.h"
#include "collector/parser.h"
#include "store/store.h"
#include "store/support.h"

namespace aatune::store {
namespace {

namespace fs = std::filesystem;
using collector::Container;
using collector::Event;

using test::TempDir;

// Schema 1 exactly as release 1 created it (store.cpp kMigrations[0]); frozen here on purpose:
// the test must keep building the old layout even if the code's copy were edited by mistake.
constexpr const char* kSchema1 = R"sql(
CREATE TABLE sources(id INTEGER PRIMARY KEY, name TEXT NOT NULL UNIQUE,
  first_scan INTEGER NOT NULL, last_scan INTEGER NOT NULL);
CREATE TABLE checkpoints(identity TEXT PRIMARY KEY,
  source_id INTEGER NOT NULL REFERENCES sources(id), device INTEGER NOT NULL,
  inode INTEGER NOT NULL, offset INTEGER NOT NULL, line_no INTEGER NOT NULL,
  cursor TEXT NOT NULL, updated_at INTEGER NOT NULL);
CREATE TABLE groups(id INTEGER PRIMARY KEY, key TEXT NOT NULL UNIQUE, profile TEXT NOT NULL,
  class TEXT NOT NULL, count INTEGER NOT NULL DEFAULT 0, first_seen INTEGER, last_seen INTEGER);
CREATE INDEX groups_profile ON groups(profile);
CREATE TABLE group_hosts(group_id INTEGER NOT NULL REFERENCES groups(id), host TEXT NOT NULL,
  count INTEGER NOT NULL, PRIMARY KEY(group_id, host)) WITHOUT ROWID;
CREATE TABLE events(id INTEGER PRIMARY KEY, fingerprint INTEGER NOT NULL UNIQUE,
  group_id INTEGER NOT NULL REFERENCES groups(id), event_type INTEGER NOT NULL,
  container INTEGER NOT NULL, trust INTEGER NOT NULL, record_type INTEGER NOT NULL,
  epoch INTEGER, msec INTEGER, serial INTEGER, profile TEXT, operation TEXT, host TEXT,
  fields BLOB NOT NULL);
CREATE INDEX events_group ON events(group_id);
CREATE TABLE raw_records(event_id INTEGER PRIMARY KEY REFERENCES events(id),
  source_id INTEGER NOT NULL REFERENCES sources(id), line_no INTEGER NOT NULL, raw TEXT NOT NULL);
CREATE TABLE decisions(id INTEGER PRIMARY KEY, group_key TEXT NOT NULL,
  kind TEXT NOT NULL CHECK(kind IN ('accepted', 'denied', 'ignored', 'deferred')),
  uid INTEGER NOT NULL, user TEXT NOT NULL, at INTEGER NOT NULL, profile_hash TEXT NOT NULL);
CREATE INDEX decisions_key ON decisions(group_key, id);
CREATE TABLE applied_changes(id INTEGER PRIMARY KEY, group_key TEXT NOT NULL, rule TEXT NOT NULL,
  target_file TEXT NOT NULL, diff TEXT NOT NULL, backup_path TEXT NOT NULL,
  validated INTEGER NOT NULL, validate_output TEXT NOT NULL, reloaded INTEGER NOT NULL,
  reload_output TEXT NOT NULL, at INTEGER NOT NULL);
PRAGMA application_id=1633768518;
PRAGMA user_version=1;
)sql";

// Schema 1's length-prefixed field encoding.
std::string item(std::string_view key, std::string_view value) {
  return std::to_string(key.size()) + ":" + std::string(key) + std::to_string(value.size()) + ":" +
         std::string(value);
}

const std::string kKey =
    "aatest\x1f"
    "file\x1fopen\x1f/etc/secret\x1fr";
const std::string kAuditLine =
    "type=AVC msg=audit(1795424536.908:77): apparmor=\"DENIED\" operation=\"open\" "
    "class=\"file\" profile=\"aatest\" name=\"/etc/secret\" pid=160 comm=\"aa_exercise\" "
    "requested_mask=\"r\" denied_mask=\"r\" fsuid=0 ouid=0";

void exec(sqlite3* db, const std::string& sql) {
  char* err = nullptr;
  ASSERT_EQ(sqlite3_exec(db, sql.c_str(), nullptr, nullptr, &err), SQLITE_OK)
      << (err ? err : "") << "\n"
      << sql;
}

// Turns a file written by this aatune into what schema 4 wrote: each slice's bytes back in its
// row (decompressed from its frame here, independently of the store's reader), no frames, and
// the group deltas a table of rows again (all folded: a scan that did not defer leaves none).
void downgrade_to_schema_4(sqlite3* db) {
  // First the view (its table-valued function is the store's: ALTER TABLE re-checks views).
  exec(db,
       "DROP VIEW group_deltas; DROP TABLE group_delta_batches; "
       "ALTER TABLE group_delta_rows RENAME TO group_deltas;");
  std::vector<std::tuple<int64_t, int64_t, int64_t, int64_t>> slices;
  sqlite3_stmt* q = nullptr;
  ASSERT_EQ(sqlite3_prepare_v2(db,
                               "SELECT id, frame_id, frame_offset, frame_length FROM block_slices "
                               "WHERE frame_id IS NOT NULL",
                               -1, &q, nullptr),
            SQLITE_OK);
  while (sqlite3_step(q) == SQLITE_ROW) {
    slices.emplace_back(sqlite3_column_int64(q, 0), sqlite3_column_int64(q, 1),
                        sqlite3_column_int64(q, 2), sqlite3_column_int64(q, 3));
  }
  sqlite3_finalize(q);
  ASSERT_FALSE(slices.empty()) << "the store wrote no frames";
  for (const auto& [slice, frame, offset, length] : slices) {
    ASSERT_EQ(
        sqlite3_prepare_v2(db, "SELECT data FROM slice_frames WHERE id = ?1", -1, &q, nullptr),
        SQLITE_OK);
    sqlite3_bind_int64(q, 1, frame);
    ASSERT_EQ(sqlite3_step(q), SQLITE_ROW);
    const std::string packed(static_cast<const char*>(sqlite3_column_blob(q, 0)),
                             static_cast<size_t>(sqlite3_column_bytes(q, 0)));
    sqlite3_finalize(q);
    std::string bytes(ZSTD_getFrameContentSize(packed.data(), packed.size()), '\0');
    ASSERT_EQ(ZSTD_decompress(bytes.data(), bytes.size(), packed.data(), packed.size()),
              bytes.size());
    ASSERT_EQ(sqlite3_prepare_v2(db, "UPDATE block_slices SET records = ?1 WHERE id = ?2", -1, &q,
                                 nullptr),
              SQLITE_OK);
    const std::string part = bytes.substr(static_cast<size_t>(offset), static_cast<size_t>(length));
    sqlite3_bind_blob64(q, 1, part.data(), part.size(), SQLITE_TRANSIENT);
    sqlite3_bind_int64(q, 2, slice);
    ASSERT_EQ(sqlite3_step(q), SQLITE_DONE);
    sqlite3_finalize(q);
  }
  exec(db,
       "ALTER TABLE block_slices DROP COLUMN frame_id; "
       "ALTER TABLE block_slices DROP COLUMN frame_offset; "
       "ALTER TABLE block_slices DROP COLUMN frame_length; DROP TABLE slice_frames;");
}

// A schema-1 store as release 1 left it: one group of two events (one from kern.log with a host
// and odd field values), host counts, a checkpoint, two decisions and an applied change.
void write_v1(const fs::path& db_path, const Event& parsed) {
  sqlite3* db = nullptr;
  ASSERT_EQ(sqlite3_open(db_path.c_str(), &db), SQLITE_OK);
  exec(db, kSchema1);
  exec(db,
       "INSERT INTO sources VALUES(1, '/var/log/audit/audit.log', 10, 20);"
       "INSERT INTO sources VALUES(2, '/var/log/kern.log', 10, 20);"
       "INSERT INTO checkpoints VALUES('file:abc', 2, 2049, 1234, 5678, 42, '', 20);"
       "INSERT INTO groups VALUES(1, '" +
           kKey +
           "', 'aatest', 'file', 2, 1795424536, 1795424599);"
           "INSERT INTO group_hosts VALUES(1, '', 1);"
           "INSERT INTO group_hosts VALUES(1, 'web01', 1);"
           "INSERT INTO decisions VALUES(1, '" +
           kKey +
           "', 'deferred', 0, 'root', 5, 'h0');"
           "INSERT INTO decisions VALUES(2, '" +
           kKey +
           "', 'ignored', 1000, 'alice', 6, 'h1');"
           "INSERT INTO applied_changes VALUES(1, '" +
           kKey +
           "', '/etc/secret r,', "
           "'/etc/apparmor.d/aatest', '+  /etc/secret r,', '/var/backup', 1, 'ok', 0, 'no lsm', "
           "7);");
  sqlite3_stmt* st = nullptr;
  ASSERT_EQ(sqlite3_prepare_v2(db,
                               "INSERT INTO events VALUES(?1, ?2, 1, ?3, ?4, ?5, 1400, ?6, ?7, ?8, "
                               "?9, 'open', ?10, ?11)",
                               -1, &st, nullptr),
            SQLITE_OK);
  // Event 1: exactly what schema 1 stored for the parsed audit.log line.
  std::string fields1 = item("audit_id", *parsed.audit_id) + item("rule_class", "file") +
                        item("requested_mask", "r") + item("denied_mask", "r") +
                        item("fsuid", "0") + item("ouid", "0") + item("name", "/etc/secret") +
                        item("comm", "aa_exercise") + item("pid", "160");
  // Event 2: values with separators, an extra key, a host; a syslog record without serial.
  std::string fields2 = item("name", "/etc/secret") + item("name2", "odd:12:val\x1f ue") +
                        item("+capname", "sys_admin") + item("timestamp", "Jul 24 12:26:39");
  struct Row {
    int64_t id;
    uint64_t fingerprint;
    int event;
    int container;
    int trust;
    std::optional<int64_t> epoch;
    std::optional<int64_t> msec;
    std::optional<int64_t> serial;
    std::string profile;
    std::optional<std::string> host;
    std::string fields;
  };
  Event second = parsed;
  second.epoch = 1795424599;
  second.audit_sub_id = std::nullopt;
  second.audit_msec = std::nullopt;
  second.raw = "Jul 24 12:26:39 web01 kernel: apparmor=\"DENIED\" profile=\"aatest\" x=1";
  second.host = "web01";
  second.timestamp = "Jul 24 12:26:39";
  const std::vector<Row> rows{
      {1, record_fingerprint(parsed), static_cast<int>(parsed.event),
       static_cast<int>(Container::kAuditLog), static_cast<int>(parsed.trust), parsed.epoch, 908,
       77, "aatest", std::nullopt, fields1},
      {2, record_fingerprint(second), static_cast<int>(parsed.event),
       static_cast<int>(Container::kSyslog), static_cast<int>(collector::Trust::kKernel),
       second.epoch, std::nullopt, std::nullopt, "aatest", "web01", fields2}};
  for (const Row& r : rows) {
    sqlite3_reset(st);
    sqlite3_bind_int64(st, 1, r.id);
    sqlite3_bind_int64(st, 2, static_cast<int64_t>(r.fingerprint));
    sqlite3_bind_int(st, 3, r.event);
    sqlite3_bind_int(st, 4, r.container);
    sqlite3_bind_int(st, 5, r.trust);
    r.epoch ? sqlite3_bind_int64(st, 6, *r.epoch) : sqlite3_bind_null(st, 6);
    r.msec ? sqlite3_bind_int64(st, 7, *r.msec) : sqlite3_bind_null(st, 7);
    r.serial ? sqlite3_bind_int64(st, 8, *r.serial) : sqlite3_bind_null(st, 8);
    sqlite3_bind_text(st, 9, r.profile.c_str(), -1, SQLITE_TRANSIENT);
    r.host ? sqlite3_bind_text(st, 10, r.host->c_str(), -1, SQLITE_TRANSIENT)
           : sqlite3_bind_null(st, 10);
    sqlite3_bind_blob(st, 11, r.fields.data(), static_cast<int>(r.fields.size()), SQLITE_TRANSIENT);
    ASSERT_EQ(sqlite3_step(st), SQLITE_DONE) << sqlite3_errmsg(db);
  }
  sqlite3_finalize(st);
  ASSERT_EQ(
      sqlite3_prepare_v2(db, "INSERT INTO raw_records VALUES(?1, ?2, ?3, ?4)", -1, &st, nullptr),
      SQLITE_OK);
  for (int i = 1; i <= 2; ++i) {
    const std::string& raw = i == 1 ? parsed.raw : second.raw;
    sqlite3_reset(st);
    sqlite3_bind_int(st, 1, i);
    sqlite3_bind_int(st, 2, i);
    sqlite3_bind_int(st, 3, i * 10);
    sqlite3_bind_text(st, 4, raw.c_str(), -1, SQLITE_TRANSIENT);
    ASSERT_EQ(sqlite3_step(st), SQLITE_DONE) << sqlite3_errmsg(db);
  }
  sqlite3_finalize(st);
  sqlite3_close(db);
}

TEST(StoreMigrationTest, SchemaOneFileKeepsEventsGroupsDecisionsAndChanges) {
  TempDir dir{"aatune-migrate"};
  const fs::path db = dir.path() / "v1.db";
  auto parsed = collector::parse_line(kAuditLine);
  ASSERT_TRUE(parsed);
  write_v1(db, *parsed);
  if (HasFatalFailure()) return;

  // Read-only users (status, list) are told to migrate first; the file is not touched.
  auto ro = Store::open(db.string(), {.read_only = true, .max_size_bytes = {}});
  ASSERT_FALSE(ro);
  EXPECT_EQ(ro.error().message, db.string() +
                                    ": store schema version 1 is older than this aatune's; run "
                                    "'aatune scan' first");

  auto s = Store::open(db.string());
  ASSERT_TRUE(s) << s.error().message;
  EXPECT_EQ(s->schema_version(), Store::kSchemaVersion);
  auto t = s->totals();
  ASSERT_TRUE(t);
  EXPECT_EQ(t->events, 2u);
  EXPECT_EQ(t->groups, 1u);
  EXPECT_EQ(t->sources, 2u);

  GroupFilter all;
  all.all = true;
  auto groups = s->groups(all);
  ASSERT_TRUE(groups) << groups.error().message;
  ASSERT_EQ(groups->size(), 1u);
  const Group& g = groups->front();
  EXPECT_EQ(g.key, kKey);
  EXPECT_EQ(g.profile, "aatest");
  EXPECT_EQ(g.rule_class, "file");
  EXPECT_EQ(g.count, 2u);
  EXPECT_EQ(g.first_seen, 1795424536);
  EXPECT_EQ(g.last_seen, 1795424599);
  ASSERT_EQ(g.hosts.size(), 2u);
  EXPECT_EQ(g.hosts[0].host, "");
  EXPECT_EQ(g.hosts[1].host, "web01");
  ASSERT_TRUE(g.decision);
  EXPECT_EQ(g.decision->kind, DecisionKind::kIgnored);
  EXPECT_EQ(g.decision->user, "alice");
  EXPECT_EQ(g.decision->profile_hash, "h1");
  GroupFilter open_only;
  open_only.profile_hash = [](std::string_view) { return std::optional<std::string>("h1"); };
  EXPECT_TRUE(s->groups(open_only)->empty());

  auto events = s->events_of_group(kKey);
  ASSERT_TRUE(events) << events.error().message;
  ASSERT_EQ(events->size(), 2u);
  const Event& a = (*events)[0];
  EXPECT_EQ(collector::format_aalogparse(a, "x"), collector::format_aalogparse(*parsed, "x"));
  EXPECT_EQ(a.raw, kAuditLine);
  EXPECT_EQ(a.container, Container::kAuditLog);
  EXPECT_EQ(a.trust, parsed->trust);
  EXPECT_EQ(a.record_type, 1400);
  EXPECT_FALSE(a.host);
  const Event& b = (*events)[1];
  EXPECT_EQ(b.event, parsed->event);
  EXPECT_EQ(b.container, Container::kSyslog);
  EXPECT_EQ(b.trust, collector::Trust::kKernel);
  EXPECT_EQ(b.epoch, 1795424599);
  EXPECT_FALSE(b.audit_sub_id);
  EXPECT_EQ(b.profile, "aatest");
  EXPECT_EQ(b.operation, "open");
  EXPECT_EQ(b.host, "web01");
  EXPECT_EQ(b.timestamp, "Jul 24 12:26:39");
  EXPECT_EQ(b.name2, "odd:12:val\x1f ue");
  const std::vector<std::pair<std::string, std::string>> extra{{"capname", "sys_admin"}};
  EXPECT_EQ(b.extra, extra);

  auto changes = s->changes();
  ASSERT_TRUE(changes);
  ASSERT_EQ(changes->size(), 1u);
  EXPECT_EQ(changes->front().rule, "/etc/secret r,");
  EXPECT_EQ(changes->front().reload_output, "no lsm");
  auto cp = s->find_checkpoint("file:abc");
  ASSERT_TRUE(cp && *cp);
  EXPECT_EQ((*cp)->source, "/var/log/kern.log");
  EXPECT_EQ((*cp)->offset, 5678u);

  // Dedup carries over: the migrated record is not stored again; a new one joins the group.
  Event again = *parsed;
  Event next = *collector::parse_line(
      "type=AVC msg=audit(1795424700.001:78): apparmor=\"DENIED\" operation=\"open\" "
      "class=\"file\" profile=\"aatest\" name=\"/etc/secret\" pid=161 comm=\"aa_exercise\" "
      "requested_mask=\"r\" denied_mask=\"r\" fsuid=0 ouid=0");
  const std::vector<NewRecord> batch{{"/var/log/audit/audit.log", 30, again, kKey},
                                     {"/var/log/audit/audit.log", 31, next, kKey}};
  auto r = s->ingest(batch, {}, {.events_parsed_from_raw = true});
  ASSERT_TRUE(r) << r.error().message;
  EXPECT_EQ(r->added, 1u);
  EXPECT_EQ(r->duplicates, 1u);
  groups = s->groups(all);
  ASSERT_EQ(groups->size(), 1u);
  EXPECT_EQ(groups->front().count, 3u);
  EXPECT_EQ(groups->front().last_seen, 1795424700);
  EXPECT_EQ(groups->front().hosts.front().count, 2u);
  EXPECT_EQ(s->events_of_group(kKey)->back().pid, 161u);
}

// Schema 2 as release 2 left it (what step 2 of kMigrations produces), frozen here on purpose.
constexpr const char* kSchema2 = R"sql(
CREATE TABLE sources(id INTEGER PRIMARY KEY, name TEXT NOT NULL UNIQUE,
  first_scan INTEGER NOT NULL, last_scan INTEGER NOT NULL);
CREATE TABLE checkpoints(identity TEXT PRIMARY KEY,
  source_id INTEGER NOT NULL REFERENCES sources(id), device INTEGER NOT NULL,
  inode INTEGER NOT NULL, offset INTEGER NOT NULL, line_no INTEGER NOT NULL,
  cursor TEXT NOT NULL, updated_at INTEGER NOT NULL);
CREATE TABLE group_hosts(group_id INTEGER NOT NULL REFERENCES groups(id), host TEXT NOT NULL,
  count INTEGER NOT NULL, PRIMARY KEY(group_id, host)) WITHOUT ROWID;
CREATE TABLE decisions(id INTEGER PRIMARY KEY, group_key TEXT NOT NULL,
  kind TEXT NOT NULL CHECK(kind IN ('accepted', 'denied', 'ignored', 'deferred')),
  uid INTEGER NOT NULL, user TEXT NOT NULL, at INTEGER NOT NULL, profile_hash TEXT NOT NULL);
CREATE INDEX decisions_key ON decisions(group_key, id);
CREATE TABLE applied_changes(id INTEGER PRIMARY KEY, group_key TEXT NOT NULL, rule TEXT NOT NULL,
  target_file TEXT NOT NULL, diff TEXT NOT NULL, backup_path TEXT NOT NULL,
  validated INTEGER NOT NULL, validate_output TEXT NOT NULL, reloaded INTEGER NOT NULL,
  reload_output TEXT NOT NULL, at INTEGER NOT NULL);
CREATE TABLE fingerprints(epoch INTEGER NOT NULL, fingerprint INTEGER NOT NULL,
  PRIMARY KEY(epoch, fingerprint)) WITHOUT ROWID;
CREATE TABLE records(id INTEGER PRIMARY KEY, group_id INTEGER NOT NULL REFERENCES groups(id),
  source_id INTEGER NOT NULL REFERENCES sources(id), line_no INTEGER NOT NULL,
  container INTEGER NOT NULL, trust INTEGER NOT NULL, host TEXT, raw TEXT NOT NULL, fields BLOB);
CREATE INDEX records_group ON records(group_id);
CREATE TABLE "groups"(id INTEGER PRIMARY KEY, key_hash INTEGER NOT NULL UNIQUE, key TEXT NOT NULL,
  profile TEXT NOT NULL, class TEXT NOT NULL, count INTEGER NOT NULL DEFAULT 0,
  first_seen INTEGER, last_seen INTEGER);
CREATE VIEW events AS SELECT id, group_id, container, trust, host FROM records;
PRAGMA application_id=1633768518;
PRAGMA user_version=2;
)sql";

// A schema-2 store: two records (a plain parse, fields NULL, as scan stored them), their
// fingerprints, a group with hosts, a decision and a checkpoint. Nothing moves in 2 -> 3: the rows
// stay in records and must still deduplicate against a re-scan of the same lines.
TEST(StoreMigrationTest, SchemaTwoFileKeepsRecordsAndDeduplicatesAgainstThem) {
  TempDir dir{"aatune-migrate"};
  const fs::path db = dir.path() / "v2.db";
  const std::string second_line =
      "type=AVC msg=audit(1795424537.100:78): apparmor=\"DENIED\" operation=\"open\" "
      "class=\"file\" profile=\"aatest\" name=\"/etc/secret\" pid=162 comm=\"aa_exercise\" "
      "requested_mask=\"r\" denied_mask=\"r\" fsuid=0 ouid=0";
  auto first = collector::parse_line(kAuditLine);
  auto second = collector::parse_line(second_line);
  ASSERT_TRUE(first && second);
  {
    sqlite3* raw = nullptr;
    ASSERT_EQ(sqlite3_open(db.c_str(), &raw), SQLITE_OK);
    exec(raw, kSchema2);
    // groups.key_hash is the store's hash of the key; the group row is found by it.
    exec(raw,
         "INSERT INTO sources VALUES(1, '/var/log/audit/audit.log', 10, 20);"
         "INSERT INTO checkpoints VALUES('file:abc', 1, 2049, 1234, 5678, 42, '', 20);"
         "INSERT INTO group_hosts VALUES(7, '', 2);"
         "INSERT INTO decisions VALUES(1, '" +
             kKey + "', 'ignored', 1000, 'alice', 6, 'h1');");
    sqlite3_stmt* st = nullptr;
    ASSERT_EQ(
        sqlite3_prepare_v2(raw, "INSERT INTO records VALUES(?1, 7, 1, ?2, ?3, ?4, NULL, ?5, NULL)",
                           -1, &st, nullptr),
        SQLITE_OK);
    const Event* events[] = {&*first, &*second};
    for (int i = 0; i < 2; ++i) {
      sqlite3_reset(st);
      sqlite3_bind_int(st, 1, 10 + i);
      sqlite3_bind_int(st, 2, i + 1);
      sqlite3_bind_int(st, 3, static_cast<int>(events[i]->container));
      sqlite3_bind_int(st, 4, static_cast<int>(events[i]->trust));
      sqlite3_bind_text(st, 5, events[i]->raw.c_str(), -1, SQLITE_TRANSIENT);
      ASSERT_EQ(sqlite3_step(st), SQLITE_DONE) << sqlite3_errmsg(raw);
    }
    sqlite3_finalize(st);
    ASSERT_EQ(sqlite3_prepare_v2(raw, "INSERT INTO fingerprints VALUES(?1, ?2)", -1, &st, nullptr),
              SQLITE_OK);
    for (const Event* e : events) {
      sqlite3_reset(st);
      sqlite3_bind_int64(st, 1, *e->epoch);
      sqlite3_bind_int64(st, 2, static_cast<int64_t>(record_fingerprint(*e)));
      ASSERT_EQ(sqlite3_step(st), SQLITE_DONE) << sqlite3_errmsg(raw);
    }
    sqlite3_finalize(st);
    sqlite3_close(raw);
  }
  // The group row, found by the store's key hash (aatune_key_hash(), registered only by the
  // store): taken from a scratch store that holds the same key.
  int64_t hash = 0;
  {
    const fs::path scratch = dir.path() / "scratch.db";
    {
      auto s = Store::open(scratch.string());
      ASSERT_TRUE(s);
      ASSERT_TRUE(s->ingest(std::vector<NewRecord>{{"x", 1, *first, kKey}}));
    }
    sqlite3* raw = nullptr;
    ASSERT_EQ(sqlite3_open(scratch.c_str(), &raw), SQLITE_OK);
    sqlite3_stmt* st = nullptr;
    ASSERT_EQ(sqlite3_prepare_v2(raw, "SELECT key_hash FROM groups", -1, &st, nullptr), SQLITE_OK);
    ASSERT_EQ(sqlite3_step(st), SQLITE_ROW);
    hash = sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);
    sqlite3_close(raw);
  }
  {
    sqlite3* raw = nullptr;
    ASSERT_EQ(sqlite3_open(db.c_str(), &raw), SQLITE_OK);
    exec(raw, "INSERT INTO groups VALUES(7, " + std::to_string(hash) + ", '" + kKey +
                  "', 'aatest', 'file', 2, 1795424536, 1795424537);");
    sqlite3_close(raw);
  }

  auto s = Store::open(db.string());
  ASSERT_TRUE(s) << s.error().message;
  EXPECT_EQ(s->schema_version(), Store::kSchemaVersion);
  EXPECT_EQ(s->totals()->events, 2u);
  auto cp = s->find_checkpoint("file:abc");
  ASSERT_TRUE(cp && *cp);
  EXPECT_EQ((*cp)->offset, 5678u);
  GroupFilter all;
  all.all = true;
  auto groups = s->groups(all);
  ASSERT_TRUE(groups && groups->size() == 1u);
  ASSERT_TRUE(groups->front().decision);
  EXPECT_EQ(groups->front().decision->user, "alice");
  EXPECT_EQ(groups->front().count, 2u);

  // A re-scan of the same lines plus a new one: the old rows deduplicate, the new record goes
  // into a block with an id after theirs, so it comes back last.
  const std::string third_line =
      "type=AVC msg=audit(1795424537.200:79): apparmor=\"DENIED\" operation=\"open\" "
      "class=\"file\" profile=\"aatest\" name=\"/etc/secret\" pid=163 comm=\"aa_exercise\" "
      "requested_mask=\"r\" denied_mask=\"r\" fsuid=0 ouid=0";
  auto third = collector::parse_line(third_line);
  ASSERT_TRUE(third);
  const std::vector<NewRecord> batch{{"/var/log/audit/audit.log", 1, *first, kKey},
                                     {"/var/log/audit/audit.log", 2, *second, kKey},
                                     {"/var/log/audit/audit.log", 3, *third, kKey}};
  auto r = s->ingest(batch, {}, {.events_parsed_from_raw = true});
  ASSERT_TRUE(r) << r.error().message;
  EXPECT_EQ(r->added, 1u);
  EXPECT_EQ(r->duplicates, 2u);
  auto events = s->events_of_group(kKey);
  ASSERT_TRUE(events) << events.error().message;
  ASSERT_EQ(events->size(), 3u);
  EXPECT_EQ((*events)[0].raw, kAuditLine);
  EXPECT_EQ((*events)[1].raw, second_line);
  EXPECT_EQ((*events)[2].raw, third_line);
  EXPECT_EQ(s->totals()->events, 3u);
  EXPECT_EQ(s->groups(all)->front().count, 3u);
  sqlite3* raw = nullptr;
  ASSERT_EQ(sqlite3_open(db.c_str(), &raw), SQLITE_OK);
  sqlite3_stmt* st = nullptr;
  ASSERT_EQ(sqlite3_prepare_v2(raw,
                               "SELECT (SELECT count(*) FROM events), (SELECT first_record FROM "
                               "record_blocks), (SELECT count(*) FROM records)",
                               -1, &st, nullptr),
            SQLITE_OK);
  ASSERT_EQ(sqlite3_step(st), SQLITE_ROW);
  EXPECT_EQ(sqlite3_column_int64(st, 0), 3);
  EXPECT_EQ(sqlite3_column_int64(st, 1), 12);  // After the schema-2 ids 10 and 11.
  EXPECT_EQ(sqlite3_column_int64(st, 2), 2);
  sqlite3_finalize(st);
  sqlite3_close(raw);
}

// Schema 3 → 4 adds the group_deltas and slice_index tables and drops the block_slices_group index
// (step 4 of kMigrations), so a schema-3 file is a folded schema-4 file the other way round:
// built that way from real scans (blocks,
// slices, folded counters, several hosts, a decision), it opens as schema 4 with every number
// intact, and later scans count on top of it without counting anything twice.
TEST(StoreMigrationTest, SchemaThreeFileKeepsItsCountersAndCountsOnTopOfThem) {
  TempDir dir;
  const fs::path db = dir.path() / "v3.db";
  auto line = [](uint32_t serial, int64_t epoch) {
    return "type=AVC msg=audit(" + std::to_string(epoch) + ".908:" + std::to_string(serial) +
           "): apparmor=\"DENIED\" operation=\"open\" class=\"file\" profile=\"aatest\" "
           "name=\"/etc/secret\" pid=160 comm=\"aa_exercise\" requested_mask=\"r\" "
           "denied_mask=\"r\" fsuid=0 ouid=0";
  };
  auto record = [&](uint32_t serial, int64_t epoch, std::optional<std::string> host) {
    auto e = collector::parse_line(line(serial, epoch));
    EXPECT_TRUE(e);
    NewRecord r{"/var/log/audit/audit.log", serial, e ? *e : Event{}, kKey};
    r.event.host = std::move(host);
    return r;
  };
  const IngestOptions parsed{.events_parsed_from_raw = true, .defer_group_counts = false};
  {
    auto s = Store::open(db.string());
    ASSERT_TRUE(s) << s.error().message;
    ASSERT_TRUE(s->ingest(std::vector{record(1, 1795424536, "web01"), record(2, 1795424530, "")},
                          {}, parsed));
    ASSERT_TRUE(s->ingest(std::vector{record(3, 1795424540, "web01")}, {}, parsed));
    ASSERT_TRUE(s->record_decision({kKey, DecisionKind::kIgnored, 0, "alice", 7, "h"}));
  }
  {
    sqlite3* raw = nullptr;
    ASSERT_EQ(sqlite3_open(db.c_str(), &raw), SQLITE_OK);
    downgrade_to_schema_4(raw);
    exec(raw,
         "DROP TABLE group_deltas; DROP TABLE slice_index; "
         "CREATE INDEX block_slices_group ON block_slices(group_id, block_id); "
         "PRAGMA user_version=3;");
    sqlite3_close(raw);
  }

  auto s = Store::open(db.string());
  ASSERT_TRUE(s) << s.error().message;
  EXPECT_EQ(s->schema_version(), Store::kSchemaVersion);
  GroupFilter all;
  all.all = true;
  auto groups = s->groups(all);
  ASSERT_TRUE(groups) << groups.error().message;
  ASSERT_EQ(groups->size(), 1u);
  const Group& g = groups->front();
  EXPECT_EQ(g.count, 3u);
  EXPECT_EQ(g.first_seen, std::optional<int64_t>(1795424530));
  EXPECT_EQ(g.last_seen, std::optional<int64_t>(1795424540));
  ASSERT_EQ(g.hosts.size(), 2u);
  EXPECT_EQ(g.hosts[0].host, "");
  EXPECT_EQ(g.hosts[0].count, 1u);
  EXPECT_EQ(g.hosts[1].host, "web01");
  EXPECT_EQ(g.hosts[1].count, 2u);
  ASSERT_TRUE(g.decision);
  EXPECT_EQ(g.decision->user, "alice");
  EXPECT_EQ(s->totals()->events, 3u);
  auto events = s->events_of_group(kKey);
  ASSERT_TRUE(events) << events.error().message;
  ASSERT_EQ(events->size(), 3u);
  EXPECT_EQ((*events)[2].raw, line(3, 1795424540));

  // A scan after the migration: deferred counts, one duplicate, one new record, then its fold.
  auto r = s->ingest(std::vector{record(3, 1795424540, "web01"), record(4, 1795424550, "web02")},
                     {}, {.events_parsed_from_raw = true, .defer_group_counts = true});
  ASSERT_TRUE(r) << r.error().message;
  EXPECT_EQ(r->added, 1u);
  EXPECT_EQ(r->duplicates, 1u);
  for (int fold = 0; fold < 2; ++fold) {
    SCOPED_TRACE(fold);
    auto after = s->groups(all);
    ASSERT_TRUE(after && after->size() == 1u);
    EXPECT_EQ(after->front().count, 4u);
    EXPECT_EQ(after->front().last_seen, std::optional<int64_t>(1795424550));
    ASSERT_EQ(after->front().hosts.size(), 3u);
    EXPECT_EQ(after->front().hosts[2].host, "web02");
    EXPECT_EQ(after->front().hosts[2].count, 1u);
    ASSERT_TRUE(s->fold_group_counts());
  }
}

// Records stored without their decoded fields come back as parse_line() gives them, with what
// the text cannot carry (a host the source supplied, container, trust) from their columns.
TEST(StoreMigrationTest, ReparsedRecordsEqualTheParserOutput) {
  const std::vector<std::string> lines{
      kAuditLine,
      "Jul 24 12:25:33 web01 kernel: [42416.178567] audit: type=1400 "
      "audit(1795424536.909:80): apparmor=\"DENIED\" operation=\"connect\" class=\"net\" "
      "profile=\"aatest\" pid=2 comm=\"curl\" family=\"inet\" sock_type=\"stream\" "
      "protocol=6 requested_mask=\"send receive\" denied_mask=\"send receive\" "
      "faddr=10.0.0.1 fport=443 extra_key=\"v\"",
      "type=USER_AVC msg=audit(1795424537.000:81): pid=1 uid=102 auid=4294967295 "
      "ses=4294967295 msg='apparmor=\"DENIED\" operation=\"dbus_method_call\"  "
      "bus=\"system\" path=\"/org/freedesktop/x\" interface=\"org.freedesktop.X\" "
      "member=\"Get\" mask=\"send\" name=\"org.freedesktop.X\" pid=3 label=\"aatest\" "
      "peer_pid=4 peer_label=\"unconfined\"  exe=\"/usr/bin/dbus-daemon\" sauid=102 "
      "hostname=? addr=? terminal=?'"};
  auto s = Store::open(":memory:");
  ASSERT_TRUE(s);
  std::vector<NewRecord> batch;
  std::vector<Event> expected;
  for (size_t i = 0; i < lines.size(); ++i) {
    auto e = collector::parse_line(lines[i]);
    ASSERT_TRUE(e) << lines[i];
    if (i == 0) e->host = "from-journal";  // A fallback host the source supplied.
    expected.push_back(*e);
    batch.push_back(NewRecord{"/var/log/x", i + 1, *e, "k" + std::to_string(i)});
  }
  ASSERT_TRUE(s->ingest(batch, {}, {.events_parsed_from_raw = true}));
  for (size_t i = 0; i < lines.size(); ++i) {
    auto got = s->events_of_group("k" + std::to_string(i));
    ASSERT_TRUE(got);
    ASSERT_EQ(got->size(), 1u);
    const Event& a = got->front();
    const Event& b = expected[i];
    EXPECT_EQ(collector::format_aalogparse(a, "x"), collector::format_aalogparse(b, "x"));
    EXPECT_EQ(a.event, b.event);
    EXPECT_EQ(a.container, b.container);
    EXPECT_EQ(a.trust, b.trust);
    EXPECT_EQ(a.record_type, b.record_type);
    EXPECT_EQ(a.record_type_name, b.record_type_name);
    EXPECT_EQ(a.host, b.host);
    EXPECT_EQ(a.timestamp, b.timestamp);
    EXPECT_EQ(a.sender_uid, b.sender_uid);
    EXPECT_EQ(a.extra, b.extra);
    EXPECT_EQ(a.raw, b.raw);
  }
  // An unknown key is looked up by hash and text: nothing, not another group's events.
  EXPECT_TRUE(s->events_of_group("no such key")->empty());
}

}  // namespace
}  // namespace aatune::store
