// Live record sources: the kernel audit netlink multicast group and /dev/kmsg.
//
// Both hand back log lines in a form `parse_line()` understands (`type=1400 msg=audit(…): …` for
// netlink, `audit: type=1400 …` for kmsg), so there is one grammar for every source.
#pragma once

#include <chrono>
#include <cstdint>
#include <expected>
#include <optional>
#include <string>
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
  uint64_t serial_gaps = 0;             ///< Missing serials between records we did receive.
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

  /// Losses so far; queries the kernel's `lost` counter (AUDIT_GET) when permitted.
  [[nodiscard]] LossReport losses() const;
  [[nodiscard]] int fd() const { return fd_; }

 private:
  explicit NetlinkSource(int fd) : fd_(fd) {}
  void note_serial(const std::string& text);
  int fd_ = -1;
  uint64_t overflow_episodes_ = 0;
  uint64_t serial_gaps_ = 0;
  std::optional<uint64_t> last_serial_;
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

}  // namespace aatune::collector
