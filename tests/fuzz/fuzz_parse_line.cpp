// libFuzzer target for the record parser.
//
// Logs are attacker-influenced text (any local user can put words into syslog), so the parser
// must survive every byte sequence. Besides "no crash, no sanitizer report", contracts.h checks
// the parser's own promises and aborts when one is broken. The reader's joining of wrapped lines
// has its own target (fuzz_line_reader.cpp): it only reads files, which is far slower per input.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "collector/parser.h"
#include "tests/fuzz/contracts.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view input(reinterpret_cast<const char*>(data), size);

  // The whole input as one "line" (embedded newlines and NULs included) ...
  (void)aatune::collector::parse_line(input);
  (void)aatune::collector::may_be_apparmor(input);

  // ... then each physical line, as a reader splits them.
  for (size_t start = 0; start <= input.size();) {
    size_t end = input.find('\n', start);
    if (end == std::string_view::npos) end = input.size();
    aatune::fuzz::check_line(input.substr(start, end - start));
    start = end + 1;
  }
  return 0;
}
