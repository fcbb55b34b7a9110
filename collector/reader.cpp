// zlib's gz* API reads plain files transparently, so one code path serves plain, .gz (detected by
// magic bytes, whatever the name) and stdin. A regular plain file is read with read(2) straight
// into the buffer instead: zlib's transparent mode costs a second copy of every byte. The buffer
// is fixed; a line is copied out once.
#include "collector/reader.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <cstring>
#include <utility>

#include "collector/unique_fd.h"

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

// True for a regular file that does not start with gzip's magic bytes.
bool is_plain_regular_file(int fd) {
  struct stat st {};
  if (::fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) return false;
  std::array<unsigned char, 2> magic{};
  ssize_t got = 0;
  do {
    got = ::pread(fd, magic.data(), magic.size(), 0);
  } while (got < 0 && errno == EINTR);
  if (got < 0) return false;  // let zlib report the error
  return got < 2 || magic[0] != 0x1f || magic[1] != 0x8b;
}

// True when the line opened a USER_AVC msg='…' and did not close it: dbus-daemon's body ends in
// a raw newline, which syslog daemons and dmesg write as a continuation line.
bool has_open_user_msg(std::string_view text) {
  // Nearly every line has no single quote at all; memchr settles those at memory speed.
  // The last msg=' is open exactly when the line's last quote is its own: a later quote would
  // close it, and a last quote elsewhere means either a closed msg or none at all.
  const void* last = ::memrchr(text.data(), '\'', text.size());
  if (last == nullptr) return false;
  const auto q = static_cast<size_t>(static_cast<const char*>(last) - text.data());
  return q >= 4 && text.substr(q - 4, 5) == "msg='";
}

}  // namespace

struct LineReader::Impl {
  std::string path;
  std::unique_ptr<gzFile_s, GzCloser> file;  // null when reading `raw`
  UniqueFd raw;  // a plain file (the gzip path hands its descriptor to zlib instead)
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
  // The first single quote at or after `quote_from` in the buffer (or `end` if none up to the
  // last fill): one scan of the buffer serves every line up to that quote, which is far away
  // in a log that is not all USER_AVC records.
  size_t quote_from = 0;
  size_t quote_at = 0;
  bool quote_valid = false;

  // True when buffer[from, to) holds a single quote (from >= the previous call's `from`).
  bool has_quote(size_t from, size_t to) {
    if (!quote_valid || from < quote_from || from > quote_at) {
      // Stale (the buffer moved, grew past "none", or a quote was passed): scan from here.
      const void* q = std::memchr(buffer.data() + from, '\'', end - from);
      quote_at =
          q != nullptr ? static_cast<size_t>(static_cast<const char*>(q) - buffer.data()) : end;
      quote_from = from;
      quote_valid = true;
    }
    return quote_at < to;
  }

  std::expected<int, ReaderError> read_some(size_t max) {
    if (!file) {
      while (true) {
        const ssize_t n = ::read(raw.get(), buffer.data() + end, max);
        if (n >= 0) return static_cast<int>(n);
        if (errno != EINTR) return std::unexpected(ReaderError{path, std::strerror(errno)});
      }
    }
    const int n = gzread(file.get(), buffer.data() + end, static_cast<unsigned>(max));
    if (n < 0) {
      int errnum = 0;
      const char* msg = gzerror(file.get(), &errnum);
      return std::unexpected(ReaderError{
          path, errnum == Z_ERRNO ? std::strerror(errno) : std::string("gzip: ") + msg});
    }
    return n;
  }

  std::expected<bool, ReaderError> fill() {
    if (eof) return false;
    if (begin > 0) {
      // memmove, not erase: erase shrinks the string and the resize below would then zero-fill
      // a whole chunk before every read (6 % of `parse --count`).
      std::memmove(buffer.data(), buffer.data() + begin, end - begin);
      end -= begin;
      begin = 0;
      quote_valid = false;  // positions moved
    }
    if (buffer.size() < end + kChunk) buffer.resize(end + kChunk);
    auto got = read_some(kChunk);
    if (!got) return std::unexpected(got.error());
    const int n = *got;
    if (quote_at >= end) quote_valid = false;  // "none up to end" does not cover new bytes
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
  if (is_plain_regular_file(fd)) {
    auto impl = std::make_unique<Impl>();
    impl->path = path;
    impl->raw = UniqueFd(fd);
    if (start_offset > 0) {
      if (::lseek(fd, static_cast<off_t>(start_offset), SEEK_SET) < 0) {
        return std::unexpected(
            ReaderError{path, "cannot seek to offset " + std::to_string(start_offset)});
      }
      impl->stream_offset = start_offset;
      impl->resume_offset = start_offset;
    }
    return LineReader(std::move(impl));
  }
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
    // A continuation of blanks only adds that one space (found by fuzzing: substr(npos) threw).
    const size_t skip = text.find_first_not_of(" \t");
    const std::string_view rest =
        skip == std::string::npos ? std::string_view() : std::string_view(text).substr(skip);
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
      if (len <= kMaxLineBytes &&
          !(d.has_quote(d.begin, d.begin + len) && has_open_user_msg(text))) {
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

std::expected<std::optional<ScannedView>, ReaderError> LineReader::next_scanned() {
  Impl& d = *impl_;
  if (!d.pending) {
    // next_view()'s fast path with the scan in place of memchr and of the quote search.
    const char* start = d.buffer.data() + d.begin;
    const ScannedLine scan = scan_line(start, d.end - d.begin);
    if (scan.newline) {
      const std::string_view text(start, scan.length);
      if (scan.length <= kMaxLineBytes && !(scan.facts.quote && has_open_user_msg(text))) {
        ScannedView view{LineView{text, ++d.line_no, d.stream_offset}, scan.facts};
        d.begin += scan.length + 1;
        d.stream_offset += scan.length + 1;
        d.resume_offset = d.stream_offset;
        d.truncated = false;
        d.quote_valid = false;  // has_quote()'s cache did not follow this line
        return view;
      }
    }
  }
  auto line = next_view();
  if (!line) return std::unexpected(line.error());
  if (!*line) return std::optional<ScannedView>();
  return ScannedView{**line, std::nullopt};
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
