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

// A USER_AVC as auditd writes it: the outer `uid=` is the sender's, attached by the kernel; the
// `sauid=` inside msg='…' is libaudit's claim and proves nothing.
std::string user_avc(std::string_view outer_uid, uint64_t serial = 20) {
  return "type=USER_AVC msg=audit(1700000100.000:" + std::to_string(serial) + "): pid=602 " +
         std::string(outer_uid) +
         " auid=4294967295 ses=4294967295 subj=unconfined msg='apparmor=\"DENIED\" "
         "operation=\"dbus_method_call\"  bus=\"system\" path=\"/org/freedesktop/systemd1\" "
         "interface=\"org.freedesktop.systemd1.Manager\" member=\"GetUnit\" mask=\"send\" "
         "name=\"org.freedesktop.systemd1\" pid=733 label=\"/usr/sbin/mariadbd\" peer_pid=1 "
         "peer_label=\"unconfined\"  exe=\"/usr/bin/dbus-daemon\" sauid=0 hostname=? addr=? "
         "terminal=?'";
}

const TrustPolicy kBusIs102{{0, 102}};

TEST(UserAvcTrust, BusDaemonUserAndRootAreTrusted) {
  const auto bus = collector::parse_line(user_avc("uid=102"));
  ASSERT_TRUE(bus.has_value());
  EXPECT_EQ(bus->trust, collector::Trust::kUserspaceAudit);
  EXPECT_EQ(unverified_reason(*bus, kBusIs102), "");
  EXPECT_FALSE(is_unverified(*bus, kBusIs102));
  const auto root = collector::parse_line(user_avc("uid=0"));
  ASSERT_TRUE(root.has_value());
  EXPECT_FALSE(is_unverified(*root, kBusIs102));
  EXPECT_FALSE(is_unverified(*root, TrustPolicy{}));
}

TEST(UserAvcTrust, OrdinaryUserIsUnverifiedWithTheUidInTheReason) {
  const auto forged = collector::parse_line(user_avc("uid=1000"));
  ASSERT_TRUE(forged.has_value());
  EXPECT_TRUE(is_unverified(*forged, kBusIs102));
  EXPECT_EQ(unverified_reason(*forged, kBusIs102),
            "a USER_AVC record sent by uid 1000, which is neither root nor the D-Bus daemon's "
            "user (any process can send one)");
}

TEST(UserAvcTrust, DefaultPolicyTrustsOnlyRoot) {
  // Without the caller resolving `messagebus`, the bus daemon's records are not believed: the
  // safe default for pure callers that know no user database.
  const auto bus = collector::parse_line(user_avc("uid=102"));
  ASSERT_TRUE(bus.has_value());
  EXPECT_TRUE(is_unverified(*bus, TrustPolicy{}));
}

TEST(UserAvcTrust, MissingSenderUidIsUnverified) {
  const auto no_uid = collector::parse_line(user_avc("gid=0"));
  ASSERT_TRUE(no_uid.has_value());
  EXPECT_FALSE(no_uid->sender_uid.has_value());
  EXPECT_EQ(unverified_reason(*no_uid, kBusIs102),
            "a USER_AVC record without the sender uid the kernel attaches (any process can send "
            "one)");
}

TEST(UserAvcTrust, UidClaimedInsideMsgDoesNotCount) {
  // The sender writes everything inside msg='…'; a `uid=0` there is a claim, not the kernel's.
  std::string line = user_avc("uid=1000");
  line.insert(line.find("msg='") + 5, "uid=0 ");
  const auto forged = collector::parse_line(line);
  ASSERT_TRUE(forged.has_value());
  EXPECT_EQ(forged->sender_uid, 1000u);
  EXPECT_TRUE(is_unverified(*forged, kBusIs102));
}

TEST(UserAvcTrust, UidAppendedAfterClosingTheMsgQuoteIsAForgery) {
  // The kernel copies the sender's text verbatim: closing the quote and appending `uid=0` must
  // not make uid 1000's record root's.
  std::string line = user_avc("uid=1000");
  line.insert(line.find(" exe="), "' uid=0 x='");
  auto forged = collector::parse_line(line);
  ASSERT_TRUE(forged.has_value());
  // The parser keeps the kernel's (first) uid=…
  EXPECT_EQ(forged->sender_uid, 1000u);
  EXPECT_TRUE(is_unverified(*forged, kBusIs102));
  EXPECT_NE(unverified_reason(*forged, kBusIs102).find("sent by uid 1000"), std::string::npos)
      << unverified_reason(*forged, kBusIs102);
  // … and should a parsed uid ever disagree with the kernel's prefix of the raw record, the
  // analyzer trusts the raw text and calls it a forgery (defence in depth).
  forged->sender_uid = 0;
  EXPECT_TRUE(is_unverified(*forged, kBusIs102));
  EXPECT_NE(unverified_reason(*forged, kBusIs102).find("the kernel wrote uid 1000"),
            std::string::npos)
      << unverified_reason(*forged, kBusIs102);
}

TEST(UserAvcTrust, SyslogFallbackOfTheBusIsUnverified) {
  // dbus-daemon without an audit fd writes to syslog as itself: anyone can write that line.
  const auto line = collector::parse_line(
      R"(Jun 10 10:00:00 host dbus-daemon[3217]: apparmor="DENIED" operation="dbus_method_call"  bus="session" path="/org/freedesktop/DBus" interface="org.freedesktop.DBus" member="Hello" mask="send" name="org.freedesktop.DBus" pid=1 label="/usr/bin/x" peer_label="unconfined")");
  ASSERT_TRUE(line.has_value());
  EXPECT_EQ(unverified_reason(*line, kBusIs102),
            "the record could have been written by any user (not from the kernel or auditd)");
}

TEST(UserAvcTrust, UntrustedSenderNeverJoinsTheBusDaemonsGroup) {
  const std::vector<LoggedEvent> events{logged(user_avc("uid=102", 21), 1, "audit.log"),
                                        logged(user_avc("uid=1000", 22), 2, "audit.log"),
                                        logged(user_avc("uid=102", 23), 3, "audit.log")};
  const Grouped g = group_events(events, kBusIs102);
  ASSERT_EQ(g.groups.size(), 2u);
  EXPECT_FALSE(g.groups[0].unverified);
  EXPECT_EQ(g.groups[0].unverified_reason, "");
  EXPECT_EQ(g.groups[0].count, 2u);
  EXPECT_TRUE(g.groups[1].unverified);
  EXPECT_EQ(g.groups[1].count, 1u);
  EXPECT_EQ(g.groups[1].unverified_reason,
            "a USER_AVC record sent by uid 1000, which is neither root nor the D-Bus daemon's "
            "user (any process can send one)");
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
