// What the TUI asks of the world: the data it shows and the actions that change things. The CLI
// implements it with the real store, analyzer and rules; the views never do I/O themselves.
#pragma once

#include <cstdint>
#include <expected>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "analyzer/analyzer.h"

namespace aatune::tui {

/// One line of the Profiles screen (read from pre-aggregated groups, never raw events).
struct ProfileRow {
  std::string name;
  std::string vm_name;  ///< For libvirt-<uuid> guests when the domain XML is known.
  std::string mode;     ///< "enforce", "complain", "absent".
  uint64_t open = 0;
  uint64_t decided = 0;
  std::optional<int64_t> last_seen;  ///< Epoch seconds.
  std::vector<uint64_t> activity;    ///< Denials per time bucket, oldest first (sparkline).
};

/// One proposal of a profile with the evidence behind it.
struct Item {
  analyzer::Proposal proposal;
  std::vector<analyzer::Group> evidence;
  std::vector<std::string> group_keys;  ///< Store keys of the groups it answers.
  uint64_t count = 0;
  /// False when `evidence` was built from a sample of each group's records (enough for the
  /// proposal); the Detail screen then asks Backend::evidence() for all of them.
  bool evidence_complete = true;
};

/// Where an accepted rule is written.
enum class TargetKind { kProfile, kLocal, kLibvirtFiles };

/// A rule the user accepted, waiting for review.
struct Accepted {
  std::string profile;
  std::string rule;  ///< Rendered, with trailing comma.
  TargetKind target = TargetKind::kLocal;
  std::vector<std::string> group_keys;
  bool deny = false;
};

struct FileDiff {
  std::string path;
  std::string diff;
};

struct Preview {
  std::vector<FileDiff> files;
  std::vector<std::string> warnings;
};

/// Every call comes from one thread at a time: the UI thread, or the worker running a job while
/// the UI waits for it (App::busy).
class Backend {
 public:
  virtual ~Backend() = default;
  /// Work before the first screen (scanning the LOG files named on the command line): its
  /// progress label, empty when there is none.
  [[nodiscard]] virtual std::string refresh_label() const { return {}; }
  /// Does that work; the outcome, one line. Runs off the UI thread (tui/worker.h).
  [[nodiscard]] virtual std::expected<std::string, std::string> refresh() { return std::string(); }
  [[nodiscard]] virtual std::expected<std::vector<ProfileRow>, std::string> profiles() = 0;
  [[nodiscard]] virtual std::expected<std::vector<Item>, std::string> items(
      std::string_view profile) = 0;
  /// The full evidence of an item whose `evidence_complete` is false (the Detail screen asks once,
  /// when it opens): the same groups as `item.evidence`, from every stored record.
  [[nodiscard]] virtual std::expected<std::vector<analyzer::Group>, std::string> evidence(
      const Item& item) {
    return item.evidence;
  }
  /// Remembers "ignore" for these groups in the store.
  [[nodiscard]] virtual std::expected<void, std::string> ignore(
      std::span<const std::string> group_keys) = 0;
  /// Parses an edited rule with the rules model; the canonical text, or why it is not a rule.
  [[nodiscard]] virtual std::expected<std::string, std::string> check_rule(
      std::string_view text) = 0;
  /// The diffs the accepted rules would make; nothing is written.
  [[nodiscard]] virtual std::expected<Preview, std::string> preview(
      std::span<const Accepted> accepted) = 0;
  /// Validate → write → reload (rolled back on failure); the outcome, one line.
  [[nodiscard]] virtual std::expected<std::string, std::string> save(
      std::span<const Accepted> accepted) = 0;
  [[nodiscard]] virtual std::expected<std::string, std::string> reload(
      std::string_view profile) = 0;
  [[nodiscard]] virtual std::expected<std::string, std::string> disable(
      std::string_view profile) = 0;
  /// complain ↔ enforce.
  [[nodiscard]] virtual std::expected<std::string, std::string> toggle_mode(
      std::string_view profile) = 0;
  /// Restores the files of the last applied change.
  [[nodiscard]] virtual std::expected<std::string, std::string> undo() = 0;
};

}  // namespace aatune::tui
