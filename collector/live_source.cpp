#include "collector/live_source.h"

#include <fcntl.h>
#include <libaudit.h>
#include <linux/audit.h>
#include <linux/netlink.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <charconv>
#include <cstring>
#include <string_view>
#include <utility>

namespace aatune::collector {
namespace {

// The kernel caps a record at a few pages (a 12,281-byte AVC was observed, records.md §0.4);
// libaudit's 8970-byte reply buffer is too small for that, so we receive into our own.
constexpr size_t kReceiveBuffer = 1 << 16;
// Datagrams taken per recvmmsg(); each gets a kReceiveBuffer slot (only touched pages cost).
constexpr size_t kSlots = 32;
// AUDIT_REPLACE probes are binary pids for a registered daemon; never a record.
constexpr int kAuditReplace = 1329;

std::string errno_text(int err) {
  return std::strerror(err);
}

int poll_readable(int fd, std::chrono::milliseconds timeout) {
  pollfd p{fd, POLLIN, 0};
  return ::poll(&p, 1, static_cast<int>(timeout.count()));
}

int hex_value(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

// Serials are 32-bit and wrap; `previous` is the unwrapped highest seen. The unwrapped value
// nearest to it is the one meant (a record is never 2^31 serials late).
uint64_t unwrap(uint32_t serial, uint64_t previous) {
  constexpr uint64_t kSpan = uint64_t{1} << 32;
  const uint64_t base = previous & ~(kSpan - 1);
  uint64_t candidate = base | serial;
  if (candidate + kSpan / 2 < previous) {
    candidate += kSpan;
  } else if (candidate > previous + kSpan / 2 && candidate >= kSpan) {
    candidate -= kSpan;
  }
  return candidate;
}

// A hole map this large means a flood of gaps: count the oldest at once instead of growing.
constexpr size_t kMaxHoles = 1 << 16;

}  // namespace

std::optional<uint32_t> audit_serial_of(std::string_view text) {
  // "audit(1795424599.929:5): …" -> 5
  const auto open = text.find("audit(");
  if (open == std::string_view::npos) return std::nullopt;
  const auto close = text.find(')', open);
  if (close == std::string_view::npos) return std::nullopt;
  const auto colon = text.rfind(':', close);
  if (colon == std::string_view::npos || colon < open) return std::nullopt;
  uint32_t serial = 0;
  const auto [ptr, ec] = std::from_chars(text.data() + colon + 1, text.data() + close, serial);
  if (ec != std::errc() || ptr != text.data() + close) return std::nullopt;
  return serial;
}

std::optional<KernelAuditStatus> read_kernel_audit_status() {
  // AUDIT_GET needs CAP_AUDIT_CONTROL; without it the kernel's count stays unknown, not zero.
  const int fd = audit_open();
  if (fd < 0) return std::nullopt;
  std::optional<KernelAuditStatus> status;
  if (audit_request_status(fd) > 0) {
    audit_reply reply{};
    if (audit_get_reply(fd, &reply, GET_REPLY_BLOCKING, 0) > 0 && reply.type == AUDIT_GET &&
        reply.status != nullptr) {
      status = KernelAuditStatus{reply.status->lost, reply.status->pid};
    }
  }
  audit_close(fd);
  return status;
}

std::optional<uint32_t> read_kernel_lost() {
  if (const auto status = read_kernel_audit_status()) return status->lost;
  return std::nullopt;
}

// ---------------------------------------------------------------------------------------------
// SerialTracker

SerialTracker::SerialTracker(std::chrono::milliseconds grace) : grace_(grace) {}

void SerialTracker::note(uint32_t serial, Clock::time_point now) {
  if (!highest_) {
    highest_ = serial;
    return;
  }
  const uint64_t s = unwrap(serial, *highest_);
  if (s > *highest_) {
    if (s > *highest_ + 1) holes_.emplace(*highest_ + 1, Hole{s, now});
    highest_ = s;
    if (holes_.size() > kMaxHoles) {
      auto oldest = holes_.begin();
      missing_ += oldest->second.end - oldest->first;
      holes_.erase(oldest);
    }
    return;
  }
  // Late (reordered) or a further record of an event already seen: fill its hole, if any.
  auto it = holes_.upper_bound(s);
  if (it == holes_.begin()) return;
  --it;
  const uint64_t start = it->first;
  const Hole hole = it->second;
  if (s >= hole.end) return;
  holes_.erase(it);
  if (start < s) holes_.emplace(start, Hole{s, hole.noticed});
  if (s + 1 < hole.end) holes_.emplace(s + 1, Hole{hole.end, hole.noticed});
}

uint64_t SerialTracker::settle(Clock::time_point now) {
  for (auto it = holes_.begin(); it != holes_.end();) {
    if (now - it->second.noticed >= grace_) {
      missing_ += it->second.end - it->first;
      it = holes_.erase(it);
    } else {
      ++it;
    }
  }
  return missing_;
}

uint64_t SerialTracker::finish() {
  for (const auto& [start, hole] : holes_) missing_ += hole.end - start;
  holes_.clear();
  return missing_;
}

uint64_t SerialTracker::open() const {
  uint64_t total = 0;
  for (const auto& [start, hole] : holes_) total += hole.end - start;
  return total;
}

// ---------------------------------------------------------------------------------------------
// NetlinkSource

std::expected<NetlinkSource, std::string> NetlinkSource::open(int receive_buffer) {
  const int fd = ::socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_AUDIT);
  if (fd < 0) {
    if (errno == EPROTONOSUPPORT) {
      return std::unexpected(
          "audit netlink: the kernel's audit subsystem is off (audit=0 on the kernel command "
          "line?): no AppArmor record reaches netlink or kmsg");
    }
    return std::unexpected("audit netlink: socket: " + errno_text(errno));
  }
  NetlinkSource source(fd);
  // SO_RCVBUFFORCE ignores rmem_max but needs CAP_NET_ADMIN; fall back to what we may have.
  if (::setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &receive_buffer, sizeof receive_buffer) != 0) {
    (void)::setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &receive_buffer, sizeof receive_buffer);
  }
  sockaddr_nl addr{};
  addr.nl_family = AF_NETLINK;
  addr.nl_groups = 1u << (AUDIT_NLGRP_READLOG - 1);
  if (::bind(fd, reinterpret_cast<const sockaddr*>(&addr), sizeof addr) != 0) {
    const int err = errno;
    if (err == EPERM) {
      return std::unexpected(
          "audit netlink: joining the read-only multicast group needs CAP_AUDIT_READ in the "
          "initial user namespace (run as root, or grant cap_audit_read)");
    }
    return std::unexpected("audit netlink: bind: " + errno_text(err));
  }
  source.buffer_.resize(kReceiveBuffer * kSlots);
  return source;
}

NetlinkSource::NetlinkSource(NetlinkSource&& other) noexcept
    : fd_(std::exchange(other.fd_, -1)),
      overflow_episodes_(other.overflow_episodes_),
      tail_(other.tail_),
      uncountable_(other.uncountable_),
      serials_(std::move(other.serials_)),
      buffer_(std::move(other.buffer_)) {}

NetlinkSource& NetlinkSource::operator=(NetlinkSource&& other) noexcept {
  if (this != &other) {
    if (fd_ >= 0) ::close(fd_);
    fd_ = std::exchange(other.fd_, -1);
    overflow_episodes_ = other.overflow_episodes_;
    tail_ = other.tail_;
    uncountable_ = other.uncountable_;
    serials_ = std::move(other.serials_);
    buffer_ = std::move(other.buffer_);
  }
  return *this;
}

NetlinkSource::~NetlinkSource() {
  if (fd_ >= 0) ::close(fd_);
}

std::expected<std::vector<LiveLine>, std::string> NetlinkSource::read(
    std::chrono::milliseconds timeout, size_t max_records) {
  std::vector<LiveLine> lines;
  const int ready = poll_readable(fd_, timeout);
  const auto now = SerialTracker::Clock::now();
  (void)serials_.settle(now);
  if (ready < 0) {
    if (errno == EINTR) return lines;
    return std::unexpected("audit netlink: poll: " + errno_text(errno));
  }
  if (ready == 0) return lines;
  // recvmmsg takes up to kSlots datagrams per system call: one recv() per record was a large
  // share of the receive thread's CPU during a burst.
  const size_t slot_size = buffer_.size() / kSlots;
  std::array<iovec, kSlots> iov{};
  std::array<mmsghdr, kSlots> messages{};
  while (lines.size() < max_records) {
    const size_t want = std::min(kSlots, max_records - lines.size());
    for (size_t i = 0; i < want; ++i) {
      iov[i] = {buffer_.data() + i * slot_size, slot_size};
      messages[i] = {};
      messages[i].msg_hdr.msg_iov = &iov[i];
      messages[i].msg_hdr.msg_iovlen = 1;
    }
    const int got = ::recvmmsg(fd_, messages.data(), static_cast<unsigned>(want),
                               MSG_DONTWAIT | MSG_TRUNC, nullptr);
    if (got < 0) {
      if (errno == EAGAIN || errno == EWOULDBLOCK) {
        if (tail_ == Tail::kOverflowed) tail_ = Tail::kDrained;
        break;
      }
      if (errno == EINTR) break;
      if (errno == ENOBUFS) {
        // The multicast copy overflowed our receive buffer: records were dropped for us only.
        note_overflow();
        continue;
      }
      return std::unexpected("audit netlink: recv: " + errno_text(errno));
    }
    bool grow = false;
    for (int m = 0; m < got; ++m) {
      const size_t received = messages[m].msg_len;
      if ((messages[m].msg_hdr.msg_flags & MSG_TRUNC) != 0 || received > slot_size) {
        // Truncated datagram: grow for the next ones; this one is lost and counted.
        grow = true;
        note_overflow();
        continue;
      }
      // One record per datagram. The payload length comes from what recvmmsg() returned, never
      // from nlmsg_len: a unicast copy carries the payload length there, the multicast copy the
      // full length (records.md §2.1), and a hostile or odd value must not steer our reads.
      if (received < NLMSG_HDRLEN) continue;
      const char* slot = buffer_.data() + static_cast<size_t>(m) * slot_size;
      const auto* header = reinterpret_cast<const nlmsghdr*>(slot);
      const int type = header->nlmsg_type;
      if (type == NLMSG_ERROR || type == NLMSG_DONE || type == NLMSG_NOOP) continue;
      if (type == kAuditReplace) continue;
      const char* data = slot + NLMSG_HDRLEN;
      size_t length = received - NLMSG_HDRLEN;
      // The payload is not NUL-terminated; trailing NULs are padding.
      while (length > 0 && data[length - 1] == '\0') --length;
      LiveLine& line = lines.emplace_back();
      line.type = type;
      // "type=N msg=" + payload, built in one allocation.
      char prefix[32];
      std::memcpy(prefix, "type=", 5);
      const char* end = std::to_chars(prefix + 5, prefix + sizeof prefix, type).ptr;
      const size_t prefix_length = static_cast<size_t>(end - prefix);
      line.text.reserve(prefix_length + 5 + length);
      line.text.append(prefix, prefix_length).append(" msg=").append(data, length);
      if (const auto serial = audit_serial_of(std::string_view(data, length))) {
        serials_.note(*serial, now);
        if (tail_ == Tail::kDrained) tail_ = Tail::kCounted;
      }
    }
    if (grow) buffer_.resize(buffer_.size() * 2);
    if (static_cast<size_t>(got) < want) {
      // The socket is empty for now.
      if (tail_ == Tail::kOverflowed) tail_ = Tail::kDrained;
      break;
    }
  }
  return lines;
}

void NetlinkSource::note_overflow() {
  ++overflow_episodes_;
  tail_ = Tail::kOverflowed;
  // The next serial measures the gap only from an earlier one: with none yet, the number of
  // records dropped now stays unknown for good (reported as such, never as zero).
  if (!serials_.has_baseline()) uncountable_ = true;
}

LossReport NetlinkSource::counted_losses() const {
  LossReport report;
  report.overflow_episodes = overflow_episodes_;
  report.serial_gaps = serials_.missing();
  report.uncounted_tail = tail_ != Tail::kCounted || uncountable_;
  return report;
}

LossReport NetlinkSource::losses() const {
  LossReport report = counted_losses();
  if (const auto status = read_kernel_audit_status()) {
    report.kernel_lost = status->lost;
    report.audit_daemon = status->daemon_pid != 0;
  }
  return report;
}

// ---------------------------------------------------------------------------------------------
// KmsgSource

std::optional<KmsgRecord> decode_kmsg_record(std::string_view record) {
  const auto semicolon = record.find(';');
  if (semicolon == std::string_view::npos) return std::nullopt;
  const std::string_view header = record.substr(0, semicolon);
  const auto first_comma = header.find(',');
  if (first_comma == std::string_view::npos) return std::nullopt;
  const auto second_comma = header.find(',', first_comma + 1);
  const auto seq_end = second_comma == std::string_view::npos ? header.size() : second_comma;
  KmsgRecord out;
  const auto [ptr, ec] =
      std::from_chars(header.data() + first_comma + 1, header.data() + seq_end, out.seq);
  if (ec != std::errc() || ptr != header.data() + seq_end) return std::nullopt;
  std::string_view text = record.substr(semicolon + 1);
  // Dictionary continuation lines (" KEY=value") follow the first newline.
  if (const auto nl = text.find('\n'); nl != std::string_view::npos) text = text.substr(0, nl);
  out.text.reserve(text.size());
  for (size_t i = 0; i < text.size(); ++i) {
    // kmsg escapes non-printable bytes as \xNN (records.md §4.10: an embedded newline is \x0a).
    if (text[i] == '\\' && i + 3 < text.size() && text[i + 1] == 'x') {
      const int hi = hex_value(text[i + 2]);
      const int lo = hex_value(text[i + 3]);
      if (hi >= 0 && lo >= 0) {
        out.text.push_back(static_cast<char>(hi * 16 + lo));
        i += 3;
        continue;
      }
    }
    out.text.push_back(text[i]);
  }
  return out;
}

std::expected<KmsgSource, std::string> KmsgSource::open(bool from_start, const std::string& path) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_NONBLOCK | O_CLOEXEC);
  if (fd < 0) {
    const int err = errno;
    if (err == EPERM || err == EACCES) {
      return std::unexpected(path +
                             ": reading the kernel log needs CAP_SYSLOG "
                             "(kernel.dmesg_restrict=1)");
    }
    return std::unexpected(path + ": " + errno_text(err));
  }
  KmsgSource source(fd);
  if (!from_start && ::lseek(fd, 0, SEEK_END) < 0) {
    return std::unexpected(path + ": seek to end: " + errno_text(errno));
  }
  return source;
}

KmsgSource::KmsgSource(KmsgSource&& other) noexcept
    : fd_(std::exchange(other.fd_, -1)), missed_(other.missed_), last_seq_(other.last_seq_) {}

KmsgSource& KmsgSource::operator=(KmsgSource&& other) noexcept {
  if (this != &other) {
    if (fd_ >= 0) ::close(fd_);
    fd_ = std::exchange(other.fd_, -1);
    missed_ = other.missed_;
    last_seq_ = other.last_seq_;
  }
  return *this;
}

KmsgSource::~KmsgSource() {
  if (fd_ >= 0) ::close(fd_);
}

std::expected<std::vector<LiveLine>, std::string> KmsgSource::read(
    std::chrono::milliseconds timeout, size_t max_records) {
  std::vector<LiveLine> lines;
  const int ready = poll_readable(fd_, timeout);
  if (ready < 0) {
    if (errno == EINTR) return lines;
    return std::unexpected("kmsg: poll: " + errno_text(errno));
  }
  if (ready == 0) return lines;
  // One record per read(); a printk record is at most 1 KiB of text plus its dictionary.
  char buffer[8192];
  for (size_t records = 0; records < max_records; ++records) {
    const ssize_t n = ::read(fd_, buffer, sizeof buffer);
    if (n < 0) {
      if (errno == EAGAIN || errno == EINTR) break;
      if (errno == EPIPE) {
        // The ring buffer overwrote records we had not read yet. The next read returns the
        // oldest one left, and the jump in its sequence number counts exactly what was lost.
        continue;
      }
      return std::unexpected("kmsg: read: " + errno_text(errno));
    }
    if (n == 0) break;
    auto record = decode_kmsg_record(std::string_view(buffer, static_cast<size_t>(n)));
    if (!record) continue;
    if (last_seq_ && record->seq > *last_seq_ + 1) missed_ += record->seq - *last_seq_ - 1;
    last_seq_ = record->seq;
    constexpr std::string_view kPrefix = "audit: type=";
    if (!record->text.starts_with(kPrefix)) continue;
    LiveLine line;
    std::from_chars(record->text.data() + kPrefix.size(), record->text.data() + record->text.size(),
                    line.type);
    line.text = std::move(record->text);
    lines.push_back(std::move(line));
  }
  return lines;
}

// ---------------------------------------------------------------------------------------------
// LiveReceiver

namespace {

// Short enough that stop() is prompt, long enough that an idle thread costs nothing.
constexpr auto kReceiveSlice = std::chrono::milliseconds(100);
// See LiveReceiver::run: after a read of fewer records than this, wait kGatherNap.
constexpr size_t kGatherBelow = 256;
constexpr auto kGatherNap = std::chrono::milliseconds(2);

std::expected<std::vector<LiveLine>, std::string> read_any(LiveReceiver::Source& source,
                                                           std::chrono::milliseconds timeout) {
  return std::visit([&](auto& s) { return s.read(timeout); }, source);
}

LossReport counted_losses(const LiveReceiver::Source& source) {
  if (const auto* nl = std::get_if<NetlinkSource>(&source)) return nl->counted_losses();
  LossReport report;
  report.overwritten = std::get<KmsgSource>(source).missed();
  return report;
}

}  // namespace

LiveReceiver::LiveReceiver(Source source, size_t max_queued_bytes)
    : source_(std::make_unique<Source>(std::move(source))), shared_(std::make_unique<Shared>()) {
  thread_ = std::jthread(
      [source = source_.get(), shared = shared_.get(), max_queued_bytes](std::stop_token stop) {
        run(std::move(stop), *source, *shared, max_queued_bytes);
      });
}

LiveReceiver::~LiveReceiver() {
  stop();
}

void LiveReceiver::run(std::stop_token stop, Source& source, Shared& shared,
                       size_t max_queued_bytes) {
  auto publish = [&](std::vector<LiveLine>& lines) {
    const LossReport losses = counted_losses(source);
    std::lock_guard lock(shared.mutex);
    const uint64_t dropped = shared.losses.queue_dropped;
    shared.losses = losses;
    shared.losses.queue_dropped = dropped;
    shared.records += lines.size();
    for (auto& line : lines) {
      const size_t bytes = line.text.size() + sizeof(LiveLine);
      if (shared.queued_bytes + bytes > max_queued_bytes) {
        ++shared.losses.queue_dropped;
        continue;
      }
      shared.queued_bytes += bytes;
      shared.queue.push_back(std::move(line));
    }
    if (!lines.empty()) shared.ready.notify_one();
  };
  auto fail = [&](std::string error) {
    std::lock_guard lock(shared.mutex);
    shared.error = std::move(error);
    shared.ready.notify_one();
  };
  while (!stop.stop_requested()) {
    auto lines = read_any(source, kReceiveSlice);
    if (!lines) return fail(lines.error());
    const size_t got = lines->size();
    publish(*lines);
    // A burst at a moderate rate would otherwise wake this thread, and the consumer, for every
    // few records: those context switches cost more than the records. A short nap lets a batch
    // gather; the socket buffer holds far more than arrives meanwhile, so nothing is lost.
    if (got > 0 && got < kGatherBelow) std::this_thread::sleep_for(kGatherNap);
  }
  // A last drain of what the kernel already queued for us, then the end of input.
  for (;;) {
    auto lines = read_any(source, std::chrono::milliseconds(0));
    if (!lines) return fail(lines.error());
    if (lines->empty()) break;
    publish(*lines);
  }
  if (auto* nl = std::get_if<NetlinkSource>(&source)) nl->finish();
  std::vector<LiveLine> none;
  publish(none);
}

void LiveReceiver::stop() {
  if (!thread_.joinable()) return;
  thread_.request_stop();
  thread_.join();
}

std::expected<std::vector<LiveLine>, std::string> LiveReceiver::take(
    std::chrono::milliseconds timeout, size_t max_records) {
  std::vector<LiveLine> out;
  std::unique_lock lock(shared_->mutex);
  shared_->ready.wait_for(lock, timeout,
                          [&] { return !shared_->queue.empty() || shared_->error.has_value(); });
  if (shared_->queue.empty() && shared_->error) return std::unexpected(*shared_->error);
  const size_t n = std::min(max_records, shared_->queue.size());
  out.reserve(n);
  for (size_t i = 0; i < n; ++i) {
    shared_->queued_bytes -= shared_->queue.front().text.size() + sizeof(LiveLine);
    out.push_back(std::move(shared_->queue.front()));
    shared_->queue.pop_front();
  }
  return out;
}

LossReport LiveReceiver::losses() const {
  std::lock_guard lock(shared_->mutex);
  return shared_->losses;
}

uint64_t LiveReceiver::records() const {
  std::lock_guard lock(shared_->mutex);
  return shared_->records;
}

}  // namespace aatune::collector
