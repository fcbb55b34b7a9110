// The grouping key: which events are "the same denial". Shared by the analyzer's groups and the
// store's denial-group table, so that the two can never disagree.
//
// Beyond the key, `group_events` folds a stream of logged events into groups with their evidence
// (counts, first/last seen, pids, comm, sources). Trust is part of a group's identity: a record
// that anyone could have written (`logger`, a USER_AVC sent by an ordinary user) never joins a
// kernel-trusted group, so a forged line stays visible as such.
#pragma once

#include <cstdint>
#include <optional>
#include <set>
#include <span>
#include <string>
#include <vector>

#include "collector/event.h"

namespace aatune::analyzer {

/// Identical denials share a key: same host-independent subject, class, operation, target, mask.
struct GroupKey {
  std::string profile;     ///< Subject label as logged (may be a `parent//child` or a stack).
  std::string rule_class;  ///< Normalised class: file, exec, capability, network, signal, …
  std::string operation;
  std::string target;  ///< Path, capability name, peer label, dbus member…: what was accessed.
  std::string mask;    ///< Denied (else requested) mask, as logged.

  friend bool operator==(const GroupKey&, const GroupKey&) = default;
  friend auto operator<=>(const GroupKey&, const GroupKey&) = default;
};

/// The class of an event, from `class=` when present and inferred from the operation otherwise
/// (kernels before 6.x do not print `class=`).
[[nodiscard]] std::string event_class(const collector::Event& event);

[[nodiscard]] GroupKey group_key(const collector::Event& event);

/// A stable one-line text form of the key (fields joined by U+001F), for storage and hashing.
[[nodiscard]] std::string to_string(const GroupKey& key);

/// Appends `to_string(group_key(event))` to `out` without building the GroupKey: the bulk scan
/// calls it once per record into one reused buffer.
void append_group_key(const collector::Event& event, std::string& out);

/// Whose userspace AppArmor records (USER_AVC, type 1107) are believed. Any process may send a
/// USER_AVC through the audit socket; what it can not forge is the sender `uid=` the kernel
/// attaches. Only the bus daemon (dbus-daemon, dbus-broker) mediates D-Bus, so only its uid and
/// root are trusted. Resolving the bus daemon's user (`messagebus`) is the caller's business
/// (cli: getpwnam); the logic here only compares numbers.
struct TrustPolicy {
  std::set<uint64_t> trusted_sender_uids{0};  ///< Root; the caller adds the bus daemon's uid.
};

/// Why `event` can not be trusted as evidence, as a clause for "evidence is unverified: …"; empty
/// when it can: kernel and auditd records always, USER_AVC records when their sender uid is in
/// `policy`, never a syslog line from another program, stdin or a bare body.
[[nodiscard]] std::string unverified_reason(const collector::Event& event,
                                            const TrustPolicy& policy);

/// True when unverified_reason() is not empty.
[[nodiscard]] bool is_unverified(const collector::Event& event, const TrustPolicy& policy);

/// One event as read, with where it was read (evidence for the user and for bug reports).
struct LoggedEvent {
  collector::Event event;
  std::string source;    ///< File path, "journal", "netlink", "-".
  uint64_t line_no = 0;  ///< 1-based; 0 when the source has no lines.
};

/// file:line of one record.
struct SourceRef {
  std::string source;
  uint64_t line_no = 0;
  friend bool operator==(const SourceRef&, const SourceRef&) = default;
  friend auto operator<=>(const SourceRef&, const SourceRef&) = default;
};

/// Identical denials, with their evidence. Only denial-like records (DENIED, ALLOWED, KILLED)
/// form groups.
struct Group {
  GroupKey key;
  /// True when every record came from text anyone could write (logger, stdin, a non-kernel
  /// syslog line, a USER_AVC from an untrusted sender). Such records never merge with trusted
  /// ones.
  bool unverified = false;
  std::string unverified_reason;  ///< unverified_reason() of the first record; empty if trusted.
  uint64_t count = 0;
  uint64_t denied = 0;   ///< apparmor="DENIED"
  uint64_t allowed = 0;  ///< apparmor="ALLOWED": complain mode, would have been denied.
  uint64_t killed = 0;   ///< apparmor="KILLED"
  std::optional<int64_t> first_seen_ms;  ///< Audit time, milliseconds since the epoch.
  std::optional<int64_t> last_seen_ms;
  std::set<uint64_t> pids;
  std::set<std::string> comms;
  std::vector<SourceRef> sources;  ///< Every record's file:line, in reading order.
  std::vector<std::string> raw;    ///< The first kMaxRawPerGroup records verbatim.
  collector::Event sample;         ///< The first record: fields for the proposal.

  static constexpr size_t kMaxRawPerGroup = 20;

  /// True when only complain-mode (ALLOWED) records were seen.
  [[nodiscard]] bool complain_only() const { return allowed > 0 && denied == 0 && killed == 0; }
};

/// Records that are not denials: counted, never proposed.
struct OtherCounts {
  uint64_t status = 0;  ///< Policy loads/replaces/removes.
  uint64_t audit = 0;   ///< Allowed and audited.
  uint64_t other = 0;   ///< HINT, ERROR, records without a profile.
};

struct Grouped {
  std::vector<Group> groups;  ///< In order of first appearance.
  OtherCounts other;
};

/// Folds events into groups. Pure; the order of `groups` is the order of first appearance.
/// `policy` decides which USER_AVC senders are trusted (the default trusts root only).
[[nodiscard]] Grouped group_events(std::span<const LoggedEvent> events,
                                   const TrustPolicy& policy = {});

}  // namespace aatune::analyzer
