#include "analyzer/redact.h"

#include <algorithm>
#include <array>
#include <charconv>
#include <optional>

namespace aatune::analyzer {
namespace {

// Accounts every system has: naming them leaks nothing, and replacing them would rewrite rules
// (`owner`, `/var/lib/libvirt/...`) and well-known paths. Debian names new system accounts
// `_name` (`_apt`, `_chrony`); packages prefix theirs (`systemd-`, `libvirt-`, `Debian-`).
constexpr std::array<std::string_view, 52> kSystemUsers = {
    "root",    "nobody",   "daemon",     "bin",      "sys",     "sync",     "games",  "man",
    "lp",      "mail",     "news",       "uucp",     "proxy",   "www-data", "backup", "list",
    "irc",     "gnats",    "messagebus", "dbus",     "syslog",  "unset",    "?",      "sshd",
    "polkitd", "avahi",    "chrony",     "ntp",      "dnsmasq", "statd",    "tss",    "uuidd",
    "tcpdump", "usbmux",   "rtkit",      "colord",   "geoclue", "pulse",    "saned",  "lightdm",
    "gdm",     "postfix",  "mysql",      "postgres", "redis",   "nginx",    "apache", "bind",
    "dovecot", "memcache", "qemu",       "kvm"};

constexpr std::array<std::string_view, 4> kSystemUserPrefixes = {"_", "systemd-", "libvirt-",
                                                                 "Debian-"};

bool system_user(std::string_view name) {
  return std::ranges::find(kSystemUsers, name) != kSystemUsers.end() ||
         std::ranges::any_of(kSystemUserPrefixes,
                             [&](std::string_view p) { return name.starts_with(p); });
}

constexpr std::array<std::string_view, 6> kNotHosts = {"?", "localhost", "kernel",
                                                       "-", "(none)",    ""};

std::string escape_regex(std::string_view s) {
  std::string out;
  for (char c : s) {
    if (std::string_view("\\^$.|?*+()[]{}").find(c) != std::string_view::npos) out += '\\';
    out += c;
  }
  return out;
}

bool valid_ipv4(const std::string& s) {
  size_t start = 0;
  for (int i = 0; i < 4; ++i) {
    const size_t end = i == 3 ? s.size() : s.find('.', start);
    int v = 0;
    const auto r = std::from_chars(s.data() + start, s.data() + end, v);
    if (r.ec != std::errc() || v > 255) return false;
    start = end + 1;
  }
  return true;
}

const std::regex& home_re() {
  static const std::regex re(R"(/home/([A-Za-z_][A-Za-z0-9_.-]*))");
  return re;
}

// Audit hex-encodes a value with a space, a quote or a non-ASCII byte (`name=2F686F6D65…`,
// `proctitle=…` with NUL-separated argv). The personal data inside must go too, and the value
// must stay hex so that the record still reads as one.
const std::regex& hex_value_re() {
  static const std::regex re(
      R"((^|[^\w=])((?:proctitle|name|name2|cwd|exe|comm|srcname|cmd|path)=)([0-9A-F]{4,})(?![\w]))");
  return re;
}

std::optional<std::string> hex_text(const std::string& hex) {
  if (hex.size() % 2 != 0) return std::nullopt;
  std::string out;
  for (size_t i = 0; i < hex.size(); i += 2) {
    unsigned v = 0;
    std::from_chars(hex.data() + i, hex.data() + i + 2, v, 16);
    // Text or argv: anything else (a control byte) means it was not an encoded string.
    if (v != 0 && (v < 0x20 || v == 0x7f)) return std::nullopt;
    out += static_cast<char>(v);
  }
  return out;
}

std::string to_hex(const std::string& text) {
  constexpr std::string_view kHex = "0123456789ABCDEF";
  std::string out;
  for (unsigned char c : text) {
    out += kHex[c >> 4];
    out += kHex[c & 0xf];
  }
  return out;
}

// Calls f(decoded) for every hex-encoded value of `text`; f returns the replacement text.
template <typename F>
std::string each_hex_value(const std::string& text, F&& f) {
  std::string out;
  auto last = text.cbegin();
  for (std::sregex_iterator it(text.cbegin(), text.cend(), hex_value_re()), end; it != end; ++it) {
    const auto& m = *it;
    const auto decoded = hex_text(m[3].str());
    if (!decoded) continue;
    out.append(last, m[3].first);
    const std::string replaced = f(*decoded);
    out += replaced == *decoded ? m[3].str() : to_hex(replaced);
    last = m[3].second;
  }
  out.append(last, text.cend());
  return out;
}

}  // namespace

std::expected<Redactor, std::string> Redactor::create(const RedactOptions& options) {
  Redactor r(options);
  for (const auto& p : options.patterns) {
    try {
      r.patterns_.emplace_back(p, std::regex::ECMAScript);
    } catch (const std::regex_error& e) {
      return std::unexpected("--redact-pattern '" + p + "': not a valid regular expression (" +
                             e.what() + ")");
    }
  }
  for (const auto& h : options.hosts) {
    if (std::ranges::find(kNotHosts, h) == kNotHosts.end()) r.hosts_.push_back(h);
  }
  return r;
}

void Redactor::learn(std::string_view text) {
  auto add = [](std::vector<std::string>& into, const std::string& v, bool user) {
    if (user && system_user(v)) return;
    if (!user && std::ranges::find(kNotHosts, v) != kNotHosts.end()) return;
    if (v.size() < 2 || std::ranges::find(into, v) != into.end()) return;
    into.push_back(v);
  };
  static const std::regex user_field(
      R"re(\b(?:UID|AUID|SUID|FSUID|EUID|OUID|acct)="?([A-Za-z_][A-Za-z0-9_.-]*))re");
  static const std::regex host_field(R"(\b(?:node|hostname)=([A-Za-z0-9][A-Za-z0-9_.-]*))");
  // A syslog line's host: after the classic or the RFC 3339 timestamp.
  static const std::regex syslog_host(
      R"((?:^|\n)(?:[A-Z][a-z]{2} [ 0-9]\d \d\d:\d\d:\d\d|\d{4}-\d\d-\d\dT[0-9:.+-]+Z?) ([A-Za-z0-9][A-Za-z0-9_.-]*) )");
  const std::string s(text);
  (void)each_hex_value(s, [&](const std::string& decoded) {
    learn(decoded);
    return decoded;
  });
  for (std::sregex_iterator it(s.begin(), s.end(), home_re()), end; it != end; ++it)
    add(users_, (*it)[1].str(), true);
  for (std::sregex_iterator it(s.begin(), s.end(), user_field), end; it != end; ++it)
    add(users_, (*it)[1].str(), true);
  for (std::sregex_iterator it(s.begin(), s.end(), host_field), end; it != end; ++it) {
    std::string h = (*it)[1].str();
    // node=1.2.3.4 is an address: the address rules take it.
    if (std::ranges::all_of(
            h, [](char c) { return std::isdigit(static_cast<unsigned char>(c)) || c == '.'; }))
      continue;
    add(hosts_, h, false);
  }
  for (std::sregex_iterator it(s.begin(), s.end(), syslog_host), end; it != end; ++it)
    add(hosts_, (*it)[1].str(), false);
}

std::string Redactor::placeholder(const std::string& kind, const std::string& value) {
  auto& m = map_[kind];
  auto& count = counts_[kind];
  ++count.occurrences;
  if (auto it = m.find(value); it != m.end()) return it->second;
  const size_t n = m.size() + 1;
  ++count.distinct;
  std::string p;
  if (kind == "user") {
    p = "USER" + std::to_string(n);
  } else if (kind == "host") {
    p = "HOST" + std::to_string(n);
  } else if (kind == "ipv4") {
    // Documentation ranges (RFC 5737) keep the text an address: 192.0.2.1 for the first one.
    // Past their 762 hosts, the benchmarking range 198.18.0.0/15 (RFC 2544), so that
    // placeholders never collide.
    if (n <= 254) {
      p = "192.0.2." + std::to_string(n);
    } else if (n <= 508) {
      p = "198.51.100." + std::to_string(n - 254);
    } else if (n <= 762) {
      p = "203.0.113." + std::to_string(n - 508);
    } else {
      const size_t k = n - 762;
      p = "198." + std::to_string(18 + k / 65536) + "." + std::to_string(k / 256 % 256) + "." +
          std::to_string(k % 256);
    }
  } else if (kind == "ipv6") {
    p = "2001:db8::" + std::to_string(n);
  } else if (kind == "mac") {
    char buf[32];
    std::snprintf(buf, sizeof buf, "02:00:00:00:%02zx:%02zx", (n >> 8) & 0xff, n & 0xff);
    p = buf;
  } else if (kind == "uuid") {
    char buf[48];
    std::snprintf(buf, sizeof buf, "00000000-0000-4000-8000-%012zx", n);
    p = buf;
  } else {
    p = "REDACTED" + std::to_string(n);
  }
  m.emplace(value, p);
  return p;
}

// Replaces capture `group` of every match of `re` by its placeholder; the rest of the match
// (boundary characters) is kept.
std::string Redactor::replace_all(std::string text, const std::regex& re, const std::string& kind,
                                  int group) {
  std::string out;
  auto last = text.cbegin();
  for (std::sregex_iterator it(text.cbegin(), text.cend(), re), end; it != end; ++it) {
    const auto& m = *it;
    const std::string value = m[group].str();
    bool skip = false;
    if (kind == "ipv4")
      skip = !valid_ipv4(value) || value.starts_with("127.") || value == "0.0.0.0";
    if (kind == "ipv6") skip = value == "::" || value == "::1";
    if (kind == "uuid") skip = m[2].matched;  // libvirt-<uuid>: a profile name, kept.
    out.append(last, m[group].first);
    out += skip ? value : placeholder(kind, value);
    last = m[group].second;
  }
  out.append(last, text.cend());
  return out;
}

std::string Redactor::redact(std::string_view text) {
  std::string s = each_hex_value(std::string(text),
                                 [&](const std::string& decoded) { return redact(decoded); });
  for (const auto& re : patterns_) s = replace_all(std::move(s), re, "pattern", 0);
  static const std::regex mac(
      R"((^|[^0-9A-Fa-f:])((?:[0-9A-Fa-f]{2}:){5,}[0-9A-Fa-f]{2})(?![0-9A-Fa-f:]))");
  static const std::regex ipv6(
      R"((^|[^\w:.])([0-9A-Fa-f:]*::[0-9A-Fa-f:]*|(?:[0-9A-Fa-f]{1,4}:){7}[0-9A-Fa-f]{1,4})(?![\w:.]))");
  // An address may end a sentence or precede a file extension (`…-192.168.122.45.lease`), but
  // not continue into a longer dotted number.
  static const std::regex ipv4(R"((^|[^\w.])((?:\d{1,3}\.){3}\d{1,3})(?!\w|\.\d))");
  static const std::regex uuid(
      R"((^|[^\w-]|(libvirt-))([0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12})(?![\w-]))");
  s = replace_all(std::move(s), mac, "mac", 2);
  s = replace_all(std::move(s), ipv6, "ipv6", 2);
  s = replace_all(std::move(s), ipv4, "ipv4", 2);
  if (options_.uuids) s = replace_all(std::move(s), uuid, "uuid", 3);
  for (const auto& h : hosts_) {
    const std::regex re("(^|[^\\w-])(" + escape_regex(h) + ")(?![\\w-])");
    s = replace_all(std::move(s), re, "host", 2);
  }
  // /home/<name> and the bare name share one placeholder, counted as "home" and "user".
  {
    std::string out;
    auto last = s.cbegin();
    for (std::sregex_iterator it(s.cbegin(), s.cend(), home_re()), end; it != end; ++it) {
      const auto& m = *it;
      const std::string name = m[1].str();
      if (system_user(name)) continue;
      out.append(last, m[1].first);
      std::string p = placeholder("user", name);
      --counts_["user"].occurrences;
      ++counts_["home"].occurrences;
      if (map_["home"].emplace(name, p).second) ++counts_["home"].distinct;
      out += p;
      last = m[1].second;
    }
    out.append(last, s.cend());
    s = std::move(out);
  }
  for (const auto& u : users_) {
    const std::regex re("(^|[^\\w])(" + escape_regex(u) + ")(?!\\w)");
    s = replace_all(std::move(s), re, "user", 2);
  }
  return s;
}

namespace {
template <typename F>
void each_string(nlohmann::json& j, F&& f) {
  if (j.is_string()) {
    f(j.get_ref<std::string&>());
  } else if (j.is_structured()) {
    for (auto& v : j) each_string(v, f);
  }
}
}  // namespace

void Redactor::redact_json(nlohmann::json& doc) {
  each_string(doc, [&](std::string& s) { learn(s); });
  each_string(doc, [&](std::string& s) { s = redact(s); });
}

}  // namespace aatune::analyzer
