#include "collector/event.h"

namespace aatune::collector {

std::string_view to_string(EventType type) {
  switch (type) {
    case EventType::kInvalid:
      return "INVALID";
    case EventType::kError:
      return "ERROR";
    case EventType::kAudit:
      return "AUDIT";
    case EventType::kAllowed:
      return "ALLOWED";
    case EventType::kDenied:
      return "DENIED";
    case EventType::kHint:
      return "HINT";
    case EventType::kStatus:
      return "STATUS";
    case EventType::kKilled:
      return "KILLED";
  }
  return "INVALID";
}

std::string_view to_string(Container container) {
  switch (container) {
    case Container::kUnknown:
      return "unknown";
    case Container::kAuditLog:
      return "audit.log";
    case Container::kSyslog:
      return "syslog";
    case Container::kDmesg:
      return "dmesg";
    case Container::kJournal:
      return "journal";
    case Container::kNetlink:
      return "netlink";
    case Container::kBare:
      return "bare";
  }
  return "unknown";
}

std::string_view to_string(Trust trust) {
  switch (trust) {
    case Trust::kKernel:
      return "kernel";
    case Trust::kAuditDaemon:
      return "auditd";
    case Trust::kUserspaceAudit:
      return "userspace-audit";
    case Trust::kUnverified:
      return "unverified";
  }
  return "unverified";
}

}  // namespace aatune::collector
