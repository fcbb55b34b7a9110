// Long work (scan, validate, write, reload) off the UI thread, so that keys keep working and the
// screen keeps showing progress while it runs. The UI loop starts one job at a time and polls for
// its result; only the job touches the Backend while it runs.
#pragma once

#include <expected>
#include <functional>
#include <mutex>
#include <optional>
#include <string>
#include <thread>

namespace aatune::tui {

/// What a job ends with: the one-line outcome, or the one-line error.
using WorkResult = std::expected<std::string, std::string>;

class Worker {
 public:
  Worker() = default;
  Worker(const Worker&) = delete;
  Worker& operator=(const Worker&) = delete;
  /// Waits for a running job: a write is never cut in half, not even on quit or SIGTERM.
  ~Worker() = default;

  /// Runs `job` on a new thread. Precondition: nothing is running (check `running()`).
  void start(std::function<WorkResult()> job);
  [[nodiscard]] bool running() const { return running_; }
  /// The result once the job has finished (the thread is joined then), else nothing.
  [[nodiscard]] std::optional<WorkResult> poll();

 private:
  std::mutex mutex_;
  std::optional<WorkResult> result_;
  bool running_ = false;  // Only the UI thread reads and writes it.
  // Last member: destroyed (joined) first, while the slot it writes into still exists.
  std::jthread thread_;
};

}  // namespace aatune::tui
