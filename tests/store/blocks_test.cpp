// Schema 3: records that are a plain parse of their text are stored in blocks (one row per batch),
// deduplicated through an in-memory set of fingerprints; events that are not go to `records`. Both
// share one id sequence, so events_of_group() returns them oldest first together.
#include <gtest/gtest.h>
#include <sqlite3.h>

#include <algorithm>
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include "collector/parser.h"
#include "store/store.h"
#include "store/support.h"

namespace aatune::store {
namespace {

using collector::Container;
using collector::Event;
using collector::Trust;
using test::sql_count;
using test::TempDir;

constexpr const char* kKey = "blocks-key";

// An audit.log record with its own serial; `epoch` moves it in time.
std::string audit_line(uint32_t serial, int64_t epoch = 1795424536,
                       const std::string& profile = "aatest") {
  return "type=AVC msg=audit(" + std::to_string(epoch) + ".908:" + std::to_string(serial) +
         "): apparmor=\"DENIED\" operation=\"open\" class=\"file\" profile=\"" + profile +
         "\" name=\"/etc/secret\" pid=160 comm=\"aa_exercise\" requested_mask=\"r\" "
         "denied_mask=\"r\" fsuid=0 ouid=0";
}

// What scan builds: parse_line of the text, plus what the source knows.
NewRecord parsed(const std::string& line, uint64_t line_no, std::string key = kKey,
                 std::string source = "/var/log/audit/audit.log") {
  auto e = collector::parse_line(line);
  EXPECT_TRUE(e) << line;
  return NewRecord{std::move(source), line_no, e ? *e : Event{}, std::move(key)};
}

constexpr IngestOptions kParsed{.events_parsed_from_raw = true};

std::vector<std::string> raws(const std::vector<Event>& events) {
  std::vector<std::string> out;
  for (const Event& e : events) out.push_back(e.raw);
  return out;
}

TEST(StoreBlocksTest, BlockRecordsComeBackByteExactInOrderWithContainerTrustHost) {
  auto s = Store::open(":memory:");
  ASSERT_TRUE(s) << s.error().message;
  std::vector<NewRecord> batch;
  // Kernel text with auditd's enrichment (bytes beyond ASCII and 0x1D kept as they are).
  batch.push_back(parsed(audit_line(3) + "\x1d"
                                         "FSUID=\"root\" OUID=\"r\xc3\xb6ot\"",
                         10));
  batch.push_back(
      parsed("Jul 24 12:25:33 web01 kernel: [42416.178567] audit: type=1400 "
             "audit(1795424536.908:2): apparmor=\"DENIED\" operation=\"open\" class=\"file\" "
             "profile=\"aatest\" name=\"/etc/secret\" pid=160 comm=\"aa_exercise\" "
             "requested_mask=\"r\" denied_mask=\"r\" fsuid=0 ouid=0",
             11, kKey, "/var/log/kern.log"));
  batch.push_back(parsed(audit_line(1), 12));
  // What the text cannot tell: watch marks netlink records as kernel; the journal gives a host.
  batch[2].event.container = Container::kNetlink;
  batch[2].event.trust = Trust::kKernel;
  batch[0].event.host = "";  // An empty host is not the same as none.
  batch[2].event.host = "journal-host";
  auto r = s->ingest(batch, {}, kParsed);
  ASSERT_TRUE(r) << r.error().message;
  EXPECT_EQ(r->added, 3u);
  EXPECT_EQ(r->duplicates, 0u);

  auto got = s->events_of_group(kKey);
  ASSERT_TRUE(got) << got.error().message;
  ASSERT_EQ(got->size(), 3u);
  for (size_t i = 0; i < 3; ++i) {
    SCOPED_TRACE(i);
    const Event& in = batch[i].event;
    const Event& out = (*got)[i];
    EXPECT_EQ(out.raw, in.raw);
    EXPECT_EQ(out.container, in.container);
    EXPECT_EQ(out.trust, in.trust);
    EXPECT_EQ(out.host, in.host);
    EXPECT_EQ(out.audit_id, in.audit_id);
    EXPECT_EQ(out.epoch, in.epoch);
    EXPECT_EQ(out.profile, in.profile);
    EXPECT_EQ(out.name, in.name);
    EXPECT_EQ(out.denied_mask, in.denied_mask);
  }
  EXPECT_EQ((*got)[0].host, std::optional<std::string>(""));
  EXPECT_EQ((*got)[1].host, std::optional<std::string>("web01"));  // From the syslog text.
  EXPECT_EQ((*got)[2].host, std::optional<std::string>("journal-host"));
  EXPECT_EQ(s->totals()->events, 3u);
}

TEST(StoreBlocksTest, LimitHoldsAcrossRecordsAndBlocksOldestFirst) {
  auto s = Store::open(":memory:");
  ASSERT_TRUE(s);
  // Ids: 1-2 in records (not a plain parse: ingested without the option), 3-5 in a block, 6 in
  // records, 7-8 in a second block; a record of another group in between.
  auto synthetic = [](uint32_t serial) {
    NewRecord r = parsed(audit_line(serial), serial);
    r.event.comm = "changed";  // No longer what its text says.
    return r;
  };
  ASSERT_TRUE(s->ingest(std::vector{synthetic(1), synthetic(2)}));
  ASSERT_TRUE(s->ingest(std::vector{parsed(audit_line(3), 3), parsed(audit_line(99), 99, "other"),
                                    parsed(audit_line(4), 4), parsed(audit_line(5), 5)},
                        {}, kParsed));
  ASSERT_TRUE(s->ingest(std::vector{synthetic(6)}));
  ASSERT_TRUE(
      s->ingest(std::vector{parsed(audit_line(7), 7), parsed(audit_line(8), 8)}, {}, kParsed));

  auto all = s->events_of_group(kKey);
  ASSERT_TRUE(all) << all.error().message;
  EXPECT_EQ(raws(*all), (std::vector{audit_line(1), audit_line(2), audit_line(3), audit_line(4),
                                     audit_line(5), audit_line(6), audit_line(7), audit_line(8)}));
  EXPECT_EQ((*all)[0].comm, std::optional<std::string>("changed"));
  EXPECT_EQ((*all)[2].comm, std::optional<std::string>("aa_exercise"));

  auto four = s->events_of_group(kKey, 4);
  ASSERT_TRUE(four);
  EXPECT_EQ(raws(*four), (std::vector{audit_line(1), audit_line(2), audit_line(3), audit_line(4)}));
  auto one = s->events_of_group(kKey, 1);
  ASSERT_TRUE(one);
  EXPECT_EQ(raws(*one), std::vector{audit_line(1)});
  auto none = s->events_of_group(kKey, 0);
  ASSERT_TRUE(none);
  EXPECT_TRUE(none->empty());
  auto other = s->events_of_group("other");
  ASSERT_TRUE(other);
  EXPECT_EQ(raws(*other), std::vector{audit_line(99)});
  EXPECT_EQ(s->totals()->events, 9u);
}

TEST(StoreBlocksTest, DedupWithinABatchAcrossBatchesAndAgainstRecords) {
  auto s = Store::open(":memory:");
  ASSERT_TRUE(s);
  // Within one batch: audit.log and kern.log carry the same kernel record.
  const std::string kern =
      "Jul 24 12:25:33 web01 kernel: [42416.178567] audit: type=1400 audit(1795424536.908:1): "
      "apparmor=\"DENIED\" operation=\"open\" class=\"file\" profile=\"aatest\" "
      "name=\"/etc/secret\" pid=160 comm=\"aa_exercise\" requested_mask=\"r\" denied_mask=\"r\" "
      "fsuid=0 ouid=0";
  auto r1 = s->ingest(std::vector{parsed(audit_line(1), 1), parsed(kern, 1, kKey, "kern.log"),
                                  parsed(audit_line(2), 2)},
                      {}, kParsed);
  ASSERT_TRUE(r1);
  EXPECT_EQ(r1->added, 2u);
  EXPECT_EQ(r1->duplicates, 1u);
  // Across batches, and a record stored outside blocks (a synthetic event) against a block.
  NewRecord synthetic = parsed(audit_line(3), 3);
  synthetic.event.comm = "changed";
  ASSERT_TRUE(s->ingest(std::vector{synthetic}));
  auto r2 = s->ingest(
      std::vector{parsed(audit_line(2), 2), parsed(audit_line(3), 3), parsed(audit_line(4), 4)}, {},
      kParsed);
  ASSERT_TRUE(r2);
  EXPECT_EQ(r2->added, 1u);
  EXPECT_EQ(r2->duplicates, 2u);
  // A block's record offered again outside blocks.
  auto r3 = s->ingest(std::vector{parsed(audit_line(4), 4)});
  ASSERT_TRUE(r3);
  EXPECT_EQ(r3->added, 0u);
  EXPECT_EQ(r3->duplicates, 1u);
  // Records without an epoch (dbus-daemon's syslog fallback) deduplicate in their own bucket.
  const std::string dbus =
      "Jul 31 17:10:35 host dbus-daemon[1692]: apparmor=\"DENIED\" operation=\"dbus_method_call\" "
      "bus=\"system\" path=\"/\" interface=\"org.freedesktop.DBus\" member=\"Hello\" "
      "mask=\"send\" name=\"org.freedesktop.DBus\" pid=1 label=\"aatest\" peer_pid=2 "
      "peer_label=\"unconfined\"";
  auto r4 = s->ingest(std::vector{parsed(dbus, 5), parsed(dbus, 6)}, {}, kParsed);
  ASSERT_TRUE(r4);
  EXPECT_EQ(r4->added, 1u);
  EXPECT_EQ(r4->duplicates, 1u);
  EXPECT_EQ(s->totals()->events, 5u);
  EXPECT_EQ(s->groups({})->front().count, 5u);
}

// Two connections (two scans at once): each keeps fingerprints in memory, and must notice what
// the other committed (PRAGMA data_version) instead of trusting what it loaded before.
TEST(StoreBlocksTest, SecondConnectionSeesTheFirstOnesCommits) {
  TempDir dir;
  const std::string db = (dir.path() / "two.db").string();
  auto a = Store::open(db);
  auto b = Store::open(db);
  ASSERT_TRUE(a && b);
  // b loads the fingerprints of this second (an empty range) through a batch of its own.
  auto rb = b->ingest(std::vector{parsed(audit_line(1), 1)}, {}, kParsed);
  ASSERT_TRUE(rb);
  EXPECT_EQ(rb->added, 1u);
  // a stores records of the same second, and one b already stored.
  auto ra = a->ingest(
      std::vector{parsed(audit_line(1), 1), parsed(audit_line(2), 2), parsed(audit_line(3), 3)}, {},
      kParsed);
  ASSERT_TRUE(ra);
  EXPECT_EQ(ra->added, 2u);
  EXPECT_EQ(ra->duplicates, 1u);
  // b, whose set predates a's commit, must not store them again.
  auto rb2 = b->ingest(
      std::vector{parsed(audit_line(2), 2), parsed(audit_line(3), 3), parsed(audit_line(4), 4)}, {},
      kParsed);
  ASSERT_TRUE(rb2);
  EXPECT_EQ(rb2->added, 1u);
  EXPECT_EQ(rb2->duplicates, 2u);
  // Nor records a stored outside blocks.
  NewRecord synthetic = parsed(audit_line(5), 5);
  synthetic.event.pid = 7;
  ASSERT_TRUE(a->ingest(std::vector{synthetic}));
  auto rb3 = b->ingest(std::vector{parsed(audit_line(5), 5)}, {}, kParsed);
  ASSERT_TRUE(rb3);
  EXPECT_EQ(rb3->duplicates, 1u);
  EXPECT_EQ(b->totals()->events, 5u);
  auto events = a->events_of_group(kKey);
  ASSERT_TRUE(events);
  EXPECT_EQ(raws(*events), (std::vector{audit_line(1), audit_line(2), audit_line(3), audit_line(4),
                                        audit_line(5)}));
  // The schema-1 view still counts every record, blocks included.
  EXPECT_EQ(sql_count(db, "SELECT count(*) FROM events"), 5);
  EXPECT_EQ(sql_count(db, "SELECT count(*) FROM record_blocks"), 3);
  EXPECT_EQ(sql_count(db, "SELECT count(*) FROM records"), 1);
}

TEST(StoreBlocksTest, RecordsOutOfTheLoadedEpochRangeStillDeduplicate) {
  TempDir dir;
  const std::string db = (dir.path() / "epochs.db").string();
  {
    auto s = Store::open(db);
    ASSERT_TRUE(s);
    ASSERT_TRUE(s->ingest(
        std::vector{parsed(audit_line(1, 1000), 1), parsed(audit_line(2, 5000), 2)}, {}, kParsed));
  }
  auto s = Store::open(db);  // A fresh connection: nothing loaded.
  ASSERT_TRUE(s);
  // First a batch of a later range, then one that reaches back into the stored block's range.
  auto r1 = s->ingest(std::vector{parsed(audit_line(3, 9000), 3)}, {}, kParsed);
  ASSERT_TRUE(r1);
  EXPECT_EQ(r1->added, 1u);
  auto r2 = s->ingest(std::vector{parsed(audit_line(2, 5000), 2), parsed(audit_line(4, 4000), 4),
                                  parsed(audit_line(1, 1000), 1)},
                      {}, kParsed);
  ASSERT_TRUE(r2);
  EXPECT_EQ(r2->added, 1u);
  EXPECT_EQ(r2->duplicates, 2u);
  EXPECT_EQ(s->totals()->events, 4u);
}

void sql_exec(const std::string& db, const char* sql) {
  sqlite3* raw = nullptr;
  ASSERT_EQ(sqlite3_open(db.c_str(), &raw), SQLITE_OK);
  ASSERT_EQ(sqlite3_exec(raw, sql, nullptr, nullptr, nullptr), SQLITE_OK) << sqlite3_errmsg(raw);
  sqlite3_close(raw);
}

// A block cut short on disk (a bad sector, a hand edit) is an error naming the file, never a
// crash, and never a silent gap: a meta blob missing its last bytes would otherwise drop those
// records from dedup and store them twice.
TEST(StoreBlocksTest, ADamagedBlockIsAnErrorNamingTheFile) {
  TempDir dir;
  const std::string db = (dir.path() / "damaged.db").string();
  {
    auto s = Store::open(db);
    ASSERT_TRUE(s);
    ASSERT_TRUE(
        s->ingest(std::vector{parsed(audit_line(1), 1), parsed(audit_line(2), 2)}, {}, kParsed));
  }
  sql_exec(db,
           "UPDATE record_blocks SET meta = substr(meta, 1, length(meta) - 3);"
           "UPDATE slice_frames SET data = substr(data, 1, length(data) - 3);");
  auto s = Store::open(db);
  ASSERT_TRUE(s);
  auto events = s->events_of_group(kKey);
  ASSERT_FALSE(events);
  EXPECT_EQ(events.error().message, db + ": a record block is damaged");
  auto r = s->ingest(std::vector{parsed(audit_line(2), 2)}, {}, kParsed);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().message, db + ": a record block is damaged");
  EXPECT_EQ(sql_count(db, "SELECT count(*) FROM record_blocks"), 1) << "nothing was written";
}

// Schema 5 keeps the slices' bytes in zstd frames: many records of one shape take a fraction of
// their text, and every record comes back byte for byte, in order, over several frames and groups.
TEST(StoreBlocksTest, SlicesAreCompressedInFramesAndComeBackByteExact) {
  TempDir dir;
  const std::string db = (dir.path() / "frames.db").string();
  std::vector<NewRecord> batch;
  std::vector<std::string> lines_a;
  std::vector<std::string> lines_b;
  size_t text_bytes = 0;
  for (uint32_t i = 1; i <= 600; ++i) {
    // Two groups interleaved, so that each spans several frames.
    const bool a = i % 3 != 0;
    std::string line = audit_line(i, 1795424536 + i, a ? "aatest" : "other");
    text_bytes += line.size();
    (a ? lines_a : lines_b).push_back(line);
    batch.push_back(parsed(line, i, a ? kKey : "other-key"));
  }
  {
    auto s = Store::open(db);
    ASSERT_TRUE(s) << s.error().message;
    ASSERT_TRUE(s->ingest(batch, {}, kParsed));
  }
  EXPECT_GT(sql_count(db, "SELECT count(*) FROM slice_frames"), 1);
  EXPECT_EQ(sql_count(db, "SELECT count(*) FROM block_slices WHERE length(records) > 0"), 0);
  const int64_t packed = sql_count(db, "SELECT sum(length(data)) FROM slice_frames");
  EXPECT_LT(packed * 3, static_cast<int64_t>(text_bytes)) << packed << " of " << text_bytes;
  auto s = Store::open(db);
  ASSERT_TRUE(s);
  auto a = s->events_of_group(kKey, lines_a.size() + 1);
  ASSERT_TRUE(a) << a.error().message;
  ASSERT_EQ(a->size(), lines_a.size());
  EXPECT_TRUE(raws(*a) == lines_a);
  auto b = s->events_of_group("other-key", 7);
  ASSERT_TRUE(b) << b.error().message;
  EXPECT_EQ(raws(*b), std::vector(lines_b.begin(), lines_b.begin() + 7));
}

// Many groups in one call give what one call per group gives, request by request: each its own
// limit, an unknown key and a limit of 0 give nothing, records of older layouts (`records` rows)
// and of several batches are merged oldest first.
TEST(StoreBlocksTest, EventsOfGroupsEqualsOneCallPerGroup) {
  auto s = Store::open(":memory:");
  ASSERT_TRUE(s);
  const std::vector<std::string> keys{"k-a", "k-b", "k-c"};
  uint32_t serial = 0;
  for (int batch = 0; batch < 3; ++batch) {
    std::vector<NewRecord> records;
    for (int n = 0; n < 5; ++n) {
      ++serial;
      records.push_back(
          parsed(audit_line(serial, 1795424536 + serial), serial, keys[serial % keys.size()]));
    }
    ASSERT_TRUE(s->ingest(records, {}, kParsed));
  }
  // A synthetic event (not a parse of its text) goes to `records`, between block records.
  ++serial;
  NewRecord synthetic = parsed(audit_line(serial, 1795424536 + serial), serial, "k-a");
  synthetic.event.comm = "not-in-the-text";
  ASSERT_TRUE(s->ingest(std::vector{synthetic}, {}, {}));
  ++serial;
  ASSERT_TRUE(s->ingest(std::vector{parsed(audit_line(serial, 1795424536 + serial), serial, "k-a")},
                        {}, kParsed));

  const std::vector<GroupSampleRequest> requests{{"k-c", 2}, {"k-a", 100}, {"missing", 5},
                                                 {"k-b", 0}, {"k-a", 3},   {"k-b", 4}};
  auto all = s->events_of_groups(requests);
  ASSERT_TRUE(all) << all.error().message;
  ASSERT_EQ(all->size(), requests.size());
  for (size_t i = 0; i < requests.size(); ++i) {
    SCOPED_TRACE(requests[i].key + " " + std::to_string(requests[i].limit));
    auto one = s->events_of_group(requests[i].key, requests[i].limit);
    ASSERT_TRUE(one);
    EXPECT_EQ(raws((*all)[i]), raws(*one));
  }
  EXPECT_EQ((*all)[0].size(), 2u);
  EXPECT_EQ((*all)[1].size(), 7u);  // 6 block records and the synthetic one
  EXPECT_TRUE((*all)[2].empty());
  EXPECT_TRUE((*all)[3].empty());
  EXPECT_EQ((*all)[4].size(), 3u);
  EXPECT_EQ((*all)[5].size(), 4u);
  const auto synthetic_at = std::ranges::find_if((*all)[1], [](const Event& e) {
    return e.comm == std::optional<std::string>("not-in-the-text");
  });
  ASSERT_NE(synthetic_at, (*all)[1].end());
  EXPECT_EQ(synthetic_at - (*all)[1].begin(), 5) << "oldest first across records and blocks";
}

// Disk full while a big batch's frames are being compressed on their own thread: the batch is
// rolled back whole (no slice without its frame), the thread is joined, earlier batches stay
// readable byte for byte.
TEST(StoreBlocksTest, DiskFullDuringABatchWithFramesKeepsEarlierBatchesWhole) {
  TempDir dir;
  const std::string db = (dir.path() / "full.db").string();
  auto s = Store::open(db, {.read_only = false, .max_size_bytes = 512 * 1024});
  ASSERT_TRUE(s) << s.error().message;
  constexpr uint32_t kGroups = 40;  // 40 slices a batch: several frames, on the thread
  uint32_t serial = 0;
  std::vector<std::vector<std::string>> stored(kGroups);
  size_t stored_count = 0;
  std::optional<StoreError> failure;
  for (int batch = 0; batch < 200 && !failure; ++batch) {
    std::vector<NewRecord> records;
    std::vector<std::vector<std::string>> lines(kGroups);
    for (int i = 0; i < 400; ++i) {
      ++serial;
      // Distinct profiles, so that the text does not compress to nothing.
      std::string line = audit_line(serial, 1795424536 + serial, "p" + std::to_string(serial));
      lines[serial % kGroups].push_back(line);
      records.push_back(parsed(line, serial, "k" + std::to_string(serial % kGroups)));
    }
    auto r = s->ingest(records, {}, kParsed);
    if (r) {
      for (uint32_t g = 0; g < kGroups; ++g) {
        stored[g].insert(stored[g].end(), lines[g].begin(), lines[g].end());
        stored_count += lines[g].size();
      }
    } else {
      failure = r.error();
    }
  }
  ASSERT_TRUE(failure.has_value()) << "the store never filled up";
  EXPECT_EQ(failure->message, db + ": write failed: database or disk is full");
  ASSERT_GT(stored_count, 0u);
  EXPECT_EQ(s->totals()->events, stored_count);
  std::vector<GroupSampleRequest> all;
  for (uint32_t g = 0; g < kGroups; ++g) all.push_back({"k" + std::to_string(g), stored_count});
  auto events = s->events_of_groups(all);
  ASSERT_TRUE(events) << events.error().message;
  for (uint32_t g = 0; g < kGroups; ++g) {
    SCOPED_TRACE(g);
    EXPECT_TRUE(raws((*events)[g]) == stored[g]);
  }
  EXPECT_GT(sql_count(db, "SELECT count(*) FROM slice_frames"),
            3 * sql_count(db, "SELECT count(*) FROM record_blocks"))
      << "the batches were written in several frames each";
  EXPECT_EQ(sql_count(db,
                      "SELECT count(*) FROM block_slices WHERE frame_id NOT IN "
                      "(SELECT id FROM slice_frames)"),
            0);
}

// A slice that points outside its frame, or at a frame that is not there, is damage.
TEST(StoreBlocksTest, ASliceOutsideItsFrameIsAnErrorNamingTheFile) {
  for (const char* damage :
       {"UPDATE block_slices SET frame_length = frame_length + 100000",
        "UPDATE block_slices SET frame_offset = -1", "DELETE FROM slice_frames",
        "UPDATE slice_frames SET data = X'00112233445566778899'"}) {
    SCOPED_TRACE(damage);
    TempDir dir;
    const std::string db = (dir.path() / "damaged.db").string();
    {
      auto s = Store::open(db);
      ASSERT_TRUE(s);
      ASSERT_TRUE(s->ingest(std::vector{parsed(audit_line(1), 1)}, {}, kParsed));
    }
    sql_exec(db, damage);
    auto s = Store::open(db);
    ASSERT_TRUE(s);
    auto events = s->events_of_group(kKey);
    ASSERT_FALSE(events);
    EXPECT_EQ(events.error().message, db + ": a record block is damaged");
  }
}

TEST(StoreBlocksTest, ProfileGroupsListsOneProfileByCountWithDecisions) {
  auto s = Store::open(":memory:");
  ASSERT_TRUE(s);
  std::vector<NewRecord> batch;
  // Keys start with profile and class (U+001F separated), as the analyzer's do.
  const std::string big =
      "aatest\x1f"
      "file\x1f"
      "big";
  const std::string small =
      "aatest\x1f"
      "file\x1f"
      "small";
  for (uint32_t i = 1; i <= 3; ++i) batch.push_back(parsed(audit_line(i), i, big));
  batch.push_back(parsed(audit_line(4), 4, small));
  batch.push_back(parsed(audit_line(5, 1795424536, "other"), 5,
                         "other\x1f"
                         "file\x1f"
                         "x"));
  batch.back().event.profile = "other";
  ASSERT_TRUE(s->ingest(batch, {}, kParsed));
  ASSERT_TRUE(s->record_decision(Decision{small, DecisionKind::kIgnored, 0, "root", 9, "h1"}));

  GroupFilter f;
  EXPECT_FALSE(s->profile_groups(f));  // A profile is required.
  f.profile = "aatest";
  auto open = s->profile_groups(f);
  ASSERT_TRUE(open) << open.error().message;
  ASSERT_EQ(open->size(), 1u);  // `small` is decided and its profile unchanged (no hash known).
  EXPECT_EQ(open->front().key, big);
  EXPECT_EQ(open->front().count, 3u);
  EXPECT_EQ(open->front().rule_class, "file");
  EXPECT_EQ(open->front().first_seen, 1795424536);
  EXPECT_TRUE(open->front().hosts.empty());

  f.profile_hash = [](std::string_view) { return std::optional<std::string>("h2"); };
  auto changed = s->profile_groups(f);
  ASSERT_TRUE(changed);
  ASSERT_EQ(changed->size(), 2u);  // The profile changed since the decision: offered again.
  EXPECT_EQ((*changed)[1].key, small);
  ASSERT_TRUE((*changed)[1].decision);
  EXPECT_EQ((*changed)[1].decision->kind, DecisionKind::kIgnored);
  EXPECT_EQ((*changed)[1].decision->profile_hash, "h1");

  f.profile_hash = nullptr;
  f.all = true;
  auto all = s->profile_groups(f);
  ASSERT_TRUE(all);
  ASSERT_EQ(all->size(), 2u);
  EXPECT_EQ((*all)[0].key, big);
  EXPECT_EQ((*all)[1].key, small);

  f.since = 1795424537;
  auto later = s->profile_groups(f);
  ASSERT_TRUE(later);
  EXPECT_TRUE(later->empty());
}

}  // namespace
}  // namespace aatune::store
