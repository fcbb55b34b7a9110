#include "rules/diff.h"

#include <algorithm>
#include <type_traits>
#include <vector>

#include "rules/text.h"

namespace aatune::rules {
namespace {

using text::cat;

enum class Op { kEqual, kDelete, kInsert };

// Lines including their '\n', so that a missing final newline is a difference, as in diff.
std::vector<std::string_view> split_lines(std::string_view text) {
  std::vector<std::string_view> lines;
  size_t pos = 0;
  while (pos < text.size()) {
    const size_t nl = text.find('\n', pos);
    const size_t end = nl == std::string_view::npos ? text.size() : nl + 1;
    lines.push_back(text.substr(pos, end - pos));
    pos = end;
  }
  return lines;
}

// Myers' O(ND) greedy algorithm; the V vector of every round is kept for the backtrack, which is
// cheap for policy files (D is the number of changed lines).
std::vector<Op> edit_script(const std::vector<std::string_view>& a,
                            const std::vector<std::string_view>& b) {
  const int n = static_cast<int>(a.size());
  const int m = static_cast<int>(b.size());
  const int max = n + m;
  const int offset = max + 1;
  std::vector<int> v(2 * max + 3, 0);
  std::vector<std::vector<int>> trace;
  int found_d = 0;
  for (int d = 0; d <= max; ++d) {
    trace.push_back(v);
    bool done = false;
    for (int k = -d; k <= d; k += 2) {
      int x = (k == -d || (k != d && v[offset + k - 1] < v[offset + k + 1]))
                  ? v[offset + k + 1]
                  : v[offset + k - 1] + 1;
      int y = x - k;
      while (x < n && y < m && a[x] == b[y]) {
        ++x;
        ++y;
      }
      v[offset + k] = x;
      if (x >= n && y >= m) {
        done = true;
        break;
      }
    }
    if (done) {
      found_d = d;
      break;
    }
  }
  std::vector<Op> ops;
  int x = n;
  int y = m;
  for (int d = found_d; d > 0; --d) {
    const std::vector<int>& pv = trace[d];
    const int k = x - y;
    const bool down = (k == -d || (k != d && pv[offset + k - 1] < pv[offset + k + 1]));
    const int prev_k = down ? k + 1 : k - 1;
    const int prev_x = pv[offset + prev_k];
    const int prev_y = prev_x - prev_k;
    while (x > prev_x && y > prev_y) {
      ops.push_back(Op::kEqual);
      --x;
      --y;
    }
    ops.push_back(down ? Op::kInsert : Op::kDelete);
    x = prev_x;
    y = prev_y;
  }
  while (x > 0 && y > 0) {
    ops.push_back(Op::kEqual);
    --x;
    --y;
  }
  std::ranges::reverse(ops);
  // diff prints the deletions of a change before its insertions.
  for (size_t i = 0; i < ops.size();) {
    if (ops[i] == Op::kEqual) {
      ++i;
      continue;
    }
    size_t j = i;
    while (j < ops.size() && ops[j] != Op::kEqual) ++j;
    std::stable_partition(ops.begin() + static_cast<long>(i), ops.begin() + static_cast<long>(j),
                          [](Op o) { return o == Op::kDelete; });
    i = j;
  }
  return ops;
}

void emit_line(std::string& out, char prefix, std::string_view line) {
  out += prefix;
  if (line.ends_with('\n')) {
    out += line;
  } else {
    out += line;
    out += "\n\\ No newline at end of file\n";
  }
}

std::string range(size_t start, size_t count) {
  // diff's convention: an empty range names the line before it; a one-line range has no count.
  if (count == 0) return cat(start, ",0");
  if (count == 1) return cat(start + 1);
  return cat(start + 1, ",", count);
}

}  // namespace

std::string unified_diff(std::string_view old_text, std::string_view new_text,
                         std::string_view old_label, std::string_view new_label, int context) {
  if (old_text == new_text) return {};
  const auto a = split_lines(old_text);
  const auto b = split_lines(new_text);
  const std::vector<Op> ops = edit_script(a, b);
  const size_t ctx = static_cast<size_t>(std::max(context, 0));

  // Positions (index into ops) of changes, grouped into hunks.
  std::vector<size_t> changes;
  for (size_t i = 0; i < ops.size(); ++i) {
    if (ops[i] != Op::kEqual) changes.push_back(i);
  }
  std::string out = cat("--- ", old_label, "\n+++ ", new_label, "\n");
  size_t c = 0;
  while (c < changes.size()) {
    size_t last = c;
    while (last + 1 < changes.size() && changes[last + 1] - changes[last] - 1 <= 2 * ctx) ++last;
    const size_t begin = changes[c] >= ctx ? changes[c] - ctx : 0;
    const size_t end = std::min(ops.size(), changes[last] + ctx + 1);
    // Old/new line numbers at `begin`.
    size_t ai = 0;
    size_t bi = 0;
    for (size_t i = 0; i < begin; ++i) {
      if (ops[i] != Op::kInsert) ++ai;
      if (ops[i] != Op::kDelete) ++bi;
    }
    size_t acount = 0;
    size_t bcount = 0;
    for (size_t i = begin; i < end; ++i) {
      if (ops[i] != Op::kInsert) ++acount;
      if (ops[i] != Op::kDelete) ++bcount;
    }
    out += cat("@@ -", range(ai, acount), " +", range(bi, bcount), " @@\n");
    for (size_t i = begin; i < end; ++i) {
      switch (ops[i]) {
        case Op::kEqual:
          emit_line(out, ' ', a[ai++]);
          ++bi;
          break;
        case Op::kDelete:
          emit_line(out, '-', a[ai++]);
          break;
        case Op::kInsert:
          emit_line(out, '+', b[bi++]);
          break;
      }
    }
    c = last + 1;
  }
  return out;
}

}  // namespace aatune::rules
