#include "rules/aare.h"

#include <bitset>
#include <optional>
#include <utility>

namespace aatune::rules {

// A Thompson NFA: linear-time matching whatever the pattern, so a hostile or huge alternation from
// a tunable cannot make coverage checks of thousands of events blow up (no backtracking).
struct Aare::Program {
  enum class Op { kClass, kSplit, kMatch };
  struct State {
    Op op = Op::kMatch;
    int cls = -1;  // index into classes for kClass
    int out = -1;
    int out1 = -1;       // second branch of kSplit
    bool slash = false;  // a literal '/': may match nothing right after a '/' (see matches())
  };
  std::vector<State> states;
  std::vector<std::bitset<256>> classes;
  int start = -1;
};

namespace {

constexpr size_t kMaxExpansionDepth = 32;
constexpr size_t kMaxGroupDepth = 50;  // the parser's own limit on {} nesting

std::expected<void, std::string> expand_into(std::string_view pattern, const Variables& vars,
                                             std::vector<std::string>& stack, std::string& out) {
  for (size_t i = 0; i < pattern.size(); ++i) {
    const char c = pattern[i];
    if (c == '\\' && i + 1 < pattern.size()) {
      out += c;
      out += pattern[++i];
      continue;
    }
    if (c != '@' || i + 1 >= pattern.size() || pattern[i + 1] != '{') {
      out += c;
      continue;
    }
    const size_t close = pattern.find('}', i + 2);
    if (close == std::string_view::npos) {
      return std::unexpected("unterminated variable reference '@{' in '" + std::string(pattern) +
                             "'");
    }
    const std::string name(pattern.substr(i + 2, close - i - 2));
    const auto it = vars.find(name);
    if (it == vars.end()) return std::unexpected("undefined variable @{" + name + "}");
    for (const auto& open : stack) {
      if (open == name) return std::unexpected("variable @{" + name + "} is defined in a cycle");
    }
    if (stack.size() >= kMaxExpansionDepth) {
      return std::unexpected("variables nested too deeply at @{" + name + "}");
    }
    stack.push_back(name);
    const auto& values = it->second;
    if (values.size() == 1) {
      if (auto r = expand_into(values.front(), vars, stack, out); !r) return r;
    } else if (!values.empty()) {
      out += '{';
      for (size_t v = 0; v < values.size(); ++v) {
        if (v > 0) out += ',';
        if (auto r = expand_into(values[v], vars, stack, out); !r) return r;
      }
      out += '}';
    }
    stack.pop_back();
    i = close;
  }
  return {};
}

// Builds the NFA by recursive descent over the expanded pattern.
class Compiler {
 public:
  explicit Compiler(std::string_view text) : text_(text) {}

  std::expected<Aare::Program, std::string> run() {
    auto frag = parse_sequence(0);
    if (!frag) return std::unexpected(frag.error());
    if (pos_ < text_.size()) {
      return std::unexpected(error_at(text_[pos_] == '}' ? "unmatched '}'" : "unmatched ','"));
    }
    const int match = add_state({Aare::Program::Op::kMatch, -1, -1, -1});
    patch(frag->outs, match);
    prog_.start = frag->start;
    return std::move(prog_);
  }

  bool literal() const { return literal_; }

 private:
  using Op = Aare::Program::Op;
  struct Hole {
    int state;
    bool second;
  };
  struct Frag {
    int start;
    std::vector<Hole> outs;
  };

  std::string error_at(std::string_view what) const {
    return std::string(what) + " at offset " + std::to_string(pos_) + " in '" + std::string(text_) +
           "'";
  }

  int add_state(Aare::Program::State s) {
    prog_.states.push_back(s);
    return static_cast<int>(prog_.states.size() - 1);
  }

  void patch(const std::vector<Hole>& holes, int target) {
    for (const auto& h : holes) {
      auto& s = prog_.states[static_cast<size_t>(h.state)];
      (h.second ? s.out1 : s.out) = target;
    }
  }

  Frag class_frag(const std::bitset<256>& set) {
    prog_.classes.push_back(set);
    const int s = add_state({Op::kClass, static_cast<int>(prog_.classes.size() - 1), -1, -1});
    return {s, {{s, false}}};
  }

  static std::bitset<256> not_slash() {
    std::bitset<256> b;
    b.set();
    b.reset(static_cast<unsigned char>('/'));
    b.reset(0);
    return b;
  }

  static std::bitset<256> any_char() {
    std::bitset<256> b;
    b.set();
    b.reset(0);
    return b;
  }

  // X* : split -> X -> back to split; exit through the split's second branch.
  Frag star(Frag inner) {
    const int split = add_state({Op::kSplit, -1, inner.start, -1});
    patch(inner.outs, split);
    return {split, {{split, true}}};
  }

  static Frag concat(std::optional<Frag> a, Frag b, Compiler& c) {
    if (!a) return b;
    c.patch(a->outs, b.start);
    return {a->start, std::move(b.outs)};
  }

  // An empty fragment: a split whose both branches lead to the same continuation.
  Frag empty() {
    const int s = add_state({Op::kSplit, -1, -1, -1});
    return {s, {{s, false}, {s, true}}};
  }

  bool prev_is_slash() const {
    // The parser inserts the "at least one character" guard when the glob follows a '/' it has
    // already emitted; an escaped "\/" counts as a slash too.
    return pos_ > 0 && text_[pos_ - 1] == '/';
  }

  std::expected<Frag, std::string> parse_sequence(size_t depth) {
    std::optional<Frag> acc;
    while (pos_ < text_.size()) {
      const char c = text_[pos_];
      if (depth > 0 && (c == ',' || c == '}')) break;
      if (depth == 0 && c == '}') break;
      std::expected<Frag, std::string> item = parse_item(depth);
      if (!item) return item;
      acc = concat(std::move(acc), std::move(*item), *this);
    }
    if (!acc) return empty();
    return std::move(*acc);
  }

  std::expected<Frag, std::string> parse_item(size_t depth) {
    const char c = text_[pos_];
    switch (c) {
      case '\\': {
        if (pos_ + 1 >= text_.size()) return std::unexpected(error_at("trailing '\\'"));
        if (const auto byte = octal_escape(pos_)) {
          pos_ += 4;
          return literal_char(*byte);
        }
        pos_ += 2;
        return literal_char(text_[pos_ - 1]);
      }
      case '*': {
        literal_ = false;
        const bool guard = prev_is_slash();
        size_t end = pos_;
        while (end < text_.size() && text_[end] == '*') ++end;
        const bool is_double = end - pos_ >= 2;
        const bool component = guard && (end == text_.size() || text_[end] == '/');
        pos_ = end;
        std::optional<Frag> result;
        if (component) result = class_frag(not_slash());
        Frag rest = star(class_frag(is_double ? any_char() : not_slash()));
        return concat(std::move(result), std::move(rest), *this);
      }
      case '?':
        literal_ = false;
        ++pos_;
        return class_frag(not_slash());
      case '[':
        literal_ = false;
        return parse_class();
      case '{':
        literal_ = false;
        return parse_group(depth + 1);
      case '/': {
        // Runs of '/' mean one '/', as the parser's slash filter makes them.
        while (pos_ + 1 < text_.size() && text_[pos_ + 1] == '/') ++pos_;
        ++pos_;
        Frag f = literal_char('/');
        prog_.states[static_cast<size_t>(f.start)].slash = true;
        return f;
      }
      default:
        ++pos_;
        return literal_char(c);
    }
  }

  // `\NNN` (three octal digits) is the byte NNN, as the parser's escape processing reads it.
  std::optional<char> octal_escape(size_t at) const {
    if (at + 3 >= text_.size()) return std::nullopt;
    unsigned v = 0;
    for (size_t k = at + 1; k <= at + 3; ++k) {
      if (text_[k] < '0' || text_[k] > '7') return std::nullopt;
      v = v * 8 + static_cast<unsigned>(text_[k] - '0');
    }
    if (v == 0 || v > 0xff) return std::nullopt;
    return static_cast<char>(v);
  }

  Frag literal_char(char c) {
    std::bitset<256> b;
    b.set(static_cast<unsigned char>(c));
    return class_frag(b);
  }

  std::expected<Frag, std::string> parse_class() {
    const size_t open = pos_;
    ++pos_;  // '['
    bool negate = false;
    if (pos_ < text_.size() && text_[pos_] == '^') {
      negate = true;
      ++pos_;
    }
    std::bitset<256> set;
    bool first = true;
    while (true) {
      if (pos_ >= text_.size()) {
        pos_ = open;
        return std::unexpected(error_at("unclosed '['"));
      }
      char c = text_[pos_];
      if (c == ']' && !first) break;
      first = false;
      if (c == '\\') {
        if (pos_ + 1 >= text_.size()) return std::unexpected(error_at("trailing '\\'"));
        if (const auto byte = octal_escape(pos_)) {
          c = *byte;
          pos_ += 3;
        } else {
          c = text_[++pos_];
        }
      }
      ++pos_;
      unsigned char lo = static_cast<unsigned char>(c);
      unsigned char hi = lo;
      if (pos_ + 1 < text_.size() && text_[pos_] == '-' && text_[pos_ + 1] != ']') {
        char h = text_[pos_ + 1];
        pos_ += 2;
        if (h == '\\') {
          if (pos_ >= text_.size()) return std::unexpected(error_at("trailing '\\'"));
          h = text_[pos_++];
        }
        hi = static_cast<unsigned char>(h);
        if (hi < lo) return std::unexpected(error_at("reversed range in '[…]'"));
      }
      for (unsigned v = lo; v <= hi; ++v) set.set(v);
    }
    ++pos_;  // ']'
    if (negate) set.flip();
    set.reset(0);
    return class_frag(set);
  }

  std::expected<Frag, std::string> parse_group(size_t depth) {
    if (depth >= kMaxGroupDepth) return std::unexpected(error_at("'{}' nested too deeply"));
    const size_t open = pos_;
    ++pos_;  // '{'
    std::vector<Frag> alternatives;
    while (true) {
      auto alt = parse_sequence(depth);
      if (!alt) return alt;
      alternatives.push_back(std::move(*alt));
      if (pos_ >= text_.size()) {
        pos_ = open;
        return std::unexpected(error_at("unclosed '{'"));
      }
      if (text_[pos_] == '}') break;
      ++pos_;  // ','
    }
    ++pos_;  // '}'
    if (alternatives.size() < 2) {
      // apparmor_parser rejects "{a}": a group needs at least one ','.
      pos_ = open;
      return std::unexpected(error_at("'{…}' without ','"));
    }
    // Chain of splits: alt0 | (alt1 | (alt2 …)).
    Frag result = alternatives.back();
    for (size_t i = alternatives.size() - 1; i-- > 0;) {
      const int split = add_state({Op::kSplit, -1, alternatives[i].start, result.start});
      std::vector<Hole> outs = alternatives[i].outs;
      outs.insert(outs.end(), result.outs.begin(), result.outs.end());
      result = {split, std::move(outs)};
    }
    return result;
  }

  std::string_view text_;
  size_t pos_ = 0;
  bool literal_ = true;
  Aare::Program prog_;
};

void add_closure(const Aare::Program& prog, int s, std::vector<int>& list,
                 std::vector<unsigned>& mark, unsigned gen) {
  // Iterative: a long chain of empty alternatives must not exhaust the stack.
  std::vector<int> todo{s};
  while (!todo.empty()) {
    const int cur = todo.back();
    todo.pop_back();
    if (cur < 0 || mark[static_cast<size_t>(cur)] == gen) continue;
    mark[static_cast<size_t>(cur)] = gen;
    const auto& st = prog.states[static_cast<size_t>(cur)];
    if (st.op == Aare::Program::Op::kSplit) {
      todo.push_back(st.out1);
      todo.push_back(st.out);
    } else {
      list.push_back(cur);
    }
  }
}

}  // namespace

std::expected<std::string, std::string> expand_variables(std::string_view pattern,
                                                         const Variables& vars) {
  std::string out;
  std::vector<std::string> stack;
  if (auto r = expand_into(pattern, vars, stack, out); !r) return std::unexpected(r.error());
  return out;
}

std::expected<Aare, std::string> Aare::compile(std::string_view pattern, const Variables& vars) {
  auto expanded = expand_variables(pattern, vars);
  if (!expanded) return std::unexpected(expanded.error());
  Compiler compiler(*expanded);
  auto prog = compiler.run();
  if (!prog) return std::unexpected(prog.error());
  Aare a;
  a.pattern_ = std::string(pattern);
  a.literal_ = compiler.literal();
  for (const char c : *expanded) {
    if (c == '*' || c == '?' || c == '[' || c == '{' || c == '\\' || c == '@') break;
    if (c == '/' && !a.prefix_.empty() && a.prefix_.back() == '/') continue;
    a.prefix_ += c;
  }
  a.program_ = std::make_shared<const Program>(std::move(*prog));
  return a;
}

bool Aare::matches(std::string_view path) const {
  if (!program_) return false;
  size_t k = 0;
  for (size_t i = 0; k < prefix_.size(); ++i) {
    if (i >= path.size()) return false;
    if (path[i] == '/' && i > 0 && path[i - 1] == '/') continue;
    if (path[i] != prefix_[k++]) return false;
  }
  const Program& prog = *program_;
  std::vector<unsigned> mark(prog.states.size(), 0);
  unsigned gen = 1;
  std::vector<int> current;
  std::vector<int> next;
  add_closure(prog, prog.start, current, mark, gen);
  for (size_t i = 0; i < path.size() && !current.empty(); ++i) {
    // Paths compare with runs of '/' collapsed, like patterns.
    if (path[i] == '/' && i > 0 && path[i - 1] == '/') continue;
    const auto c = static_cast<unsigned char>(path[i]);
    ++gen;
    next.clear();
    for (const int s : current) {
      const auto& st = prog.states[static_cast<size_t>(s)];
      if (st.op == Program::Op::kClass && prog.classes[static_cast<size_t>(st.cls)].test(c)) {
        add_closure(prog, st.out, next, mark, gen);
      }
    }
    if (c == '/') {
      // Variables and groups can put two '/' next to each other (`@{HOME}/x` with HOME ending in
      // '/'); the parser's slash filter makes them one, so a literal '/' straight after a
      // consumed '/' may be skipped.
      for (size_t k = 0; k < next.size(); ++k) {
        const auto& st = prog.states[static_cast<size_t>(next[k])];
        if (st.slash) add_closure(prog, st.out, next, mark, gen);
      }
    }
    current.swap(next);
  }
  for (const int s : current) {
    if (prog.states[static_cast<size_t>(s)].op == Program::Op::kMatch) return true;
  }
  return false;
}

bool aare_matches(std::string_view pattern, std::string_view path, const Variables& vars) {
  auto a = Aare::compile(pattern, vars);
  return a && a->matches(path);
}

}  // namespace aatune::rules
