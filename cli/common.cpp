#include "cli/common.h"

#include <pwd.h>

#include <deque>
#include <filesystem>
#include <fstream>
#include <ostream>
#include <sstream>
#include <unordered_set>

#include "cli/commands.h"
#include "collector/parser.h"
#include "collector/reader.h"
#include "store/store.h"

namespace aatune::cli {
namespace {

namespace fs = std::filesystem;

// The text between <tag> and </tag>, first occurrence.
std::string xml_element(const std::string& text, std::string_view tag) {
  const std::string open = "<" + std::string(tag) + ">";
  const std::string close = "</" + std::string(tag) + ">";
  const size_t a = text.find(open);
  if (a == std::string::npos) return {};
  const size_t b = text.find(close, a + open.size());
  if (b == std::string::npos) return {};
  std::string v = text.substr(a + open.size(), b - a - open.size());
  const auto first = v.find_first_not_of(" \t\r\n");
  const auto last = v.find_last_not_of(" \t\r\n");
  return first == std::string::npos ? std::string() : v.substr(first, last - first + 1);
}

}  // namespace

analyzer::TrustPolicy system_trust_policy() {
  analyzer::TrustPolicy policy;
  for (const char* user : {"messagebus", "dbus"}) {
    passwd pw{};
    passwd* found = nullptr;
    std::vector<char> buf(16384);
    if (getpwnam_r(user, &pw, buf.data(), buf.size(), &found) == 0 && found != nullptr) {
      policy.trusted_sender_uids.insert(found->pw_uid);
    }
  }
  return policy;
}

std::map<std::string, std::string> read_vm_names(const std::string& dir, std::ostream& err) {
  std::map<std::string, std::string> out;
  std::error_code ec;
  std::vector<fs::path> files;
  if (fs::is_regular_file(dir, ec)) {
    files.emplace_back(dir);
  } else {
    for (const auto& entry : fs::directory_iterator(dir, ec)) {
      if (entry.path().extension() == ".xml") files.push_back(entry.path());
    }
  }
  for (const auto& path : files) {
    std::ifstream in(path);
    std::stringstream ss;
    ss << in.rdbuf();
    std::string text = ss.str();
    // Comments may mention <uuid> or <name> (libvirt's own files do): drop them first.
    for (size_t a = text.find("<!--"); a != std::string::npos; a = text.find("<!--", a)) {
      const size_t b = text.find("-->", a);
      text.erase(a, b == std::string::npos ? std::string::npos : b + 3 - a);
    }
    const std::string uuid = xml_element(text, "uuid");
    const std::string name = xml_element(text, "name");
    if (uuid.empty() || name.empty()) {
      err << "aatune: warning: " << path.string() << ": no <uuid> or <name>; skipped\n";
      continue;
    }
    out[uuid] = name;
  }
  if (ec) err << "aatune: warning: " << dir << ": " << ec.message() << "\n";
  return out;
}

std::vector<std::string> default_logs() {
  std::vector<std::string> logs;
  for (const char* p : {"/var/log/audit/audit.log", "/var/log/kern.log", "/var/log/syslog"}) {
    std::error_code ec;
    if (fs::is_regular_file(p, ec)) logs.emplace_back(p);
  }
  return logs;
}

std::expected<LogEvents, std::string> read_log_events(const std::vector<std::string>& logs,
                                                      std::ostream& err,
                                                      const ReadLogOptions& options) {
  LogEvents out;
  std::unordered_set<uint64_t> seen;
  // auditd writes an event's companions right after its AVC, but nothing forbids the other
  // order: companions not yet claimed wait in a short window instead of being kept wholesale
  // (a busy audit.log has a SYSCALL record for every audited call).
  constexpr size_t kPendingWindow = 256;
  std::deque<collector::Companion> pending;
  auto claim = [&](const std::string& id) {
    auto& mine = out.companions[id];
    for (auto it = pending.begin(); it != pending.end();) {
      if (it->audit_id == id) {
        mine.push_back(std::move(*it));
        it = pending.erase(it);
      } else {
        ++it;
      }
    }
  };
  for (const auto& path : logs) {
    auto reader = collector::LineReader::open(path);
    if (!reader) return std::unexpected(reader.error().path + ": " + reader.error().message);
    LogSource source{path, 0};
    while (true) {
      auto line = reader->next();
      if (!line) return std::unexpected(line.error().path + ": " + line.error().message);
      if (!*line) break;
      const auto& raw = **line;
      if (!collector::may_be_apparmor(raw.text)) {
        if (!options.companions) continue;
        auto c = collector::parse_companion(raw.text);
        if (!c || !c->audit_id) continue;
        if (auto it = out.companions.find(*c->audit_id); it != out.companions.end()) {
          it->second.push_back(std::move(*c));
        } else {
          pending.push_back(std::move(*c));
          if (pending.size() > kPendingWindow) pending.pop_front();
        }
        continue;
      }
      auto ev = collector::parse_line(raw.text);
      if (!ev) {
        if (ev.error().kind == collector::ParseError::Kind::kInvalid) {
          ++out.invalid;
          err << "aatune: warning: " << path << ':' << raw.line_no << ": "
              << (ev.error().field.empty() ? "" : ev.error().field + ": ") << ev.error().message
              << '\n';
        }
        continue;
      }
      ++source.records;
      // Several AppArmor records of one event (a signal's two sides) share its companions.
      if (options.companions && ev->audit_id && !out.companions.contains(*ev->audit_id))
        claim(*ev->audit_id);
      // The same kernel record read from two logs (kern.log and audit.log) is one denial.
      if (ev->audit_id && !seen.insert(store::record_fingerprint(*ev)).second) continue;
      out.events.push_back({std::move(*ev), path, raw.line_no});
    }
    out.sources.push_back(std::move(source));
  }
  // Ids that never got a companion (kern.log has none) are not worth an empty entry.
  std::erase_if(out.companions, [](const auto& kv) { return kv.second.empty(); });
  return out;
}

namespace {

template <typename T>
void put(nlohmann::ordered_json& j, const char* key, const std::optional<T>& value) {
  if (value) j[key] = *value;
}

}  // namespace

nlohmann::ordered_json to_json(const collector::Event& ev) {
  nlohmann::ordered_json j;
  j["event"] = collector::to_string(ev.event);
  put(j, "audit_id", ev.audit_id);
  put(j, "operation", ev.operation);
  put(j, "class", ev.rule_class);
  put(j, "requested_mask", ev.requested_mask);
  put(j, "denied_mask", ev.denied_mask);
  put(j, "fsuid", ev.fsuid);
  put(j, "ouid", ev.ouid);
  put(j, "profile", ev.profile);
  put(j, "peer_profile", ev.peer_profile);
  put(j, "peer", ev.peer);
  put(j, "name", ev.name);
  put(j, "name2", ev.name2);
  put(j, "comm", ev.comm);
  put(j, "namespace", ev.ns);
  put(j, "attribute", ev.attribute);
  put(j, "task", ev.task);
  put(j, "parent", ev.parent);
  put(j, "magic_token", ev.magic_token);
  put(j, "info", ev.info);
  put(j, "peer_info", ev.info_peer);
  put(j, "error_code", ev.error_code);
  put(j, "pid", ev.pid);
  put(j, "peer_pid", ev.peer_pid);
  put(j, "active_hat", ev.active_hat);
  put(j, "execpath", ev.execpath);
  put(j, "net_family", ev.net_family);
  put(j, "net_sock_type", ev.net_sock_type);
  put(j, "net_protocol", ev.net_protocol);
  put(j, "net_local_addr", ev.net_local_addr);
  put(j, "net_local_port", ev.net_local_port);
  put(j, "net_foreign_addr", ev.net_foreign_addr);
  put(j, "net_foreign_port", ev.net_foreign_port);
  put(j, "net_addr", ev.net_addr);
  put(j, "peer_addr", ev.peer_addr);
  put(j, "dbus_bus", ev.dbus_bus);
  put(j, "dbus_path", ev.dbus_path);
  put(j, "dbus_interface", ev.dbus_interface);
  put(j, "dbus_member", ev.dbus_member);
  put(j, "signal", ev.signal);
  put(j, "fs_type", ev.fs_type);
  put(j, "flags", ev.flags);
  put(j, "src_name", ev.src_name);
  put(j, "epoch", ev.epoch);
  put(j, "audit_sub_id", ev.audit_sub_id);
  if (!ev.extra.empty()) {
    auto& extra = j["extra"] = nlohmann::ordered_json::object();
    for (const auto& [key, value] : ev.extra) extra[key] = value;  // a repeated key: last wins
  }
  if (!ev.record_type_name.empty()) j["record_type"] = ev.record_type_name;
  j["container"] = collector::to_string(ev.container);
  j["trust"] = collector::to_string(ev.trust);
  put(j, "host", ev.host);
  put(j, "timestamp", ev.timestamp);
  put(j, "sender_uid", ev.sender_uid);
  return j;
}

int exit_code_for(rules::CommitError::Kind k) {
  using K = rules::CommitError::Kind;
  switch (k) {
    case K::kUsage:
      return kExitUsage;
    case K::kPermission:
      return kExitPermission;
    case K::kValidation:
    case K::kReload:
      return kExitValidation;
    case K::kChanged:
    case K::kLocked:
    case K::kIo:
      return kExitFindings;
  }
  return kExitFindings;
}

}  // namespace aatune::cli
