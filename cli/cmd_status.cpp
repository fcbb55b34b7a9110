// aatune status: per-profile summary of the stored denials (and, with --by-host, who sees what).
#include <cstdio>
#include <ctime>
#include <fstream>
#include <initializer_list>
#include <map>
#include <nlohmann/json.hpp>
#include <optional>
#include <ostream>
#include <string>

#include "cli/commands.h"
#include "cli/profile_hash.h"
#include "cli/table.h"
#include "rules/profile_tree.h"
#include "store/store.h"

namespace aatune::cli {
namespace {

constexpr std::string_view kUsage =
    "usage: aatune status [--db PATH] [--profiles DIR] [--by-host] [--json]\n"
    "  Per profile: mode (when the kernel says), denial groups open / decided, last seen.\n"
    "  A decided group counts as open again once its profile's files in DIR (default\n"
    "  /etc/apparmor.d) changed since the decision.\n";

struct ProfileRow {
  std::string mode;
  uint64_t open = 0;
  uint64_t decided = 0;
  uint64_t events = 0;
  std::optional<int64_t> last_seen;
};

// `/sys/kernel/security/apparmor/profiles` lines are "NAME (MODE)"; absent without the LSM.
std::map<std::string, std::string> loaded_modes(const std::string& path) {
  std::map<std::string, std::string> out;
  std::ifstream in(path);
  std::string line;
  while (std::getline(in, line)) {
    const size_t open = line.rfind(" (");
    if (open == std::string::npos || !line.ends_with(')')) continue;
    out[line.substr(0, open)] = line.substr(open + 2, line.size() - open - 3);
  }
  return out;
}

}  // namespace

int run_status(const Invocation& inv) {
  std::optional<std::string> db_flag;
  std::string sysfs = "/sys/kernel/security/apparmor/profiles";
  std::string profiles_dir = "/etc/apparmor.d";
  bool by_host = false;
  bool json = false;
  for (size_t i = 0; i < inv.args.size(); ++i) {
    const std::string& a = inv.args[i];
    if (a == "--help" || a == "-h") {
      inv.out << kUsage;
      return kExitOk;
    } else if ((a == "--db" || a == "--profiles-file" || a == "--profiles") &&
               i + 1 < inv.args.size()) {
      if (a == "--db") {
        db_flag = inv.args[++i];
      } else if (a == "--profiles") {
        profiles_dir = inv.args[++i];
      } else {
        sysfs = inv.args[++i];
      }
    } else if (a.starts_with("--db=")) {
      db_flag = a.substr(5);
    } else if (a == "--by-host") {
      by_host = true;
    } else if (a == "--json") {
      json = true;
    } else {
      inv.err << "aatune: error: status: unknown or incomplete option '" << a << "'\n" << kUsage;
      return kExitUsage;
    }
  }
  auto db =
      store::Store::open(store::locate_db(db_flag), {.read_only = true, .max_size_bytes = {}});
  if (!db) {
    inv.err << "aatune: error: " << db.error().message << '\n';
    return kExitUsage;
  }
  if (by_host) {
    store::GroupFilter all;
    all.all = true;
    auto groups = db->groups(all);
    if (!groups) {
      inv.err << "aatune: error: " << groups.error().message << '\n';
      return kExitUsage;
    }
    // host -> profile -> (groups, events)
    std::map<std::string, std::map<std::string, std::pair<uint64_t, uint64_t>>> hosts;
    for (const auto& g : *groups) {
      for (const auto& h : g.hosts) {
        auto& cell = hosts[h.host.empty() ? "(local)" : h.host][g.profile];
        ++cell.first;
        cell.second += h.count;
      }
    }
    if (json) {
      nlohmann::json j = nlohmann::json::array();
      for (const auto& [host, profiles] : hosts) {
        for (const auto& [p, c] : profiles) {
          j.push_back({{"host", host}, {"profile", p}, {"groups", c.first}, {"events", c.second}});
        }
      }
      inv.out << j.dump(2) << '\n';
      return kExitOk;
    }
    inv.out << row({Cell("host", 28), Cell("profile", 40), Cell("groups", -7), Cell("events", -9)})
            << '\n';
    for (const auto& [host, profiles] : hosts) {
      for (const auto& [p, c] : profiles) {
        inv.out << row({Cell(host, 28), Cell(p, 40), Cell(c.first, -7), Cell(c.second, -9)})
                << '\n';
      }
    }
    return kExitOk;
  }

  // "Decided" follows the profile on disk: a group decided about an older version of its
  // profile's files is open again. Without a readable tree, decisions hold. The tree is read only
  // once a decision needs its hash (the store asks once per profile).
  std::optional<std::optional<rules::ProfileTree>> tree;
  store::SummaryFilter filter;
  filter.profile_hash = [&](std::string_view profile) -> std::optional<std::string> {
    if (!tree) {
      auto t = rules::read_profile_tree(profiles_dir);
      tree.emplace(t ? std::optional(std::move(*t)) : std::nullopt);
    }
    if (!*tree) return std::nullopt;
    return profile_content_hash(**tree, profile);
  };
  auto summaries = db->profile_summaries(filter);
  if (!summaries) {
    inv.err << "aatune: error: " << summaries.error().message << '\n';
    return kExitUsage;
  }
  const auto modes = loaded_modes(sysfs);
  std::map<std::string, ProfileRow> rows;
  for (const auto& s : *summaries) {
    const auto it = modes.find(s.profile);
    rows[s.profile] = ProfileRow{it == modes.end() ? "unknown" : it->second, s.open, s.decided,
                                 s.events, s.last_seen};
  }
  if (json) {
    nlohmann::json j = nlohmann::json::array();
    for (const auto& [p, r] : rows) {
      j.push_back({{"profile", p},
                   {"mode", r.mode},
                   {"open", r.open},
                   {"decided", r.decided},
                   {"events", r.events},
                   {"last_seen", r.last_seen ? nlohmann::json(*r.last_seen) : nlohmann::json()}});
    }
    inv.out << j.dump(2) << '\n';
    return kExitOk;
  }
  if (rows.empty()) {
    inv.out << "no denials stored in " << db->path() << " (run 'aatune scan')\n";
    return kExitOk;
  }
  inv.out << row({Cell("profile", 40), Cell("mode", 10), Cell("open", -6), Cell("decided", -8),
                  Cell("events", -9), Cell("last seen", 0)})
          << '\n';
  for (const auto& [p, r] : rows) {
    inv.out << row({Cell(p, 40), Cell(r.mode, 10), Cell(r.open, -6), Cell(r.decided, -8),
                    Cell(r.events, -9), Cell(utc_time(r.last_seen, "%Y-%m-%d %H:%M:%SZ"), 0)})
            << '\n';
  }
  return kExitOk;
}

}  // namespace aatune::cli
