// libFuzzer target for the line reader (plain and gzip input, continuation-line joining) and the
// parser behind it. The reader only reads files, so each input is served through a memfd.
// Besides sanitizer findings it checks that line numbers and offsets only grow and that no line
// exceeds kMaxLineBytes, then runs every logical line through contracts.h.
#include <sys/mman.h>
#include <unistd.h>

#include <cstddef>
#include <cstdint>
#include <string>

#include "collector/reader.h"
#include "tests/fuzz/contracts.h"

namespace {

using aatune::collector::LineReader;
using aatune::fuzz::contract_broken;

// Closes the memfd on every path out.
class Fd {
 public:
  explicit Fd(int fd) : fd_(fd) {}
  Fd(const Fd&) = delete;
  Fd& operator=(const Fd&) = delete;
  ~Fd() {
    if (fd_ >= 0) close(fd_);
  }
  [[nodiscard]] int get() const { return fd_; }

 private:
  int fd_;
};

bool write_all(int fd, const uint8_t* data, size_t size) {
  while (size > 0) {
    const ssize_t n = write(fd, data, size);
    if (n <= 0) return false;
    data += n;
    size -= static_cast<size_t>(n);
  }
  return true;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const Fd fd(memfd_create("fuzz_line_reader", MFD_CLOEXEC));
  if (fd.get() < 0 || !write_all(fd.get(), data, size)) return 0;
  auto reader = LineReader::open("/proc/self/fd/" + std::to_string(fd.get()));
  if (!reader) return 0;
  uint64_t last_line_no = 0;
  uint64_t last_offset = 0;
  bool first = true;
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
  }
  return 0;
}
