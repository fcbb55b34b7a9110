#include "store/store.h"

#include <gtest/gtest.h>
#include <sqlite3.h>
#include <sys/wait.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <random>
#include <sstream>

#include "store/support.h"

namespace aatune::store {
namespace {

namespace fs = std::filesystem;
using collector::Container;
using collector::Event;
using collector::EventType;

using test::TempDir;

std::string read_bytes(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

const std::string kBody =
    "apparmor=\"DENIED\" operation=\"open\" class=\"file\" profile=\"aatest\" "
    "name=\"/etc/secret\" pid=160 comm=\"aa_exercise\" requested_mask=\"r\" denied_mask=\"r\" "
    "fsuid=0 ouid=0";

Event file_event(uint32_t serial, Container container = Container::kAuditLog,
                 std::string profile = "aatest") {
  Event e;
  e.event = EventType::kDenied;
  e.container = container;
  e.trust = collector::Trust::kAuditDaemon;
  e.record_type = 1400;
  e.epoch = 1795424536;
  e.audit_msec = 908;
  e.audit_sub_id = serial;
  e.audit_id = "1795424536.908:" + std::to_string(serial);
  e.operation = "open";
  e.rule_class = "file";
  e.profile = profile;
  e.name = "/etc/secret";
  e.pid = 160;
  e.comm = "aa_exercise";
  e.requested_mask = "r";
  e.denied_mask = "r";
  e.fsuid = 0;
  e.ouid = 0;
  const std::string body =
      kBody.substr(0, kBody.find("aatest")) + profile + kBody.substr(kBody.find("aatest") + 6);
  if (container == Container::kSyslog) {
    e.host = "web01";
    e.timestamp = "Jul 24 12:25:33";
    e.raw = "Jul 24 12:25:33 web01 kernel: [42416.178567] audit: type=1400 audit(" + *e.audit_id +
            "): " + body;
  } else {
    e.raw = "type=AVC msg=audit(" + *e.audit_id + "): " + body +
            "\x1d"
            "FSUID=\"root\" OUID=\"root\"";
  }
  return e;
}

std::string key_of(const Event& e) {
  return e.profile.value_or("") +
         "\x1f"
         "file\x1f" +
         e.operation.value_or("") + "\x1f" + e.name.value_or("") + "\x1f" +
         e.denied_mask.value_or("");
}

NewRecord rec(const Event& e, uint64_t line, std::string source = "/var/log/audit/audit.log") {
  return NewRecord{std::move(source), line, e, key_of(e)};
}

TEST(StoreTest, FreshMemoryStoreHasCurrentSchema) {
  auto s = Store::open(":memory:");
  ASSERT_TRUE(s) << s.error().message;
  EXPECT_EQ(s->schema_version(), Store::kSchemaVersion);
  auto t = s->totals();
  ASSERT_TRUE(t);
  EXPECT_EQ(t->events, 0u);
}

TEST(StoreTest, EventRoundTripsThroughTheStore) {
  auto s = Store::open(":memory:");
  ASSERT_TRUE(s);
  Event e = file_event(10);
  e.net_family = "inet";
  e.net_foreign_port = 443;
  e.error_code = -13;
  e.ns = "root";
  e.name2 = "weird:12:value\x1f with separators";
  e.extra = {{"capname", "sys_admin"}, {"odd key", "v:1"}};
  const std::vector<NewRecord> batch{rec(e, 7)};
  auto r = s->ingest(batch);
  ASSERT_TRUE(r) << r.error().message;
  EXPECT_EQ(r->added, 1u);

  auto events = s->events_of_group(key_of(e));
  ASSERT_TRUE(events);
  ASSERT_EQ(events->size(), 1u);
  const Event& got = events->front();
  EXPECT_EQ(got.event, e.event);
  EXPECT_EQ(got.container, e.container);
  EXPECT_EQ(got.trust, e.trust);
  EXPECT_EQ(got.record_type, 1400);
  EXPECT_EQ(got.audit_id, e.audit_id);
  EXPECT_EQ(got.epoch, e.epoch);
  EXPECT_EQ(got.audit_msec, e.audit_msec);
  EXPECT_EQ(got.audit_sub_id, e.audit_sub_id);
  EXPECT_EQ(got.operation, e.operation);
  EXPECT_EQ(got.rule_class, e.rule_class);
  EXPECT_EQ(got.profile, e.profile);
  EXPECT_EQ(got.name, e.name);
  EXPECT_EQ(got.name2, e.name2);
  EXPECT_EQ(got.pid, e.pid);
  EXPECT_EQ(got.comm, e.comm);
  EXPECT_EQ(got.requested_mask, e.requested_mask);
  EXPECT_EQ(got.denied_mask, e.denied_mask);
  EXPECT_EQ(got.fsuid, e.fsuid);
  EXPECT_EQ(got.ouid, e.ouid);
  EXPECT_EQ(got.error_code, -13);
  EXPECT_EQ(got.ns, e.ns);
  EXPECT_EQ(got.net_family, e.net_family);
  EXPECT_EQ(got.net_foreign_port, 443u);
  EXPECT_FALSE(got.host.has_value());
  EXPECT_FALSE(got.peer.has_value());
  EXPECT_EQ(got.extra, e.extra);
  EXPECT_EQ(got.raw, e.raw);
}

TEST(StoreTest, SameKernelRecordFromTwoSourcesIsStoredOnce) {
  const Event audit = file_event(10, Container::kAuditLog);
  const Event syslog = file_event(10, Container::kSyslog);
  EXPECT_EQ(record_fingerprint(audit), record_fingerprint(syslog));
  EXPECT_NE(record_fingerprint(audit), record_fingerprint(file_event(11)));

  auto s = Store::open(":memory:");
  ASSERT_TRUE(s);
  const std::vector<NewRecord> a{rec(audit, 1), rec(file_event(11), 2)};
  const std::vector<NewRecord> b{rec(syslog, 1, "/var/log/kern.log")};
  auto r1 = s->ingest(a);
  auto r2 = s->ingest(b);
  ASSERT_TRUE(r1 && r2);
  EXPECT_EQ(r1->added, 2u);
  EXPECT_EQ(r2->added, 0u);
  EXPECT_EQ(r2->duplicates, 1u);
  auto groups = s->groups({});
  ASSERT_TRUE(groups);
  ASSERT_EQ(groups->size(), 1u);
  EXPECT_EQ(groups->front().count, 2u);
  EXPECT_EQ(groups->front().profile, "aatest");
  EXPECT_EQ(groups->front().rule_class, "file");
  EXPECT_EQ(groups->front().first_seen, 1795424536);
}

TEST(StoreTest, RecordsWithoutAuditIdDifferByTimeAndHost) {
  Event a;
  a.raw = "Jul 31 17:10:35 host dbus[1692]: apparmor=\"DENIED\" operation=\"dbus_method_call\"";
  a.timestamp = "Jul 31 17:10:35";
  a.host = "host";
  Event b = a;
  b.timestamp = "Jul 31 17:10:36";
  Event c = a;
  c.host = "other";
  EXPECT_NE(record_fingerprint(a), record_fingerprint(b));
  EXPECT_NE(record_fingerprint(a), record_fingerprint(c));
  EXPECT_EQ(record_fingerprint(a), record_fingerprint(Event(a)));
}

TEST(StoreTest, GroupsCountHostsAndFilterByProfileAndSince) {
  auto s = Store::open(":memory:");
  ASSERT_TRUE(s);
  Event other = file_event(20, Container::kSyslog, "other");
  other.epoch = 100;
  const std::vector<NewRecord> batch{rec(file_event(1, Container::kSyslog), 1),
                                     rec(file_event(2), 2), rec(other, 3)};
  ASSERT_TRUE(s->ingest(batch));
  auto all = s->groups({});
  ASSERT_TRUE(all);
  ASSERT_EQ(all->size(), 2u);
  EXPECT_EQ(all->at(0).profile, "aatest");
  ASSERT_EQ(all->at(0).hosts.size(), 2u);
  EXPECT_EQ(all->at(0).hosts[0].host, "");
  EXPECT_EQ(all->at(0).hosts[1].host, "web01");
  EXPECT_EQ(all->at(0).hosts[1].count, 1u);

  GroupFilter by_profile;
  by_profile.profile = "other";
  auto only = s->groups(by_profile);
  ASSERT_TRUE(only);
  ASSERT_EQ(only->size(), 1u);
  EXPECT_EQ(only->front().last_seen, 100);

  GroupFilter recent;
  recent.since = 1000;
  auto rec_groups = s->groups(recent);
  ASSERT_TRUE(rec_groups);
  ASSERT_EQ(rec_groups->size(), 1u);
  EXPECT_EQ(rec_groups->front().profile, "aatest");
}

TEST(StoreTest, IgnoredGroupStaysHiddenUntilProfileChanges) {
  auto s = Store::open(":memory:");
  ASSERT_TRUE(s);
  const Event e = file_event(1);
  const std::vector<NewRecord> first{rec(e, 1)};
  ASSERT_TRUE(s->ingest(first));
  ASSERT_TRUE(s->record_decision(
      Decision{key_of(e), DecisionKind::kIgnored, 1000, "alice", 1700000000, "hash-A"}));

  GroupFilter f;
  f.profile_hash = [](std::string_view) { return std::optional<std::string>("hash-A"); };
  ASSERT_TRUE(s->groups(f));
  EXPECT_TRUE(s->groups(f)->empty());

  // New occurrences after a log rotation do not bring it back.
  const std::vector<NewRecord> later{rec(file_event(2), 1, "/var/log/audit/audit.log.1")};
  ASSERT_TRUE(s->ingest(later));
  EXPECT_TRUE(s->groups(f)->empty());

  GroupFilter all = f;
  all.all = true;
  auto shown = s->groups(all);
  ASSERT_TRUE(shown);
  ASSERT_EQ(shown->size(), 1u);
  ASSERT_TRUE(shown->front().decision);
  EXPECT_EQ(shown->front().decision->kind, DecisionKind::kIgnored);
  EXPECT_EQ(shown->front().decision->user, "alice");
  EXPECT_EQ(shown->front().decision->uid, 1000u);
  EXPECT_EQ(shown->front().count, 2u);

  GroupFilter changed;
  changed.profile_hash = [](std::string_view) { return std::optional<std::string>("hash-B"); };
  EXPECT_EQ(s->groups(changed)->size(), 1u);

  // Deferred means "ask me later": still offered.
  ASSERT_TRUE(s->record_decision(
      Decision{key_of(e), DecisionKind::kDeferred, 1000, "alice", 1700000001, "hash-A"}));
  EXPECT_EQ(s->groups(f)->size(), 1u);
}

TEST(StoreTest, DecisionsPersistAcrossReopen) {
  TempDir dir;
  const std::string db = (dir.path() / "a.db").string();
  const Event e = file_event(1);
  {
    auto s = Store::open(db);
    ASSERT_TRUE(s) << s.error().message;
    const std::vector<NewRecord> batch{rec(e, 1)};
    ASSERT_TRUE(s->ingest(batch));
    ASSERT_TRUE(s->record_decision(Decision{key_of(e), DecisionKind::kIgnored, 0, "root", 1, "h"}));
  }
  auto s = Store::open(db, {.read_only = true, .max_size_bytes = {}});
  ASSERT_TRUE(s) << s.error().message;
  EXPECT_TRUE(s->groups({})->empty());
  EXPECT_EQ(s->totals()->events, 1u);
}

TEST(StoreTest, CheckpointsAreWrittenWithTheBatch) {
  auto s = Store::open(":memory:");
  ASSERT_TRUE(s);
  auto none = s->find_checkpoint("file:abc");
  ASSERT_TRUE(none);
  EXPECT_FALSE(none->has_value());
  const std::vector<Checkpoint> cps{
      Checkpoint{"file:abc", "/var/log/kern.log", 2049, 1234, 5678, 42, ""}};
  ASSERT_TRUE(s->ingest({}, cps));
  auto got = s->find_checkpoint("file:abc");
  ASSERT_TRUE(got && got->has_value());
  EXPECT_EQ((*got)->source, "/var/log/kern.log");
  EXPECT_EQ((*got)->device, 2049u);
  EXPECT_EQ((*got)->inode, 1234u);
  EXPECT_EQ((*got)->offset, 5678u);
  EXPECT_EQ((*got)->line_no, 42u);
  // The same file after rotation: same identity, new name.
  const std::vector<Checkpoint> moved{
      Checkpoint{"file:abc", "/var/log/kern.log.1", 2049, 1234, 9000, 50, ""}};
  ASSERT_TRUE(s->ingest({}, moved));
  got = s->find_checkpoint("file:abc");
  EXPECT_EQ((*got)->source, "/var/log/kern.log.1");
  EXPECT_EQ((*got)->offset, 9000u);
}

TEST(StoreTest, RandomBytesAreRefusedAndLeftUntouched) {
  TempDir dir;
  const fs::path db = dir.path() / "junk.db";
  std::string junk(4096, '\0');
  std::mt19937 rng(42);
  for (auto& c : junk) c = static_cast<char>(rng());
  std::ofstream(db, std::ios::binary) << junk;
  auto s = Store::open(db.string());
  ASSERT_FALSE(s);
  EXPECT_EQ(s.error().message,
            db.string() + ": file is not a database (not an aatune store); nothing changed");
  EXPECT_EQ(read_bytes(db), junk);
  EXPECT_FALSE(fs::exists(db.string() + "-wal"));
}

TEST(StoreTest, ForeignSqliteDatabaseIsRefusedAndLeftUntouched) {
  TempDir dir;
  const fs::path db = dir.path() / "foreign.db";
  {
    sqlite3* raw = nullptr;
    ASSERT_EQ(sqlite3_open(db.c_str(), &raw), SQLITE_OK);
    ASSERT_EQ(sqlite3_exec(raw,
                           "CREATE TABLE customers(id, name); INSERT INTO customers "
                           "VALUES(1, 'x');",
                           nullptr, nullptr, nullptr),
              SQLITE_OK);
    sqlite3_close(raw);
  }
  const std::string before = read_bytes(db);
  auto s = Store::open(db.string());
  ASSERT_FALSE(s);
  EXPECT_EQ(s.error().message,
            db.string() +
                ": is not an aatune database (it holds other data); nothing changed. "
                "Use --db to choose another file");
  EXPECT_EQ(read_bytes(db), before);
}

TEST(StoreTest, NewerSchemaIsRefused) {
  TempDir dir;
  const fs::path db = dir.path() / "new.db";
  { ASSERT_TRUE(Store::open(db.string())); }
  {
    sqlite3* raw = nullptr;
    ASSERT_EQ(sqlite3_open(db.c_str(), &raw), SQLITE_OK);
    ASSERT_EQ(sqlite3_exec(raw, "PRAGMA user_version=99", nullptr, nullptr, nullptr), SQLITE_OK);
    sqlite3_close(raw);
  }
  auto s = Store::open(db.string());
  ASSERT_FALSE(s);
  EXPECT_EQ(s.error().message, db.string() +
                                   ": store schema version 99 is newer than this aatune "
                                   "understands (" +
                                   std::to_string(Store::kSchemaVersion) +
                                   "); upgrade aatune or use another --db");
}

TEST(StoreTest, ReadOnlyStoreRefusesWritesAndMissingStoreIsReported) {
  TempDir dir;
  const fs::path db = dir.path() / "ro.db";
  auto missing = Store::open(db.string(), {.read_only = true, .max_size_bytes = {}});
  ASSERT_FALSE(missing);
  EXPECT_EQ(missing.error().message,
            db.string() + ": no such store (run 'aatune scan' to create it)");
  EXPECT_FALSE(fs::exists(db));
  { ASSERT_TRUE(Store::open(db.string())); }
  auto s = Store::open(db.string(), {.read_only = true, .max_size_bytes = {}});
  ASSERT_TRUE(s) << s.error().message;
  const std::vector<NewRecord> batch{rec(file_event(1), 1)};
  auto r = s->ingest(batch);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().message, db.string() + ": the store was opened read-only");
}

TEST(StoreTest, DiskFullStopsTheBatchAndKeepsEarlierCommits) {
  TempDir dir;
  const fs::path db = dir.path() / "full.db";
  auto s = Store::open(db.string(), {.read_only = false, .max_size_bytes = 256 * 1024});
  ASSERT_TRUE(s) << s.error().message;
  uint32_t serial = 0;
  uint64_t committed = 0;
  std::optional<StoreError> failure;
  for (int batch = 0; batch < 200 && !failure; ++batch) {
    std::vector<NewRecord> records;
    for (int i = 0; i < 100; ++i) {
      ++serial;
      records.push_back(rec(file_event(serial), serial));
    }
    const std::vector<Checkpoint> cp{
        Checkpoint{"file:x", "/var/log/audit/audit.log", 1, 2, serial, serial, ""}};
    auto r = s->ingest(records, cp);
    if (r) {
      committed += r->added;
    } else {
      failure = r.error();
    }
  }
  ASSERT_TRUE(failure.has_value());
  EXPECT_EQ(failure->message, db.string() + ": write failed: database or disk is full");
  EXPECT_GT(committed, 0u);
  // The failed batch left nothing: events and checkpoint agree with the last commit.
  EXPECT_EQ(s->totals()->events, committed);
  EXPECT_EQ((*s->find_checkpoint("file:x"))->offset, committed);
  EXPECT_EQ(s->groups({})->front().count, committed);

  sqlite3* raw = nullptr;
  ASSERT_EQ(sqlite3_open(db.c_str(), &raw), SQLITE_OK);
  sqlite3_stmt* st = nullptr;
  ASSERT_EQ(sqlite3_prepare_v2(raw, "PRAGMA integrity_check", -1, &st, nullptr), SQLITE_OK);
  ASSERT_EQ(sqlite3_step(st), SQLITE_ROW);
  EXPECT_STREQ(reinterpret_cast<const char*>(sqlite3_column_text(st, 0)), "ok");
  sqlite3_finalize(st);
  sqlite3_close(raw);
}

TEST(StoreTest, ReaderInAnotherProcessWorksWhileAWriterHoldsTheLock) {
  TempDir dir;
  const std::string db = (dir.path() / "wal.db").string();
  auto writer = Store::open(db);
  ASSERT_TRUE(writer) << writer.error().message;
  const std::vector<NewRecord> first{rec(file_event(1), 1)};
  ASSERT_TRUE(writer->ingest(first));

  // Hold a write transaction open on a raw connection: the writer side of WAL.
  sqlite3* raw = nullptr;
  ASSERT_EQ(sqlite3_open(db.c_str(), &raw), SQLITE_OK);
  ASSERT_EQ(sqlite3_exec(raw, "BEGIN IMMEDIATE; UPDATE group_stats SET count = count + 1000;",
                         nullptr, nullptr, nullptr),
            SQLITE_OK);

  const pid_t child = fork();
  ASSERT_GE(child, 0);
  if (child == 0) {
    auto reader = Store::open(db, {.read_only = true, .max_size_bytes = {}});
    if (!reader) _exit(10);
    auto g = reader->groups({});
    // Sees the last commit, not the open transaction.
    if (!g || g->size() != 1 || g->front().count != 1) _exit(11);
    _exit(0);
  }
  int status = 0;
  ASSERT_EQ(waitpid(child, &status, 0), child);
  ASSERT_TRUE(WIFEXITED(status));
  EXPECT_EQ(WEXITSTATUS(status), 0);
  ASSERT_EQ(sqlite3_exec(raw, "ROLLBACK", nullptr, nullptr, nullptr), SQLITE_OK);
  sqlite3_close(raw);
}

TEST(StoreTest, ConcurrentWritersFromTwoProcessesBothLand) {
  TempDir dir;
  const std::string db = (dir.path() / "two.db").string();
  { ASSERT_TRUE(Store::open(db)); }
  std::vector<pid_t> kids;
  for (uint32_t k = 0; k < 2; ++k) {
    const pid_t pid = fork();
    ASSERT_GE(pid, 0);
    if (pid == 0) {
      auto s = Store::open(db);
      if (!s) _exit(10);
      for (uint32_t b = 0; b < 20; ++b) {
        std::vector<NewRecord> records;
        for (uint32_t i = 0; i < 50; ++i) {
          const uint32_t serial = k * 100000 + b * 50 + i;
          records.push_back(rec(file_event(serial), serial));
        }
        if (!s->ingest(records)) _exit(11);
      }
      _exit(0);
    }
    kids.push_back(pid);
  }
  for (pid_t pid : kids) {
    int status = 0;
    ASSERT_EQ(waitpid(pid, &status, 0), pid);
    EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0);
  }
  auto s = Store::open(db, {.read_only = true, .max_size_bytes = {}});
  ASSERT_TRUE(s);
  EXPECT_EQ(s->totals()->events, 2000u);
  EXPECT_EQ(s->groups({})->front().count, 2000u);
}

TEST(StoreTest, AppliedChangesRoundTrip) {
  auto s = Store::open(":memory:");
  ASSERT_TRUE(s);
  AppliedChange c{0,
                  "k",
                  "/etc/secret r,",
                  "/etc/apparmor.d/local/aatest",
                  "+/etc/secret r,\n",
                  "/var/lib/aatune/backup/1",
                  true,
                  "",
                  false,
                  "no AppArmor LSM",
                  1700000000};
  auto id = s->record_change(c);
  ASSERT_TRUE(id);
  auto all = s->changes();
  ASSERT_TRUE(all);
  ASSERT_EQ(all->size(), 1u);
  EXPECT_EQ(all->front().id, *id);
  EXPECT_EQ(all->front().rule, "/etc/secret r,");
  EXPECT_EQ(all->front().target_file, "/etc/apparmor.d/local/aatest");
  EXPECT_EQ(all->front().diff, "+/etc/secret r,\n");
  EXPECT_TRUE(all->front().validated);
  EXPECT_FALSE(all->front().reloaded);
  EXPECT_EQ(all->front().reload_output, "no AppArmor LSM");
}

TEST(StoreTest, DefaultLocation) {
  EXPECT_EQ(default_db_path({0, "/x", "/root"}), "/var/lib/aatune/aatune.db");
  EXPECT_EQ(default_db_path({1000, "/home/a/.state", "/home/a"}),
            "/home/a/.state/aatune/aatune.db");
  // The XDG spec says a relative value is invalid and must be ignored.
  EXPECT_EQ(default_db_path({1000, "rel", "/home/a"}), "/home/a/.local/state/aatune/aatune.db");
  EXPECT_EQ(default_db_path({1000, std::nullopt, std::nullopt}), "");
}

TEST(StoreTest, DecisionKindNames) {
  EXPECT_EQ(to_string(DecisionKind::kIgnored), "ignored");
  EXPECT_EQ(decision_kind_from_string("accepted"), DecisionKind::kAccepted);
  EXPECT_EQ(decision_kind_from_string("maybe"), std::nullopt);
}

}  // namespace
}  // namespace aatune::store
