// The TUI's first screen over a real store: policy-load records are not denials to triage.
#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>

#include "e2e/support.h"

namespace {

namespace fs = std::filesystem;
using aatune::e2e::slurp;

TEST(TuiFirstScreen, PolicyLoadRecordsAreNotListed) {
  std::string tmpl = (fs::temp_directory_path() / "aatune-tui-status-XXXXXX").string();
  const fs::path dir = mkdtemp(tmpl.data());
  fs::create_directories(dir / "apparmor.d");
  std::ofstream(dir / "apparmor.d" / "aatest") << "profile aatest {\n  /etc/hosts r,\n}\n";
  std::ofstream(dir / "kern.log")
      << "Jul 24 12:25:30 web01 kernel: [42416.100000] audit: type=1400 "
         "audit(1795424530.100:7): apparmor=\"STATUS\" operation=\"profile_load\" "
         "profile=\"unconfined\" name=\"aatest\" pid=150 comm=\"apparmor_parser\"\n"
      << "Jul 24 12:25:33 web01 kernel: [42416.178567] audit: type=1400 "
         "audit(1795424536.908:8): apparmor=\"DENIED\" operation=\"open\" class=\"file\" "
         "profile=\"aatest\" name=\"/etc/secret\" pid=160 comm=\"aa_exercise\" "
         "requested_mask=\"r\" denied_mask=\"r\" fsuid=0 ouid=0\n";
  const std::string out = (dir / "out.txt").string();
  const std::string cmd = std::string(AATUNE_BINARY) + " tui --db " + (dir / "s.db").string() +
                          " --profiles " + (dir / "apparmor.d").string() + " --no-reload --state " +
                          (dir / "state").string() + " --batch '' " + (dir / "kern.log").string() +
                          " >" + out + " 2>&1 </dev/null";
  const int status = std::system(cmd.c_str());
  const std::string screen = slurp(out);
  fs::remove_all(dir);
  ASSERT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << screen;
  EXPECT_NE(screen.find("aatune — profiles with open denials (1)"), std::string::npos) << screen;
  EXPECT_NE(screen.find("> aatest "), std::string::npos) << screen;
  EXPECT_EQ(screen.find("unconfined"), std::string::npos) << screen;
  EXPECT_NE(screen.find("\n1 profile(s) with open denials"), std::string::npos) << screen;
}

}  // namespace
