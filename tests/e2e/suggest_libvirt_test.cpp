// `aatune suggest` on samples/libvirt through the real binary: every proposed rule compiles with
// the real apparmor_parser once written into a copy of the sample tree.
#include <gtest/gtest.h>
#include <sys/wait.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>
#include <vector>

#include "e2e/support.h"
#include "rules/editor.h"

namespace {

namespace fs = std::filesystem;
using aatune::e2e::slurp;

struct Result {
  int status = -1;
  std::string out;
};

Result run(const std::string& cmd) {
  Result r;
  FILE* p = popen((cmd + " 2>/dev/null").c_str(), "r");
  if (p == nullptr) return r;
  char buf[4096];
  size_t n;
  while ((n = fread(buf, 1, sizeof buf, p)) > 0) r.out.append(buf, n);
  const int st = pclose(p);
  r.status = WIFEXITED(st) ? WEXITSTATUS(st) : -1;
  return r;
}

class SuggestLibvirt : public ::testing::Test {
 protected:
  void SetUp() override {
    sample_ = fs::path(AATUNE_SOURCE_DIR) / "samples/libvirt";
    if (!fs::exists(sample_ / "apparmor.d") || !fs::exists(sample_ / "logs/kern.log"))
      GTEST_SKIP() << "samples/libvirt is not there";
    tmp_ = fs::temp_directory_path() / ("aatune-suggest-" + std::to_string(getpid()));
    fs::remove_all(tmp_);
    fs::create_directories(tmp_);
    fs::copy(sample_ / "apparmor.d", tmp_ / "apparmor.d", fs::copy_options::recursive);
  }
  void TearDown() override {
    if (!tmp_.empty()) fs::remove_all(tmp_);
  }
  std::string suggest(const std::string& format) {
    return std::string(AATUNE_BINARY) + " suggest --profiles " + (tmp_ / "apparmor.d").string() +
           " --libvirt-xml " + (sample_ / "domain.xml").string() + " --format " + format + " " +
           (sample_ / "logs/kern.log").string() + " " + (sample_ / "logs/audit.log").string();
  }
  fs::path sample_;
  fs::path tmp_;
};

TEST_F(SuggestLibvirt, ProposesThePUxFixForVirtiofsd) {
  const Result r = run(suggest("apparmor"));
  EXPECT_EQ(r.status, 1);
  EXPECT_NE(r.out.find("profile libvirtd {\n  /usr/lib/qemu/virtiofsd PUx,\n"), std::string::npos)
      << r.out;
}

TEST_F(SuggestLibvirt, TextNamesTheVm) {
  const Result r = run(suggest("text"));
  EXPECT_EQ(r.status, 1);
  EXPECT_NE(r.out.find("== libvirt-7f3c9a2e-5b1d-4e8a-9c6f-2d4b8e1a0c35 (VM webvm)"),
            std::string::npos)
      << r.out;
  EXPECT_NE(r.out.find("helpers of libvirtd get PUx"), std::string::npos);
}

TEST_F(SuggestLibvirt, EveryProposedRuleCompiles) {
  const Result r = run(suggest("json"));
  ASSERT_EQ(r.status, 1);
  const auto j = nlohmann::json::parse(r.out);
  // Profile file -> (profile -> rules)
  std::map<std::string, std::map<std::string, std::vector<std::string>>> edits;
  size_t rules_total = 0;
  for (const auto& p : j["proposals"]) {
    if (p["rule"].is_null() || !p["profile_in_tree"].get<bool>()) continue;
    std::string file;
    for (const auto& t : p["targets"]) {
      const std::string kind = t["kind"];
      if (kind == "profile" || kind == "libvirt-base") file = t["path"];
    }
    ASSERT_FALSE(file.empty()) << p.dump();
    edits[file][p["profile"]].push_back(p["rule"]);
    ++rules_total;
  }
  ASSERT_GE(rules_total, 5u);
  for (const auto& [file, per_profile] : edits) {
    std::string text = slurp(file);
    for (const auto& [profile, rules] : per_profile) {
      auto res = aatune::rules::insert_rules(text, profile, rules);
      ASSERT_TRUE(res.has_value()) << file << ": " << res.error().message;
      text = res->text;
    }
    std::ofstream(file) << text;
    const std::string cmd = std::string(APPARMOR_PARSER) + " -QTK --base " +
                            (tmp_ / "apparmor.d").string() + " -I " +
                            (tmp_ / "apparmor.d").string() + " " + file;
    const int st = std::system((cmd + " >/dev/null 2>&1").c_str());
    EXPECT_EQ(WEXITSTATUS(st), 0) << cmd << "\n" << text;
  }
}

TEST_F(SuggestLibvirt, SignalToGuestIsPairedWithTheGuestsReceive) {
  const Result r = run(suggest("json"));
  const auto j = nlohmann::json::parse(r.out);
  std::map<int, std::vector<std::string>> pairs;
  for (const auto& p : j["proposals"]) {
    if (!p["pair"].is_null()) pairs[p["pair"].get<int>()].push_back(p["rule"]);
  }
  ASSERT_EQ(pairs.size(), 1u);
  EXPECT_EQ(pairs.begin()->second,
            (std::vector<std::string>{
                "signal send set=term peer=libvirt-7f3c9a2e-5b1d-4e8a-9c6f-2d4b8e1a0c35,",
                "signal receive set=term peer=libvirtd,"}));
}

TEST(SuggestCli, BadLogFileIsAOneLineErrorAndExit2) {
  const Result r = run(std::string(AATUNE_BINARY) + " suggest --profiles " + AATUNE_SOURCE_DIR +
                       "/samples/libvirt/apparmor.d /nonexistent/kern.log");
  EXPECT_EQ(r.status, 2);
  EXPECT_EQ(r.out, "");
}

TEST(SuggestCli, NothingToProposeExits0) {
  const fs::path log = fs::temp_directory_path() / ("aatune-empty-" + std::to_string(getpid()));
  std::ofstream(log) << "Nov 23 09:00:00 host kernel: nothing here\n";
  const Result r = run(std::string(AATUNE_BINARY) + " suggest --format apparmor --profiles " +
                       AATUNE_SOURCE_DIR + "/samples/libvirt/apparmor.d " + log.string());
  fs::remove(log);
  EXPECT_EQ(r.status, 0);
  EXPECT_EQ(r.out, "");
}

TEST(SuggestCli, UnknownFormatIsAUsageError) {
  const Result r = run(std::string(AATUNE_BINARY) + " suggest --format yaml");
  EXPECT_EQ(r.status, 2);
}

}  // namespace
