// Live record sources: the kernel audit netlink multicast group and /dev/kmsg.
//
// Both hand back log lines in a form `parse_line()` understands (`type=1400 msg=audit(…): …` for
// netlink, `audit: type=1400 …` for kmsg), so there is one grammar for every source.
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <expected>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <thread>
#include <variant>
#include <vector>

namespace aatune::collector {

/// One record as it arrived, turned into a line of text.
struct LiveLine {
  int type = 0;      ///< Audit record type (1400 AVC, 1107 USER_AVC, 1300 SYSCALL, 1320 EOE, …).
  std::string text;  ///< `type=N msg=audit(…): body` (netlink) or the kmsg text after `;`.
};

/// Loss accounting: every loss is reported with a number, never silent.
struct LossReport {
  uint64_t overflow_episodes = 0;       ///< ENOBUFS on our socket (each hides an unknown count).
  std::optional<uint32_t> kernel_lost;  ///< audit_status.lost (needs CAP_AUDIT_CONTROL).
  /// An audit daemon is registered (audit_status.pid != 0); unknown without CAP_AUDIT_CONTROL.
  /// Without one, a kernel booted with audit=1 also counts its hold-queue overflows in `lost`:
  /// records that were multicast to us all the same, so `kernel_lost` then overstates our loss.
  std::optional<bool> audit_daemon;
  uint64_t serial_gaps = 0;    ///< Serials that never reached us: the exact count ENOBUFS hides.
  uint64_t queue_dropped = 0;  ///< Records our own bounded queue had to drop (exact).
  uint64_t overwritten = 0;    ///< kmsg: records the ring overwrote before we read them.
  /// netlink: no record arrived after the last overflow, or an overflow came before the first
  /// serial was seen. What it dropped has no pair of serials around it to show the gap, so
  /// `serial_gaps` cannot count it: the loss is real, its number unknown.
  bool uncounted_tail = false;
};

/// What AUDIT_GET tells about the kernel's side of delivery.
struct KernelAuditStatus {
  uint32_t lost = 0;        ///< audit_status.lost: rate limit, backlog (and hold queue, see above).
  uint32_t daemon_pid = 0;  ///< The registered audit daemon (auditd); 0 = none.
};

/// The kernel's audit status via AUDIT_GET. std::nullopt without CAP_AUDIT_CONTROL: unknown,
/// never 0.
[[nodiscard]] std::optional<KernelAuditStatus> read_kernel_audit_status();

/// read_kernel_audit_status()'s `lost` alone.
[[nodiscard]] std::optional<uint32_t> read_kernel_lost();

/// The serial of `audit(<sec>.<msec>:<serial>)` in a record, if it has one.
[[nodiscard]] std::optional<uint32_t> audit_serial_of(std::string_view text);

/// Counts the records that never reached us from gaps in the audit serials. The kernel numbers
/// every record (or multi-record event) from one global counter before queueing it, so each
/// serial missing between two we received is one event dropped on the way: by ENOBUFS on our
/// socket or by the kernel's rate limit. Two records stamped on different CPUs can be queued in
/// the other order, so a hole is counted only once it has stayed open for `grace`. Pure: the
/// caller passes the time. 32-bit serial wrap-around is handled.
class SerialTracker {
 public:
  using Clock = std::chrono::steady_clock;
  explicit SerialTracker(std::chrono::milliseconds grace = std::chrono::seconds(1));

  void note(uint32_t serial, Clock::time_point now);
  /// Holes open for at least `grace` become missing. Returns the missing total.
  uint64_t settle(Clock::time_point now);
  /// End of input: every open hole is missing. Returns the missing total.
  uint64_t finish();
  [[nodiscard]] uint64_t missing() const { return missing_; }
  /// Whether any serial was seen: without one, a gap before the next serial cannot be measured.
  [[nodiscard]] bool has_baseline() const { return highest_.has_value(); }
  /// Serials not seen yet that may still arrive (not counted as missing yet).
  [[nodiscard]] uint64_t open() const;

 private:
  struct Hole {
    uint64_t end = 0;  ///< Exclusive.
    Clock::time_point noticed;
  };
  std::chrono::milliseconds grace_;
  std::optional<uint64_t> highest_;  ///< Unwrapped (64-bit) highest serial seen.
  std::map<uint64_t, Hole> holes_;   ///< Keyed by first missing serial.
  uint64_t missing_ = 0;
};

/// A read-only listener on AUDIT_NLGRP_READLOG. Coexists with auditd (never takes over its
/// unicast role). Needs CAP_AUDIT_READ in the initial user namespace, and the socket must live in
/// the initial network namespace: elsewhere it binds but hears nothing (records.md §2.1).
class NetlinkSource {
 public:
  /// Opens and binds the socket with a receive buffer of `receive_buffer` bytes
  /// (SO_RCVBUFFORCE when permitted, else SO_RCVBUF). Errors name the missing permission.
  [[nodiscard]] static std::expected<NetlinkSource, std::string> open(int receive_buffer = 8 << 20);
  NetlinkSource(NetlinkSource&& other) noexcept;
  NetlinkSource& operator=(NetlinkSource&& other) noexcept;
  NetlinkSource(const NetlinkSource&) = delete;
  NetlinkSource& operator=(const NetlinkSource&) = delete;
  ~NetlinkSource();

  /// Waits up to `timeout` for records, then drains what is queued (at most `max_records`).
  /// An empty vector means the timeout passed. EINTR returns what was read so far.
  [[nodiscard]] std::expected<std::vector<LiveLine>, std::string> read(
      std::chrono::milliseconds timeout, size_t max_records = 4096);

  /// Losses so far; queries the kernel's `lost` counter (AUDIT_GET) when permitted. Serial
  /// holes still within their grace period are not counted yet (see `finish()`).
  [[nodiscard]] LossReport losses() const;
  /// The same without the kernel's count (no syscall).
  [[nodiscard]] LossReport counted_losses() const;
  /// End of input: every serial hole still open counts as missing from now on.
  void finish() { (void)serials_.finish(); }
  [[nodiscard]] int fd() const { return fd_; }

 private:
  explicit NetlinkSource(int fd) : fd_(fd) {}
  void note_overflow();
  int fd_ = -1;
  uint64_t overflow_episodes_ = 0;
  /// Whether what the last overflow dropped is counted yet. ENOBUFS is reported before the
  /// older records still queued are read, so only a record that arrives after the socket was
  /// drained empty is certainly newer than every dropped one, and its serial shows them all.
  enum class Tail { kCounted, kOverflowed, kDrained };
  Tail tail_ = Tail::kCounted;
  /// Records were dropped before any serial was seen: no later serial can count them.
  bool uncountable_ = false;
  SerialTracker serials_;
  std::vector<char> buffer_;
};

/// Reads /dev/kmsg: one record per read(), `prio,seq,usec,flags;text`. Lossy by nature (printk
/// rate limit, 1 KiB truncation, ring overwrite); overwrites are counted from EPIPE and seq gaps.
class KmsgSource {
 public:
  /// `from_start`: replay the ring buffer first; otherwise start at its current end.
  [[nodiscard]] static std::expected<KmsgSource, std::string> open(
      bool from_start, const std::string& path = "/dev/kmsg");
  KmsgSource(KmsgSource&& other) noexcept;
  KmsgSource& operator=(KmsgSource&& other) noexcept;
  KmsgSource(const KmsgSource&) = delete;
  KmsgSource& operator=(const KmsgSource&) = delete;
  ~KmsgSource();

  /// Waits up to `timeout` for records, then drains what is there. Only audit lines are returned
  /// (`audit: type=…`), with kmsg's `\xNN` escapes undone.
  [[nodiscard]] std::expected<std::vector<LiveLine>, std::string> read(
      std::chrono::milliseconds timeout, size_t max_records = 4096);

  /// Records the ring overwrote before we read them (EPIPE episodes plus sequence gaps).
  [[nodiscard]] uint64_t missed() const { return missed_; }
  [[nodiscard]] int fd() const { return fd_; }

 private:
  explicit KmsgSource(int fd) : fd_(fd) {}
  int fd_ = -1;
  uint64_t missed_ = 0;
  std::optional<uint64_t> last_seq_;
};

/// Decodes one /dev/kmsg record (`prio,seq,usec,flags;text\n KEY=value…`) into its sequence
/// number and text with `\xNN` escapes undone. Pure; exposed for tests.
struct KmsgRecord {
  uint64_t seq = 0;
  std::string text;
};
[[nodiscard]] std::optional<KmsgRecord> decode_kmsg_record(std::string_view record);

/// Drains a live source on a thread of its own into a bounded queue, so that parsing and storing
/// can never let the kernel's socket (or the kmsg ring) overflow. When the queue is full the
/// thread keeps reading and drops, and counts every dropped record (`queue_dropped`). Signals
/// should be blocked before `start()`: the thread inherits the mask and never takes them.
class LiveReceiver {
 public:
  using Source = std::variant<NetlinkSource, KmsgSource>;
  static constexpr size_t kDefaultMaxQueuedBytes = size_t{256} << 20;

  explicit LiveReceiver(Source source, size_t max_queued_bytes = kDefaultMaxQueuedBytes);
  LiveReceiver(const LiveReceiver&) = delete;
  LiveReceiver& operator=(const LiveReceiver&) = delete;
  /// Stops and joins the thread.
  ~LiveReceiver();

  /// Waits up to `timeout` for records and takes what is queued (at most `max_records`). An empty
  /// vector means the timeout passed; an error means the source failed (it is read no more).
  [[nodiscard]] std::expected<std::vector<LiveLine>, std::string> take(
      std::chrono::milliseconds timeout, size_t max_records = 16384);

  /// Stops reading after a last drain of what the kernel already queued; then every serial hole
  /// still open counts as missing. Idempotent; `take()` still returns what is queued.
  void stop();

  /// Losses so far (the kernel's `lost` is read by the caller, see `read_kernel_lost()`).
  [[nodiscard]] LossReport losses() const;
  /// Records read from the source so far, dropped ones included.
  [[nodiscard]] uint64_t records() const;

 private:
  struct Shared {
    std::mutex mutex;
    std::condition_variable ready;
    std::deque<LiveLine> queue;
    size_t queued_bytes = 0;
    uint64_t records = 0;
    LossReport losses;
    std::optional<std::string> error;
  };
  static void run(std::stop_token stop, Source& source, Shared& shared, size_t max_queued_bytes);

  std::unique_ptr<Source> source_;
  std::unique_ptr<Shared> shared_;
  std::jthread thread_;
};

}  // namespace aatune::collector
