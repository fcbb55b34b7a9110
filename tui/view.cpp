#include "tui/view.h"

#include <algorithm>

#include "tui/text.h"

namespace aatune::tui {
namespace {

std::string table_line(const std::vector<Column>& cols, const std::vector<std::string>& cells,
                       size_t width) {
  if (cols.empty()) return fit(cells.empty() ? std::string() : cells.front(), width);
  size_t fixed = 0;  // every column is followed by one blank
  for (const auto& c : cols) fixed += c.width + 1;
  const size_t flex = width > fixed ? width - fixed : 0;
  std::string out;
  for (size_t i = 0; i < cols.size(); ++i) {
    const size_t w = cols[i].width == 0 ? flex : cols[i].width;
    out += fit(i < cells.size() ? cells[i] : std::string(), w);
    out += ' ';
  }
  return fit(out, width);
}

}  // namespace

size_t body_height(const ViewModel& vm, Size size) {
  const size_t chrome = 3 + (vm.columns.empty() ? 0 : 1);  // title, hints, status (+ header)
  return size.height > chrome ? size.height - chrome : 0;
}

StyledScreen render_styled(const ViewModel& vm, Size size) {
  StyledScreen s;
  auto add = [&](std::string line, Style style) {
    if (s.lines.size() >= size.height) return;
    s.lines.push_back(std::move(line));
    s.styles.push_back(style);
  };
  add(fit(vm.title, size.width), Style::kTitle);
  const size_t body = body_height(vm, size);
  // Lists keep two columns for the selection marker, visible without colour (NO_COLOR, mono).
  const size_t margin = vm.has_selection && size.width > 2 ? 2 : 0;
  const size_t inner = size.width - margin;
  if (!vm.overlay.empty()) {
    for (size_t i = 0; i < body + (vm.columns.empty() ? 0 : 1); ++i) {
      add(fit(i < vm.overlay.size() ? vm.overlay[i] : std::string(), size.width), Style::kNormal);
    }
  } else {
    if (!vm.columns.empty()) {
      std::vector<std::string> titles;
      for (const auto& c : vm.columns) titles.push_back(c.title);
      // Indented like the rows, which keep two columns for the selection marker.
      add(fit(std::string(margin, ' ') + table_line(vm.columns, titles, inner), size.width),
          Style::kHeading);
    }
    size_t top = 0;
    if (vm.has_selection) {
      if (body > 0 && vm.selected >= body) top = vm.selected - body + 1;
    } else if (vm.rows.size() > body) {
      top = std::min(vm.scroll, vm.rows.size() - body);
    }
    for (size_t i = 0; i < body; ++i) {
      const size_t r = top + i;
      if (r >= vm.rows.size()) {
        add(std::string(size.width, ' '), Style::kNormal);
        continue;
      }
      const bool sel = vm.has_selection && r == vm.selected;
      const std::string line = table_line(vm.columns, vm.rows[r].cells, inner);
      const std::string mark = margin == 0 ? "" : sel ? "> " : "  ";
      add(fit(mark + line, size.width), sel ? Style::kSelected : vm.rows[r].style);
    }
  }
  add(fit(vm.hints, size.width), Style::kHeading);
  add(fit(vm.status, size.width), Style::kStatus);
  while (s.lines.size() < size.height) {
    s.lines.push_back(std::string(size.width, ' '));
    s.styles.push_back(Style::kNormal);
  }
  return s;
}

std::vector<std::string> render(const ViewModel& vm, Size size) {
  return render_styled(vm, size).lines;
}

}  // namespace aatune::tui
