// zlib's gz* API reads plain files transparently, so one code path serves plain, .gz (detected by
// magic bytes, whatever the name) and stdin. The buffer is fixed; a line is copied out once.
#include "collector/reader.h"

#include <fcntl.h>
#include <unistd.h>
#include <zlib.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <utility>

namespace aatune::collector {
namespace {

constexpr size_t kChunk = 256 * 1024;
// A wrapped record is joined with at most this many continuation lines (dbus-daemon writes one).
constexpr int kMaxContinuations = 4;

struct GzCloser {
  void operator()(gzFile f) const {
    if (f != nullptr) gzclose(f);
  }
};

// True when the line opened a USER_AVC msg='…' and did not close it: dbus-daemon's body ends in
// a raw newline, which syslog daemons and dmesg write as a continuation line.
bool has_open_user_msg(std::string_view text) {
  // Nearly every line has no single quote at all; memchr settles those at memory speed.
  if (std::memchr(text.data(), '\'', text.size()) == nullptr) return false;
  const size_t open = text.rfind("msg='");
  if (open == std::string_view::npos) return false;
  return text.find('\'', open + 5) == std::string_view::npos;
}

}  // namespace

struct LineReader::Impl {
  std::string path;
  std::unique_ptr<gzFile_s, GzCloser> file;
  std::string buffer;
  size_t begin = 0;  // unread data is buffer[begin, end)
  size_t end = 0;
  bool eof = false;
  uint64_t stream_offset = 0;  // decompressed offset of buffer[begin]
  uint64_t line_no = 0;        // physical lines consumed
  uint64_t resume_offset = 0;  // end of the last logical line returned
  bool truncated = false;
  std::optional<RawLine> pending;  // a physical line read ahead while looking for a continuation
  bool pending_truncated = false;
  RawLine view_line;  // next_view()'s copy when a line could not be served from the buffer

  std::expected<bool, ReaderError> fill() {
    if (eof) return false;
    if (begin > 0) {
      buffer.erase(0, begin);
      end -= begin;
      begin = 0;
    }
    if (buffer.size() < end + kChunk) buffer.resize(end + kChunk);
    const int n = gzread(file.get(), buffer.data() + end, static_cast<unsigned>(kChunk));
    if (n < 0) {
      int errnum = 0;
      const char* msg = gzerror(file.get(), &errnum);
      return std::unexpected(ReaderError{
          path, errnum == Z_ERRNO ? std::strerror(errno) : std::string("gzip: ") + msg});
    }
    if (n == 0) {
      eof = true;
      return false;
    }
    end += static_cast<size_t>(n);
    return true;
  }

  // One physical line; lines over the limit keep their first kMaxLineBytes and the rest is
  // skipped without being stored (memory stays flat).
  std::expected<std::optional<RawLine>, ReaderError> physical(bool& was_truncated) {
    was_truncated = false;
    RawLine out;
    out.offset = stream_offset;
    bool any = false;
    while (true) {
      const char* start = buffer.data() + begin;
      const void* nl = std::memchr(start, '\n', end - begin);
      const size_t avail =
          nl != nullptr ? static_cast<size_t>(static_cast<const char*>(nl) - start) : end - begin;
      if (avail > 0) any = true;
      const size_t room = kMaxLineBytes > out.text.size() ? kMaxLineBytes - out.text.size() : 0;
      if (avail > room) was_truncated = true;
      out.text.append(start, std::min(avail, room));
      if (nl != nullptr) {
        begin += avail + 1;
        stream_offset += avail + 1;
        ++line_no;
        out.line_no = line_no;
        return out;
      }
      begin += avail;
      stream_offset += avail;
      auto more = fill();
      if (!more) return std::unexpected(more.error());
      if (!*more) {
        if (!any) return std::optional<RawLine>();
        ++line_no;
        out.line_no = line_no;
        return out;
      }
    }
  }
};

LineReader::LineReader(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
LineReader::LineReader(LineReader&&) noexcept = default;
LineReader& LineReader::operator=(LineReader&&) noexcept = default;
LineReader::~LineReader() = default;

std::expected<LineReader, ReaderError> LineReader::open(const std::string& path,
                                                        uint64_t start_offset) {
  int fd = -1;
  if (path == "-") {
    fd = ::dup(STDIN_FILENO);
  } else {
    fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  }
  if (fd < 0) return std::unexpected(ReaderError{path, std::strerror(errno)});
  gzFile gz = gzdopen(fd, "rb");
  if (gz == nullptr) {
    ::close(fd);
    return std::unexpected(ReaderError{path, "cannot open (out of memory)"});
  }
  gzbuffer(gz, 128 * 1024);
  auto impl = std::make_unique<Impl>();
  impl->path = path;
  impl->file.reset(gz);
  if (start_offset > 0) {
    // For plain files gzseek is an lseek; for gzip it decompresses forward (there is no index).
    if (gzseek(gz, static_cast<z_off_t>(start_offset), SEEK_SET) < 0) {
      return std::unexpected(
          ReaderError{path, "cannot seek to offset " + std::to_string(start_offset)});
    }
    impl->stream_offset = start_offset;
    impl->resume_offset = start_offset;
  }
  return LineReader(std::move(impl));
}

std::expected<std::optional<RawLine>, ReaderError> LineReader::next() {
  Impl& d = *impl_;
  std::optional<RawLine> line;
  bool truncated = false;
  if (d.pending) {
    line = std::move(d.pending);
    truncated = d.pending_truncated;
    d.pending.reset();
  } else {
    auto got = d.physical(truncated);
    if (!got) return std::unexpected(got.error());
    line = std::move(*got);
  }
  if (!line) {
    d.truncated = false;
    return std::optional<RawLine>();
  }
  uint64_t line_end = d.pending ? d.pending->offset : d.stream_offset;
  for (int joined = 0; joined < kMaxContinuations && !truncated && has_open_user_msg(line->text);
       ++joined) {
    bool next_truncated = false;
    auto next = d.physical(next_truncated);
    if (!next) return std::unexpected(next.error());
    if (!*next) break;
    const std::string& text = (*next)->text;
    if (text.empty() || (text[0] != ' ' && text[0] != '\t')) {
      d.pending = std::move(*next);
      d.pending_truncated = next_truncated;
      break;
    }
    // The wrapped newline was whitespace inside the record; one space keeps the tokens apart.
    const size_t skip = text.find_first_not_of(" \t");
    const std::string_view rest = std::string_view(text).substr(skip);
    if (line->text.size() + 1 + rest.size() > kMaxLineBytes) {
      truncated = true;
      line->text.append(" ").append(rest.substr(0, kMaxLineBytes - line->text.size() - 1));
    } else {
      line->text.append(" ").append(rest);
    }
    line_end = d.stream_offset;
  }
  d.resume_offset = d.pending ? d.pending->offset : line_end;
  d.truncated = truncated;
  return line;
}

std::expected<std::optional<LineView>, ReaderError> LineReader::next_view() {
  Impl& d = *impl_;
  if (!d.pending) {
    // The common case: the whole line is already in the buffer and is not a wrapped record.
    const char* start = d.buffer.data() + d.begin;
    const void* nl = std::memchr(start, '\n', d.end - d.begin);
    if (nl != nullptr) {
      const auto len = static_cast<size_t>(static_cast<const char*>(nl) - start);
      const std::string_view text(start, len);
      if (len <= kMaxLineBytes && !has_open_user_msg(text)) {
        LineView view{text, ++d.line_no, d.stream_offset};
        d.begin += len + 1;
        d.stream_offset += len + 1;
        d.resume_offset = d.stream_offset;
        d.truncated = false;
        return view;
      }
    }
  }
  auto line = next();
  if (!line) return std::unexpected(line.error());
  if (!*line) return std::optional<LineView>();
  d.view_line = std::move(**line);
  return LineView{d.view_line.text, d.view_line.line_no, d.view_line.offset};
}

uint64_t LineReader::offset() const {
  return impl_->resume_offset;
}
const std::string& LineReader::path() const {
  return impl_->path;
}
bool LineReader::last_truncated() const {
  return impl_->truncated;
}

}  // namespace aatune::collector
