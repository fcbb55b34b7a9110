#include "rules/rule.h"

#include <arpa/inet.h>

#include <algorithm>
#include <array>
#include <cctype>
#include <optional>
#include <utility>

namespace aatune::rules {
namespace {

// Exec modes, longest first so "pix" is not read as "p" + "ix".
constexpr std::array<std::string_view, 16> kExecModes = {"pix", "Pix", "cix", "Cix", "pux", "PUx",
                                                         "cux", "CUx", "ix",  "px",  "Px",  "cx",
                                                         "Cx",  "ux",  "Ux",  "x"};
constexpr std::string_view kFilePermOrder = "mrwalk";  // python3-apparmor's write order

bool is_space(char c) {
  return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v';
}

bool has_control(std::string_view s) {
  return std::any_of(s.begin(), s.end(),
                     [](char c) { return static_cast<unsigned char>(c) < 0x20 || c == 0x7f; });
}

bool valid_ip(const std::string& ip) {
  if (ip == "none") return true;
  unsigned char buf[sizeof(struct in6_addr)];
  return inet_pton(AF_INET, ip.c_str(), buf) == 1 || inet_pton(AF_INET6, ip.c_str(), buf) == 1;
}

// Characters the profile lexer never lets into an unquoted token (parser_lex.l ID_CHARS), plus
// '#' (a comment after a blank), '(' and ')' (lists and peer=(…)) and '=' (conditionals).
bool breaks_token(char c) {
  return is_space(c) || c == '"' || c == '!' || c == '#' || c == '(' || c == ')' || c == '=';
}

// Quote when the value would otherwise split into several tokens or start a comment. A ',' may
// stay bare only between two token characters (`{a,b}`); at the end or before a blank it would
// end the rule.
bool needs_quotes(std::string_view v) {
  if (v.empty()) return true;
  for (size_t i = 0; i < v.size(); ++i) {
    if (breaks_token(v[i])) return true;
    if (v[i] == ',' && (i + 1 == v.size() || breaks_token(v[i + 1]) || v[i + 1] == ',')) {
      return true;
    }
  }
  return false;
}

std::string quote_if_needed(std::string_view v) {
  if (!needs_quotes(v)) return std::string(v);
  std::string out = "\"";
  for (const char c : v) {
    if (c == '"') out += '\\';
    out += c;
  }
  out += '"';
  return out;
}

std::string join(const std::vector<std::string>& items, std::string_view sep) {
  std::string out;
  for (size_t i = 0; i < items.size(); ++i) {
    if (i > 0) out += sep;
    out += items[i];
  }
  return out;
}

// ` word` for one member, ` (a b)` sorted for several, "" for none: python3-apparmor's form.
std::string set_part(std::string_view prefix, std::vector<std::string> items) {
  if (items.empty()) return "";
  std::sort(items.begin(), items.end());
  items.erase(std::unique(items.begin(), items.end()), items.end());
  if (items.size() == 1) return " " + std::string(prefix) + items.front();
  return " " + std::string(prefix) + "(" + join(items, " ") + ")";
}

std::string kv_part(std::string_view key, std::string_view value) {
  if (value.empty()) return "";
  return " " + std::string(key) + "=" + quote_if_needed(value);
}

// Inside `peer=(…)` every bare ',' separates conditions, so a value with any ',' is quoted.
std::string list_kv_part(std::string_view key, std::string_view value) {
  if (value.empty()) return "";
  if (value.find(',') == std::string_view::npos || needs_quotes(value)) return kv_part(key, value);
  std::string out = " " + std::string(key) + "=\"";
  for (const char c : value) {
    if (c == '"') out += '\\';
    out += c;
  }
  return out + '"';
}

std::string file_perms(const FileRule& f) {
  std::string out;
  for (const char p : kFilePermOrder) {
    if (f.perms.find(p) != std::string::npos) out += p;
  }
  return out + f.exec_mode;
}

std::string render_body(const Rule& rule) {
  const auto& body = rule.body;
  const std::string owner = rule.owner ? "owner " : "";
  if (const auto* f = std::get_if<FileRule>(&body)) {
    const std::string path = quote_if_needed(f->path);
    std::string out =
        owner + (f->leading_perms ? file_perms(*f) + " " + path : path + " " + file_perms(*f));
    if (!f->exec_target.empty()) out += " -> " + quote_if_needed(f->exec_target);
    return out;
  }
  if (const auto* l = std::get_if<LinkRule>(&body)) {
    return owner + "link" + (l->subset ? " subset" : "") + " " + quote_if_needed(l->path) + " -> " +
           quote_if_needed(l->target);
  }
  if (const auto* c = std::get_if<CapabilityRule>(&body)) {
    auto caps = c->caps;
    std::sort(caps.begin(), caps.end());
    caps.erase(std::unique(caps.begin(), caps.end()), caps.end());
    return caps.empty() ? "capability" : "capability " + join(caps, " ");
  }
  if (const auto* n = std::get_if<NetworkRule>(&body)) {
    // python3-apparmor (4.x) writes the access list in parentheses even with one member.
    std::string out = "network";
    if (!n->access.empty()) {
      auto access = n->access;
      std::sort(access.begin(), access.end());
      access.erase(std::unique(access.begin(), access.end()), access.end());
      out += " (" + join(access, ", ") + ")";
    }
    if (!n->family.empty()) out += " " + n->family;
    if (!n->type_or_protocol.empty()) out += " " + n->type_or_protocol;
    out += kv_part("ip", n->local_ip) + kv_part("port", n->local_port);
    const std::string peer = list_kv_part("ip", n->peer_ip) + list_kv_part("port", n->peer_port);
    if (!peer.empty()) out += " peer=(" + peer.substr(1) + ")";
    return out;
  }
  if (const auto* s = std::get_if<SignalRule>(&body)) {
    return "signal" + set_part("", s->access) + set_part("set=", s->signals) +
           kv_part("peer", s->peer);
  }
  if (const auto* p = std::get_if<PtraceRule>(&body)) {
    return "ptrace" + set_part("", p->access) + kv_part("peer", p->peer);
  }
  if (const auto* u = std::get_if<UnixRule>(&body)) {
    std::string out = "unix" + set_part("", u->access) + kv_part("type", u->type) +
                      kv_part("protocol", u->protocol) + kv_part("addr", u->addr) +
                      kv_part("label", u->label);
    std::string peer = list_kv_part("label", u->peer_label) + list_kv_part("addr", u->peer_addr);
    if (!peer.empty()) out += " peer=(" + peer.substr(1) + ")";
    return out;
  }
  if (const auto* d = std::get_if<DbusRule>(&body)) {
    std::string out = "dbus" + set_part("", d->access) + kv_part("bus", d->bus) +
                      kv_part("path", d->path) + kv_part("name", d->name) +
                      kv_part("interface", d->interface) + kv_part("member", d->member);
    std::string peer = list_kv_part("name", d->peer_name) + list_kv_part("label", d->peer_label);
    if (!peer.empty()) out += " peer=(" + peer.substr(1) + ")";
    return out;
  }
  if (const auto* m = std::get_if<MountRule>(&body)) {
    auto list = [](std::string_view key, const std::vector<std::string>& v) -> std::string {
      if (v.empty()) return "";
      if (v.size() == 1) return " " + std::string(key) + "=" + v.front();
      return " " + std::string(key) + "=(" + join(v, ",") + ")";
    };
    switch (m->kind) {
      case MountRule::Kind::kMount: {
        std::string out = "mount" + list("fstype", m->fstypes) + list("options", m->options);
        if (!m->source.empty()) out += " " + quote_if_needed(m->source);
        if (!m->target.empty()) out += " -> " + quote_if_needed(m->target);
        return out;
      }
      case MountRule::Kind::kRemount: {
        std::string out = "remount" + list("options", m->options);
        if (!m->target.empty()) out += " " + quote_if_needed(m->target);
        return out;
      }
      case MountRule::Kind::kUmount:
        return "umount" + (m->target.empty() ? "" : " " + quote_if_needed(m->target));
      case MountRule::Kind::kPivotRoot: {
        std::string out = "pivot_root" + kv_part("oldroot", m->source);
        if (!m->target.empty()) out += " " + quote_if_needed(m->target);
        if (!m->target_profile.empty()) out += " -> " + quote_if_needed(m->target_profile);
        return out;
      }
    }
  }
  if (const auto* c = std::get_if<ChangeProfileRule>(&body)) {
    std::string out = "change_profile";
    if (!c->exec_mode.empty()) out += " " + c->exec_mode;
    if (!c->exec_cond.empty()) out += " " + quote_if_needed(c->exec_cond);
    if (!c->target.empty()) out += " -> " + quote_if_needed(c->target);
    return out;
  }
  if (const auto* u = std::get_if<UsernsRule>(&body)) {
    return u->create ? "userns create" : "userns";
  }
  if (const auto* io = std::get_if<IoUringRule>(&body)) {
    return "io_uring" + set_part("", io->access) + kv_part("label", io->label);
  }
  if (const auto* mq = std::get_if<MqueueRule>(&body)) {
    std::string out = "mqueue" + set_part("", mq->access) + kv_part("type", mq->type) +
                      kv_part("label", mq->label);
    if (!mq->name.empty()) out += " " + quote_if_needed(mq->name);
    return out;
  }
  return std::get<UnknownRule>(body).text;
}

// ---- parsing ----

struct Token {
  std::string text;  // raw text, quotes and parentheses kept
};

// Splits a statement into tokens: whitespace separates, but not inside quotes or parentheses, so
// `peer=(name=a, label=b)` and `"/a b"` stay whole.
std::expected<std::vector<Token>, std::string> tokenize(std::string_view s) {
  std::vector<Token> out;
  size_t i = 0;
  while (i < s.size()) {
    while (i < s.size() && is_space(s[i])) ++i;
    if (i >= s.size()) break;
    std::string tok;
    int depth = 0;
    while (i < s.size() && (depth > 0 || !is_space(s[i]))) {
      const char c = s[i];
      if (c == '"') {
        tok += c;
        ++i;
        bool closed = false;
        while (i < s.size()) {
          if (s[i] == '\\' && i + 1 < s.size()) {
            tok += s[i];
            tok += s[i + 1];
            i += 2;
            continue;
          }
          tok += s[i];
          if (s[i++] == '"') {
            closed = true;
            break;
          }
        }
        if (!closed) return std::unexpected("unterminated quote");
        continue;
      }
      if (c == '(') ++depth;
      if (c == ')') {
        if (depth == 0) return std::unexpected("unbalanced ')'");
        --depth;
      }
      tok += c;
      ++i;
    }
    if (depth > 0) return std::unexpected("unclosed '('");
    out.push_back({std::move(tok)});
  }
  return out;
}

// The inverse of quote_if_needed(): strips the quotes and turns `\"` back into `"`. Every other
// escape stays as written, because it belongs to the AARE (the parser keeps them for the backend).
std::string unquote(std::string_view v) {
  if (v.size() < 2 || v.front() != '"' || v.back() != '"') return std::string(v);
  std::string out;
  for (size_t i = 1; i + 1 < v.size(); ++i) {
    if (v[i] == '\\' && i + 2 < v.size()) {
      if (v[i + 1] != '"') out += v[i];
      out += v[++i];
      continue;
    }
    out += v[i];
  }
  return out;
}

// "(a b)" / "(a, b)" / "a" / "a,b" → members.
std::vector<std::string> split_set(std::string_view v) {
  if (v.size() >= 2 && v.front() == '(' && v.back() == ')') v = v.substr(1, v.size() - 2);
  std::vector<std::string> out;
  std::string cur;
  for (const char c : v) {
    if (is_space(c) || c == ',') {
      if (!cur.empty()) out.push_back(unquote(cur));
      cur.clear();
    } else {
      cur += c;
    }
  }
  if (!cur.empty()) out.push_back(unquote(cur));
  return out;
}

// key=value tokens; value unquoted. `peer=(…)` is split into its own key=value pairs.
std::optional<std::pair<std::string, std::string>> split_kv(std::string_view tok) {
  const size_t eq = tok.find('=');
  if (eq == std::string_view::npos || eq == 0 || tok.front() == '"' || tok.front() == '/') {
    return std::nullopt;
  }
  return std::pair{std::string(tok.substr(0, eq)), std::string(tok.substr(eq + 1))};
}

std::expected<std::vector<std::pair<std::string, std::string>>, std::string> split_peer(
    std::string_view v) {
  if (v.size() >= 2 && v.front() == '(' && v.back() == ')') v = v.substr(1, v.size() - 2);
  // The parser separates conditions by blanks or commas (`label=a,addr=b`): a comma outside
  // quotes is a separator, never part of a value.
  std::string spaced;
  bool quoted = false;
  for (size_t i = 0; i < v.size(); ++i) {
    const char c = v[i];
    if (quoted && c == '\\' && i + 1 < v.size()) {
      spaced += c;
      spaced += v[++i];
      continue;
    }
    if (c == '"') quoted = !quoted;
    spaced += (c == ',' && !quoted) ? ' ' : c;
  }
  auto toks = tokenize(spaced);
  if (!toks) return std::unexpected(toks.error());
  std::vector<std::pair<std::string, std::string>> out;
  for (auto& t : *toks) {
    std::string_view text = t.text;
    while (!text.empty() && text.back() == ',') text.remove_suffix(1);
    if (text.empty()) continue;
    auto kv = split_kv(text);
    if (!kv)
      return std::unexpected("expected key=value inside peer=(…), got '" + std::string(text) + "'");
    kv->second = unquote(kv->second);
    out.push_back(std::move(*kv));
  }
  return out;
}

bool is_access_token(std::string_view t, std::initializer_list<std::string_view> words) {
  if (!t.empty() && t.front() == '(') return true;
  return std::find(words.begin(), words.end(), t) != words.end();
}

Rule unknown(Rule r, std::string_view text, std::string reason) {
  r.body = UnknownRule{std::string(text), std::move(reason)};
  return r;
}

// Splits a permission string into plain letters and an exec mode. nullopt: not permissions.
std::optional<std::pair<std::string, std::string>> split_perms(std::string_view s) {
  std::string perms;
  std::string exec;
  size_t i = 0;
  while (i < s.size()) {
    bool took = false;
    for (const auto mode : kExecModes) {
      if (s.substr(i).starts_with(mode)) {
        if (!exec.empty()) return std::nullopt;
        exec = std::string(mode);
        i += mode.size();
        took = true;
        break;
      }
    }
    if (took) continue;
    if (kFilePermOrder.find(s[i]) == std::string_view::npos) return std::nullopt;
    perms += s[i++];
  }
  if (perms.empty() && exec.empty()) return std::nullopt;
  return std::pair{perms, exec};
}

bool looks_like_path(std::string_view t) {
  return t.starts_with("/") || t.starts_with("@{") || t.starts_with("\"/") || t.starts_with("\"@{");
}

std::expected<Rule, std::string> parse_file(Rule r, const std::vector<Token>& t, size_t i,
                                            std::string_view text) {
  // Forms: PATH PERMS [-> TARGET]  |  PERMS PATH [-> TARGET].
  if (i + 1 >= t.size()) return std::unexpected("file rule needs a path and permissions");
  FileRule f;
  std::optional<std::pair<std::string, std::string>> perms;
  if (looks_like_path(t[i].text)) {
    f.path = unquote(t[i].text);
    perms = split_perms(t[i + 1].text);
    if (!perms) return std::unexpected("unknown file permissions '" + t[i + 1].text + "'");
  } else {
    perms = split_perms(t[i].text);
    if (!perms || !looks_like_path(t[i + 1].text)) {
      return unknown(std::move(r), text, "unknown rule");
    }
    f.path = unquote(t[i + 1].text);
    f.leading_perms = true;
  }
  f.perms = perms->first;
  f.exec_mode = perms->second;
  i += 2;
  if (i < t.size()) {
    if (t[i].text != "->" || i + 2 != t.size()) {
      return std::unexpected("unexpected '" + t[i].text + "' after file permissions");
    }
    f.exec_target = unquote(t[i + 1].text);
  }
  r.body = std::move(f);
  return r;
}

std::expected<Rule, std::string> parse_body(Rule r, const std::vector<Token>& t, size_t i,
                                            std::string_view text) {
  const std::string& kw = t[i].text;
  const auto rest_kv = [&](size_t from, auto&& on_kv,
                           auto&& on_plain) -> std::expected<void, std::string> {
    for (size_t k = from; k < t.size(); ++k) {
      if (auto kv = split_kv(t[k].text)) {
        if (auto ok = on_kv(kv->first, kv->second); !ok) return ok;
      } else if (auto ok = on_plain(k); !ok) {
        return ok;
      }
    }
    return {};
  };
  const auto bad = [&](size_t k) -> std::expected<void, std::string> {
    return std::unexpected("unexpected '" + t[k].text + "' in " + kw + " rule");
  };
  const auto bad_key = [&](const std::string& key) -> std::expected<void, std::string> {
    return std::unexpected("unknown " + kw + " condition '" + key + "='");
  };

  if (kw == "capability") {
    CapabilityRule c;
    for (size_t k = i + 1; k < t.size(); ++k) {
      if (!std::all_of(t[k].text.begin(), t[k].text.end(), [](char ch) {
            return std::islower(static_cast<unsigned char>(ch)) || ch == '_' ||
                   std::isdigit(static_cast<unsigned char>(ch));
          })) {
        return std::unexpected("invalid capability name '" + t[k].text + "'");
      }
      c.caps.push_back(t[k].text);
    }
    r.body = std::move(c);
    return r;
  }
  if (kw == "network") {
    NetworkRule n;
    size_t k = i + 1;
    if (k < t.size() &&
        is_access_token(t[k].text, {"create", "bind", "listen", "accept", "connect", "shutdown",
                                    "getattr", "setattr", "getopt", "setopt", "send", "receive",
                                    "r", "w", "rw", "read", "write"})) {
      n.access = split_set(t[k++].text);
    }
    static constexpr std::array<std::string_view, 9> kTypesOrProtocols = {
        "stream", "dgram", "seqpacket", "rdm", "raw", "packet", "tcp", "udp", "icmp"};
    std::vector<std::string> plain;
    for (; k < t.size(); ++k) {
      auto kv = split_kv(t[k].text);
      if (!kv) {
        if (plain.size() == 2) {
          return unknown(std::move(r), text, "network rule with more than two items");
        }
        plain.push_back(t[k].text);
        continue;
      }
      if (kv->first == "ip") {
        n.local_ip = unquote(kv->second);
      } else if (kv->first == "port") {
        n.local_port = unquote(kv->second);
      } else if (kv->first == "peer") {
        auto kvs = split_peer(kv->second);
        if (!kvs) return std::unexpected(kvs.error());
        for (auto& [pk, pv] : *kvs) {
          if (pk == "ip") {
            n.peer_ip = pv;
          } else if (pk == "port") {
            n.peer_port = pv;
          } else {
            return unknown(std::move(r), text, "unknown network peer condition '" + pk + "='");
          }
        }
      } else {
        // interface=, label= and whatever comes next: kept verbatim, never guessed.
        return unknown(std::move(r), text, "unknown network condition '" + kv->first + "='");
      }
    }
    for (const auto* port : {&n.local_port, &n.peer_port}) {
      if (!port->empty() &&
          (port->size() > 5 ||
           !std::all_of(port->begin(), port->end(),
                        [](char c) { return std::isdigit(static_cast<unsigned char>(c)); }) ||
           std::stoul(*port) > 65535)) {
        return std::unexpected("invalid network port '" + *port + "'");
      }
    }
    if (plain.size() == 1) {
      const bool is_type = std::find(kTypesOrProtocols.begin(), kTypesOrProtocols.end(),
                                     plain[0]) != kTypesOrProtocols.end();
      (is_type ? n.type_or_protocol : n.family) = plain[0];
    } else if (plain.size() == 2) {
      n.family = plain[0];
      n.type_or_protocol = plain[1];
    }
    r.body = std::move(n);
    return r;
  }
  if (kw == "signal") {
    SignalRule s;
    size_t k = i + 1;
    if (k < t.size() &&
        is_access_token(t[k].text, {"send", "receive", "r", "w", "rw", "read", "write"})) {
      s.access = split_set(t[k++].text);
    }
    auto ok = rest_kv(
        k,
        [&](const std::string& key, const std::string& v) -> std::expected<void, std::string> {
          if (key == "set") {
            auto more = split_set(v);
            s.signals.insert(s.signals.end(), more.begin(), more.end());
          } else if (key == "peer") {
            s.peer = unquote(v);
          } else {
            return bad_key(key);
          }
          return {};
        },
        bad);
    if (!ok) return std::unexpected(ok.error());
    r.body = std::move(s);
    return r;
  }
  if (kw == "ptrace") {
    PtraceRule p;
    size_t k = i + 1;
    if (k < t.size() &&
        is_access_token(t[k].text, {"read", "trace", "readby", "tracedby", "r", "w", "rw"})) {
      p.access = split_set(t[k++].text);
    }
    auto ok = rest_kv(
        k,
        [&](const std::string& key, const std::string& v) -> std::expected<void, std::string> {
          if (key != "peer") return bad_key(key);
          p.peer = unquote(v);
          return {};
        },
        bad);
    if (!ok) return std::unexpected(ok.error());
    r.body = std::move(p);
    return r;
  }
  if (kw == "unix") {
    UnixRule u;
    size_t k = i + 1;
    if (k < t.size() &&
        is_access_token(t[k].text, {"create", "bind", "listen", "accept", "connect", "shutdown",
                                    "getattr", "setattr", "getopt", "setopt", "send", "receive",
                                    "r", "w", "rw", "read", "write"})) {
      u.access = split_set(t[k++].text);
    }
    std::expected<void, std::string> ok = rest_kv(
        k,
        [&](const std::string& key, const std::string& v) -> std::expected<void, std::string> {
          if (key == "type") {
            u.type = unquote(v);
          } else if (key == "protocol") {
            u.protocol = unquote(v);
          } else if (key == "addr") {
            u.addr = unquote(v);
          } else if (key == "label") {
            u.label = unquote(v);
          } else if (key == "peer") {
            auto kvs = split_peer(v);
            if (!kvs) return std::unexpected(kvs.error());
            for (auto& [pk, pv] : *kvs) {
              if (pk == "label") {
                u.peer_label = pv;
              } else if (pk == "addr") {
                u.peer_addr = pv;
              } else {
                return std::unexpected("unknown unix peer condition '" + pk + "='");
              }
            }
          } else {
            return bad_key(key);
          }
          return {};
        },
        bad);
    if (!ok) {
      // attr=/opt= and newer conditions: keep the rule, do not guess.
      return unknown(std::move(r), text, ok.error());
    }
    r.body = std::move(u);
    return r;
  }
  if (kw == "dbus") {
    DbusRule d;
    size_t k = i + 1;
    if (k < t.size() && is_access_token(t[k].text, {"send", "receive", "bind", "eavesdrop", "r",
                                                    "w", "rw", "read", "write"})) {
      d.access = split_set(t[k++].text);
    }
    auto ok = rest_kv(
        k,
        [&](const std::string& key, const std::string& v) -> std::expected<void, std::string> {
          const std::string val = unquote(v);
          if (key == "bus") {
            d.bus = val;
          } else if (key == "path") {
            d.path = val;
          } else if (key == "name") {
            d.name = val;
          } else if (key == "interface") {
            d.interface = val;
          } else if (key == "member") {
            d.member = val;
          } else if (key == "peer") {
            auto kvs = split_peer(v);
            if (!kvs) return std::unexpected(kvs.error());
            for (auto& [pk, pv] : *kvs) {
              if (pk == "name") {
                d.peer_name = pv;
              } else if (pk == "label") {
                d.peer_label = pv;
              } else {
                return std::unexpected("unknown dbus peer condition '" + pk + "='");
              }
            }
          } else {
            return bad_key(key);
          }
          return {};
        },
        bad);
    if (!ok) return std::unexpected(ok.error());
    r.body = std::move(d);
    return r;
  }
  if (kw == "mount" || kw == "remount" || kw == "umount" || kw == "unmount" || kw == "pivot_root") {
    MountRule m;
    m.kind = kw == "mount"        ? MountRule::Kind::kMount
             : kw == "remount"    ? MountRule::Kind::kRemount
             : kw == "pivot_root" ? MountRule::Kind::kPivotRoot
                                  : MountRule::Kind::kUmount;
    std::vector<std::string> plain;
    bool arrow = false;
    std::string after_arrow;
    for (size_t k = i + 1; k < t.size(); ++k) {
      const std::string& tok = t[k].text;
      if (tok == "->") {
        if (k + 2 != t.size())
          return std::unexpected("'->' must be followed by one target in " + kw + " rule");
        arrow = true;
        after_arrow = unquote(t[k + 1].text);
        break;
      }
      auto kv = split_kv(tok);
      if (kv && (kv->first == "fstype" || kv->first == "vfstype")) {
        auto v = split_set(kv->second);
        m.fstypes.insert(m.fstypes.end(), v.begin(), v.end());
      } else if (kv && (kv->first == "options" || kv->first == "option")) {
        auto v = split_set(kv->second);
        m.options.insert(m.options.end(), v.begin(), v.end());
      } else if (kv && kv->first == "oldroot" && m.kind == MountRule::Kind::kPivotRoot) {
        m.source = unquote(kv->second);
      } else if (kv && !looks_like_path(tok)) {
        return unknown(std::move(r), text, "unknown " + kw + " condition '" + kv->first + "='");
      } else {
        plain.push_back(unquote(tok));
      }
    }
    if (plain.size() > 1) return std::unexpected("too many paths in " + kw + " rule");
    switch (m.kind) {
      case MountRule::Kind::kMount:
        if (!plain.empty()) m.source = plain.front();
        m.target = after_arrow;
        break;
      case MountRule::Kind::kPivotRoot:
        if (!plain.empty()) m.target = plain.front();
        m.target_profile = after_arrow;
        break;
      default:
        if (arrow) return std::unexpected("'->' is not allowed in " + kw + " rule");
        if (!plain.empty()) m.target = plain.front();
        break;
    }
    r.body = std::move(m);
    return r;
  }
  if (kw == "change_profile") {
    ChangeProfileRule c;
    size_t k = i + 1;
    if (k < t.size() && (t[k].text == "safe" || t[k].text == "unsafe")) c.exec_mode = t[k++].text;
    if (k < t.size() && t[k].text != "->") c.exec_cond = unquote(t[k++].text);
    if (k < t.size()) {
      if (t[k].text != "->" || k + 2 != t.size()) {
        return std::unexpected("unexpected '" + t[k].text + "' in change_profile rule");
      }
      c.target = unquote(t[k + 1].text);
    }
    r.body = std::move(c);
    return r;
  }
  if (kw == "userns") {
    if (t.size() == i + 1) {
      r.body = UsernsRule{false};
      return r;
    }
    if (t.size() == i + 2 && t[i + 1].text == "create") {
      r.body = UsernsRule{true};
      return r;
    }
    return unknown(std::move(r), text, "unknown userns form");
  }
  if (kw == "io_uring") {
    IoUringRule io;
    size_t k = i + 1;
    if (k < t.size() && is_access_token(t[k].text, {"sqpoll", "override_creds"})) {
      io.access = split_set(t[k++].text);
    }
    auto ok = rest_kv(
        k,
        [&](const std::string& key, const std::string& v) -> std::expected<void, std::string> {
          if (key != "label") return bad_key(key);
          io.label = unquote(v);
          return {};
        },
        bad);
    if (!ok) return unknown(std::move(r), text, ok.error());
    r.body = std::move(io);
    return r;
  }
  if (kw == "mqueue") {
    MqueueRule mq;
    size_t k = i + 1;
    if (k < t.size() && is_access_token(t[k].text, {"create", "open", "delete", "read", "write",
                                                    "getattr", "setattr", "r", "w", "rw"})) {
      mq.access = split_set(t[k++].text);
    }
    auto ok = rest_kv(
        k,
        [&](const std::string& key, const std::string& v) -> std::expected<void, std::string> {
          if (key == "type") {
            mq.type = unquote(v);
          } else if (key == "label") {
            mq.label = unquote(v);
          } else {
            return bad_key(key);
          }
          return {};
        },
        [&](size_t at) -> std::expected<void, std::string> {
          if (!mq.name.empty()) return bad(at);
          mq.name = unquote(t[at].text);
          return {};
        });
    if (!ok) return unknown(std::move(r), text, ok.error());
    r.body = std::move(mq);
    return r;
  }
  if (kw == "link") {
    LinkRule l;
    size_t k = i + 1;
    if (k < t.size() && t[k].text == "subset") {
      l.subset = true;
      ++k;
    }
    if (k + 3 != t.size() || t[k + 1].text != "->") {
      return std::unexpected("link rule must be 'link [subset] PATH -> TARGET'");
    }
    l.path = unquote(t[k].text);
    l.target = unquote(t[k + 2].text);
    r.body = std::move(l);
    return r;
  }
  if (kw == "file") {
    if (t.size() == i + 1) return unknown(std::move(r), text, "bare 'file' rule");
    return parse_file(std::move(r), t, i + 1, text);
  }
  if (looks_like_path(kw)) return parse_file(std::move(r), t, i, text);
  if (i + 1 < t.size() && split_perms(kw) && looks_like_path(t[i + 1].text)) {
    return parse_file(std::move(r), t, i, text);
  }
  return unknown(std::move(r), text, "unknown rule '" + kw + "'");
}

// Drops a trailing `# comment` (outside quotes) and the statement's trailing comma.
std::string_view strip_statement(std::string_view line) {
  bool quoted = false;
  for (size_t i = 0; i < line.size(); ++i) {
    const char c = line[i];
    if (c == '\\' && quoted) {
      ++i;
    } else if (c == '"') {
      quoted = !quoted;
    } else if (c == '#' && !quoted && (i == 0 || is_space(line[i - 1]) || line[i - 1] == ',')) {
      line = line.substr(0, i);
      break;
    }
  }
  while (!line.empty() && is_space(line.back())) line.remove_suffix(1);
  while (!line.empty() && is_space(line.front())) line.remove_prefix(1);
  if (!line.empty() && line.back() == ',') line.remove_suffix(1);
  while (!line.empty() && is_space(line.back())) line.remove_suffix(1);
  return line;
}

// Runs of blanks become one ' ', except inside double quotes, where every byte is part of a name.
std::string collapse_spaces(std::string_view s) {
  std::string out;
  bool space = false;
  bool quoted = false;
  for (size_t i = 0; i < s.size(); ++i) {
    const char c = s[i];
    if (quoted) {
      out += c;
      if (c == '\\' && i + 1 < s.size()) {
        out += s[++i];
      } else if (c == '"') {
        quoted = false;
      }
      continue;
    }
    if (is_space(c)) {
      space = true;
      continue;
    }
    if (space && !out.empty()) out += ' ';
    space = false;
    if (c == '"') quoted = true;
    out += c;
  }
  return out;
}

}  // namespace

std::string rule_class(const Rule& rule) {
  struct Visitor {
    std::string operator()(const FileRule&) const { return "file"; }
    std::string operator()(const LinkRule&) const { return "link"; }
    std::string operator()(const CapabilityRule&) const { return "capability"; }
    std::string operator()(const NetworkRule&) const { return "network"; }
    std::string operator()(const SignalRule&) const { return "signal"; }
    std::string operator()(const PtraceRule&) const { return "ptrace"; }
    std::string operator()(const UnixRule&) const { return "unix"; }
    std::string operator()(const DbusRule&) const { return "dbus"; }
    std::string operator()(const MountRule& m) const {
      switch (m.kind) {
        case MountRule::Kind::kMount:
          return "mount";
        case MountRule::Kind::kRemount:
          return "remount";
        case MountRule::Kind::kUmount:
          return "umount";
        case MountRule::Kind::kPivotRoot:
          return "pivot_root";
      }
      return "mount";
    }
    std::string operator()(const ChangeProfileRule&) const { return "change_profile"; }
    std::string operator()(const UsernsRule&) const { return "userns"; }
    std::string operator()(const IoUringRule&) const { return "io_uring"; }
    std::string operator()(const MqueueRule&) const { return "mqueue"; }
    std::string operator()(const UnknownRule&) const { return "unknown"; }
  };
  return std::visit(Visitor{}, rule.body);
}

std::string render(const Rule& rule) {
  std::string out;
  if (rule.audit) out += "audit ";
  if (rule.deny) out += "deny ";
  out += render_body(rule);
  out += ',';
  return out;
}

std::expected<std::string, std::string> render_checked(const Rule& rule) {
  std::vector<std::string_view> values;
  if (const auto* f = std::get_if<FileRule>(&rule.body)) {
    if (f->path.empty()) return std::unexpected("file rule has an empty path");
    if (f->perms.empty() && f->exec_mode.empty()) {
      return std::unexpected("file rule for " + f->path + " has no permissions");
    }
    if (!split_perms(f->perms + f->exec_mode)) {
      return std::unexpected("file rule for " + f->path + " has invalid permissions '" + f->perms +
                             f->exec_mode + "'");
    }
    if (f->perms.find('a') != std::string::npos && f->perms.find('w') != std::string::npos) {
      return std::unexpected("file rule for " + f->path + " has both 'w' and 'a' (w implies a)");
    }
    if (f->exec_mode == "x" && !rule.deny) {
      return std::unexpected("plain 'x' needs an exec mode (ix, px, Px, …) in an allow rule");
    }
    if (!f->exec_target.empty() && f->exec_mode.empty() &&
        f->perms.find('l') == std::string::npos) {
      return std::unexpected("'-> " + f->exec_target + "' needs an exec mode or 'l'");
    }
    values = {f->path, f->exec_target};
  } else if (const auto* l = std::get_if<LinkRule>(&rule.body)) {
    if (l->path.empty() || l->target.empty()) {
      return std::unexpected("link rule needs a path and a target");
    }
    values = {l->path, l->target};
  } else if (const auto* s = std::get_if<SignalRule>(&rule.body)) {
    values = {s->peer};
  } else if (const auto* n = std::get_if<NetworkRule>(&rule.body)) {
    for (const auto* ip : {&n->local_ip, &n->peer_ip}) {
      if (!ip->empty() && !valid_ip(*ip)) {
        return std::unexpected("network rule has an invalid ip '" + collapse_spaces(*ip) + "'");
      }
    }
    if ((!n->local_ip.empty() || !n->local_port.empty() || !n->peer_ip.empty() ||
         !n->peer_port.empty()) &&
        n->family != "inet" && n->family != "inet6") {
      return std::unexpected("network ip=/port= conditions need the family inet or inet6");
    }
  } else if (const auto* p = std::get_if<PtraceRule>(&rule.body)) {
    values = {p->peer};
  } else if (const auto* d = std::get_if<DbusRule>(&rule.body)) {
    values = {d->bus, d->path, d->name, d->interface, d->member, d->peer_name, d->peer_label};
  } else if (const auto* u = std::get_if<UnixRule>(&rule.body)) {
    values = {u->type, u->protocol, u->addr, u->label, u->peer_label, u->peer_addr};
  } else if (const auto* c = std::get_if<ChangeProfileRule>(&rule.body)) {
    values = {c->exec_cond, c->target};
  } else if (const auto* m = std::get_if<MountRule>(&rule.body)) {
    values = {m->source, m->target, m->target_profile};
  } else if (const auto* u = std::get_if<UnknownRule>(&rule.body)) {
    values = {u->text};
  }
  for (const auto v : values) {
    if (has_control(v)) {
      return std::unexpected("value '" + collapse_spaces(v) +
                             "' contains a newline or control character");
    }
  }
  return render(rule);
}

std::expected<std::string, std::string> quote_path_literal(std::string_view path) {
  if (path.empty()) return std::unexpected("empty path");
  for (const char c : path) {
    if (c == '\0') return std::unexpected("path contains a NUL byte");
    if (c == '\n' || c == '\r') return std::unexpected("path contains a newline");
    if (static_cast<unsigned char>(c) < 0x20 || c == 0x7f) {
      return std::unexpected("path contains a control character");
    }
  }
  if (path.front() != '/') {
    return std::unexpected("path '" + std::string(path) + "' is not absolute");
  }
  std::string out;
  for (size_t i = 0; i < path.size(); ++i) {
    const char c = path[i];
    if (c == '\\' && i + 1 == path.size()) {
      out += "\\134";
      break;
    }
    switch (c) {
      case '*':
      case '?':
      case '[':
      case ']':
      case '{':
      case '}':
      case '^':
      case '\\':
        out += '\\';
        break;
      default:
        break;
    }
    out += c;
  }
  return out;
}

std::expected<std::string, std::string> quote_label_literal(std::string_view label) {
  if (label.empty()) return std::unexpected("empty label");
  if (label.front() == '/') return quote_path_literal(label);
  // Reuse the path escaping on a rooted copy so both refuse exactly the same bytes.
  auto q = quote_path_literal("/" + std::string(label));
  if (!q) return std::unexpected(q.error());
  return q->substr(1);
}

std::string quote_value(std::string_view value) {
  return quote_if_needed(value);
}

std::expected<Rule, std::string> parse_rule(std::string_view line) {
  const std::string_view stmt = strip_statement(line);
  const std::string text = collapse_spaces(stmt);
  if (text.empty()) return std::unexpected("empty rule");
  auto toks = tokenize(text);
  if (!toks) return std::unexpected(toks.error() + " in '" + text + "'");
  Rule r;
  size_t i = 0;
  for (; i < toks->size(); ++i) {
    const std::string& q = (*toks)[i].text;
    if (q == "audit") {
      r.audit = true;
    } else if (q == "deny") {
      r.deny = true;
    } else if (q == "allow") {
      // The default; not kept.
    } else if (q == "owner") {
      r.owner = true;
    } else {
      break;
    }
  }
  if (i >= toks->size()) return std::unexpected("qualifiers without a rule in '" + text + "'");
  auto parsed = parse_body(r, *toks, i, text);
  if (!parsed) return std::unexpected(parsed.error() + " in '" + text + "'");
  return parsed;
}

bool same_rule(const Rule& a, const Rule& b) {
  return render(a) == render(b);
}

}  // namespace aatune::rules
