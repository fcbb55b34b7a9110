#include "tui/terminal.h"

#include <curses.h>

#include <chrono>
#include <clocale>
#include <csignal>
#include <cstdlib>
#include <map>

#include "tui/worker.h"

namespace aatune::tui {
namespace {

// Signals can only talk to the loop through a flag: this is the one piece of global state, and it
// is written only by the handlers.
volatile std::sig_atomic_t g_signal = 0;

extern "C" void on_signal(int sig) {
  g_signal = sig;
}

// RAII for the curses session: whatever path leaves run_terminal, the terminal is restored.
class Curses {
 public:
  Curses() {
    // ncursesw draws UTF-8 (paths, "…", the sparkline) only under the user's locale.
    std::setlocale(LC_ALL, "");
    screen_ = newterm(nullptr, stdout, stdin);
    if (screen_ == nullptr) return;
    cbreak();
    noecho();
    keypad(stdscr, TRUE);
    set_escdelay(25);
    curs_set(0);
    timeout(100);  // getch returns regularly: signal flags are seen, the progress line moves.
    const char* no_color = std::getenv("NO_COLOR");
    color_ = (no_color == nullptr || *no_color == '\0') && has_colors();
    if (color_) {
      start_color();
      use_default_colors();
      init_pair(1, COLOR_GREEN, -1);
      init_pair(2, COLOR_RED, -1);
      init_pair(3, COLOR_YELLOW, -1);
    }
  }
  ~Curses() {
    if (screen_ != nullptr) {
      endwin();
      delscreen(screen_);
    }
  }
  Curses(const Curses&) = delete;
  Curses& operator=(const Curses&) = delete;

  [[nodiscard]] bool ok() const { return screen_ != nullptr; }
  [[nodiscard]] Size size() const {
    return {static_cast<size_t>(std::max(COLS, 1)), static_cast<size_t>(std::max(LINES, 1))};
  }

  void draw(const StyledScreen& s) const {
    erase();
    for (size_t y = 0; y < s.lines.size(); ++y) {
      const attr_t a = attr(s.styles[y]);
      attron(a);
      mvaddnstr(static_cast<int>(y), 0, s.lines[y].c_str(), -1);
      attroff(a);
    }
    refresh();
  }

 private:
  [[nodiscard]] attr_t attr(Style s) const {
    switch (s) {
      case Style::kTitle:
      case Style::kSelected:
        return A_REVERSE;
      case Style::kHeading:
        return A_BOLD;
      case Style::kAdded:
        return color_ ? COLOR_PAIR(1) : A_NORMAL;
      case Style::kRemoved:
        return color_ ? COLOR_PAIR(2) : A_NORMAL;
      case Style::kWarning:
        return color_ ? COLOR_PAIR(3) : A_BOLD;
      case Style::kStatus:
        return A_BOLD;
      case Style::kNormal:
        return A_NORMAL;
    }
    return A_NORMAL;
  }
  SCREEN* screen_ = nullptr;
  bool color_ = false;
};

int translate(int ch) {
  switch (ch) {
    case KEY_UP:
      return kKeyUp;
    case KEY_DOWN:
      return kKeyDown;
    case KEY_PPAGE:
      return kKeyPgUp;
    case KEY_NPAGE:
      return kKeyPgDn;
    case KEY_HOME:
      return kKeyHome;
    case KEY_END:
      return kKeyEnd;
    case KEY_ENTER:
    case '\n':
    case '\r':
      return kKeyEnter;
    case 27:
      return kKeyEsc;
    case KEY_BACKSPACE:
    case 127:
    case 8:
      return kKeyBackspace;
    case KEY_RESIZE:
      return kKeyResize;
    default:
      return ch;
  }
}

struct SignalGuard {
  SignalGuard() {
    for (int s : {SIGINT, SIGTERM, SIGTSTP}) old[s] = std::signal(s, on_signal);
  }
  ~SignalGuard() {
    for (auto& [s, h] : old) std::signal(s, h);
  }
  std::map<int, void (*)(int)> old;
};

}  // namespace

std::expected<void, std::string> run_terminal(App& app) {
  using Clock = std::chrono::steady_clock;
  int raise_after = 0;
  {
    SignalGuard guard;
    Curses curses;
    if (!curses.ok()) return std::unexpected("cannot open the terminal (is TERM set?)");
    // Declared after curses: destroyed (joined) first, so a running write finishes before the
    // terminal is given back, even on SIGINT/SIGTERM.
    Worker worker;
    Clock::time_point started;
    // Starts the job the App asked for, hands back a finished one; true when the screen changed.
    auto pump = [&] {
      bool changed = false;
      if (worker.running()) {
        if (auto r = worker.poll()) {
          app.finish_job(std::move(*r));
          changed = true;
        } else {
          app.set_elapsed(
              std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - started));
          changed = true;
        }
      }
      if (!worker.running()) {
        if (auto job = app.take_job()) {
          started = Clock::now();
          worker.start(std::move(job->run));
          changed = true;
        }
      }
      return changed;
    };
    app.resize(curses.size());
    pump();
    curses.draw(render_styled(app.view(), curses.size()));
    while (true) {
      if (pump()) curses.draw(render_styled(app.view(), curses.size()));
      if (g_signal == SIGTSTP) {
        g_signal = 0;
        endwin();
        std::signal(SIGTSTP, SIG_DFL);
        std::raise(SIGTSTP);  // Stops here until `fg`.
        std::signal(SIGTSTP, on_signal);
        refresh();
        curses.draw(render_styled(app.view(), curses.size()));
      } else if (g_signal != 0) {
        raise_after = g_signal;
        g_signal = 0;
        break;
      }
      const int ch = getch();
      if (ch == ERR) continue;
      const int key = translate(ch);
      if (key == kKeyResize) app.resize(curses.size());
      if (app.handle(key) == Outcome::kQuit) break;
      pump();
      curses.draw(render_styled(app.view(), curses.size()));
    }
  }
  if (raise_after != 0) {
    std::signal(raise_after, SIG_DFL);
    std::raise(raise_after);
  }
  return {};
}

std::expected<std::vector<int>, std::string> parse_keys(std::string_view script) {
  static const std::map<std::string, int, std::less<>> kNames{
      {"Up", kKeyUp},       {"Down", kKeyDown}, {"PgUp", kKeyPgUp},
      {"PgDn", kKeyPgDn},   {"Home", kKeyHome}, {"End", kKeyEnd},
      {"Enter", kKeyEnter}, {"Esc", kKeyEsc},   {"BSpace", kKeyBackspace},
      {"Space", ' '},
  };
  std::vector<int> keys;
  size_t i = 0;
  while (i < script.size()) {
    if (script[i] == ' ' || script[i] == '\t' || script[i] == '\n') {
      ++i;
      continue;
    }
    size_t j = script.find_first_of(" \t\n", i);
    if (j == std::string_view::npos) j = script.size();
    const std::string_view word = script.substr(i, j - i);
    i = j;
    if (word.size() > 1 && word[0] == '\'') {
      for (char c : word.substr(1)) keys.push_back(static_cast<unsigned char>(c));
    } else if (word.size() == 1) {
      keys.push_back(static_cast<unsigned char>(word[0]));
    } else if (const auto it = kNames.find(word); it != kNames.end()) {
      keys.push_back(it->second);
    } else {
      return std::unexpected("unknown key '" + std::string(word) +
                             "' (Up Down PgUp PgDn Home End Enter Esc BSpace Space, a letter, "
                             "or 'text)");
    }
  }
  return keys;
}

std::vector<std::string> run_batch(App& app, const std::vector<int>& keys, Size size) {
  // Without a terminal nobody types while a job runs: jobs run in place, in order.
  auto drain = [&] {
    while (auto job = app.take_job()) app.finish_job(job->run());
  };
  app.resize(size);
  drain();
  for (int k : keys) {
    if (app.handle(k) == Outcome::kQuit) break;
    drain();
  }
  return render(app.view(), size);
}

}  // namespace aatune::tui
