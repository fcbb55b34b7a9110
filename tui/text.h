// Terminal text measurement: display columns of UTF-8 text and fitting it to a width.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

namespace aatune::tui {

/// Display columns of UTF-8 `text` (wide CJK/emoji count 2, combining marks 0, bad bytes 1).
[[nodiscard]] size_t display_width(std::string_view text);

/// `text` cut or padded with spaces to exactly `width` columns; a cut ends in "…".
[[nodiscard]] std::string fit(std::string_view text, size_t width);

}  // namespace aatune::tui
