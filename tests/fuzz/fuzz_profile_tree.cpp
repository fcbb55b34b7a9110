// libFuzzer target for the profile tree reader (rules::read_profile_tree).
//
// A profile tree is read as root, but its files are not all written by root's hand: a package, a
// tool (virt-aa-helper) or an earlier aatune run wrote them, and the reader must survive any byte
// sequence in any of them. There is no in-memory entry point, so the input is written as a small
// tree in a private temporary directory (created once per process, on tmpfs when there is one):
//
//   <input> = <profile file> [ "\n#@@\n" <abstractions/a> [ "\n#@@\n" <local/p> [ "\n#@@\n"
//             <tunables/global> ] ] ]
//
// so include chains, include cycles and local overrides are reachable. Besides "no crash", the
// target checks the tree's promises (contract_broken aborts): every profile read can be found by
// name, and every file derived for writing (profile file, local override, libvirt include) lies
// inside the tree root, whatever the profile is called.
#include <unistd.h>

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>
#include <string_view>
#include <system_error>

#include "rules/profile_tree.h"
#include "rules/rule.h"

namespace {

namespace fs = std::filesystem;

[[noreturn]] void contract_broken(const char* what, std::string_view detail) {
  std::fprintf(stderr, "fuzz: contract broken: %s\n  %.*s\n", what,
               static_cast<int>(detail.size() > 400 ? 400 : detail.size()), detail.data());
  std::abort();
}

// Created once: a directory per input would dominate the run time. libFuzzer ends with _Exit, so
// no exit handler can remove it: the directory is named after the pid, and a later run removes the
// directories of processes that are gone.
const fs::path& tree_root() {
  static const fs::path root = [] {
    std::error_code ec;
    const fs::path base =
        fs::is_directory("/dev/shm", ec) ? fs::path("/dev/shm") : fs::temp_directory_path();
    constexpr std::string_view kPrefix = "aatune-fuzz-tree-";
    for (const auto& entry : fs::directory_iterator(base, ec)) {
      const std::string name = entry.path().filename().string();
      if (!name.starts_with(kPrefix)) continue;
      if (!fs::exists("/proc/" + name.substr(kPrefix.size()), ec)) fs::remove_all(entry, ec);
    }
    const fs::path r = base / (std::string(kPrefix) + std::to_string(getpid()));
    fs::remove_all(r, ec);
    fs::create_directories(r / "abstractions");
    fs::create_directories(r / "local");
    fs::create_directories(r / "tunables");
    return r;
  }();
  return root;
}

void write_file(const fs::path& path, std::string_view text) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out.write(text.data(), static_cast<std::streamsize>(text.size()));
}

// Lexically inside `root`: no `..` after normalisation, and `root` is a prefix.
bool inside(const fs::path& root, const std::string& file) {
  if (file.empty()) return true;
  const fs::path rel = fs::path(file).lexically_normal().lexically_relative(root);
  if (rel.empty()) return false;
  for (const auto& part : rel) {
    if (part == "..") return false;
  }
  return true;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view input(reinterpret_cast<const char*>(data), size);
  const fs::path& root = tree_root();
  static constexpr std::string_view kSep = "\n#@@\n";
  static const char* const kFiles[] = {"p", "abstractions/a", "local/p", "tunables/global"};

  size_t start = 0;
  for (const char* name : kFiles) {
    if (start > input.size()) {
      std::error_code ec;
      fs::remove(root / name, ec);
      continue;
    }
    size_t end = input.find(kSep, start);
    if (end == std::string_view::npos) end = input.size();
    write_file(root / name, input.substr(start, end - start));
    start = end + kSep.size();
  }

  auto tree = aatune::rules::read_profile_tree(root);
  if (!tree) contract_broken("read_profile_tree failed on an existing directory", tree.error());

  aatune::rules::Rule read_request;
  read_request.body = aatune::rules::FileRule{.path = "/etc/passwd", .perms = "r"};
  aatune::rules::Rule cap_request;
  cap_request.body = aatune::rules::CapabilityRule{.caps = {"sys_admin"}};
  for (const auto& profile : tree->profiles) {
    // A header name that itself contains `//` or `^` (garbage headers) can not be told from a
    // child path; every other profile must be found by its full name.
    size_t depth = 0;
    for (const auto* p = &profile; !p->parent.empty() && depth <= tree->profiles.size(); ++depth) {
      p = tree->find(p->parent);
      if (p == nullptr) break;
    }
    size_t separators = 0;
    for (size_t at = profile.name.find("//"); at != std::string::npos;
         at = profile.name.find("//", at + 2)) {
      ++separators;
    }
    const bool plain_name = separators == depth && profile.name.find('^') == std::string::npos;
    if (plain_name && tree->find(profile.name) == nullptr) {
      contract_broken("profile not found", profile.name);
    }
    if (auto files = tree->files_for(profile.name)) {
      if (!inside(root, files->profile_file) || !inside(root, files->local_file) ||
          !inside(root, files->libvirt_files)) {
        contract_broken("a derived file lies outside the tree",
                        profile.name + " -> " + files->local_file);
      }
    }
    (void)tree->coverage(profile.name, read_request);
    (void)tree->coverage(profile.name, cap_request, true);
    (void)tree->exec_modes_used(profile.name);
    for (const auto& entry : profile.rules) (void)aatune::rules::render(entry.rule);
  }
  (void)tree->profile_for_program("/usr/bin/foo");
  (void)tree->includes_allowing(read_request);
  return 0;
}
