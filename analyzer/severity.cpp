#include "analyzer/severity.h"

#include <algorithm>
#include <array>
#include <utility>

#include "rules/aare.h"

namespace aatune::analyzer {
namespace {

// Capabilities that amount to owning the machine or its security policy.
constexpr std::array<std::string_view, 6> kCriticalCaps{"sys_module", "mac_admin", "mac_override",
                                                        "sys_rawio",  "bpf",       "sys_boot"};
// Capabilities that bypass the kernel's own access checks or change identities.
constexpr std::array<std::string_view, 11> kHighCaps{
    "sys_admin", "sys_ptrace", "dac_override", "dac_read_search", "setuid",       "setgid",
    "fowner",    "chown",      "net_admin",    "perfmon",         "audit_control"};

// Where a write changes the system itself (configuration, binaries, boot, kernel knobs).
constexpr std::array<std::string_view, 10> kSystemDirs{"/etc/",  "/usr/",     "/boot/",  "/bin/",
                                                       "/sbin/", "/lib/",     "/lib64/", "/opt/",
                                                       "/sys/",  "/proc/sys/"};
// Where even a read leaks secrets.
constexpr std::array<std::string_view, 7> kSecretPaths{
    "/etc/shadow",        "/etc/gshadow", "/etc/sudoers", "/root/",
    "/etc/ssh/ssh_host_", "/.ssh/",       "/etc/apparmor"};

bool contains(auto& list, std::string_view v) {
  for (auto x : list) {
    if (x == v) return true;
  }
  return false;
}

bool has_any(std::string_view s, std::string_view chars) {
  return s.find_first_of(chars) != std::string_view::npos;
}

bool under_any(std::string_view path, auto& prefixes) {
  for (auto p : prefixes) {
    if (path.starts_with(p)) return true;
  }
  return false;
}

bool mentions_any(std::string_view path, auto& parts) {
  for (auto p : parts) {
    if (path.find(p) != std::string_view::npos) return true;
  }
  return false;
}

constexpr std::array<std::string_view, 7> kGuardedCaps{"sys_admin", "sys_module",   "sys_ptrace",
                                                       "mac_admin", "mac_override", "dac_override",
                                                       "sys_rawio"};

// System trees where a write changes the machine itself. "/lib" covers /lib, /lib64, /libx32 …
constexpr std::array<std::string_view, 6> kGuardedWriteTrees{"/etc", "/usr", "/boot",
                                                             "/lib", "/sys", "/proc/sys"};

// The literal start of a pattern: everything before its first glob, class, alternation or
// variable (escapes resolved), so `/e\*tc` is not mistaken for a glob.
std::string literal_prefix(std::string_view pattern) {
  std::string out;
  for (size_t i = 0; i < pattern.size(); ++i) {
    const char c = pattern[i];
    if (c == '\\' && i + 1 < pattern.size()) {
      out += pattern[++i];
      continue;
    }
    if (c == '*' || c == '?' || c == '[' || c == '{' || c == '@') break;
    out += c;
  }
  return out;
}

// The top-level directory a pattern may reach ("/etc" for "/etc/x", "/lib64/…" → "/lib64"), or
// "/" when its first component is already a glob (then it may reach any tree).
std::string top_tree(std::string_view pattern) {
  const std::string lit = literal_prefix(pattern);
  const size_t next = lit.find('/', 1);
  if (next != std::string::npos) return lit.substr(0, next);
  return lit.size() == pattern.size() ? lit : "/";
}

bool writes_guarded_tree(std::string_view pattern, std::string* where) {
  const std::string lit = literal_prefix(pattern);
  if (!pattern.starts_with("/")) return false;  // a variable (@{HOME}) is never a system tree
  if (top_tree(pattern) == "/") {
    *where = "/";
    return true;
  }
  for (auto tree : kGuardedWriteTrees) {
    const bool lib = tree == "/lib";
    if (lit.starts_with(tree) && (lib || lit.size() == tree.size() || lit[tree.size()] == '/')) {
      *where = lib ? top_tree(pattern) : std::string(tree);
      return true;
    }
  }
  return false;
}

// `**` reachable within the first component of a tree: "/**", "/*/**", "/etc/**", "@{HOME}/**".
bool recursive_at_top(std::string_view pattern) {
  const size_t star = pattern.find("**");
  if (star == std::string_view::npos) return false;
  // Count the components written before the `**` (a variable counts as one).
  const std::string_view head = pattern.substr(0, star);
  size_t components = 0;
  bool in_component = false;
  for (const char c : head) {
    if (c == '/') {
      in_component = false;
    } else if (!in_component) {
      in_component = true;
      ++components;
    }
  }
  if (in_component) return components <= 2;  // "/etc/x**" still spans /etc
  return components <= 1;
}

bool may_be_unconfined(std::string_view peer) {
  return peer.empty() || peer == "unconfined" || aatune::rules::aare_matches(peer, "unconfined");
}

SeverityAssessment rate(Severity level, std::string reason) {
  return {level, std::move(reason)};
}

}  // namespace

std::string_view to_string(Severity severity) {
  switch (severity) {
    case Severity::kLow:
      return "low";
    case Severity::kMedium:
      return "medium";
    case Severity::kHigh:
      return "high";
    case Severity::kCritical:
      return "critical";
  }
  return "low";
}

SeverityAssessment assess_severity(const GroupKey& key, std::string_view file_perms,
                                   std::string_view exec_mode) {
  const std::string_view cls = key.rule_class;
  if (cls == "capability") {
    if (contains(kCriticalCaps, key.target))
      return rate(Severity::kCritical, "capability " + key.target);
    if (contains(kHighCaps, key.target)) return rate(Severity::kHigh, "capability " + key.target);
    return rate(Severity::kMedium, "capability " + key.target);
  }
  if (cls == "exec") {
    // Unconfined execution leaves AppArmor entirely: the child can do anything the user can.
    if (exec_mode == "ux" || exec_mode == "Ux")
      return rate(Severity::kCritical, "unconfined exec (ux)");
    if (has_any(exec_mode, "Uu")) return rate(Severity::kHigh, "exec may fall back to unconfined");
    return rate(Severity::kMedium, "exec of another program");
  }
  if (cls == "ptrace") {
    // trace (not tracedby) gives full control of the peer: its memory, registers, syscalls.
    if (key.mask.find("trace") != std::string::npos &&
        key.mask.find("tracedby") == std::string::npos)
      return rate(Severity::kCritical, "ptrace trace (full control of the peer)");
    return rate(Severity::kMedium, "ptrace " + key.mask);
  }
  if (cls == "mount" || cls == "change_profile")
    return rate(Severity::kHigh, key.operation + " changes the confinement or the namespace");
  if (cls == "userns") return rate(Severity::kMedium, "user namespace creation");
  if (cls == "network" && (key.target.find(" raw") != std::string::npos ||
                           key.target.starts_with("packet") || key.target.starts_with("netlink")))
    return rate(Severity::kMedium, "raw or packet socket");
  if (cls == "file" || cls == "mqueue") {
    const std::string_view path = key.target;
    const bool writes = has_any(file_perms, "wal");
    if (writes && (path.starts_with("/boot/") || path.starts_with("/etc/apparmor") ||
                   path.starts_with("/sys/kernel/security/")))
      return rate(Severity::kCritical, "write to boot files or the security policy");
    if (writes && under_any(path, kSystemDirs))
      return rate(Severity::kHigh,
                  "write under " + std::string(path.substr(0, path.find('/', 1) + 1)));
    if (mentions_any(path, kSecretPaths)) return rate(Severity::kHigh, "access to secrets");
    if (writes) return rate(Severity::kMedium, "write access");
    return rate(Severity::kLow, "");
  }
  return rate(Severity::kLow, "");
}

Guardrail guardrail_for_rule(const rules::Rule& rule) {
  if (rule.deny) return {};
  auto guard = [](std::string reason) { return Guardrail{true, std::move(reason)}; };
  if (const auto* f = std::get_if<rules::FileRule>(&rule.body)) {
    if (recursive_at_top(f->path))
      return guard("recursive grant over a whole tree (" + f->path + ")");
    std::string where;
    if (f->perms.find_first_of("wa") != std::string::npos && writes_guarded_tree(f->path, &where))
      return guard("write under " + where);
    if (f->exec_mode.find_first_of("uU") != std::string::npos)
      return guard("exec may run unconfined (" + f->exec_mode + ")");
    return {};
  }
  if (const auto* c = std::get_if<rules::CapabilityRule>(&rule.body)) {
    if (c->caps.empty()) return guard("all capabilities");
    for (const auto& cap : c->caps) {
      if (contains(kGuardedCaps, cap)) return guard("capability " + cap);
    }
    return {};
  }
  if (const auto* p = std::get_if<rules::PtraceRule>(&rule.body)) {
    const bool traces = p->access.empty() ||
                        std::find(p->access.begin(), p->access.end(), "trace") != p->access.end();
    if (traces && may_be_unconfined(p->peer)) return guard("ptrace trace on unconfined processes");
    return {};
  }
  return {};
}

}  // namespace aatune::analyzer
