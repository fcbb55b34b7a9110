// aatune list: the stored denial groups with their counts, the analyzer's proposal and its
// explanation. Groups the user decided stay hidden until their profile changes on disk.
#include <charconv>
#include <chrono>
#include <cstdio>
#include <ctime>
#include <initializer_list>
#include <map>
#include <nlohmann/json.hpp>
#include <optional>
#include <ostream>
#include <string>
#include <vector>

#include "analyzer/analyzer.h"
#include "analyzer/tree_view.h"
#include "cli/commands.h"
#include "cli/common.h"
#include "cli/profile_hash.h"
#include "cli/table.h"
#include "rules/profile_tree.h"
#include "store/store.h"

namespace aatune::cli {
namespace {

constexpr std::string_view kUsage =
    "usage: aatune list [--db PATH] [--profiles DIR] [--profile P] [--since T] [--all] [--json]\n"
    "  --profiles DIR  the profile tree (default /etc/apparmor.d): proposals are checked against\n"
    "                  it, and a decided group comes back once its profile's files change\n"
    "  --since T       epoch seconds, YYYY-MM-DD, or a relative age: 30m, 12h, 7d\n"
    "  --all           include groups already decided (ignored, accepted, denied)\n";

// What the analyzer says about one stored group.
struct GroupAdvice {
  std::string rule;     ///< The proposed rule; empty when refused.
  std::string refused;  ///< Why no rule is proposed.
  std::string why_code;
  std::string why;  ///< The one-sentence explanation.
};

// Runs the analyzer over (a sample of) the stored events of `groups` together, so that peer
// cross-checks see both sides, and maps each proposal back to the store's group keys.
std::expected<std::map<std::string, GroupAdvice>, std::string> advise(
    store::Store& db, const std::vector<store::Group>& groups, const rules::ProfileTree& tree) {
  std::vector<analyzer::LoggedEvent> events;
  std::vector<store::GroupSampleRequest> samples;
  samples.reserve(groups.size());
  for (const auto& g : groups) samples.push_back({g.key, 100});
  auto sampled = db.events_of_groups(samples);  // one pass in storage order
  if (!sampled) return std::unexpected(sampled.error().message);
  for (auto& evs : *sampled) {
    for (auto& e : evs) events.push_back({std::move(e), "store", 0});
  }
  analyzer::AnalyzeOptions options;
  options.trust = system_trust_policy();
  const analyzer::TreeView view(tree);
  const analyzer::Analysis analysis = analyzer::analyze(events, view, options);
  std::map<std::string, GroupAdvice> out;
  for (const auto& p : analysis.proposals) {
    if (p.peer_side) continue;  // The logged side's own proposal describes the group.
    for (size_t gi : p.groups) {
      out.try_emplace(
          analyzer::to_string(analysis.grouped.groups[gi].key),
          GroupAdvice{p.rule, p.refused, std::string(analyzer::to_string(p.why.code)), p.why.text});
    }
  }
  return out;
}

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

}  // namespace

int run_list(const Invocation& inv) {
  std::optional<std::string> db_flag;
  std::string profiles_dir = "/etc/apparmor.d";
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
    } else if (a == "--profiles" && has_value) {
      profiles_dir = inv.args[++i];
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
  // Without a readable tree there is nothing to compare with: decisions hold and no proposal is
  // made, but the stored groups are still listed.
  auto tree = rules::read_profile_tree(profiles_dir);
  if (!tree) {
    inv.err << "aatune: warning: " << tree.error()
            << " (no proposals; decided groups stay hidden)\n";
  } else {
    filter.profile_hash = [&t = *tree](std::string_view profile) -> std::optional<std::string> {
      return profile_content_hash(t, profile);
    };
  }
  auto groups = db->groups(filter);
  if (!groups) {
    inv.err << "aatune: error: " << groups.error().message << '\n';
    return kExitUsage;
  }
  std::map<std::string, GroupAdvice> advice;
  if (tree) {
    auto a = advise(*db, *groups, *tree);
    if (!a) {
      inv.err << "aatune: error: " << a.error() << '\n';
      return kExitUsage;
    }
    advice = std::move(*a);
  }
  auto advice_of = [&](const std::string& key) -> const GroupAdvice* {
    const auto it = advice.find(key);
    return it == advice.end() ? nullptr : &it->second;
  };

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
      // The hash a decision taken now would record: `aatune` compares it on the next list.
      item["profile_hash"] =
          tree ? nlohmann::json(profile_content_hash(*tree, g.profile)) : nullptr;
      if (const GroupAdvice* adv = advice_of(g.key)) {
        item["proposal"] = adv->rule.empty() ? nlohmann::json() : nlohmann::json(adv->rule);
        if (!adv->refused.empty()) item["refused"] = adv->refused;
        item["explanation"] = {{"code", adv->why_code}, {"text", adv->why}};
      } else {
        item["proposal"] = nullptr;
        item["explanation"] = nullptr;
      }
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
                    Cell(f[3], 40), Cell(f[4], 6),
                    Cell(utc_time(g.last_seen, "%Y-%m-%d %H:%M"), 16),
                    Cell(g.decision ? store::to_string(g.decision->kind) : "-", 0)})
            << '\n';
    if (const GroupAdvice* adv = advice_of(g.key)) {
      if (!adv->rule.empty()) {
        inv.out << "        proposal: " << adv->rule << '\n';
      } else if (!adv->refused.empty()) {
        inv.out << "        no rule: " << adv->refused << '\n';
      }
      inv.out << "        why: " << adv->why << '\n';
    }
  }
  return kExitOk;
}

}  // namespace aatune::cli
