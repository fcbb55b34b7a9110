#include "analyzer/grouping.h"

#include <algorithm>
#include <array>
#include <map>
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

}  // namespace

std::string event_class(const collector::Event& e) {
  // Keep the string alive: a string_view of value_or()'s temporary would dangle.
  const std::string op_text = e.operation.value_or("");
  const std::string_view op = op_text;
  if (op == "exec") return "exec";
  if (op == "capable" ||
      e.extra.end() != std::find_if(e.extra.begin(), e.extra.end(),
                                    [](auto& kv) { return kv.first == "capname"; })) {
    return "capability";
  }
  if (op == "signal") return "signal";
  if (op == "ptrace") return "ptrace";
  if (op.starts_with("dbus")) return "dbus";
  if (op == "mount" || op == "umount" || op == "remount" || op == "pivotroot") return "mount";
  if (starts_with_any(op, {"change_profile", "change_onexec", "change_hat"}))
    return "change_profile";
  if (op.starts_with("userns")) return "userns";
  if (op.starts_with("uring")) return "io_uring";
  if (e.rule_class) {
    const std::string& c = *e.rule_class;
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

GroupKey group_key(const collector::Event& e) {
  GroupKey key;
  key.profile = e.profile.value_or("");
  key.rule_class = event_class(e);
  key.operation = e.operation.value_or("");
  if (key.rule_class == "capability") {
    for (const auto& [k, v] : e.extra) {
      if (k == "capname") key.target = v;
    }
    if (key.target.empty()) key.target = e.name.value_or("");
  } else if (key.rule_class == "signal" || key.rule_class == "ptrace") {
    key.target = e.peer.value_or(e.peer_profile.value_or(""));
    if (e.signal) key.target += " " + *e.signal;
  } else if (key.rule_class == "network") {
    key.target = e.net_family.value_or("") + " " + e.net_sock_type.value_or("") + " " +
                 e.net_protocol.value_or("");
  } else if (key.rule_class == "unix") {
    key.target = e.net_sock_type.value_or("") + " " + e.net_addr.value_or("") + " " +
                 e.peer_addr.value_or("") + " " + e.peer.value_or("");
  } else if (key.rule_class == "dbus") {
    key.target = e.dbus_bus.value_or("") + " " + e.dbus_path.value_or("") + " " +
                 e.dbus_interface.value_or("") + " " + e.dbus_member.value_or("") + " " +
                 e.peer_profile.value_or("");
  } else if (key.rule_class == "mount") {
    key.target = e.name.value_or("") + " " + e.src_name.value_or("") + " " +
                 e.fs_type.value_or("") + " " + e.flags.value_or("");
  } else {
    key.target = e.name.value_or("");
    if (e.name2) key.target += " -> " + *e.name2;
  }
  key.mask = e.denied_mask.value_or(e.requested_mask.value_or(""));
  return key;
}

std::string to_string(const GroupKey& k) {
  constexpr char kSep = '\x1f';
  return k.profile + kSep + k.rule_class + kSep + k.operation + kSep + k.target + kSep + k.mask;
}

namespace {

bool is_unverified(const collector::Event& e) {
  return e.trust == collector::Trust::kUnverified;
}

std::optional<int64_t> event_ms(const collector::Event& e) {
  if (!e.epoch) return std::nullopt;
  return *e.epoch * 1000 + static_cast<int64_t>(e.audit_msec.value_or(0));
}

}  // namespace

Grouped group_events(std::span<const LoggedEvent> events) {
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
    const bool unverified = is_unverified(e);
    auto [it, inserted] = index.try_emplace({key, unverified}, out.groups.size());
    if (inserted) {
      Group g;
      g.key = std::move(key);
      g.unverified = unverified;
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
