// End-to-end tests of `aatune scan`, `status` and `list` on real files in temp dirs.
#include <gtest/gtest.h>
#include <sys/mount.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>

#include "store/store.h"

namespace {

namespace fs = std::filesystem;

struct Result {
  int code = -1;
  std::string out;
  std::string err;
};

std::string slurp(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

class ScanE2E : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string tmpl = (fs::temp_directory_path() / "aatune-scan-XXXXXX").string();
    dir_ = mkdtemp(tmpl.data());
    fs::create_directories(dir_ / "var/log/audit");
    db_ = (dir_ / "store.db").string();
  }
  void TearDown() override { fs::remove_all(dir_); }

  Result run(const std::string& args) {
    const std::string out = (dir_ / "out.txt").string();
    const std::string err = (dir_ / "err.txt").string();
    const std::string cmd =
        std::string(AATUNE_BINARY) + " " + args + " >" + out + " 2>" + err + " </dev/null";
    const int status = std::system(cmd.c_str());
    return Result{WIFEXITED(status) ? WEXITSTATUS(status) : -1, slurp(out), slurp(err)};
  }
  Result scan_root() {
    return run("scan --db " + db_ + " --root " + dir_.string() + " --no-journal --no-kmsg");
  }

  static std::string kern(uint32_t serial, const std::string& path = "/etc/secret") {
    return "Jul 24 12:25:33 web01 kernel: [42416.178567] audit: type=1400 audit(1795424536.908:" +
           std::to_string(serial) +
           "): apparmor=\"DENIED\" operation=\"open\" class=\"file\" profile=\"aatest\" name=\"" +
           path +
           "\" pid=160 comm=\"aa_exercise\" requested_mask=\"r\" denied_mask=\"r\" "
           "fsuid=0 ouid=0\n";
  }
  static std::string audit(uint32_t serial) {
    return "type=AVC msg=audit(1795424536.908:" + std::to_string(serial) +
           "): apparmor=\"DENIED\" operation=\"open\" class=\"file\" profile=\"aatest\" "
           "name=\"/etc/secret\" pid=160 comm=\"aa_exercise\" requested_mask=\"r\" "
           "denied_mask=\"r\" fsuid=0 ouid=0\n";
  }
  static std::string noise(int i) {
    return "Jul 24 12:25:3" + std::to_string(i % 10) + " web01 sshd[1]: session opened\n";
  }
  // Whether any process has `p` open, read from /proc/<pid>/fd.
  static bool opened_by_some_process(const fs::path& p) {
    // Processes come and go while we look: every step takes an error_code, none throws.
    std::error_code ec;
    for (fs::directory_iterator proc("/proc", ec), end; !ec && proc != end; proc.increment(ec)) {
      const std::string pid = proc->path().filename().string();
      if (pid.find_first_not_of("0123456789") != std::string::npos) continue;
      std::error_code fd_ec;
      for (fs::directory_iterator fd(proc->path() / "fd", fd_ec); !fd_ec && fd != end;
           fd.increment(fd_ec)) {
        std::error_code link_ec;
        if (fs::read_symlink(fd->path(), link_ec) == p) return true;
      }
    }
    return false;
  }
  void append(const fs::path& p, const std::string& text) {
    std::ofstream(p, std::ios::app | std::ios::binary) << text;
  }
  // The "total" row of the summary: lines new duplicate invalid.
  static std::string totals(const std::string& out) {
    std::istringstream in(out);
    std::string line;
    while (std::getline(in, line)) {
      if (line.starts_with("total ")) {
        std::istringstream f(line.substr(6));
        uint64_t a, b, c, d;
        f >> a >> b >> c >> d;
        return std::to_string(a) + " " + std::to_string(b) + " " + std::to_string(c) + " " +
               std::to_string(d);
      }
    }
    return "no total row in: " + out;
  }

  fs::path dir_;
  std::string db_;
};

TEST_F(ScanE2E, RescanReadsOnlyWhatIsNewAndSurvivesRotation) {
  const fs::path kern_log = dir_ / "var/log/kern.log";
  append(kern_log, noise(0) + kern(1) + kern(2) + noise(1));
  auto r = scan_root();
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_EQ(totals(r.out), "4 2 0 0");

  r = scan_root();
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_EQ(totals(r.out), "0 0 0 0");

  append(kern_log, kern(3));
  r = scan_root();
  EXPECT_EQ(totals(r.out), "1 1 0 0");

  // logrotate: kern.log -> kern.log.1 (with one more line written before the rename), a new
  // kern.log; then kern.log.1 -> kern.log.2.gz.
  append(kern_log, kern(4));
  fs::rename(kern_log, dir_ / "var/log/kern.log.1");
  append(kern_log, noise(2) + kern(5));
  r = scan_root();
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_EQ(totals(r.out), "3 2 0 0");
  EXPECT_NE(r.out.find("(rotated): resumed"), std::string::npos) << r.out;

  ASSERT_EQ(std::system(("gzip -n " + (dir_ / "var/log/kern.log.1").string()).c_str()), 0);
  fs::rename(dir_ / "var/log/kern.log.1.gz", dir_ / "var/log/kern.log.2.gz");
  r = scan_root();
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_EQ(totals(r.out), "0 0 0 0");

  r = run("list --db " + db_ + " --json");
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_NE(r.out.find("\"count\": 5"), std::string::npos) << r.out;
}

TEST_F(ScanE2E, SameRecordInAuditLogAndKernLogIsStoredOnce) {
  append(dir_ / "var/log/audit/audit.log", audit(7) + audit(8));
  append(dir_ / "var/log/kern.log", kern(7));
  auto r = scan_root();
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_EQ(totals(r.out), "3 2 1 0");
}

TEST_F(ScanE2E, CopyTruncateStartsOverWithoutDoubleCounting) {
  const fs::path log = dir_ / "var/log/kern.log";
  append(log, kern(1) + kern(2) + kern(3));
  ASSERT_EQ(scan_root().code, 0);
  // copytruncate keeps the inode; the new content begins with the same first line but is shorter.
  fs::resize_file(log, 0);
  append(log, kern(1));
  auto r = scan_root();
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_EQ(totals(r.out), "1 0 1 0");
  EXPECT_NE(r.out.find("shrank since the last scan"), std::string::npos) << r.out;
}

TEST_F(ScanE2E, UnterminatedLastLineWaitsForItsNewline) {
  const fs::path log = dir_ / "var/log/kern.log";
  std::string partial = kern(2);
  partial.pop_back();
  append(log, kern(1) + partial.substr(0, 60));
  auto r = scan_root();
  EXPECT_EQ(totals(r.out), "1 1 0 0");
  append(log, partial.substr(60) + "\n");
  r = scan_root();
  EXPECT_EQ(totals(r.out), "1 1 0 0");
}

TEST_F(ScanE2E, NamedSourceThatDoesNotExistIsReported) {
  auto r = run("scan --db " + db_ + " " + (dir_ / "nope.log").string());
  EXPECT_EQ(r.code, 2);
  EXPECT_NE(r.out.find("skipped: no such file"), std::string::npos) << r.out;
  EXPECT_EQ(r.err, "aatune: error: some sources named on the command line could not be read\n");
}

TEST_F(ScanE2E, ForeignDatabaseIsRefusedUntouched) {
  const fs::path junk = dir_ / "junk.db";
  std::ofstream(junk) << "this is not sqlite at all, just text that must survive\n";
  append(dir_ / "var/log/kern.log", kern(1));
  auto r = run("scan --db " + junk.string() + " " + (dir_ / "var/log/kern.log").string());
  EXPECT_EQ(r.code, 2);
  EXPECT_EQ(r.err, "aatune: error: " + junk.string() +
                       ": file is not a database (not an aatune store); nothing changed\n");
  EXPECT_EQ(slurp(junk), "this is not sqlite at all, just text that must survive\n");
}

TEST_F(ScanE2E, StatusAndListSummariseTheStore) {
  append(dir_ / "var/log/kern.log", kern(1) + kern(2) + kern(3, "/etc/other"));
  ASSERT_EQ(scan_root().code, 0);
  auto r = run("status --db " + db_ + " --profiles-file /nonexistent");
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_NE(r.out.find("aatest"), std::string::npos);
  EXPECT_NE(r.out.find("unknown         2        0         3 2026-11-23 09:02:16Z"),
            std::string::npos)
      << r.out;
  r = run("status --db " + db_ + " --by-host");
  EXPECT_NE(r.out.find("web01"), std::string::npos) << r.out;
  r = run("list --db " + db_ + " --profile aatest");
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_NE(r.out.find("/etc/secret"), std::string::npos) << r.out;
  r = run("list --db " + db_ + " --profile nosuch");
  EXPECT_EQ(r.out, "no open denial groups (use --all to include decided ones)\n");
  r = run("list --db " + db_ + " --since yesterday");
  EXPECT_EQ(r.code, 2);
}

// Issue 4: a group the user ignored is not offered again by list/status until the profile's files
// change on disk (or --all); list shows the analyzer's proposal and explanation per group.
TEST_F(ScanE2E, IgnoredGroupComesBackWhenItsProfileChangesOnDisk) {
  const fs::path tree = dir_ / "apparmor.d";
  fs::create_directories(tree / "local");
  std::ofstream(tree / "aatest") << "profile aatest {\n  /etc/hosts r,\n}\n";
  append(dir_ / "var/log/kern.log", kern(1) + kern(2) + kern(3, "/etc/other"));
  ASSERT_EQ(scan_root().code, 0);
  const std::string list = "list --db " + db_ + " --profiles " + tree.string();

  auto r = run(list + " --json");
  ASSERT_EQ(r.code, 0) << r.err;
  auto j = nlohmann::json::parse(r.out);
  ASSERT_EQ(j.size(), 2u) << r.out;
  EXPECT_EQ(j[0]["target"], "/etc/secret");
  EXPECT_EQ(j[0]["proposal"], "/etc/secret r,") << r.out;
  EXPECT_EQ(j[0]["explanation"]["code"], "no-rule") << r.out;
  EXPECT_EQ(j[1]["proposal"], "/etc/other r,") << r.out;
  const std::string key = j[0]["key"];
  const std::string hash = j[0]["profile_hash"];
  ASSERT_EQ(hash.size(), 16u);
  EXPECT_EQ(j[1]["profile_hash"], hash);

  r = run(list);
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_NE(r.out.find("\n        proposal: /etc/secret r,\n        why: "), std::string::npos)
      << r.out;

  {  // The user ignores the /etc/secret group, as the TUI records it.
    auto db = aatune::store::Store::open(db_);
    ASSERT_TRUE(db) << db.error().message;
    ASSERT_TRUE(db->record_decision(
        {key, aatune::store::DecisionKind::kIgnored, 0, "root", 1795424600, hash}));
  }
  r = run(list + " --json");
  j = nlohmann::json::parse(r.out);
  ASSERT_EQ(j.size(), 1u) << r.out;
  EXPECT_EQ(j[0]["target"], "/etc/other");
  const std::string status = "status --db " + db_ + " --profiles-file /nonexistent --profiles " +
                             tree.string() + " --json";
  r = run(status);
  ASSERT_EQ(r.code, 0) << r.err;
  j = nlohmann::json::parse(r.out);
  EXPECT_EQ(j[0]["open"], 1) << r.out;
  EXPECT_EQ(j[0]["decided"], 1) << r.out;

  // A rescan of the unchanged log (rotation included) does not bring it back...
  r = scan_root();
  ASSERT_EQ(r.code, 0) << r.err;
  r = run(list + " --json");
  EXPECT_EQ(nlohmann::json::parse(r.out).size(), 1u) << r.out;
  // ...--all does, marked as ignored...
  r = run(list + " --json --all");
  j = nlohmann::json::parse(r.out);
  ASSERT_EQ(j.size(), 2u) << r.out;
  EXPECT_EQ(j[0]["decision"], "ignored");
  // ...and so does a change of the profile's local override on disk.
  std::ofstream(tree / "local/aatest") << "# a local tweak\n";
  r = run(list + " --json");
  j = nlohmann::json::parse(r.out);
  ASSERT_EQ(j.size(), 2u) << r.out;
  EXPECT_NE(j[0]["profile_hash"], hash);
  r = run(status);
  j = nlohmann::json::parse(r.out);
  EXPECT_EQ(j[0]["open"], 2) << r.out;
  EXPECT_EQ(j[0]["decided"], 0) << r.out;
}

TEST_F(ScanE2E, LogThatShrinksOrDisappearsMidScanIsReportedNotFatal) {
  for (const bool remove : {false, true}) {
    const fs::path log = dir_ / (remove ? "gone.log" : "shrink.log");
    std::string text;
    for (uint32_t i = 0; i < 100000; ++i) text += kern(i + (remove ? 200000 : 0));
    append(log, text);
    const std::string out = (dir_ / "mid.txt").string();
    const std::string cmd = std::string(AATUNE_BINARY) + " scan --db " + db_ + " " + log.string() +
                            " >" + out + " 2>&1";
    const pid_t pid = fork();
    ASSERT_GE(pid, 0);
    if (pid == 0) _exit(std::system(cmd.c_str()) == 0 ? 0 : 1);
    // Change the file only once the scan has it open: under load (or ASan) a fixed delay, or
    // any sign from the store, can come before the scan has even opened the file.
    for (int i = 0; i < 600 && !opened_by_some_process(log); ++i) usleep(50 * 1000);
    if (remove) {
      fs::remove(log);
    } else {
      fs::resize_file(log, 0);
    }
    int status = 0;
    ASSERT_EQ(waitpid(pid, &status, 0), pid);
    const std::string got = slurp(out);
    // Timing decides how far the scan got; what must hold is: no crash, exit 0, and either the
    // change was reported or the whole file had already been read.
    EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << got;
    const bool reported = got.find(remove ? "disappeared during the scan"
                                          : "shrank during the scan") != std::string::npos ||
                          got.find("skipped: ") != std::string::npos;
    EXPECT_TRUE(reported || got.find(" 100000 ") != std::string::npos) << got;
  }
  auto r = run("list --db " + db_ + " --json");
  EXPECT_EQ(r.code, 0) << r.err;
}

TEST_F(ScanE2E, DiskFullStopsTheScanAndKeepsTheStoreConsistent) {
  if (geteuid() != 0) GTEST_SKIP() << "needs root to mount a small tmpfs";
  const fs::path mnt = dir_ / "small";
  fs::create_directories(mnt);
  if (mount("tmpfs", mnt.c_str(), "tmpfs", 0, "size=256k") != 0) {
    GTEST_SKIP() << "cannot mount tmpfs here: " << std::strerror(errno);
  }
  std::string text;
  for (uint32_t i = 0; i < 20000; ++i) text += kern(i, "/srv/file" + std::to_string(i % 50));
  append(dir_ / "big.log", text);
  const std::string db = (mnt / "store.db").string();
  auto r = run("scan --db " + db + " " + (dir_ / "big.log").string());
  EXPECT_EQ(r.code, 3) << r.out << r.err;
  EXPECT_NE(r.err.find("database or disk is full"), std::string::npos) << r.err;
  // Still a valid store: readable, and what it holds is whole batches.
  auto l = run("list --db " + db + " --json");
  EXPECT_EQ(l.code, 0) << l.err;
  umount2(mnt.c_str(), MNT_DETACH);
}

}  // namespace
