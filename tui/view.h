// The plain view model the screens are drawn from, and the pure renderer that turns it into text.
#pragma once

#include <cstddef>
#include <string>
#include <vector>

namespace aatune::tui {

struct Size {
  size_t width = 80;
  size_t height = 24;
};

/// A table column; width 0 takes what the fixed columns leave.
struct Column {
  std::string title;
  size_t width = 0;
};

enum class Style { kNormal, kTitle, kHeading, kSelected, kAdded, kRemoved, kWarning, kStatus };

struct Row {
  std::vector<std::string> cells;
  Style style = Style::kNormal;
};

struct ViewModel {
  std::string title;            ///< Top bar.
  std::vector<Column> columns;  ///< Empty: rows are one free-text cell, no header line.
  std::vector<Row> rows;
  bool has_selection = false;
  size_t selected = 0;
  size_t scroll = 0;                 ///< First row shown when there is no selection.
  std::string hints;                 ///< Key hints, above the status line.
  std::string status;                ///< Last line: outcome of the last action, or the prompt.
  std::vector<std::string> overlay;  ///< Help overlay lines; replaces the body when not empty.
};

/// Lines of the screen, each exactly `size.width` columns, `size.height` lines in all.
[[nodiscard]] std::vector<std::string> render(const ViewModel& vm, Size size);

/// The same lines with the style of each.
struct StyledScreen {
  std::vector<std::string> lines;
  std::vector<Style> styles;
};
[[nodiscard]] StyledScreen render_styled(const ViewModel& vm, Size size);

/// Rows of the body that fit on a screen of `size` (for paging).
[[nodiscard]] size_t body_height(const ViewModel& vm, Size size);

}  // namespace aatune::tui
