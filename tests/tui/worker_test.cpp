// Long work runs off the UI thread: the Worker's thread, and the App's keys while a job runs.
#include "tui/worker.h"

#include <gtest/gtest.h>

#include <chrono>
#include <future>
#include <thread>

#include "tui/app.h"
#include "tui/terminal.h"
#include "tui/text.h"

namespace aatune::tui {
namespace {

using namespace std::chrono_literals;

// Polls `w` until its job has finished (5 s at most; the jobs here finish at once when released).
std::optional<WorkResult> wait(Worker& w) {
  const auto deadline = std::chrono::steady_clock::now() + 5s;
  while (std::chrono::steady_clock::now() < deadline) {
    if (auto r = w.poll()) return r;
    std::this_thread::sleep_for(1ms);
  }
  return std::nullopt;
}

TEST(Worker, RunsTheJobOnAnotherThreadAndHandsBackItsResult) {
  Worker w;
  std::promise<void> release;
  auto released = release.get_future();
  std::thread::id job_thread;
  w.start([&] {
    job_thread = std::this_thread::get_id();
    released.wait();
    return WorkResult("done");
  });
  EXPECT_TRUE(w.running());
  EXPECT_FALSE(w.poll().has_value());  // the caller is not blocked by the job
  release.set_value();
  const auto r = wait(w);
  ASSERT_TRUE(r.has_value());
  EXPECT_EQ(**r, "done");
  EXPECT_FALSE(w.running());
  EXPECT_NE(job_thread, std::this_thread::get_id());
}

TEST(Worker, AThrowingJobBecomesAnErrorLine) {
  Worker w;
  w.start([]() -> WorkResult { throw std::runtime_error("disk on fire"); });
  const auto r = wait(w);
  ASSERT_TRUE(r.has_value());
  EXPECT_EQ(r->error(), "internal error: disk on fire");
}

TEST(Worker, DestructionWaitsForTheRunningJob) {
  bool finished = false;
  {
    Worker w;
    w.start([&] {
      std::this_thread::sleep_for(50ms);
      finished = true;
      return WorkResult("written");
    });
  }
  EXPECT_TRUE(finished);
}

// A backend whose save and reload block until the test lets them go, and that scans first.
class SlowBackend final : public Backend {
 public:
  std::string refresh_label() const override { return "scanning 2 log(s)"; }
  std::expected<std::string, std::string> refresh() override { return "scanned 2 log(s)"; }
  std::expected<std::vector<ProfileRow>, std::string> profiles() override {
    return std::vector<ProfileRow>{{"libvirtd", "", "enforce", 1, 0, std::nullopt, {1}},
                                   {"/usr/sbin/chronyd", "", "complain", 1, 0, std::nullopt, {1}}};
  }
  std::expected<std::vector<Item>, std::string> items(std::string_view profile) override {
    analyzer::Proposal p;
    p.id = 1;
    p.profile = std::string(profile);
    p.rule_class = "file";
    p.rule = "/srv/a r,";
    return std::vector<Item>{{p, {}, {"k1"}, 1}};
  }
  std::expected<void, std::string> ignore(std::span<const std::string>) override { return {}; }
  std::expected<std::string, std::string> check_rule(std::string_view t) override {
    return std::string(t);
  }
  std::expected<Preview, std::string> preview(std::span<const Accepted>) override {
    return Preview{{{"/t/local/libvirtd", "+/srv/a r,\n"}}, {}};
  }
  std::expected<std::string, std::string> save(std::span<const Accepted> a) override {
    gate.wait();
    return "saved " + std::to_string(a.size()) + " rule(s)";
  }
  std::expected<std::string, std::string> reload(std::string_view p) override {
    gate.wait();
    return "reloaded " + std::string(p);
  }
  std::expected<std::string, std::string> disable(std::string_view) override { return "x"; }
  std::expected<std::string, std::string> toggle_mode(std::string_view) override { return "x"; }
  std::expected<std::string, std::string> undo() override { return "x"; }

  std::shared_future<void> gate;
};

TEST(AppJobs, ScanIsTheFirstJobWithAProgressLine) {
  SlowBackend be;
  App app(be);
  app.start();
  EXPECT_TRUE(app.busy());
  EXPECT_EQ(app.view().status, "| scanning 2 log(s)… 0.0 s");
  app.set_elapsed(1300ms);
  EXPECT_EQ(app.view().status, "/ scanning 2 log(s)… 1.3 s");
  auto job = app.take_job();
  ASSERT_TRUE(job.has_value());
  EXPECT_EQ(job->label, "scanning 2 log(s)");
  EXPECT_FALSE(app.take_job().has_value());  // handed out once
  app.finish_job(job->run());
  EXPECT_FALSE(app.busy());
  EXPECT_EQ(app.view().status, "scanned 2 log(s); 2 profile(s) with open denials");
  EXPECT_EQ(app.view().rows.size(), 2u);
}

TEST(AppJobs, KeysKeepWorkingWhileSavingAndWhatNeedsTheBackendWaits) {
  SlowBackend be;
  std::promise<void> release;
  be.gate = release.get_future().share();
  App app(be);
  app.start();
  app.finish_job(app.take_job()->run());
  for (int k : {int(kKeyEnter), int('A'), int('S'), int(kKeyEnter)}) {
    ASSERT_EQ(app.handle(k), Outcome::kRedraw);
  }
  ASSERT_TRUE(app.busy());
  auto job = app.take_job();
  ASSERT_TRUE(job.has_value());
  EXPECT_EQ(job->label, "validating, writing and reloading 1 rule(s)");
  Worker w;
  w.start(std::move(job->run));

  // The save blocks in the worker; the UI thread goes on answering keys.
  EXPECT_EQ(app.handle('?'), Outcome::kRedraw);
  EXPECT_FALSE(app.view().overlay.empty());
  EXPECT_EQ(app.handle('?'), Outcome::kRedraw);
  EXPECT_EQ(app.handle(kKeyDown), Outcome::kRedraw);
  EXPECT_EQ(app.handle('q'), Outcome::kRedraw);  // never quits in the middle of a write
  EXPECT_EQ(app.view().status,
            "| validating, writing and reloading 1 rule(s)… 0.0 s — Q again when it is done (a "
            "write is never cut short)");
  EXPECT_EQ(app.handle(kKeyEnter), Outcome::kRedraw);  // a second save waits too
  EXPECT_EQ(app.view().status,
            "| validating, writing and reloading 1 rule(s)… 0.0 s — that key waits until it is "
            "done");
  EXPECT_FALSE(app.take_job().has_value());
  EXPECT_FALSE(w.poll().has_value());

  release.set_value();
  auto r = wait(w);
  ASSERT_TRUE(r.has_value());
  app.finish_job(std::move(*r));
  EXPECT_FALSE(app.busy());
  EXPECT_FALSE(app.unsaved());
  EXPECT_EQ(app.screen(), ScreenId::kGroups);
  EXPECT_EQ(app.view().status, "saved 1 rule(s)");
  EXPECT_EQ(app.handle('q'), Outcome::kQuit);
}

TEST(AppJobs, ReloadIsAJobAndBatchRunsJobsInPlace) {
  SlowBackend be;
  std::promise<void> release;
  release.set_value();
  be.gate = release.get_future().share();
  App app(be);
  app.start();
  const auto keys = parse_keys("Down R");
  ASSERT_TRUE(keys.has_value());
  const auto s = run_batch(app, *keys, {80, 24});
  EXPECT_EQ(s[23], fit("reloaded /usr/sbin/chronyd", 80));
  EXPECT_FALSE(app.busy());
}

}  // namespace
}  // namespace aatune::tui
