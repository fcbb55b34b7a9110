#include "analyzer/analyzer.h"

#include <algorithm>
#include <functional>
#include <set>
#include <tuple>
#include <utility>
#include <variant>

#include "analyzer/mask.h"
#include "rules/aare.h"
#include "rules/rule.h"

namespace aatune::analyzer {
namespace {

// ---------------------------------------------------------------------------------------------
// Rendering helpers.

// A logged name as a rule token matching exactly that name: the rules model owns the escaping
// (rules::quote_path_literal / quote_label_literal) and the quoting (rules::quote_value), so
// the analyzer and the editor can never disagree on what a name means.
std::expected<std::string, std::string> quote_literal(std::string_view s, bool path) {
  auto q = path ? rules::quote_path_literal(s) : rules::quote_label_literal(s);
  if (!q) return std::unexpected(q.error());
  return rules::quote_value(*q);
}

// ---------------------------------------------------------------------------------------------
// Path parts that are new on every run.

// A mkstemp(3)/mktemp(1) suffix: 6 to 10 letters and digits with an upper-case letter after the
// first byte and a lower-case one (`Xk3vQb`). Extensions and capitalised words (`conf`,
// `Backup`, `PDF`) have no such mix; a random 6-character suffix lacks it about one time in ten,
// and then the other alternatives remain.
bool is_random_suffix(std::string_view s) {
  if (s.size() < 6 || s.size() > 10) return false;
  bool inner_upper = false;
  bool lower = false;
  for (size_t i = 0; i < s.size(); ++i) {
    const char c = s[i];
    if (c >= 'A' && c <= 'Z') {
      inner_upper = inner_upper || i > 0;
    } else if (c >= 'a' && c <= 'z') {
      lower = true;
    } else if (c < '0' || c > '9') {
      return false;
    }
  }
  return inner_upper && lower;
}

// The length of libvirt's domain id at the start of a per-VM directory name (`3-webvm` below
// `…/libvirt/qemu/`, `domain-3-webvm` anywhere below `…/libvirt/`: the id is new on every start
// of a guest), 0 if there is none. `prefix` gets the part before the id.
size_t domain_id_length(std::string_view segment, std::string_view& prefix) {
  prefix = segment.starts_with("domain-") ? segment.substr(0, 7) : std::string_view();
  const std::string_view rest = segment.substr(prefix.size());
  size_t digits = 0;
  while (digits < rest.size() && rest[digits] >= '0' && rest[digits] <= '9') ++digits;
  const bool named = digits > 0 && digits + 1 < rest.size() && rest[digits] == '-';
  return named ? digits : 0;
}

struct VolatileGlob {
  std::string pattern;             ///< AARE; the literal parts escaped, not quoted.
  std::vector<std::string> parts;  ///< What was globbed and why, for the note.
  bool random_suffix = false;      ///< The file name's suffix is one (not an extension).
};

// The logged path with its per-run parts replaced by the narrowest glob covering the next run's
// value: a domain id by `[0-9]*` (only below a `libvirt` directory, where libvirt keeps its
// per-VM state), a random suffix by one `?` per character. std::nullopt when there are none, or
// when the path cannot be a rule (the rules model's literal escaping, quote_label_literal() per
// chunk between globs, refuses it).
std::optional<VolatileGlob> volatile_glob(std::string_view path) {
  if (!path.starts_with('/')) return std::nullopt;
  VolatileGlob out;
  std::string literal;
  bool ok = true;
  const auto flush = [&] {
    if (literal.empty()) return;
    auto q = rules::quote_label_literal(literal);
    if (!q) ok = false;
    out.pattern += q ? *q : std::string();
    literal.clear();
  };
  bool below_libvirt = false;
  std::string_view parent;
  size_t start = 0;
  while (start <= path.size()) {
    const size_t slash = path.find('/', start);
    const size_t end = slash == std::string_view::npos ? path.size() : slash;
    const std::string_view segment = path.substr(start, end - start);
    // The file name, or a directory's own name when the logged path ends with '/'.
    const bool name = end == path.size() || end + 1 == path.size();
    std::string_view prefix;
    const size_t dot = segment.rfind('.');
    // Only directories: below libvirt's images/ a file may well be called `2-disk.qcow2`.
    const bool per_vm_dir =
        below_libvirt && end < path.size() && (segment.starts_with("domain-") || parent == "qemu");
    if (const size_t id = per_vm_dir ? domain_id_length(segment, prefix) : 0; id > 0) {
      literal += prefix;
      flush();
      out.pattern += "[0-9]*";
      literal += segment.substr(prefix.size() + id);
      out.parts.push_back(std::string(segment) + " (libvirt's domain id, new on every start)");
    } else if (name && dot != std::string_view::npos && dot > 0 &&
               is_random_suffix(segment.substr(dot + 1))) {
      literal += segment.substr(0, dot + 1);
      flush();
      out.pattern += std::string(segment.size() - dot - 1, '?');
      out.random_suffix = true;
      out.parts.push_back(std::string(segment.substr(dot)) + " (a random temporary-file suffix)");
    } else {
      literal += segment;
    }
    below_libvirt = below_libvirt || segment == "libvirt";
    parent = segment;
    if (slash == std::string_view::npos) break;
    literal += '/';
    start = slash + 1;
  }
  flush();
  if (!ok || out.parts.empty()) return std::nullopt;
  return out;
}

std::string label_or_raw(std::string_view label) {
  auto q = quote_literal(label, false);
  return q ? *q : std::string(label);
}

std::vector<std::string> words(std::string_view s) {
  std::vector<std::string> out;
  size_t i = 0;
  while (i < s.size()) {
    while (i < s.size() && (s[i] == ' ' || s[i] == ',' || s[i] == '|')) ++i;
    size_t j = i;
    while (j < s.size() && s[j] != ' ' && s[j] != ',' && s[j] != '|') ++j;
    if (j > i) out.emplace_back(s.substr(i, j - i));
    i = j;
  }
  return out;
}

std::string join(const std::vector<std::string>& parts, std::string_view sep) {
  std::string out;
  for (size_t i = 0; i < parts.size(); ++i) {
    if (i) out += sep;
    out += parts[i];
  }
  return out;
}

std::string sorted_access(std::string_view mask) {
  auto w = words(mask);
  std::ranges::sort(w);
  w.erase(std::unique(w.begin(), w.end()), w.end());
  return join(w, ", ");
}

std::optional<std::string> extra(const collector::Event& e, std::string_view key) {
  for (const auto& [k, v] : e.extra) {
    if (k == key) return v;
  }
  return std::nullopt;
}

std::string logged_mask(const collector::Event& e) {
  return e.denied_mask.value_or(e.requested_mask.value_or(""));
}

bool is_unconfined(std::string_view label) {
  return label.empty() || label == "unconfined";
}

// The profiles of a (possibly stacked) label: "a//&b" -> {"a", "b"}; ":ns:x" kept as written.
std::vector<std::string> stack_components(std::string_view label) {
  std::vector<std::string> out;
  size_t start = 0;
  while (true) {
    const size_t pos = label.find("//&", start);
    out.emplace_back(label.substr(start, pos == std::string_view::npos ? pos : pos - start));
    if (pos == std::string_view::npos) break;
    start = pos + 3;
  }
  return out;
}

// Complain mode runs a program that has no profile (and no exec rule) in a learning child named
// `null-<program>` of the running profile: its accesses are the parent's to grant.
std::string learning_parent(std::string_view label) {
  const size_t at = label.find("//null-");
  return std::string(label.substr(0, at));
}

void set_profile_of(std::string& profile, std::string& learning_label, std::string_view label) {
  profile = learning_parent(label);
  if (profile != label) learning_label = std::string(label);
}

// ---------------------------------------------------------------------------------------------
// Variables: rewrite a logged path with the tree's own variables (@{HOME}, @{PROC}, @{pid}…).

class VariableIndex {
 public:
  explicit VariableIndex(
      const std::vector<std::pair<std::string, std::vector<std::string>>>& vars) {
    for (const auto& [name, values] : vars) raw_[name] = values;
    for (const auto& [name, values] : vars) {
      std::set<std::string> seen;
      for (const auto& v : values) {
        for (auto& x : expand(v, 0)) {
          for (auto& y : expand_braces(x)) seen.insert(y);
        }
      }
      expanded_[name] = {seen.begin(), seen.end()};
    }
  }

  // The path rewritten: the longest prefix a variable's value matches becomes @{var}, then
  // single path segments that a segment-variable matches (e.g. a pid under @{PROC}).
  [[nodiscard]] std::optional<std::string> rewrite(std::string_view path) const {
    std::string best_name;
    size_t best_len = 0;
    for (const auto& [name, values] : expanded_) {
      for (const auto& v : values) {
        if (v.size() < 2 || v.back() != '/' || !has_literal(v)) continue;
        // Try every prefix of `path` that ends at a '/'.
        for (size_t i = 1; i < path.size(); ++i) {
          if (path[i] != '/') continue;
          if (i + 1 > best_len && glob_match(v, path.substr(0, i + 1))) {
            best_len = i + 1;
            best_name = name;
          }
        }
      }
    }
    std::string head;
    std::string_view rest = path;
    if (best_len > 0) {
      head = "@{" + best_name + "}/";
      rest = path.substr(best_len);
    }
    // Segment variables: whole segments between slashes, not the last (file name) one unless
    // it ends with '/'.
    std::string tail;
    bool changed = best_len > 0;
    size_t i = 0;
    while (i < rest.size()) {
      size_t j = rest.find('/', i);
      if (j == std::string_view::npos) {
        tail += escape(rest.substr(i));
        break;
      }
      std::string_view seg = rest.substr(i, j - i);
      std::string var = segment_variable(seg);
      if (!var.empty()) {
        tail += "@{" + var + "}";
        changed = true;
      } else {
        tail += escape(seg);
      }
      tail += '/';
      i = j + 1;
    }
    if (!changed) return std::nullopt;
    if (best_len == 0) return escape_prefix_slash(path, tail);
    return head + tail;
  }

 private:
  static bool has_literal(std::string_view v) {
    return v.find_first_not_of("/*?[]{},") != std::string_view::npos;
  }

  static std::string escape(std::string_view s) {
    if (s.empty()) return {};
    // Segments of a path quote_path_literal() already accepted: the label escaping cannot fail.
    auto q = rules::quote_label_literal(s);
    return q ? *q : std::string();
  }

  static std::string escape_prefix_slash(std::string_view path, const std::string& tail) {
    // No prefix variable: `tail` already holds the whole path minus its leading '/'.
    return (path.starts_with('/') ? "/" : "") + tail.substr(path.starts_with('/') ? 1 : 0);
  }

  std::string segment_variable(std::string_view seg) const {
    if (seg.empty()) return {};
    for (const auto& [name, values] : expanded_) {
      for (const auto& v : values) {
        // Only pattern variables (@{pid}, @{multiarch}): replacing a plain word with a
        // variable that holds the same word adds nothing.
        if (v.find('/') != std::string::npos || !has_literal(v) ||
            v.find_first_of("*?[") == std::string::npos)
          continue;
        if (glob_match(v, seg)) return name;
      }
    }
    return {};
  }

  // Replaces @{x} references by their values (every combination), bounded against cycles.
  std::vector<std::string> expand(const std::string& v, int depth) const {
    const size_t at = v.find("@{");
    if (at == std::string::npos || depth > 8) return {v};
    const size_t end = v.find('}', at);
    if (end == std::string::npos) return {v};
    const std::string name = v.substr(at + 2, end - at - 2);
    auto it = raw_.find(name);
    if (it == raw_.end()) return {};
    std::vector<std::string> out;
    for (const auto& val : it->second) {
      for (auto& x : expand(v.substr(0, at) + val + v.substr(end + 1), depth + 1)) {
        // `@{HOMEDIRS}/*/` with HOMEDIRS=/home/ gives /home//*/: runs of '/' are one '/'.
        std::string collapsed;
        for (char c : x) {
          if (c == '/' && !collapsed.empty() && collapsed.back() == '/') continue;
          collapsed += c;
        }
        out.push_back(std::move(collapsed));
      }
    }
    return out;
  }

  static std::vector<std::string> expand_braces(const std::string& v) {
    const size_t open = v.find('{');
    if (open == std::string::npos) return {v};
    int depth = 0;
    size_t close = open;
    std::vector<size_t> commas;
    for (size_t i = open; i < v.size(); ++i) {
      if (v[i] == '{') ++depth;
      if (v[i] == '}' && --depth == 0) {
        close = i;
        break;
      }
      if (v[i] == ',' && depth == 1) commas.push_back(i);
    }
    if (close == open) return {v};
    std::vector<std::string> out;
    size_t start = open + 1;
    commas.push_back(close);
    for (size_t c : commas) {
      for (auto& x :
           expand_braces(v.substr(0, open) + v.substr(start, c - start) + v.substr(close + 1))) {
        out.push_back(std::move(x));
      }
      start = c + 1;
    }
    return out;
  }

  // Minimal AARE match of a brace-free pattern: `*` (not '/'), `**` (anything), `?`, `[…]`.
  static bool glob_match(std::string_view p, std::string_view s) {
    if (p.empty()) return s.empty();
    if (p.starts_with("**")) {
      for (size_t i = 0; i <= s.size(); ++i) {
        if (glob_match(p.substr(2), s.substr(i))) return true;
      }
      return false;
    }
    if (p[0] == '*') {
      for (size_t i = 0; i <= s.size(); ++i) {
        if (glob_match(p.substr(1), s.substr(i))) return true;
        if (i < s.size() && s[i] == '/') break;
      }
      return false;
    }
    if (s.empty()) return false;
    if (p[0] == '?') return s[0] != '/' && glob_match(p.substr(1), s.substr(1));
    if (p[0] == '[') {
      const size_t close = p.find(']', 1);
      if (close == std::string_view::npos) return false;
      std::string_view set = p.substr(1, close - 1);
      bool negate = !set.empty() && (set[0] == '^' || set[0] == '!');
      if (negate) set.remove_prefix(1);
      bool hit = false;
      for (size_t i = 0; i < set.size(); ++i) {
        if (i + 2 < set.size() && set[i + 1] == '-') {
          hit = hit || (s[0] >= set[i] && s[0] <= set[i + 2]);
          i += 2;
        } else {
          hit = hit || s[0] == set[i];
        }
      }
      return hit != negate && glob_match(p.substr(close + 1), s.substr(1));
    }
    if (p[0] == '\\' && p.size() > 1) return p[1] == s[0] && glob_match(p.substr(2), s.substr(1));
    return p[0] == s[0] && glob_match(p.substr(1), s.substr(1));
  }

  std::map<std::string, std::vector<std::string>> raw_;
  std::map<std::string, std::vector<std::string>> expanded_;
};

// ---------------------------------------------------------------------------------------------
// Per-class minimal rules.

struct Draft {
  std::string profile;
  std::string rule_class;
  std::vector<size_t> groups;
  std::string rule;
  std::string refused;
  Request request;
  std::optional<rules::Rule> rule_value;
  std::string action;     // "read /etc/foo": for the explanation
  std::string file_path;  // file/exec: the literal path
  std::string perms;      // file: rule perms
  std::string exec_mode;  // exec: chosen mode
  std::string exec_why;   // exec: why this mode
  std::vector<Alternative> alternatives;
  bool owner = false;
  std::vector<std::string> notes;  // facts for the explanation (e.g. parser version needed)
  std::string learning_label;      // the `parent//null-/usr/bin/foo` label the records carried
  // Peer cross-check: the reciprocal rule the peer's profile needs, per confined peer.
  std::vector<std::pair<std::string, std::string>> reciprocal;  // (peer profile, rule)
  std::string reciprocal_class;
};

std::string perms_words(std::string_view perms) {
  std::vector<std::string> out;
  for (char c : perms) {
    switch (c) {
      case 'm':
        out.push_back("map");
        break;
      case 'r':
        out.push_back("read");
        break;
      case 'w':
        out.push_back("write");
        break;
      case 'a':
        out.push_back("append to");
        break;
      case 'l':
        out.push_back("link");
        break;
      case 'k':
        out.push_back("lock");
        break;
      default:
        break;
    }
  }
  if (out.size() > 1) {
    std::string last = out.back();
    out.pop_back();
    return join(out, ", ") + " and " + last;
  }
  return out.empty() ? std::string("access") : out.front();
}

std::string signal_reciprocal(std::string_view access) {
  if (access == "send") return "receive";
  if (access == "receive") return "send";
  return std::string(access);
}

std::string ptrace_reciprocal(std::string_view access) {
  if (access == "read") return "readby";
  if (access == "readby") return "read";
  if (access == "trace") return "tracedby";
  if (access == "tracedby") return "trace";
  return std::string(access);
}

std::string unix_reciprocal(std::string_view access) {
  if (access == "send") return "receive";
  if (access == "receive") return "send";
  if (access == "connect") return "accept";
  if (access == "accept") return "connect";
  return std::string(access);
}

std::string map_words(std::string_view mask, std::string (*fn)(std::string_view)) {
  std::vector<std::string> w;
  for (const auto& x : words(mask)) w.push_back(fn(x));
  std::ranges::sort(w);
  w.erase(std::unique(w.begin(), w.end()), w.end());
  return join(w, ", ");
}

// The label to write in a rule for `peer` seen from `self`: the running profile refers to
// itself with @{profile_name} where the tree does so.
std::string peer_token(std::string_view peer, std::string_view self, bool use_profile_name) {
  if (peer == self && use_profile_name) return "@{profile_name}";
  return label_or_raw(peer);
}

// `network (ACCESS) inet TYPE [ip= port=] [peer=(ip= port=)],` from a record's addresses: the
// peer side for accesses that have one (connect, send, …), the local side for bind/listen (or
// when the record has no peer). A local port of a connecting socket is ephemeral: left out.
std::optional<std::string> fine_grained_network(const collector::Event& e, std::string_view mask,
                                                const std::string& family,
                                                const std::string& type) {
  if (family != "inet" && family != "inet6") return std::nullopt;
  static const std::set<std::string, std::less<>> kNoPeer = {
      "create", "bind", "listen", "shutdown", "getattr", "setattr", "getopt", "setopt"};
  rules::NetworkRule n;
  n.family = family;
  if (!type.empty() && !type.starts_with("unknown")) n.type_or_protocol = type;
  n.access = words(mask);
  const bool peer_ok =
      std::ranges::none_of(n.access, [](const std::string& a) { return kNoPeer.contains(a); });
  const auto port = [](const std::optional<uint64_t>& p) {
    return p && *p > 0 && *p <= 65535 ? std::to_string(*p) : std::string();
  };
  if (peer_ok && (e.net_foreign_addr || port(e.net_foreign_port) != "")) {
    n.peer_ip = e.net_foreign_addr.value_or("");
    n.peer_port = port(e.net_foreign_port);
  }
  const bool local_side = std::ranges::any_of(
      n.access, [](const std::string& a) { return a == "bind" || a == "listen"; });
  if (local_side || (n.peer_ip.empty() && n.peer_port.empty())) {
    n.local_ip = e.net_local_addr.value_or("");
    n.local_port = port(e.net_local_port);
  }
  if (!n.is_fine_grained() ||
      (n.local_ip.empty() && n.local_port.empty() && n.peer_ip.empty() && n.peer_port.empty())) {
    return std::nullopt;
  }
  // Addresses come from the record: render_checked refuses anything that is not an address.
  auto text = rules::render_checked(rules::Rule{.body = std::move(n)});
  if (!text) return std::nullopt;
  return *text;
}

bool owner_request(const collector::Event& e) {
  // aa-logprof adds `owner` whenever fsuid == ouid, root included; a root daemon then gets
  // `owner /etc/… r`, which does not match files owned by other users. Owner only for non-root.
  return e.fsuid && e.ouid && *e.fsuid == *e.ouid && *e.fsuid != 0;
}

// The rules model's canonical form of a rule we wrote, and the typed value. Rules the model
// cannot read stay as we wrote them (no typed value).
struct Canon {
  std::string text;
  std::optional<rules::Rule> rule;
  std::string error;
};

void set_profile(Draft& d, std::string_view label) {
  set_profile_of(d.profile, d.learning_label, label);
}

Canon canonical(const std::string& text) {
  auto parsed = rules::parse_rule(text);
  if (!parsed || std::holds_alternative<rules::UnknownRule>(parsed->body)) return {text, {}, {}};
  auto rendered = rules::render_checked(*parsed);
  if (!rendered) return {text, {}, rendered.error()};
  return {*rendered, *parsed, {}};
}

Request make_request(const std::string& cls, const std::string& text, bool owner) {
  Request r{cls, text, std::nullopt, owner};
  auto parsed = rules::parse_rule(text);
  if (parsed && !std::holds_alternative<rules::UnknownRule>(parsed->body)) {
    // Coverage asks "may it execute", whatever the transition: exec requests carry mode "x".
    if (auto* f = std::get_if<rules::FileRule>(&parsed->body); f && !f->exec_mode.empty()) {
      f->exec_mode = "x";
    }
    parsed->owner = owner;
    r.rule = std::move(*parsed);
  }
  return r;
}

class Engine {
 public:
  Engine(const Grouped& grouped, const PolicyView& policy, const AnalyzeOptions& options)
      : grouped_(grouped),
        policy_(policy),
        options_(options),
        vars_(policy.variables()),
        use_profile_name_(policy.uses_profile_name_variable()) {}

  // The site's own guardrail entries (AnalyzeOptions::risky_paths) for a file grant: an entry is
  // an AppArmor pattern matched against the rule's path, or a directory covering it.
  Guardrail site_guardrail(const rules::Rule& rule) const {
    const auto* f = std::get_if<rules::FileRule>(&rule.body);
    if (f == nullptr || rule.deny) return {};
    for (const std::string& entry : options_.risky_paths) {
      if (entry.empty()) continue;
      const std::string dir = entry.ends_with('/') ? entry : entry + "/";
      if (f->path == entry || f->path.starts_with(dir) || rules::aare_matches(entry, f->path)) {
        return {true, "grant on " + entry + " (listed as risky in the configuration)"};
      }
    }
    return {};
  }

  std::vector<Proposal> run() {
    std::vector<Draft> drafts = make_drafts();
    std::vector<Proposal> out;
    // Proposal index by (profile, rule) to link logged receive sides to their send side.
    std::map<std::pair<std::string, std::string>, size_t> by_rule;
    for (auto& d : drafts) {
      Proposal p = finish(d, false);
      if (!p.rule.empty()) by_rule.emplace(std::pair{p.profile, p.rule}, out.size());
      out.push_back(std::move(p));
    }
    // Peer cross-check.
    size_t next_pair = 1;
    const size_t logged = out.size();
    for (size_t i = 0; i < logged; ++i) {
      const Draft& d = drafts[i];
      for (const auto& [peer, rule] : d.reciprocal) {
        auto linked = by_rule.find({peer, rule});
        if (linked != by_rule.end()) {
          Proposal& other = out[linked->second];
          if (linked->second == i) continue;  // a self-pair rendered as one rule
          const size_t id = out[i].pair ? *out[i].pair : other.pair ? *other.pair : next_pair++;
          out[i].pair = id;
          other.pair = id;
          continue;
        }
        Draft peer_draft;
        peer_draft.profile = peer;
        peer_draft.rule_class = d.rule_class;
        peer_draft.rule = rule;
        peer_draft.rule_value = canonical(rule).rule;
        peer_draft.request = make_request(d.rule_class, rule, false);
        peer_draft.action = "answer " + d.profile + " (" + d.rule_class + ")";
        const CoverageAnswer cov = policy_.coverage(peer, peer_draft.request);
        // The peer already allows it: nothing to pair.
        if (cov.kind == CoverageAnswer::Kind::kAllowed && policy_.has_profile(peer)) continue;
        Proposal p = finish(peer_draft, true);
        const size_t id = out[i].pair ? *out[i].pair : next_pair++;
        out[i].pair = id;
        p.pair = id;
        p.severity = out[i].severity;
        p.unverified = out[i].unverified;
        p.why.text = d.profile + "'s " + d.rule_class + " access to " + peer + " also needs " +
                     peer + " to allow the other side: " + p.why.text;
        by_rule.emplace(std::pair{p.profile, p.rule}, out.size());
        out.push_back(std::move(p));
      }
    }
    return order(std::move(out));
  }

 private:
  // Riskiest first, then most frequent; the two sides of a pair stay adjacent.
  std::vector<Proposal> order(std::vector<Proposal> in) const {
    auto count = [&](const Proposal& p) {
      uint64_t n = 0;
      for (size_t g : p.groups) n += grouped_.groups[g].count;
      return n;
    };
    std::vector<size_t> idx(in.size());
    for (size_t i = 0; i < idx.size(); ++i) idx[i] = i;
    std::map<size_t, std::vector<size_t>> pair_members;
    for (size_t i = 0; i < in.size(); ++i) {
      if (in[i].pair) pair_members[*in[i].pair].push_back(i);
    }
    // Only the first member of a pair is ranked; the others follow it.
    std::vector<size_t> heads;
    for (size_t i = 0; i < in.size(); ++i) {
      if (in[i].pair && pair_members[*in[i].pair].front() != i) continue;
      heads.push_back(i);
    }
    std::stable_sort(heads.begin(), heads.end(), [&](size_t a, size_t b) {
      return std::tuple(static_cast<int>(in[a].severity.level), count(in[a])) >
             std::tuple(static_cast<int>(in[b].severity.level), count(in[b]));
    });
    std::vector<Proposal> out;
    for (size_t h : heads) {
      if (in[h].pair) {
        for (size_t m : pair_members[*in[h].pair]) out.push_back(std::move(in[m]));
      } else {
        out.push_back(std::move(in[h]));
      }
    }
    for (size_t i = 0; i < out.size(); ++i) out[i].id = i + 1;
    return out;
  }

  std::vector<Draft> make_drafts() {
    std::vector<Draft> drafts;
    // File groups of one profile and path merge their masks (r + w -> rw); the trust split
    // stays (an unverified record never widens a trusted proposal).
    std::map<std::tuple<std::string, std::string, bool>, size_t> file_index;
    for (size_t gi = 0; gi < grouped_.groups.size(); ++gi) {
      const Group& g = grouped_.groups[gi];
      const std::string& cls = g.key.rule_class;
      if (cls == "file" && !g.sample.name2) {
        const std::string path = g.sample.name.value_or("");
        const std::string perms = file_perms_from_mask(g.key.mask);
        auto key = std::tuple(learning_parent(g.key.profile), path, g.unverified);
        auto it = file_index.find(key);
        if (it != file_index.end()) {
          Draft& d = drafts[it->second];
          d.groups.push_back(gi);
          d.perms = merge_perms(d.perms, perms);
          if (d.learning_label.empty() && learning_parent(g.key.profile) != g.key.profile) {
            d.learning_label = g.key.profile;
          }
          d.owner = d.owner && owner_request(g.sample);
          continue;
        }
        file_index.emplace(key, drafts.size());
        Draft d;
        set_profile(d, g.key.profile);
        d.rule_class = cls;
        d.groups = {gi};
        d.file_path = path;
        d.perms = perms;
        d.owner = owner_request(g.sample);
        drafts.push_back(std::move(d));
        continue;
      }
      Draft d;
      set_profile(d, g.key.profile);
      d.rule_class = cls;
      d.groups = {gi};
      build(d, g);
      drafts.push_back(std::move(d));
    }
    for (auto& d : drafts) {
      if (d.rule_class == "file") build_file(d);
      if (d.profile == "unconfined" && !d.rule.empty()) {
        // An unconfined process has no profile to add to (e.g. change_onexec refused for
        // no_new_privs): the denial is not a policy gap.
        d.rule.clear();
        d.reciprocal.clear();
        d.alternatives.clear();
        d.refused = "the process was unconfined: there is no profile to add a rule to";
      }
      canonicalize(d);
    }
    return drafts;
  }

  static void canonicalize(Draft& d) {
    if (!d.rule.empty()) {
      Canon c = canonical(d.rule);
      if (!c.error.empty()) {
        d.refused = c.error;
        d.rule.clear();
      } else {
        d.rule = c.text;
        d.rule_value = c.rule;
      }
    }
    for (auto& [peer, rule] : d.reciprocal) rule = canonical(rule).text;
  }

  void build_file(Draft& d) {
    const Group& g = grouped_.groups[d.groups.front()];
    d.action = perms_words(d.perms) + " " + d.file_path;
    if (d.perms.empty()) {
      d.refused = "the logged mask \"" + g.key.mask + "\" names no file permission";
      return;
    }
    auto q = quote_literal_path(d.file_path);
    if (!q) {
      d.refused = q.error();
      return;
    }
    const std::string owner = d.owner ? "owner " : "";
    d.rule = owner + *q + " " + d.perms + ",";
    d.request = make_request("file", *q + " " + d.perms + ",", d.owner);
    add_path_alternatives(d, d.file_path, d.perms, owner);
    if (d.owner) {
      d.alternatives.push_back({Alternative::Kind::kOwner, *q + " " + d.perms + ",",
                                "without owner: also files of other users"});
    }
  }

  void add_path_alternatives(Draft& d, const std::string& path, const std::string& perms,
                             const std::string& owner) {
    // First: when the path has parts that change on every run, this is the rule that still
    // works on the next one.
    const auto changing = volatile_glob(path);
    if (changing) {
      std::string note = "globs only what changes on every run: ";
      for (size_t i = 0; i < changing->parts.size(); ++i) {
        note += (i > 0 ? ", " : "") + changing->parts[i];
      }
      d.alternatives.push_back({Alternative::Kind::kVolatile,
                                owner + rules::quote_value(changing->pattern) + " " + perms + ",",
                                note});
    }
    const bool dir = path.ends_with('/');
    const std::string_view trimmed =
        dir ? std::string_view(path).substr(0, path.size() - 1) : std::string_view(path);
    const size_t slash = trimmed.rfind('/');
    if (slash != std::string_view::npos && slash > 0) {
      const std::string parent(trimmed.substr(0, slash + 1));
      auto qp = quote_literal(parent, true);
      if (qp) {
        auto with = [&](std::string glob) {
          // Glob characters go after the escaped literal part, inside the quotes if any.
          std::string p = *qp;
          if (p.front() == '"') return "\"" + p.substr(1, p.size() - 2) + glob + "\"";
          return p + glob;
        };
        d.alternatives.push_back({Alternative::Kind::kGlob,
                                  owner + with(dir ? "*/" : "*") + " " + perms + ",",
                                  "every entry of " + parent});
        d.alternatives.push_back({Alternative::Kind::kRecursive,
                                  owner + with(dir ? "**/" : "**") + " " + perms + ",",
                                  "everything below " + parent});
        const std::string_view base = trimmed.substr(slash + 1);
        const size_t dot = base.rfind('.');
        // A random suffix is not an extension: `*.Xk3vQb` would match nothing next time.
        const bool random = changing && changing->random_suffix;
        if (!dir && !random && dot != std::string_view::npos && dot > 0 && dot + 1 < base.size()) {
          auto ext = quote_literal(std::string("/") + std::string(base.substr(dot)), true);
          if (ext && ext->front() == '/') {
            d.alternatives.push_back(
                {Alternative::Kind::kExtension,
                 owner + with("*" + ext->substr(1)) + " " + perms + ",",
                 "every " + std::string(base.substr(dot)) + " file in " + parent});
          }
        }
      }
    }
    if (auto v = vars_.rewrite(path)) {
      const std::string text = rules::quote_value(*v);
      d.alternatives.push_back({Alternative::Kind::kVariable, owner + text + " " + perms + ",",
                                "uses the tree's variables"});
    }
    // Abstractions that already grant it, most specific first: the more literal the rule
    // that grants it, the more the abstraction is about this very file family.
    auto abs = policy_.abstractions_allowing(d.request);
    auto literal_len = [](const RuleSite& s) {
      std::string_view t = s.text;
      if (t.starts_with("owner ")) t.remove_prefix(6);
      return t.find_first_of("*?[{@") == std::string_view::npos ? t.size()
                                                                : t.find_first_of("*?[{@");
    };
    std::stable_sort(abs.begin(), abs.end(), [&](const auto& a, const auto& b) {
      return literal_len(a.second) > literal_len(b.second);
    });
    for (const auto& [name, site] : abs) {
      d.alternatives.push_back({Alternative::Kind::kAbstraction, "include <" + name + ">",
                                "grants it with " + site.text + " (" + site.file + ":" +
                                    std::to_string(site.line) + ")"});
    }
  }

  void build_exec(Draft& d, const Group& g) {
    const collector::Event& e = g.sample;
    const std::string target = e.name.value_or("");
    d.file_path = target;
    d.action = "execute " + target;
    auto q = quote_literal_path(target);
    if (!q) {
      d.refused = q.error();
      return;
    }
    const std::string base = [&] {
      auto s = target.rfind('/');
      return s == std::string::npos ? target : target.substr(s + 1);
    }();
    const auto target_profile = policy_.profile_for_program(target);
    const bool child = policy_.has_profile(d.profile + "//" + target) ||
                       policy_.has_profile(d.profile + "//" + base);
    const auto used = policy_.exec_modes_used(d.profile);
    const bool trusted_daemon = std::ranges::any_of(used, [](const std::string& m) {
      return m == "PUx" || m == "Ux" || m == "pux" || m == "ux" || m == "CUx";
    });
    std::vector<std::pair<std::string, std::string>> modes;  // (mode, note), default first
    if (target_profile) {
      modes.push_back({"Px", "run it under its own profile " + *target_profile});
      d.exec_why = target + " has its own profile (" + *target_profile + "): Px";
    } else if (child) {
      modes.push_back({"Cx", "run it under the child profile of " + d.profile});
      d.exec_why = d.profile + " has a child profile for it: Cx";
    } else if (trusted_daemon) {
      modes.push_back({"PUx",
                       "its own profile if one appears, else unconfined like the other "
                       "helpers of " +
                           d.profile});
      d.exec_why = "helpers of " + d.profile + " get PUx";
    } else {
      modes.push_back({"ix", "inherit " + d.profile + "'s confinement"});
      d.exec_why = "no profile for it: ix keeps it confined by " + d.profile;
    }
    auto add = [&](std::string m, std::string note) {
      if (std::ranges::none_of(modes, [&](auto& x) { return x.first == m; }))
        modes.push_back({std::move(m), std::move(note)});
    };
    add("ix", "inherit " + d.profile + "'s confinement");
    if (child) add("Cx", "run it under the child profile");
    if (target_profile)
      add("PUx", "its profile, else unconfined");
    else
      add("PUx", "no profile for it today: runs unconfined until one exists");
    add("Ux", "leaves AppArmor entirely (critical)");
    d.exec_mode = modes.front().first;
    d.rule = *q + " " + d.exec_mode + ",";
    d.request = make_request("exec", d.rule, false);
    for (size_t i = 1; i < modes.size(); ++i) {
      d.alternatives.push_back(
          {Alternative::Kind::kExecMode, *q + " " + modes[i].first + ",", modes[i].second});
    }
  }

  void build(Draft& d, const Group& g) {
    const collector::Event& e = g.sample;
    const std::string& cls = d.rule_class;
    const std::string mask = logged_mask(e);
    if (cls == "exec") return build_exec(d, g);
    if (cls == "file") {  // link (name2): the target is part of the rule
      auto q = quote_literal_path(e.name.value_or(""));
      auto t = quote_literal_path(e.name2.value_or(""));
      d.action = "link " + e.name.value_or("") + " to " + e.name2.value_or("");
      if (!q || !t) {
        d.refused = !q ? q.error() : t.error();
        return;
      }
      d.rule = "link " + *q + " -> " + *t + ",";
      d.request = make_request("file", d.rule, false);
      return;
    }
    if (cls == "capability") {
      d.action = "use capability " + g.key.target;
      if (g.key.target.empty() ||
          g.key.target.find_first_not_of("abcdefghijklmnopqrstuvwxyz_") != std::string::npos) {
        d.refused = "the capability name \"" + g.key.target + "\" is not known";
        return;
      }
      d.rule = "capability " + g.key.target + ",";
    } else if (cls == "network") {
      const std::string family = e.net_family.value_or("");
      const std::string type = e.net_sock_type.value_or("");
      d.action = "use " + (family.empty() ? std::string("a") : family) + " " + type + " sockets";
      if (family.empty() || family.starts_with("unknown")) {
        d.refused = "the record names no known socket family";
        return;
      }
      // The main proposal is the coarse rule: Debian 12's apparmor_parser (3.0) and kernels
      // before 6.17 mediate by family and type only. The record's addresses and ports become
      // the fine-grained alternative (AppArmor 4 syntax).
      const std::string coarse =
          "network " + family + (type.empty() || type.starts_with("unknown") ? "" : " " + type);
      d.rule = coarse + ",";
      if (auto fine = fine_grained_network(e, mask, family, type)) {
        d.alternatives.push_back({Alternative::Kind::kFineGrained, *fine,
                                  "only this address and port; needs apparmor_parser 4.0 or "
                                  "later and a kernel with fine-grained inet mediation"});
      }
    } else if (cls == "unix") {
      const std::string access = sorted_access(mask);
      const std::string type = e.net_sock_type.value_or("");
      std::string peer = e.peer.value_or(e.peer_profile.value_or(""));
      d.action = "use a unix " + type + " socket (" + access + ")";
      std::string r = "unix (" + access + ")";
      if (!type.empty()) r += " type=" + type;
      std::string peer_part;
      if (!peer.empty()) peer_part = "label=" + peer_token(peer, d.profile, use_profile_name_);
      if (e.peer_addr && *e.peer_addr != "none") {
        auto a = quote_literal(*e.peer_addr, false);
        if (a) peer_part += std::string(peer_part.empty() ? "" : " ") + "addr=" + *a;
      }
      d.rule = r + (peer_part.empty() ? "" : " peer=(" + peer_part + ")") + ",";
      if (!peer.empty() && !is_unconfined(peer)) {
        d.reciprocal_class = "unix";
        for (const auto& comp : stack_components(peer)) {
          if (is_unconfined(comp)) continue;
          std::string rr = "unix (" +
                           map_words(
                               mask, +[](std::string_view w) { return unix_reciprocal(w); }) +
                           ")";
          if (!type.empty()) rr += " type=" + type;
          rr += " peer=(label=" + peer_token(d.profile, comp, use_profile_name_) + "),";
          d.reciprocal.push_back({comp, rr});
        }
      }
    } else if (cls == "signal") {
      const std::string access = sorted_access(mask);
      const std::string sig = e.signal.value_or("");
      const std::string peer = e.peer.value_or(e.peer_profile.value_or(""));
      d.action = (access == "receive" ? "receive signal " : "send signal ") + sig +
                 (access == "receive" ? " from " : " to ") + peer;
      std::string r = "signal (" + access + ")";
      if (!sig.empty()) r += " set=(" + sig + ")";
      if (!peer.empty()) r += " peer=" + peer_token(peer, d.profile, use_profile_name_);
      d.rule = r + ",";
      if (!is_unconfined(peer)) {
        for (const auto& comp : stack_components(peer)) {
          if (is_unconfined(comp)) continue;
          std::string rr = "signal (" +
                           map_words(
                               mask, +[](std::string_view w) { return signal_reciprocal(w); }) +
                           ")";
          if (!sig.empty()) rr += " set=(" + sig + ")";
          rr += " peer=" + peer_token(d.profile, comp, use_profile_name_) + ",";
          d.reciprocal.push_back({comp, rr});
        }
      }
    } else if (cls == "ptrace") {
      const std::string access = sorted_access(mask);
      const std::string peer = e.peer.value_or(e.peer_profile.value_or(""));
      d.action = "ptrace (" + access + ") " + peer;
      if (access.empty()) {
        // `ptrace,` or `ptrace peer=X,` would grant trace too: never guess a mask.
        d.refused = "the record names no ptrace access (read, trace, …)";
        return;
      }
      std::string r = "ptrace (" + access + ")";
      if (!peer.empty()) r += " peer=" + peer_token(peer, d.profile, use_profile_name_);
      d.rule = r + ",";
      if (!is_unconfined(peer)) {
        for (const auto& comp : stack_components(peer)) {
          if (is_unconfined(comp)) continue;
          d.reciprocal.push_back(
              {comp, "ptrace (" +
                         map_words(
                             mask, +[](std::string_view w) { return ptrace_reciprocal(w); }) +
                         ") peer=" + peer_token(d.profile, comp, use_profile_name_) + ","});
        }
      }
    } else if (cls == "dbus") {
      const std::string access = sorted_access(mask);
      const std::string bus = e.dbus_bus.value_or("");
      const std::string peer = e.peer_profile.value_or("");
      d.action =
          "dbus " + access + " " + e.dbus_interface.value_or("") + "." + e.dbus_member.value_or("");
      auto field = [](std::string_view k, const std::optional<std::string>& v) {
        return v && !v->empty() ? " " + std::string(k) + "=" + label_or_raw(*v) : std::string();
      };
      std::string common = " bus=" + (bus.empty() ? std::string("system") : bus);
      if (access == "bind") {
        d.rule = "dbus (bind)" + common + field("name", e.name) + ",";
      } else if (access == "eavesdrop") {
        d.rule = "dbus (eavesdrop)" + common + ",";
      } else {
        common += field("path", e.dbus_path) + field("interface", e.dbus_interface) +
                  field("member", e.dbus_member);
        auto peer_for = [&](std::string_view label, const std::optional<std::string>& name) {
          std::vector<std::string> parts;
          if (name && !name->empty() && name->front() != ':')
            parts.push_back("name=" + label_or_raw(*name));
          if (!label.empty()) parts.push_back("label=" + std::string(label));
          return parts.empty() ? std::string() : " peer=(" + join(parts, ", ") + ")";
        };
        d.rule =
            "dbus (" + access + ")" + common +
            peer_for(peer.empty() ? "" : peer_token(peer, d.profile, use_profile_name_), e.name) +
            ",";
        if (!is_unconfined(peer)) {
          for (const auto& comp : stack_components(peer)) {
            if (is_unconfined(comp)) continue;
            const std::string ra = map_words(
                mask, +[](std::string_view w) { return signal_reciprocal(w); });
            d.reciprocal.push_back({comp, "dbus (" + ra + ")" + common + " peer=(label=" +
                                              peer_token(d.profile, comp, use_profile_name_) +
                                              "),"});
          }
        }
      }
    } else if (cls == "mount") {
      build_mount(d, e);
    } else if (cls == "change_profile") {
      const std::string target = e.name2.value_or(e.name.value_or(""));
      d.action = e.operation.value_or("change_profile") + " to " + target;
      if (e.operation == "change_hat") {
        d.refused = "change_hat needs the hat ^" + target + " in " + d.profile +
                    "; add the hat block instead of a rule";
        return;
      }
      if (target.empty()) {
        d.refused = "the record names no target profile";
        return;
      }
      d.rule = "change_profile -> " + label_or_raw(target) + ",";
    } else if (cls == "userns") {
      d.action = "create a user namespace";
      d.rule = "userns,";
    } else if (cls == "io_uring") {
      const std::string access = sorted_access(mask);
      d.action = "use io_uring (" + access + ")";
      const auto label = extra(e, "tcontext");
      d.rule = "io_uring (" + access + ")" + (label ? " label=" + label_or_raw(*label) : "") + ",";
    } else if (cls == "mqueue") {
      const std::string access = sorted_access(mask);
      const bool sysv = e.rule_class == "sysv_mqueue";
      d.action = "use message queue " + e.name.value_or("");
      std::string r = "mqueue (" + access + ") type=" + (sysv ? "sysv" : "posix");
      if (e.name && !e.name->empty()) r += " " + label_or_raw(*e.name);
      d.rule = r + ",";
    } else if (cls == "rlimits") {
      const auto rl = extra(e, "rlimit");
      const auto value = extra(e, "value");
      d.action = "set rlimit " + rl.value_or("?");
      if (!rl || !value) {
        d.refused = "the record names no rlimit and value";
        return;
      }
      d.rule = "set rlimit " + *rl + " <= " + *value + ",";
    } else {
      d.action = e.operation.value_or(cls);
      d.refused = "no rule class for \"" + cls + "\" records";
      return;
    }
    if (cls == "userns" || cls == "io_uring" || cls == "mqueue") {
      // Debian 12's apparmor_parser (3.0) has no such rule; it came with AppArmor 4.0.
      d.notes.push_back(cls + " rules need apparmor_parser 4.0 or later");
    }
    if (d.request.text.empty()) d.request = make_request(cls, d.rule, false);
  }

  void build_mount(Draft& d, const collector::Event& e) {
    const std::string op = e.operation.value_or("mount");
    const std::string name = e.name.value_or("");
    auto mp = quote_literal_path(name);
    if (!mp) {
      d.action = op + " " + name;
      d.refused = mp.error();
      return;
    }
    if (op == "umount") {
      d.action = "unmount " + name;
      d.rule = "umount " + *mp + ",";
      return;
    }
    if (op == "pivotroot") {
      d.action = "pivot_root to " + name;
      auto old = quote_literal_path(e.src_name.value_or(""));
      d.rule = "pivot_root" + (old ? " oldroot=" + *old : std::string()) + " " + *mp + ",";
      return;
    }
    d.action = "mount " + e.src_name.value_or("") + " on " + name;
    std::string r = "mount";
    if (e.fs_type && !e.fs_type->empty()) r += " fstype=" + label_or_raw(*e.fs_type);
    if (e.flags && !e.flags->empty()) r += " options=(" + join(words(*e.flags), ",") + ")";
    const bool remount = e.flags && e.flags->find("remount") != std::string::npos;
    if (!remount && e.src_name && !e.src_name->empty()) {
      auto src = e.src_name->front() == '/' ? quote_literal_path(*e.src_name)
                                            : quote_literal(*e.src_name, false);
      if (src) r += " " + *src;
    }
    d.rule = r + " -> " + *mp + ",";
  }

  // Explanation, severity, targets: what the tree says about one draft.
  Proposal finish(Draft& d, bool peer_side) {
    Proposal p;
    p.profile = d.profile;
    p.rule_class = d.rule_class;
    p.groups = d.groups;
    p.rule = d.rule;
    p.rule_value = d.rule_value;
    p.refused = d.refused;
    p.alternatives = d.alternatives;
    p.peer_side = peer_side;
    p.profile_in_tree = policy_.has_profile(d.profile);
    for (size_t gi : d.groups) {
      const Group& g = grouped_.groups[gi];
      p.unverified = p.unverified || g.unverified;
      p.complain = p.complain || g.allowed > 0;
    }
    p.why = explain(d, p);
    if (p.why.code == WhyCode::kDisconnectedPath) {
      p.alternatives.push_back({Alternative::Kind::kFlag, "flags=(attach_disconnected)",
                                "on the header of " + d.profile});
    }
    if (!d.groups.empty()) {
      p.severity = assess_severity(grouped_.groups[d.groups.front()].key, d.perms, d.exec_mode);
    }
    if (p.rule_value) p.guardrail = guardrail_for_rule(*p.rule_value);
    if (p.rule_value && !p.guardrail.needs_force) p.guardrail = site_guardrail(*p.rule_value);
    const auto files = policy_.target_files(d.profile);
    for (size_t i = 0; i < files.size(); ++i) p.targets.push_back({files[i], i == 0});
    // libvirt guests: the UUID in the profile name becomes the VM's name for people.
    if (d.profile.starts_with("libvirt-")) {
      const std::string uuid =
          d.profile.substr(8, d.profile.find("//") == std::string::npos ? std::string::npos
                                                                        : d.profile.find("//") - 8);
      auto it = options_.vm_names.find(uuid);
      if (it != options_.vm_names.end()) p.vm_name = it->second;
    }
    return p;
  }

  std::string subject(const Draft& d) const {
    const std::string vm = [&] {
      if (!d.profile.starts_with("libvirt-")) return std::string();
      auto it = options_.vm_names.find(d.profile.substr(8));
      return it == options_.vm_names.end() ? std::string() : " (VM " + it->second + ")";
    }();
    return d.profile + vm;
  }

  Explanation explain(const Draft& d, const Proposal& p) {
    Explanation x;
    const Group* g = d.groups.empty() ? nullptr : &grouped_.groups[d.groups.front()];
    const std::string who = subject(d);
    const std::string denied = who + " may not " + d.action;
    if (g && g->unverified) {
      x.notes.push_back("evidence is unverified: " + g->unverified_reason);
    }
    x.notes.insert(x.notes.end(), d.notes.begin(), d.notes.end());
    if (!d.learning_label.empty()) {
      const std::string exe = d.learning_label.substr(d.learning_label.find("//null-") + 7);
      x.notes.push_back("logged under the learning child " + d.learning_label +
                        " (complain mode ran " + exe + " without a profile of its own); the rule " +
                        "belongs to " + d.profile + ", or give " + exe +
                        " its own profile and a Px rule");
    }
    if (!p.profile_in_tree) {
      const size_t sep = d.profile.rfind("//");
      if (sep != std::string::npos && policy_.has_profile(d.profile.substr(0, sep))) {
        x.code = WhyCode::kMissingChild;
        x.text = denied + ": the child profile or hat " + d.profile.substr(sep + 2) +
                 " is not in " + d.profile.substr(0, sep) + " in the tree";
      } else {
        x.code = WhyCode::kProfileNotInTree;
        x.text = denied + ": profile not found in the tree (treated as an empty profile)";
      }
      return x;
    }
    const std::string info = g ? g->sample.info.value_or("") : "";
    if (info.find("disconnected path") != std::string::npos) {
      x.code = WhyCode::kDisconnectedPath;
      x.text = denied +
               ": the path was disconnected from the namespace root; "
               "flags=(attach_disconnected) on " +
               d.profile + " names it from its own root";
      return x;
    }
    if (d.rule_class == "exec" && info.find("profile transition not found") != std::string::npos) {
      x.code = WhyCode::kNoTransitionProfile;
      x.text = denied + ": the exec rule asks for a profile that is not loaded; " + d.exec_why;
      return x;
    }
    CoverageAnswer cov;
    if (!d.request.text.empty()) cov = policy_.coverage(d.profile, d.request);
    const bool complain = (g && g->complain_only()) || policy_.in_complain_mode(d.profile);
    if (complain)
      x.notes.push_back(d.profile + " is in complain mode: this was allowed and logged");
    switch (cov.kind) {
      case CoverageAnswer::Kind::kDenied:
        x.code = WhyCode::kExplicitDeny;
        x.site = cov.site;
        x.text = denied + ": an explicit deny rule covers it" +
                 (cov.site ? " at " + cov.site->file + ":" + std::to_string(cov.site->line) : "") +
                 "; deny wins over any allow rule";
        return x;
      case CoverageAnswer::Kind::kAllowed:
        x.code = WhyCode::kAlreadyAllowed;
        x.site = cov.site;
        x.text =
            denied + ": a rule on disk already allows it" +
            (cov.site ? " (" + cov.site->file + ":" + std::to_string(cov.site->line) + ")" : "") +
            ", so the loaded policy is older than the file: reload " + d.profile;
        return x;
      case CoverageAnswer::Kind::kOwnerOnly:
        x.code = WhyCode::kOwnerMismatch;
        x.site = cov.site;
        x.text =
            denied + ": only an owner rule covers it" +
            (cov.site ? " (" + cov.site->file + ":" + std::to_string(cov.site->line) + ")" : "") +
            " and the file is not owned by the process's fsuid";
        return x;
      case CoverageAnswer::Kind::kNone:
        break;
    }
    if (complain) {
      x.code = WhyCode::kComplainMode;
      x.text = who + " would not be allowed to " + d.action +
               ": no rule covers it (complain mode allowed it and logged it)";
    } else {
      x.code = WhyCode::kNoRule;
      x.text = denied + ": no " + (d.rule_class == "exec" ? std::string("exec") : d.rule_class) +
               " rule covers it";
    }
    if (!d.exec_why.empty()) x.text += "; " + d.exec_why;
    return x;
  }

  const Grouped& grouped_;
  const PolicyView& policy_;
  const AnalyzeOptions& options_;
  VariableIndex vars_;
  bool use_profile_name_;
};

}  // namespace

std::string_view to_string(WhyCode code) {
  switch (code) {
    case WhyCode::kNoRule:
      return "no-rule";
    case WhyCode::kExplicitDeny:
      return "explicit-deny";
    case WhyCode::kAlreadyAllowed:
      return "already-allowed";
    case WhyCode::kOwnerMismatch:
      return "owner-mismatch";
    case WhyCode::kDisconnectedPath:
      return "disconnected-path";
    case WhyCode::kNoTransitionProfile:
      return "no-transition-profile";
    case WhyCode::kComplainMode:
      return "complain-mode";
    case WhyCode::kMissingChild:
      return "missing-child";
    case WhyCode::kProfileNotInTree:
      return "profile-not-in-tree";
  }
  return "no-rule";
}

std::string_view to_string(Alternative::Kind kind) {
  switch (kind) {
    case Alternative::Kind::kGlob:
      return "glob";
    case Alternative::Kind::kRecursive:
      return "recursive";
    case Alternative::Kind::kExtension:
      return "extension";
    case Alternative::Kind::kVariable:
      return "variable";
    case Alternative::Kind::kAbstraction:
      return "abstraction";
    case Alternative::Kind::kOwner:
      return "owner";
    case Alternative::Kind::kExecMode:
      return "exec-mode";
    case Alternative::Kind::kFlag:
      return "flag";
    case Alternative::Kind::kFineGrained:
      return "fine-grained";
    case Alternative::Kind::kVolatile:
      return "volatile";
  }
  return "glob";
}

std::expected<std::string, std::string> quote_literal_path(std::string_view path) {
  return quote_literal(path, true);
}

Analysis analyze(std::span<const LoggedEvent> events, const PolicyView& policy,
                 const AnalyzeOptions& options) {
  Analysis a;
  a.grouped = group_events(events, options.trust);
  a.proposals = Engine(a.grouped, policy, options).run();
  return a;
}

}  // namespace aatune::analyzer
