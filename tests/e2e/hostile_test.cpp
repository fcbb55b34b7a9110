// Hostile input through the real binary: a USER_AVC that an ordinary user's process sent (the
// sender uid the kernel attached is neither root nor the D-Bus daemon's user) claims a D-Bus
// denial. It must be flagged unverified in every output and never be taken by `apply --all`, while
// the bus daemon's own record (sent as root) next to it is proposed and applied as usual.
#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <functional>
#include <map>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>
#include <vector>

#include "e2e/support.h"

namespace {

namespace fs = std::filesystem;
using namespace aatune::e2e;  // NOLINT: the shared test helpers (support.h)

// A USER_AVC as auditd logs it; `sender_uid` is the uid the kernel attached for the sender.
std::string user_avc(int serial, int sender_uid, const std::string& member,
                     const std::string& name) {
  return "type=USER_AVC msg=audit(1795385490." + std::to_string(100 + serial) + ":" +
         std::to_string(9040 + serial) + "): pid=612 uid=" + std::to_string(sender_uid) +
         " auid=4294967295 ses=4294967295 subj=unconfined msg='apparmor=\"DENIED\" "
         "operation=\"dbus_method_call\"  bus=\"system\" path=\"/org/freedesktop/x\" "
         "interface=\"org.freedesktop.x.Manager\" member=\"" +
         member + "\" mask=\"send\" name=\"" + name +
         "\" pid=20790 label=\"libvirtd\" peer_pid=1 peer_label=\"unconfined\"  "
         "exe=\"/usr/bin/dbus-daemon\" sauid=0 hostname=? addr=? terminal=?'\n";
}

class Hostile : public ::testing::Test {
 protected:
  void SetUp() override {
    const fs::path sample = fs::path(AATUNE_SOURCE_DIR) / "samples/libvirt/apparmor.d";
    if (!fs::exists(sample)) GTEST_SKIP() << "samples/libvirt is not there";
    if (!fs::exists(APPARMOR_PARSER)) GTEST_SKIP() << APPARMOR_PARSER << " is not installed";
    tmp_ = fs::temp_directory_path() /
           ("aatune-hostile-" + std::to_string(getpid()) + "-" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(tmp_);
    fs::create_directories(tmp_);
    tree_ = tmp_ / "apparmor.d";
    fs::copy(sample, tree_, fs::copy_options::recursive);
    // Root sends the trusted record, uid 1000 the forged one (a sender without CAP_AUDIT_WRITE
    // can not send at all; one with it, e.g. root in a user's container, is still not the bus).
    log_ = tmp_ / "audit.log";
    spit(log_, user_avc(1, 0, "TrustedMember", "org.freedesktop.trusted") +
                   user_avc(2, 1000, "ForgedMember", "org.freedesktop.forged"));
  }
  void TearDown() override {
    if (!tmp_.empty()) fs::remove_all(tmp_);
  }

  Result run(const std::vector<std::string>& args) { return run_aatune(args, tmp_); }

  fs::path tmp_, tree_, log_;
};

TEST_F(Hostile, UserAvcFromAnOrdinaryUserIsFlaggedInSuggest) {
  const Result r =
      run({"suggest", "--format", "json", "--profiles", tree_.string(), log_.string()});
  ASSERT_EQ(r.status, 1) << r.err;  // 1: proposals printed
  const auto j = nlohmann::json::parse(r.out);
  int forged = 0, trusted = 0;
  const std::string dump = j.dump();
  // Whatever the JSON layout, every proposal object naming a member says whether it is verified.
  std::function<void(const nlohmann::json&)> walk = [&](const nlohmann::json& v) {
    if (v.is_object() && v.contains("unverified") && v.contains("rule") && v["rule"].is_string()) {
      const std::string rule = v["rule"];
      if (rule.find("ForgedMember") != std::string::npos) {
        ++forged;
        EXPECT_TRUE(v["unverified"].get<bool>()) << v.dump();
        EXPECT_NE(v.dump().find("evidence is unverified: a USER_AVC record sent by uid 1000, "
                                "which is neither root nor the D-Bus daemon's user"),
                  std::string::npos)
            << v.dump();
      }
      if (rule.find("TrustedMember") != std::string::npos) {
        ++trusted;
        EXPECT_FALSE(v["unverified"].get<bool>()) << v.dump();
      }
    }
    if (v.is_structured()) {
      for (const auto& child : v) walk(child);
    }
  };
  walk(j);
  EXPECT_GE(forged, 1) << dump;
  EXPECT_GE(trusted, 1) << dump;

  // The text output marks it too.
  const Result text = run({"suggest", "--profiles", tree_.string(), log_.string()});
  ASSERT_EQ(text.status, 1) << text.err;
  EXPECT_NE(text.out.find("evidence is unverified: a USER_AVC record sent by uid 1000"),
            std::string::npos)
      << text.out;
}

TEST_F(Hostile, UserAvcFromAnOrdinaryUserIsNeverAppliedByAll) {
  const auto before = snapshot(tree_);
  const Result r =
      run({"apply", "--profiles", tree_.string(), "--all", "--force", "--yes", "--no-reload",
           "--db", ":memory:", "--state", (tmp_ / "state").string(), log_.string()});
  ASSERT_EQ(r.status, 0) << r.out << r.err;
  EXPECT_NE(r.out.find("unverified evidence (text anyone could have written) is never part of "
                       "--all"),
            std::string::npos)
      << r.out;
  bool trusted_written = false;
  for (const auto& [rel, bytes] : snapshot(tree_)) {
    EXPECT_EQ(bytes.find("ForgedMember"), std::string::npos) << rel << ":\n" << bytes;
    if (bytes.find("member=TrustedMember") != std::string::npos) trusted_written = true;
  }
  EXPECT_TRUE(trusted_written) << r.out;  // the control: root's record is applied
  EXPECT_NE(snapshot(tree_), before);
}

}  // namespace
