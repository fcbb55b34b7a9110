// Text renderings of an Event that do not need a JSON library: libapparmor's test_multi layout
// (for `aatune parse --format aalogparse` and the conformance test) and a coarse record class.
#pragma once

#include <string>
#include <string_view>

#include "collector/event.h"

namespace aatune::collector {

/// The block libapparmor's testsuite/test_multi prints for one record: `START`, `File: NAME`,
/// then one `Label: value` line per set field in test_multi's order. `event` may be the partial
/// event of a failed parse (ParseOutcome::event), which renders as AA_RECORD_INVALID.
[[nodiscard]] std::string format_aalogparse(const Event& event, std::string_view file_name);

/// The record's class: `class=` when the kernel printed it (6.12+), else derived from the
/// operation and fields the way older kernels imply it ("file", "net", "dbus", "signal", …).
[[nodiscard]] std::string_view record_class(const Event& event);

}  // namespace aatune::collector
