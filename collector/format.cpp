#include "collector/format.h"

#include <cstdint>
#include <cstdlib>
#include <optional>
#include <string>

namespace aatune::collector {
namespace {

void line(std::string& out, std::string_view label, const std::optional<std::string>& value) {
  if (!value) return;
  out.append(label).append(": ").append(*value).push_back('\n');
}

// test_multi prints numbers only when they differ from libapparmor's "unset" value (0 for most).
template <typename T>
void number(std::string& out, std::string_view label, const std::optional<T>& value) {
  if (!value || *value == 0) return;
  out.append(label).append(": ").append(std::to_string(*value)).push_back('\n');
}

std::string_view event_name(EventType type) {
  switch (type) {
    case EventType::kInvalid:
      return "AA_RECORD_INVALID";
    case EventType::kError:
      return "AA_RECORD_ERROR";
    case EventType::kAudit:
      return "AA_RECORD_AUDIT";
    case EventType::kAllowed:
      return "AA_RECORD_ALLOWED";
    case EventType::kDenied:
      return "AA_RECORD_DENIED";
    case EventType::kHint:
      return "AA_RECORD_HINT";
    case EventType::kStatus:
      return "AA_RECORD_STATUS";
    case EventType::kKilled:
      break;  // libapparmor has no KILLED event
  }
  return "UNKNOWN EVENT TYPE";
}

}  // namespace

std::string format_aalogparse(const Event& ev, std::string_view file_name) {
  std::string out;
  out.reserve(512);
  out.append("START\nFile: ").append(file_name).push_back('\n');
  out.append("Event type: ").append(event_name(ev.event)).push_back('\n');
  line(out, "Audit ID", ev.audit_id);
  line(out, "Operation", ev.operation);
  line(out, "Mask", ev.requested_mask);
  line(out, "Denied Mask", ev.denied_mask);
  // fsuid/ouid are "unset" at -1, so 0 (root) is printed.
  if (ev.fsuid) out.append("fsuid: ").append(std::to_string(*ev.fsuid)).push_back('\n');
  if (ev.ouid) out.append("ouid: ").append(std::to_string(*ev.ouid)).push_back('\n');
  line(out, "Profile", ev.profile);
  line(out, "Peer profile", ev.peer_profile);
  line(out, "Peer", ev.peer);
  line(out, "Name", ev.name);
  // libapparmor stores exe= and comm= in the same member; the later one wins. exe= only occurs in
  // USER_AVC bodies (libaudit appends it), where there is no comm=.
  std::optional<std::string> command = ev.comm;
  for (const auto& [key, value] : ev.extra) {
    if (key == "exe") command = value;
  }
  line(out, "Command", command);
  line(out, "Name2", ev.name2);
  line(out, "Namespace", ev.ns);
  line(out, "Attribute", ev.attribute);
  number(out, "Task", ev.task);
  number(out, "Parent", ev.parent);
  number(out, "Token", ev.magic_token);
  line(out, "Info", ev.info);
  line(out, "Peer info", ev.info_peer);
  if (ev.error_code && *ev.error_code != 0) {
    // libapparmor drops the sign of error=-13.
    out.append("ErrorCode: ").append(std::to_string(std::abs(*ev.error_code))).push_back('\n');
  }
  number(out, "PID", ev.pid);
  number(out, "Peer PID", ev.peer_pid);
  line(out, "Active hat", ev.active_hat);
  line(out, "Net Addr", ev.net_addr);
  line(out, "Peer Addr", ev.peer_addr);
  line(out, "Network family", ev.net_family);
  line(out, "Socket type", ev.net_sock_type);
  line(out, "Protocol", ev.net_protocol);
  line(out, "Local addr", ev.net_local_addr);
  line(out, "Foreign addr", ev.net_foreign_addr);
  number(out, "Local port", ev.net_local_port);
  number(out, "Foreign port", ev.net_foreign_port);
  line(out, "DBus bus", ev.dbus_bus);
  line(out, "DBus path", ev.dbus_path);
  line(out, "DBus interface", ev.dbus_interface);
  line(out, "DBus member", ev.dbus_member);
  line(out, "Signal", ev.signal);
  line(out, "FS Type", ev.fs_type);
  line(out, "Flags", ev.flags);
  line(out, "Src name", ev.src_name);
  line(out, "Execpath", ev.execpath);
  line(out, "Class", ev.rule_class);
  number(out, "Epoch", ev.epoch);
  number(out, "Audit subid", ev.audit_sub_id);
  return out;
}

std::string_view record_class(const Event& ev) {
  if (ev.rule_class) return *ev.rule_class;
  if (ev.event == EventType::kStatus) return "status";
  const std::string_view op = ev.operation ? std::string_view(*ev.operation) : "";
  if (op.starts_with("dbus_")) return "dbus";
  if (op == "signal") return "signal";
  if (op == "ptrace") return "ptrace";
  if (op == "capable") return "cap";
  if (op == "setrlimit") return "rlimits";
  if (op == "mount" || op == "umount" || op == "remount" || op == "pivotroot") return "mount";
  if (op.starts_with("uring_")) return "io_uring";
  if (op.starts_with("userns_")) return "namespace";
  if (op == "change_profile" || op == "change_hat" || op == "change_onexec") return "file";
  if (ev.net_family || ev.net_sock_type) return "net";
  if (op.empty()) return "unknown";
  return "file";
}

}  // namespace aatune::collector
