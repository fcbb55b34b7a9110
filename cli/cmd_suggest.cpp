// aatune suggest [--profiles DIR] [--format text|json|apparmor] [--libvirt-xml DIR] [LOG…]:
// reads denials from logs, proposes rules against the profile tree, prints them.
#include <algorithm>
#include <chrono>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <ostream>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "analyzer/analyzer.h"
#include "analyzer/tree_view.h"
#include "cli/commands.h"
#include "cli/common.h"
#include "cli/config.h"
#include "rules/profile_tree.h"

namespace aatune::cli {
namespace {

namespace fs = std::filesystem;
using analyzer::Analysis;
using analyzer::Proposal;

constexpr std::string_view kUsage =
    "usage: aatune suggest [--profiles DIR] [--format text|json|apparmor] [--libvirt-xml DIR] "
    "[LOG…]\n"
    "  Proposes policy rules for the AppArmor denials in LOG files (default: whichever of\n"
    "  /var/log/audit/audit.log, /var/log/kern.log, /var/log/syslog exist), explained against\n"
    "  the profile tree DIR (default /etc/apparmor.d).\n"
    "  --format text      grouped per profile, for people (default)\n"
    "  --format json      every group with its proposal, evidence and explanation\n"
    "  --format apparmor  per profile a `profile NAME { … }` block of the proposed rules\n"
    "  --libvirt-xml DIR  libvirt domain XML files (e.g. /etc/libvirt/qemu): VM names for UUIDs\n"
    "  Exit status: 0 nothing to propose, 1 proposals printed, 2 usage or bad input.\n";

enum class Format { kText, kJson, kAppArmor };

struct Options {
  std::string profiles = "/etc/apparmor.d";
  Format format = Format::kText;
  std::string libvirt_xml;
  std::vector<std::string> logs;
};

std::string time_text(std::optional<int64_t> ms) {
  if (!ms) return "?";
  const std::time_t t = *ms / 1000;
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
  return buf;
}

std::string_view target_kind(analyzer::TargetFile::Kind k) {
  switch (k) {
    case analyzer::TargetFile::Kind::kLocal:
      return "local";
    case analyzer::TargetFile::Kind::kProfileFile:
      return "profile";
    case analyzer::TargetFile::Kind::kLibvirtBase:
      return "libvirt-base";
    case analyzer::TargetFile::Kind::kLibvirtFiles:
      return "libvirt-files";
  }
  return "local";
}

nlohmann::ordered_json group_json(const analyzer::Group& g) {
  nlohmann::ordered_json j;
  j["profile"] = g.key.profile;
  j["class"] = g.key.rule_class;
  j["operation"] = g.key.operation;
  j["target"] = g.key.target;
  j["mask"] = g.key.mask;
  j["key"] = analyzer::to_string(g.key);
  j["unverified"] = g.unverified;
  j["count"] = g.count;
  j["denied"] = g.denied;
  j["allowed"] = g.allowed;
  j["killed"] = g.killed;
  j["first_seen"] = g.first_seen_ms ? nlohmann::ordered_json(time_text(g.first_seen_ms)) : nullptr;
  j["last_seen"] = g.last_seen_ms ? nlohmann::ordered_json(time_text(g.last_seen_ms)) : nullptr;
  j["pids"] = g.pids;
  j["comm"] = g.comms;
  auto& src = j["sources"] = nlohmann::ordered_json::array();
  for (const auto& s : g.sources) src.push_back(s.source + ":" + std::to_string(s.line_no));
  j["raw"] = g.raw;
  return j;
}

nlohmann::ordered_json proposal_json(const Proposal& p, const Analysis& a) {
  nlohmann::ordered_json j;
  j["id"] = p.id;
  j["profile"] = p.profile;
  if (!p.vm_name.empty()) j["vm_name"] = p.vm_name;
  j["class"] = p.rule_class;
  j["rule"] = p.rule.empty() ? nullptr : nlohmann::ordered_json(p.rule);
  if (!p.refused.empty()) j["refused"] = p.refused;
  auto& alts = j["alternatives"] = nlohmann::ordered_json::array();
  for (const auto& alt : p.alternatives) {
    alts.push_back(
        {{"kind", analyzer::to_string(alt.kind)}, {"text", alt.text}, {"note", alt.note}});
  }
  j["pair"] = p.pair ? nlohmann::ordered_json(*p.pair) : nullptr;
  j["peer_side"] = p.peer_side;
  nlohmann::ordered_json why{{"code", analyzer::to_string(p.why.code)}, {"text", p.why.text}};
  if (p.why.site) {
    why["site"] = {
        {"file", p.why.site->file}, {"line", p.why.site->line}, {"rule", p.why.site->text}};
  }
  why["notes"] = p.why.notes;
  j["why"] = why;
  j["severity"] = {{"level", analyzer::to_string(p.severity.level)}, {"reason", p.severity.reason}};
  auto& targets = j["targets"] = nlohmann::ordered_json::array();
  for (const auto& t : p.targets) {
    targets.push_back({{"kind", target_kind(t.file.kind)},
                       {"path", t.file.path},
                       {"default", t.is_default},
                       {"warning", t.file.warning}});
  }
  j["unverified"] = p.unverified;
  j["complain"] = p.complain;
  j["profile_in_tree"] = p.profile_in_tree;
  auto& ev = j["evidence"] = nlohmann::ordered_json::array();
  for (size_t g : p.groups) ev.push_back(group_json(a.grouped.groups[g]));
  return j;
}

void print_json(std::ostream& out, const Analysis& a, uint64_t invalid) {
  nlohmann::ordered_json j;
  auto& props = j["proposals"] = nlohmann::ordered_json::array();
  for (const auto& p : a.proposals) props.push_back(proposal_json(p, a));
  j["counts"] = {{"groups", a.grouped.groups.size()}, {"proposals", a.proposals.size()},
                 {"status", a.grouped.other.status},  {"audit", a.grouped.other.audit},
                 {"other", a.grouped.other.other},    {"invalid", invalid}};
  out << j.dump(2) << '\n';
}

// A proposal whose rule is already on disk asks for a reload, not for a change to the tree:
// after `apply --no-reload`, the same log must come back with nothing left to do.
bool needs_change(const analyzer::Proposal& p) {
  return p.why.code != analyzer::WhyCode::kAlreadyAllowed;
}

// Profiles in order of first appearance among the proposals that need a change.
std::vector<std::string> profile_order(const Analysis& a) {
  std::vector<std::string> order;
  for (const auto& p : a.proposals) {
    if (!needs_change(p)) continue;
    if (std::ranges::find(order, p.profile) == order.end()) order.push_back(p.profile);
  }
  return order;
}

// The denials the tree on disk already allows: one line each, and the one action they need.
void print_reload_needed(std::ostream& out, const Analysis& a) {
  std::set<std::string> profiles;
  for (const auto& p : a.proposals) {
    if (needs_change(p)) continue;
    if (profiles.empty()) out << "\nalready allowed by the profile tree on disk:\n";
    profiles.insert(p.profile);
    out << "  #" << p.id << ' ' << p.profile << ": " << p.rule << '\n';
  }
  if (profiles.empty()) return;
  out << "reload ";
  for (auto it = profiles.begin(); it != profiles.end(); ++it) {
    out << (it == profiles.begin() ? "" : ", ") << *it;
  }
  out << " to load it (the kernel still has the older policy)\n";
}

void print_apparmor(std::ostream& out, const Analysis& a) {
  for (const auto& profile : profile_order(a)) {
    out << "profile " << profile << " {\n";
    std::set<std::string> seen;
    for (const auto& p : a.proposals) {
      if (p.profile != profile) continue;
      if (p.rule.empty()) {
        out << "  # refused: " << p.refused << '\n';
        continue;
      }
      // Adding these would change nothing: say why instead of writing a useless rule.
      if (p.why.code == analyzer::WhyCode::kAlreadyAllowed ||
          p.why.code == analyzer::WhyCode::kExplicitDeny) {
        out << "  # " << analyzer::to_string(p.why.code) << ": " << p.rule << '\n';
        continue;
      }
      if (seen.insert(p.rule).second) out << "  " << p.rule << '\n';
    }
    out << "}\n";
  }
}

void print_text(std::ostream& out, const Analysis& a, const rules::ProfileTree& tree) {
  for (const auto& profile : profile_order(a)) {
    std::string title = profile;
    const rules::Profile* prof = tree.find(profile);
    for (const auto& p : a.proposals) {
      if (p.profile == profile && !p.vm_name.empty()) {
        title += " (VM " + p.vm_name + ")";
        break;
      }
    }
    out << "== " << title;
    if (prof)
      out << "  [" << prof->file << "]";
    else
      out << "  [profile not found in the tree]";
    out << '\n';
    for (const auto& p : a.proposals) {
      if (p.profile != profile || !needs_change(p)) continue;
      uint64_t count = 0;
      std::set<uint64_t> pids;
      std::set<std::string> comms;
      std::vector<std::string> sources;
      for (size_t gi : p.groups) {
        const auto& g = a.grouped.groups[gi];
        count += g.count;
        pids.insert(g.pids.begin(), g.pids.end());
        comms.insert(g.comms.begin(), g.comms.end());
        for (const auto& s : g.sources) {
          if (sources.size() < 3) sources.push_back(s.source + ":" + std::to_string(s.line_no));
        }
      }
      out << "\n  #" << p.id << " [" << analyzer::to_string(p.severity.level) << "] "
          << (p.rule.empty() ? "(no rule: " + p.refused + ")" : p.rule);
      if (p.pair) out << "   (pair " << *p.pair << ": accept or reject together)";
      out << '\n';
      out << "     why: " << p.why.text << " [" << analyzer::to_string(p.why.code) << "]\n";
      for (const auto& n : p.why.notes) out << "     note: " << n << '\n';
      if (!p.severity.reason.empty()) out << "     risk: " << p.severity.reason << '\n';
      if (p.peer_side) {
        out << "     seen: no denial logged for this side (peer cross-check)\n";
      } else {
        out << "     seen: " << count << "x";
        if (p.complain) out << " (complain mode)";
        if (!comms.empty()) out << ", comm " << *comms.begin();
        if (!pids.empty()) out << ", pid " << *pids.begin() << (pids.size() > 1 ? " …" : "");
        out << ", at";
        for (const auto& s : sources) out << ' ' << s;
        out << '\n';
      }
      for (const auto& alt : p.alternatives) {
        out << "     or (" << analyzer::to_string(alt.kind) << "): " << alt.text;
        if (!alt.note.empty()) out << "   # " << alt.note;
        out << '\n';
      }
      for (const auto& t : p.targets) {
        out << "     into: " << t.file.path << (t.is_default ? " (default)" : "");
        if (!t.file.warning.empty()) out << " — " << t.file.warning;
        out << '\n';
      }
    }
    out << '\n';
  }
  const auto& o = a.grouped.other;
  out << a.proposals.size() << " proposal(s) from " << a.grouped.groups.size()
      << " group(s) of denials; not denials: " << o.status << " status, " << o.audit << " audit, "
      << o.other << " other record(s)\n";
}

}  // namespace

int run_suggest(const Invocation& inv) {
  Options opt;
  for (size_t i = 0; i < inv.args.size(); ++i) {
    const std::string& a = inv.args[i];
    auto value = [&](std::string& into) {
      if (i + 1 >= inv.args.size()) {
        inv.err << "aatune: error: " << a << " needs a value\n" << kUsage;
        return false;
      }
      into = inv.args[++i];
      return true;
    };
    if (a == "--help" || a == "-h") {
      inv.out << kUsage;
      return kExitOk;
    } else if (a == "--profiles") {
      if (!value(opt.profiles)) return kExitUsage;
    } else if (a == "--libvirt-xml") {
      if (!value(opt.libvirt_xml)) return kExitUsage;
    } else if (a == "--format") {
      std::string f;
      if (!value(f)) return kExitUsage;
      if (f == "text")
        opt.format = Format::kText;
      else if (f == "json")
        opt.format = Format::kJson;
      else if (f == "apparmor")
        opt.format = Format::kAppArmor;
      else {
        inv.err << "aatune: error: unknown format '" << f << "' (text, json or apparmor)\n";
        return kExitUsage;
      }
    } else if (a.starts_with("--")) {
      inv.err << "aatune: error: unknown option '" << a << "'\n" << kUsage;
      return kExitUsage;
    } else {
      opt.logs.push_back(a);
    }
  }
  if (opt.logs.empty()) opt.logs = default_logs();
  if (opt.logs.empty()) {
    inv.err << "aatune: error: no log found (/var/log/audit/audit.log, /var/log/kern.log, "
               "/var/log/syslog); name one\n";
    return kExitUsage;
  }

  auto tree = rules::read_profile_tree(opt.profiles);
  if (!tree) {
    inv.err << "aatune: error: " << tree.error() << '\n';
    return kExitUsage;
  }

  auto logged = read_log_events(opt.logs, inv.err);
  if (!logged) {
    inv.err << "aatune: error: " << logged.error() << '\n';
    return kExitUsage;
  }
  const auto& events = logged->events;
  const uint64_t invalid = logged->invalid;

  analyzer::AnalyzeOptions aopt;
  aopt.trust = system_trust_policy();
  if (inv.config != nullptr) aopt.risky_paths = inv.config->risk;
  if (!opt.libvirt_xml.empty()) aopt.vm_names = read_vm_names(opt.libvirt_xml, inv.err);
  const analyzer::TreeView view(*tree);
  const Analysis analysis = analyzer::analyze(events, view, aopt);
  const bool changes_needed = std::ranges::any_of(analysis.proposals, needs_change);

  switch (opt.format) {
    case Format::kJson:
      print_json(inv.out, analysis, invalid);
      break;
    case Format::kAppArmor:
      print_apparmor(inv.out, analysis);
      break;
    case Format::kText:
      print_text(inv.out, analysis, *tree);
      print_reload_needed(inv.out, analysis);
      if (!changes_needed) inv.out << "nothing to do\n";
      break;
  }
  return changes_needed ? kExitFindings : kExitOk;
}

}  // namespace aatune::cli
