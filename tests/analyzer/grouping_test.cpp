#include "analyzer/grouping.h"

#include <gtest/gtest.h>

#include <vector>

#include "analyzer/mask.h"
#include "analyzer/severity.h"
#include "collector/parser.h"

namespace aatune::analyzer {
namespace {

LoggedEvent logged(std::string_view line, uint64_t line_no, std::string source = "kern.log") {
  auto ev = collector::parse_line(line);
  EXPECT_TRUE(ev.has_value()) << line;
  return {ev.value_or(collector::Event{}), std::move(source), line_no};
}

constexpr std::string_view kOpenR =
    R"(type=AVC msg=audit(1700000000.100:10): apparmor="DENIED" operation="open" class="file" profile="daemon" name="/etc/foo" pid=100 comm="d" requested_mask="r" denied_mask="r" fsuid=0 ouid=0)";
constexpr std::string_view kOpenR2 =
    R"(type=AVC msg=audit(1700000050.900:11): apparmor="DENIED" operation="open" class="file" profile="daemon" name="/etc/foo" pid=101 comm="d2" requested_mask="r" denied_mask="r" fsuid=0 ouid=0)";
constexpr std::string_view kOpenW =
    R"(type=AVC msg=audit(1700000060.000:12): apparmor="DENIED" operation="open" class="file" profile="daemon" name="/etc/foo" pid=100 comm="d" requested_mask="w" denied_mask="w" fsuid=0 ouid=0)";
constexpr std::string_view kAllowed =
    R"(type=AVC msg=audit(1700000070.000:13): apparmor="ALLOWED" operation="open" class="file" profile="tool" name="/etc/bar" pid=102 comm="t" requested_mask="r" denied_mask="r" fsuid=0 ouid=0)";
constexpr std::string_view kStatus =
    R"(type=AVC msg=audit(1700000080.000:14): apparmor="STATUS" operation="profile_load" profile="unconfined" name="daemon" pid=1 comm="apparmor_parser")";

TEST(GroupEvents, CountsPidsCommsSourcesAndTimes) {
  const std::vector<LoggedEvent> events{logged(kOpenR, 3), logged(kOpenR2, 9, "audit.log")};
  const Grouped g = group_events(events);
  ASSERT_EQ(g.groups.size(), 1u);
  const Group& grp = g.groups[0];
  EXPECT_EQ(grp.count, 2u);
  EXPECT_EQ(grp.denied, 2u);
  EXPECT_EQ(grp.pids, (std::set<uint64_t>{100, 101}));
  EXPECT_EQ(grp.comms, (std::set<std::string>{"d", "d2"}));
  EXPECT_EQ(grp.sources, (std::vector<SourceRef>{{"kern.log", 3}, {"audit.log", 9}}));
  EXPECT_EQ(grp.first_seen_ms, 1700000000100);
  EXPECT_EQ(grp.last_seen_ms, 1700000050900);
  EXPECT_EQ(grp.raw.size(), 2u);
  EXPECT_FALSE(grp.unverified);
  EXPECT_EQ(to_string(grp.key),
            "daemon\x1f"
            "file\x1fopen\x1f/etc/foo\x1fr");
}

TEST(GroupEvents, DifferentMasksAreDifferentGroups) {
  const std::vector<LoggedEvent> events{logged(kOpenR, 1), logged(kOpenW, 2)};
  EXPECT_EQ(group_events(events).groups.size(), 2u);
}

TEST(GroupEvents, ComplainModeAllowedIsGroupedAndMarked) {
  const std::vector<LoggedEvent> events{logged(kAllowed, 1)};
  const Grouped g = group_events(events);
  ASSERT_EQ(g.groups.size(), 1u);
  EXPECT_EQ(g.groups[0].allowed, 1u);
  EXPECT_TRUE(g.groups[0].complain_only());
}

TEST(GroupEvents, StatusRecordsAreCountedNotGrouped) {
  const std::vector<LoggedEvent> events{logged(kStatus, 1), logged(kOpenR, 2)};
  const Grouped g = group_events(events);
  EXPECT_EQ(g.groups.size(), 1u);
  EXPECT_EQ(g.other.status, 1u);
}

TEST(GroupEvents, UnverifiedRecordNeverJoinsTrustedGroup) {
  std::vector<LoggedEvent> events{logged(kOpenR, 1), logged(kOpenR2, 2)};
  events[1].event.trust = collector::Trust::kUnverified;  // as a `logger` line would be
  events[0].event.trust = collector::Trust::kKernel;
  const Grouped g = group_events(events);
  ASSERT_EQ(g.groups.size(), 2u);
  EXPECT_FALSE(g.groups[0].unverified);
  EXPECT_TRUE(g.groups[1].unverified);
  EXPECT_EQ(g.groups[0].key, g.groups[1].key);
}

TEST(FilePerms, FoldsCreateDeleteAndAppend) {
  EXPECT_EQ(file_perms_from_mask("c"), "w");
  EXPECT_EQ(file_perms_from_mask("d"), "w");
  EXPECT_EQ(file_perms_from_mask("wa"), "w");
  EXPECT_EQ(file_perms_from_mask("a"), "a");
  EXPECT_EQ(file_perms_from_mask("r::"), "r");
  EXPECT_EQ(file_perms_from_mask("rm"), "mr");
  EXPECT_EQ(file_perms_from_mask("x"), "");
  EXPECT_EQ(file_perms_from_mask("kl"), "lk");
}

TEST(FilePerms, MergeIsAUnionInCanonicalOrder) {
  EXPECT_EQ(merge_perms("r", "w"), "rw");
  EXPECT_EQ(merge_perms("w", "mr"), "mrw");
  EXPECT_EQ(merge_perms("a", "w"), "w");
  EXPECT_EQ(merge_perms("k", "r"), "rk");
}

TEST(Severity, RanksDangerousGrants) {
  EXPECT_EQ(assess_severity({"p", "capability", "capable", "sys_module", ""}, "", "").level,
            Severity::kCritical);
  EXPECT_EQ(assess_severity({"p", "capability", "capable", "sys_admin", ""}, "", "").level,
            Severity::kHigh);
  EXPECT_EQ(assess_severity({"p", "capability", "capable", "chown", ""}, "", "").level,
            Severity::kHigh);
  EXPECT_EQ(assess_severity({"p", "capability", "capable", "net_bind_service", ""}, "", "").level,
            Severity::kMedium);
  const auto etc = assess_severity({"p", "file", "open", "/etc/passwd", "w"}, "w", "");
  EXPECT_EQ(etc.level, Severity::kHigh);
  EXPECT_EQ(etc.reason, "write under /etc/");
  EXPECT_EQ(assess_severity({"p", "file", "open", "/boot/grub/grub.cfg", "w"}, "w", "").level,
            Severity::kCritical);
  EXPECT_EQ(assess_severity({"p", "file", "open", "/usr/share/x", "r"}, "r", "").level,
            Severity::kLow);
  EXPECT_EQ(assess_severity({"p", "file", "open", "/etc/shadow", "r"}, "r", "").level,
            Severity::kHigh);
  EXPECT_EQ(assess_severity({"p", "exec", "exec", "/bin/sh", "x"}, "", "ux").level,
            Severity::kCritical);
  EXPECT_EQ(assess_severity({"p", "exec", "exec", "/bin/sh", "x"}, "", "PUx").level,
            Severity::kHigh);
  EXPECT_EQ(assess_severity({"p", "exec", "exec", "/bin/sh", "x"}, "", "ix").level,
            Severity::kMedium);
  EXPECT_EQ(assess_severity({"p", "ptrace", "ptrace", "q", "trace"}, "", "").level,
            Severity::kCritical);
  EXPECT_EQ(assess_severity({"p", "ptrace", "ptrace", "q", "read"}, "", "").level,
            Severity::kMedium);
}

}  // namespace
}  // namespace aatune::analyzer
