// libFuzzer target for the line reader (plain and gzip input, continuation-line joining) and the
// parser behind it. The reader only reads files, so each input is served through a memfd.
// Besides sanitizer findings it checks that line numbers and offsets only grow and that no line
// exceeds kMaxLineBytes, then runs every logical line through contracts.h. A second pass with the
// counting path's next_scanned() must give the same lines, scan_line()'s facts must be those of
// the line, and classify_scanned() must agree with classify_line().
#include <sys/mman.h>
#include <unistd.h>

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "collector/format.h"
#include "collector/parser.h"
#include "collector/reader.h"
#include "collector/unique_fd.h"
#include "tests/fuzz/contracts.h"

namespace {

using aatune::collector::LineReader;
using aatune::fuzz::contract_broken;

bool write_all(int fd, const uint8_t* data, size_t size) {
  while (size > 0) {
    const ssize_t n = write(fd, data, size);
    if (n <= 0) return false;
    data += n;
    size -= static_cast<size_t>(n);
  }
  return true;
}

// The counting path reads the same input through next_scanned(): same lines, true facts, and
// the same verdict from classify_scanned() as from classify_line().
void check_scanned_path(int fd, const std::vector<aatune::collector::RawLine>& expected) {
  using namespace aatune::collector;
  auto reader = LineReader::open("/proc/self/fd/" + std::to_string(fd));
  if (!reader) contract_broken("reader could not reopen its input", "");
  Event scanned_event;
  Event classified_event;
  size_t i = 0;
  for (;; ++i) {
    auto next = reader->next_scanned();
    if (!next || !next->has_value()) break;
    const ScannedView& v = **next;
    if (i >= expected.size() || v.line.text != expected[i].text ||
        v.line.line_no != expected[i].line_no || v.line.offset != expected[i].offset) {
      contract_broken("next_scanned() differs from next()", std::string(v.line.text));
    }
    if (!v.facts) continue;
    const std::string_view text = v.line.text;
    const LineFacts& f = *v.facts;
    if (f.may_be_apparmor != may_be_apparmor(text) ||
        f.nul != (text.find('\0') != std::string_view::npos) ||
        f.quote != (text.find('\'') != std::string_view::npos) ||
        f.high_bit != std::ranges::any_of(text, [](char c) { return (c & 0x80) != 0; })) {
      contract_broken("scan_line() facts are not the line's", std::string(text));
    }
    const auto a = classify_scanned(text, f, scanned_event);
    const auto b = classify_line(text, classified_event);
    if (a.has_value() != b.has_value() || (a && (a->kind != b->kind || a->message != b->message)) ||
        (!a && record_class(scanned_event) != record_class(classified_event))) {
      contract_broken("classify_scanned() differs from classify_line()", std::string(text));
    }
  }
  if (i != expected.size()) contract_broken("next_scanned() returned a different line count", "");
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const aatune::collector::UniqueFd fd(memfd_create("fuzz_line_reader", MFD_CLOEXEC));
  if (fd.get() < 0 || !write_all(fd.get(), data, size)) return 0;
  auto reader = LineReader::open("/proc/self/fd/" + std::to_string(fd.get()));
  if (!reader) return 0;
  uint64_t last_line_no = 0;
  uint64_t last_offset = 0;
  bool first = true;
  std::vector<aatune::collector::RawLine> lines;
  for (;;) {
    auto next = reader->next();
    if (!next || !next->has_value()) break;
    const auto& raw = **next;
    if (!first && (raw.line_no <= last_line_no || raw.offset <= last_offset)) {
      contract_broken("reader line numbers or offsets went backwards", raw.text);
    }
    if (raw.text.size() > LineReader::kMaxLineBytes) {
      contract_broken("reader returned a line longer than kMaxLineBytes", raw.text);
    }
    first = false;
    last_line_no = raw.line_no;
    last_offset = raw.offset;
    aatune::fuzz::check_line(raw.text);
    lines.push_back(raw);
  }
  check_scanned_path(fd.get(), lines);
  return 0;
}
