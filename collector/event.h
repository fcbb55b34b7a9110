// Typed AppArmor events: what the collector hands to the store and the analyzer.
//
// The field names follow libapparmor's `aa_log_record` (aalogparse.h) so that `aatune parse
// --format json` speaks the vocabulary users and tools already know. Every field is optional
// because the kernel prints different fields per class and per version (records.md §1.4); an
// absent field is not the same as an empty one.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <utility>
#include <vector>

namespace aatune::collector {

/// The `apparmor="…"` value (or its historical type number, 1500–1507).
enum class EventType {
  kInvalid,  ///< Not parseable as an AppArmor record.
  kError,
  kAudit,    ///< Allowed and audited (audit rule / audit mode all).
  kAllowed,  ///< Complain mode: would have been denied.
  kDenied,
  kHint,
  kStatus,  ///< Policy management (profile_load, profile_replace, …).
  kKilled,  ///< Denied and the task was killed (kill rule / kill mode).
};

/// The container the record travelled in; says how its text was wrapped.
enum class Container {
  kUnknown,
  kAuditLog,  ///< auditd's audit.log: `type=AVC msg=audit(…)`.
  kSyslog,    ///< kern.log / syslog / messages: `Mon DD HH:MM:SS host kernel: …`.
  kDmesg,     ///< `[ 123.456] audit: …` or `/dev/kmsg` lines.
  kJournal,   ///< journald (native or export lines).
  kNetlink,   ///< The kernel audit netlink multicast group.
  kBare,      ///< A bare `audit(…): apparmor=…` body.
};

/// How far the origin of a record can be trusted (a log is attacker-influenced text).
enum class Trust {
  kKernel,       ///< Written by the kernel itself (netlink 1400, kmsg, journal kernel transport).
  kAuditDaemon,  ///< auditd's log: written by root from the kernel's records.
  kUserspaceAudit,  ///< USER_AVC (1107): sent by a userspace process (dbus-daemon); check its uid.
  kUnverified,      ///< Text anyone could have written (logger, stdin, a non-kernel syslog line).
};

/// One AppArmor record, decoded. Hex-encoded values are already decoded; `raw` keeps the line as
/// read, because it is evidence.
struct Event {
  EventType event = EventType::kInvalid;
  Container container = Container::kUnknown;
  Trust trust = Trust::kUnverified;
  int record_type = 0;  ///< Audit record type number (1400 AVC, 1107 USER_AVC, 1500–1507 legacy).
  /// The record type as written (`AVC`, `USER_AVC`, `APPARMOR_DENIED`, `1400`, `UNKNOWN[1503]`);
  /// empty when the container carried none (a bare body, dbus-daemon's syslog fallback).
  std::string record_type_name;

  // Audit header: audit(<epoch>.<msec>:<serial>).
  std::optional<std::string> audit_id;  ///< "1279948288.415:39"
  std::optional<int64_t> epoch;
  std::optional<uint32_t> audit_msec;
  std::optional<uint32_t> audit_sub_id;  ///< The serial; with epoch, identifies a kernel record.

  std::optional<std::string> operation;
  std::optional<std::string> rule_class;  ///< `class=` (6.12+); "file", "net", "signal", …
  std::optional<std::string> info;
  std::optional<int> error_code;
  std::optional<std::string> requested_mask;  ///< `requested_mask=` or `requested=`.
  std::optional<std::string> denied_mask;     ///< `denied_mask=` or `denied=` (dbus `mask=`).
  std::optional<uint64_t> fsuid;
  std::optional<uint64_t> ouid;

  std::optional<std::string> profile;  ///< Subject label (`profile=` or `label=`).
  std::optional<std::string> ns;       ///< `namespace=`.
  std::optional<std::string>
      peer_profile;  ///< `peer_label=` (dbus) / `peer=` as libapparmor maps it.
  std::optional<std::string> peer;
  std::optional<std::string> name;
  std::optional<std::string> name2;  ///< Link/exec target (`target=`, `name2=`).
  std::optional<std::string> comm;
  std::optional<std::string> attribute;
  std::optional<std::string> info_peer;
  std::optional<std::string> active_hat;
  std::optional<std::string> execpath;

  std::optional<uint64_t> pid;
  std::optional<uint64_t> peer_pid;
  std::optional<uint64_t> task;
  std::optional<uint64_t> magic_token;
  std::optional<uint64_t> parent;

  // Network.
  std::optional<std::string> net_family;
  std::optional<std::string> net_protocol;
  std::optional<std::string> net_sock_type;
  std::optional<std::string> net_local_addr;
  std::optional<uint64_t> net_local_port;
  std::optional<std::string> net_foreign_addr;
  std::optional<uint64_t> net_foreign_port;
  std::optional<std::string> net_addr;   ///< unix `addr=`.
  std::optional<std::string> peer_addr;  ///< unix `peer_addr=`.

  // D-Bus.
  std::optional<std::string> dbus_bus;
  std::optional<std::string> dbus_path;
  std::optional<std::string> dbus_interface;
  std::optional<std::string> dbus_member;

  std::optional<std::string> signal;

  // Mount and friends.
  std::optional<std::string> fs_type;
  std::optional<std::string> flags;
  std::optional<std::string> src_name;

  /// Keys we do not model, in record order, values decoded. Unknown keys never invalidate a
  /// record (libapparmor's worst failure is dropping the whole record for one unknown key).
  std::vector<std::pair<std::string, std::string>> extra;

  // Where it came from.
  std::optional<std::string> host;       ///< Syslog host name, if the container carried one.
  std::optional<std::string> timestamp;  ///< Container timestamp text as written (syslog/ISO).
  std::optional<uint64_t> sender_uid;    ///< USER_AVC: the `uid=` the kernel attached.
  std::string raw;                       ///< The record text as read (joined if it was wrapped).
};

/// A non-AppArmor audit record that shares an event serial with an AppArmor one
/// (SYSCALL, PROCTITLE, CWD, PATH, EOE): evidence such as exe, command line, cwd.
struct Companion {
  std::string type;  ///< "SYSCALL", "PROCTITLE", "CWD", "PATH", "EOE", or the number as text.
  std::optional<std::string> audit_id;
  std::optional<int64_t> epoch;
  std::optional<uint32_t> audit_sub_id;
  std::vector<std::pair<std::string, std::string>> fields;  ///< Values decoded (proctitle too).
  std::string raw;
};

std::string_view to_string(EventType type);
std::string_view to_string(Container container);
std::string_view to_string(Trust trust);

}  // namespace aatune::collector
