// Store::profile_summaries(): the per-profile aggregate behind the TUI's first screen and
// `aatune status`. Its open/decided split must agree with groups() group by group.
#include <gtest/gtest.h>

#include <algorithm>
#include <map>
#include <string>
#include <vector>

#include "store/store.h"

namespace aatune::store {
namespace {

using collector::Container;
using collector::Event;
using collector::EventType;

// One denial of `profile` on `path` at `epoch`; `serial` keeps records apart.
Event denial(const std::string& profile, const std::string& path, int64_t epoch, uint32_t serial,
             const std::string& rule_class = "file") {
  Event e;
  e.event = rule_class == "status" ? EventType::kStatus : EventType::kDenied;
  e.container = Container::kAuditLog;
  e.trust = collector::Trust::kAuditDaemon;
  e.record_type = 1400;
  e.epoch = epoch;
  e.audit_msec = 0;
  e.audit_sub_id = serial;
  e.audit_id = std::to_string(epoch) + ".000:" + std::to_string(serial);
  e.operation = rule_class == "status" ? "profile_load" : "open";
  e.rule_class = rule_class;
  e.profile = profile;
  e.name = path;
  e.raw = "type=AVC msg=audit(" + *e.audit_id + "): apparmor=\"DENIED\" operation=\"" +
          *e.operation + "\" profile=\"" + profile + "\" name=\"" + path + "\"";
  return e;
}

std::string key_of(const Event& e) {
  return *e.profile + "\x1f" + e.rule_class.value_or("") + "\x1f" + *e.operation + "\x1f" + *e.name;
}

class ProfileSummaryTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto s = Store::open(":memory:");
    ASSERT_TRUE(s) << s.error().message;
    store_.emplace(std::move(*s));
  }

  // Adds `n` records of one group; returns its key.
  std::string add(const std::string& profile, const std::string& path, int64_t epoch, int n = 1,
                  const std::string& rule_class = "file") {
    std::vector<NewRecord> batch;
    std::string key;
    for (int i = 0; i < n; ++i) {
      const Event e = denial(profile, path, epoch + i, ++serial_, rule_class);
      key = key_of(e);
      batch.push_back(NewRecord{"audit.log", serial_, e, key});
    }
    auto r = store_->ingest(batch);
    EXPECT_TRUE(r) << r.error().message;
    return key;
  }
  void decide(const std::string& key, DecisionKind kind, const std::string& hash) {
    auto r = store_->record_decision(Decision{key, kind, 0, "root", 1700000000, hash});
    ASSERT_TRUE(r) << r.error().message;
  }

  std::optional<Store> store_;
  uint32_t serial_ = 0;
};

TEST_F(ProfileSummaryTest, EmptyStoreHasNoRows) {
  auto s = store_->profile_summaries({});
  ASSERT_TRUE(s) << s.error().message;
  EXPECT_TRUE(s->empty());
}

TEST_F(ProfileSummaryTest, CountsGroupsEventsAndLastSeenPerProfile) {
  add("b", "/etc/one", 1000, 3);
  add("b", "/etc/two", 1500, 2);
  add("a", "/etc/one", 1200, 1);
  auto s = store_->profile_summaries({});
  ASSERT_TRUE(s) << s.error().message;
  ASSERT_EQ(s->size(), 2u);
  EXPECT_EQ(s->at(0).profile, "a");
  EXPECT_EQ(s->at(0).open, 1u);
  EXPECT_EQ(s->at(0).decided, 0u);
  EXPECT_EQ(s->at(0).events, 1u);
  EXPECT_EQ(s->at(0).last_seen, 1200);
  EXPECT_TRUE(s->at(0).activity.empty());
  EXPECT_EQ(s->at(1).profile, "b");
  EXPECT_EQ(s->at(1).open, 2u);
  EXPECT_EQ(s->at(1).events, 5u);
  EXPECT_EQ(s->at(1).last_seen, 1501);
}

// Issue 6: policy loads are logged with a profile too, but they are not denials. `aatune status`
// listed "unconfined" with open groups because of them.
TEST_F(ProfileSummaryTest, StatusRecordsAreNotDenials) {
  add("unconfined", "/usr/sbin/cupsd", 1000, 4, "status");
  add("cupsd", "/etc/cups", 2000, 1);
  add("cupsd", "/usr/sbin/cupsd", 5000, 1, "status");
  SummaryFilter f;
  f.buckets = 2;
  auto s = store_->profile_summaries(f);
  ASSERT_TRUE(s) << s.error().message;
  ASSERT_EQ(s->size(), 1u);
  EXPECT_EQ(s->at(0).profile, "cupsd");
  EXPECT_EQ(s->at(0).open, 1u);
  EXPECT_EQ(s->at(0).events, 1u);
  EXPECT_EQ(s->at(0).last_seen, 2000);  // the later policy load is not "seen"
  // Nor does it stretch the span: the one denial is all of it.
  EXPECT_EQ(s->at(0).activity, (std::vector<uint64_t>{1, 0}));
}

// The sparkline: the span of all profiles' last_seen cut into buckets; the last bucket holds the
// latest instant only (the TUI's bucketing since session 2).
TEST_F(ProfileSummaryTest, ActivityBucketsSpanAllProfiles) {
  add("a", "/1", 0, 2);     // last seen 1
  add("a", "/2", 351, 3);   // last seen 353
  add("b", "/1", 699, 1);   // last seen 699
  add("b", "/2", 701, 4);   // last seen 704
  add("b", "/3", 1000, 5);  // last seen 1004
  SummaryFilter f;
  f.buckets = 4;
  auto s = store_->profile_summaries(f);
  ASSERT_TRUE(s) << s.error().message;
  ASSERT_EQ(s->size(), 2u);
  // lo 1, width 1003: (last - 1) * 3 / 1003 → 0, 1, 2, 2, 3.
  EXPECT_EQ(s->at(0).activity, (std::vector<uint64_t>{2, 3, 0, 0}));
  EXPECT_EQ(s->at(1).activity, (std::vector<uint64_t>{0, 0, 5, 5}));

  f.since = 700;  // the span is that of the groups counted
  s = store_->profile_summaries(f);
  ASSERT_TRUE(s) << s.error().message;
  ASSERT_EQ(s->size(), 1u);
  EXPECT_EQ(s->at(0).profile, "b");
  EXPECT_EQ(s->at(0).open, 2u);
  EXPECT_EQ(s->at(0).events, 9u);
  // lo 704, width 300: 0 and 3.
  EXPECT_EQ(s->at(0).activity, (std::vector<uint64_t>{4, 0, 0, 5}));

  f.buckets = 1;
  f.since.reset();
  s = store_->profile_summaries(f);
  ASSERT_TRUE(s) << s.error().message;
  EXPECT_EQ(s->at(1).activity, (std::vector<uint64_t>{10}));
}

// Mixed decisions: none, deferred, ignored/accepted/denied about the current or an older version
// of the profile, without a hash, superseded ones, and one about a key that is not stored.
TEST_F(ProfileSummaryTest, OpenAndDecidedAgreeWithGroupsGroupByGroup) {
  std::vector<std::string> keys;
  for (const std::string p : {"p1", "p2", "p3"}) {
    for (int i = 0; i < 7; ++i) keys.push_back(add(p, "/f" + std::to_string(i), 100 * i, i + 1));
  }
  add("p1", "/usr/sbin/p1", 50, 1, "status");
  const std::map<std::string, std::string> current{{"p1", "h1"}, {"p2", "h2"}};  // p3: unknown
  int n = 0;
  for (const auto& k : keys) {
    const std::string p = k.substr(0, 2);
    const std::string cur = current.contains(p) ? current.at(p) : "hx";
    switch (n++ % 7) {
      case 0:
        break;  // no decision: open
      case 1:
        decide(k, DecisionKind::kDeferred, cur);  // open
        break;
      case 2:
        decide(k, DecisionKind::kIgnored, cur);  // holds
        break;
      case 3:
        decide(k, DecisionKind::kAccepted, "old");  // open again where the hash is known
        break;
      case 4:
        decide(k, DecisionKind::kDenied, "");  // no hash: holds
        break;
      case 5:
        decide(k, DecisionKind::kIgnored, cur);  // superseded by a deferral: open
        decide(k, DecisionKind::kDeferred, cur);
        break;
      case 6:
        decide(k, DecisionKind::kDeferred, cur);  // superseded by an acceptance: holds
        decide(k, DecisionKind::kAccepted, cur);
        break;
    }
  }
  decide(
      "p1\x1f"
      "file\x1fopen\x1f/not/stored",
      DecisionKind::kIgnored, "h1");

  std::vector<std::string> asked;
  SummaryFilter f;
  f.profile_hash = [&](std::string_view p) -> std::optional<std::string> {
    asked.emplace_back(p);
    const auto it = current.find(std::string(p));
    return it == current.end() ? std::nullopt : std::optional(it->second);
  };
  auto s = store_->profile_summaries(f);
  ASSERT_TRUE(s) << s.error().message;
  ASSERT_EQ(s->size(), 3u);
  std::ranges::sort(asked);
  EXPECT_EQ(asked, (std::vector<std::string>{"p1", "p2", "p3"}));  // once each

  GroupFilter open_only;
  open_only.profile_hash = f.profile_hash;
  GroupFilter all = open_only;
  all.all = true;
  for (const auto& row : *s) {
    open_only.profile = row.profile;
    all.profile = row.profile;
    auto open = store_->groups(open_only);
    auto every = store_->groups(all);
    ASSERT_TRUE(open && every);
    size_t denials = 0;
    for (const auto& g : *every) denials += g.rule_class == "status" ? 0 : 1;
    size_t open_denials = 0;
    for (const auto& g : *open) open_denials += g.rule_class == "status" ? 0 : 1;
    EXPECT_EQ(row.open, open_denials) << row.profile;
    EXPECT_EQ(row.open + row.decided, denials) << row.profile;
  }
  // p1 and p2: cases 0, 1, 3, 5 open; p3 (hash unknown): the old hash cannot be checked, so the
  // acceptance holds and only 0, 1, 5 are open.
  EXPECT_EQ(s->at(0).open, 4u);
  EXPECT_EQ(s->at(0).decided, 3u);
  EXPECT_EQ(s->at(1).open, 4u);
  EXPECT_EQ(s->at(2).open, 3u);
  EXPECT_EQ(s->at(2).decided, 4u);
  EXPECT_EQ(s->at(0).events, 28u);  // 1 + 2 + … + 7; the status record is not counted

  // Without a hash function every decision but a deferral holds.
  s = store_->profile_summaries({});
  ASSERT_TRUE(s) << s.error().message;
  EXPECT_EQ(s->at(0).open, 3u);
  EXPECT_EQ(s->at(0).decided, 4u);
}

TEST_F(ProfileSummaryTest, HashIsNotAskedWhenNoDecisionCouldHold) {
  const std::string k = add("p", "/a", 10);
  add("q", "/a", 10);
  decide(k, DecisionKind::kDeferred, "h");
  int asked = 0;
  SummaryFilter f;
  f.profile_hash = [&](std::string_view) -> std::optional<std::string> {
    ++asked;
    return "h";
  };
  auto s = store_->profile_summaries(f);
  ASSERT_TRUE(s) << s.error().message;
  EXPECT_EQ(asked, 0);
  EXPECT_EQ(s->at(0).open, 1u);
  EXPECT_EQ(s->at(1).open, 1u);
}

}  // namespace
}  // namespace aatune::store
