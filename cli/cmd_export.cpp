// aatune export: a bug-report bundle (docs/export.md) with the denials in scope, the policy they
// concern, the environment, the analysis and the fix as a `patch -p1` diff; JSON, Markdown or a
// .tar.gz of both with the evidence files. Redacted by default for Markdown and tar.
#include <fcntl.h>
#include <sys/utsname.h>
#include <sys/wait.h>
#include <unistd.h>
#include <zlib.h>

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <optional>
#include <ostream>
#include <regex>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "analyzer/analyzer.h"
#include "analyzer/redact.h"
#include "analyzer/report.h"
#include "analyzer/tree_view.h"
#include "cli/commands.h"
#include "cli/common.h"
#include "cli/config.h"
#include "rules/diff.h"
#include "rules/editor.h"
#include "rules/profile_tree.h"
#include "store/store.h"

#ifndef AATUNE_VERSION
#define AATUNE_VERSION "0.0.0"
#endif

namespace aatune::cli {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;

constexpr std::string_view kUsage =
    "usage: aatune export [--profiles DIR] [--db PATH | LOG…] [--profile P] [--since T]\n"
    "                     [--group ID] [--format json|markdown|tar] [--output FILE]\n"
    "                     [--redact|--no-redact] [--redact-uuids] [--redact-pattern REGEX]…\n"
    "                     [--libvirt-xml DIR] [--now] [--no-probe]\n"
    "  Writes a bug-report bundle: the denials (raw records, parsed fields, companions), the\n"
    "  policy files involved, the environment, the analysis and the fix as a `patch -p1` diff.\n"
    "  --format json      one JSON document (default; not redacted unless --redact)\n"
    "  --format markdown  ready to paste into a bug tracker (redacted unless --no-redact)\n"
    "  --format tar       a .tar.gz with both and the evidence files; needs --output\n"
    "  --since T          records at or after T (epoch seconds or YYYY-MM-DD[THH:MM:SS], UTC)\n"
    "  --group ID         only denial ID (as numbered in a previous export)\n"
    "  --now              record the export time (SOURCE_DATE_EPOCH when set; omitted\n"
    "                     otherwise, for reproducible output)\n"
    "  --no-probe         do not read this machine's environment nor ask dpkg for owners\n"
    "  Exit status: 0 bundle written, 2 usage or bad input.\n";

enum class Format { kJson, kMarkdown, kTar };

struct Options {
  std::string profiles = "/etc/apparmor.d";
  std::optional<std::string> db;
  std::vector<std::string> logs;
  std::optional<std::string> profile;
  std::optional<int64_t> since;
  std::optional<size_t> group;
  Format format = Format::kJson;
  std::optional<std::string> output;
  std::optional<bool> redact;
  analyzer::RedactOptions redact_options;
  std::string libvirt_xml;
  bool now = false;
  bool probe = true;
};

std::optional<int64_t> parse_time(const std::string& t) {
  if (!t.empty() && std::ranges::all_of(t, [](char c) { return c >= '0' && c <= '9'; }))
    return std::stoll(t);
  std::tm tm{};
  for (const char* f : {"%Y-%m-%dT%H:%M:%S", "%Y-%m-%d %H:%M:%S", "%Y-%m-%d"}) {
    tm = {};
    const char* end = strptime(t.c_str(), f, &tm);
    if (end && *end == '\0') return static_cast<int64_t>(timegm(&tm));
  }
  return std::nullopt;
}

std::string time_text(std::optional<int64_t> ms) {
  if (!ms) return {};
  const std::time_t t = *ms / 1000;
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
  return buf;
}

std::optional<std::string> read_file(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  if (!in) return std::nullopt;
  std::ostringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// Runs argv (no shell) and returns its stdout when it exits 0.
std::optional<std::string> run_capture(const std::vector<std::string>& argv) {
  int fds[2];
  if (pipe(fds) != 0) return std::nullopt;
  const pid_t pid = fork();
  if (pid < 0) {
    close(fds[0]);
    close(fds[1]);
    return std::nullopt;
  }
  if (pid == 0) {
    dup2(fds[1], 1);
    const int devnull = open("/dev/null", O_WRONLY);
    if (devnull >= 0) dup2(devnull, 2);
    close(fds[0]);
    close(fds[1]);
    std::vector<char*> args;
    for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
    args.push_back(nullptr);
    execvp(args[0], args.data());
    _exit(127);
  }
  close(fds[1]);
  std::string out;
  char buf[4096];
  for (ssize_t n; (n = read(fds[0], buf, sizeof buf)) > 0;) out.append(buf, static_cast<size_t>(n));
  close(fds[0]);
  int status = 0;
  waitpid(pid, &status, 0);
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) return std::nullopt;
  return out;
}

// SOURCE_DATE_EPOCH (reproducible-builds.org) stands in for the clock, so that a dated bundle
// can still be reproduced byte for byte.
std::expected<int64_t, std::string> export_time() {
  if (const char* sde = std::getenv("SOURCE_DATE_EPOCH"); sde && *sde) {
    const std::string v = sde;
    if (!std::ranges::all_of(v, [](char c) { return c >= '0' && c <= '9'; }) || v.size() > 12)
      return std::unexpected("SOURCE_DATE_EPOCH '" + v + "': not a number of seconds");
    return std::stoll(v);
  }
  return std::chrono::duration_cast<std::chrono::seconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

// What the companions say about the process: the executable (SYSCALL exe), its command line
// (PROCTITLE, decoded), the working directory (CWD) and the system call. null when not logged.
json process_of(const std::vector<collector::Companion>& companions) {
  json p{{"exe", nullptr}, {"cmdline", nullptr}, {"cwd", nullptr}, {"syscall", nullptr}};
  auto field = [](const collector::Companion& c, std::string_view key) -> const std::string* {
    for (const auto& [k, v] : c.fields)
      if (k == key) return &v;
    return nullptr;
  };
  for (const auto& c : companions) {
    if (c.type == "SYSCALL") {
      if (auto v = field(c, "exe")) p["exe"] = *v;
      // ENRICHED logs name the call; RAW ones only number it.
      if (auto v = field(c, "SYSCALL")) {
        p["syscall"] = *v;
      } else if (auto n = field(c, "syscall")) {
        p["syscall"] = *n;
      }
    } else if (c.type == "PROCTITLE") {
      if (auto v = field(c, "proctitle")) p["cmdline"] = *v;
    } else if (c.type == "CWD") {
      if (auto v = field(c, "cwd")) p["cwd"] = *v;
    }
  }
  return p;
}

struct Record {
  analyzer::LoggedEvent logged;
  std::vector<collector::Companion> companions;
};

struct Input {
  std::vector<Record> records;
  json sources = json::array();
};

// The logs through cli/common's reader (the same records, deduplicated the same way, as suggest
// and apply read them, so proposal ids agree), with each record's companions attached.
std::expected<Input, std::string> read_logs(const std::vector<std::string>& logs,
                                            std::ostream& err) {
  auto logged = read_log_events(logs, err, ReadLogOptions{.companions = true});
  if (!logged) return std::unexpected(logged.error());
  Input in;
  for (auto& e : logged->events) {
    Record r{std::move(e), {}};
    if (r.logged.event.audit_id) {
      if (auto it = logged->companions.find(*r.logged.event.audit_id);
          it != logged->companions.end())
        r.companions = it->second;
    }
    in.records.push_back(std::move(r));
  }
  for (const auto& s : logged->sources)
    in.sources.push_back({{"path", s.path}, {"records", s.records}});
  return in;
}

std::expected<Input, std::string> read_db(const std::string& path) {
  auto store = store::Store::open(path, {.read_only = true, .max_size_bytes = std::nullopt});
  if (!store) return std::unexpected(store.error().message);
  auto groups = store->groups({});
  if (!groups) return std::unexpected(groups.error().message);
  Input in;
  uint64_t count = 0;
  for (const auto& g : *groups) {
    auto events = store->events_of_group(g.key, analyzer::Group::kMaxRawPerGroup * 5);
    if (!events) return std::unexpected(events.error().message);
    for (auto& e : *events) {
      ++count;
      in.records.push_back({{std::move(e), path, 0}, {}});
    }
  }
  in.sources.push_back({{"path", path}, {"records", count}});
  return in;
}

std::string rel_path(const fs::path& root, const std::string& file) {
  fs::path p = fs::path(file).lexically_normal();
  fs::path r = p.lexically_relative(root.lexically_normal());
  if (r.empty() || r.native().starts_with("..")) return p.string();
  return r.string();
}

// Include targets written in `text`: `include <x>`, `#include "x"`, `include if exists <x>`.
std::vector<std::string> includes_in(const std::string& text) {
  static const std::regex re(
      R"re((?:^|\n)[ \t]*#?include[ \t]+(?:if[ \t]+exists[ \t]+)?[<"]([^>"]+)[>"])re");
  std::vector<std::string> out;
  for (std::sregex_iterator it(text.begin(), text.end(), re), end; it != end; ++it)
    out.push_back((*it)[1].str());
  return out;
}

// The profile file and everything it pulls in, transitively (directories: every file inside).
void collect_files(const fs::path& root, const fs::path& file, std::set<std::string>& seen,
                   std::vector<fs::path>& out) {
  std::error_code ec;
  if (fs::is_directory(file, ec)) {
    std::vector<fs::path> entries;
    for (const auto& e : fs::directory_iterator(file, ec))
      if (e.is_regular_file()) entries.push_back(e.path());
    std::ranges::sort(entries);
    for (const auto& e : entries) collect_files(root, e, seen, out);
    return;
  }
  if (!seen.insert(file.lexically_normal().string()).second) return;
  auto text = read_file(file);
  if (!text) return;
  out.push_back(file);
  for (const auto& inc : includes_in(*text)) {
    const fs::path p = fs::path(inc).is_absolute() ? fs::path(inc) : root / inc;
    if (fs::exists(p, ec)) collect_files(root, p, seen, out);
  }
}

std::string package_of(const fs::path& file) {
  auto out = run_capture({"dpkg", "-S", fs::absolute(file).string()});
  if (!out) return {};
  const auto colon = out->find(':');
  return colon == std::string::npos ? std::string() : out->substr(0, colon);
}

json environment() {
  json env = json::object();
  struct utsname u {};
  if (uname(&u) == 0) {
    env["kernel_release"] = u.release;
    env["machine"] = u.machine;
  }
  const auto enabled = read_file("/sys/module/apparmor/parameters/enabled");
  env["apparmor_enabled"] = enabled ? json(enabled->starts_with("Y")) : json(nullptr);
  std::error_code ec;
  json features = nullptr;
  if (fs::is_directory("/sys/kernel/security/apparmor/features", ec)) {
    std::vector<std::string> names;
    for (const auto& e : fs::directory_iterator("/sys/kernel/security/apparmor/features", ec))
      names.push_back(e.path().filename().string());
    std::ranges::sort(names);
    features = names;
  }
  env["apparmor_features"] = features;
  auto ver = run_capture({"apparmor_parser", "--version"});
  if (!ver) ver = run_capture({"/sbin/apparmor_parser", "--version"});
  env["apparmor_parser_version"] = ver ? json(ver->substr(0, ver->find('\n'))) : json(nullptr);
  json distro = nullptr;
  if (auto os = read_file("/etc/os-release")) {
    std::smatch m;
    if (std::regex_search(*os, m, std::regex("PRETTY_NAME=\"?([^\"\n]*)"))) distro = m[1].str();
  }
  env["distribution"] = distro;
  return env;
}

bool adds_something(const analyzer::Proposal& p) {
  return !p.rule.empty() && p.why.code != analyzer::WhyCode::kAlreadyAllowed &&
         p.why.code != analyzer::WhyCode::kExplicitDeny;
}

struct Edit {
  std::string old_text;
  std::string new_text;
  bool created = false;
};

std::string diffs(const std::map<std::string, Edit>& edits) {
  std::string out;
  for (const auto& [rel, e] : edits) {
    if (e.old_text == e.new_text) continue;
    out += rules::unified_diff(e.old_text, e.new_text, e.created ? "/dev/null" : "a/" + rel,
                               "b/" + rel);
  }
  return out;
}

struct Patches {
  std::string upstream;
  std::string local;
  std::vector<std::string> errors;
};

// The fix twice: in the packaged profile files (for upstream) and where aatune would write it
// (the local/ override, the libvirt guest's base profile).
Patches make_patches(const rules::ProfileTree& tree, const analyzer::Analysis& a) {
  Patches out;
  std::map<std::string, Edit> upstream, local;
  auto load = [&](std::map<std::string, Edit>& m, const std::string& file,
                  const std::string& profile, bool& ok) -> Edit& {
    const std::string rel = rel_path(tree.root, file);
    auto it = m.find(rel);
    if (it == m.end()) {
      Edit e;
      if (auto t = read_file(file)) {
        e.old_text = e.new_text = *t;
      } else {
        e.created = true;
        e.new_text = rules::new_local_override(profile);
      }
      it = m.emplace(rel, std::move(e)).first;
    }
    ok = true;
    return it->second;
  };
  for (const auto& p : a.proposals) {
    if (!adds_something(p)) continue;
    const std::vector<std::string> rule{p.rule};
    const rules::Profile* prof = tree.find(p.profile);
    bool ok = false;
    // Upstream: the packaged profile file; libvirt guests' files are generated per host.
    if (prof && !rel_path(tree.root, prof->file).starts_with("libvirt/")) {
      Edit& e = load(upstream, prof->file, p.profile, ok);
      if (auto r = rules::insert_rules(e.new_text, p.profile, rule))
        e.new_text = r->text;
      else
        out.errors.push_back(prof->file + ":" + std::to_string(r.error().line) + ": " +
                             r.error().message);
    }
    for (const auto& t : p.targets) {
      if (!t.is_default) continue;
      Edit& e = load(local, t.file.path, p.profile, ok);
      const bool top = t.file.kind == analyzer::TargetFile::Kind::kLocal ||
                       t.file.kind == analyzer::TargetFile::Kind::kLibvirtFiles;
      auto r = top ? rules::insert_top_level_rules(e.new_text, rule)
                   : rules::insert_rules(e.new_text, p.profile, rule);
      if (r)
        e.new_text = r->text;
      else
        out.errors.push_back(t.file.path + ":" + std::to_string(r.error().line) + ": " +
                             r.error().message);
      if (t.file.kind == analyzer::TargetFile::Kind::kLocal && prof) {
        auto files = tree.files_for(p.profile);
        if (files && !files->local_included) {
          Edit& pe = load(local, prof->file, p.profile, ok);
          if (auto inc = rules::ensure_include(pe.new_text, p.profile, files->local_include))
            pe.new_text = inc->text;
        }
      }
    }
  }
  out.upstream = diffs(upstream);
  out.local = diffs(local);
  return out;
}

json proposal_json(const analyzer::Proposal& p, const std::map<size_t, size_t>& group_ids,
                   const rules::ProfileTree& tree) {
  json j;
  j["id"] = p.id;
  j["profile"] = p.profile;
  j["vm_name"] = p.vm_name.empty() ? json(nullptr) : json(p.vm_name);
  j["class"] = p.rule_class;
  j["rule"] = p.rule.empty() ? json(nullptr) : json(p.rule);
  j["refused"] = p.refused.empty() ? json(nullptr) : json(p.refused);
  j["alternatives"] = json::array();
  for (const auto& alt : p.alternatives)
    j["alternatives"].push_back(
        {{"kind", analyzer::to_string(alt.kind)}, {"text", alt.text}, {"note", alt.note}});
  j["pair"] = p.pair ? json(*p.pair) : json(nullptr);
  j["peer_side"] = p.peer_side;
  json why{{"code", analyzer::to_string(p.why.code)}, {"text", p.why.text}, {"notes", p.why.notes}};
  if (p.why.site)
    why["site"] = {{"file", rel_path(tree.root, p.why.site->file)},
                   {"line", p.why.site->line},
                   {"rule", p.why.site->text}};
  j["why"] = why;
  j["severity"] = {{"level", analyzer::to_string(p.severity.level)}, {"reason", p.severity.reason}};
  j["targets"] = json::array();
  for (const auto& t : p.targets)
    j["targets"].push_back({{"path", rel_path(tree.root, t.file.path)},
                            {"default", t.is_default},
                            {"warning", t.file.warning}});
  j["unverified"] = p.unverified;
  j["complain"] = p.complain;
  j["denials"] = json::array();
  for (size_t g : p.groups)
    if (auto it = group_ids.find(g); it != group_ids.end()) j["denials"].push_back(it->second);
  return j;
}

// ustar: one 512-byte header per file, content padded to 512, two zero blocks at the end.
void tar_add(std::string& tar, const std::string& name, const std::string& data) {
  std::array<char, 512> h{};
  auto put = [&](size_t off, size_t len, const std::string& v) {
    std::copy_n(v.data(), std::min(len, v.size()), h.data() + off);
  };
  auto octal = [&](size_t off, size_t len, uint64_t v) {
    char buf[32];
    std::snprintf(buf, sizeof buf, "%0*llo", static_cast<int>(len - 1),
                  static_cast<unsigned long long>(v));
    put(off, len - 1, buf);
  };
  put(0, 100, name);
  octal(100, 8, 0644);
  octal(108, 8, 0);
  octal(116, 8, 0);
  octal(124, 12, data.size());
  octal(136, 12, 0);  // mtime 0: the same input gives the same archive
  std::fill_n(h.data() + 148, 8, ' ');
  h[156] = '0';
  put(257, 6, std::string("ustar\0", 6));
  put(263, 2, "00");
  unsigned sum = 0;
  for (char c : h) sum += static_cast<unsigned char>(c);
  char buf[8];
  std::snprintf(buf, sizeof buf, "%06o", sum);
  std::copy_n(buf, 7, h.data() + 148);
  tar.append(h.data(), h.size());
  tar += data;
  tar.append((512 - data.size() % 512) % 512, '\0');
}

std::expected<void, std::string> write_tar_gz(
    const std::string& path, const std::vector<std::pair<std::string, std::string>>& files) {
  std::string tar;
  for (const auto& [name, data] : files) tar_add(tar, name, data);
  tar.append(1024, '\0');
  const std::string tmp = path + ".tmp";
  gzFile gz = gzopen(tmp.c_str(), "wb9");
  if (!gz) return std::unexpected(tmp + ": cannot create");
  const int n = gzwrite(gz, tar.data(), static_cast<unsigned>(tar.size()));
  const int rc = gzclose(gz);
  if (n != static_cast<int>(tar.size()) || rc != Z_OK) {
    std::remove(tmp.c_str());
    return std::unexpected(tmp + ": write failed");
  }
  std::error_code ec;
  fs::rename(tmp, path, ec);
  if (ec) return std::unexpected(path + ": " + ec.message());
  return {};
}

std::expected<void, std::string> write_text(const std::string& path, const std::string& text) {
  const std::string tmp = path + ".tmp";
  {
    std::ofstream out(tmp, std::ios::binary);
    out << text;
    if (!out) return std::unexpected(tmp + ": cannot write");
  }
  std::error_code ec;
  fs::rename(tmp, path, ec);
  if (ec) return std::unexpected(path + ": " + ec.message());
  return {};
}

}  // namespace

int run_export(const Invocation& inv) {
  Options opt;
  for (size_t i = 0; i < inv.args.size(); ++i) {
    const std::string& a = inv.args[i];
    std::string v;
    auto value = [&]() {
      if (i + 1 >= inv.args.size()) {
        inv.err << "aatune: error: " << a << " needs a value\n" << kUsage;
        return false;
      }
      v = inv.args[++i];
      return true;
    };
    if (a == "--help" || a == "-h") {
      inv.out << kUsage;
      return kExitOk;
    } else if (a == "--profiles") {
      if (!value()) return kExitUsage;
      opt.profiles = v;
    } else if (a == "--db") {
      if (!value()) return kExitUsage;
      opt.db = v;
    } else if (a == "--profile") {
      if (!value()) return kExitUsage;
      opt.profile = v;
    } else if (a == "--since") {
      if (!value()) return kExitUsage;
      opt.since = parse_time(v);
      if (!opt.since) {
        inv.err << "aatune: error: --since '" << v
                << "': not epoch seconds nor YYYY-MM-DD[THH:MM:SS]\n";
        return kExitUsage;
      }
    } else if (a == "--group") {
      if (!value()) return kExitUsage;
      if (v.empty() || !std::ranges::all_of(v, [](char c) { return c >= '0' && c <= '9'; }) ||
          std::stoull(v) == 0) {
        inv.err << "aatune: error: --group '" << v << "': not a denial number (1, 2, …)\n";
        return kExitUsage;
      }
      opt.group = std::stoull(v);
    } else if (a == "--format") {
      if (!value()) return kExitUsage;
      if (v == "json") {
        opt.format = Format::kJson;
      } else if (v == "markdown" || v == "md") {
        opt.format = Format::kMarkdown;
      } else if (v == "tar") {
        opt.format = Format::kTar;
      } else {
        inv.err << "aatune: error: unknown format '" << v << "' (json, markdown or tar)\n";
        return kExitUsage;
      }
    } else if (a == "--output" || a == "-o") {
      if (!value()) return kExitUsage;
      opt.output = v;
    } else if (a == "--redact") {
      opt.redact = true;
    } else if (a == "--no-redact") {
      opt.redact = false;
    } else if (a == "--redact-uuids") {
      opt.redact_options.uuids = true;
    } else if (a == "--redact-pattern") {
      if (!value()) return kExitUsage;
      opt.redact_options.patterns.push_back(v);
    } else if (a == "--libvirt-xml") {
      if (!value()) return kExitUsage;
      opt.libvirt_xml = v;
    } else if (a == "--now") {
      opt.now = true;
    } else if (a == "--no-probe") {
      opt.probe = false;
    } else if (a.starts_with("--")) {
      inv.err << "aatune: error: unknown option '" << a << "'\n" << kUsage;
      return kExitUsage;
    } else {
      opt.logs.push_back(a);
    }
  }
  if (opt.db && !opt.logs.empty()) {
    inv.err << "aatune: error: --db and LOG files are exclusive; name one source\n";
    return kExitUsage;
  }
  if (opt.format == Format::kTar && !opt.output) {
    inv.err << "aatune: error: --format tar needs --output FILE.tar.gz\n";
    return kExitUsage;
  }
  const bool redact = opt.redact.value_or(opt.format != Format::kJson);
  auto redactor = analyzer::Redactor::create(opt.redact_options);
  if (!redactor) {
    inv.err << "aatune: error: " << redactor.error() << '\n';
    return kExitUsage;
  }

  std::expected<Input, std::string> input = std::unexpected(std::string());
  if (opt.db) {
    input = read_db(*opt.db);
  } else {
    if (opt.logs.empty()) {
      opt.logs = default_logs();
      if (opt.logs.empty()) {
        inv.err << "aatune: error: no log found (/var/log/audit/audit.log, /var/log/kern.log, "
                   "/var/log/syslog); name one or use --db\n";
        return kExitUsage;
      }
    }
    input = read_logs(opt.logs, inv.err);
  }
  if (!input) {
    inv.err << "aatune: error: " << input.error() << '\n';
    return kExitUsage;
  }
  auto tree = rules::read_profile_tree(opt.profiles);
  if (!tree) {
    inv.err << "aatune: error: " << tree.error() << '\n';
    return kExitUsage;
  }

  // Scope: profile and time first; denial ids are numbered within that scope, then --group.
  std::vector<Record> scoped;
  for (auto& r : input->records) {
    const auto& e = r.logged.event;
    if (opt.since && (!e.epoch || *e.epoch < *opt.since)) continue;
    if (opt.profile && analyzer::group_key(e).profile != *opt.profile) continue;
    scoped.push_back(std::move(r));
  }
  std::vector<analyzer::LoggedEvent> events;
  for (const auto& r : scoped) events.push_back(r.logged);
  const analyzer::TrustPolicy trust = system_trust_policy();
  const analyzer::Grouped all_groups = analyzer::group_events(events, trust);
  std::map<std::string, size_t> key_id;  // group key text → denial id
  for (size_t i = 0; i < all_groups.groups.size(); ++i)
    key_id[analyzer::to_string(all_groups.groups[i].key)] = i + 1;
  if (opt.group) {
    if (*opt.group > all_groups.groups.size()) {
      inv.err << "aatune: error: --group " << *opt.group << ": there are "
              << all_groups.groups.size() << " denial group(s) in scope\n";
      return kExitUsage;
    }
    const auto key = all_groups.groups[*opt.group - 1].key;
    std::erase_if(scoped,
                  [&](const Record& r) { return analyzer::group_key(r.logged.event) != key; });
    events.clear();
    for (const auto& r : scoped) events.push_back(r.logged);
  }

  analyzer::AnalyzeOptions aopt;
  aopt.trust = trust;
  if (inv.config != nullptr) aopt.risky_paths = inv.config->risk;
  if (!opt.libvirt_xml.empty()) aopt.vm_names = read_vm_names(opt.libvirt_xml, inv.err);
  const analyzer::TreeView view(*tree);
  const analyzer::Analysis analysis = analyzer::analyze(events, view, aopt);

  json report;
  report["schema"] = "aatune-export/1";
  report["aatune_version"] = AATUNE_VERSION;
  report["generated_at"] = nullptr;
  if (opt.now) {
    auto t = export_time();
    if (!t) {
      inv.err << "aatune: error: " << t.error() << '\n';
      return kExitUsage;
    }
    report["generated_at"] = time_text(*t * 1000);
  }
  report["scope"] = {{"profile", opt.profile ? json(*opt.profile) : json(nullptr)},
                     {"since", opt.since ? json(*opt.since) : json(nullptr)},
                     {"group", opt.group ? json(*opt.group) : json(nullptr)}};
  report["sources"] = input->sources;

  // Denials, with every record of each (capped) and its companions.
  constexpr size_t kMaxRecords = 50;
  std::map<size_t, size_t> group_ids;  // index in analysis.grouped → denial id
  json denials = json::array();
  std::set<std::string> involved;
  uint64_t record_count = 0;
  for (size_t gi = 0; gi < analysis.grouped.groups.size(); ++gi) {
    const auto& g = analysis.grouped.groups[gi];
    const std::string key = analyzer::to_string(g.key);
    const size_t id = key_id.contains(key) ? key_id[key] : gi + 1;
    group_ids[gi] = id;
    involved.insert(g.key.profile);
    json d{{"id", id},
           {"profile", g.key.profile},
           {"class", g.key.rule_class},
           {"operation", g.key.operation},
           {"target", g.key.target},
           {"mask", g.key.mask},
           {"count", g.count},
           {"denied", g.denied},
           {"allowed", g.allowed},
           {"killed", g.killed},
           {"unverified", g.unverified},
           {"pids", g.pids},
           {"comm", g.comms},
           {"first_seen", g.first_seen_ms ? json(time_text(g.first_seen_ms)) : json(nullptr)},
           {"last_seen", g.last_seen_ms ? json(time_text(g.last_seen_ms)) : json(nullptr)}};
    json recs = json::array();
    for (const auto& r : scoped) {
      if (analyzer::group_key(r.logged.event) != g.key) continue;
      if (recs.size() >= kMaxRecords) break;
      json comps = json::array();
      for (const auto& c : r.companions)
        comps.push_back(
            {{"type", c.type}, {"raw", c.raw}, {"fields", analyzer::companion_fields(c)}});
      recs.push_back({{"source", r.logged.source},
                      {"line", r.logged.line_no},
                      {"raw", r.logged.event.raw},
                      {"fields", analyzer::event_fields(r.logged.event)},
                      {"companions", comps},
                      {"process", process_of(r.companions)}});
    }
    record_count += g.count;
    d["records_omitted"] = g.count > recs.size() ? g.count - recs.size() : 0;
    d["records"] = std::move(recs);
    denials.push_back(std::move(d));
  }
  report["denials"] = std::move(denials);

  json proposals = json::array();
  for (const auto& p : analysis.proposals) {
    proposals.push_back(proposal_json(p, group_ids, *tree));
    involved.insert(p.profile);
  }
  const Patches patches = make_patches(*tree, analysis);
  for (const auto& e : patches.errors) inv.err << "aatune: warning: " << e << '\n';
  report["analysis"] = {
      {"proposals", proposals}, {"patch", patches.upstream}, {"local_patch", patches.local}};

  // Policy: each involved profile, its file and every include it pulls in, its local override.
  json prof_list = json::array();
  std::set<std::string> seen_files;
  std::vector<fs::path> files;
  std::set<std::string> local_files;
  std::set<std::string> profile_files;
  for (const auto& name : involved) {
    const rules::Profile* p = tree->find(name);
    if (!p) {
      prof_list.push_back({{"name", name},
                           {"in_tree", false},
                           {"mode", nullptr},
                           {"file", nullptr},
                           {"disabled", false},
                           {"flags", json::array()},
                           {"local_file", nullptr}});
      continue;
    }
    auto pf = tree->files_for(name);
    std::string local_rel;
    if (pf && pf->local_exists) {
      local_rel = rel_path(tree->root, pf->local_file);
      local_files.insert(local_rel);
    }
    profile_files.insert(rel_path(tree->root, p->file));
    prof_list.push_back({{"name", name},
                         {"in_tree", true},
                         {"mode", p->has_flag("unconfined") ? "unconfined"
                                  : p->complain()           ? "complain"
                                                            : "enforce"},
                         {"file", rel_path(tree->root, p->file)},
                         {"disabled", p->disabled},
                         {"flags", p->flags},
                         {"local_file", local_rel.empty() ? json(nullptr) : json(local_rel)}});
    collect_files(tree->root, p->file, seen_files, files);
  }
  json file_list = json::array();
  for (const auto& f : files) {
    const std::string rel = rel_path(tree->root, f.string());
    const std::string content = read_file(f).value_or("");
    const std::string role = profile_files.contains(rel) ? "profile"
                             : local_files.contains(rel) ? "local"
                                                         : "include";
    json pkg = nullptr;
    if (opt.probe) {
      const std::string owner = package_of(f);
      if (!owner.empty()) pkg = owner;
    }
    file_list.push_back({{"path", rel},
                         {"role", role},
                         {"sha256", analyzer::sha256_hex(content)},
                         {"package", pkg},
                         {"content", content}});
  }
  report["policy"] = {{"profiles", prof_list}, {"files", file_list}};

  report["environment"] = opt.probe ? environment() : json::object();
  report["environment"]["aatune_version"] = AATUNE_VERSION;
  report["environment"]["probed"] = opt.probe;

  std::vector<std::string> profiles_summary;
  for (const auto& p : prof_list) profiles_summary.push_back(p["name"]);
  report["summary"] = {{"groups", analysis.grouped.groups.size()},
                       {"records", record_count},
                       {"proposals", analysis.proposals.size()},
                       {"profiles", profiles_summary}};

  if (redact) {
    if (opt.probe) {
      struct utsname u {};
      if (uname(&u) == 0) {
        auto options = opt.redact_options;
        options.hosts.emplace_back(u.nodename);
        if (auto r = analyzer::Redactor::create(options)) redactor = std::move(*r);
      }
    }
    redactor->redact_json(report);
    json kinds = json::object();
    for (const auto& [k, c] : redactor->counts())
      kinds[k] = {{"distinct", c.distinct}, {"occurrences", c.occurrences}};
    report["redaction"] = {{"enabled", true}, {"kinds", kinds}};
  } else {
    report["redaction"] = {{"enabled", false}, {"kinds", json::object()}};
  }

  std::string text;
  if (opt.format == Format::kJson) {
    text = report.dump(2) + "\n";
  } else if (opt.format == Format::kMarkdown) {
    text = analyzer::render_markdown(report);
  } else {
    std::vector<std::pair<std::string, std::string>> tar_files;
    tar_files.emplace_back("aatune-export/report.json", report.dump(2) + "\n");
    tar_files.emplace_back("aatune-export/report.md", analyzer::render_markdown(report));
    std::string excerpt;
    for (const auto& d : report["denials"])
      for (const auto& r : d["records"]) {
        excerpt += r["raw"].get<std::string>() + "\n";
        for (const auto& c : r["companions"]) excerpt += c["raw"].get<std::string>() + "\n";
      }
    tar_files.emplace_back("aatune-export/denials.log", excerpt);
    if (!report["analysis"]["patch"].get<std::string>().empty())
      tar_files.emplace_back("aatune-export/fix.patch", report["analysis"]["patch"]);
    if (!report["analysis"]["local_patch"].get<std::string>().empty())
      tar_files.emplace_back("aatune-export/fix-local.patch", report["analysis"]["local_patch"]);
    for (const auto& f : report["policy"]["files"]) {
      const std::string path = f["path"];
      if (path.starts_with("/") || path.find("..") != std::string::npos) continue;
      tar_files.emplace_back("aatune-export/apparmor.d/" + path, f["content"]);
    }
    if (auto w = write_tar_gz(*opt.output, tar_files); !w) {
      inv.err << "aatune: error: " << w.error() << '\n';
      return kExitUsage;
    }
    return kExitOk;
  }
  if (opt.output) {
    if (auto w = write_text(*opt.output, text); !w) {
      inv.err << "aatune: error: " << w.error() << '\n';
      return kExitUsage;
    }
  } else {
    inv.out << text;
  }
  return kExitOk;
}

}  // namespace aatune::cli
