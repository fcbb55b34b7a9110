// Least privilege through the real binary, run as `nobody` (setpriv): reading logs and analysing
// them never need root; writing the profile tree does, and the error names the file and the
// permission that is missing. Needs root to switch users; skipped otherwise.
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>
#include <string>
#include <vector>

#include "e2e/support.h"

namespace {

namespace fs = std::filesystem;
using namespace aatune::e2e;  // NOLINT: the shared test helpers (support.h)

constexpr const char* kSetpriv = "/usr/bin/setpriv";

class Privilege : public ::testing::Test {
 protected:
  void SetUp() override {
    if (geteuid() != 0) GTEST_SKIP() << "needs root to run aatune as nobody (setpriv)";
    if (!fs::exists(kSetpriv)) GTEST_SKIP() << kSetpriv << " is not installed";
    sample_ = fs::path(AATUNE_SOURCE_DIR) / "samples/libvirt";
    if (!fs::exists(sample_ / "apparmor.d")) GTEST_SKIP() << "samples/libvirt is not there";
    tmp_ = fs::temp_directory_path() /
           ("aatune-privilege-" + std::to_string(getpid()) + "-" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(tmp_);
    fs::create_directories(tmp_);
    // Root owns the tree and the logs; everybody may read them (0755 dirs, 0644 files).
    tree_ = tmp_ / "apparmor.d";
    fs::copy(sample_ / "apparmor.d", tree_, fs::copy_options::recursive);
    fs::copy_file(sample_ / "logs/kern.log", tmp_ / "kern.log");
    for (const auto& e : fs::recursive_directory_iterator(tmp_)) {
      fs::permissions(e.path(), e.is_directory() ? fs::perms(0755) : fs::perms(0644));
    }
    fs::permissions(tmp_, fs::perms(0755));
    // nobody's own scratch space: the store and the state directory.
    scratch_ = tmp_ / "scratch";
    fs::create_directories(scratch_);
    ASSERT_EQ(chown(scratch_.c_str(), 65534, 65534), 0);
  }
  void TearDown() override {
    if (!tmp_.empty()) fs::remove_all(tmp_);
  }

  Result run_as_nobody(const std::vector<std::string>& args) {
    return run_aatune(
        args, tmp_,
        {.prefix = std::string(kSetpriv) +
                   " --reuid=65534 --regid=65534 --clear-groups env HOME=" + quote(scratch_)});
  }

  fs::path sample_, tmp_, tree_, scratch_;
};

TEST_F(Privilege, SuggestOnAReadableLogNeedsNoRoot) {
  const Result r = run_as_nobody({"suggest", "--profiles", tree_.string(), "--libvirt-xml",
                                  (sample_ / "domain.xml").string(), (tmp_ / "kern.log").string()});
  EXPECT_EQ(r.status, 1) << r.err;  // 1: proposals printed
  EXPECT_NE(r.out.find("/usr/lib/qemu/virtiofsd PUx,"), std::string::npos) << r.out;
  EXPECT_EQ(r.err.find("ermission"), std::string::npos) << r.err;
}

TEST_F(Privilege, ScanIntoAStoreOfOnesOwnNeedsNoRoot) {
  const Result r = run_as_nobody({"scan", "--db", (scratch_ / "aatune.db").string(), "--no-journal",
                                  "--no-kmsg", (tmp_ / "kern.log").string()});
  EXPECT_EQ(r.status, 0) << r.out << r.err;
  EXPECT_TRUE(fs::exists(scratch_ / "aatune.db"));
}

TEST_F(Privilege, ApplyToARootOwnedTreeSaysWhichPermissionIsMissing) {
  const auto before = snapshot(tree_);
  const Result r = run_as_nobody({"apply", "--profiles", tree_.string(), "--libvirt-xml",
                                  (sample_ / "domain.xml").string(), "--all", "--force", "--yes",
                                  "--no-reload", "--db", ":memory:", "--state",
                                  (scratch_ / "state").string(), (tmp_ / "kern.log").string()});
  EXPECT_NE(r.status, 0) << r.out;
  // One line naming the file that could not be written and what is missing.
  const std::string want = "permission denied writing " + tree_.string() + "/";
  const size_t at = r.err.find(want);
  ASSERT_NE(at, std::string::npos) << r.err;
  const size_t eol = r.err.find('\n', at);
  EXPECT_TRUE(
      r.err.substr(at, eol - at).ends_with(": need write access to the profile tree (run as root)"))
      << r.err;
  EXPECT_EQ(snapshot(tree_), before);  // nothing written
}

}  // namespace
