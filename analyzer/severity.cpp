#include "analyzer/severity.h"

#include <array>
#include <utility>

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

}  // namespace aatune::analyzer
