#include "tui/app.h"

#include <algorithm>
#include <array>
#include <ctime>

namespace aatune::tui {
namespace {

using analyzer::Alternative;

enum class Command {
  kUp,
  kDown,
  kPgUp,
  kPgDn,
  kHome,
  kEnd,
  kOpen,
  kBack,
  kAllow,
  kDeny,
  kIgnore,
  kGlob,
  kExtension,
  kVariable,
  kOwner,
  kAudit,
  kEdit,
  kTarget,
  kPair,
  kSave,
  kReload,
  kDisable,
  kMode,
  kUndo,
  kSearch,
  kQuit,
  kHelp,
};

struct Binding {
  int key;
  Command command;
};

// The keymap: aa-logprof's letters, in either case.
constexpr std::array kBindings{
    Binding{kKeyUp, Command::kUp},          Binding{'k', Command::kUp},
    Binding{kKeyDown, Command::kDown},      Binding{'j', Command::kDown},
    Binding{kKeyPgUp, Command::kPgUp},      Binding{kKeyPgDn, Command::kPgDn},
    Binding{kKeyHome, Command::kHome},      Binding{kKeyEnd, Command::kEnd},
    Binding{kKeyEnter, Command::kOpen},     Binding{kKeyEsc, Command::kBack},
    Binding{kKeyBackspace, Command::kBack}, Binding{'a', Command::kAllow},
    Binding{'d', Command::kDeny},           Binding{'i', Command::kIgnore},
    Binding{'g', Command::kGlob},           Binding{'e', Command::kExtension},
    Binding{'v', Command::kVariable},       Binding{'o', Command::kOwner},
    Binding{'u', Command::kAudit},          Binding{'n', Command::kEdit},
    Binding{'t', Command::kTarget},         Binding{'p', Command::kPair},
    Binding{'s', Command::kSave},           Binding{'r', Command::kReload},
    Binding{'x', Command::kDisable},        Binding{'c', Command::kMode},
    Binding{'z', Command::kUndo},           Binding{'/', Command::kSearch},
    Binding{'q', Command::kQuit},           Binding{'?', Command::kHelp},
};

std::string time_text(std::optional<int64_t> seconds) {
  if (!seconds) return "-";
  const std::time_t t = *seconds;
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%d %H:%M", &tm);
  return buf;
}

std::string sparkline(const std::vector<uint64_t>& values) {
  static constexpr std::array<std::string_view, 8> kBars{"▁", "▂", "▃", "▄", "▅", "▆", "▇", "█"};
  const uint64_t max = values.empty() ? 0 : *std::ranges::max_element(values);
  std::string out;
  for (uint64_t v : values) {
    if (v == 0 || max == 0)
      out += ' ';
    else
      out += kBars[std::min<uint64_t>(7, (v * 8 - 1) / max)];
  }
  return out;
}

std::string_view kind_name(analyzer::TargetFile::Kind k) {
  switch (k) {
    case analyzer::TargetFile::Kind::kLocal:
      return "local";
    case analyzer::TargetFile::Kind::kProfileFile:
      return "profile";
    case analyzer::TargetFile::Kind::kLibvirtBase:
      return "libvirt profile";
    case analyzer::TargetFile::Kind::kLibvirtFiles:
      return ".files";
  }
  return "local";
}

std::string choice_key(const analyzer::Proposal& p) {
  return p.profile + '\x1f' + std::to_string(p.id);
}

size_t default_target(const analyzer::Proposal& p) {
  for (size_t i = 0; i < p.targets.size(); ++i) {
    if (p.targets[i].is_default) return i;
  }
  return 0;
}

bool is_letter(int key) {
  return key >= 'A' && key <= 'Z';
}

// Most severe first, then most frequent. A peer-side rule has no denial of its own: it sits right
// after the rule it pairs with, so that the pair is read (and accepted with P) together.
std::vector<Item> sorted_items(std::vector<Item> items) {
  struct Key {
    analyzer::Severity severity;
    uint64_t count;
    size_t anchor;
    bool peer;
  };
  std::vector<Key> keys;
  for (size_t i = 0; i < items.size(); ++i) {
    const auto& p = items[i].proposal;
    size_t anchor = i;
    if (p.peer_side && p.pair) {
      for (size_t j = 0; j < items.size(); ++j) {
        if (items[j].proposal.pair == p.pair && !items[j].proposal.peer_side) anchor = j;
      }
    }
    keys.push_back(
        {items[anchor].proposal.severity.level, items[anchor].count, anchor, anchor != i});
  }
  std::vector<size_t> order(items.size());
  for (size_t i = 0; i < order.size(); ++i) order[i] = i;
  std::ranges::stable_sort(order, [&](size_t a, size_t b) {
    const Key& x = keys[a];
    const Key& y = keys[b];
    if (x.severity != y.severity) return x.severity > y.severity;
    if (x.count != y.count) return x.count > y.count;
    if (x.anchor != y.anchor) return x.anchor < y.anchor;
    return x.peer < y.peer;
  });
  std::vector<Item> out;
  out.reserve(items.size());
  for (size_t i : order) out.push_back(std::move(items[i]));
  return out;
}

// Spinner frames of the progress line: plain ASCII, so it shows on any terminal.
constexpr std::array<char, 4> kSpinner{'|', '/', '-', '\\'};

// Commands that keep working while a job runs: they read only what is already on screen.
bool works_while_busy(Command c) {
  switch (c) {
    case Command::kUp:
    case Command::kDown:
    case Command::kPgUp:
    case Command::kPgDn:
    case Command::kHome:
    case Command::kEnd:
    case Command::kBack:
    case Command::kSearch:
    case Command::kHelp:
      return true;
    default:
      return false;
  }
}

}  // namespace

const std::vector<KeyHelp>& key_help() {
  static const std::vector<KeyHelp> kHelp{
      {"Up/Down PgUp/PgDn Home/End", "move"},
      {"Enter", "open (profile → groups → detail)"},
      {"Esc / Backspace", "back"},
      {"A", "allow: accept the proposed rule"},
      {"D", "deny: accept it as a deny rule"},
      {"I", "ignore the group (remembered in the store)"},
      {"G", "cycle globs of the rule"},
      {"E", "extension glob"},
      {"V", "use variables"},
      {"O / U", "toggle owner / audit"},
      {"N", "edit the rule text (checked by the rules model)"},
      {"T", "cycle target file (profile / local / .files)"},
      {"P", "accept the peer pair too"},
      {"S", "review the diff and save (y/Enter writes, Esc back)"},
      {"R", "reload the profile"},
      {"X", "disable the profile (asks)"},
      {"C", "toggle complain / enforce"},
      {"Z", "undo the last applied change"},
      {"/", "search"},
      {"Q", "quit (asks if unsaved)"},
      {"?", "this help"},
  };
  return kHelp;
}

App::App(Backend& backend, Size size) : backend_(backend), size_(size) {}

void App::start() {
  const std::string label = backend_.refresh_label();
  if (label.empty()) {
    load_profiles();
    return;
  }
  post(
      label, [this] { return backend_.refresh(); },
      [this](WorkResult r) {
        status_.clear();
        load_profiles();
        if (!r)
          status_ = "error: " + r.error() + "; " + status_;
        else if (!r->empty())
          status_ = *r + "; " + status_;
      });
}

void App::post(std::string label, std::function<WorkResult()> run,
               std::function<void(WorkResult)> done) {
  busy_label_ = label;
  busy_notice_.clear();
  elapsed_ = std::chrono::milliseconds(0);
  pending_ = Job{std::move(label), std::move(run)};
  on_done_ = std::move(done);
}

std::optional<Job> App::take_job() {
  std::optional<Job> j;
  j.swap(pending_);
  return j;
}

void App::finish_job(WorkResult result) {
  auto done = std::move(on_done_);
  on_done_ = nullptr;
  busy_label_.clear();
  busy_notice_.clear();
  if (done) done(std::move(result));
}

void App::load_profiles() {
  auto p = backend_.profiles();
  if (!p) {
    status_ = "error: " + p.error();
    return;
  }
  profiles_ = std::move(*p);
  if (profile_sel_ >= profiles_.size()) profile_sel_ = profiles_.empty() ? 0 : profiles_.size() - 1;
  if (status_.empty()) {
    status_ = profiles_.empty()
                  ? "no open denials"
                  : std::to_string(profiles_.size()) + " profile(s) with open denials";
  }
}

void App::load_items() {
  auto it = backend_.items(profile_);
  if (!it) {
    status_ = "error: " + it.error();
    items_.clear();
    return;
  }
  items_ = sorted_items(std::move(*it));
  if (item_sel_ >= items_.size()) item_sel_ = items_.empty() ? 0 : items_.size() - 1;
  if (screen_ == ScreenId::kDetail) complete_evidence();
}

void App::complete_evidence() {
  if (items_.empty()) return;
  Item& item = items_[current_item()];
  if (item.evidence_complete) return;
  auto ev = backend_.evidence(item);
  if (!ev) {
    // The sample stays on screen: the proposal does not depend on the rest.
    status_ = "error: " + ev.error();
    return;
  }
  item.evidence = std::move(*ev);
  item.evidence_complete = true;
}

std::vector<std::string> App::variants(const Item& item) const {
  std::vector<std::string> out{item.proposal.rule};
  for (const auto& alt : item.proposal.alternatives) {
    if (alt.kind != Alternative::Kind::kFlag) out.push_back(alt.text);
  }
  return out;
}

const App::Choice* App::find_choice(size_t index) const {
  const auto it = choices_.find(choice_key(items_[index].proposal));
  return it == choices_.end() ? nullptr : &it->second;
}

App::Choice& App::choice(size_t index) {
  const auto& p = items_[index].proposal;
  auto [it, inserted] = choices_.try_emplace(choice_key(p));
  if (inserted) {
    it->second.target = default_target(p);
    it->second.owner = p.rule.starts_with("owner ");
  }
  return it->second;
}

std::string App::rule_text(size_t index, bool deny) const {
  const Item& item = items_[index];
  const Choice* c = find_choice(index);
  const auto vars = variants(item);
  std::string base =
      c && c->edited ? *c->edited : vars[c ? std::min(c->variant, vars.size() - 1) : 0];
  if (base.empty()) return base;
  const bool owner = c ? c->owner : base.starts_with("owner ");
  if (base.starts_with("owner ")) base.erase(0, 6);
  std::string out;
  if (c && c->audit) out += "audit ";
  if (deny) out += "deny ";
  if (owner) out += "owner ";
  return out + base;
}

TargetKind App::target_kind(size_t index) const {
  const auto& p = items_[index].proposal;
  const Choice* c = find_choice(index);
  const size_t t = c ? c->target : default_target(p);
  if (t >= p.targets.size()) return TargetKind::kLocal;
  switch (p.targets[t].file.kind) {
    case analyzer::TargetFile::Kind::kLocal:
      return TargetKind::kLocal;
    case analyzer::TargetFile::Kind::kProfileFile:
    case analyzer::TargetFile::Kind::kLibvirtBase:
      return TargetKind::kProfile;
    case analyzer::TargetFile::Kind::kLibvirtFiles:
      return TargetKind::kLibvirtFiles;
  }
  return TargetKind::kLocal;
}

std::string App::target_path(size_t index) const {
  const auto& p = items_[index].proposal;
  const Choice* c = find_choice(index);
  const size_t t = c ? c->target : default_target(p);
  return t < p.targets.size() ? p.targets[t].file.path : std::string("(no target)");
}

size_t App::current_item() const {
  return item_sel_;
}

size_t App::row_count() const {
  switch (screen_) {
    case ScreenId::kProfiles:
      return profiles_.size();
    case ScreenId::kGroups:
      return items_.size();
    case ScreenId::kDetail:
    case ScreenId::kReview:
      return view().rows.size();
  }
  return 0;
}

void App::move(long delta) {
  size_t* pos = screen_ == ScreenId::kProfiles ? &profile_sel_
                : screen_ == ScreenId::kGroups ? &item_sel_
                                               : &scroll_;
  const long n = static_cast<long>(row_count());
  long v = static_cast<long>(*pos) + delta;
  v = std::clamp(v, 0L, std::max(0L, n - 1));
  *pos = static_cast<size_t>(v);
}

void App::accept(size_t index, bool deny, bool confirmed) {
  const auto& p = items_[index].proposal;
  if (p.rule.empty()) {
    status_ = "no rule can be proposed: " + p.refused;
    return;
  }
  if (p.unverified && !confirmed) {
    prompt_ = Prompt::kUnverified;
    input_ = deny ? "d" : "a";
    return;
  }
  Accepted a{p.profile, rule_text(index, deny), target_kind(index), items_[index].group_keys, deny};
  const std::string key = choice_key(p);
  const auto it = std::ranges::find(accepted_ids_, key);
  if (it != accepted_ids_.end()) {
    accepted_[static_cast<size_t>(it - accepted_ids_.begin())] = std::move(a);
  } else {
    accepted_.push_back(std::move(a));
    accepted_ids_.push_back(key);
  }
  status_ = std::string(deny ? "deny" : "allow") + ": " + rule_text(index, deny) + " → " +
            target_path(index) + " (" + std::to_string(accepted_.size()) +
            " accepted; S to review)";
}

void App::accept_pair(size_t index) {
  const auto& p = items_[index].proposal;
  if (!p.pair) {
    status_ = "this proposal has no peer pair";
    return;
  }
  size_t n = 0;
  for (size_t i = 0; i < items_.size(); ++i) {
    if (items_[i].proposal.pair == p.pair && !items_[i].proposal.rule.empty()) {
      accept(i, false, true);
      ++n;
    }
  }
  status_ = "accepted the pair: " + std::to_string(n) + " rule(s) (" +
            std::to_string(accepted_.size()) + " accepted; S to review)";
}

void App::open_review() {
  if (accepted_.empty()) {
    status_ = "nothing accepted yet: A allows the selected proposal";
    return;
  }
  auto pv = backend_.preview(accepted_);
  if (!pv) {
    status_ = "error: " + pv.error();
    return;
  }
  preview_ = std::move(*pv);
  if (screen_ != ScreenId::kReview) before_review_ = screen_;
  screen_ = ScreenId::kReview;
  scroll_ = 0;
  status_ = "review: y or Enter writes, Esc goes back";
}

void App::cycle_variant(size_t index, std::initializer_list<Alternative::Kind> kinds) {
  const auto& alts = items_[index].proposal.alternatives;
  std::vector<size_t> cand{0};
  size_t vi = 0;
  for (const auto& alt : alts) {
    if (alt.kind == Alternative::Kind::kFlag) continue;
    ++vi;
    if (std::ranges::find(kinds, alt.kind) != kinds.end()) cand.push_back(vi);
  }
  if (cand.size() == 1) {
    status_ = "no such alternative for this rule";
    return;
  }
  Choice& c = choice(index);
  c.edited.reset();
  const auto it = std::ranges::find(cand, c.variant);
  c.variant =
      (it == cand.end() || it + 1 == cand.end()) ? cand[it == cand.end() ? 1 : 0] : *(it + 1);
  status_ = "rule: " + rule_text(index, false);
}

void App::search_next() {
  if (search_.empty()) return;
  auto matches = [&](const std::string& s) { return s.find(search_) != std::string::npos; };
  if (screen_ == ScreenId::kProfiles) {
    for (size_t k = 1; k <= profiles_.size(); ++k) {
      const size_t i = (profile_sel_ + k) % profiles_.size();
      if (matches(profiles_[i].name) || matches(profiles_[i].vm_name)) {
        profile_sel_ = i;
        status_ = "found '" + search_ + "'";
        return;
      }
    }
  } else if (screen_ == ScreenId::kGroups) {
    for (size_t k = 1; k <= items_.size(); ++k) {
      const size_t i = (item_sel_ + k) % items_.size();
      const auto& it = items_[i];
      bool hit = matches(it.proposal.rule);
      for (const auto& g : it.evidence) hit = hit || matches(g.key.target);
      if (hit) {
        item_sel_ = i;
        status_ = "found '" + search_ + "'";
        return;
      }
    }
  }
  status_ = "'" + search_ + "' not found";
}

Outcome App::handle_prompt(int key) {
  const Prompt p = prompt_;
  if (p == Prompt::kEditRule || p == Prompt::kSearch) {
    if (key == kKeyEsc) {
      prompt_ = Prompt::kNone;
      status_ = "cancelled";
    } else if (key == kKeyBackspace) {
      if (!input_.empty()) {
        // Drop one UTF-8 character, not one byte.
        size_t n = input_.size() - 1;
        while (n > 0 && (static_cast<unsigned char>(input_[n]) & 0xC0) == 0x80) --n;
        input_.erase(n);
      }
    } else if (key == kKeyEnter) {
      prompt_ = Prompt::kNone;
      if (p == Prompt::kSearch) {
        search_ = input_;
        search_next();
      } else if (!items_.empty()) {
        auto r = backend_.check_rule(input_);
        if (!r) {
          status_ = "not a valid rule: " + r.error();
        } else {
          Choice& c = choice(current_item());
          c.edited = *r;
          c.owner = r->starts_with("owner ");
          status_ = "rule: " + rule_text(current_item(), false);
        }
      }
    } else if (key >= 0x20 && key < 0x100) {
      input_ += static_cast<char>(key);
    }
    return Outcome::kRedraw;
  }
  prompt_ = Prompt::kNone;
  const bool yes = key == 'y' || key == 'Y' || (p == Prompt::kSave && key == kKeyEnter);
  if (!yes) {
    status_ = "cancelled";
    return Outcome::kRedraw;
  }
  switch (p) {
    case Prompt::kQuit:
      return Outcome::kQuit;
    case Prompt::kUnverified:
      accept(current_item(), input_ == "d", true);
      break;
    case Prompt::kDisable: {
      const std::string name = screen_ == ScreenId::kProfiles && !profiles_.empty()
                                   ? profiles_[profile_sel_].name
                                   : profile_;
      post(
          "disabling " + name, [this, name] { return backend_.disable(name); },
          [this](WorkResult r) {
            status_ = r ? *r : "error: " + r.error();
            load_profiles();
          });
      break;
    }
    default:
      break;
  }
  return Outcome::kRedraw;
}

Outcome App::handle(int key) {
  if (key == kKeyResize) return Outcome::kRedraw;
  if (prompt_ != Prompt::kNone) return handle_prompt(key);
  if (help_) {
    help_ = false;
    return Outcome::kRedraw;
  }
  const bool save_key = key == 'y' || key == 'Y' || key == kKeyEnter;
  const int k = is_letter(key) ? key - 'A' + 'a' : key;
  const auto b = std::ranges::find(kBindings, k, &Binding::key);
  if (busy()) {
    // Input never freezes: moving, reading and searching go on; what needs the Backend waits.
    const bool open_detail =
        b != kBindings.end() && b->command == Command::kOpen && screen_ == ScreenId::kGroups;
    const bool allowed = b != kBindings.end() && !(screen_ == ScreenId::kReview && save_key) &&
                         (works_while_busy(b->command) || open_detail);
    if (!allowed) {
      busy_notice_ = b != kBindings.end() && b->command == Command::kQuit
                         ? "Q again when it is done (a write is never cut short)"
                         : "that key waits until it is done";
      return Outcome::kRedraw;
    }
    busy_notice_.clear();
  }
  if (screen_ == ScreenId::kReview && save_key) {
    post(
        "validating, writing and reloading " + std::to_string(accepted_.size()) + " rule(s)",
        [this, accepted = accepted_] { return backend_.save(accepted); },
        [this](WorkResult r) { after_save(std::move(r)); });
    return Outcome::kRedraw;
  }
  if (b == kBindings.end()) return Outcome::kRedraw;
  const bool on_item =
      (screen_ == ScreenId::kGroups || screen_ == ScreenId::kDetail) && !items_.empty();
  const std::string current_profile = screen_ == ScreenId::kProfiles
                                          ? (profiles_.empty() ? "" : profiles_[profile_sel_].name)
                                          : profile_;
  const long page = static_cast<long>(std::max<size_t>(1, body_height(view(), size_)));
  switch (b->command) {
    case Command::kUp:
      move(-1);
      break;
    case Command::kDown:
      move(1);
      break;
    case Command::kPgUp:
      move(-page);
      break;
    case Command::kPgDn:
      move(page);
      break;
    case Command::kHome:
      move(-static_cast<long>(row_count()));
      break;
    case Command::kEnd:
      move(static_cast<long>(row_count()));
      break;
    case Command::kOpen:
      if (screen_ == ScreenId::kProfiles && !profiles_.empty()) {
        profile_ = profiles_[profile_sel_].name;
        item_sel_ = 0;
        load_items();
        screen_ = ScreenId::kGroups;
      } else if (screen_ == ScreenId::kGroups && !items_.empty()) {
        scroll_ = 0;
        screen_ = ScreenId::kDetail;
        complete_evidence();
      }
      break;
    case Command::kBack:
      if (screen_ == ScreenId::kDetail)
        screen_ = ScreenId::kGroups;
      else if (screen_ == ScreenId::kGroups) {
        screen_ = ScreenId::kProfiles;
        // Counts change with every ignore and save; the store's aggregates are cheap to reread.
        if (!busy()) load_profiles();
      } else if (screen_ == ScreenId::kReview) {
        screen_ = before_review_;
        status_ = "not written; " + std::to_string(accepted_.size()) + " rule(s) still accepted";
      }
      break;
    case Command::kAllow:
    case Command::kDeny:
      if (on_item) {
        accept(current_item(), b->command == Command::kDeny, false);
        if (screen_ == ScreenId::kGroups && prompt_ == Prompt::kNone) move(1);
      }
      break;
    case Command::kIgnore:
      if (on_item) {
        auto r = backend_.ignore(items_[current_item()].group_keys);
        if (!r) {
          status_ = "error: " + r.error();
          break;
        }
        status_ = "ignored: " + std::string(items_[current_item()].proposal.rule) + " (remembered)";
        items_.erase(items_.begin() + static_cast<long>(current_item()));
        if (item_sel_ >= items_.size() && item_sel_ > 0) --item_sel_;
        if (screen_ == ScreenId::kDetail) screen_ = ScreenId::kGroups;
      }
      break;
    case Command::kGlob:
      if (on_item)
        cycle_variant(current_item(), {Alternative::Kind::kVolatile, Alternative::Kind::kGlob,
                                       Alternative::Kind::kRecursive});
      break;
    case Command::kExtension:
      if (on_item) cycle_variant(current_item(), {Alternative::Kind::kExtension});
      break;
    case Command::kVariable:
      if (on_item) cycle_variant(current_item(), {Alternative::Kind::kVariable});
      break;
    case Command::kOwner:
      if (on_item) {
        Choice& c = choice(current_item());
        c.owner = !c.owner;
        status_ = "rule: " + rule_text(current_item(), false);
      }
      break;
    case Command::kAudit:
      if (on_item) {
        Choice& c = choice(current_item());
        c.audit = !c.audit;
        status_ = "rule: " + rule_text(current_item(), false);
      }
      break;
    case Command::kEdit:
      if (on_item) {
        prompt_ = Prompt::kEditRule;
        input_ = rule_text(current_item(), false);
      }
      break;
    case Command::kTarget:
      if (on_item) {
        const auto& p = items_[current_item()].proposal;
        if (p.targets.empty()) {
          status_ = "no target file for this profile";
          break;
        }
        Choice& c = choice(current_item());
        c.target = (c.target + 1) % p.targets.size();
        const auto& t = p.targets[c.target].file;
        status_ = "target: " + t.path + " [" + std::string(kind_name(t.kind)) + "]" +
                  (t.warning.empty() ? "" : " — warning: " + t.warning);
      }
      break;
    case Command::kPair:
      if (on_item) accept_pair(current_item());
      break;
    case Command::kSave:
      open_review();
      break;
    case Command::kReload:
      if (current_profile.empty()) break;
      post(
          "reloading " + current_profile,
          [this, current_profile] { return backend_.reload(current_profile); },
          [this](WorkResult r) { status_ = r ? *r : "error: " + r.error(); });
      break;
    case Command::kDisable:
      if (!current_profile.empty()) prompt_ = Prompt::kDisable;
      break;
    case Command::kMode:
      if (current_profile.empty()) break;
      post(
          "switching " + current_profile + " between complain and enforce",
          [this, current_profile] { return backend_.toggle_mode(current_profile); },
          [this](WorkResult r) {
            status_ = r ? *r : "error: " + r.error();
            load_profiles();
          });
      break;
    case Command::kUndo:
      post(
          "undoing the last change", [this] { return backend_.undo(); },
          [this](WorkResult r) {
            status_ = r ? *r : "error: " + r.error();
            load_profiles();
            if (screen_ != ScreenId::kProfiles) load_items();
            if (screen_ == ScreenId::kDetail && items_.empty()) screen_ = ScreenId::kGroups;
          });
      break;
    case Command::kSearch:
      prompt_ = Prompt::kSearch;
      input_.clear();
      break;
    case Command::kQuit:
      if (accepted_.empty()) return Outcome::kQuit;
      prompt_ = Prompt::kQuit;
      break;
    case Command::kHelp:
      help_ = true;
      break;
  }
  return Outcome::kRedraw;
}

void App::after_save(WorkResult r) {
  if (!r) {
    status_ = "not saved: " + r.error();
    return;
  }
  accepted_.clear();
  accepted_ids_.clear();
  choices_.clear();
  status_ = *r;
  screen_ = before_review_;
  load_profiles();
  if (screen_ != ScreenId::kProfiles) load_items();
  if (screen_ == ScreenId::kDetail && items_.empty()) screen_ = ScreenId::kGroups;
}

ViewModel App::profiles_view() const {
  ViewModel vm;
  vm.title = "aatune — profiles with open denials (" + std::to_string(profiles_.size()) + ")";
  vm.columns = {{"Profile", 0}, {"VM", 14},        {"Mode", 8},    {"Open", 5},
                {"Done", 5},    {"Last seen", 16}, {"Activity", 8}};
  for (const auto& p : profiles_) {
    vm.rows.push_back({{p.name, p.vm_name, p.mode, std::to_string(p.open),
                        std::to_string(p.decided), time_text(p.last_seen), sparkline(p.activity)}});
  }
  vm.has_selection = !profiles_.empty();
  vm.selected = profile_sel_;
  vm.hints =
      "Enter open  R reload  C complain/enforce  X disable  Z undo  S save  / find  Q quit  ? help";
  return vm;
}

ViewModel App::groups_view() const {
  ViewModel vm;
  std::string vmname;
  for (const auto& p : profiles_) {
    if (p.name == profile_ && !p.vm_name.empty()) vmname = " (VM " + p.vm_name + ")";
  }
  vm.title =
      "aatune — " + profile_ + vmname + " — " + std::to_string(items_.size()) + " proposal(s)";
  vm.columns = {{"", 1},     {"Severity", 8}, {"Class", 10},  {"Target", 28},
                {"Mask", 6}, {"Count", 6},    {"Proposal", 0}};
  for (size_t i = 0; i < items_.size(); ++i) {
    const auto& it = items_[i];
    const auto& p = it.proposal;
    std::string mark = " ";
    if (std::ranges::find(accepted_ids_, choice_key(p)) != accepted_ids_.end())
      mark = "+";
    else if (p.peer_side)
      mark = "P";
    else if (p.unverified)
      mark = "!";
    const std::string target =
        it.evidence.empty() ? "(peer) " + p.profile : it.evidence[0].key.target;
    const std::string mask = it.evidence.empty() ? "" : it.evidence[0].key.mask;
    const std::string rule = p.rule.empty() ? "(none: " + p.refused + ")" : rule_text(i, false);
    vm.rows.push_back({{mark, std::string(analyzer::to_string(p.severity.level)), p.rule_class,
                        target, mask, std::to_string(it.count), rule}});
  }
  vm.has_selection = !items_.empty();
  vm.selected = item_sel_;
  vm.hints =
      "Enter detail  A allow  D deny  I ignore  G glob  T target  P pair  S save  Esc back  ? help";
  return vm;
}

ViewModel App::detail_view() const {
  ViewModel vm;
  const size_t i = current_item();
  const Item& it = items_[i];
  const auto& p = it.proposal;
  vm.title = "aatune — " + p.profile + (p.vm_name.empty() ? "" : " (VM " + p.vm_name + ")") +
             " — proposal " + std::to_string(p.id);
  auto line = [&](std::string text, Style s = Style::kNormal) {
    vm.rows.push_back({{std::move(text)}, s});
  };
  line("Why: " + p.why.text + " [" + std::string(analyzer::to_string(p.why.code)) + "]",
       Style::kHeading);
  if (p.why.site) {
    line("  decided by " + p.why.site->file + ":" + std::to_string(p.why.site->line) + ": " +
         p.why.site->text);
  }
  for (const auto& n : p.why.notes) line("  note: " + n);
  line("Risk: " + std::string(analyzer::to_string(p.severity.level)) +
       (p.severity.reason.empty() ? "" : " — " + p.severity.reason));
  if (p.unverified) {
    line("Unverified: these records could have been written by any process (not the kernel)",
         Style::kWarning);
  }
  line("Rule: " + (p.rule.empty() ? "(none: " + p.refused + ")" : rule_text(i, false)),
       Style::kAdded);
  const Choice* c = find_choice(i);
  const size_t t = c ? c->target : default_target(p);
  if (t < p.targets.size()) {
    const auto& tf = p.targets[t].file;
    line("Into: " + tf.path + " [" + std::string(kind_name(tf.kind)) +
         "] (T: " + std::to_string(t + 1) + "/" + std::to_string(p.targets.size()) + ")");
    if (!tf.warning.empty()) line("  warning: " + tf.warning, Style::kWarning);
  }
  if (!p.alternatives.empty())
    line("Alternatives (G glob, E extension, V variables):", Style::kHeading);
  size_t vi = 0;
  for (const auto& alt : p.alternatives) {
    if (alt.kind != Alternative::Kind::kFlag) ++vi;
    const bool cur = c && !c->edited && alt.kind != Alternative::Kind::kFlag && c->variant == vi;
    line(std::string(cur ? "* " : "  ") + std::string(analyzer::to_string(alt.kind)) + ": " +
         alt.text + (alt.note.empty() ? "" : "   # " + alt.note));
  }
  if (p.pair) {
    for (const auto& other : items_) {
      if (other.proposal.pair == p.pair && other.proposal.id != p.id) {
        line("Peer pair (P accepts both): " + other.proposal.profile + ": " + other.proposal.rule,
             Style::kHeading);
      }
    }
  }
  if (p.peer_side) line("Seen: no denial logged for this side (peer cross-check)");
  for (const auto& g : it.evidence) {
    std::string pids;
    for (uint64_t pid : g.pids) pids += (pids.empty() ? "" : ",") + std::to_string(pid);
    std::string comms;
    for (const auto& cm : g.comms) comms += (comms.empty() ? "" : ",") + cm;
    line("Evidence: " + std::to_string(g.count) + "x " + g.key.operation + " " + g.key.target +
             " mask " + g.key.mask,
         Style::kHeading);
    line("  pid " + (pids.empty() ? "-" : pids) + "  comm " + (comms.empty() ? "-" : comms) +
         "  first " +
         time_text(g.first_seen_ms ? std::optional<int64_t>(*g.first_seen_ms / 1000)
                                   : std::nullopt) +
         "  last " +
         time_text(g.last_seen_ms ? std::optional<int64_t>(*g.last_seen_ms / 1000) : std::nullopt));
    std::vector<std::string> sources;
    for (const auto& s : g.sources) {
      std::string text = s.source + (s.line_no ? ":" + std::to_string(s.line_no) : "");
      if (sources.size() < 3 && std::ranges::find(sources, text) == sources.end()) {
        sources.push_back(std::move(text));
      }
    }
    for (const auto& s : sources) line("  source " + s);
    for (const auto& raw : g.raw) {
      if (&raw - g.raw.data() >= 5) break;
      line("  " + raw);
    }
  }
  vm.scroll = scroll_;
  vm.hints =
      "A allow  D deny  I ignore  G/E/V alternatives  O owner  U audit  N edit  T target  P pair  "
      "Esc back";
  return vm;
}

ViewModel App::review_view() const {
  ViewModel vm;
  vm.title = "aatune — review: " + std::to_string(accepted_.size()) + " rule(s) in " +
             std::to_string(preview_.files.size()) + " file(s)";
  for (const auto& w : preview_.warnings) vm.rows.push_back({{"warning: " + w}, Style::kWarning});
  for (const auto& f : preview_.files) {
    vm.rows.push_back({{"=== " + f.path}, Style::kHeading});
    size_t start = 0;
    while (start < f.diff.size()) {
      size_t end = f.diff.find('\n', start);
      if (end == std::string::npos) end = f.diff.size();
      std::string l = f.diff.substr(start, end - start);
      const Style s = l.starts_with("+") && !l.starts_with("+++")   ? Style::kAdded
                      : l.starts_with("-") && !l.starts_with("---") ? Style::kRemoved
                                                                    : Style::kNormal;
      vm.rows.push_back({{std::move(l)}, s});
      start = end + 1;
    }
  }
  if (preview_.files.empty()) vm.rows.push_back({{"(the accepted rules are already present)"}});
  vm.scroll = scroll_;
  vm.hints = "y/Enter validate, write and reload   Esc back   PgUp/PgDn scroll";
  return vm;
}

ViewModel App::view() const {
  ViewModel vm;
  switch (screen_) {
    case ScreenId::kProfiles:
      vm = profiles_view();
      break;
    case ScreenId::kGroups:
      vm = groups_view();
      break;
    case ScreenId::kDetail:
      vm = items_.empty() ? groups_view() : detail_view();
      break;
    case ScreenId::kReview:
      vm = review_view();
      break;
  }
  if (!accepted_.empty()) vm.title += "   [" + std::to_string(accepted_.size()) + " unsaved]";
  switch (prompt_) {
    case Prompt::kQuit:
      vm.status =
          std::to_string(accepted_.size()) + " accepted rule(s) not saved. Quit anyway? [y/N]";
      break;
    case Prompt::kDisable:
      vm.status =
          "Disable profile " +
          (screen_ == ScreenId::kProfiles && !profiles_.empty() ? profiles_[profile_sel_].name
                                                                : profile_) +
          " (unload it and keep it off)? [y/N]";
      break;
    case Prompt::kUnverified:
      vm.status =
          "Unverified evidence: the records could have been forged by any process "
          "(logger). Accept anyway? [y/N]";
      break;
    case Prompt::kEditRule:
      vm.status = "Rule: " + input_;
      break;
    case Prompt::kSearch:
      vm.status = "/" + input_;
      break;
    default:
      if (busy()) {
        const auto tenths = elapsed_.count() / 100;
        vm.status = std::string(1, kSpinner[static_cast<size_t>(tenths) % kSpinner.size()]) + " " +
                    busy_label_ + "… " + std::to_string(tenths / 10) + "." +
                    std::to_string(tenths % 10) + " s" +
                    (busy_notice_.empty() ? "" : " — " + busy_notice_);
      } else {
        vm.status = status_;
      }
      break;
  }
  if (help_) {
    vm.overlay.push_back("Keys (any key closes this help)");
    for (const auto& h : key_help()) {
      std::string k(h.keys);
      k.resize(std::max<size_t>(k.size(), 28), ' ');
      vm.overlay.push_back("  " + k + std::string(h.what));
    }
  }
  return vm;
}

}  // namespace aatune::tui
