// The config reader: a pure parser of `key = value` lines plus a small loader at the edge.
#include "cli/config.h"

#include <algorithm>
#include <array>
#include <cstdlib>
#include <fstream>
#include <regex>
#include <sstream>

namespace aatune::cli {
namespace {

constexpr std::array<std::string_view, 8> kKeys{"profiles", "target", "loader", "parser",
                                                "db",       "risk",   "redact", "source"};

std::string_view trim(std::string_view s) {
  const auto first = s.find_first_not_of(" \t\r");
  if (first == std::string_view::npos) return {};
  const auto last = s.find_last_not_of(" \t\r");
  return s.substr(first, last - first + 1);
}

// Values may be quoted to keep leading/trailing blanks or a '#'.
std::expected<std::string, std::string> unquote(std::string_view v) {
  if (v.size() >= 2 && v.front() == '"' && v.back() == '"') {
    return std::string(v.substr(1, v.size() - 2));
  }
  if (!v.empty() && v.front() == '"') return std::unexpected("unterminated quote");
  return std::string(v);
}

std::string did_you_mean(std::string_view key) {
  for (const auto k : kKeys) {
    // A shared 3-letter prefix is enough to catch the usual slips (profile, sources, loaders).
    if (k.substr(0, 3) == key.substr(0, 3)) return " (did you mean '" + std::string(k) + "'?)";
  }
  return {};
}

// Checks one value; returns the reason it is bad, or an empty string.
std::string check_value(std::string_view key, const std::string& value) {
  if (value.empty()) return "needs a value";
  if (key == "target" && value != "profile" && value != "local" && value != "files") {
    return "must be profile, local or files, not '" + value + "'";
  }
  if ((key == "profiles" || key == "loader" || key == "parser") && value.front() != '/') {
    return "must be an absolute path, not '" + value + "'";
  }
  if (key == "redact") {
    try {
      std::regex re(value, std::regex::ECMAScript);
    } catch (const std::regex_error&) {
      return "is not a valid regular expression: '" + value + "'";
    }
  }
  if (key == "risk" && value.front() != '/' && value.front() != '@') {
    return "must be an absolute path or AppArmor glob, not '" + value + "'";
  }
  return {};
}

void set(std::string_view key, std::string value, Config& cfg) {
  if (key == "profiles") cfg.profiles = std::move(value);
  if (key == "target") cfg.target = std::move(value);
  if (key == "loader") cfg.loader = std::move(value);
  if (key == "parser") cfg.parser = std::move(value);
  if (key == "db") cfg.db = std::move(value);
  if (key == "risk") cfg.risk.push_back(std::move(value));
  if (key == "redact") cfg.redact.push_back(std::move(value));
  if (key == "source") cfg.sources.push_back(std::move(value));
}

}  // namespace

std::expected<void, std::string> parse_config(std::string_view text, std::string_view file,
                                              Config& cfg) {
  Config next = cfg;  // all or nothing: a bad file leaves cfg as it was
  size_t line_no = 0;
  std::istringstream in{std::string(text)};
  for (std::string raw; std::getline(in, raw);) {
    ++line_no;
    const std::string where = std::string(file) + ":" + std::to_string(line_no) + ": ";
    const auto line = trim(raw);
    if (line.empty() || line.front() == '#') continue;
    const auto eq = line.find('=');
    if (eq == std::string_view::npos) {
      return std::unexpected(where + "expected 'key = value', got '" + std::string(line) + "'");
    }
    const auto key = trim(line.substr(0, eq));
    if (std::ranges::find(kKeys, key) == kKeys.end()) {
      return std::unexpected(where + "unknown key '" + std::string(key) + "'" + did_you_mean(key));
    }
    auto value = unquote(trim(line.substr(eq + 1)));
    if (!value) return std::unexpected(where + std::string(key) + ": " + value.error());
    if (const auto bad = check_value(key, *value); !bad.empty()) {
      return std::unexpected(where + std::string(key) + " " + bad);
    }
    set(key, std::move(*value), next);
  }
  cfg = std::move(next);
  return {};
}

std::vector<std::string> config_files(std::string_view etc_dir) {
  std::vector<std::string> files{std::string(etc_dir) + "/aatune.conf"};
  const char* xdg = std::getenv("XDG_CONFIG_HOME");
  const char* home = std::getenv("HOME");
  if (xdg != nullptr && *xdg == '/') {
    files.push_back(std::string(xdg) + "/aatune/config");
  } else if (home != nullptr && *home == '/') {
    files.push_back(std::string(home) + "/.config/aatune/config");
  }
  return files;
}

std::expected<Config, std::string> load_config(const std::vector<std::string>& files) {
  Config cfg;
  for (const auto& f : files) {
    std::ifstream in(f);
    if (!in) continue;  // a missing layer is normal
    std::ostringstream text;
    text << in.rdbuf();
    if (in.bad()) return std::unexpected(f + ": cannot read the config file");
    if (auto ok = parse_config(text.str(), f, cfg); !ok) return std::unexpected(ok.error());
  }
  return cfg;
}

void apply_flags(std::span<const std::string> args, Config& cfg) {
  for (size_t i = 0; i + 1 < args.size(); ++i) {
    const auto& a = args[i];
    if (a == "--") break;
    std::string* slot = a == "--profiles" ? &cfg.profiles
                        : a == "--target" ? &cfg.target
                        : a == "--loader" ? &cfg.loader
                        : a == "--parser" ? &cfg.parser
                        : a == "--db"     ? &cfg.db
                                          : nullptr;
    if (slot != nullptr) *slot = args[++i];
  }
}

}  // namespace aatune::cli
