#include "analyzer/grouping.h"

#include <algorithm>
#include <array>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <utility>

namespace aatune::analyzer {
namespace {

bool starts_with_any(std::string_view s, std::initializer_list<std::string_view> prefixes) {
  for (auto p : prefixes) {
    if (s.starts_with(p)) return true;
  }
  return false;
}

// Operations of the network hooks (records.md §1.4). Needed because kernels before 6.x print no
// `class=`, so the operation is all there is to tell a socket record from a file one.
constexpr std::array<std::string_view, 13> kNetOps{
    "create",     "post_create", "bind",           "connect",     "listen",
    "accept",     "sendmsg",     "recvmsg",        "getsockname", "getpeername",
    "getsockopt", "setsockopt",  "socket_shutdown"};

std::string_view or_empty(const std::optional<std::string>& v) {
  return v ? std::string_view(*v) : std::string_view();
}

// What was accessed, per class: the key's target field. One definition for group_key() and the
// bulk append_group_key(), so the two can never disagree.
void append_target(const collector::Event& e, std::string_view cls, std::string& out) {
  auto joined = [&](std::initializer_list<std::string_view> parts) {
    bool first = true;
    for (auto p : parts) {
      if (!first) out += ' ';
      out += p;
      first = false;
    }
  };
  if (cls == "capability") {
    std::string_view target;
    bool found = false;
    for (const auto& [k, v] : e.extra) {
      if (k == "capname") {
        target = v;
        found = true;
      }
    }
    if (!found || target.empty()) target = or_empty(e.name);
    out += target;
  } else if (cls == "signal" || cls == "ptrace") {
    out += e.peer ? std::string_view(*e.peer) : or_empty(e.peer_profile);
    if (e.signal) {
      out += ' ';
      out += *e.signal;
    }
  } else if (cls == "network") {
    joined({or_empty(e.net_family), or_empty(e.net_sock_type), or_empty(e.net_protocol)});
  } else if (cls == "unix") {
    joined(
        {or_empty(e.net_sock_type), or_empty(e.net_addr), or_empty(e.peer_addr), or_empty(e.peer)});
  } else if (cls == "dbus") {
    joined({or_empty(e.dbus_bus), or_empty(e.dbus_path), or_empty(e.dbus_interface),
            or_empty(e.dbus_member), or_empty(e.peer_profile)});
  } else if (cls == "mount") {
    joined({or_empty(e.name), or_empty(e.src_name), or_empty(e.fs_type), or_empty(e.flags)});
  } else {
    out += or_empty(e.name);
    if (e.name2) {
      out += " -> ";
      out += *e.name2;
    }
  }
}

}  // namespace

GroupKey group_key(const collector::Event& e) {
  GroupKey key;
  key.profile = e.profile.value_or("");
  key.rule_class = event_class(e);
  key.operation = e.operation.value_or("");
  append_target(e, key.rule_class, key.target);
  key.mask = e.denied_mask.value_or(e.requested_mask.value_or(""));
  return key;
}

std::string to_string(const GroupKey& k) {
  constexpr char kSep = '\x1f';
  return k.profile + kSep + k.rule_class + kSep + k.operation + kSep + k.target + kSep + k.mask;
}

namespace {

// event_class() as a view (a literal or the event's own class= text): no string per record.
std::string_view event_class_view(const collector::Event& e) {
  const std::string_view op = e.operation ? std::string_view(*e.operation) : std::string_view();
  if (op == "exec") return "exec";
  if (op == "capable" ||
      std::ranges::any_of(e.extra, [](const auto& kv) { return kv.first == "capname"; })) {
    return "capability";
  }
  if (op == "signal") return "signal";
  if (op == "ptrace") return "ptrace";
  if (op.starts_with("dbus")) return "dbus";
  if (op == "mount" || op == "umount" || op == "remount" || op == "pivotroot") return "mount";
  if (starts_with_any(op, {"change_profile", "change_onexec", "change_hat"})) {
    return "change_profile";
  }
  if (op.starts_with("userns")) return "userns";
  if (op.starts_with("uring")) return "io_uring";
  if (e.rule_class) {
    const std::string_view c = *e.rule_class;
    if (c == "net") return e.net_family == "unix" ? "unix" : "network";
    if (c == "cap") return "capability";
    if (c == "namespace") return "userns";
    if (c == "posix_mqueue" || c == "sysv_mqueue") return "mqueue";
    return c;
  }
  if (e.net_family) return *e.net_family == "unix" ? "unix" : "network";
  for (auto n : kNetOps) {
    if (op == n) return "network";
  }
  if (op.starts_with("profile_") || op == "status") return "status";
  return "file";
}

}  // namespace

std::string event_class(const collector::Event& e) {
  return std::string(event_class_view(e));
}

void append_group_key(const collector::Event& e, std::string& out) {
  constexpr char kSep = '\x1f';
  const std::string_view cls = event_class_view(e);
  out += or_empty(e.profile);
  out += kSep;
  out += cls;
  out += kSep;
  out += or_empty(e.operation);
  out += kSep;
  append_target(e, cls, out);
  out += kSep;
  out += e.denied_mask ? std::string_view(*e.denied_mask) : or_empty(e.requested_mask);
}

namespace {

// The uid the kernel wrote for the sender: the ` uid=` before the first ` msg='`. The kernel
// copies the sender's text after `msg='` verbatim, quotes included, so a sender can close the
// quote and append its own `uid=0`; only the kernel's prefix counts. Events without raw text (none
// from the parser) fall back to the parsed field.
std::optional<uint64_t> kernel_sender_uid(const collector::Event& e) {
  if (e.raw.empty()) return e.sender_uid;
  const std::string_view raw = e.raw;
  const size_t msg = raw.find(" msg='");
  const std::string_view prefix = raw.substr(0, msg);
  const size_t at = prefix.find(" uid=");
  if (at == std::string_view::npos) return std::nullopt;
  uint64_t uid = 0;
  size_t i = at + 5;
  if (i >= prefix.size() || prefix[i] < '0' || prefix[i] > '9') return std::nullopt;
  for (; i < prefix.size() && prefix[i] >= '0' && prefix[i] <= '9'; ++i) {
    if (uid > (UINT64_MAX - 9) / 10) return std::nullopt;
    uid = uid * 10 + static_cast<uint64_t>(prefix[i] - '0');
  }
  return uid;
}

}  // namespace

std::string unverified_reason(const collector::Event& e, const TrustPolicy& policy) {
  switch (e.trust) {
    case collector::Trust::kKernel:
    case collector::Trust::kAuditDaemon:
      return {};
    case collector::Trust::kUserspaceAudit:
      // The uid inside msg='…' is the sender's own claim; only the outer one comes from the
      // kernel (the parser keeps just that one in sender_uid).
      {
        const std::optional<uint64_t> uid = kernel_sender_uid(e);
        if (!uid) {
          return "a USER_AVC record without the sender uid the kernel attaches (any process can "
                 "send one)";
        }
        if (*uid != e.sender_uid) {
          return "a USER_AVC record whose text claims sender uid " +
                 (e.sender_uid ? std::to_string(*e.sender_uid) : std::string("?")) +
                 " but the kernel wrote uid " + std::to_string(*uid) + " (a forged record)";
        }
        if (policy.trusted_sender_uids.contains(*uid)) return {};
        return "a USER_AVC record sent by uid " + std::to_string(*uid) +
               ", which is neither root nor the D-Bus daemon's user (any process can send one)";
      }
    case collector::Trust::kUnverified:
      break;
  }
  return "the record could have been written by any user (not from the kernel or auditd)";
}

bool is_unverified(const collector::Event& e, const TrustPolicy& policy) {
  return !unverified_reason(e, policy).empty();
}

namespace {

std::optional<int64_t> event_ms(const collector::Event& e) {
  if (!e.epoch) return std::nullopt;
  return *e.epoch * 1000 + static_cast<int64_t>(e.audit_msec.value_or(0));
}

}  // namespace

Grouped group_events(std::span<const LoggedEvent> events, const TrustPolicy& policy) {
  using collector::EventType;
  Grouped out;
  // Trust is part of the identity: (key, unverified) -> index into out.groups.
  std::map<std::pair<GroupKey, bool>, size_t> index;
  for (const LoggedEvent& le : events) {
    const collector::Event& e = le.event;
    switch (e.event) {
      case EventType::kDenied:
      case EventType::kAllowed:
      case EventType::kKilled:
        break;
      case EventType::kStatus:
        ++out.other.status;
        continue;
      case EventType::kAudit:
        ++out.other.audit;
        continue;
      default:
        ++out.other.other;
        continue;
    }
    GroupKey key = group_key(e);
    if (key.profile.empty() || key.rule_class == "status") {
      ++out.other.other;
      continue;
    }
    std::string reason = unverified_reason(e, policy);
    const bool unverified = !reason.empty();
    auto [it, inserted] = index.try_emplace({key, unverified}, out.groups.size());
    if (inserted) {
      Group g;
      g.key = std::move(key);
      g.unverified = unverified;
      g.unverified_reason = std::move(reason);
      g.sample = e;
      out.groups.push_back(std::move(g));
    }
    Group& g = out.groups[it->second];
    ++g.count;
    if (e.event == EventType::kDenied) ++g.denied;
    if (e.event == EventType::kAllowed) ++g.allowed;
    if (e.event == EventType::kKilled) ++g.killed;
    if (auto ms = event_ms(e)) {
      if (!g.first_seen_ms || *ms < *g.first_seen_ms) g.first_seen_ms = ms;
      if (!g.last_seen_ms || *ms > *g.last_seen_ms) g.last_seen_ms = ms;
    }
    if (e.pid) g.pids.insert(*e.pid);
    if (e.comm) g.comms.insert(*e.comm);
    g.sources.push_back({le.source, le.line_no});
    if (g.raw.size() < Group::kMaxRawPerGroup) g.raw.push_back(e.raw);
  }
  return out;
}

}  // namespace aatune::analyzer
