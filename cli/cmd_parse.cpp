// aatune parse [--format json|aalogparse] [--count] [FILE…]: records in, one result per record out.
#include <filesystem>
#include <map>
#include <nlohmann/json.hpp>
#include <ostream>
#include <string>
#include <vector>

#include "cli/commands.h"
#include "collector/format.h"
#include "collector/parser.h"
#include "collector/reader.h"

namespace aatune::cli {
namespace {

using collector::Event;

constexpr std::string_view kUsage =
    "usage: aatune parse [--format json|aalogparse] [--count] [FILE…]\n"
    "  Parses AppArmor records from audit.log, syslog/kern.log, dmesg or journal export text\n"
    "  (plain or .gz; no FILE or '-' reads stdin) and prints one result per record.\n"
    "  --format json        one JSON object per record (default)\n"
    "  --format aalogparse  libapparmor's test_multi layout, one block per line\n"
    "  --count              only per-class totals\n";

enum class Format { kJson, kAalogparse };

template <typename T>
void put(nlohmann::ordered_json& j, const char* key, const std::optional<T>& value) {
  if (value) j[key] = *value;
}

nlohmann::ordered_json to_json(const Event& ev) {
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

struct Totals {
  std::map<std::string, uint64_t, std::less<>> per_class;
  uint64_t records = 0;
  uint64_t invalid = 0;
  uint64_t other = 0;
  uint64_t lines = 0;
};

}  // namespace

int run_parse(const Invocation& inv) {
  Format format = Format::kJson;
  bool count = false;
  std::vector<std::string> files;
  for (size_t i = 0; i < inv.args.size(); ++i) {
    const std::string& a = inv.args[i];
    std::string value;
    if (a == "--help" || a == "-h") {
      inv.out << kUsage;
      return kExitOk;
    }
    if (a == "--count") {
      count = true;
      continue;
    }
    if (a == "--format" || a.starts_with("--format=")) {
      if (a == "--format") {
        if (i + 1 >= inv.args.size()) {
          inv.err << "aatune: error: --format needs a value (json or aalogparse)\n";
          return kExitUsage;
        }
        value = inv.args[++i];
      } else {
        value = a.substr(9);
      }
      if (value == "json") {
        format = Format::kJson;
      } else if (value == "aalogparse") {
        format = Format::kAalogparse;
      } else {
        inv.err << "aatune: error: unknown --format '" << value << "' (json or aalogparse)\n";
        return kExitUsage;
      }
      continue;
    }
    if (a.size() > 1 && a[0] == '-' && a != "--") {
      inv.err << "aatune: error: unknown option '" << a << "'\n" << kUsage;
      return kExitUsage;
    }
    if (a != "--") files.push_back(a);
  }
  if (files.empty()) files.emplace_back("-");

  // Open every file first: an unreadable one is a usage error before anything is printed.
  std::vector<collector::LineReader> readers;
  for (const auto& f : files) {
    auto reader = collector::LineReader::open(f);
    if (!reader) {
      inv.err << "aatune: error: " << f << ": " << reader.error().message << '\n';
      return kExitUsage;
    }
    readers.push_back(std::move(*reader));
  }

  Totals totals;
  std::string block;
  for (auto& reader : readers) {
    const std::string& path = reader.path();
    const std::string display = path == "-" ? "<stdin>" : path;
    const std::string base = path == "-" ? "-" : std::filesystem::path(path).filename().string();
    while (true) {
      auto next = reader.next();
      if (!next) {
        inv.err << "aatune: error: " << display << ": " << next.error().message << '\n';
        return kExitUsage;
      }
      if (!*next) break;
      const auto& line = **next;
      ++totals.lines;
      if (reader.last_truncated()) {
        ++totals.invalid;
        inv.err << "aatune: warning: " << display << ':' << line.line_no
                << ": line longer than 1 MiB, skipped\n";
        continue;
      }
      if (line.text.empty()) continue;
      // aalogparse mode shows what libapparmor would print for every line, so it needs the
      // partial record; the other modes take the prefiltered fast path.
      const bool all_lines = format == Format::kAalogparse && !count;
      if (!all_lines && !collector::may_be_apparmor(line.text)) {
        ++totals.other;
        continue;
      }
      const collector::ParseOutcome outcome = collector::parse_record(line.text);
      if (outcome.error) {
        if (outcome.error->kind == collector::ParseError::Kind::kInvalid) {
          ++totals.invalid;
          inv.err << "aatune: warning: " << display << ':' << line.line_no << ": "
                  << outcome.error->message;
          if (!outcome.error->field.empty()) inv.err << " (field " << outcome.error->field << ')';
          inv.err << '\n';
        } else {
          ++totals.other;
        }
      } else {
        ++totals.records;
        if (count) ++totals.per_class[std::string(collector::record_class(outcome.event))];
      }
      if (count) continue;
      if (format == Format::kAalogparse) {
        inv.out << collector::format_aalogparse(outcome.event, base);
      } else if (!outcome.error) {
        inv.out
            << to_json(outcome.event).dump(-1, ' ', false, nlohmann::json::error_handler_t::replace)
            << '\n';
      }
    }
  }
  if (count) {
    inv.out << "records " << totals.records << '\n';
    for (const auto& [cls, n] : totals.per_class) inv.out << "  " << cls << ' ' << n << '\n';
    inv.out << "invalid " << totals.invalid << '\n';
    inv.out << "not-apparmor " << totals.other << '\n';
    inv.out << "lines " << totals.lines << '\n';
  }
  return totals.invalid > 0 ? kExitFindings : kExitOk;
}

}  // namespace aatune::cli
