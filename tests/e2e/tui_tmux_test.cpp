// End-to-end: the real `aatune tui` with its real backend (store, analyzer, rules, the real
// apparmor_parser for validation) in a real terminal (tmux), on the libvirt sample logs and a temp
// copy of the sample profile tree; loading is --no-reload or a recording script. Screens are
// polled, never slept on.
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

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

// How one run of aatune in the pane is started.
struct Launch {
  std::string size = "-x 120 -y 40";
  bool reload = false;            // false: --no-reload; true: loads go to record.sh
  std::string env;                // extra VAR=value words
  std::vector<std::string> logs;  // LOG files besides the sample's
  std::string shell;              // shell commands before aatune's
};

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
    loader_log_ = dir_ / "loader.log";
    std::ofstream(dir_ / "record.sh")
        << "#!/bin/sh\necho \"$@\" >> " << loader_log_.string() << "\n";
    ::chmod((dir_ / "record.sh").c_str(), 0755);
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
  // The output of a tmux command (display -p …).
  std::string tmux_out(const std::string& args) {
    const std::string out = (dir_ / "tmux-out.txt").string();
    const std::string cmd =
        "LC_ALL=C.UTF-8 tmux -u -L " + socket_ + " " + args + " > " + out + " 2>/dev/null";
    (void)std::system(cmd.c_str());
    std::string s = slurp(out);
    while (!s.empty() && s.back() == '\n') s.pop_back();
    return s;
  }
  // The pid of the aatune process in the pane (the child of the pane's shell).
  pid_t aatune_pid() {
    const std::string shell = tmux_out("display -p -t t '#{pane_pid}'");
    for (const auto& e : fs::directory_iterator("/proc")) {
      const std::string name = e.path().filename().string();
      if (name.find_first_not_of("0123456789") != std::string::npos) continue;
      std::string stat = slurp(e.path() / "stat");
      const size_t close = stat.rfind(')');
      if (close == std::string::npos || stat.find("(aatune)") == std::string::npos) continue;
      std::istringstream rest(stat.substr(close + 2));
      std::string state;
      std::string ppid;
      rest >> state >> ppid;
      if (ppid == shell) return std::stoi(name);
    }
    return -1;
  }
  // The process state letter of `pid` (R, S, T…).
  static char proc_state(pid_t pid) {
    const std::string stat = slurp("/proc/" + std::to_string(pid) + "/stat");
    const size_t close = stat.rfind(')');
    return close == std::string::npos || close + 2 >= stat.size() ? '?' : stat[close + 2];
  }
  void keys(const std::string& k) { ASSERT_EQ(tmux("send-keys -t t " + k), 0) << k; }
  void text(const std::string& t) { ASSERT_EQ(tmux("send-keys -t t -l " + quote(t)), 0) << t; }

  // The pane as text; with `escapes`, with its colour and attribute sequences.
  std::string screen(bool escapes = false) {
    const std::string out = (dir_ / "pane.txt").string();
    const std::string cmd = "LC_ALL=C.UTF-8 tmux -u -L " + socket_ + " capture-pane -p " +
                            (escapes ? "-e " : "") + "-t t > " + out + " 2>/dev/null";
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

  // Starts aatune in the pane; after it exits the pane shows its exit status and whether the
  // terminal it left behind is sane (canonical mode and echo back on).
  void start(const Launch& run = {}) {
    const fs::path samples = fs::path(AATUNE_SOURCE_DIR) / "samples/libvirt";
    std::string cmd = run.shell + "env LC_ALL=C.UTF-8 TERM=xterm-256color " + run.env + " " +
                      std::string(AATUNE_BINARY) + " tui --db " + (dir_ / "db").string() +
                      " --profiles " + (dir_ / "tree").string() + " --state " +
                      (dir_ / "state").string() + " --libvirt-xml " +
                      (samples / "domain.xml").string();
    cmd += run.reload ? " --loader " + (dir_ / "record.sh").string() : " --no-reload";
    for (const char* log : {"audit.log", "kern.log", "kern.log.1", "kern.log.2.gz"}) {
      cmd += " " + (samples / "logs" / log).string();
    }
    for (const auto& log : run.logs) cmd += " " + log;
    cmd +=
        "; echo AATUNE-EXIT=$?; if stty -a | grep -qE '(^| )-(icanon|echo)( |$)'; then echo "
        "STTY-RAW; else echo STTY-SANE; fi; sleep 60";
    ASSERT_EQ(tmux("new-session -d -s t " + run.size + " " + quote(cmd)), 0);
  }
  // Leaves the last run's pane and starts again (same store, same tree).
  void restart(const Launch& run = {}) {
    tmux("kill-session -t t");
    start(run);
  }

  fs::path dir_;
  fs::path loader_log_;
  std::string socket_;
};

TEST_F(TuiTmux, AllowWithGlobAcceptPeerPairSaveAndQuitPrompt) {
  start();
  // The scan is the first job; the profiles appear when it is done.
  std::string s = wait_for("scanned 4 log(s); ");
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

// N: the edited rule is parsed by the rules model; an invalid one is refused, a valid one is
// what gets written.
TEST_F(TuiTmux, EditRuleTextIsValidatedThenWritten) {
  start();
  wait_for("profile(s) with open denials");
  keys("/");
  text("webvm");
  keys("Enter");
  wait_for("found 'webvm'");
  keys("Enter");
  wait_for("(VM webvm) — 4 proposal(s)");
  keys("/");
  text("webvm-data");
  keys("Enter");
  wait_for("found 'webvm-data'");
  keys("N");
  wait_for("Rule: owner /srv/vms/webvm-data.qcow2 rw,");
  text("bogus");
  keys("Enter");
  wait_for(
      "not a valid rule: unknown file permissions 'rw,bogus' in 'owner "
      "/srv/vms/webvm-data.qcow2 rw,bogus'");
  EXPECT_EQ(screen().find("[1 unsaved]"), std::string::npos);
  keys("N");
  wait_for("Rule: owner /srv/vms/webvm-data.qcow2 rw,");
  for (int i = 0; i < 20; ++i) keys("BSpace");
  text("*.qcow2 rw,");
  keys("Enter");
  wait_for("rule: owner /srv/vms/*.qcow2 rw,");
  keys("A");
  wait_for("[1 unsaved]");
  keys("S");
  std::string s = wait_for("review: y or Enter writes, Esc goes back");
  EXPECT_NE(s.find("+  owner /srv/vms/*.qcow2 rw,"), std::string::npos) << s;
  keys("Enter");
  wait_for("saved 1 rule(s) to 1 file(s), validated, not reloaded (--no-reload)");
  const std::string guest =
      slurp(dir_ / "tree/libvirt/libvirt-7f3c9a2e-5b1d-4e8a-9c6f-2d4b8e1a0c35");
  EXPECT_NE(guest.find("\n  owner /srv/vms/*.qcow2 rw,\n"), std::string::npos) << guest;
  keys("q");
  wait_for("AATUNE-EXIT=0");
}

// C, Z, R and X on chronyd, with the real backend: files on disk, the loader's calls (a recording
// script) and the status line.
TEST_F(TuiTmux, ComplainEnforceUndoReloadAndDisableAsks) {
  const fs::path file = dir_ / "tree/usr.sbin.chronyd";
  const std::string before = slurp(file);
  ASSERT_NE(before.find("flags=(complain)"), std::string::npos) << before;
  Launch run;
  run.reload = true;
  start(run);
  wait_for("profile(s) with open denials");
  keys("/");
  text("chronyd");
  keys("Enter");
  wait_for("found 'chronyd'");

  keys("C");
  wait_for("'/usr/sbin/chronyd' is now in enforce mode (" + file.string() + ")");
  EXPECT_EQ(slurp(file).find("flags=(complain)"), std::string::npos) << slurp(file);
  EXPECT_NE(slurp(loader_log_).find("-r " + file.string()), std::string::npos)
      << slurp(loader_log_);

  keys("Z");
  wait_for("(enforce /usr/sbin/chronyd): 1 file(s) restored");
  EXPECT_EQ(slurp(file), before);

  fs::remove(loader_log_);
  keys("R");
  wait_for("reloaded /usr/sbin/chronyd");
  EXPECT_EQ(slurp(loader_log_), "-r " + file.string() + "\n");

  keys("X");
  wait_for("Disable profile /usr/sbin/chronyd (unload it and keep it off)? [y/N]");
  keys("n");
  wait_for("cancelled");
  EXPECT_FALSE(fs::exists(dir_ / "tree/disable/usr.sbin.chronyd"));
  keys("X");
  wait_for("Disable profile /usr/sbin/chronyd (unload it and keep it off)? [y/N]");
  keys("y");
  // The status line is cut at the screen width by the long temp paths.
  wait_for("disabled '/usr/sbin/chronyd': " + file.string());
  EXPECT_TRUE(fs::is_symlink(dir_ / "tree/disable/usr.sbin.chronyd"));
  EXPECT_NE(slurp(loader_log_).find("-R " + file.string()), std::string::npos)
      << slurp(loader_log_);
  keys("q");
  wait_for("AATUNE-EXIT=0");
}

// Issue 10 in the TUI: the failed start of the webvm guest, from the logs to nothing left to do.
TEST_F(TuiTmux, LibvirtScenarioVmNameAllowSaveAndNothingLeft) {
  start();
  std::string s = wait_for("profile(s) with open denials");
  // The guest's line: its UUID profile and the VM name beside it.
  const size_t row = s.find("libvirt-7f3c9a2e-5b1d-4e8a-9c6f-2d4b8e1a0c35");
  ASSERT_NE(row, std::string::npos) << s;
  EXPECT_NE(s.substr(row, s.find('\n', row) - row).find("webvm"), std::string::npos) << s;
  // The noise around the failure (chronyd in complain mode, man): ignored, remembered.
  keys("/");
  text("chronyd");
  keys("Enter");
  wait_for("found 'chronyd'");
  keys("Enter");
  wait_for("/usr/sbin/chronyd — 6 proposal(s)");
  for (int i = 0; i < 6; ++i) keys("I");
  wait_for("/usr/sbin/chronyd — 0 proposal(s)");
  keys("Escape");
  wait_for("profiles with open denials (3)");
  keys("/");
  text("man");
  keys("Enter");
  wait_for("found 'man'");
  keys("Enter");
  wait_for("/usr/bin/man — 1 proposal(s)");
  keys("I");
  wait_for("/usr/bin/man — 0 proposal(s)");
  keys("Escape");
  // The guest: disk image, hugepages, and the signal from libvirtd with both sides (P).
  s = wait_for("profiles with open denials (2)");
  keys("/");
  text("webvm");
  keys("Enter");
  wait_for("found 'webvm'");
  keys("Enter");
  s = wait_for("(VM webvm) — 4 proposal(s)");
  keys("A");
  wait_for("[1 unsaved]");
  keys("A");
  wait_for("[2 unsaved]");
  keys("P");
  wait_for("accepted the pair: 2 rule(s) (4 accepted; S to review)");
  keys("Escape");
  wait_for("profiles with open denials (2)");
  // libvirtd: the exec of virtiofsd (PUx, into its local/ override) and its own signal denial.
  keys("/");
  text("libvirtd");
  keys("Enter");
  wait_for("found 'libvirtd'");
  keys("Enter");
  s = wait_for("libvirtd — 3 proposal(s)");
  EXPECT_NE(s.find("/usr/lib/qemu/virtiofsd PUx,"), std::string::npos) << s;
  keys("A");
  wait_for("[5 unsaved]");
  keys("A");
  wait_for("[6 unsaved]");
  keys("S");
  s = wait_for("review: y or Enter writes, Esc goes back");
  EXPECT_NE(s.find("+/usr/lib/qemu/virtiofsd PUx,"), std::string::npos) << s;
  keys("y");
  wait_for("saved 6 rule(s) to 2 file(s), validated, not reloaded (--no-reload)");
  const std::string guest =
      slurp(dir_ / "tree/libvirt/libvirt-7f3c9a2e-5b1d-4e8a-9c6f-2d4b8e1a0c35");
  EXPECT_NE(
      guest.find("  owner /srv/vms/webvm-data.qcow2 rw,\n"
                 "  owner /dev/hugepages/libvirt/qemu/3-webvm/qemu_back_mem.pc.ram.Xk3vQb w,\n"
                 "  signal receive set=term peer=libvirtd,\n}"),
      std::string::npos)
      << guest;
  const std::string local = slurp(dir_ / "tree/local/usr.sbin.libvirtd");
  EXPECT_NE(local.find("\nsignal send set=term peer=libvirt-7f3c9a2e-5b1d-4e8a-9c6f-2d4b8e1a0c35,\n"
                       "/usr/lib/qemu/virtiofsd PUx,\n"),
            std::string::npos)
      << local;
  keys("q");
  wait_for("AATUNE-EXIT=0");
  // The second open of the same logs: nothing left to do.
  restart();
  s = wait_for("scanned 4 log(s); no open denials");
  EXPECT_NE(s.find("profiles with open denials (0)"), std::string::npos) << s;
}

// SIGINT, SIGTERM: the terminal is given back sane and the signal reported to the shell.
TEST_F(TuiTmux, SigintRestoresTheTerminal) {
  // Ctrl-C goes to the whole foreground group: the pane's shell ignores it so that it lives on to
  // report what aatune did.
  Launch run;
  run.shell = "trap '' INT; ";
  start(run);
  wait_for("profile(s) with open denials");
  keys("C-c");
  const std::string s = wait_for("STTY-");
  EXPECT_NE(s.find("AATUNE-EXIT=130"), std::string::npos) << s;
  EXPECT_NE(s.find("STTY-SANE"), std::string::npos) << s;
}

TEST_F(TuiTmux, SigtermRestoresTheTerminal) {
  start();
  wait_for("profile(s) with open denials");
  const pid_t pid = aatune_pid();
  ASSERT_GT(pid, 0);
  ASSERT_EQ(::kill(pid, SIGTERM), 0);
  const std::string s = wait_for("STTY-");
  EXPECT_NE(s.find("AATUNE-EXIT=143"), std::string::npos) << s;
  EXPECT_NE(s.find("STTY-SANE"), std::string::npos) << s;
}

// SIGTSTP: aatune stops with the terminal given back sane, so the shell (with job control, as an
// interactive one has) goes on at its prompt.
TEST_F(TuiTmux, SigtstpGivesTheTerminalBack) {
  Launch run;
  run.shell = "set -m; ";
  start(run);
  wait_for("profile(s) with open denials");
  const pid_t pid = aatune_pid();
  ASSERT_GT(pid, 0);
  ASSERT_EQ(::kill(pid, SIGTSTP), 0);
  const std::string s = wait_for("STTY-");
  EXPECT_NE(s.find("AATUNE-EXIT=148"), std::string::npos) << s;  // 128 + SIGTSTP: stopped
  EXPECT_NE(s.find("STTY-SANE"), std::string::npos) << s;
  EXPECT_EQ(proc_state(pid), 'T');
  ::kill(pid, SIGTERM);
  ::kill(pid, SIGCONT);
}

// 80x24, a resize, and a UTF-8 path (hex-encoded by the kernel) laid out by display columns.
TEST_F(TuiTmux, At80x24FollowsResizeAndShowsUtf8Paths) {
  const fs::path log = dir_ / "utf8.log";
  std::ofstream(log)
      << "Nov 23 09:30:00 kvmhost kernel: [ 5000.000000] audit: type=1400 "
         "audit(1795426200.000:900): apparmor=\"DENIED\" operation=\"open\" class=\"file\" "
         "profile=\"libvirt-7f3c9a2e-5b1d-4e8a-9c6f-2d4b8e1a0c35\" "
         "name=2F7372762F766D732FE697A5E69CAC2DC3A92E71636F7732 pid=5236 "
         "comm=\"qemu-system-x86\" requested_mask=\"r\" denied_mask=\"r\" fsuid=64055 "
         "ouid=64055\n";
  Launch run;
  run.size = "-x 80 -y 24";
  run.logs = {log.string()};
  start(run);
  std::string s = wait_for("profile(s) with open denials");
  keys("/");
  text("webvm");
  keys("Enter");
  wait_for("found 'webvm'");
  keys("Enter");
  s = wait_for("(VM webvm) — 5 proposal(s)");
  keys("/");
  text("日本");
  keys("Enter");
  wait_for("found '日本'");
  keys("Enter");
  s = wait_for("Evidence: 1x open /srv/vms/日本-é.qcow2 mask r");
  // 24 lines of at most 80 columns: the wide characters count two each.
  std::vector<std::string> lines;
  for (std::istringstream in(s); std::getline(in, lines.emplace_back());) {
  }
  lines.pop_back();
  EXPECT_EQ(lines.size(), 24u) << s;
  EXPECT_NE(s.find("Rule: owner /srv/vms/日本-é.qcow2 r,"), std::string::npos) << s;
  // Wider and taller: the status line follows the bottom edge.
  ASSERT_EQ(tmux("resize-window -t t -x 100 -y 30"), 0);
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  while (std::chrono::steady_clock::now() < deadline) {
    s = screen();
    lines.clear();
    for (std::istringstream in(s); std::getline(in, lines.emplace_back());) {
    }
    lines.pop_back();
    if (lines.size() == 30 && lines[28].starts_with("A allow")) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  ASSERT_EQ(lines.size(), 30u) << s;
  EXPECT_TRUE(lines[28].starts_with("A allow  D deny")) << s;
  EXPECT_EQ(lines[29], "found '日本'") << s;
}

// Colours: the review's added lines are green on a colour terminal, plain with NO_COLOR.
TEST_F(TuiTmux, NoColorTurnsColoursOff) {
  for (const bool no_color : {false, true}) {
    SCOPED_TRACE(no_color ? "NO_COLOR=1" : "colour");
    Launch run;
    if (no_color) {
      run.env = "NO_COLOR=1";
      restart(run);
    } else {
      start(run);
    }
    wait_for("profile(s) with open denials");
    keys("Enter");
    wait_for("proposal(s)");
    keys("A");
    wait_for("[1 unsaved]");
    keys("S");
    wait_for("review: y or Enter writes, Esc goes back");
    const std::string s = screen(true);
    EXPECT_EQ(s.find("\x1b[32m") != std::string::npos, !no_color) << s;
    EXPECT_NE(s.find("\x1b[7m"), std::string::npos) << s;  // reverse video title either way
  }
}

}  // namespace
