// docs/walkthrough.md is the real output of the tool on the bundled scenario, pasted by
// scripts/walkthrough.sh. This test regenerates it and compares, so the page cannot drift from
// what aatune actually prints (change the tool, then re-run the script and review the diff).
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
using namespace aatune::e2e;  // NOLINT: the shared test helpers (support.h)

TEST(Walkthrough, DocumentIsTheToolsCurrentOutput) {
  std::string tmpl = (fs::temp_directory_path() / "aatune-walkthrough-XXXXXX").string();
  const fs::path dir = mkdtemp(tmpl.data());
  const fs::path fresh = dir / "walkthrough.md";
  const fs::path diff = dir / "diff.txt";
  const std::string src = AATUNE_SOURCE_DIR;
  const std::string cmd = "bash " + src + "/scripts/walkthrough.sh " + AATUNE_BINARY + " " +
                          fresh.string() + " >/dev/null 2>" + (dir / "err.txt").string();
  const int status = std::system(cmd.c_str());
  ASSERT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << slurp(dir / "err.txt");
  const std::string committed = slurp(fs::path(src) / "docs/walkthrough.md");
  const std::string regenerated = slurp(fresh);
  ASSERT_FALSE(regenerated.empty());
  // The page must show the whole flow, each step with the exit status the tool really returned.
  for (const char* step : {"aatune scan", "aatune suggest", "aatune export", "aatune apply",
                           "apparmor_parser -QTK", "aatune disable", "aatune status"}) {
    EXPECT_NE(regenerated.find(step), std::string::npos) << step;
  }
  EXPECT_NE(regenerated.find("nothing to do"), std::string::npos);
  if (committed != regenerated) {
    std::system(("diff -u " + src + "/docs/walkthrough.md " + fresh.string() + " >" + diff.string())
                    .c_str());
    ADD_FAILURE() << "docs/walkthrough.md is stale: run scripts/walkthrough.sh and review:\n"
                  << slurp(diff).substr(0, 4000);
  }
  fs::remove_all(dir);
}

}  // namespace
