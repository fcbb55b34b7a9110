#include "tui/worker.h"

#include <exception>

namespace aatune::tui {

void Worker::start(std::function<WorkResult()> job) {
  running_ = true;
  thread_ = std::jthread([this, job = std::move(job)] {
    WorkResult r;
    try {
      r = job();
    } catch (const std::exception& e) {
      // A throwing job must not take the terminal down with it (std::terminate skips the
      // restore); it becomes the job's error line.
      r = std::unexpected(std::string("internal error: ") + e.what());
    }
    const std::scoped_lock lock(mutex_);
    result_ = std::move(r);
  });
}

std::optional<WorkResult> Worker::poll() {
  std::optional<WorkResult> r;
  {
    const std::scoped_lock lock(mutex_);
    r.swap(result_);
  }
  if (r) {
    thread_.join();
    running_ = false;
  }
  return r;
}

}  // namespace aatune::tui
