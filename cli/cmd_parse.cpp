// aatune parse [--format json|aalogparse] [--count] [FILE…]: records in, one result per record out.
#include <filesystem>
#include <map>
#include <nlohmann/json.hpp>
#include <ostream>
#include <string>
#include <vector>

#include "cli/commands.h"
#include "cli/common.h"
#include "collector/chunked_count.h"
#include "collector/format.h"
#include "collector/parser.h"
#include "collector/reader.h"

namespace aatune::cli {
namespace {

using collector::Event;

constexpr std::string_view kUsage =
    "usage: aatune parse [--format json|aalogparse] [--count] [FILE…]\n"
    "  Parses AppArmor records from audit.log, syslog/kern.log, dmesg or journal export text\n"
    "  (plain or .gz; no FILE or '-' reads stdin) and prints one result per record.\n"
    "  --format json        one JSON object per record (default)\n"
    "  --format aalogparse  libapparmor's test_multi layout, one block per line\n"
    "  --count              only per-class totals (a plain file on every core)\n";

enum class Format { kJson, kAalogparse };

using Totals = collector::ClassCounts;

void warn_invalid(std::ostream& err, const std::string& display, uint64_t line_no,
                  const collector::ParseError& error) {
  err << "aatune: warning: " << display << ':' << line_no << ": " << error.message;
  if (!error.field.empty()) err << " (field " << error.field << ')';
  err << '\n';
}

}  // namespace

int run_parse(const Invocation& inv) {
  Format format = Format::kJson;
  bool count = false;
  const collector::CountOptions count_options;  // one thread per core
  std::vector<std::string> files;
  for (size_t i = 0; i < inv.args.size(); ++i) {
    const std::string& a = inv.args[i];
    std::string value;
    if (a == "--help" || a == "-h") {
      inv.out << kUsage;
      return kExitOk;
    }
    if (a == "--count") {
      count = true;
      continue;
    }
    if (a == "--format" || a.starts_with("--format=")) {
      if (a == "--format") {
        if (i + 1 >= inv.args.size()) {
          inv.err << "aatune: error: --format needs a value (json or aalogparse)\n";
          return kExitUsage;
        }
        value = inv.args[++i];
      } else {
        value = a.substr(9);
      }
      if (value == "json") {
        format = Format::kJson;
      } else if (value == "aalogparse") {
        format = Format::kAalogparse;
      } else {
        inv.err << "aatune: error: unknown --format '" << value << "' (json or aalogparse)\n";
        return kExitUsage;
      }
      continue;
    }
    if (a.size() > 1 && a[0] == '-' && a != "--") {
      inv.err << "aatune: error: unknown option '" << a << "'\n" << kUsage;
      return kExitUsage;
    }
    if (a != "--") files.push_back(a);
  }
  if (files.empty()) files.emplace_back("-");

  // Open every file first: an unreadable one is a usage error before anything is printed.
  std::vector<collector::LineReader> readers;
  for (const auto& f : files) {
    auto reader = collector::LineReader::open(f);
    if (!reader) {
      inv.err << "aatune: error: " << f << ": " << reader.error().message << '\n';
      return kExitUsage;
    }
    readers.push_back(std::move(*reader));
  }

  Totals totals;
  std::string block;
  for (auto& reader : readers) {
    const std::string& path = reader.path();
    const std::string display = path == "-" ? "<stdin>" : path;
    const std::string base = path == "-" ? "-" : std::filesystem::path(path).filename().string();
    if (count) {
      // The chunked counter reads the file itself (on every core); it reports invalid records
      // in file order, with exact line numbers, like the sequential loop below.
      auto counted =
          collector::count_records(path, count_options, [&](const collector::InvalidLine& invalid) {
            warn_invalid(inv.err, display, invalid.line_no, invalid.error);
          });
      if (!counted) {
        inv.err << "aatune: error: " << display << ": " << counted.error().message << '\n';
        return kExitUsage;
      }
      totals += *counted;
      continue;
    }
    while (true) {
      auto next = reader.next();
      if (!next) {
        inv.err << "aatune: error: " << display << ": " << next.error().message << '\n';
        return kExitUsage;
      }
      if (!*next) break;
      const auto& line = **next;
      ++totals.lines;
      if (reader.last_truncated()) {
        ++totals.invalid;
        inv.err << "aatune: warning: " << display << ':' << line.line_no
                << ": line longer than 1 MiB, skipped\n";
        continue;
      }
      if (line.text.empty()) continue;
      // aalogparse mode shows what libapparmor would print for every line, so it needs the
      // partial record; the other modes take the prefiltered fast path.
      const bool all_lines = format == Format::kAalogparse && !count;
      if (!all_lines && !collector::may_be_apparmor(line.text)) {
        ++totals.other;
        continue;
      }
      const collector::ParseOutcome outcome = collector::parse_record(line.text);
      if (outcome.error) {
        if (outcome.error->kind == collector::ParseError::Kind::kInvalid) {
          ++totals.invalid;
          warn_invalid(inv.err, display, line.line_no, *outcome.error);
        } else {
          ++totals.other;
        }
      } else {
        ++totals.records;
      }
      if (format == Format::kAalogparse) {
        inv.out << collector::format_aalogparse(outcome.event, base);
      } else if (!outcome.error) {
        inv.out
            << to_json(outcome.event).dump(-1, ' ', false, nlohmann::json::error_handler_t::replace)
            << '\n';
      }
    }
  }
  if (count) {
    inv.out << "records " << totals.records << '\n';
    for (const auto& [cls, n] : totals.per_class) inv.out << "  " << cls << ' ' << n << '\n';
    inv.out << "invalid " << totals.invalid << '\n';
    inv.out << "not-apparmor " << totals.other << '\n';
    inv.out << "lines " << totals.lines << '\n';
  }
  return totals.invalid > 0 ? kExitFindings : kExitOk;
}

}  // namespace aatune::cli
