#include "analyzer/tree_view.h"

#include <algorithm>

namespace aatune::analyzer {
namespace {

RuleSite site_of(const rules::RuleEntry& e) {
  return {e.file, e.line, e.text};
}

std::string first_rule_granting(const std::vector<rules::RuleEntry>& rules,
                                const rules::Rule& request, bool owner, const rules::Variables& v,
                                RuleSite& site) {
  for (const auto& entry : rules) {
    if (entry.rule.deny) continue;
    const std::vector<rules::RuleEntry> one{entry};
    if (rules::coverage_of(one, request, owner, v).kind == rules::CoverageKind::kAllowed) {
      site = site_of(entry);
      return entry.text;
    }
  }
  return {};
}

}  // namespace

bool TreeView::has_profile(std::string_view name) const {
  return tree_.find(name) != nullptr;
}

bool TreeView::in_complain_mode(std::string_view name) const {
  const rules::Profile* p = tree_.find(name);
  return p != nullptr && p->complain();
}

std::optional<std::string> TreeView::profile_for_program(std::string_view path) const {
  const rules::Profile* p = tree_.profile_for_program(path);
  if (p == nullptr) return std::nullopt;
  return p->name;
}

CoverageAnswer TreeView::coverage(std::string_view profile, const Request& request) const {
  if (!request.rule || tree_.find(profile) == nullptr) return {};
  auto cov = tree_.coverage(profile, *request.rule, request.owner_request);
  if (!cov) return {};
  CoverageAnswer out;
  switch (cov->kind) {
    case rules::CoverageKind::kNone:
      break;
    case rules::CoverageKind::kAllowed:
      out.kind = CoverageAnswer::Kind::kAllowed;
      if (cov->allow) out.site = site_of(*cov->allow);
      break;
    case rules::CoverageKind::kDenied:
      out.kind = CoverageAnswer::Kind::kDenied;
      if (cov->deny) out.site = site_of(*cov->deny);
      break;
    case rules::CoverageKind::kOwnerOnly:
      out.kind = CoverageAnswer::Kind::kOwnerOnly;
      if (cov->owner) out.site = site_of(*cov->owner);
      break;
  }
  return out;
}

std::vector<std::string> TreeView::exec_modes_used(std::string_view profile) const {
  return tree_.exec_modes_used(profile);
}

std::vector<std::pair<std::string, std::vector<std::string>>> TreeView::variables() const {
  return {tree_.variables.begin(), tree_.variables.end()};
}

std::vector<std::pair<std::string, RuleSite>> TreeView::abstractions_allowing(
    const Request& request) const {
  std::vector<std::pair<std::string, RuleSite>> out;
  if (!request.rule) return out;
  for (const auto& name : tree_.includes_allowing(*request.rule, request.owner_request)) {
    if (!name.starts_with("abstractions/")) continue;
    // The rule that grants it, for the ranking and the note: found among the rules any profile
    // got through that include.
    RuleSite site{name, 0, ""};
    for (const auto& p : tree_.profiles) {
      std::vector<rules::RuleEntry> via;
      for (const auto& e : p.rules) {
        if (e.via_include == name) via.push_back(e);
      }
      if (via.empty()) continue;
      if (!first_rule_granting(via, *request.rule, request.owner_request, tree_.variables, site)
               .empty())
        break;
    }
    out.push_back({name, site});
  }
  return out;
}

bool TreeView::uses_profile_name_variable() const {
  return tree_.uses_profile_name_variable;
}

std::vector<TargetFile> TreeView::target_files(std::string_view profile) const {
  std::vector<TargetFile> out;
  auto files = tree_.files_for(profile);
  if (!files) return out;
  if (!files->libvirt_files.empty()) {
    // A guest's base profile (libvirt/libvirt-<uuid>) is kept across VM starts; the .files
    // include is rewritten by virt-aa-helper every time the VM starts.
    out.push_back({TargetFile::Kind::kLibvirtBase, files->profile_file, ""});
    out.push_back({TargetFile::Kind::kLibvirtFiles, files->libvirt_files,
                   "virt-aa-helper regenerates this file on the next start of the VM"});
    return out;
  }
  if (!files->local_file.empty()) {
    out.push_back({TargetFile::Kind::kLocal, files->local_file,
                   files->local_included ? "" : "the profile does not include it yet"});
  }
  out.push_back({TargetFile::Kind::kProfileFile, files->profile_file,
                 "package upgrades may overwrite this file"});
  return out;
}

}  // namespace aatune::analyzer
