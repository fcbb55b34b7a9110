// aatune list: the stored denial groups with their counts (and, once wired, the analyzer's
// proposal and explanation).
#include <charconv>
#include <chrono>
#include <cstdio>
#include <ctime>
#include <initializer_list>
#include <nlohmann/json.hpp>
#include <optional>
#include <ostream>
#include <string>
#include <vector>

#include "cli/commands.h"
#include "store/store.h"

namespace aatune::cli {
namespace {

constexpr std::string_view kUsage =
    "usage: aatune list [--db PATH] [--profile P] [--since T] [--all] [--json]\n"
    "  --since T   epoch seconds, YYYY-MM-DD, or a relative age: 30m, 12h, 7d\n"
    "  --all       include groups already decided (ignored, accepted, denied)\n";

// --since: absolute (epoch, date) or relative to `now`.
std::optional<int64_t> parse_since(std::string_view t, int64_t now) {
  if (t.empty()) return std::nullopt;
  int64_t n = 0;
  const char* end = t.data() + t.size();
  auto [p, ec] = std::from_chars(t.data(), end, n);
  if (ec != std::errc()) return std::nullopt;
  if (p == end) return n;
  if (p + 1 == end) {
    switch (*p) {
      case 's':
        return now - n;
      case 'm':
        return now - n * 60;
      case 'h':
        return now - n * 3600;
      case 'd':
        return now - n * 86400;
      default:
        return std::nullopt;
    }
  }
  std::tm tm{};
  if (t.size() == 10 && strptime(std::string(t).c_str(), "%Y-%m-%d", &tm)) {
    return static_cast<int64_t>(timegm(&tm));
  }
  return std::nullopt;
}

// The grouping key's fields, joined by U+001F (analyzer/grouping.h).
std::vector<std::string> key_fields(const std::string& key) {
  std::vector<std::string> out;
  size_t start = 0;
  while (true) {
    const size_t sep = key.find('\x1f', start);
    out.push_back(key.substr(start, sep == std::string::npos ? std::string::npos : sep - start));
    if (sep == std::string::npos) break;
    start = sep + 1;
  }
  out.resize(std::max<size_t>(out.size(), 5));
  return out;
}

std::string when(std::optional<int64_t> t) {
  if (!t) return "-";
  const std::time_t tt = static_cast<std::time_t>(*t);
  std::tm tm{};
  gmtime_r(&tt, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%d %H:%M", &tm);
  return buf;
}

// Table columns (GCC 12 has no <format>): width > 0 pads on the right, < 0 aligns right.
struct Cell {
  Cell(std::string_view s, int w) : text(s), width(w) {}
  Cell(uint64_t n, int w) : text(std::to_string(n)), width(w) {}
  std::string text;
  int width;
};
std::string row(std::initializer_list<Cell> cells) {
  std::string out;
  for (const Cell& c : cells) {
    const size_t w = static_cast<size_t>(c.width < 0 ? -c.width : c.width);
    const size_t pad = c.text.size() < w ? w - c.text.size() : 0;
    if (!out.empty()) out += ' ';
    if (c.width < 0) out.append(pad, ' ');
    out += c.text;
    if (c.width > 0) out.append(pad, ' ');
  }
  return out;
}

}  // namespace

int run_list(const Invocation& inv) {
  std::optional<std::string> db_flag;
  store::GroupFilter filter;
  bool json = false;
  const int64_t now = static_cast<int64_t>(std::time(nullptr));
  for (size_t i = 0; i < inv.args.size(); ++i) {
    const std::string& a = inv.args[i];
    const bool has_value = i + 1 < inv.args.size();
    if (a == "--help" || a == "-h") {
      inv.out << kUsage;
      return kExitOk;
    } else if (a == "--db" && has_value) {
      db_flag = inv.args[++i];
    } else if (a.starts_with("--db=")) {
      db_flag = a.substr(5);
    } else if (a == "--profile" && has_value) {
      filter.profile = inv.args[++i];
    } else if (a == "--since" && has_value) {
      filter.since = parse_since(inv.args[++i], now);
      if (!filter.since) {
        inv.err << "aatune: error: list: --since '" << inv.args[i]
                << "': expected epoch seconds, YYYY-MM-DD, or 30m/12h/7d\n";
        return kExitUsage;
      }
    } else if (a == "--all") {
      filter.all = true;
    } else if (a == "--json") {
      json = true;
    } else {
      inv.err << "aatune: error: list: unknown or incomplete option '" << a << "'\n" << kUsage;
      return kExitUsage;
    }
  }
  auto db =
      store::Store::open(store::locate_db(db_flag), {.read_only = true, .max_size_bytes = {}});
  if (!db) {
    inv.err << "aatune: error: " << db.error().message << '\n';
    return kExitUsage;
  }
  // LEAD: set filter.profile_hash from the rules module (profile name -> file content hash) so
  // that a decided group comes back when its profile changes on disk.
  auto groups = db->groups(filter);
  if (!groups) {
    inv.err << "aatune: error: " << groups.error().message << '\n';
    return kExitUsage;
  }

  if (json) {
    nlohmann::json j = nlohmann::json::array();
    for (const auto& g : *groups) {
      const auto f = key_fields(g.key);
      nlohmann::json hosts = nlohmann::json::object();
      for (const auto& h : g.hosts) hosts[h.host] = h.count;
      nlohmann::json item{
          {"key", g.key},
          {"profile", g.profile},
          {"class", g.rule_class},
          {"operation", f[2]},
          {"target", f[3]},
          {"mask", f[4]},
          {"count", g.count},
          {"first_seen", g.first_seen ? nlohmann::json(*g.first_seen) : nullptr},
          {"last_seen", g.last_seen ? nlohmann::json(*g.last_seen) : nullptr},
          {"hosts", hosts},
          {"decision", g.decision ? nlohmann::json(store::to_string(g.decision->kind)) : nullptr}};
      // ANALYZER: add "proposal" and "explanation" here (analyzer::propose / explain on
      // db->events_of_group(g.key)).
      j.push_back(std::move(item));
    }
    inv.out << j.dump(2) << '\n';
    return kExitOk;
  }
  if (groups->empty()) {
    inv.out << "no open denial groups" << (filter.all ? "" : " (use --all to include decided ones)")
            << '\n';
    return kExitOk;
  }
  inv.out << row({Cell("count", -7), Cell("profile", 32), Cell("class", 10), Cell("operation", 14),
                  Cell("target", 40), Cell("mask", 6), Cell("last seen", 16), Cell("decision", 0)})
          << '\n';
  for (const auto& g : *groups) {
    const auto f = key_fields(g.key);
    inv.out << row({Cell(g.count, -7), Cell(g.profile, 32), Cell(g.rule_class, 10), Cell(f[2], 14),
                    Cell(f[3], 40), Cell(f[4], 6), Cell(when(g.last_seen), 16),
                    Cell(g.decision ? store::to_string(g.decision->kind) : "-", 0)})
            << '\n';
    // ANALYZER: print the proposed rule and the one-line explanation under each group here.
  }
  return kExitOk;
}

}  // namespace aatune::cli
