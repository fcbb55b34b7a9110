// Schema 4: a scan's group counters are per-batch deltas (group_deltas; since schema 6 one blob
// per batch behind that view) folded once at the end
// (Store::fold_group_counts). Readers add the deltas not folded yet, so every number is the same
// before and after a fold, after a crash between a batch and the fold, and with two writers.
#include <gtest/gtest.h>
#include <sqlite3.h>
#include <sys/wait.h>
#include <unistd.h>

#include <string>
#include <vector>

#include "collector/parser.h"
#include "store/delta_batch.h"
#include "store/store.h"
#include "store/support.h"

namespace aatune::store {
namespace {

using collector::Event;
using test::sql_count;
using test::TempDir;

constexpr IngestOptions kDeferred{.events_parsed_from_raw = true, .defer_group_counts = true};
constexpr IngestOptions kFolded{.events_parsed_from_raw = true, .defer_group_counts = false};

std::string audit_line(uint32_t serial, int64_t epoch, const std::string& profile,
                       const std::string& name) {
  return "type=AVC msg=audit(" + std::to_string(epoch) + ".908:" + std::to_string(serial) +
         "): apparmor=\"DENIED\" operation=\"open\" class=\"file\" profile=\"" + profile +
         "\" name=\"" + name + "\" pid=160 comm=\"aa_exercise\" requested_mask=\"r\" " +
         "denied_mask=\"r\" fsuid=0 ouid=0";
}

// A record as scan builds it; the key's first two fields are profile and class.
NewRecord record(uint32_t serial, int64_t epoch, const std::string& profile,
                 const std::string& name, std::optional<std::string> host = std::nullopt) {
  const std::string line = audit_line(serial, epoch, profile, name);
  auto e = collector::parse_line(line);
  EXPECT_TRUE(e) << line;
  NewRecord r{"/var/log/audit/audit.log", serial, e ? *e : Event{},
              profile +
                  "\x1f"
                  "file\x1f" +
                  name};
  r.event.host = std::move(host);
  return r;
}

// Three batches over three groups of two profiles: a group in every batch, several hosts in one
// batch, a group first seen in the last batch, and a duplicate.
std::vector<std::vector<NewRecord>> batches() {
  return {
      {record(1, 1000, "p1", "/a", "web01"), record(2, 1005, "p1", "/a", "web02"),
       record(3, 1001, "p1", "/b")},
      {record(4, 990, "p1", "/a", "web01"), record(5, 1010, "p1", "/b"),
       record(3, 1001, "p1", "/b")},
      {record(6, 1020, "p1", "/a", "web02"), record(7, 1030, "p2", "/c", "db01"),
       record(8, 1031, "p2", "/c", "db01")},
  };
}

struct Seen {
  std::string key;
  uint64_t count;
  std::optional<int64_t> first;
  std::optional<int64_t> last;
  std::vector<std::pair<std::string, uint64_t>> hosts;
  bool operator==(const Seen&) const = default;
};

std::vector<Seen> seen(Store& s) {
  auto g = s.groups({});
  EXPECT_TRUE(g) << g.error().message;
  std::vector<Seen> out;
  for (const Group& x : g.value_or(std::vector<Group>{})) {
    Seen v{x.key, x.count, x.first_seen, x.last_seen, {}};
    for (const auto& h : x.hosts) v.hosts.emplace_back(h.host, h.count);
    out.push_back(std::move(v));
  }
  return out;
}

// What the three batches hold, by hand.
const std::vector<Seen> kExpected{
    {"p1\x1f"
     "file\x1f/a",
     4,
     990,
     1020,
     {{"web01", 2}, {"web02", 2}}},
    {"p1\x1f"
     "file\x1f/b",
     2,
     1001,
     1010,
     {{"", 2}}},
    {"p2\x1f"
     "file\x1f/c",
     2,
     1030,
     1031,
     {{"db01", 2}}},
};

GroupFilter of(const std::string& profile) {
  GroupFilter f;
  f.profile = profile;
  return f;
}

void expect_numbers(Store& s) {
  EXPECT_EQ(seen(s), kExpected);
  // The slices are found whether indexed by a fold or not yet, oldest first.
  auto a = s.events_of_group(
      "p1\x1f"
      "file\x1f/a");
  ASSERT_TRUE(a) << a.error().message;
  std::vector<std::string> lines;
  for (const Event& e : *a) lines.push_back(e.raw);
  EXPECT_EQ(lines, (std::vector{audit_line(1, 1000, "p1", "/a"), audit_line(2, 1005, "p1", "/a"),
                                audit_line(4, 990, "p1", "/a"), audit_line(6, 1020, "p1", "/a")}));
  ASSERT_EQ(a->size(), 4u);
  EXPECT_EQ((*a)[1].host, std::optional<std::string>("web02"));
  auto c = s.events_of_group(
      "p2\x1f"
      "file\x1f/c",
      1);
  ASSERT_TRUE(c) << c.error().message;
  ASSERT_EQ(c->size(), 1u);
  EXPECT_EQ(c->front().raw, audit_line(7, 1030, "p2", "/c"));
  auto t = s.totals();
  ASSERT_TRUE(t) << t.error().message;
  EXPECT_EQ(t->events, 8u);
  EXPECT_EQ(t->groups, 3u);
  auto p = s.profile_groups(of("p1"));
  ASSERT_TRUE(p) << p.error().message;
  ASSERT_EQ(p->size(), 2u);
  EXPECT_EQ((*p)[0].count, 4u);
  EXPECT_EQ((*p)[0].first_seen, std::optional<int64_t>(990));
  EXPECT_EQ((*p)[0].last_seen, std::optional<int64_t>(1020));
  EXPECT_EQ((*p)[1].count, 2u);
  auto sum = s.profile_summaries(SummaryFilter{});
  ASSERT_TRUE(sum) << sum.error().message;
  ASSERT_EQ(sum->size(), 2u);
  EXPECT_EQ((*sum)[0].profile, "p1");
  EXPECT_EQ((*sum)[0].events, 6u);
  EXPECT_EQ((*sum)[0].open, 2u);
  EXPECT_EQ((*sum)[0].last_seen, std::optional<int64_t>(1020));
  EXPECT_EQ((*sum)[1].events, 2u);
}

TEST(StoreGroupCountsTest, CountsAreReadAcrossTheUnfoldedDeltasAndFoldIsIdempotent) {
  TempDir dir;
  const std::string db = (dir.path() / "deltas.db").string();
  auto s = Store::open(db);
  ASSERT_TRUE(s) << s.error().message;
  for (const auto& b : batches()) {
    auto r = s->ingest(b, {}, kDeferred);
    ASSERT_TRUE(r) << r.error().message;
  }
  // New groups are written with their first batch's counts; later batches leave deltas. Every
  // slice has a row (count 0 for a group its batch created): the fold indexes the slices.
  EXPECT_EQ(sql_count(db, "SELECT count(*) FROM group_deltas WHERE count > 0"), 3);
  EXPECT_EQ(sql_count(db, "SELECT count(*) FROM group_deltas"), 6);
  EXPECT_EQ(sql_count(db, "SELECT count(*) FROM slice_index"), 0);
  EXPECT_EQ(sql_count(db, "SELECT sum(count) FROM group_stats"), 5);
  expect_numbers(*s);
  {
    // A read-only reader (status, list, the TUI) sees the same.
    auto ro = Store::open(db, {.read_only = true, .max_size_bytes = {}});
    ASSERT_TRUE(ro) << ro.error().message;
    expect_numbers(*ro);
  }

  ASSERT_TRUE(s->fold_group_counts());
  EXPECT_EQ(sql_count(db, "SELECT count(*) FROM group_deltas"), 0);
  EXPECT_EQ(sql_count(db, "SELECT sum(count) FROM group_stats"), 8);
  EXPECT_EQ(sql_count(db, "SELECT count(*) FROM slice_index"), 6);
  expect_numbers(*s);
  ASSERT_TRUE(s->fold_group_counts());  // Nothing pending: changes nothing.
  EXPECT_EQ(sql_count(db, "SELECT sum(count) FROM group_stats"), 8);
  EXPECT_EQ(sql_count(db, "SELECT sum(count) FROM group_hosts"), 8);
  expect_numbers(*s);
}

TEST(StoreGroupCountsTest, FoldedPerBatchAndDeferredGiveTheSameNumbers) {
  auto folded = Store::open(":memory:");
  ASSERT_TRUE(folded);
  for (const auto& b : batches()) ASSERT_TRUE(folded->ingest(b, {}, kFolded));
  expect_numbers(*folded);
}

// SIGKILL after the last batch's commit and before the fold: nothing is lost or counted twice,
// and the next scan's fold completes the counters.
TEST(StoreGroupCountsTest, CrashBetweenBatchAndFoldKeepsTheNumbers) {
  TempDir dir;
  const std::string db = (dir.path() / "crash.db").string();
  const auto all = batches();
  const pid_t child = fork();
  ASSERT_GE(child, 0);
  if (child == 0) {
    auto s = Store::open(db);
    if (!s) _exit(10);
    for (const auto& b : all) {
      if (!s->ingest(b, {}, kDeferred)) _exit(11);
    }
    kill(getpid(), SIGKILL);
    _exit(12);
  }
  int status = 0;
  ASSERT_EQ(waitpid(child, &status, 0), child);
  ASSERT_TRUE(WIFSIGNALED(status));
  EXPECT_EQ(WTERMSIG(status), SIGKILL);

  EXPECT_EQ(sql_count(db, "SELECT count(*) FROM group_deltas WHERE count > 0"), 3);
  {
    auto ro = Store::open(db, {.read_only = true, .max_size_bytes = {}});
    ASSERT_TRUE(ro) << ro.error().message;
    expect_numbers(*ro);
  }
  auto s = Store::open(db);
  ASSERT_TRUE(s) << s.error().message;
  // The re-scan: every record a duplicate, then its fold.
  for (const auto& b : all) {
    auto r = s->ingest(b, {}, kDeferred);
    ASSERT_TRUE(r) << r.error().message;
    EXPECT_EQ(r->added, 0u);
  }
  ASSERT_TRUE(s->fold_group_counts());
  EXPECT_EQ(sql_count(db, "SELECT count(*) FROM group_deltas"), 0);
  expect_numbers(*s);
}

// Schema 5 kept one group_deltas row per (slice, host); schema 6 one blob per batch. A schema-5
// file left with pending rows (a scan killed before its fold) opens as schema 6 with the same
// numbers, the rows are counted until a fold takes them once, and later batches add blobs beside.
TEST(StoreGroupCountsTest, PendingDeltaRowsOfSchemaFiveAreCountedAndFoldedOnce) {
  TempDir dir;
  const std::string db = (dir.path() / "v5.db").string();
  const auto all = batches();
  {
    auto s = Store::open(db);
    ASSERT_TRUE(s) << s.error().message;
    ASSERT_TRUE(s->ingest(all[0], {}, kDeferred));
    ASSERT_TRUE(s->ingest(all[1], {}, kDeferred));
  }
  {
    // The pending blobs as schema 5's rows, and the file back to schema 5.
    sqlite3* raw = nullptr;
    ASSERT_EQ(sqlite3_open(db.c_str(), &raw), SQLITE_OK);
    ASSERT_EQ(internal::register_delta_batch_function(raw), SQLITE_OK);
    char* err = nullptr;
    ASSERT_EQ(sqlite3_exec(raw,
                           "INSERT INTO group_delta_rows(slice_id, group_id, host, count, "
                           "first_seen, last_seen) SELECT d.slice_id, d.group_id, d.host, d.count, "
                           "d.first_seen, d.last_seen FROM group_delta_batches AS b, "
                           "aatune_deltas(b.deltas) AS d; "
                           "DROP VIEW group_deltas; DROP TABLE group_delta_batches; "
                           "ALTER TABLE group_delta_rows RENAME TO group_deltas; "
                           "PRAGMA user_version=5;",
                           nullptr, nullptr, &err),
              SQLITE_OK)
        << (err ? err : "");
    sqlite3_close(raw);
  }
  EXPECT_EQ(sql_count(db, "SELECT count(*) FROM group_deltas WHERE count > 0"), 2);
  auto s = Store::open(db);
  ASSERT_TRUE(s) << s.error().message;
  EXPECT_EQ(s->schema_version(), Store::kSchemaVersion);
  EXPECT_EQ(sql_count(db, "SELECT count(*) FROM group_delta_rows WHERE count > 0"), 2);
  ASSERT_TRUE(s->ingest(all[2], {}, kDeferred));
  EXPECT_EQ(sql_count(db, "SELECT count(*) FROM group_delta_batches"), 1);
  expect_numbers(*s);
  ASSERT_TRUE(s->fold_group_counts());
  EXPECT_EQ(sql_count(db, "SELECT count(*) FROM group_delta_rows"), 0);
  EXPECT_EQ(sql_count(db, "SELECT count(*) FROM group_delta_batches"), 0);
  expect_numbers(*s);
}

// A pending delta batch cut short on disk: the fold refuses it by name and writes nothing, and a
// reader gets an error, never counts that silently leave the batch's deltas out.
TEST(StoreGroupCountsTest, ADamagedDeltaBatchIsAnErrorToTheFoldAndToReaders) {
  TempDir dir;
  const std::string db = (dir.path() / "damaged.db").string();
  const auto all = batches();
  {
    auto s = Store::open(db);
    ASSERT_TRUE(s) << s.error().message;
    for (const auto& b : all) ASSERT_TRUE(s->ingest(b, {}, kDeferred));
  }
  {
    sqlite3* raw = nullptr;
    ASSERT_EQ(sqlite3_open(db.c_str(), &raw), SQLITE_OK);
    char* err = nullptr;
    ASSERT_EQ(sqlite3_exec(raw,
                           "UPDATE group_delta_batches SET deltas = substr(deltas, 1, "
                           "length(deltas) - 2) WHERE id = (SELECT max(id) FROM "
                           "group_delta_batches WHERE length(deltas) > 8)",
                           nullptr, nullptr, &err),
              SQLITE_OK)
        << (err ? err : "");
    ASSERT_EQ(sqlite3_changes(raw), 1);
    sqlite3_close(raw);
  }
  const int64_t stats_before = sql_count(db, "SELECT sum(count) FROM group_stats");
  auto s = Store::open(db);
  ASSERT_TRUE(s) << s.error().message;
  auto f = s->fold_group_counts();
  ASSERT_FALSE(f);
  EXPECT_EQ(f.error().message, db + ": a group delta batch is damaged");
  EXPECT_EQ(sql_count(db, "SELECT sum(count) FROM group_stats"), stats_before);
  EXPECT_EQ(sql_count(db, "SELECT count(*) FROM group_delta_batches"), 3);
  auto g = s->groups({});
  ASSERT_FALSE(g) << "counts read past a damaged batch";
  // SQLITE_CORRUPT from aatune_deltas(), under the store's own message.
  EXPECT_EQ(g.error().message, db + ": cannot read hosts: database disk image is malformed");
}

// A writer that folds in its own batches (watch) folds another connection's pending deltas too,
// once; the deferring connection's later fold finds nothing left.
TEST(StoreGroupCountsTest, AnotherWritersFoldTakesPendingDeltasOnce) {
  TempDir dir;
  const std::string db = (dir.path() / "two.db").string();
  auto scan = Store::open(db);
  auto watch = Store::open(db);
  ASSERT_TRUE(scan && watch);
  const auto all = batches();
  ASSERT_TRUE(scan->ingest(all[0], {}, kDeferred));
  ASSERT_TRUE(scan->ingest(all[1], {}, kDeferred));
  ASSERT_TRUE(watch->ingest(all[2], {}, kFolded));
  EXPECT_EQ(sql_count(db, "SELECT count(*) FROM group_deltas"), 0);
  expect_numbers(*scan);
  ASSERT_TRUE(scan->fold_group_counts());
  expect_numbers(*scan);
  expect_numbers(*watch);
}

TEST(StoreGroupCountsTest, FoldWithNothingPendingWritesNothingEvenReadOnly) {
  TempDir dir;
  const std::string db = (dir.path() / "idle.db").string();
  {
    auto s = Store::open(db);
    ASSERT_TRUE(s);
    ASSERT_TRUE(s->ingest(batches()[0], {}, kFolded));
  }
  auto ro = Store::open(db, {.read_only = true, .max_size_bytes = {}});
  ASSERT_TRUE(ro);
  EXPECT_TRUE(ro->fold_group_counts());
}

TEST(StoreGroupCountsTest, FoldOnAReadOnlyStoreIsRefused) {
  TempDir dir;
  const std::string db = (dir.path() / "ro.db").string();
  {
    auto s = Store::open(db);
    ASSERT_TRUE(s);
    ASSERT_TRUE(s->ingest(batches()[0], {}, kDeferred));
  }
  auto ro = Store::open(db, {.read_only = true, .max_size_bytes = {}});
  ASSERT_TRUE(ro);
  auto f = ro->fold_group_counts();
  ASSERT_FALSE(f);
  EXPECT_EQ(f.error().message, db + ": the store was opened read-only");
}

// Store::profile_groups: the TUI's groups screen. One profile's groups, most frequent first (ties
// by key), decided ones hidden until the profile changes or `all`, `since` on last seen, no hosts.
TEST(StoreGroupCountsTest, ProfileGroupsListsOneProfileMostFrequentFirst) {
  auto s = Store::open(":memory:");
  ASSERT_TRUE(s);
  for (const auto& b : batches()) ASSERT_TRUE(s->ingest(b, {}, kDeferred));
  ASSERT_TRUE(s->ingest(std::vector{record(9, 1040, "p1", "/0")}, {}, kDeferred));

  auto keys = [](const std::vector<Group>& groups) {
    std::vector<std::string> out;
    for (const Group& g : groups) out.push_back(g.key);
    return out;
  };
  auto p1 = s->profile_groups(of("p1"));
  ASSERT_TRUE(p1) << p1.error().message;
  EXPECT_EQ(keys(*p1), (std::vector<std::string>{"p1\x1f"
                                                 "file\x1f/a",
                                                 "p1\x1f"
                                                 "file\x1f/b",
                                                 "p1\x1f"
                                                 "file\x1f/0"}));
  EXPECT_EQ((*p1)[0].profile, "p1");
  EXPECT_EQ((*p1)[0].rule_class, "file");
  EXPECT_TRUE((*p1)[0].hosts.empty());
  EXPECT_FALSE((*p1)[0].decision);
  GroupFilter since = of("p1");
  since.since = 1015;
  auto recent = s->profile_groups(since);
  ASSERT_TRUE(recent);
  EXPECT_EQ(keys(*recent), (std::vector<std::string>{"p1\x1f"
                                                     "file\x1f/a",
                                                     "p1\x1f"
                                                     "file\x1f/0"}));
  auto none = s->profile_groups(of("nobody"));
  ASSERT_TRUE(none);
  EXPECT_TRUE(none->empty());
  auto missing = s->profile_groups(GroupFilter{});
  ASSERT_FALSE(missing);
  EXPECT_EQ(missing.error().message, ":memory:: no profile to list");

  ASSERT_TRUE(
      s->record_decision({"p1\x1f"
                          "file\x1f/b",
                          DecisionKind::kIgnored, 0, "root", 5, "hash-1"}));
  GroupFilter same = of("p1");
  same.profile_hash = [](std::string_view) { return std::optional<std::string>("hash-1"); };
  auto open = s->profile_groups(same);
  ASSERT_TRUE(open);
  EXPECT_EQ(keys(*open), (std::vector<std::string>{"p1\x1f"
                                                   "file\x1f/a",
                                                   "p1\x1f"
                                                   "file\x1f/0"}));
  same.all = true;
  auto all = s->profile_groups(same);
  ASSERT_TRUE(all);
  ASSERT_EQ(all->size(), 3u);
  ASSERT_TRUE((*all)[1].decision);
  EXPECT_EQ((*all)[1].decision->kind, DecisionKind::kIgnored);
  EXPECT_EQ((*all)[1].decision->profile_hash, "hash-1");
  // The profile changed on disk since the decision: offered again.
  GroupFilter changed_filter = of("p1");
  changed_filter.profile_hash = [](std::string_view) {
    return std::optional<std::string>("hash-2");
  };
  auto changed = s->profile_groups(changed_filter);
  ASSERT_TRUE(changed);
  EXPECT_EQ(changed->size(), 3u);
}

}  // namespace
}  // namespace aatune::store
