#include "rules/editor.h"

#include <algorithm>
#include <cctype>
#include <optional>
#include <type_traits>
#include <utility>

#include "rules/text.h"

namespace aatune::rules {
namespace {

using text::cat;

bool is_space(char c) {
  return c == ' ' || c == '\t' || c == '\r' || c == '\n' || c == '\f';
}

std::string_view trim(std::string_view s) {
  while (!s.empty() && is_space(s.front())) s.remove_prefix(1);
  while (!s.empty() && is_space(s.back())) s.remove_suffix(1);
  return s;
}

// Any brace-delimited block, profile or not (`if … {`, `else {`): the inner structure of a
// profile is only known once every block is.
struct RawBlock {
  ProfileBlock block;
  bool is_profile = false;
};

// Offsets where each line starts; lines[i] is line i+1.
std::vector<size_t> line_starts(std::string_view text) {
  std::vector<size_t> starts{0};
  for (size_t i = 0; i < text.size(); ++i) {
    if (text[i] == '\n' && i + 1 < text.size()) starts.push_back(i + 1);
  }
  return starts;
}

std::string_view line_at(std::string_view text, const std::vector<size_t>& starts, size_t line) {
  const size_t begin = starts[line - 1];
  const size_t end = line < starts.size() ? starts[line] : text.size();
  std::string_view l = text.substr(begin, end - begin);
  if (!l.empty() && l.back() == '\n') l.remove_suffix(1);
  return l;
}

// The first token of `s` (quoted tokens are unquoted).
std::string first_token(std::string_view s) {
  s = trim(s);
  if (s.empty()) return {};
  if (s.front() == '"') {
    const size_t end = s.find('"', 1);
    return std::string(s.substr(1, end == std::string_view::npos ? s.size() - 1 : end - 1));
  }
  size_t end = 0;
  while (end < s.size() && !is_space(s[end]) && s[end] != '{') ++end;
  return std::string(s.substr(0, end));
}

struct HeaderKind {
  bool is_profile = false;
  bool is_hat = false;
  std::string name;
};

// AppArmor's block headers: `profile NAME …`, `hat NAME …`, `^NAME …`, and the legacy form
// where the attachment path is the name (`/usr/bin/foo …`, `@{exec} …`, `"/a b" …`, `:ns:name`).
HeaderKind classify_header(std::string_view header) {
  header = trim(header);
  auto keyword = [&](std::string_view kw) {
    return header.starts_with(kw) && header.size() > kw.size() && is_space(header[kw.size()]);
  };
  if (keyword("profile")) return {true, false, first_token(header.substr(7))};
  if (keyword("hat")) return {true, true, first_token(header.substr(3))};
  if (header.starts_with("^")) return {true, true, first_token(header.substr(1))};
  if (header.starts_with("/") || header.starts_with("@{") || header.starts_with("\"/") ||
      header.starts_with(":")) {
    return {true, false, first_token(header)};
  }
  return {};
}

// Skips an AARE alternation or a variable reference starting at text[i] == '{'; returns the offset
// of its closing '}' (or of the whitespace that ends the word when it is unterminated).
size_t skip_word_braces(std::string_view text, size_t i) {
  int depth = 0;
  for (; i < text.size(); ++i) {
    const char c = text[i];
    if (c == '{') ++depth;
    if (c == '}' && --depth == 0) return i;
    if (c == '\n') return i - 1;
  }
  return text.size() - 1;
}

// `line` without its comment (a '#' at the start of a token, `#include` excepted), trimmed.
std::string_view statement_part(std::string_view line) {
  line = trim(line);
  if (line.starts_with("#include")) return line;
  for (size_t i = 0; i < line.size(); ++i) {
    if (line[i] == '#' && (i == 0 || is_space(line[i - 1]))) return trim(line.substr(0, i));
  }
  return line;
}

// True when a line whose statement part is `s` ends a statement, so that a header below it cannot
// have started on it: rules end in ',', blocks in '{' or '}', and include, abi and variable lines
// end at the newline.
bool ends_statement(std::string_view s) {
  if (s.ends_with(',') || s.ends_with('{') || s.ends_with('}')) return true;
  return s.starts_with("include") || s.starts_with("#include") || s.starts_with("@{") ||
         s.starts_with("abi") || s.starts_with("alias");
}

// Where the header of the block opened at `open` starts. Usually on the line of its '{' (after the
// `}` of an `} else {` chain); when that line holds no profile header yet (`{` alone, or
// `flags=(…) {` continuing the line above), the header begins on the earliest line above that
// follows the end of the previous statement. `line_begin` is the start of the '{' line; the
// result's second member is how many lines above that the header starts. `walk` keeps the walk up
// for the current line, so that many braces on one line cost one walk, not one each.
struct HeaderWalk {
  size_t line_begin = std::string_view::npos;
  size_t start = 0;
  size_t up = 0;
};

std::pair<size_t, size_t> header_start(std::string_view text, size_t line_begin, size_t open,
                                       HeaderWalk& walk) {
  size_t hb = line_begin;
  while (hb < open && is_space(text[hb])) ++hb;
  if (hb < open && text[hb] == '}') {
    ++hb;
    while (hb < open && is_space(text[hb])) ++hb;
  }
  if (hb < open && classify_header(text.substr(hb, open - hb)).is_profile) return {hb, 0};
  if (walk.line_begin != line_begin) {
    walk = HeaderWalk{line_begin, line_begin, 0};
    size_t cur = line_begin;
    size_t lines = 0;
    while (cur > 0) {
      const size_t prev_end = cur - 1;  // the '\n' ending the line above
      size_t prev = prev_end;
      while (prev > 0 && text[prev - 1] != '\n') --prev;
      ++lines;
      const std::string_view s = statement_part(text.substr(prev, prev_end - prev));
      cur = prev;
      if (s.empty()) continue;  // blank or comment-only lines may sit inside a header
      if (ends_statement(s)) break;
      walk.start = prev;
      while (is_space(text[walk.start])) ++walk.start;
      walk.up = lines;
    }
  }
  if (walk.up > 0 && classify_header(text.substr(walk.start, open - walk.start)).is_profile) {
    return {walk.start, walk.up};
  }
  return {hb, 0};
}

std::expected<std::vector<RawBlock>, EditError> scan_blocks(std::string_view text) {
  struct Frame {
    size_t index;  // into `all`
  };
  std::vector<RawBlock> all;
  std::vector<Frame> stack;
  HeaderWalk walk;
  size_t line = 1;
  size_t line_begin = 0;
  for (size_t i = 0; i < text.size(); ++i) {
    const char c = text[i];
    if (c == '\n') {
      ++line;
      line_begin = i + 1;
      continue;
    }
    // '#' starts a comment only at the start of a token (a path may contain '#').
    if (c == '#' && (i == 0 || is_space(text[i - 1]) || text[i - 1] == ',')) {
      while (i + 1 < text.size() && text[i + 1] != '\n') ++i;
      continue;
    }
    if (c == '"') {
      // Quoted strings do not span lines; an unterminated one ends at the newline.
      while (i + 1 < text.size() && text[i + 1] != '\n') {
        ++i;
        if (text[i] == '\\') {
          ++i;
        } else if (text[i] == '"') {
          break;
        }
      }
      continue;
    }
    if (c == '{') {
      const bool variable = i > 0 && text[i - 1] == '@';
      const bool in_word =
          i + 1 < text.size() && !is_space(text[i + 1]) && text[i + 1] != '#' && text[i + 1] != '}';
      if (variable || in_word) {
        i = skip_word_braces(text, i);
        continue;
      }
      const auto [hb, up] = header_start(text, line_begin, i, walk);
      const HeaderKind kind = classify_header(text.substr(hb, i - hb));
      RawBlock raw;
      raw.is_profile = kind.is_profile;
      raw.block.local_name = kind.name;
      raw.block.is_hat = kind.is_hat;
      raw.block.header_begin = hb;
      raw.block.open = i;
      raw.block.header_line = line - up;
      raw.block.open_line = line;
      raw.block.depth = 0;
      std::string parent;
      for (auto it = stack.rbegin(); it != stack.rend(); ++it) {
        if (all[it->index].is_profile) {
          parent = all[it->index].block.name;
          raw.block.depth = all[it->index].block.depth + 1;
          break;
        }
      }
      raw.block.name = parent.empty() ? kind.name : parent + "//" + kind.name;
      stack.push_back({all.size()});
      all.push_back(std::move(raw));
      continue;
    }
    if (c == '}') {
      if (stack.empty()) return std::unexpected(EditError{"unmatched '}'", line});
      RawBlock& b = all[stack.back().index];
      b.block.close = i;
      b.block.close_line = line;
      stack.pop_back();
    }
  }
  if (!stack.empty()) {
    const RawBlock& b = all[stack.back().index];
    return std::unexpected(EditError{"'{' is never closed", b.block.header_line});
  }
  return all;
}

std::string strip_hat_marks(std::string_view name) {
  std::string out;
  size_t pos = 0;
  while (pos <= name.size()) {
    size_t next = name.find("//", pos);
    if (next == std::string_view::npos) next = name.size();
    std::string_view part = name.substr(pos, next - pos);
    if (part.starts_with('^')) part.remove_prefix(1);
    if (!out.empty() || pos > 0) out += "//";
    out += part;
    pos = next + 2;
  }
  return out;
}

bool is_comment_line(std::string_view l) {
  l = trim(l);
  return l.starts_with('#') && !l.starts_with("#include");
}

// Lines (1-based) that belong directly to `b`: inside it and not inside a nested block (the
// first header line of a nested block counts as the parent's, its continuation lines do not).
std::vector<size_t> direct_lines(const std::vector<RawBlock>& all, const ProfileBlock& b) {
  std::vector<size_t> out;
  for (size_t l = b.open_line + 1; l < b.close_line; ++l) {
    bool nested = false;
    for (const RawBlock& o : all) {
      if (o.block.open > b.open && o.block.close < b.close && l > o.block.header_line &&
          l <= o.block.close_line) {
        nested = true;
        break;
      }
    }
    if (!nested) out.push_back(l);
  }
  return out;
}

std::string_view indent_of(std::string_view l) {
  size_t n = 0;
  while (n < l.size() && (l[n] == ' ' || l[n] == '\t')) ++n;
  return l.substr(0, n);
}

std::optional<RawBlock> lookup(const std::vector<RawBlock>& all, std::string_view name) {
  const std::string wanted = strip_hat_marks(name);
  for (const RawBlock& r : all) {
    if (r.is_profile && r.block.name == wanted) return r;
  }
  return std::nullopt;
}

EditError not_found(std::string_view name) {
  return EditError{cat("no profile '", name, "' in this file"), 0};
}

// Rules from `rules` that are not among `existing` (normalised); also drops duplicates in `rules`.
void split_new(std::span<const std::string> rules, std::vector<std::string> existing,
               InsertResult& result) {
  for (const std::string& r : rules) {
    const std::string norm = normalize_rule(r);
    if (norm.empty()) continue;
    if (std::ranges::find(existing, norm) != existing.end()) {
      result.present.push_back(std::string(trim(r)));
      continue;
    }
    existing.push_back(norm);
    result.added.push_back(std::string(trim(r)));
  }
}

std::string render_lines(const std::vector<std::string>& lines, std::string_view indent) {
  std::string out;
  for (const std::string& l : lines) out += cat(indent, l, "\n");
  return out;
}

struct FlagsClause {
  size_t begin = 0;       // offset of "flags"
  size_t end = 0;         // one past ')'
  size_t list_begin = 0;  // one past '('
  size_t list_end = 0;    // offset of ')'
};

std::optional<FlagsClause> find_flags(std::string_view text, const ProfileBlock& b) {
  const std::string_view header = text.substr(0, b.open);
  size_t pos = b.header_begin;
  while ((pos = header.find("flags", pos)) != std::string_view::npos) {
    if (pos > b.header_begin && !is_space(header[pos - 1])) {
      pos += 5;
      continue;
    }
    size_t i = pos + 5;
    while (i < header.size() && is_space(header[i])) ++i;
    if (i >= header.size() || header[i] != '=') {
      pos += 5;
      continue;
    }
    ++i;
    while (i < header.size() && is_space(header[i])) ++i;
    if (i >= header.size() || header[i] != '(') {
      pos += 5;
      continue;
    }
    const size_t close = header.find(')', i);
    if (close == std::string_view::npos) return std::nullopt;
    return FlagsClause{pos, close + 1, i + 1, close};
  }
  // `flags=` is optional: `profile foo /usr/bin/foo (complain) {`. A '(' that starts a word,
  // outside comments and quotes, can only be the flags list there.
  for (size_t i = b.header_begin; i < b.open; ++i) {
    const char c = text[i];
    if (c == '#' && (i == 0 || is_space(text[i - 1]))) {
      while (i + 1 < b.open && text[i + 1] != '\n') ++i;
    } else if (c == '"') {
      while (i + 1 < b.open && text[i + 1] != '"' && text[i + 1] != '\n') ++i;
      ++i;
    } else if (c == '(' && i > b.header_begin && is_space(text[i - 1])) {
      const size_t close = header.find(')', i);
      if (close == std::string_view::npos) return std::nullopt;
      return FlagsClause{i, close + 1, i + 1, close};
    }
  }
  return std::nullopt;
}

std::vector<std::string> split_flags(std::string_view list) {
  std::vector<std::string> out;
  std::string cur;
  for (char c : list) {
    if (c == ',' || is_space(c)) {
      if (!cur.empty()) out.push_back(std::exchange(cur, {}));
    } else {
      cur += c;
    }
  }
  if (!cur.empty()) out.push_back(cur);
  return out;
}

// A relative path with no empty, "." or ".." component and no control byte.
bool is_safe_relative(std::string_view rel) {
  if (rel.empty() || rel.front() == '/') return false;
  if (std::ranges::any_of(
          rel, [](char c) { return static_cast<unsigned char>(c) < 0x20 || c == 0x7f; })) {
    return false;
  }
  size_t start = 0;
  while (start <= rel.size()) {
    const size_t end = std::min(rel.find('/', start), rel.size());
    const std::string_view part = rel.substr(start, end - start);
    if (part.empty() || part == "." || part == "..") return false;
    start = end + 1;
  }
  return true;
}

}  // namespace

std::expected<std::vector<ProfileBlock>, EditError> find_profile_blocks(std::string_view text) {
  auto all = scan_blocks(text);
  if (!all) return std::unexpected(all.error());
  std::vector<ProfileBlock> out;
  for (RawBlock& r : *all) {
    if (r.is_profile) out.push_back(std::move(r.block));
  }
  return out;
}

std::expected<ProfileBlock, EditError> find_profile_block(std::string_view text,
                                                          std::string_view name) {
  auto all = scan_blocks(text);
  if (!all) return std::unexpected(all.error());
  auto found = lookup(*all, name);
  if (!found) return std::unexpected(not_found(name));
  return found->block;
}

std::string normalize_rule(std::string_view line) {
  std::string_view l = trim(line);
  std::string src;
  if (l.starts_with("#include")) {
    src = std::string(l.substr(1));
  } else {
    // Strip a trailing comment: '#' at the start of a token.
    size_t cut = l.size();
    for (size_t i = 0; i < l.size(); ++i) {
      if (l[i] == '#' && (i == 0 || is_space(l[i - 1]))) {
        cut = i;
        break;
      }
    }
    src = std::string(l.substr(0, cut));
  }
  std::string out;
  bool space = false;
  for (char c : trim(src)) {
    if (is_space(c)) {
      space = true;
      continue;
    }
    if (space && !out.empty()) out += ' ';
    space = false;
    out += c;
  }
  return out;
}

std::expected<InsertResult, EditError> insert_rules(std::string_view text, std::string_view profile,
                                                    std::span<const std::string> rules) {
  auto all = scan_blocks(text);
  if (!all) return std::unexpected(all.error());
  const auto found = lookup(*all, profile);
  if (!found) return std::unexpected(not_found(profile));
  const ProfileBlock& b = found->block;
  const std::vector<size_t> starts = line_starts(text);
  const std::vector<size_t> direct = direct_lines(*all, b);

  std::vector<std::string> existing;
  std::string indent;
  bool have_indent = false;
  for (size_t l : direct) {
    const std::string_view lt = line_at(text, starts, l);
    if (trim(lt).empty() || is_comment_line(lt)) continue;
    existing.push_back(normalize_rule(lt));
    indent = std::string(indent_of(lt));
    have_indent = true;
  }
  InsertResult result;
  split_new(rules, std::move(existing), result);
  result.text = std::string(text);
  if (result.added.empty()) return result;

  const std::string_view header_indent = indent_of(line_at(text, starts, b.header_line));
  if (!have_indent) indent = std::string(header_indent) + "  ";

  if (b.close_line == b.open_line) {
    // A one-line block (`profile x { /a r, }`): open it up around the new lines.
    std::string ins = "\n" + render_lines(result.added, indent) + std::string(header_indent);
    size_t at = b.close;
    while (at > b.open + 1 && is_space(text[at - 1])) --at;
    result.text.replace(at, b.close - at, ins);
    return result;
  }
  // After the last non-blank, non-comment line of the block (a nested block's '}' counts).
  size_t last = b.open_line;
  for (size_t l = b.open_line + 1; l < b.close_line; ++l) {
    const std::string_view lt = line_at(text, starts, l);
    if (!trim(lt).empty() && !is_comment_line(lt)) last = l;
  }
  const std::string_view close_line = line_at(text, starts, b.close_line);
  const bool close_alone = trim(close_line.substr(0, b.close - starts[b.close_line - 1])).empty();
  if (!close_alone) {
    // `  /x r, }`: the new lines go before the brace, which moves to its own line.
    std::string ins = "\n" + render_lines(result.added, indent) + std::string(header_indent);
    size_t at = b.close;
    while (at > starts[b.close_line - 1] && is_space(text[at - 1])) --at;
    result.text.replace(at, b.close - at, ins);
    return result;
  }
  const size_t at = last < starts.size() ? starts[last] : text.size();
  result.text.insert(at, render_lines(result.added, indent));
  return result;
}

std::expected<InsertResult, EditError> insert_top_level_rules(std::string_view text,
                                                              std::span<const std::string> rules) {
  auto all = scan_blocks(text);
  if (!all) return std::unexpected(all.error());
  const std::vector<size_t> starts = line_starts(text);
  std::vector<std::string> existing;
  std::string indent;
  const size_t nlines = text.empty() ? 0 : starts.size();
  for (size_t l = 1; l <= nlines; ++l) {
    bool nested = false;
    for (const RawBlock& o : *all) {
      if (l > o.block.header_line && l <= o.block.close_line) nested = true;
    }
    const std::string_view lt = line_at(text, starts, l);
    if (nested || trim(lt).empty() || is_comment_line(lt)) continue;
    existing.push_back(normalize_rule(lt));
    indent = std::string(indent_of(lt));
  }
  InsertResult result;
  split_new(rules, std::move(existing), result);
  result.text = std::string(text);
  if (result.added.empty()) return result;
  if (!result.text.empty() && result.text.back() != '\n') result.text += '\n';
  result.text += render_lines(result.added, indent);
  return result;
}

std::expected<InsertResult, EditError> ensure_include(std::string_view text,
                                                      std::string_view profile,
                                                      std::string_view include_path) {
  auto all = scan_blocks(text);
  if (!all) return std::unexpected(all.error());
  const auto found = lookup(*all, profile);
  if (!found) return std::unexpected(not_found(profile));
  const std::vector<size_t> starts = line_starts(text);
  const std::string plain = cat("include <", include_path, ">");
  const std::string if_exists = cat("include if exists <", include_path, ">");
  for (size_t l : direct_lines(*all, found->block)) {
    const std::string norm = normalize_rule(line_at(text, starts, l));
    if (norm == plain || norm == if_exists) return InsertResult{std::string(text), {}, {norm}};
  }
  const std::vector<std::string> line{if_exists};
  return insert_rules(text, profile, line);
}

std::expected<std::string, EditError> local_include_path(std::string_view text,
                                                         std::string_view profile,
                                                         std::string_view file_basename) {
  auto all = scan_blocks(text);
  if (!all) return std::unexpected(all.error());
  const auto found = lookup(*all, profile);
  if (!found) return std::unexpected(not_found(profile));
  // The include comes from profile text and the child suffix from a profile name: neither may lead
  // a write outside the tree (same rule as ProfileTree::files_for).
  auto checked = [&](std::string rel) -> std::expected<std::string, EditError> {
    if (is_safe_relative(rel)) return rel;
    return std::unexpected(EditError{cat("profile '", found->block.name, "': local include '", rel,
                                         "' would point outside the profile tree"),
                                     found->block.header_line});
  };
  const std::vector<size_t> starts = line_starts(text);
  for (size_t l : direct_lines(*all, found->block)) {
    std::string norm = normalize_rule(line_at(text, starts, l));
    for (std::string_view prefix : {"include if exists <local/", "include <local/"}) {
      if (norm.starts_with(prefix) && norm.ends_with('>')) {
        return checked(norm.substr(prefix.size() - 6, norm.size() - (prefix.size() - 6) - 1));
      }
    }
  }
  std::string path = cat("local/", file_basename);
  if (found->block.depth > 0) {
    const std::string& full = found->block.name;
    std::string child = full.substr(full.find("//") + 2);
    for (size_t p; (p = child.find("//")) != std::string::npos;) child.replace(p, 2, ".");
    path += "." + child;
  }
  return checked(path);
}

std::string new_local_override(std::string_view profile) {
  return cat(
      "# Site-specific additions and overrides for profile '", profile,
      "'.\n# This file is included inside the profile and is kept across package upgrades.\n");
}

std::expected<std::vector<std::string>, EditError> profile_flags(std::string_view text,
                                                                 std::string_view profile) {
  auto block = find_profile_block(text, profile);
  if (!block) return std::unexpected(block.error());
  const auto clause = find_flags(text, *block);
  if (!clause) return std::vector<std::string>{};
  return split_flags(text.substr(clause->list_begin, clause->list_end - clause->list_begin));
}

std::expected<std::string, EditError> set_complain_flag(std::string_view text,
                                                        std::string_view profile, bool complain) {
  auto block = find_profile_block(text, profile);
  if (!block) return std::unexpected(block.error());
  const ProfileBlock& b = *block;
  std::string out(text);
  const auto clause = find_flags(text, b);
  if (!clause) {
    if (!complain) return out;
    // After the header's last word; a comment ending a header line stays after the clause.
    size_t at = b.header_begin;
    for (size_t i = b.header_begin; i < b.open; ++i) {
      if (text[i] == '#' && (i == 0 || is_space(text[i - 1]))) {
        while (i + 1 < b.open && text[i + 1] != '\n') ++i;
      } else if (!is_space(text[i])) {
        at = i + 1;
      }
    }
    out.insert(at, " flags=(complain)");
    return out;
  }
  const std::string_view list =
      text.substr(clause->list_begin, clause->list_end - clause->list_begin);
  std::vector<std::string> flags = split_flags(list);
  const bool has = std::ranges::find(flags, "complain") != flags.end();
  if (has == complain) return out;
  if (complain) {
    // Append, keeping the clause's own separator style; `enforce` contradicts complain.
    std::erase(flags, "enforce");
    flags.push_back("complain");
  } else {
    std::erase(flags, "complain");
  }
  if (flags.empty()) {
    size_t from = clause->begin;
    while (from > b.header_begin && is_space(text[from - 1])) --from;
    // Keep one space before '{' when the clause sat between the name and the brace.
    const bool brace_follows = trim(text.substr(clause->end, b.open - clause->end)).empty();
    out.replace(from, clause->end - from, brace_follows && clause->end == b.open ? " " : "");
    return out;
  }
  std::string_view sep = ",";
  if (list.find(", ") != std::string_view::npos) {
    sep = ", ";
  } else if (list.find(',') == std::string_view::npos && list.find(' ') != std::string_view::npos) {
    sep = " ";
  }
  std::string joined;
  for (const std::string& f : flags) joined += (joined.empty() ? "" : std::string(sep)) + f;
  out.replace(clause->list_begin, clause->list_end - clause->list_begin, joined);
  return out;
}

}  // namespace aatune::rules
