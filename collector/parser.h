// The record parser: one line of text in, one typed AppArmor event (or a reason) out.
// Pure functions; no I/O. See docs/records.md in the shared folder for the grammar's sources.
#pragma once

#include <cstdint>
#include <expected>
#include <optional>
#include <string>
#include <string_view>

#include "collector/event.h"
#include "collector/line_scan.h"

namespace aatune::collector {

/// Why a line did not become an Event.
struct ParseError {
  enum class Kind {
    kNotAppArmor,  ///< Ordinary log noise: not an error, just not ours.
    kInvalid,      ///< Looks like an AppArmor record but is broken (the message says where).
  };
  Kind kind = Kind::kNotAppArmor;
  std::string field;    ///< The field at fault ("name", "audit id", …), empty if none.
  std::string message;  ///< One line a user can act on, without file/line (the caller adds them).
};

/// Parses one log line in any container (audit.log, syslog/kern.log, dmesg, journal export, bare).
[[nodiscard]] std::expected<Event, ParseError> parse_line(std::string_view line);

/// The full outcome of one parse, for callers that need what was decoded before a failure
/// (`aatune parse --format aalogparse` reproduces libapparmor's partially filled records).
/// On error `event.event` is kInvalid and holds the fields decoded before the fault; for a foreign
/// audit record (`type=CRED_ACQ …`) it holds, as libapparmor does, the audit id, the type name as
/// `operation` and the unparsed body as `info`.
struct ParseOutcome {
  Event event;
  std::optional<ParseError> error;
};

/// parse_line() into a caller's Event, reusing its string capacity: a loop over lines that passes
/// the same Event each time does no heap allocation per record in the steady state. On success
/// `event` equals what parse_line() returns (every field of an earlier record is cleared); on
/// error the error equals parse_line()'s and `event` holds no record (its event is kInvalid, its
/// other fields are unspecified).
[[nodiscard]] std::optional<ParseError> parse_line_into(std::string_view line, Event& event);

/// Like parse_line, without the prefilter shortcut, and keeping the partial event on error.
[[nodiscard]] ParseOutcome parse_record(std::string_view line);

/// Parses a companion audit record (SYSCALL, PROCTITLE, CWD, PATH, EOE) that shares an event
/// serial with AppArmor records. std::nullopt when the line is not one.
[[nodiscard]] std::optional<Companion> parse_companion(std::string_view line);

/// The counting fast path: decides exactly what parse_line() decides (same prefilter, tokenizer
/// and checks, so the same records are valid, invalid or not ours) but fills `event` only with
/// event, container, trust, record_type(_name), operation, rule_class, net_family and
/// net_sock_type (and the numeric fields): enough for record_class(). Every other value is
/// checked, not stored. Pass a default-constructed Event and reuse it across lines (that avoids an
/// allocation per record); its fields are cleared first. std::nullopt = a record; on error only
/// the returned ParseError is meaningful.
[[nodiscard]] std::optional<ParseError> classify_line(std::string_view line, Event& event);

/// classify_line() for a line whose facts scan_line() found (collector/line_scan.h): the same
/// result without the prefilter's and the byte check's passes over the line.
[[nodiscard]] std::optional<ParseError> classify_scanned(std::string_view line,
                                                         const LineFacts& facts, Event& event);

/// Cheap test used to skip noise before the full parse: false means "certainly not ours".
[[nodiscard]] bool may_be_apparmor(std::string_view line);

}  // namespace aatune::collector
