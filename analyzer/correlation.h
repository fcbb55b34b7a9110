// Correlation of an AppArmor record with the audit records that share its serial (SYSCALL,
// PROCTITLE, CWD, PATH, EOE): the evidence of who did it (exe, command line, cwd).
//
// Pure: arrival times are passed in, nothing is read or slept on. A userspace message
// (USER_AVC) is complete as it arrives: the kernel never gives it companions. On netlink an EOE
// closes an event; auditd's log and kmsg never carry EOE (records.md §2.3), so an event is also
// complete when it has waited `max_wait` (a bounded wait), when the stream has moved
// `serial_window` serials past it, or at the end of the input.
#pragma once

#include <chrono>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "collector/event.h"

namespace aatune::analyzer {

/// An AppArmor event with the evidence that arrived with it.
struct CorrelatedEvent {
  collector::Event event;
  std::vector<collector::Companion> companions;
  std::optional<std::string> exe;      ///< SYSCALL exe=
  std::optional<std::string> command;  ///< PROCTITLE, argv joined by spaces
  std::optional<std::string> cwd;      ///< CWD cwd=
  std::optional<std::string> subject;  ///< SYSCALL subj= (the full label, stacks included)
  std::optional<std::string> syscall;  ///< SYSCALL syscall= (number or name)
  std::vector<std::string> paths;      ///< PATH name= of each item, in arrival order
};

class Correlator {
 public:
  using Clock = std::chrono::steady_clock;

  explicit Correlator(std::chrono::milliseconds max_wait = std::chrono::seconds(2),
                      uint64_t serial_window = 256);

  void add_event(collector::Event event, Clock::time_point now);
  void add_companion(collector::Companion companion, Clock::time_point now);

  /// Events whose evidence is complete (EOE seen, waited long enough, or left behind by the
  /// stream), in the order they arrived.
  [[nodiscard]] std::vector<CorrelatedEvent> take_ready(Clock::time_point now);
  /// Everything still pending (end of input).
  [[nodiscard]] std::vector<CorrelatedEvent> flush();

  [[nodiscard]] size_t pending() const { return pending_.size(); }

 private:
  struct Pending {
    std::vector<collector::Event> events;
    std::vector<collector::Companion> companions;
    Clock::time_point first_seen;
    uint64_t order = 0;
    bool closed = false;
  };
  void release(Pending& pending, std::vector<CorrelatedEvent>& out) const;

  std::chrono::milliseconds max_wait_;
  uint64_t serial_window_;
  uint64_t next_order_ = 0;
  uint64_t latest_serial_ = 0;
  std::map<std::string, Pending> pending_;  ///< Keyed by audit id.
  std::vector<CorrelatedEvent>
      ready_unkeyed_;  ///< Events without an audit id: nothing to wait for.
};

/// Fills exe/command/cwd/subject/syscall/paths from companions. Exposed for callers that already
/// grouped records themselves (the store).
void attach_evidence(CorrelatedEvent& event);

}  // namespace aatune::analyzer
