#include "rules/profile_tree.h"

#include <algorithm>
#include <array>
#include <cstdint>
#include <fstream>
#include <map>
#include <set>
#include <sstream>
#include <system_error>
#include <utility>

namespace aatune::rules {

namespace fs = std::filesystem;

// Patterns of every rule compiled once, so coverage checks of thousands of events only match.
struct CompiledRule {
  bool valid = true;  // false when a pattern did not compile (undefined variable, bad AARE)
  std::array<std::optional<Aare>, 7> fields;
};

struct ProfileTree::Index {
  std::vector<std::vector<CompiledRule>> per_profile;  // aligned with profiles[i].rules
  std::map<std::string, std::vector<RuleEntry>, std::less<>> include_rules;
  std::map<std::string, std::vector<CompiledRule>, std::less<>> include_compiled;
  Variables variables;
};

namespace {

constexpr size_t kMaxIncludeDepth = 32;
// Real profile files are a few KiB; a bigger one is a mistake or an attack on memory.
constexpr std::uintmax_t kMaxPolicyFileBytes = 4 * 1024 * 1024;

bool is_space(char c) {
  return c == ' ' || c == '\t' || c == '\r' || c == '\n' || c == '\f' || c == '\v';
}

std::string trim(std::string_view s) {
  while (!s.empty() && is_space(s.front())) s.remove_prefix(1);
  while (!s.empty() && is_space(s.back())) s.remove_suffix(1);
  return std::string(s);
}

std::string collapse(std::string_view s) {
  std::string out;
  bool space = false;
  for (const char c : s) {
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

std::string unquote(std::string_view v) {
  if (v.size() >= 2 && v.front() == '"' && v.back() == '"')
    return std::string(v.substr(1, v.size() - 2));
  return std::string(v);
}

// ---- lexing a policy file into statements ----

struct Stmt {
  enum class Kind { kRule, kOpen, kClose, kInclude, kVariable, kDirective };
  Kind kind = Kind::kRule;
  std::string text;      // whitespace collapsed; rules keep their trailing ','
  size_t line = 0;       // where the statement starts
  size_t open_line = 0;  // kOpen: line of '{'
};

bool starts_with_word(std::string_view s, std::string_view word) {
  return s.starts_with(word) && (s.size() == word.size() || is_space(s[word.size()]) ||
                                 s[word.size()] == '<' || s[word.size()] == '"');
}

bool is_variable_assignment(std::string_view s) {
  if (!s.starts_with("@{")) return false;
  const size_t close = s.find('}');
  if (close == std::string_view::npos) return false;
  std::string_view rest = s.substr(close + 1);
  while (!rest.empty() && is_space(rest.front())) rest.remove_prefix(1);
  return rest.starts_with("=") || rest.starts_with("+=");
}

// Statements that end at the end of their line rather than at a ','.
bool is_line_statement(std::string_view s) {
  return starts_with_word(s, "include") || starts_with_word(s, "#include") ||
         is_variable_assignment(s);
}

bool is_variable_name_char(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_';
}

// The same question as is_line_statement, asked after every character of a growing statement.
// It remembers what it has settled so that a 1 MiB line costs linear time, not quadratic:
// once the statement's start rules a line statement in or out, more characters cannot change it.
class LineStatementProbe {
 public:
  // `s`: the statement so far without its leading whitespace; between resets it only grows.
  bool ends_at_newline(std::string_view s) {
    if (settled_) return verdict_;
    const auto decided = [&](bool verdict) {
      settled_ = true;
      verdict_ = verdict;
      return verdict;
    };
    for (const std::string_view word :
         {std::string_view("include"), std::string_view("#include")}) {
      // "include" alone is a line statement so far; "includex" is not: settle only past the word.
      if (s.size() > word.size() && starts_with_word(s, word)) return decided(true);
      if (s == word) return true;
      if (word.starts_with(s)) return false;
    }
    if (s.size() < 2) return s != "@" ? decided(false) : false;
    if (!s.starts_with("@{")) return decided(false);
    // @{NAME} = or @{NAME} +=: names are [A-Za-z0-9_]; scan each character once.
    if (close_ == 0) {
      for (; scanned_ < s.size(); ++scanned_) {
        if (s[scanned_] == '}') break;
        if (!is_variable_name_char(s[scanned_])) return decided(false);
      }
      if (scanned_ == s.size()) return false;
      close_ = scanned_;
    }
    std::string_view rest = s.substr(close_ + 1);
    while (!rest.empty() && is_space(rest.front())) rest.remove_prefix(1);
    if (rest.empty() || rest == "+") return false;
    return decided(rest.starts_with("=") || rest.starts_with("+="));
  }
  void reset() { *this = LineStatementProbe{}; }

 private:
  bool settled_ = false;
  bool verdict_ = false;
  size_t scanned_ = 2;  // next character of the variable name to look at
  size_t close_ = 0;    // position of the name's '}' once seen
};

std::vector<Stmt> lex(std::string_view text, std::vector<TreeWarning>& warnings,
                      const std::string& file) {
  std::vector<Stmt> out;
  std::string buf;
  size_t start_line = 0;
  size_t line = 1;
  int alt_depth = 0;    // inside an AARE {…} alternation
  int paren_depth = 0;  // inside (…)
  // buf[0, lead) is whitespace: the statement's content starts at `lead` (kept, not recomputed,
  // so that each character costs O(1)).
  size_t lead = 0;
  LineStatementProbe probe;
  const auto flush = [&](Stmt::Kind kind) {
    std::string t = collapse(buf);
    buf.clear();
    lead = 0;
    probe.reset();
    alt_depth = 0;
    paren_depth = 0;
    if (t.empty() && kind == Stmt::Kind::kRule) return;
    out.push_back({kind, std::move(t), start_line ? start_line : line, line});
    start_line = 0;
  };
  const auto rest_of_line_blank = [&](size_t i) {
    for (size_t k = i + 1; k < text.size() && text[k] != '\n'; ++k) {
      if (text[k] == '#') return true;
      if (!is_space(text[k])) return false;
    }
    return true;
  };
  for (size_t i = 0; i < text.size(); ++i) {
    const char c = text[i];
    while (lead < buf.size() && is_space(buf[lead])) ++lead;
    const std::string_view trimmed = std::string_view(buf).substr(lead);
    const bool line_statement = !trimmed.empty() && probe.ends_at_newline(trimmed);
    if (c == '\n') {
      if (line_statement) {
        const bool include = !is_variable_assignment(trimmed);
        flush(include ? Stmt::Kind::kInclude : Stmt::Kind::kVariable);
      } else if (!buf.empty()) {
        buf += ' ';
      }
      ++line;
      continue;
    }
    if (trimmed.empty() && !is_space(c)) start_line = line;
    if (c == '"') {
      // Copy a quoted string whole: no comment, brace or comma inside it counts.
      buf += c;
      for (++i; i < text.size(); ++i) {
        if (text[i] == '\n') ++line;
        buf += text[i];
        if (text[i] == '\\' && i + 1 < text.size()) {
          buf += text[++i];
          continue;
        }
        if (text[i] == '"') break;
      }
      continue;
    }
    if (c == '#') {
      const std::string_view rest = text.substr(i);
      if (trimmed.empty() && rest.starts_with("#include") &&
          (rest.size() == 8 || is_space(rest[8]) || rest[8] == '<' || rest[8] == '"')) {
        buf += c;  // the old `#include` directive, not a comment
        continue;
      }
      if (buf.empty() || is_space(buf.back()) || buf.back() == ',') {
        while (i + 1 < text.size() && text[i + 1] != '\n') ++i;
        continue;
      }
    }
    if (line_statement) {
      // Includes and variable assignments end at the newline: their braces and commas are
      // alternations, not blocks or statement ends.
      buf += c;
      continue;
    }
    if (c == '(') ++paren_depth;
    if (c == ')' && paren_depth > 0) --paren_depth;
    if (c == '{' && paren_depth == 0) {
      const bool after_space = buf.empty() || is_space(buf.back()) || buf.back() == ')';
      if (after_space && (!trimmed.empty() || rest_of_line_blank(i))) {
        if (trimmed.empty()) start_line = line;
        flush(Stmt::Kind::kOpen);
        continue;
      }
      ++alt_depth;
    } else if (c == '}' && paren_depth == 0) {
      if (alt_depth > 0) {
        --alt_depth;
      } else {
        if (!trimmed.empty()) {
          warnings.push_back({file, start_line,
                              "statement '" + collapse(buf) + "' is missing its ',' before '}'"});
          buf += ',';
          flush(Stmt::Kind::kRule);
        }
        start_line = line;
        flush(Stmt::Kind::kClose);
        continue;
      }
    } else if (c == ',' && alt_depth == 0 && paren_depth == 0) {
      buf += c;
      const std::string t = trim(buf);
      const bool directive = starts_with_word(t, "abi") || starts_with_word(t, "alias");
      flush(directive ? Stmt::Kind::kDirective : Stmt::Kind::kRule);
      continue;
    }
    buf += c;
  }
  const std::string trimmed = trim(buf);
  if (!trimmed.empty()) {
    if (is_line_statement(trimmed)) {
      flush(is_variable_assignment(trimmed) ? Stmt::Kind::kVariable : Stmt::Kind::kInclude);
    } else {
      warnings.push_back({file, start_line, "unterminated statement '" + collapse(buf) + "'"});
    }
  }
  return out;
}

// ---- the reader ----

struct Header {
  std::string name;
  std::string attachment;
  std::vector<std::string> flags;
  bool is_hat = false;
  bool transparent = false;  // a block that is no profile (conditional, unknown): keep reading
};

std::vector<std::string> split_words(std::string_view s) {
  std::vector<std::string> out;
  std::string cur;
  bool quoted = false;
  for (const char c : s) {
    if (c == '"') quoted = !quoted;
    if (!quoted && (is_space(c) || c == ',')) {
      if (!cur.empty()) out.push_back(unquote(cur));
      cur.clear();
    } else {
      cur += c;
    }
  }
  if (!cur.empty()) out.push_back(unquote(cur));
  return out;
}

// Variable values: separated by whitespace only (commas belong to alternations).
std::vector<std::string> split_values(std::string_view s) {
  std::vector<std::string> out;
  std::string cur;
  bool quoted = false;
  for (const char c : s) {
    if (c == '"') quoted = !quoted;
    if (!quoted && is_space(c)) {
      if (!cur.empty()) out.push_back(unquote(cur));
      cur.clear();
    } else {
      cur += c;
    }
  }
  if (!cur.empty()) out.push_back(unquote(cur));
  return out;
}

// `profile NAME [ATTACH] [flags=(…)] [xattrs=(…)]`, `hat NAME`, `^NAME`, `/path`.
Header parse_header(std::string_view text) {
  Header h;
  std::string t(text);
  // Pull out key=(…) / key=value conditions first.
  std::vector<std::string> words;
  {
    std::string cur;
    int depth = 0;
    bool quoted = false;
    for (size_t i = 0; i < t.size(); ++i) {
      const char c = t[i];
      if (c == '"') quoted = !quoted;
      if (!quoted && c == '(') ++depth;
      if (!quoted && c == ')') --depth;
      if (!quoted && depth == 0 && is_space(c)) {
        // `flags = (…)`: glue "=" to its neighbours.
        if (!cur.empty() && (cur.back() == '=' || (i + 1 < t.size() && t[i + 1] == '='))) continue;
        if (!cur.empty()) words.push_back(cur);
        cur.clear();
        continue;
      }
      cur += c;
    }
    if (!cur.empty()) words.push_back(cur);
  }
  std::vector<std::string> plain;
  for (const auto& w : words) {
    const size_t eq = w.find('=');
    if (eq != std::string::npos && w.front() != '"' && w.front() != '/' && w.front() != '@') {
      const std::string key = w.substr(0, eq);
      std::string value = w.substr(eq + 1);
      if (value.size() >= 2 && value.front() == '(' && value.back() == ')') {
        value = value.substr(1, value.size() - 2);
      }
      if (key == "flags") h.flags = split_words(value);
      continue;  // xattrs=, and conditions we do not model
    }
    plain.push_back(w);
  }
  if (plain.empty()) {
    h.transparent = true;
    return h;
  }
  size_t i = 0;
  while (i < plain.size() && (plain[i] == "audit" || plain[i] == "deny" || plain[i] == "allow" ||
                              plain[i] == "owner")) {
    ++i;
  }
  if (i >= plain.size()) {
    h.transparent = true;
    return h;
  }
  if (plain[i] == "profile" || plain[i] == "hat") {
    h.is_hat = plain[i] == "hat";
    if (i + 1 >= plain.size()) {
      h.transparent = true;
      return h;
    }
    h.name = unquote(plain[i + 1]);
    if (i + 2 < plain.size()) h.attachment = unquote(plain[i + 2]);
  } else if (plain[i].starts_with("^")) {
    h.is_hat = true;
    h.name = unquote(plain[i].substr(1));
  } else if (plain[i].starts_with("/") || plain[i].starts_with("\"/") ||
             plain[i].starts_with("@{")) {
    h.name = unquote(plain[i]);
  } else {
    h.transparent = true;
    return h;
  }
  if (h.attachment.empty() && (h.name.starts_with("/") || h.name.starts_with("@{"))) {
    h.attachment = h.name;
  }
  return h;
}

struct Block {
  int profile = -1;  // index in profiles, -1 for a transparent block
  std::string file;
};

class Reader {
 public:
  Reader(ProfileTree& tree) : tree_(tree) {}

  void read_profile_file(const fs::path& path) {
    std::vector<Block> blocks;
    run_file(path, blocks, "", 0);
    if (!blocks.empty()) warn(path.string(), 0, "unclosed '{' at end of file");
  }

 private:
  void warn(const std::string& file, size_t line, std::string message) {
    // Warn once per message: a new keyword used in an abstraction would otherwise repeat for
    // every profile that includes it.
    if (!warned_.insert(message).second) return;
    tree_.warnings.push_back({file, line, std::move(message)});
  }

  const std::vector<Stmt>* statements(const fs::path& path) {
    const std::string key = path.string();
    if (auto it = cache_.find(key); it != cache_.end()) return &it->second;
    std::error_code size_ec;
    const auto size = fs::file_size(path, size_ec);
    if (!size_ec && size > kMaxPolicyFileBytes) {
      warn(key, 0,
           "file is " + std::to_string(size) + " bytes, over the " +
               std::to_string(kMaxPolicyFileBytes) + "-byte limit for policy files; skipped");
      return &cache_.emplace(key, std::vector<Stmt>{}).first->second;
    }
    std::ifstream in(path, std::ios::binary);
    if (!in) return nullptr;
    std::stringstream ss;
    ss << in.rdbuf();
    std::vector<TreeWarning> lex_warnings;
    auto stmts = lex(ss.str(), lex_warnings, key);
    for (auto& w : lex_warnings) warn(w.file, w.line, std::move(w.message));
    return &cache_.emplace(key, std::move(stmts)).first->second;
  }

  // Executes the statements of one file. `via` is the outermost include (as written in the
  // profile) that led here, empty for the profile file itself.
  void run_file(const fs::path& path, std::vector<Block>& blocks, const std::string& via,
                size_t depth) {
    const auto* stmts = statements(path);
    if (stmts == nullptr) {
      warn(path.string(), 0, "cannot read " + path.string());
      return;
    }
    const std::string file = path.string();
    const size_t base_depth = blocks.size();
    for (const Stmt& s : *stmts) {
      switch (s.kind) {
        case Stmt::Kind::kOpen:
          open_block(s, file, blocks);
          break;
        case Stmt::Kind::kClose:
          if (blocks.size() <= base_depth) {
            warn(file, s.line, "'}' without a matching '{'");
            break;
          }
          if (blocks.back().profile >= 0) {
            auto& p = tree_.profiles[static_cast<size_t>(blocks.back().profile)];
            if (p.file == file) p.close_line = s.line;
          }
          blocks.pop_back();
          break;
        case Stmt::Kind::kInclude:
          include(s, path, blocks, via, depth);
          break;
        case Stmt::Kind::kVariable:
          variable(s, file);
          break;
        case Stmt::Kind::kDirective:
          directive(s, file);  // abi: nothing the model needs; alias: kept for coverage
          break;
        case Stmt::Kind::kRule:
          rule(s, file, blocks, via);
          break;
      }
    }
    if (blocks.size() > base_depth && !via.empty()) {
      warn(file, 0, "included file leaves a '{' open");
      blocks.resize(base_depth);
    }
  }

  int current_profile(const std::vector<Block>& blocks) const {
    for (auto it = blocks.rbegin(); it != blocks.rend(); ++it) {
      if (it->profile >= 0) return it->profile;
    }
    return -1;
  }

  void open_block(const Stmt& s, const std::string& file, std::vector<Block>& blocks) {
    Header h = parse_header(s.text);
    if (h.transparent) {
      if (!s.text.starts_with("if ") && !s.text.starts_with("else")) {
        warn(file, s.line, "unknown block '" + s.text + " {' (its content is still read)");
      }
      blocks.push_back({-1, file});
      return;
    }
    Profile p;
    const int parent = current_profile(blocks);
    p.local_name = h.name;
    p.is_hat = h.is_hat;
    if (parent >= 0) {
      p.parent = tree_.profiles[static_cast<size_t>(parent)].name;
      p.name = p.parent + "//" + h.name;
    } else {
      p.name = h.name;
    }
    p.attachment = h.attachment;
    p.flags = std::move(h.flags);
    p.file = file;
    p.header_line = s.line;
    p.open_line = s.open_line;
    tree_.profiles.push_back(std::move(p));
    blocks.push_back({static_cast<int>(tree_.profiles.size() - 1), file});
  }

  void include(const Stmt& s, const fs::path& from, std::vector<Block>& blocks,
               const std::string& via, size_t depth) {
    std::string_view t = s.text;
    t.remove_prefix(t.starts_with("#include") ? 8 : 7);
    std::string rest = trim(t);
    bool if_exists = false;
    if (rest.starts_with("if exists")) {
      if_exists = true;
      rest = trim(std::string_view(rest).substr(9));
    }
    fs::path target;
    std::string name;
    if (rest.size() >= 2 && rest.front() == '<' && rest.back() == '>') {
      name = rest.substr(1, rest.size() - 2);
      target = tree_.root / name;
    } else if (rest.size() >= 2 && rest.front() == '"' && rest.back() == '"') {
      name = rest.substr(1, rest.size() - 2);
      target = fs::path(name).is_absolute() ? fs::path(name) : from.parent_path() / name;
    } else {
      warn(from.string(), s.line, "cannot read include '" + s.text + "'");
      return;
    }
    const int profile = current_profile(blocks);
    if (profile >= 0 && via.empty()) {
      tree_.profiles[static_cast<size_t>(profile)].includes.push_back(name);
    }
    std::error_code ec;
    if (!fs::exists(target, ec)) {
      if (!if_exists) {
        warn(from.string(), s.line, "include <" + name + "> not found (" + target.string() + ")");
      }
      return;
    }
    if (active_.contains(target.string())) {
      warn(from.string(), s.line, "include <" + name + "> recurses into itself; skipped");
      return;
    }
    if (depth >= kMaxIncludeDepth) {
      warn(from.string(), s.line,
           "include <" + name + "> nests deeper than " + std::to_string(kMaxIncludeDepth) +
               " includes; skipped");
      return;
    }
    const std::string outer = via.empty() ? name : via;
    const size_t first_rule =
        profile >= 0 ? tree_.profiles[static_cast<size_t>(profile)].rules.size() : 0;
    active_.insert(target.string());
    if (fs::is_directory(target, ec)) {
      std::vector<fs::path> files;
      for (const auto& e : fs::directory_iterator(target, ec)) {
        const std::string base = e.path().filename().string();
        if (base.starts_with(".") || !e.is_regular_file(ec)) continue;
        files.push_back(e.path());
      }
      std::sort(files.begin(), files.end());
      for (const auto& f : files) run_file(f, blocks, outer, depth + 1);
    } else {
      run_file(target, blocks, outer, depth + 1);
    }
    active_.erase(target.string());
    if (profile >= 0) {
      const auto& rules = tree_.profiles[static_cast<size_t>(profile)].rules;
      if (!include_rules_.contains(name)) {
        include_rules_[name].assign(rules.begin() + static_cast<std::ptrdiff_t>(first_rule),
                                    rules.end());
      }
    }
  }

  void directive(const Stmt& s, const std::string& file) {
    if (!starts_with_word(s.text, "alias")) return;
    std::string_view t = std::string_view(s.text).substr(5);
    while (!t.empty() && (is_space(t.back()) || t.back() == ',')) t.remove_suffix(1);
    const size_t arrow = t.find("->");
    const auto trim = [](std::string_view v) {
      while (!v.empty() && is_space(v.front())) v.remove_prefix(1);
      while (!v.empty() && is_space(v.back())) v.remove_suffix(1);
      if (v.size() >= 2 && v.front() == '"' && v.back() == '"') v = v.substr(1, v.size() - 2);
      return std::string(v);
    };
    if (arrow == std::string_view::npos) {
      warn(file, s.line, "alias without '->': ignored");
      return;
    }
    std::string from = trim(t.substr(0, arrow));
    std::string to = trim(t.substr(arrow + 2));
    if (!from.starts_with('/') || !to.starts_with('/')) {
      warn(file, s.line, "alias needs two absolute paths: ignored");
      return;
    }
    tree_.aliases.emplace_back(std::move(from), std::move(to));
  }

  void variable(const Stmt& s, const std::string& file) {
    const size_t close = s.text.find('}');
    const std::string name = s.text.substr(2, close - 2);
    std::string_view rest = std::string_view(s.text).substr(close + 1);
    while (!rest.empty() && is_space(rest.front())) rest.remove_prefix(1);
    const bool append = rest.starts_with("+=");
    rest.remove_prefix(append ? 2 : 1);
    std::vector<std::string> values = split_values(rest);
    auto& slot = tree_.variables[name];
    if (!append) {
      // Every profile file includes tunables/global again: a re-definition replaces, so values
      // never pile up.
      slot = std::move(values);
    } else {
      for (auto& v : values) {
        if (std::find(slot.begin(), slot.end(), v) == slot.end()) slot.push_back(std::move(v));
      }
    }
    (void)file;
  }

  void rule(const Stmt& s, const std::string& file, const std::vector<Block>& blocks,
            const std::string& via) {
    const int profile = current_profile(blocks);
    if (profile < 0) {
      warn(file, s.line, "rule '" + s.text + "' outside any profile; ignored");
      return;
    }
    auto parsed = parse_rule(s.text);
    RuleEntry e;
    e.text = s.text;
    e.file = file;
    e.line = s.line;
    e.via_include = via;
    if (parsed) {
      e.rule = std::move(*parsed);
      if (const auto* u = std::get_if<UnknownRule>(&e.rule.body)) {
        warn(file, s.line, u->reason + ": '" + s.text + "' kept as text");
      }
    } else {
      e.rule.body = UnknownRule{s.text, parsed.error()};
      warn(file, s.line, parsed.error());
    }
    if (s.text.find("@{profile_name}") != std::string::npos) {
      tree_.uses_profile_name_variable = true;
    }
    tree_.profiles[static_cast<size_t>(profile)].rules.push_back(std::move(e));
  }

 public:
  std::map<std::string, std::vector<RuleEntry>, std::less<>> include_rules_;

 private:
  ProfileTree& tree_;
  std::map<std::string, std::vector<Stmt>> cache_;
  std::set<std::string> active_;
  std::set<std::string> warned_;
};

// ---- coverage ----

constexpr uint32_t kAll = 0xffffffffu;

uint32_t file_bits(std::string_view perms, std::string_view exec_mode) {
  uint32_t bits = 0;
  for (const char c : perms) {
    switch (c) {
      case 'm':
        bits |= 1u << 0;
        break;
      case 'r':
        bits |= 1u << 1;
        break;
      case 'w':
      case 'c':
      case 'd':
        bits |= 1u << 2;
        break;
      case 'a':
        bits |= 1u << 3;
        break;
      case 'l':
        bits |= 1u << 4;
        break;
      case 'k':
        bits |= 1u << 5;
        break;
      case 'x':
        bits |= 1u << 6;
        break;
      default:
        break;
    }
  }
  if (!exec_mode.empty()) bits |= 1u << 6;
  return bits;
}

std::string file_letters(uint32_t bits) {
  static constexpr std::string_view kLetters = "mrwalkx";
  std::string out;
  for (size_t i = 0; i < kLetters.size(); ++i) {
    if (bits & (1u << i)) out += kLetters[i];
  }
  return out;
}

uint32_t word_bits(const std::vector<std::string>& words,
                   std::initializer_list<std::pair<std::string_view, uint32_t>> table) {
  if (words.empty()) return kAll;
  uint32_t bits = 0;
  for (const auto& w : words) {
    for (const auto& [name, b] : table) {
      if (w == name) bits |= b;
    }
  }
  return bits;
}

uint32_t signal_bits(const std::vector<std::string>& a) {
  return word_bits(
      a, {{"send", 1}, {"w", 1}, {"write", 1}, {"receive", 2}, {"r", 2}, {"read", 2}, {"rw", 3}});
}
uint32_t ptrace_bits(const std::vector<std::string>& a, bool rule) {
  // A rule granting trace also grants read (and tracedby grants readby).
  if (rule) {
    return word_bits(a, {{"read", 1},
                         {"trace", 3},
                         {"readby", 4},
                         {"tracedby", 12},
                         {"r", 5},
                         {"w", 15},
                         {"rw", 15}});
  }
  return word_bits(
      a,
      {{"read", 1}, {"trace", 2}, {"readby", 4}, {"tracedby", 8}, {"r", 5}, {"w", 10}, {"rw", 15}});
}
uint32_t dbus_bits(const std::vector<std::string>& a) {
  return word_bits(a, {{"send", 1},
                       {"w", 1},
                       {"write", 1},
                       {"receive", 2},
                       {"r", 2},
                       {"read", 2},
                       {"rw", 3},
                       {"bind", 4},
                       {"eavesdrop", 8}});
}
uint32_t unix_bits(const std::vector<std::string>& a) {
  return word_bits(a, {{"create", 1},
                       {"bind", 2},
                       {"listen", 4},
                       {"accept", 8},
                       {"connect", 16},
                       {"shutdown", 32},
                       {"getattr", 64},
                       {"setattr", 128},
                       {"getopt", 256},
                       {"setopt", 512},
                       {"send", 1024},
                       {"receive", 2048},
                       {"r", 2048 | 8 | 64 | 256},
                       {"read", 2048 | 8 | 64 | 256},
                       {"w", 1024 | 1 | 2 | 4 | 16 | 32 | 128 | 512},
                       {"write", 1024 | 1 | 2 | 4 | 16 | 32 | 128 | 512},
                       {"rw", 4095}});
}
uint32_t mqueue_bits(const std::vector<std::string>& a) {
  return word_bits(a, {{"create", 1},
                       {"open", 2},
                       {"delete", 4},
                       {"read", 8},
                       {"write", 16},
                       {"getattr", 32},
                       {"setattr", 64},
                       {"r", 8 | 32},
                       {"w", 1 | 4 | 16 | 64},
                       {"rw", 127}});
}
uint32_t uring_bits(const std::vector<std::string>& a) {
  return word_bits(a, {{"sqpoll", 1}, {"override_creds", 2}});
}

// Does the compiled field match the request value? An unset rule field means "any"; a set rule
// field never matches a request that does not say (we cannot prove it is allowed).
bool field_ok(const std::optional<Aare>& pattern, const std::string& value) {
  if (!pattern) return true;
  if (value.empty()) return false;
  return pattern->matches(value);
}

std::string unescape(std::string_view s) {
  std::string out;
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '\\' && i + 1 < s.size()) ++i;
    out += s[i];
  }
  return out;
}

bool subset_of(const std::vector<std::string>& want, const std::vector<std::string>& have) {
  if (have.empty()) return true;
  return std::all_of(want.begin(), want.end(), [&](const std::string& w) {
    return std::find(have.begin(), have.end(), w) != have.end();
  });
}

// The request bits `rule` grants (0 when it does not apply). `requested` is the request's bits.
uint32_t grants(const Rule& rule, const CompiledRule& c, const Rule& req, uint32_t requested) {
  if (!c.valid) return 0;
  const auto& f = c.fields;
  if (const auto* q = std::get_if<FileRule>(&req.body)) {
    const auto* r = std::get_if<FileRule>(&rule.body);
    if (r == nullptr || !field_ok(f[0], q->path)) return 0;
    uint32_t g = file_bits(r->perms, r->exec_mode);
    if (g & (1u << 2)) g |= 1u << 3;                                         // w implies a
    if (r->exec_mode == "ix" || r->exec_mode.ends_with("ix")) g |= 1u << 0;  // ix implies m
    return g & requested;
  }
  if (const auto* q = std::get_if<LinkRule>(&req.body)) {
    if (std::holds_alternative<LinkRule>(rule.body)) {
      return field_ok(f[0], q->path) && field_ok(f[1], q->target) ? requested : 0;
    }
    if (const auto* r = std::get_if<FileRule>(&rule.body)) {
      if (r->perms.find('l') == std::string::npos || !field_ok(f[0], q->path)) return 0;
      return field_ok(f[1], q->target) ? requested : 0;
    }
    return 0;
  }
  if (const auto* q = std::get_if<CapabilityRule>(&req.body)) {
    const auto* r = std::get_if<CapabilityRule>(&rule.body);
    return r != nullptr && subset_of(q->caps, r->caps) ? requested : 0;
  }
  if (const auto* q = std::get_if<NetworkRule>(&req.body)) {
    const auto* r = std::get_if<NetworkRule>(&rule.body);
    if (r == nullptr) return 0;
    const bool fam = r->family.empty() || r->family == q->family;
    const bool typ = r->type_or_protocol.empty() || r->type_or_protocol == q->type_or_protocol;
    // A fine-grained condition the rule sets must hold for the request; one it leaves out is any.
    const auto cond = [](const std::string& rv, const std::string& qv) {
      return rv.empty() || rv == qv;
    };
    const bool addr = cond(r->local_ip, q->local_ip) && cond(r->local_port, q->local_port) &&
                      cond(r->peer_ip, q->peer_ip) && cond(r->peer_port, q->peer_port);
    const bool acc = r->access.empty() || subset_of(q->access, r->access);
    return fam && typ && addr && acc ? requested : 0;
  }
  if (const auto* q = std::get_if<SignalRule>(&req.body)) {
    const auto* r = std::get_if<SignalRule>(&rule.body);
    if (r == nullptr || !subset_of(q->signals, r->signals) || !field_ok(f[0], q->peer)) return 0;
    return signal_bits(r->access) & requested;
  }
  if (const auto* q = std::get_if<PtraceRule>(&req.body)) {
    const auto* r = std::get_if<PtraceRule>(&rule.body);
    if (r == nullptr || !field_ok(f[0], q->peer)) return 0;
    return ptrace_bits(r->access, true) & requested;
  }
  if (const auto* q = std::get_if<UnixRule>(&req.body)) {
    const auto* r = std::get_if<UnixRule>(&rule.body);
    if (r == nullptr) return 0;
    if (!r->type.empty() && r->type != q->type) return 0;
    if (!r->protocol.empty() && r->protocol != q->protocol) return 0;
    if (!field_ok(f[0], q->addr) || !field_ok(f[1], q->label) || !field_ok(f[2], q->peer_label) ||
        !field_ok(f[3], q->peer_addr)) {
      return 0;
    }
    return unix_bits(r->access) & requested;
  }
  if (const auto* q = std::get_if<DbusRule>(&req.body)) {
    const auto* r = std::get_if<DbusRule>(&rule.body);
    if (r == nullptr) return 0;
    if (!field_ok(f[0], q->bus) || !field_ok(f[1], q->path) || !field_ok(f[2], q->name) ||
        !field_ok(f[3], q->interface) || !field_ok(f[4], q->member) ||
        !field_ok(f[5], q->peer_name) || !field_ok(f[6], q->peer_label)) {
      return 0;
    }
    return dbus_bits(r->access) & requested;
  }
  if (const auto* q = std::get_if<MountRule>(&req.body)) {
    const auto* r = std::get_if<MountRule>(&rule.body);
    if (r == nullptr || r->kind != q->kind) return 0;
    if (!subset_of(q->fstypes, r->fstypes) || !subset_of(q->options, r->options)) return 0;
    if (!field_ok(f[0], q->source) || !field_ok(f[1], q->target)) return 0;
    return requested;
  }
  if (const auto* q = std::get_if<ChangeProfileRule>(&req.body)) {
    const auto* r = std::get_if<ChangeProfileRule>(&rule.body);
    if (r == nullptr) return 0;
    if (!q->exec_cond.empty() && !field_ok(f[0], q->exec_cond)) return 0;
    if (q->exec_cond.empty() && f[0]) return 0;
    return field_ok(f[1], q->target) ? requested : 0;
  }
  if (std::holds_alternative<UsernsRule>(req.body)) {
    return std::holds_alternative<UsernsRule>(rule.body) ? requested : 0;
  }
  if (const auto* q = std::get_if<IoUringRule>(&req.body)) {
    const auto* r = std::get_if<IoUringRule>(&rule.body);
    if (r == nullptr || !field_ok(f[0], q->label)) return 0;
    return uring_bits(r->access) & requested;
  }
  if (const auto* q = std::get_if<MqueueRule>(&req.body)) {
    const auto* r = std::get_if<MqueueRule>(&rule.body);
    if (r == nullptr) return 0;
    if (!r->type.empty() && r->type != q->type) return 0;
    if (!field_ok(f[0], q->name) || !field_ok(f[1], q->label)) return 0;
    return mqueue_bits(r->access) & requested;
  }
  return 0;
}

uint32_t requested_bits(const Rule& req) {
  if (const auto* q = std::get_if<FileRule>(&req.body)) return file_bits(q->perms, q->exec_mode);
  if (const auto* q = std::get_if<SignalRule>(&req.body)) return signal_bits(q->access);
  if (const auto* q = std::get_if<PtraceRule>(&req.body)) return ptrace_bits(q->access, false);
  if (const auto* q = std::get_if<DbusRule>(&req.body)) return dbus_bits(q->access);
  if (const auto* q = std::get_if<UnixRule>(&req.body)) return unix_bits(q->access);
  if (const auto* q = std::get_if<MqueueRule>(&req.body)) return mqueue_bits(q->access);
  if (const auto* q = std::get_if<IoUringRule>(&req.body)) return uring_bits(q->access);
  return 1;
}

CompiledRule compile_rule(const Rule& rule, const Variables& vars, std::string* error) {
  CompiledRule c;
  std::array<const std::string*, 7> src{};
  if (const auto* r = std::get_if<FileRule>(&rule.body)) {
    src = {&r->path, &r->exec_target};
  } else if (const auto* r = std::get_if<LinkRule>(&rule.body)) {
    src = {&r->path, &r->target};
  } else if (const auto* r = std::get_if<SignalRule>(&rule.body)) {
    src = {&r->peer};
  } else if (const auto* r = std::get_if<PtraceRule>(&rule.body)) {
    src = {&r->peer};
  } else if (const auto* r = std::get_if<UnixRule>(&rule.body)) {
    src = {&r->addr, &r->label, &r->peer_label, &r->peer_addr};
  } else if (const auto* r = std::get_if<DbusRule>(&rule.body)) {
    src = {&r->bus, &r->path, &r->name, &r->interface, &r->member, &r->peer_name, &r->peer_label};
  } else if (const auto* r = std::get_if<MountRule>(&rule.body)) {
    src = {&r->source, &r->target};
  } else if (const auto* r = std::get_if<ChangeProfileRule>(&rule.body)) {
    src = {&r->exec_cond, &r->target};
  } else if (const auto* r = std::get_if<IoUringRule>(&rule.body)) {
    src = {&r->label};
  } else if (const auto* r = std::get_if<MqueueRule>(&rule.body)) {
    src = {&r->name, &r->label};
  }
  for (size_t i = 0; i < src.size(); ++i) {
    if (src[i] == nullptr || src[i]->empty()) continue;
    auto a = Aare::compile(*src[i], vars);
    if (!a) {
      c.valid = false;
      if (error != nullptr) *error = a.error();
      return c;
    }
    c.fields[i] = std::move(*a);
  }
  return c;
}

// Request paths may come AARE-escaped (rendered by quote_path_literal); match the real path.
Rule unescaped(const Rule& request) {
  Rule r = request;
  if (auto* f = std::get_if<FileRule>(&r.body)) f->path = unescape(f->path);
  if (auto* l = std::get_if<LinkRule>(&r.body)) {
    l->path = unescape(l->path);
    l->target = unescape(l->target);
  }
  return r;
}

Coverage evaluate(const std::vector<RuleEntry>& rules, const std::vector<CompiledRule>& compiled,
                  const Rule& escaped_request, bool owner_request) {
  const Rule request = unescaped(escaped_request);
  const uint32_t requested = requested_bits(request);
  uint32_t allow = 0;
  uint32_t allow_owner = 0;
  uint32_t deny = 0;
  Coverage out;
  for (size_t i = 0; i < rules.size(); ++i) {
    const Rule& r = rules[i].rule;
    if (std::holds_alternative<UnknownRule>(r.body)) continue;
    // An `owner` deny rule only applies to the owner's requests.
    if (r.deny && r.owner && !owner_request) continue;
    const uint32_t g = grants(r, compiled[i], request, requested);
    if (g == 0) continue;
    if (r.deny) {
      deny |= g;
      if (!out.deny) out.deny = rules[i];
    } else if (r.owner) {
      allow_owner |= g;
      if (!out.owner) out.owner = rules[i];
    } else {
      allow |= g;
      if (!out.allow) out.allow = rules[i];
    }
  }
  const uint32_t effective = allow | (owner_request ? allow_owner : 0);
  if (owner_request && !out.allow && out.owner) out.allow = out.owner;
  if ((deny & requested) != 0) {
    out.kind = CoverageKind::kDenied;
  } else if ((requested & ~effective) == 0) {
    out.kind = CoverageKind::kAllowed;
  } else if (!owner_request && (requested & ~(allow | allow_owner)) == 0) {
    out.kind = CoverageKind::kOwnerOnly;
  }
  if (std::holds_alternative<FileRule>(request.body) && out.kind != CoverageKind::kAllowed) {
    out.missing = file_letters(requested & ~effective);
  }
  if (!owner_request && out.kind != CoverageKind::kOwnerOnly) {
    // Keep `owner` only as the hint "would be allowed if the owner asked".
    if ((requested & ~(allow | allow_owner)) != 0) out.owner.reset();
  }
  return out;
}

Variables with_profile_name(const Variables& vars, const std::string& name) {
  Variables v = vars;
  v["profile_name"] = {name};
  return v;
}

}  // namespace

bool Profile::has_flag(std::string_view flag) const {
  return std::find(flags.begin(), flags.end(), flag) != flags.end();
}

bool Profile::complain() const {
  return has_flag("complain") || has_flag("unconfined");
}

const Profile* ProfileTree::find(std::string_view name) const {
  std::string wanted(name);
  // "p//^hat" names the hat "p//hat".
  for (size_t pos = wanted.find("//^"); pos != std::string::npos; pos = wanted.find("//^")) {
    wanted.erase(pos + 2, 1);
  }
  for (const auto& p : profiles) {
    if (p.name == wanted) return &p;
  }
  return nullptr;
}

const Profile* ProfileTree::profile_for_program(std::string_view path) const {
  const Profile* best = nullptr;
  size_t best_prefix = 0;
  for (const auto& p : profiles) {
    if (!p.parent.empty() || p.attachment.empty()) continue;
    if (p.attachment == path) return &p;
    auto a = Aare::compile(p.attachment, variables);
    if (!a || !a->matches(path)) continue;
    const size_t prefix = p.attachment.find_first_of("*?[{@\\");
    const size_t len = prefix == std::string::npos ? p.attachment.size() : prefix;
    if (best == nullptr || len > best_prefix) {
      best = &p;
      best_prefix = len;
    }
  }
  return best;
}

namespace {
// A relative path with no empty, "." or ".." component and no control byte.
bool is_safe_relative(std::string_view rel) {
  if (rel.empty() || rel.front() == '/') return false;
  for (const char c : rel) {
    if (static_cast<unsigned char>(c) < 0x20 || c == 0x7f) return false;
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

std::expected<ProfileFiles, std::string> ProfileTree::files_for(std::string_view profile) const {
  const Profile* p = find(profile);
  if (p == nullptr) return std::unexpected("no profile named '" + std::string(profile) + "'");
  ProfileFiles out;
  out.profile_file = p->file;
  const std::string base = fs::path(p->file).filename().string();
  for (const auto& inc : p->includes) {
    if (inc.starts_with("local/")) {
      out.local_include = inc;
      out.local_included = true;
      break;
    }
  }
  if (out.local_include.empty()) {
    std::string suffix;
    if (!p->parent.empty()) {
      // Same convention as the editor: "local/<file>.<child>" with '/' written as '.'.
      const Profile* top = p;
      while (!top->parent.empty()) top = find(top->parent);
      suffix = p->name.substr(top->name.size() + 2);
      std::replace(suffix.begin(), suffix.end(), '/', '.');
      suffix = "." + suffix;
    }
    out.local_include = "local/" + base + suffix;
  }
  // The include name comes from profile text and the child suffix from a profile name: neither may
  // lead a write outside the tree.
  if (!is_safe_relative(out.local_include)) {
    return std::unexpected("profile '" + p->name + "': local include '" + out.local_include +
                           "' would point outside the profile tree");
  }
  out.local_file = (root / out.local_include).string();
  std::error_code ec;
  out.local_exists = fs::exists(out.local_file, ec);
  const std::string top_name = p->name.substr(0, p->name.find("//"));
  if (top_name.starts_with("libvirt-")) {
    out.libvirt_files = (root / "libvirt" / (top_name + ".files")).string();
  }
  return out;
}

std::expected<Coverage, std::string> ProfileTree::coverage(std::string_view profile,
                                                           const Rule& request,
                                                           bool owner_request) const {
  const Profile* p = find(profile);
  if (p == nullptr) return std::unexpected("no profile named '" + std::string(profile) + "'");
  const auto idx = static_cast<size_t>(p - profiles.data());
  const auto one = [&](const Rule& req) {
    if (index && idx < index->per_profile.size() &&
        index->per_profile[idx].size() == p->rules.size()) {
      return evaluate(p->rules, index->per_profile[idx], req, owner_request);
    }
    // A tree assembled by hand (tests, tools) has no index: compile on the fly.
    return coverage_of(p->rules, req, owner_request, with_profile_name(variables, p->name));
  };
  Coverage best = one(request);
  // `alias FROM -> TO`: a request under TO is also granted (or denied) by the rules for the same
  // path under FROM. Deny still wins over allow.
  const auto* f = std::get_if<FileRule>(&request.body);
  for (const auto& [from, to] : aliases) {
    if (f == nullptr || best.kind == CoverageKind::kDenied) break;
    if (!f->path.starts_with(to)) continue;
    Rule aliased = request;
    std::get<FileRule>(aliased.body).path = from + f->path.substr(to.size());
    Coverage c = one(aliased);
    if (c.kind == CoverageKind::kDenied ||
        (c.kind == CoverageKind::kAllowed && best.kind != CoverageKind::kAllowed)) {
      best = std::move(c);
    }
  }
  return best;
}

std::vector<std::string> ProfileTree::includes_allowing(const Rule& request,
                                                        bool owner_request) const {
  std::vector<std::string> out;
  if (!index) return out;
  for (const auto& [name, rules] : index->include_rules) {
    const auto it = index->include_compiled.find(name);
    if (it == index->include_compiled.end()) continue;
    if (evaluate(rules, it->second, request, owner_request).kind == CoverageKind::kAllowed) {
      out.push_back(name);
    }
  }
  return out;
}

std::vector<std::pair<std::string, RuleEntry>> ProfileTree::includes_allowing_with_site(
    const Rule& request, bool owner_request) const {
  std::vector<std::pair<std::string, RuleEntry>> out;
  if (!index) return out;
  for (const auto& [name, rules] : index->include_rules) {
    const auto it = index->include_compiled.find(name);
    if (it == index->include_compiled.end()) continue;
    Coverage c = evaluate(rules, it->second, request, owner_request);
    if (c.kind == CoverageKind::kAllowed && c.allow) out.emplace_back(name, std::move(*c.allow));
  }
  return out;
}

std::vector<std::string> ProfileTree::exec_modes_used(std::string_view profile) const {
  std::set<std::string> modes;
  if (const Profile* p = find(profile)) {
    for (const auto& e : p->rules) {
      if (e.from_include() || e.rule.deny) continue;
      if (const auto* f = std::get_if<FileRule>(&e.rule.body)) {
        if (!f->exec_mode.empty() && f->exec_mode != "x") modes.insert(f->exec_mode);
      }
    }
  }
  return {modes.begin(), modes.end()};
}

Coverage coverage_of(const std::vector<RuleEntry>& rules, const Rule& request, bool owner_request,
                     const Variables& vars) {
  std::vector<CompiledRule> compiled;
  compiled.reserve(rules.size());
  for (const auto& r : rules) compiled.push_back(compile_rule(r.rule, vars, nullptr));
  return evaluate(rules, compiled, request, owner_request);
}

std::expected<ProfileTree, std::string> read_profile_tree(const fs::path& root,
                                                          const TreeOptions& options) {
  std::error_code ec;
  if (!fs::exists(root, ec)) return std::unexpected(root.string() + ": no such directory");
  if (!fs::is_directory(root, ec)) return std::unexpected(root.string() + ": not a directory");
  ProfileTree tree;
  tree.root = root;
  std::vector<fs::path> files;
  const auto skipped_name = [](const std::string& base) {
    return base.starts_with(".") || base == "README" || base.ends_with("~") ||
           base.find(".dpkg-") != std::string::npos || base.ends_with(".rpmnew") ||
           base.ends_with(".rpmsave") || base.ends_with(".orig") || base.ends_with(".rej");
  };
  for (const auto& e : fs::directory_iterator(root, ec)) {
    if (!e.is_regular_file(ec)) continue;
    if (skipped_name(e.path().filename().string())) continue;
    files.push_back(e.path());
  }
  if (ec) return std::unexpected(root.string() + ": " + ec.message());
  if (options.read_libvirt && fs::is_directory(root / "libvirt", ec)) {
    for (const auto& e : fs::directory_iterator(root / "libvirt", ec)) {
      const std::string base = e.path().filename().string();
      if (!e.is_regular_file(ec) || !base.starts_with("libvirt-") || base.ends_with(".files") ||
          skipped_name(base)) {
        continue;
      }
      files.push_back(e.path());
    }
  }
  std::sort(files.begin(), files.end());
  Reader reader(tree);
  for (const auto& f : files) reader.read_profile_file(f);

  // disable/ holds links (or files) named like the profile files they disable.
  std::set<std::string> disabled;
  if (fs::is_directory(root / "disable", ec)) {
    for (const auto& e : fs::directory_iterator(root / "disable", ec)) {
      disabled.insert(e.path().filename().string());
    }
  }
  for (auto& p : tree.profiles) {
    if (disabled.contains(fs::path(p.file).filename().string())) p.disabled = true;
  }

  auto index = std::make_shared<ProfileTree::Index>();
  index->variables = tree.variables;
  std::set<std::string> compile_warned;
  for (const auto& p : tree.profiles) {
    const Variables vars = with_profile_name(tree.variables, p.name);
    std::vector<CompiledRule> compiled;
    compiled.reserve(p.rules.size());
    for (const auto& r : p.rules) {
      std::string error;
      compiled.push_back(compile_rule(r.rule, vars, &error));
      if (!error.empty() && compile_warned.insert(error).second) {
        tree.warnings.push_back({r.file, r.line, error + " (rule ignored in coverage)"});
      }
    }
    index->per_profile.push_back(std::move(compiled));
  }
  index->include_rules = std::move(reader.include_rules_);
  for (const auto& [name, rules] : index->include_rules) {
    std::vector<CompiledRule> compiled;
    for (const auto& r : rules) compiled.push_back(compile_rule(r.rule, tree.variables, nullptr));
    index->include_compiled.emplace(name, std::move(compiled));
  }
  tree.index = std::move(index);
  return tree;
}

}  // namespace aatune::rules
