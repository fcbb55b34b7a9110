#include "collector/log_discovery.h"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cctype>
#include <charconv>
#include <filesystem>

#include "collector/journal_source.h"

namespace aatune::collector {
namespace {

namespace fs = std::filesystem;

struct Family {
  std::string_view dir;
  std::string_view base;
};

// auditd first: it is the most complete file source; the syslog families follow (records.md §0.3).
constexpr std::array<Family, 4> kFamilies{{{"var/log/audit", "audit.log"},
                                           {"var/log", "kern.log"},
                                           {"var/log", "syslog"},
                                           {"var/log", "messages"}}};

bool all_digits(std::string_view s) {
  return !s.empty() && std::ranges::all_of(s, [](unsigned char c) { return std::isdigit(c); });
}

std::string skip_reason_for(const fs::path& p) {
  std::error_code ec;
  if (!fs::is_regular_file(p, ec)) return "not a regular file";
  if (::access(p.c_str(), R_OK) != 0) return "not readable (permission denied; try as root)";
  if (fs::file_size(p, ec) == 0 && !ec) return "empty";
  return {};
}

}  // namespace

std::string_view to_string(SourceKind kind) {
  switch (kind) {
    case SourceKind::kFile:
      return "file";
    case SourceKind::kJournal:
      return "journal";
    case SourceKind::kKmsg:
      return "kmsg";
  }
  return "file";
}

std::optional<long long> rotation_age(std::string_view base, std::string_view name) {
  if (!name.starts_with(base)) return std::nullopt;
  std::string_view rest = name.substr(base.size());
  if (rest.empty()) return 0;
  if (rest.ends_with(".gz")) rest.remove_suffix(3);
  long long n = 0;
  if (rest.starts_with('.') && all_digits(rest.substr(1))) {
    std::from_chars(rest.data() + 1, rest.data() + rest.size(), n);
    return n;
  }
  // logrotate's dateext: `-YYYYMMDD` (optionally more digits). Newer dates are younger, so the
  // age is counted down from a ceiling above any numeric suffix.
  if (rest.starts_with('-') && all_digits(rest.substr(1)) && rest.size() <= 15) {
    std::from_chars(rest.data() + 1, rest.data() + rest.size(), n);
    return 4'000'000'000'000'000LL - n;
  }
  return std::nullopt;
}

std::vector<std::string> rotation_order(std::string_view base, std::vector<std::string> names) {
  std::vector<std::pair<long long, std::string>> aged;
  for (auto& n : names) {
    if (auto age = rotation_age(base, n)) aged.emplace_back(*age, std::move(n));
  }
  std::ranges::sort(aged, [](const auto& a, const auto& b) {
    return a.first != b.first ? a.first > b.first : a.second < b.second;
  });
  std::vector<std::string> out;
  for (auto& [age, n] : aged) out.push_back(std::move(n));
  return out;
}

std::vector<SourceCandidate> discover_sources(const DiscoveryOptions& options) {
  std::vector<SourceCandidate> out;
  const fs::path root(options.root.empty() ? "/" : options.root);
  for (const Family& f : kFamilies) {
    const fs::path dir = root / f.dir;
    std::error_code ec;
    std::vector<std::string> names;
    for (fs::directory_iterator it(dir, ec), end; !ec && it != end; it.increment(ec)) {
      names.push_back(it->path().filename().string());
    }
    for (const auto& n : rotation_order(f.base, std::move(names))) {
      const fs::path p = dir / n;
      out.push_back(SourceCandidate{SourceKind::kFile, p.string(), skip_reason_for(p)});
    }
  }
  if (options.journal) {
    auto j = JournalSource::open();
    out.push_back(SourceCandidate{SourceKind::kJournal, "journal", j ? "" : j.error()});
  }
  if (options.kmsg) {
    const fs::path kmsg = root / "dev/kmsg";
    const int fd = ::open(kmsg.c_str(), O_RDONLY | O_NONBLOCK | O_CLOEXEC);
    std::string reason;
    if (fd < 0) {
      reason = errno == EACCES || errno == EPERM
                   ? "not readable (needs CAP_SYSLOG with kernel.dmesg_restrict=1)"
                   : "not available";
    } else {
      ::close(fd);
    }
    out.push_back(SourceCandidate{SourceKind::kKmsg, kmsg.string(), reason});
  }
  return out;
}

}  // namespace aatune::collector
