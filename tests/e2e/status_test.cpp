// End-to-end tests of `aatune status` over a real store scanned from a real log file.
#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>

#include "e2e/support.h"

namespace {

namespace fs = std::filesystem;
using aatune::e2e::slurp;

class StatusE2E : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string tmpl = (fs::temp_directory_path() / "aatune-status-XXXXXX").string();
    dir_ = mkdtemp(tmpl.data());
    db_ = (dir_ / "store.db").string();
  }
  void TearDown() override { fs::remove_all(dir_); }

  // Runs aatune with `args`; exit code and stdout (stderr goes to err_).
  std::pair<int, std::string> run(const std::string& args) {
    const std::string out = (dir_ / "out.txt").string();
    const std::string cmd = std::string(AATUNE_BINARY) + " " + args + " >" + out + " 2>" +
                            (dir_ / "err.txt").string() + " </dev/null";
    const int status = std::system(cmd.c_str());
    err_ = slurp(dir_ / "err.txt");
    return {WIFEXITED(status) ? WEXITSTATUS(status) : -1, slurp(out)};
  }

  fs::path dir_;
  std::string db_;
  std::string err_;
};

// A policy load is logged as apparmor="STATUS" with the loader's own label (here "unconfined").
// It is not a denial: status used to list "unconfined" with an open group for it.
TEST_F(StatusE2E, PolicyLoadRecordsAreNotOpenDenials) {
  const fs::path log = dir_ / "kern.log";
  std::ofstream(log)
      << "Jul 24 12:25:30 web01 kernel: [42416.100000] audit: type=1400 "
         "audit(1795424530.100:7): apparmor=\"STATUS\" operation=\"profile_load\" "
         "profile=\"unconfined\" name=\"aatest\" pid=150 comm=\"apparmor_parser\"\n"
      << "Jul 24 12:25:33 web01 kernel: [42416.178567] audit: type=1400 "
         "audit(1795424536.908:8): apparmor=\"DENIED\" operation=\"open\" class=\"file\" "
         "profile=\"aatest\" name=\"/etc/secret\" pid=160 comm=\"aa_exercise\" "
         "requested_mask=\"r\" denied_mask=\"r\" fsuid=0 ouid=0\n"
      << "Jul 24 12:25:40 web01 kernel: [42416.200000] audit: type=1400 "
         "audit(1795424540.200:9): apparmor=\"STATUS\" operation=\"profile_replace\" "
         "profile=\"unconfined\" name=\"aatest\" pid=151 comm=\"apparmor_parser\"\n";
  auto [code, out] = run("scan --db " + db_ + " --no-journal --no-kmsg --quiet " + log.string());
  ASSERT_EQ(code, 0) << err_;

  std::tie(code, out) = run("status --db " + db_ + " --profiles-file /nonexistent --json");
  ASSERT_EQ(code, 0) << err_;
  const auto j = nlohmann::json::parse(out);
  ASSERT_EQ(j.size(), 1u) << out;
  EXPECT_EQ(j[0]["profile"], "aatest");
  EXPECT_EQ(j[0]["open"], 1);
  EXPECT_EQ(j[0]["decided"], 0);
  EXPECT_EQ(j[0]["events"], 1);
  EXPECT_EQ(j[0]["last_seen"], 1795424536);

  std::tie(code, out) = run("status --db " + db_ + " --profiles-file /nonexistent");
  ASSERT_EQ(code, 0) << err_;
  EXPECT_EQ(out,
            "profile                                  mode         open  decided    events "
            "last seen\n"
            "aatest                                   unknown         1        0         1 "
            "2026-11-23 09:02:16Z\n");
}

TEST_F(StatusE2E, StoreWithOnlyPolicyLoadsHasNoDenials) {
  const fs::path log = dir_ / "kern.log";
  std::ofstream(log) << "Jul 24 12:25:30 web01 kernel: [42416.100000] audit: type=1400 "
                        "audit(1795424530.100:7): apparmor=\"STATUS\" operation=\"profile_load\" "
                        "profile=\"unconfined\" name=\"aatest\" pid=150 comm=\"apparmor_parser\"\n";
  auto [code, out] = run("scan --db " + db_ + " --no-journal --no-kmsg --quiet " + log.string());
  ASSERT_EQ(code, 0) << err_;
  std::tie(code, out) = run("status --db " + db_ + " --profiles-file /nonexistent");
  ASSERT_EQ(code, 0) << err_;
  EXPECT_EQ(out, "no denials stored in " + db_ + " (run 'aatune scan')\n");
}

}  // namespace
