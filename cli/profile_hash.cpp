#include "cli/profile_hash.h"

#include <fstream>
#include <sstream>

#include "rules/policy_file.h"

namespace aatune::cli {
namespace {

// A missing or unreadable file contributes a marker rather than "", so that deleting an empty
// override is still a change.
void append_file(std::string& out, const std::string& path) {
  out += path;
  out += '\0';
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    out += "<absent>";
  } else {
    std::ostringstream ss;
    ss << in.rdbuf();
    out += ss.str();
  }
  out += '\0';
}

}  // namespace

std::string profile_content_hash(const rules::ProfileTree& tree, std::string_view profile) {
  const auto files = tree.files_for(profile);
  if (!files) return rules::content_hash("<profile not in tree>");
  std::string all;
  append_file(all, files->profile_file);
  append_file(all, files->local_file);
  if (!files->libvirt_files.empty()) append_file(all, files->libvirt_files);
  return rules::content_hash(all);
}

}  // namespace aatune::cli
