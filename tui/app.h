// The triage application: screen state, the keymap, and the view model of the current screen.
// No curses here: keys come in as values, the screen goes out as a ViewModel.
#pragma once

#include <chrono>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "tui/backend.h"
#include "tui/view.h"
#include "tui/worker.h"

namespace aatune::tui {

/// Keys: printable ASCII as itself, the rest named.
enum Key : int {
  kKeyEnter = 1000,
  kKeyEsc,
  kKeyBackspace,
  kKeyUp,
  kKeyDown,
  kKeyPgUp,
  kKeyPgDn,
  kKeyHome,
  kKeyEnd,
  kKeyResize,
};

/// What the main loop should do after a key.
enum class Outcome { kRedraw, kQuit };

enum class ScreenId { kProfiles, kGroups, kDetail, kReview };

/// One line of the help overlay and of the keymap.
struct KeyHelp {
  std::string_view keys;
  std::string_view what;
};
[[nodiscard]] const std::vector<KeyHelp>& key_help();

/// Long work the App asks for: the loop runs it off the UI thread (tui/worker.h) and hands the
/// result back to App::finish_job. Only `run` touches the Backend while it runs.
struct Job {
  std::string label;  ///< "saving 3 rule(s)": the progress line while it runs.
  std::function<WorkResult()> run;
};

class App {
 public:
  explicit App(Backend& backend, Size size = {});

  /// Loads the first screen; LOG files to scan become the first job (see take_job).
  void start();
  [[nodiscard]] Outcome handle(int key);
  void resize(Size size) { size_ = size; }
  /// Shows `text` in the status line.
  void set_status(std::string text) { status_ = std::move(text); }

  /// The job the last key (or start) asked for, once; the loop runs it and calls finish_job.
  [[nodiscard]] std::optional<Job> take_job();
  /// Applies the outcome of the job taken last, on the UI thread.
  void finish_job(WorkResult result);
  /// A job is asked for or running: keys that need the Backend wait, the rest keep working.
  [[nodiscard]] bool busy() const { return static_cast<bool>(on_done_); }
  /// How long the running job has taken (the loop tells; the progress line shows it).
  void set_elapsed(std::chrono::milliseconds elapsed) { elapsed_ = elapsed; }

  [[nodiscard]] ViewModel view() const;
  [[nodiscard]] ScreenId screen() const { return screen_; }
  [[nodiscard]] bool unsaved() const { return !accepted_.empty(); }

 private:
  // What the user chose for one proposal.
  struct Choice {
    size_t variant = 0;  // index into variants()
    bool owner = false;
    bool audit = false;
    size_t target = 0;  // index into proposal.targets
    std::optional<std::string> edited;
  };
  enum class Prompt { kNone, kQuit, kDisable, kUnverified, kEditRule, kSearch, kSave };

  [[nodiscard]] std::vector<std::string> variants(const Item& item) const;
  [[nodiscard]] std::string rule_text(size_t index, bool deny) const;
  [[nodiscard]] TargetKind target_kind(size_t index) const;
  [[nodiscard]] std::string target_path(size_t index) const;
  Choice& choice(size_t index);
  [[nodiscard]] const Choice* find_choice(size_t index) const;

  void post(std::string label, std::function<WorkResult()> run,
            std::function<void(WorkResult)> done);
  void after_save(WorkResult result);
  void load_profiles();
  void load_items();
  /// Replaces the sampled evidence of the current item with all of it (Detail screen).
  void complete_evidence();
  void accept(size_t index, bool deny, bool confirmed);
  void accept_pair(size_t index);
  void open_review();
  void cycle_variant(size_t index, std::initializer_list<analyzer::Alternative::Kind> kinds);
  [[nodiscard]] size_t current_item() const;
  [[nodiscard]] size_t row_count() const;
  void move(long delta);
  Outcome handle_prompt(int key);
  void search_next();

  [[nodiscard]] ViewModel profiles_view() const;
  [[nodiscard]] ViewModel groups_view() const;
  [[nodiscard]] ViewModel detail_view() const;
  [[nodiscard]] ViewModel review_view() const;

  Backend& backend_;
  Size size_;
  ScreenId screen_ = ScreenId::kProfiles;
  ScreenId before_review_ = ScreenId::kProfiles;
  std::vector<ProfileRow> profiles_;
  std::vector<Item> items_;
  std::string profile_;  // profile whose groups are shown
  size_t profile_sel_ = 0;
  size_t item_sel_ = 0;
  size_t scroll_ = 0;
  std::map<std::string, Choice> choices_;  // by profile + '\x1f' + proposal id
  std::vector<Accepted> accepted_;
  std::vector<std::string> accepted_ids_;  // choice keys accepted, parallel to accepted_
  Preview preview_;
  bool help_ = false;
  Prompt prompt_ = Prompt::kNone;
  std::string input_;
  std::string search_;
  std::string status_;
  // The job: asked for (pending_) and not finished (on_done_ set).
  std::optional<Job> pending_;
  std::function<void(WorkResult)> on_done_;
  std::string busy_label_;
  std::string busy_notice_;
  std::chrono::milliseconds elapsed_{0};
};

}  // namespace aatune::tui
