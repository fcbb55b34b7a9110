#include "tui/text.h"

#include <cstdint>

namespace aatune::tui {
namespace {

struct Glyph {
  uint32_t cp = 0;
  size_t bytes = 1;
};

// Decodes one code point; an invalid sequence is one byte shown as one column, so a bad path in
// a log can never desynchronise the layout.
Glyph decode(std::string_view s, size_t i) {
  const auto b = static_cast<unsigned char>(s[i]);
  size_t n = b < 0x80 ? 1 : (b >> 5) == 0x6 ? 2 : (b >> 4) == 0xE ? 3 : (b >> 3) == 0x1E ? 4 : 0;
  if (n == 0 || i + n > s.size()) return {0xFFFD, 1};
  if (n == 1) return {b, 1};
  uint32_t cp = b & (0x7F >> n);
  for (size_t k = 1; k < n; ++k) {
    const auto c = static_cast<unsigned char>(s[i + k]);
    if ((c & 0xC0) != 0x80) return {0xFFFD, 1};
    cp = (cp << 6) | (c & 0x3F);
  }
  return {cp, n};
}

size_t columns(uint32_t cp) {
  if (cp < 0x20 || cp == 0x7F) return 1;  // Shown as-is by the caller's sanitising; count one.
  if ((cp >= 0x300 && cp <= 0x36F) || cp == 0x200B || (cp >= 0xFE00 && cp <= 0xFE0F)) return 0;
  if ((cp >= 0x1100 && cp <= 0x115F) || (cp >= 0x2E80 && cp <= 0xA4CF) ||
      (cp >= 0xAC00 && cp <= 0xD7A3) || (cp >= 0xF900 && cp <= 0xFAFF) ||
      (cp >= 0xFE30 && cp <= 0xFE4F) || (cp >= 0xFF00 && cp <= 0xFF60) ||
      (cp >= 0xFFE0 && cp <= 0xFFE6) || (cp >= 0x1F300 && cp <= 0x1FAFF) ||
      (cp >= 0x20000 && cp <= 0x3FFFD)) {
    return 2;
  }
  return 1;
}

}  // namespace

size_t display_width(std::string_view text) {
  size_t w = 0;
  for (size_t i = 0; i < text.size();) {
    const Glyph g = decode(text, i);
    w += columns(g.cp);
    i += g.bytes;
  }
  return w;
}

std::string fit(std::string_view text, size_t width) {
  std::string out;
  if (width == 0) return out;
  const bool cut = display_width(text) > width;
  const size_t room = cut ? width - 1 : width;  // One column for the ellipsis.
  size_t w = 0;
  for (size_t i = 0; i < text.size();) {
    const Glyph g = decode(text, i);
    const size_t c = columns(g.cp);
    if (w + c > room) break;
    // Control bytes would move the cursor: show them as '?'.
    if (g.cp < 0x20 || g.cp == 0x7F)
      out += '?';
    else if (g.cp == 0xFFFD && g.bytes == 1 && static_cast<unsigned char>(text[i]) >= 0x80)
      out += '?';
    else
      out.append(text.substr(i, g.bytes));
    w += c;
    i += g.bytes;
  }
  if (cut) {
    out += "…";
    ++w;
  }
  out.append(width - w, ' ');
  return out;
}

}  // namespace aatune::tui
