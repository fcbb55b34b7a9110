// The ecosystem around the binary: man page, shell completion, config errors, install layout.
// Everything runs the real tools (groff, man, bash, cmake --install) on the real files.
#include <gtest/gtest.h>
#include <sys/wait.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <regex>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "e2e/support.h"

namespace {

namespace fs = std::filesystem;
using namespace aatune::e2e;  // NOLINT: the shared test helpers (support.h)

class Eco : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() /
           ("aatune-eco-" + std::to_string(::getpid()) + "-" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(dir_);
    fs::create_directories(dir_);
  }
  void TearDown() override { fs::remove_all(dir_); }

  // Runs `cmd` with /bin/sh in the source tree; stdout and stderr captured apart.
  Result sh(const std::string& cmd) const {
    return run_shell("cd '" AATUNE_SOURCE_DIR "' && { " + cmd + " ; } </dev/null", dir_);
  }

  // Asks the bash completion what it offers for the words of `line` (the last one is completed).
  std::vector<std::string> complete(const std::string& line) const {
    const auto script = dir_ / "complete.sh";
    std::ofstream(script) << "source contrib/completion/aatune.bash\n"
                          << "COMP_WORDS=(" << line << ")\n"
                          << "COMP_CWORD=$((${#COMP_WORDS[@]} - 1))\n"
                          << "COMP_WORDS[0]='" AATUNE_BINARY "'\n"
                          << "_aatune\nprintf '%s\\n' \"${COMPREPLY[@]}\"\n";
    const auto r = sh("bash " + script.string());
    EXPECT_EQ(r.err, "");
    std::vector<std::string> words;
    std::istringstream in(r.out);
    for (std::string w; std::getline(in, w);) {
      if (!w.empty()) words.push_back(w);
    }
    return words;
  }

  fs::path dir_;
};

// The long options a command's --help mentions.
std::set<std::string> options_in(const std::string& help) {
  static const std::regex kOpt("--[a-z][a-z-]*[a-z]");
  std::set<std::string> opts;
  for (auto it = std::sregex_iterator(help.begin(), help.end(), kOpt); it != std::sregex_iterator();
       ++it) {
    opts.insert(it->str());
  }
  return opts;
}

std::vector<std::string> commands() {
  std::vector<std::string> names;
  FILE* p = ::popen(AATUNE_BINARY " --help", "r");
  std::string text;
  for (char buf[512]; std::fgets(buf, sizeof buf, p) != nullptr;) text += buf;
  ::pclose(p);
  static const std::regex kLine(R"(\n  ([a-z]+) )");
  for (auto it = std::sregex_iterator(text.begin(), text.end(), kLine);
       it != std::sregex_iterator(); ++it) {
    names.push_back((*it)[1]);
  }
  return names;
}

TEST_F(Eco, ManPageRendersWithoutWarnings) {
  auto r = sh("groff -man -Tutf8 -ww -z docs/aatune.1");
  EXPECT_EQ(r.status, 0);
  EXPECT_EQ(r.err, "") << "groff warnings";
  r = sh("MANWIDTH=80 man --warnings -l docs/aatune.1");
  EXPECT_EQ(r.status, 0);
  EXPECT_EQ(r.err, "") << "man warnings";
  EXPECT_NE(r.out.find("EXIT STATUS"), std::string::npos);
  EXPECT_NE(r.out.find("AATUNE_STATE_DIR"), std::string::npos);
}

TEST_F(Eco, ManPageAndCompletionCoverEveryCommandAndOption) {
  const auto names = commands();
  ASSERT_GE(names.size(), 10U);
  const auto man = slurp(AATUNE_SOURCE_DIR "/docs/aatune.1");
  const auto bash_file = slurp(AATUNE_SOURCE_DIR "/contrib/completion/aatune.bash");
  // The subcommand word list, padded so that every name is a whole word between spaces.
  const auto list_at = bash_file.find("local commands=\"");
  ASSERT_NE(list_at, std::string::npos) << "no command list in the bash completion";
  const auto list_begin = list_at + std::string_view("local commands=\"").size();
  const auto bash =
      " " + bash_file.substr(list_begin, bash_file.find('"', list_begin) - list_begin) + " ";
  const auto zsh = slurp(AATUNE_SOURCE_DIR "/contrib/completion/_aatune");
  for (const auto& name : names) {
    EXPECT_NE(man.find(".SS \"aatune " + name), std::string::npos) << name << " has no section";
    EXPECT_NE(bash.find(" " + name + " "), std::string::npos) << name << " not in bash completion";
    EXPECT_NE(zsh.find("'" + name + ":"), std::string::npos) << name << " not in zsh completion";
    const auto help = sh(std::string(AATUNE_BINARY) + " " + name + " --help");
    if (help.status != 0) continue;  // a command without --help is reported, not documented
    for (const auto& opt : options_in(help.out)) {
      std::string roff = opt;
      for (size_t i = 0; (i = roff.find('-', i)) != std::string::npos; i += 2) roff.insert(i, "\\");
      EXPECT_NE(man.find(roff), std::string::npos) << name << " " << opt << " not in the man page";
      EXPECT_NE(bash_file.find(opt), std::string::npos)
          << name << " " << opt << " not in bash completion";
    }
  }
}

TEST_F(Eco, BashCompletion) {
  const auto r = sh("bash -c 'source contrib/completion/aatune.bash && complete -p aatune'");
  EXPECT_EQ(r.out, "complete -F _aatune aatune\n");
  EXPECT_EQ(complete("aatune su"), (std::vector<std::string>{"suggest"}));
  EXPECT_EQ(complete("aatune e"), (std::vector<std::string>{"enable", "enforce", "export"}));
  EXPECT_EQ(complete("aatune list --j"), (std::vector<std::string>{"--json"}));
  EXPECT_EQ(complete("aatune apply --target l"), (std::vector<std::string>{"local"}));
  EXPECT_EQ(complete("aatune enforce --profiles samples/libvirt/apparmor.d usr.sbin."),
            (std::vector<std::string>{"usr.sbin.chronyd", "usr.sbin.libvirtd"}));
  // Proposal ids: the ones suggest prints for the logs on the line.
  const auto ids = complete(
      "aatune apply --profiles samples/libvirt/apparmor.d samples/libvirt/logs/audit.log "
      "--select ''");
  ASSERT_FALSE(ids.empty());
  EXPECT_EQ(ids.front(), "1");
  const auto suggest = sh(std::string(AATUNE_BINARY) +
                          " suggest --profiles samples/libvirt/apparmor.d"
                          " samples/libvirt/logs/audit.log");
  for (const auto& id : ids) {
    EXPECT_NE(suggest.out.find("#" + id), std::string::npos) << "id " << id << " not suggested";
  }
}

TEST_F(Eco, BadConfigStopsWithFileAndLine) {
  fs::create_directories(dir_ / "aatune");
  std::ofstream(dir_ / "aatune" / "config") << "# mine\nprofiles = /etc/apparmor.d\ntarget = "
                                               "kernel\n";
  const auto r = sh("XDG_CONFIG_HOME='" + dir_.string() + "' " AATUNE_BINARY " parse /dev/null");
  EXPECT_EQ(r.status, 2);
  EXPECT_EQ(r.out, "");
  EXPECT_EQ(r.err, "aatune: error: " + (dir_ / "aatune" / "config").string() +
                       ":3: target must be profile, local or files, not 'kernel'\n");
}

TEST_F(Eco, UsageExitCodes) {
  auto r = sh(AATUNE_BINARY " sugest");
  EXPECT_EQ(r.status, 2);
  EXPECT_EQ(r.err,
            "aatune: error: unknown command 'sugest'\naatune: hint: did you mean 'suggest'?\n");
  r = sh(AATUNE_BINARY " --version");
  EXPECT_EQ(r.status, 0);
  EXPECT_EQ(r.out.rfind("aatune ", 0), 0U);
  r = sh(AATUNE_BINARY);
  EXPECT_EQ(r.status, 2) << "no command and no terminal is a usage error";
}

TEST_F(Eco, MistypedOptionGetsDidYouMean) {
  auto r = sh(AATUNE_BINARY " suggest --profils /etc/apparmor.d /dev/null");
  EXPECT_EQ(r.status, 2);
  EXPECT_EQ(r.out, "");
  EXPECT_EQ(r.err,
            "aatune suggest: error: unknown option '--profils'\n"
            "aatune: hint: did you mean '--profiles'?\n");
  r = sh(AATUNE_BINARY " apply --no-relaod --yes /dev/null");
  EXPECT_EQ(r.status, 2);
  EXPECT_NE(r.err.find("did you mean '--no-reload'?"), std::string::npos) << r.err;
  // Far from every option: the command's own error, no guess.
  r = sh(AATUNE_BINARY " parse --zzzzzzzz /dev/null");
  EXPECT_EQ(r.status, 2);
  EXPECT_EQ(r.err.find("did you mean"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("unknown option '--zzzzzzzz'"), std::string::npos) << r.err;
}

// A store inside the profile tree would have its lock files opened and closed by the tree reader
// (which drops SQLite's POSIX locks): every command that reads both refuses, and writes nothing.
TEST_F(Eco, StoreInsideTheProfileTreeIsRefused) {
  const auto tree = dir_ / "apparmor.d";
  fs::create_directories(tree / "sub");
  const std::string expected_tail =
      "' is inside the profile tree '" + tree.string() +
      "': keep it outside (reading the tree would break the store's locks); pass another --db\n";
  for (const std::string cmd : {"status", "list", "tui", "watch", "apply --yes", "export"}) {
    const auto db = tree / "sub" / "a.db";
    auto r = sh(std::string(AATUNE_BINARY) + " " + cmd + " --profiles " + tree.string() + " --db " +
                db.string());
    EXPECT_EQ(r.status, 2) << cmd << ": " << r.err;
    const std::string verb = cmd.substr(0, cmd.find(' '));
    EXPECT_EQ(r.err, "aatune " + verb + ": error: the store '" + db.string() + expected_tail)
        << cmd;
    EXPECT_FALSE(fs::exists(db)) << cmd << " created the store";
    // The same through $AATUNE_DB and the --opt=value spelling, relative to the tree.
    r = sh("cd '" + tree.string() + "' && AATUNE_DB=sub/../b.db " AATUNE_BINARY " " + cmd +
           " --profiles=.");
    EXPECT_EQ(r.status, 2) << cmd << ": " << r.err;
    EXPECT_NE(r.err.find("is inside the profile tree '.'"), std::string::npos) << r.err;
  }
  // Beside the tree (a sibling whose name starts the same) is fine.
  const auto beside = (dir_ / "apparmor.d-store.db").string();
  auto r = sh(std::string(AATUNE_BINARY) + " scan --db " + beside + " /dev/null");
  ASSERT_EQ(r.status, 0) << r.err;
  r = sh(std::string(AATUNE_BINARY) + " status --profiles " + tree.string() + " --db " + beside);
  EXPECT_EQ(r.status, 0) << r.err;
  EXPECT_EQ(r.err, "");
}

TEST_F(Eco, ConfigSuppliesDefaultsAndFlagsWin) {
  // The config's profile tree is used when --profiles is not given, and a flag overrides it.
  const fs::path tree = dir_ / "tree";
  fs::create_directories(tree);
  std::ofstream(tree / "demo") << "profile demo {\n  /etc/hosts r,\n}\n";
  const fs::path log = dir_ / "kern.log";
  std::ofstream(log) << "Jul 24 12:25:33 web01 kernel: [42416.178567] audit: type=1400 "
                        "audit(1795424536.908:11): apparmor=\"DENIED\" operation=\"open\" "
                        "class=\"file\" profile=\"demo\" name=\"/etc/hosts\" pid=160 "
                        "comm=\"demo\" requested_mask=\"r\" denied_mask=\"r\" fsuid=0 ouid=0\n";
  fs::create_directories(dir_ / "xdg" / "aatune");
  std::ofstream(dir_ / "xdg" / "aatune" / "config") << "profiles = " << tree.string() << "\n";
  const std::string env = "XDG_CONFIG_HOME='" + (dir_ / "xdg").string() + "' ";
  auto r = sh(env + AATUNE_BINARY " suggest " + log.string());
  EXPECT_EQ(r.status, 0) << r.out << r.err;  // the config's tree already allows it
  EXPECT_NE(r.out.find("already allowed"), std::string::npos) << r.out;
  const fs::path empty = dir_ / "empty";
  fs::create_directories(empty);
  r = sh(env + AATUNE_BINARY " suggest --profiles " + empty.string() + " " + log.string());
  EXPECT_EQ(r.status, 1) << r.out << r.err;  // the flag wins: nothing allows it there
  EXPECT_NE(r.out.find("/etc/hosts r,"), std::string::npos) << r.out;
}

TEST_F(Eco, ConfigRiskEntriesNeedForce) {
  // A site lists its VM image store as risky: apply --all leaves the disk-image grant alone
  // and says why; without the entry the same grant is taken.
  const fs::path tree = dir_ / "apparmor.d";
  fs::copy(AATUNE_SOURCE_DIR "/samples/libvirt/apparmor.d", tree, fs::copy_options::recursive);
  fs::create_directories(dir_ / "xdg" / "aatune");
  std::ofstream(dir_ / "xdg" / "aatune" / "config") << "risk = /srv/vms/\n";
  const std::string apply = std::string(AATUNE_BINARY) + " apply --profiles " + tree.string() +
                            " --all --yes --no-reload --db :memory: --state " +
                            (dir_ / "state").string() +
                            " samples/libvirt/logs/kern.log samples/libvirt/logs/audit.log";
  auto r = sh("XDG_CONFIG_HOME='" + (dir_ / "xdg").string() + "' " + apply);
  EXPECT_EQ(r.status, 0) << r.out << r.err;
  EXPECT_NE(r.out.find("/srv/vms/webvm-data.qcow2 rw, — widens the confinement (grant on /srv/vms/ "
                       "(listed as risky in the configuration)): pass --force to take it"),
            std::string::npos)
      << r.out;
  const std::string guest = "libvirt/libvirt-7f3c9a2e-5b1d-4e8a-9c6f-2d4b8e1a0c35";
  EXPECT_EQ(slurp(tree / guest).find("/srv/vms/webvm-data.qcow2"), std::string::npos);
  r = sh("XDG_CONFIG_HOME='" + (dir_ / "none").string() + "' " + apply);
  EXPECT_EQ(r.status, 0) << r.out << r.err;
  EXPECT_NE(slurp(tree / guest).find("/srv/vms/webvm-data.qcow2"), std::string::npos);
}

TEST_F(Eco, ConfigSourcesAndRedactionPatterns) {
  // `source` lines are what scan reads when no SOURCE is named; a named one replaces them.
  const fs::path log = dir_ / "site.log";
  fs::copy_file(AATUNE_SOURCE_DIR "/samples/libvirt/logs/kern.log", log);
  fs::create_directories(dir_ / "xdg" / "aatune");
  std::ofstream(dir_ / "xdg" / "aatune" / "config")
      << "source = " << log.string() << "\nredact = \"webvm-data\"\n";
  const std::string env = "XDG_CONFIG_HOME='" + (dir_ / "xdg").string() + "' ";
  const std::string db = (dir_ / "store.db").string();
  auto r = sh(env + AATUNE_BINARY " scan --quiet --db " + db);
  EXPECT_EQ(r.status, 0) << r.err;
  EXPECT_NE(r.out.find(log.string()), std::string::npos) << r.out;
  r = sh(env + AATUNE_BINARY " scan --quiet --db " + db + " /dev/null");
  EXPECT_EQ(r.out.find(log.string()), std::string::npos) << r.out;
  // `redact` patterns are removed from exports, as --redact-pattern would.
  r = sh(env +
         AATUNE_BINARY
         " export --format markdown --no-probe --profiles "
         "samples/libvirt/apparmor.d " +
         log.string());
  EXPECT_EQ(r.status, 0) << r.err;
  EXPECT_EQ(r.out.find("webvm-data"), std::string::npos);
  r = sh(AATUNE_BINARY
         " export --format markdown --no-probe --profiles "
         "samples/libvirt/apparmor.d " +
         log.string());
  EXPECT_NE(r.out.find("webvm-data"), std::string::npos) << "the sample must contain it";
}

TEST_F(Eco, InstallPutsEverythingInPlace) {
  const fs::path build = fs::path(AATUNE_BINARY).parent_path();
  const auto cache = slurp(build / "CMakeCache.txt");
  std::smatch m;
  ASSERT_TRUE(std::regex_search(cache, m, std::regex("CMAKE_INSTALL_PREFIX:PATH=(.*)")));
  const fs::path prefix = m[1].str();
  const auto r =
      sh("DESTDIR='" + (dir_ / "root").string() + "' cmake --install '" + build.string() + "'");
  ASSERT_EQ(r.status, 0) << r.err;
  const fs::path root = dir_ / "root" / prefix.relative_path();
  // /usr maps the config to /etc, anything else to PREFIX/etc (GNUInstallDirs).
  const fs::path etc = prefix == "/usr" ? dir_ / "root" / "etc" : root / "etc";
  for (const auto& f :
       {root / "bin/aatune", root / "share/man/man1/aatune.1",
        root / "share/bash-completion/completions/aatune",
        root / "share/zsh/site-functions/_aatune", root / "lib/systemd/system/aatune-watch.service",
        etc / "aatune/aatune.conf", root / "share/doc/aatune/README.md",
        root / "share/doc/aatune/design.md"}) {
    EXPECT_TRUE(fs::is_regular_file(f)) << f << " not installed";
  }
  const auto unit = slurp(root / "lib/systemd/system/aatune-watch.service");
  EXPECT_NE(unit.find("ExecStart=" + (prefix / "bin/aatune").string() + " watch"),
            std::string::npos)
      << "the unit must start the installed binary";
}

}  // namespace
