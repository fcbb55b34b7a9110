// End-to-end: the real `aatune tui` in a real terminal (tmux), on the libvirt sample logs and a
// temp copy of the sample profile tree, with --no-reload. Screens are polled, never slept on.
#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <thread>

namespace {

namespace fs = std::filesystem;

std::string slurp(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

std::string quote(const std::string& s) {
  std::string out = "'";
  for (char c : s) out += c == '\'' ? std::string("'\\''") : std::string(1, c);
  return out + "'";
}

class TuiTmux : public ::testing::Test {
 protected:
  void SetUp() override {
    if (std::system("command -v tmux >/dev/null 2>&1") != 0) {
      GTEST_SKIP() << "tmux is not installed (scripts/install-deps.sh installs it)";
    }
    std::string tmpl = (fs::temp_directory_path() / "aatune-tui-XXXXXX").string();
    dir_ = mkdtemp(tmpl.data());
    fs::copy(fs::path(AATUNE_SOURCE_DIR) / "samples/libvirt/apparmor.d", dir_ / "tree",
             fs::copy_options::recursive);
    socket_ = "aatune-tui-test-" + std::to_string(getpid());
  }
  void TearDown() override {
    if (socket_.empty()) return;
    tmux("kill-server");
    fs::remove_all(dir_);
  }

  int tmux(const std::string& args) {
    // -u and a UTF-8 locale: the pane must show "—" and "→" as the user's terminal would.
    const std::string cmd =
        "LC_ALL=C.UTF-8 tmux -u -L " + socket_ + " " + args + " >/dev/null 2>&1";
    const int status = std::system(cmd.c_str());
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  }
  void keys(const std::string& k) { ASSERT_EQ(tmux("send-keys -t t " + k), 0) << k; }
  void text(const std::string& t) { ASSERT_EQ(tmux("send-keys -t t -l " + quote(t)), 0) << t; }

  std::string screen() {
    const std::string out = (dir_ / "pane.txt").string();
    const std::string cmd =
        "LC_ALL=C.UTF-8 tmux -u -L " + socket_ + " capture-pane -p -t t > " + out + " 2>/dev/null";
    (void)std::system(cmd.c_str());
    return slurp(out);
  }

  // Polls the pane until `needle` shows (10 s at most); returns the last screen.
  std::string wait_for(const std::string& needle) {
    std::string s;
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
    while (std::chrono::steady_clock::now() < deadline) {
      s = screen();
      if (s.find(needle) != std::string::npos) return s;
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    ADD_FAILURE() << "timed out waiting for '" << needle << "'; screen:\n" << s;
    return s;
  }

  void start() {
    const fs::path samples = fs::path(AATUNE_SOURCE_DIR) / "samples/libvirt";
    std::string cmd = "env LC_ALL=C.UTF-8 TERM=xterm-256color " + std::string(AATUNE_BINARY) +
                      " tui --db " + (dir_ / "db").string() + " --profiles " +
                      (dir_ / "tree").string() + " --state " + (dir_ / "state").string() +
                      " --no-reload --libvirt-xml " + (samples / "domain.xml").string();
    for (const char* log : {"audit.log", "kern.log", "kern.log.1", "kern.log.2.gz"}) {
      cmd += " " + (samples / "logs" / log).string();
    }
    cmd += "; echo AATUNE-EXIT=$?; sleep 60";
    ASSERT_EQ(tmux("new-session -d -s t -x 120 -y 40 " + quote(cmd)), 0);
  }

  fs::path dir_;
  std::string socket_;
};

TEST_F(TuiTmux, AllowWithGlobAcceptPeerPairSaveAndQuitPrompt) {
  start();
  std::string s = wait_for("profiles with open denials");
  EXPECT_NE(s.find("webvm"), std::string::npos) << s;  // VM name next to libvirt-<uuid>

  // Find the guest by its VM name, open its groups.
  keys("/");
  text("webvm");
  keys("Enter");
  wait_for("found 'webvm'");
  keys("Enter");
  s = wait_for("(VM webvm) — 4 proposal(s)");

  // The disk image: one glob step up, allow.
  keys("/");
  text("webvm-data");
  keys("Enter");
  wait_for("found 'webvm-data'");
  keys("G");
  wait_for("rule: owner /srv/vms/* rw,");
  keys("A");
  wait_for("allow: owner /srv/vms/* rw, → ");

  // The signal libvirtd sends the guest: accept both sides.
  keys("/");
  text("signal receive");
  keys("Enter");
  wait_for("found 'signal receive'");
  keys("P");
  wait_for("accepted the pair: 2 rule(s) (3 accepted; S to review)");

  keys("S");
  s = wait_for("review: y or Enter writes, Esc goes back");
  EXPECT_NE(s.find("+  owner /srv/vms/* rw,"), std::string::npos) << s;
  EXPECT_NE(s.find("+signal send set=term peer=libvirt-7f3c9a2e-5b1d-4e8a-9c6f-2d4b8e1a0c35,"),
            std::string::npos)
      << s;
  keys("y");
  s = wait_for("saved 3 rule(s) to 2 file(s), validated, not reloaded (--no-reload)");

  const std::string guest =
      slurp(dir_ / "tree/libvirt/libvirt-7f3c9a2e-5b1d-4e8a-9c6f-2d4b8e1a0c35");
  EXPECT_NE(guest.find("  owner /srv/vms/* rw,\n  signal receive set=term peer=libvirtd,\n}"),
            std::string::npos)
      << guest;
  const std::string local = slurp(dir_ / "tree/local/usr.sbin.libvirtd");
  EXPECT_NE(
      local.find("\nsignal send set=term peer=libvirt-7f3c9a2e-5b1d-4e8a-9c6f-2d4b8e1a0c35,\n"),
      std::string::npos)
      << local;

  // Accept one more, then quit: the prompt names the unsaved rule; 'n' stays, 'y' leaves.
  // Saving returns to the guest's groups, which now hold only what is still open.
  s = wait_for("(VM webvm) — 1 proposal(s)");
  EXPECT_EQ(s.find("/srv/vms/webvm-data.qcow2"), std::string::npos) << s;
  keys("A");
  // The status line is cut at the screen width by the long path; the title keeps the count.
  wait_for("[1 unsaved]");
  keys("q");
  wait_for("1 accepted rule(s) not saved. Quit anyway? [y/N]");
  keys("n");
  wait_for("cancelled");
  keys("q");
  wait_for("Quit anyway? [y/N]");
  keys("y");
  wait_for("AATUNE-EXIT=0");
  // Nothing more was written.
  EXPECT_EQ(slurp(dir_ / "tree/local/usr.sbin.libvirtd"), local);
}

}  // namespace
