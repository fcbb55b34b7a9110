// The bug-report bundle of `aatune export` (docs/export.md): pure helpers to build its JSON
// model and to render it as Markdown. The CLI gathers the inputs (logs, tree, environment).
#pragma once

#include <nlohmann/json.hpp>
#include <string>
#include <string_view>

#include "collector/event.h"

namespace aatune::analyzer {

/// Lower-case hex SHA-256 of `data` (FIPS 180-4), for the policy files' fingerprints.
[[nodiscard]] std::string sha256_hex(std::string_view data);

/// The parsed fields of one record that are present (absent fields are left out).
[[nodiscard]] nlohmann::json event_fields(const collector::Event& event);

/// The fields of a companion record (SYSCALL, PROCTITLE, CWD, …) as an object.
[[nodiscard]] nlohmann::json companion_fields(const collector::Companion& companion);

/// Markdown ready to paste into a bug tracker: summary, denials table, explanations, the patch in
/// a ```diff block, and raw evidence in <details> sections. `report` is the export document.
[[nodiscard]] std::string render_markdown(const nlohmann::json& report);

}  // namespace aatune::analyzer
