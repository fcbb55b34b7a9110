// Contract checks shared by the fuzz targets: the parser's promises, beyond "no crash".
#pragma once

#include <cstdio>
#include <cstdlib>
#include <string_view>

#include "collector/parser.h"

namespace aatune::fuzz {

[[noreturn]] inline void contract_broken(const char* what, std::string_view line) {
  std::fprintf(stderr, "fuzz: contract broken: %s\n  line: %.*s\n", what,
               static_cast<int>(line.size() > 400 ? 400 : line.size()), line.data());
  std::abort();
}

/// Parses one line every way the collector can and checks what the parser promises:
/// may_be_apparmor() == false means "certainly not ours", so parse_line must then not return an
/// Event (the prefilter would silently drop a record); an Event always keeps its raw text.
inline void check_line(std::string_view line) {
  const bool maybe = collector::may_be_apparmor(line);
  auto event = collector::parse_line(line);
  if (event) {
    if (!maybe) contract_broken("parse_line returned an Event but may_be_apparmor said no", line);
    if (event->raw.empty()) contract_broken("Event.raw is empty", line);
  }
  (void)collector::parse_companion(line);
}

}  // namespace aatune::fuzz
