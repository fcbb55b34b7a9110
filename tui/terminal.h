// The one place that touches curses, and the batch driver that runs the same App without a
// terminal (CI, sanitizers, benchmarks).
#pragma once

#include <expected>
#include <string>
#include <string_view>
#include <vector>

#include "tui/app.h"

namespace aatune::tui {

/// Runs `app` on the terminal until it quits. The App's jobs run on a Worker thread while keys
/// keep being handled and the progress line moves; a running job is finished before returning.
/// Restores the terminal on return and on SIGINT/SIGTERM (then re-raises) and around SIGTSTP.
/// Colours are off with NO_COLOR or on a terminal without colours. Errors: no terminal.
[[nodiscard]] std::expected<void, std::string> run_terminal(App& app);

/// Parses a key script: words separated by blanks; a single character is that key, named keys
/// are Up Down PgUp PgDn Home End Enter Esc BSpace Space, and 'text types text literally.
/// Errors name the unknown word.
[[nodiscard]] std::expected<std::vector<int>, std::string> parse_keys(std::string_view script);

/// Feeds `keys` to `app` and returns the screen after the last one (or after a quit). Jobs run in
/// place, in order, after the key that asked for them.
[[nodiscard]] std::vector<std::string> run_batch(App& app, const std::vector<int>& keys, Size size);

}  // namespace aatune::tui
