// The config reader: good files, unknown keys and bad values with file:line, and the layering
// system < user < flags.
#include "cli/config.h"

#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

namespace aatune::cli {
namespace {

namespace fs = std::filesystem;

TEST(Config, DefaultsWithoutFiles) {
  const auto cfg = load_config({"/nonexistent/aatune.conf"});
  ASSERT_TRUE(cfg.has_value()) << cfg.error();
  EXPECT_EQ(cfg->profiles, "/etc/apparmor.d");
  EXPECT_EQ(cfg->parser, "/sbin/apparmor_parser");
  EXPECT_EQ(cfg->loader, "/sbin/apparmor_parser");
  EXPECT_EQ(cfg->target, "");
  EXPECT_TRUE(cfg->risk.empty());
}

TEST(Config, GoodFile) {
  Config cfg;
  const auto ok = parse_config(
      "# comment\n"
      "\n"
      "profiles = /srv/policy\n"
      "  target=local  \n"
      "loader = /usr/local/sbin/load-policy\n"
      "parser = /sbin/apparmor_parser\n"
      "db = /var/lib/aatune/events.db\n"
      "risk = /etc/shadow\n"
      "risk = @{HOME}/.ssh/**\n"
      "redact = \"secret-[0-9]+\"\n"
      "source = /var/log/audit/audit.log\n"
      "source = journal\n",
      "a.conf", cfg);
  ASSERT_TRUE(ok.has_value()) << ok.error();
  EXPECT_EQ(cfg.profiles, "/srv/policy");
  EXPECT_EQ(cfg.target, "local");
  EXPECT_EQ(cfg.loader, "/usr/local/sbin/load-policy");
  EXPECT_EQ(cfg.db, "/var/lib/aatune/events.db");
  EXPECT_EQ(cfg.risk, (std::vector<std::string>{"/etc/shadow", "@{HOME}/.ssh/**"}));
  EXPECT_EQ(cfg.redact, (std::vector<std::string>{"secret-[0-9]+"}));
  EXPECT_EQ(cfg.sources, (std::vector<std::string>{"/var/log/audit/audit.log", "journal"}));
}

TEST(Config, UnknownKeyNamesFileAndLine) {
  Config cfg;
  const auto ok = parse_config("profiles = /x\n\nprofile = /y\n", "/etc/aatune/aatune.conf", cfg);
  ASSERT_FALSE(ok.has_value());
  EXPECT_EQ(ok.error(),
            "/etc/aatune/aatune.conf:3: unknown key 'profile' (did you mean 'profiles'?)");
  EXPECT_EQ(cfg.profiles, "/etc/apparmor.d") << "a bad file must change nothing";
}

TEST(Config, BadValuesNameFileAndLine) {
  Config cfg;
  auto ok = parse_config("target = kernel\n", "u.conf", cfg);
  ASSERT_FALSE(ok.has_value());
  EXPECT_EQ(ok.error(), "u.conf:1: target must be profile, local or files, not 'kernel'");
  ok = parse_config("# x\nparser = apparmor_parser\n", "u.conf", cfg);
  ASSERT_FALSE(ok.has_value());
  EXPECT_EQ(ok.error(), "u.conf:2: parser must be an absolute path, not 'apparmor_parser'");
  ok = parse_config("redact = ([a-z\n", "u.conf", cfg);
  ASSERT_FALSE(ok.has_value());
  EXPECT_EQ(ok.error(), "u.conf:1: redact is not a valid regular expression: '([a-z'");
  ok = parse_config("db =\n", "u.conf", cfg);
  ASSERT_FALSE(ok.has_value());
  EXPECT_EQ(ok.error(), "u.conf:1: db needs a value");
  ok = parse_config("just words\n", "u.conf", cfg);
  ASSERT_FALSE(ok.has_value());
  EXPECT_EQ(ok.error(), "u.conf:1: expected 'key = value', got 'just words'");
}

class ConfigFiles : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ =
        fs::temp_directory_path() /
        ("aatune-config-test-" + std::to_string(::testing::UnitTest::GetInstance()->random_seed()) +
         "-" + ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(dir_);
    fs::create_directories(dir_ / "etc");
    fs::create_directories(dir_ / "xdg" / "aatune");
  }
  void TearDown() override { fs::remove_all(dir_); }
  void write(const fs::path& p, const std::string& text) { std::ofstream(p) << text; }
  fs::path dir_;
};

TEST_F(ConfigFiles, SystemThenUserThenFlags) {
  write(dir_ / "etc" / "aatune.conf",
        "profiles = /sys-tree\ntarget = profile\ndb = /sys.db\nrisk = /etc/shadow\n");
  write(dir_ / "xdg" / "aatune" / "config", "target = local\nrisk = /root/**\n");
  ::setenv("XDG_CONFIG_HOME", (dir_ / "xdg").c_str(), 1);
  const auto files = config_files((dir_ / "etc").string());
  ::unsetenv("XDG_CONFIG_HOME");
  ASSERT_EQ(files.size(), 2U);
  EXPECT_EQ(files[1], (dir_ / "xdg" / "aatune" / "config").string());
  auto cfg = load_config(files);
  ASSERT_TRUE(cfg.has_value()) << cfg.error();
  EXPECT_EQ(cfg->profiles, "/sys-tree");  // only the system file says it
  EXPECT_EQ(cfg->target, "local");        // the user overrides the system
  EXPECT_EQ(cfg->risk, (std::vector<std::string>{"/etc/shadow", "/root/**"}));  // lists add up
  const std::vector<std::string> args{"--target", "files", "--db", "/flag.db", "log"};
  apply_flags(args, *cfg);
  EXPECT_EQ(cfg->target, "files");  // flags win over both
  EXPECT_EQ(cfg->db, "/flag.db");
  EXPECT_EQ(cfg->profiles, "/sys-tree");
}

TEST_F(ConfigFiles, BadUserFileNamesThatFile) {
  write(dir_ / "etc" / "aatune.conf", "profiles = /sys-tree\n");
  const auto user = dir_ / "xdg" / "aatune" / "config";
  write(user, "# mine\nloader = /bin/true\nsources = journal\n");
  const auto cfg = load_config({(dir_ / "etc" / "aatune.conf").string(), user.string()});
  ASSERT_FALSE(cfg.has_value());
  EXPECT_EQ(cfg.error(), user.string() + ":3: unknown key 'sources' (did you mean 'source'?)");
}

TEST(Config, ShippedDefaultConfigParses) {
  const auto cfg = load_config({AATUNE_SOURCE_DIR "/contrib/aatune.conf"});
  ASSERT_TRUE(cfg.has_value()) << cfg.error();
  EXPECT_EQ(cfg->profiles, "/etc/apparmor.d");
}

}  // namespace
}  // namespace aatune::cli
