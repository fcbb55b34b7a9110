#include "cli/table.h"

#include <ctime>

namespace aatune::cli {

std::string row(std::initializer_list<Cell> cells) {
  std::string out;
  for (const Cell& c : cells) {
    const size_t w = static_cast<size_t>(c.width < 0 ? -c.width : c.width);
    const size_t pad = c.text.size() < w ? w - c.text.size() : 0;
    if (!out.empty()) out += ' ';
    if (c.width < 0) out.append(pad, ' ');
    out += c.text;
    if (c.width > 0) out.append(pad, ' ');
  }
  return out;
}

std::string utc_time(std::optional<int64_t> seconds, const char* format) {
  if (!seconds) return "-";
  const auto t = static_cast<std::time_t>(*seconds);
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[64];
  return std::strftime(buf, sizeof buf, format, &tm) > 0 ? buf : "-";
}

}  // namespace aatune::cli
