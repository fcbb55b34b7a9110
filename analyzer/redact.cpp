#include "analyzer/redact.h"

#include <algorithm>
#include <array>
#include <charconv>

namespace aatune::analyzer {
namespace {

// Accounts every system has: naming them leaks nothing, and replacing them would rewrite rules
// (`owner`, `/var/lib/libvirt/...`) and well-known paths.
constexpr std::array<std::string_view, 22> kSystemUsers = {"root",
                                                           "nobody",
                                                           "daemon",
                                                           "bin",
                                                           "sys",
                                                           "man",
                                                           "www-data",
                                                           "messagebus",
                                                           "libvirt-qemu",
                                                           "libvirt-dnsmasq",
                                                           "syslog",
                                                           "_apt",
                                                           "unset",
                                                           "?",
                                                           "sshd",
                                                           "polkitd",
                                                           "avahi",
                                                           "chrony",
                                                           "systemd-network",
                                                           "systemd-resolve",
                                                           "systemd-timesync",
                                                           "lp"};

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
    if (user && std::ranges::find(kSystemUsers, v) != kSystemUsers.end()) return;
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
    // Documentation ranges (RFC 5737) keep the text an address.
    p = (n < 254 ? "192.0.2." : "198.51.100.") + std::to_string(n % 254 + 1);
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
  std::string s(text);
  for (const auto& re : patterns_) s = replace_all(std::move(s), re, "pattern", 0);
  static const std::regex mac(
      R"((^|[^0-9A-Fa-f:])((?:[0-9A-Fa-f]{2}:){5,}[0-9A-Fa-f]{2})(?![0-9A-Fa-f:]))");
  static const std::regex ipv6(
      R"((^|[^\w:.])([0-9A-Fa-f:]*::[0-9A-Fa-f:]*|(?:[0-9A-Fa-f]{1,4}:){7}[0-9A-Fa-f]{1,4})(?![\w:.]))");
  static const std::regex ipv4(R"((^|[^\w.])((?:\d{1,3}\.){3}\d{1,3})(?![\w.]))");
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
      if (std::ranges::find(kSystemUsers, name) != kSystemUsers.end()) continue;
      out.append(last, m[1].first);
      std::string p = placeholder("user", name);
      --counts_["user"].occurrences;
      ++counts_["home"].occurrences;
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
