#include "analyzer/report.h"

#include <array>
#include <cstdint>
#include <sstream>

namespace aatune::analyzer {
namespace {

constexpr std::array<uint32_t, 64> kK = {
    0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4, 0xab1c5ed5,
    0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe, 0x9bdc06a7, 0xc19bf174,
    0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc, 0x2de92c6f, 0x4a7484aa, 0x5cb0a9dc, 0x76f988da,
    0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7, 0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967,
    0x27b70a85, 0x2e1b2138, 0x4d2c6dfc, 0x53380d13, 0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85,
    0xa2bfe8a1, 0xa81a664b, 0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070,
    0x19a4c116, 0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f, 0x682e6ff3,
    0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7, 0xc67178f2};

constexpr uint32_t rotr(uint32_t x, int n) {
  return (x >> n) | (x << (32 - n));
}

void sha_block(std::array<uint32_t, 8>& h, const unsigned char* p) {
  std::array<uint32_t, 64> w{};
  for (int i = 0; i < 16; ++i) {
    w[i] = (uint32_t{p[4 * i]} << 24) | (uint32_t{p[4 * i + 1]} << 16) |
           (uint32_t{p[4 * i + 2]} << 8) | uint32_t{p[4 * i + 3]};
  }
  for (int i = 16; i < 64; ++i) {
    const uint32_t s0 = rotr(w[i - 15], 7) ^ rotr(w[i - 15], 18) ^ (w[i - 15] >> 3);
    const uint32_t s1 = rotr(w[i - 2], 17) ^ rotr(w[i - 2], 19) ^ (w[i - 2] >> 10);
    w[i] = w[i - 16] + s0 + w[i - 7] + s1;
  }
  auto [a, b, c, d, e, f, g, hh] = h;
  for (int i = 0; i < 64; ++i) {
    const uint32_t t1 =
        hh + (rotr(e, 6) ^ rotr(e, 11) ^ rotr(e, 25)) + ((e & f) ^ (~e & g)) + kK[i] + w[i];
    const uint32_t t2 = (rotr(a, 2) ^ rotr(a, 13) ^ rotr(a, 22)) + ((a & b) ^ (a & c) ^ (b & c));
    hh = g;
    g = f;
    f = e;
    e = d + t1;
    d = c;
    c = b;
    b = a;
    a = t1 + t2;
  }
  const std::array<uint32_t, 8> add = {a, b, c, d, e, f, g, hh};
  for (int i = 0; i < 8; ++i) h[i] += add[i];
}

// A fence longer than any backtick run in `text`, so pasted evidence cannot close it.
std::string fence_for(std::string_view text) {
  size_t longest = 0, run = 0;
  for (char c : text) {
    run = c == '`' ? run + 1 : 0;
    longest = std::max(longest, run);
  }
  return std::string(std::max<size_t>(3, longest + 1), '`');
}

// A table cell: one line, pipes escaped, in code spans when asked.
std::string cell(const nlohmann::json& v, bool code = false) {
  std::string s = v.is_string() ? v.get<std::string>() : v.is_null() ? "" : v.dump();
  std::string out;
  for (char c : s) {
    if (c == '|') {
      out += "\\|";
    } else if (c == '\n') {
      out += ' ';
    } else {
      out += c;
    }
  }
  // A group target joins its parts with blanks, so a unix or network target whose last parts are
  // unknown ends in blanks; inside a code span they read as part of the value.
  if (code) {
    while (!out.empty() && out.back() == ' ') out.pop_back();
  }
  if (code && !out.empty())
    return (out.find('`') == std::string::npos ? "`" + out + "`" : "`` " + out + " ``");
  return out;
}

std::string str(const nlohmann::json& j, const char* key) {
  if (!j.contains(key) || j[key].is_null()) return "";
  return j[key].is_string() ? j[key].get<std::string>() : j[key].dump();
}

void code_block(std::ostringstream& o, std::string_view lang, std::string_view text) {
  const std::string f = fence_for(text);
  o << f << lang << '\n' << text;
  if (!text.empty() && text.back() != '\n') o << '\n';
  o << f << "\n";
}

}  // namespace

std::string sha256_hex(std::string_view data) {
  std::array<uint32_t, 8> h = {0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a,
                               0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19};
  const auto* p = reinterpret_cast<const unsigned char*>(data.data());
  size_t n = data.size();
  size_t i = 0;
  for (; i + 64 <= n; i += 64) sha_block(h, p + i);
  std::array<unsigned char, 128> tail{};
  const size_t rest = n - i;
  std::copy(p + i, p + n, tail.begin());
  tail[rest] = 0x80;
  const size_t total = rest + 9 <= 64 ? 64 : 128;
  const uint64_t bits = static_cast<uint64_t>(n) * 8;
  for (int k = 0; k < 8; ++k) tail[total - 1 - k] = static_cast<unsigned char>(bits >> (8 * k));
  sha_block(h, tail.data());
  if (total == 128) sha_block(h, tail.data() + 64);
  std::string out;
  constexpr std::string_view kHex = "0123456789abcdef";
  for (uint32_t v : h) {
    for (int k = 28; k >= 0; k -= 4) out += kHex[(v >> k) & 0xf];
  }
  return out;
}

nlohmann::json event_fields(const collector::Event& e) {
  nlohmann::json j = nlohmann::json::object();
  auto put = [&](const char* k, const auto& v) {
    if (v) j[k] = *v;
  };
  j["apparmor"] = collector::to_string(e.event);
  j["container"] = collector::to_string(e.container);
  j["trust"] = collector::to_string(e.trust);
  if (!e.record_type_name.empty()) j["record_type"] = e.record_type_name;
  put("audit_id", e.audit_id);
  put("epoch", e.epoch);
  put("operation", e.operation);
  put("class", e.rule_class);
  put("info", e.info);
  put("error", e.error_code);
  put("requested_mask", e.requested_mask);
  put("denied_mask", e.denied_mask);
  put("fsuid", e.fsuid);
  put("ouid", e.ouid);
  put("profile", e.profile);
  put("namespace", e.ns);
  put("peer_profile", e.peer_profile);
  put("peer", e.peer);
  put("name", e.name);
  put("name2", e.name2);
  put("comm", e.comm);
  put("pid", e.pid);
  put("peer_pid", e.peer_pid);
  put("signal", e.signal);
  put("family", e.net_family);
  put("sock_type", e.net_sock_type);
  put("protocol", e.net_protocol);
  put("addr", e.net_addr);
  put("peer_addr", e.peer_addr);
  put("bus", e.dbus_bus);
  put("path", e.dbus_path);
  put("interface", e.dbus_interface);
  put("member", e.dbus_member);
  put("fstype", e.fs_type);
  put("flags", e.flags);
  put("srcname", e.src_name);
  put("host", e.host);
  put("timestamp", e.timestamp);
  if (!e.extra.empty()) {
    auto& x = j["extra"] = nlohmann::json::array();
    for (const auto& [k, v] : e.extra) x.push_back({k, v});
  }
  return j;
}

nlohmann::json companion_fields(const collector::Companion& c) {
  nlohmann::json j = nlohmann::json::array();
  for (const auto& [k, v] : c.fields) j.push_back({k, v});
  return j;
}

std::string render_markdown(const nlohmann::json& r) {
  std::ostringstream o;
  const auto& summary = r["summary"];
  std::string profiles;
  for (const auto& p : summary["profiles"]) {
    profiles += (profiles.empty() ? "" : ", ") + ("`" + p.get<std::string>() + "`");
  }
  o << "# AppArmor denials: " << (profiles.empty() ? "none" : profiles) << "\n\n";
  o << "Exported by aatune " << str(r, "aatune_version");
  if (!r["generated_at"].is_null()) o << " at " << str(r, "generated_at");
  o << ". " << str(summary, "groups") << " denial group(s) from " << str(summary, "records")
    << " record(s); " << str(summary, "proposals") << " proposed rule(s).\n\n";

  o << "## Summary\n\n";
  for (const auto& p : r["policy"]["profiles"]) {
    o << "- Profile `" << str(p, "name") << "`: " << str(p, "mode")
      << (p.value("disabled", false) ? ", disabled" : "") << ", defined in `" << str(p, "file")
      << "`";
    if (!str(p, "local_file").empty()) o << ", local override `" << str(p, "local_file") << "`";
    o << "\n";
  }
  o << "- Sources read:";
  for (const auto& s : r["sources"]) o << " `" << str(s, "path") << "`";
  o << "\n";
  const auto& red = r["redaction"];
  if (red.value("enabled", false)) {
    o << "- Redacted:";
    if (red["kinds"].empty()) o << " nothing found";
    bool first = true;
    for (const auto& [kind, c] : red["kinds"].items()) {
      o << (first ? " " : ", ") << kind << " (" << str(c, "distinct") << " value(s), "
        << str(c, "occurrences") << " occurrence(s))";
      first = false;
    }
    o << "\n";
  } else {
    o << "- Not redacted.\n";
  }

  o << "\n## Denials\n\n";
  o << "| # | profile | class | operation | target | mask | count | first seen | last seen |\n";
  o << "|---|---|---|---|---|---|---|---|---|\n";
  for (const auto& d : r["denials"]) {
    o << "| " << cell(d["id"]) << " | " << cell(d["profile"], true) << " | " << cell(d["class"])
      << " | " << cell(d["operation"]) << " | " << cell(d["target"], true) << " | "
      << cell(d["mask"]) << " | " << cell(d["count"]) << " | " << cell(d["first_seen"]) << " | "
      << cell(d["last_seen"]) << " |\n";
  }

  o << "\n## Analysis\n";
  for (const auto& p : r["analysis"]["proposals"]) {
    o << "\n### " << str(p, "id") << ". `" << str(p, "profile") << "`: ";
    if (str(p, "rule").empty()) {
      o << "no rule (" << str(p, "refused") << ")\n\n";
    } else {
      o << "`" << str(p, "rule") << "`\n\n";
    }
    o << "- Why: " << str(p["why"], "text") << " (`" << str(p["why"], "code") << "`)\n";
    if (p["why"].contains("site")) {
      o << "- Decided by: `" << str(p["why"]["site"], "file") << ":"
        << str(p["why"]["site"], "line") << "` `" << str(p["why"]["site"], "rule") << "`\n";
    }
    for (const auto& n : p["why"]["notes"]) o << "- Note: " << n.get<std::string>() << "\n";
    o << "- Severity: " << str(p["severity"], "level");
    if (!str(p["severity"], "reason").empty()) o << ": " << str(p["severity"], "reason");
    o << "\n";
    if (!p["pair"].is_null()) {
      o << "- Peer pair " << str(p, "pair")
        << ": the kernel checks both ends; accept both sides together.\n";
    }
    if (p.value("peer_side", false))
      o << "- No denial was logged for this side (peer cross-check).\n";
    if (!p["denials"].empty()) {
      o << "- Denials:";
      for (const auto& id : p["denials"]) o << " #" << id.dump();
      o << "\n";
    }
    for (const auto& t : p["targets"]) {
      o << "- Could go into `" << str(t, "path") << "`"
        << (t.value("default", false) ? " (recommended)" : "");
      if (!str(t, "warning").empty()) o << ": " << str(t, "warning");
      o << "\n";
    }
  }

  const auto& a = r["analysis"];
  if (!str(a, "patch").empty()) {
    o << "\n## Proposed patch (packaged profile, `patch -p1` in the profile directory)\n\n";
    code_block(o, "diff", a["patch"].get<std::string>());
  }
  if (!str(a, "local_patch").empty()) {
    o << "\n## Alternative: the local override (survives package upgrades)\n\n";
    code_block(o, "diff", a["local_patch"].get<std::string>());
  }

  o << "\n## Policy files\n\n| file | role | sha256 | package |\n|---|---|---|---|\n";
  for (const auto& f : r["policy"]["files"]) {
    o << "| " << cell(f["path"], true) << " | " << cell(f["role"]) << " | "
      << cell(f["sha256"], true) << " | " << cell(f["package"]) << " |\n";
  }

  o << "\n## Environment\n\n";
  for (const auto& [k, v] : r["environment"].items()) {
    o << "- " << k << ": " << cell(v) << "\n";
  }

  o << "\n## Raw evidence\n";
  for (const auto& d : r["denials"]) {
    o << "\n<details>\n<summary>Denial " << str(d, "id") << ": " << str(d, "count")
      << " record(s)</summary>\n\n";
    std::string text;
    for (const auto& rec : d["records"]) {
      text += "# " + str(rec, "source") + ":" + str(rec, "line") + "\n" + str(rec, "raw") + "\n";
      for (const auto& c : rec["companions"]) text += str(c, "raw") + "\n";
    }
    code_block(o, "", text);
    o << "\n</details>\n";
  }
  return o.str();
}

}  // namespace aatune::analyzer
