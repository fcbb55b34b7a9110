#include "analyzer/correlation.h"

#include <gtest/gtest.h>

namespace aatune::analyzer {
namespace {

using namespace std::chrono_literals;
using Clock = Correlator::Clock;

collector::Event avc(uint32_t serial, std::string name) {
  collector::Event e;
  e.event = collector::EventType::kDenied;
  e.audit_id = "1795424536.908:" + std::to_string(serial);
  e.epoch = 1795424536;
  e.audit_sub_id = serial;
  e.name = std::move(name);
  return e;
}

collector::Companion companion(std::string type, uint32_t serial,
                               std::vector<std::pair<std::string, std::string>> fields) {
  collector::Companion c;
  c.type = std::move(type);
  c.audit_id = "1795424536.908:" + std::to_string(serial);
  c.audit_sub_id = serial;
  c.fields = std::move(fields);
  return c;
}

TEST(Correlator, EoeClosesAnEventAndAttachesItsEvidence) {
  Correlator correlator;
  const auto t0 = Clock::time_point{};
  correlator.add_event(avc(10, "/etc/secret"), t0);
  correlator.add_companion(
      companion("SYSCALL", 10,
                {{"exe", "/usr/bin/aa_exercise"}, {"subj", "aatest"}, {"syscall", "257"}}),
      t0);
  correlator.add_companion(companion("PROCTITLE", 10, {{"proctitle", "aa_exercise --all"}}), t0);
  correlator.add_companion(companion("CWD", 10, {{"cwd", "/root"}}), t0);
  EXPECT_TRUE(correlator.take_ready(t0).empty()) << "incomplete events must wait";
  correlator.add_companion(companion("EOE", 10, {}), t0);
  const auto ready = correlator.take_ready(t0);
  ASSERT_EQ(ready.size(), 1u);
  EXPECT_EQ(ready[0].event.name, "/etc/secret");
  EXPECT_EQ(ready[0].exe, "/usr/bin/aa_exercise");
  EXPECT_EQ(ready[0].command, "aa_exercise --all");
  EXPECT_EQ(ready[0].cwd, "/root");
  EXPECT_EQ(ready[0].subject, "aatest");
  EXPECT_EQ(ready[0].syscall, "257");
  EXPECT_EQ(ready[0].companions.size(), 3u);
  EXPECT_EQ(correlator.pending(), 0u);
}

TEST(Correlator, WithoutEoeAnEventIsReleasedAfterTheWait) {
  Correlator correlator(2s);
  const auto t0 = Clock::time_point{};
  correlator.add_event(avc(7, "/a"), t0);
  EXPECT_TRUE(correlator.take_ready(t0 + 1999ms).empty());
  EXPECT_EQ(correlator.take_ready(t0 + 2s).size(), 1u);
}

TEST(Correlator, StreamMovingPastTheWindowReleasesOldSerials) {
  Correlator correlator(10s, /*serial_window=*/5);
  const auto t0 = Clock::time_point{};
  correlator.add_event(avc(1, "/old"), t0);
  correlator.add_event(avc(6, "/within"), t0);
  EXPECT_TRUE(correlator.take_ready(t0).empty());
  correlator.add_event(avc(7, "/new"), t0);
  const auto ready = correlator.take_ready(t0);
  ASSERT_EQ(ready.size(), 1u);
  EXPECT_EQ(ready[0].event.name, "/old");
}

TEST(Correlator, EventsWithoutAnAuditIdAreReadyAtOnceAndOrderIsKept) {
  Correlator correlator;
  const auto t0 = Clock::time_point{};
  collector::Event bare;
  bare.name = "/bare";
  correlator.add_event(avc(3, "/first"), t0);
  correlator.add_event(avc(4, "/second"), t0);
  correlator.add_event(bare, t0);
  const auto ready = correlator.flush();
  ASSERT_EQ(ready.size(), 3u);
  EXPECT_EQ(ready[0].event.name, "/bare");
  EXPECT_EQ(ready[1].event.name, "/first");
  EXPECT_EQ(ready[2].event.name, "/second");
}

TEST(Correlator, CompanionsWithoutAnAppArmorRecordAreDropped) {
  Correlator correlator;
  const auto t0 = Clock::time_point{};
  correlator.add_companion(companion("SYSCALL", 99, {{"exe", "/bin/true"}}), t0);
  correlator.add_companion(companion("EOE", 99, {}), t0);
  EXPECT_TRUE(correlator.take_ready(t0).empty());
  EXPECT_EQ(correlator.pending(), 0u);
}

TEST(Correlator, PathRecordsBecomeEvidenceInItemOrder) {
  Correlator correlator;
  const auto t0 = Clock::time_point{};
  correlator.add_event(avc(12, "/srv/new"), t0);
  correlator.add_companion(companion("PATH", 12, {{"item", "0"}, {"name", "/srv/"}}), t0);
  correlator.add_companion(companion("PATH", 12, {{"item", "1"}, {"name", "/srv/new"}}), t0);
  correlator.add_companion(companion("EOE", 12, {}), t0);
  const auto ready = correlator.take_ready(t0);
  ASSERT_EQ(ready.size(), 1u);
  EXPECT_EQ(ready[0].paths, (std::vector<std::string>{"/srv/", "/srv/new"}));
}

TEST(Correlator, UserMessagesAreCompleteAsTheyArrive) {
  // USER_AVC (1107) is stamped outside any syscall: no SYSCALL/EOE will ever follow it.
  Correlator correlator(10s);
  const auto t0 = Clock::time_point{};
  collector::Event user = avc(20, "/user");
  user.record_type = 1107;
  correlator.add_event(avc(19, "/kernel"), t0);
  correlator.add_event(user, t0);
  const auto ready = correlator.take_ready(t0);
  ASSERT_EQ(ready.size(), 1u);
  EXPECT_EQ(ready[0].event.name, "/user");
  EXPECT_EQ(correlator.pending(), 1u) << "the kernel AVC still waits for its companions";
}

}  // namespace
}  // namespace aatune::analyzer
