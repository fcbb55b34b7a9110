// The record grammar: containers, trust, encodings, classes, and bad input.
#include "collector/parser.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <string>

#include "collector/format.h"
#include "collector/label.h"

namespace aatune::collector {
namespace {

Event must_parse(std::string_view line) {
  auto ev = parse_line(line);
  EXPECT_TRUE(ev.has_value()) << (ev ? "" : ev.error().message) << "\n  line: " << line;
  return ev ? *ev : Event{};
}

ParseError must_fail(std::string_view line) {
  auto ev = parse_line(line);
  EXPECT_FALSE(ev.has_value()) << "parsed: " << line;
  return ev ? ParseError{} : ev.error();
}

constexpr std::string_view kBody =
    R"(apparmor="DENIED" operation="open" class="file" profile="aatest" name="/etc/secret" )"
    R"(pid=161 comm="aa_exercise" requested_mask="r" denied_mask="r" fsuid=0 ouid=0)";

TEST(ParserContainers, AuditLogAvc) {
  const Event ev = must_parse("type=AVC msg=audit(1795424599.929:5): " + std::string(kBody));
  EXPECT_EQ(ev.container, Container::kAuditLog);
  EXPECT_EQ(ev.trust, Trust::kAuditDaemon);
  EXPECT_EQ(ev.event, EventType::kDenied);
  EXPECT_EQ(ev.audit_id, "1795424599.929:5");
  EXPECT_EQ(ev.epoch, 1795424599);
  EXPECT_EQ(ev.audit_msec, 929u);
  EXPECT_EQ(ev.audit_sub_id, 5u);
  EXPECT_EQ(ev.rule_class, "file");
  EXPECT_EQ(ev.name, "/etc/secret");
  EXPECT_EQ(ev.fsuid, 0u);
  EXPECT_EQ(ev.record_type, 1400);
  EXPECT_EQ(ev.record_type_name, "AVC");
}

TEST(ParserContainers, NetlinkText1400) {
  Event ev = must_parse("type=1400 audit(1795424599.929:5): " + std::string(kBody));
  EXPECT_EQ(ev.container, Container::kNetlink);
  EXPECT_EQ(ev.trust, Trust::kKernel);
  EXPECT_EQ(ev.record_type, 1400);
  ev = must_parse("audit: type=1400 audit(1795424599.929:5): " + std::string(kBody));
  EXPECT_EQ(ev.container, Container::kDmesg);
  EXPECT_EQ(ev.profile, "aatest");
}

TEST(ParserContainers, SyslogClassicKernelIsKernelTrust) {
  const Event ev = must_parse(
      "Jul 24 12:25:33 my.host.example kernel: [42416.178567] audit: type=1400 "
      "audit(1795424599.929:5): " +
      std::string(kBody));
  EXPECT_EQ(ev.container, Container::kSyslog);
  EXPECT_EQ(ev.trust, Trust::kKernel);
  EXPECT_EQ(ev.host, "my.host.example");
  EXPECT_EQ(ev.timestamp, "Jul 24 12:25:33");
}

TEST(ParserContainers, SyslogIso8601) {
  const Event ev = must_parse(
      "2026-05-26T19:47:43.396634-04:00 host kernel: audit: type=1400 audit(1795424599.929:5): " +
      std::string(kBody));
  EXPECT_EQ(ev.timestamp, "2026-05-26T19:47:43.396634-04:00");
  EXPECT_EQ(ev.host, "host");
  EXPECT_EQ(ev.trust, Trust::kKernel);
}

TEST(ParserContainers, LoggerLineIsUnverified) {
  const Event ev = must_parse(
      "Jul 24 12:25:33 host mallory[991]: audit: type=1400 "
      "audit(1795424599.929:5): " +
      std::string(kBody));
  EXPECT_EQ(ev.container, Container::kSyslog);
  EXPECT_EQ(ev.trust, Trust::kUnverified);
}

TEST(ParserContainers, DmesgAndKmsg) {
  Event ev =
      must_parse("[  123.456789] audit: type=1400 audit(1795424599.929:5): " + std::string(kBody));
  EXPECT_EQ(ev.container, Container::kDmesg);
  EXPECT_EQ(ev.trust, Trust::kKernel);
  EXPECT_EQ(ev.timestamp, "123.456789");
  ev =
      must_parse("5,364,2875192,-;audit: type=1400 audit(1795424599.929:5): " + std::string(kBody));
  EXPECT_EQ(ev.container, Container::kDmesg);
}

TEST(ParserContainers, JournalExport) {
  Event ev = must_parse("MESSAGE=audit: type=1400 audit(1795424599.929:5): " + std::string(kBody));
  EXPECT_EQ(ev.container, Container::kJournal);
  EXPECT_EQ(ev.trust, Trust::kKernel);
  EXPECT_EQ(ev.audit_sub_id, 5u);
  ev = must_parse("MESSAGE=AVC " + std::string(kBody));
  EXPECT_EQ(ev.record_type, 1400);
  EXPECT_FALSE(ev.audit_id.has_value());
  EXPECT_EQ(ev.name, "/etc/secret");
}

TEST(ParserContainers, UserAvcSenderCannotForgeItsUidAfterTheMessage) {
  // The message text is the sender's: it can close msg='…' and append its own uid=0. The uid the
  // kernel wrote comes first and is the one kept.
  const Event ev = must_parse(
      "type=USER_AVC msg=audit(1795424192.405:24023): pid=4242 uid=1000 auid=1000 ses=3 "
      "msg='apparmor=\"DENIED\" operation=\"dbus_method_call\" bus=\"system\" "
      "path=\"/\" interface=\"x.y\" member=\"M\" mask=\"send\" name=\"x.y\" pid=1 "
      "label=\"snap.app\" peer_label=\"unconfined\"' uid=0");
  EXPECT_EQ(ev.sender_uid, 1000u);
}

TEST(ParserContainers, UserAvcFromAuditdKeepsSenderUidAndEnrichedFields) {
  const Event ev = must_parse(
      "type=USER_AVC msg=audit(1795424192.405:24022): pid=19473 uid=102 auid=4294967295 "
      "ses=4294967295 msg='apparmor=\"DENIED\" operation=\"dbus_method_call\"  bus=\"system\" "
      "path=\"/org/freedesktop/DBus\" interface=\"org.freedesktop.DBus\" member=\"Hello\" "
      "mask=\"send\" name=\"org.freedesktop.DBus\" pid=2000 label=\"snap.app\" "
      "peer_label=\"unconfined\" "
      "exe=\"/usr/bin/dbus-daemon\" sauid=102 hostname=? addr=? terminal=?'\x1dUID=\"messagebus\"");
  EXPECT_EQ(ev.trust, Trust::kUserspaceAudit);
  EXPECT_EQ(ev.sender_uid, 102u);
  EXPECT_EQ(ev.pid, 2000u);
  EXPECT_EQ(ev.profile, "snap.app");
  EXPECT_EQ(ev.peer_profile, "unconfined");
  EXPECT_EQ(ev.denied_mask, "send");
  EXPECT_EQ(ev.dbus_member, "Hello");
  EXPECT_FALSE(ev.net_addr.has_value());
  ASSERT_FALSE(ev.extra.empty());
  EXPECT_EQ(ev.extra.back(), (std::pair<std::string, std::string>{"UID", "messagebus"}));
}

TEST(ParserContainers, OldStyleLegacyTypeInBody) {
  const Event ev = must_parse(
      "Sep  7 12:00:00 gutsy kernel: audit(1189190614.964:3): type=1503 operation=\"file_lock\" "
      "requested_mask=\"k\" denied_mask=\"k\" name=\"/x\" pid=1 profile=\"/p\"");
  EXPECT_EQ(ev.event, EventType::kDenied);
  EXPECT_EQ(ev.record_type, 1503);
}

TEST(ParserFields, HexDecodedAndUnknownKeysKept) {
  const Event ev = must_parse(
      "type=AVC msg=audit(1.2:3): apparmor=\"DENIED\" operation=\"open\" profile=\"p\" "
      "name=2F746D702F77697468207370616365 pid=1 comm=\"x\" new_key=\"v\" ino=1234 "
      "dev=\"sda1\"");
  EXPECT_EQ(ev.name, "/tmp/with space");
  ASSERT_EQ(ev.extra.size(), 3u);
  EXPECT_EQ(ev.extra[0], (std::pair<std::string, std::string>{"new_key", "v"}));
  EXPECT_EQ(ev.extra[1], (std::pair<std::string, std::string>{"ino", "1234"}));
  EXPECT_EQ(ev.extra[2], (std::pair<std::string, std::string>{"dev", "sda1"}));
}

TEST(ParserFields, DuplicateKeysLastWins) {
  const Event ev = must_parse(
      "type=AVC msg=audit(1.2:3): apparmor=\"DENIED\" operation=\"open\" class=\"file\" "
      "profile=\"p\" class=\"posix_mqueue\"");
  EXPECT_EQ(ev.rule_class, "posix_mqueue");
}

TEST(ParserFields, CapabilityDoubleSpaceAndSignalWithoutSpace) {
  Event ev = must_parse(
      "type=AVC msg=audit(1.2:3): apparmor=\"DENIED\" operation=\"capable\" class=\"cap\" "
      "profile=\"aatest\" pid=161 comm=\"a\" capability=6  capname=\"setgid\"");
  EXPECT_EQ(ev.name, "setgid");
  EXPECT_EQ(record_class(ev), "cap");
  ev = must_parse(
      "type=AVC msg=audit(1.2:3): apparmor=\"DENIED\" operation=\"signal\" profile=\"a\" "
      "requested_mask=\"send\"signal=unknown(34) peer=\"b//&c\"");
  EXPECT_EQ(ev.signal, "unknown(34)");
  EXPECT_EQ(ev.peer, "b//&c");
}

TEST(ParserFields, NetworkAndUnix) {
  const Event ev = must_parse(
      "type=AVC msg=audit(1.2:3): apparmor=\"DENIED\" operation=\"connect\" class=\"net\" "
      "profile=\"c\" pid=1 comm=\"c\" family=\"unix\" sock_type=\"stream\" protocol=0 "
      "requested=\"send receive connect\" denied=\"connect\" addr=none "
      "peer_addr=\"@sock\" peer=\"s\" laddr=192.168.66.150 lport=765");
  EXPECT_EQ(ev.net_protocol, "ip");
  EXPECT_EQ(ev.requested_mask, "send receive connect");
  EXPECT_EQ(ev.denied_mask, "connect");
  EXPECT_FALSE(ev.net_addr.has_value());
  EXPECT_EQ(ev.peer_addr, "@sock");
  EXPECT_EQ(ev.net_local_addr, "192.168.66.150");
  EXPECT_EQ(ev.net_local_port, 765u);
}

TEST(ParserFields, StatusAndMount) {
  Event ev = must_parse(
      "type=AVC msg=audit(1.2:3): apparmor=\"STATUS\" operation=\"profile_load\" "
      "profile=\"unconfined\" name=\"nsprof\" pid=173 comm=\"apparmor_parser\" ns=\"testns\"");
  EXPECT_EQ(ev.event, EventType::kStatus);
  EXPECT_EQ(ev.ns, "testns");
  EXPECT_EQ(record_class(ev), "status");
  ev = must_parse(
      "type=AVC msg=audit(1.2:3): apparmor=\"DENIED\" operation=\"mount\" class=\"mount\" "
      "info=\"failed mntpnt match\" error=-13 profile=\"aatest\" name=\"/mnt/\" pid=161 "
      "comm=\"a\" fstype=\"tmpfs\" srcname=\"none\" flags=\"rw, nosuid, nodev\"");
  EXPECT_EQ(ev.error_code, -13);
  EXPECT_EQ(ev.fs_type, "tmpfs");
  EXPECT_EQ(ev.flags, "rw, nosuid, nodev");
  EXPECT_EQ(ev.src_name, "none");
}

TEST(ParserNoise, NotAppArmor) {
  EXPECT_EQ(must_fail("Oct 29 07:55:58 host syslogd 1.5.0: restart.").kind,
            ParseError::Kind::kNotAppArmor);
  EXPECT_EQ(must_fail("type=SYSCALL msg=audit(1.2:3): arch=c000003e syscall=257").kind,
            ParseError::Kind::kNotAppArmor);
  EXPECT_EQ(must_fail("type=AVC msg=audit(1.2:3): avc:  denied  { read } for pid=1").kind,
            ParseError::Kind::kNotAppArmor);
  EXPECT_FALSE(may_be_apparmor("kernel: eth0: link up"));
}

TEST(ParserBadInput, UnterminatedQuote) {
  const auto e = must_fail("type=AVC msg=audit(1.2:3): apparmor=\"DENIED\" name=\"/etc/pass");
  EXPECT_EQ(e.kind, ParseError::Kind::kInvalid);
  EXPECT_EQ(e.field, "name");
  EXPECT_EQ(e.message, "unterminated quote in name=");
}

TEST(ParserBadInput, OddLengthHex) {
  const auto e = must_fail("type=AVC msg=audit(1.2:3): apparmor=\"DENIED\" name=2F746");
  EXPECT_EQ(e.field, "name");
  EXPECT_EQ(e.message, "odd-length hex value in name=");
}

TEST(ParserBadInput, NulByte) {
  const std::string line =
      std::string("type=AVC msg=audit(1.2:3): apparmor=\"DENIED\" name=\"/a") + '\0' + "b\"";
  const auto e = must_fail(line);
  EXPECT_EQ(e.kind, ParseError::Kind::kInvalid);
  EXPECT_EQ(e.message, "NUL byte at column 54");
}

TEST(ParserBadInput, InvalidUtf8) {
  const auto e = must_fail("type=AVC msg=audit(1.2:3): apparmor=\"DENIED\" name=\"/a\xff\xfe\"");
  EXPECT_EQ(e.field, "name");
  EXPECT_EQ(e.message, "invalid UTF-8 in name=");
  // Valid UTF-8 is fine.
  EXPECT_EQ(must_parse("type=AVC msg=audit(1.2:3): apparmor=\"DENIED\" name=\"/caf\xc3\xa9\"").name,
            "/caf\xc3\xa9");
}

TEST(ParserBadInput, BadAuditIdAndNumbers) {
  auto e = must_fail("type=AVC msg=audit(12x.3:4): apparmor=\"DENIED\"");
  EXPECT_EQ(e.field, "audit id");
  e = must_fail("type=AVC msg=audit(1.2:3): apparmor=\"DENIED\" pid=12ab");
  EXPECT_EQ(e.field, "pid");
  EXPECT_EQ(e.message, "expected a number in pid=");
  e = must_fail("type=AVC msg=audit(1.2:3): apparmor=\"MAYBE\"");
  EXPECT_EQ(e.field, "apparmor");
}

TEST(ParserBadInput, HugeLineDoesNotCrash) {
  std::string line = "type=AVC msg=audit(1.2:3): apparmor=\"DENIED\" name=\"";
  line.append(2 << 20, 'a');
  const auto e = must_fail(line);
  EXPECT_EQ(e.message, "unterminated quote in name=");
  line += '"';
  EXPECT_EQ(must_parse(line).name->size(), size_t{2} << 20);
}

TEST(ParserPartial, KeepsFieldsBeforeTheFault) {
  const auto outcome = parse_record(
      "type=AVC msg=audit(1.2:3): apparmor=\"DENIED\" operation=\"ptrace\" profile=\"p\" "
      "target=8022C0FF81A0FFFF");
  ASSERT_TRUE(outcome.error.has_value());
  EXPECT_EQ(outcome.error->field, "target");
  EXPECT_EQ(outcome.event.event, EventType::kInvalid);
  EXPECT_EQ(outcome.event.operation, "ptrace");
  EXPECT_FALSE(outcome.event.name2.has_value());
}

TEST(Companion, ProctitleAndSyscall) {
  auto c = parse_companion("type=PROCTITLE msg=audit(1.2:10): proctitle=2F62696E2F6361740061");
  ASSERT_TRUE(c.has_value());
  EXPECT_EQ(c->type, "PROCTITLE");
  EXPECT_EQ(c->audit_sub_id, 10u);
  ASSERT_EQ(c->fields.size(), 1u);
  EXPECT_EQ(c->fields[0].second, "/bin/cat a");
  c = parse_companion(
      "audit: type=1300 audit(1.2:10): arch=c000003e syscall=257 exe=\"/usr/bin/x\" "
      "subj=/usr/sbin/cupsd (enforce) key=(null)");
  ASSERT_TRUE(c.has_value());
  EXPECT_EQ(c->type, "SYSCALL");
  EXPECT_EQ(c->fields[3],
            (std::pair<std::string, std::string>{"subj", "/usr/sbin/cupsd (enforce)"}));
  EXPECT_FALSE(parse_companion("type=AVC msg=audit(1.2:3): " + std::string(kBody)).has_value());
}

// Genuine records captured from Debian 6.1 and 6.12 kernels: each line is an AppArmor record or
// one of its companions, never invalid.
TEST(RealKernel, EveryFixtureLineParses) {
  const std::filesystem::path dir = std::filesystem::path(AATUNE_FIXTURES_DIR) / "real-kernel";
  ASSERT_TRUE(std::filesystem::exists(dir)) << dir;
  int records = 0;
  for (const auto& entry : std::filesystem::directory_iterator(dir)) {
    std::ifstream in(entry.path());
    std::string line;
    int line_no = 0;
    while (std::getline(in, line)) {
      ++line_no;
      if (line.empty()) continue;
      auto ev = parse_line(line);
      if (ev) {
        ++records;
        EXPECT_NE(ev->trust, Trust::kUnverified) << entry.path() << ':' << line_no;
        continue;
      }
      EXPECT_EQ(ev.error().kind, ParseError::Kind::kNotAppArmor)
          << entry.path() << ':' << line_no << ": " << ev.error().message;
    }
  }
  EXPECT_GT(records, 50);
}

TEST(Label, SplitsNamespaceChildrenAndStacks) {
  auto parts = split_label("/usr/sbin/httpd{,2}-prefork//HANDLING_UNTRUSTED_INPUT");
  ASSERT_EQ(parts.size(), 1u);
  EXPECT_EQ(parts[0].root, "/usr/sbin/httpd{,2}-prefork");
  EXPECT_EQ(parts[0].children, std::vector<std::string>{"HANDLING_UNTRUSTED_INPUT"});
  parts = split_label("a//&:ns1:b//c (enforce)");
  ASSERT_EQ(parts.size(), 2u);
  EXPECT_EQ(parts[0].profile, "a");
  EXPECT_EQ(parts[1].ns, "ns1");
  EXPECT_EQ(parts[1].profile, "b//c");
  EXPECT_EQ(parts[1].root, "b");
  EXPECT_TRUE(split_label("").empty());
}

}  // namespace
}  // namespace aatune::collector
