// Tests of collector/log_discovery and collector/journal_source (owned by the store engineer; they
// live here so that the collector's own test binary stays the parser's).
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>

#include "collector/journal_source.h"
#include "collector/log_discovery.h"

namespace aatune::collector {
namespace {

namespace fs = std::filesystem;

TEST(RotationTest, AgesOfRotatedNames) {
  EXPECT_EQ(rotation_age("kern.log", "kern.log"), 0);
  EXPECT_EQ(rotation_age("kern.log", "kern.log.1"), 1);
  EXPECT_EQ(rotation_age("kern.log", "kern.log.12.gz"), 12);
  EXPECT_EQ(rotation_age("kern.log", "kern.log.bak"), std::nullopt);
  EXPECT_EQ(rotation_age("syslog", "syslog-ng.conf"), std::nullopt);
  EXPECT_EQ(rotation_age("kern.log", "kern.logx"), std::nullopt);
  EXPECT_GT(rotation_age("messages", "messages-20240101"),
            rotation_age("messages", "messages-20240108.gz"));
}

TEST(RotationTest, OrderIsOldestFirst) {
  const std::vector<std::string> names{"kern.log.1",    "kern.log",     "kern.log.10.gz",
                                       "kern.log.2.gz", "kern.log.old", "auth.log"};
  EXPECT_EQ(
      rotation_order("kern.log", names),
      (std::vector<std::string>{"kern.log.10.gz", "kern.log.2.gz", "kern.log.1", "kern.log"}));
}

TEST(DiscoveryTest, FindsFamiliesUnderRootAndExplainsSkips) {
  const fs::path root = fs::temp_directory_path() / ("aatune-disc-" + std::to_string(getpid()));
  fs::remove_all(root);
  fs::create_directories(root / "var/log/audit");
  std::ofstream(root / "var/log/audit/audit.log") << "x\n";
  std::ofstream(root / "var/log/audit/audit.log.1") << "x\n";
  std::ofstream(root / "var/log/kern.log") << "x\n";
  std::ofstream(root / "var/log/kern.log.2.gz") << "x\n";
  std::ofstream(root / "var/log/kern.log.1") << "";
  std::ofstream(root / "var/log/auth.log") << "x\n";
  fs::create_directories(root / "var/log/syslog.d");

  const auto found = discover_sources({root.string(), false, false});
  std::vector<std::string> got;
  for (const auto& c : found) {
    got.push_back(fs::relative(c.path, root).string() + "|" + c.skip_reason);
  }
  EXPECT_EQ(got, (std::vector<std::string>{"var/log/audit/audit.log.1|", "var/log/audit/audit.log|",
                                           "var/log/kern.log.2.gz|", "var/log/kern.log.1|empty",
                                           "var/log/kern.log|"}));
  fs::remove_all(root);
}

TEST(DiscoveryTest, JournalAndKmsgAreListedWithAReasonWhenMissing) {
  const fs::path root = fs::temp_directory_path() / ("aatune-disc2-" + std::to_string(getpid()));
  fs::create_directories(root);
  const auto found = discover_sources({root.string(), true, true});
  ASSERT_EQ(found.size(), 2u);
  EXPECT_EQ(found[0].kind, SourceKind::kJournal);
  EXPECT_EQ(found[1].kind, SourceKind::kKmsg);
  EXPECT_EQ(found[1].skip_reason, "not available");
  fs::remove_all(root);
}

TEST(JournalLineTest, AuditTransportGetsItsHeaderBack) {
  EXPECT_EQ(journal_line("audit", "AVC apparmor=\"DENIED\" operation=\"open\"", 1400,
                         std::string("10"), 1795424536908123ULL),
            "type=1400 msg=audit(1795424536.908:10): apparmor=\"DENIED\" operation=\"open\"");
  EXPECT_EQ(
      journal_line("audit", "AVC apparmor=\"DENIED\"", 1400, std::string("7"), 1795424536005000ULL),
      "type=1400 msg=audit(1795424536.005:7): apparmor=\"DENIED\"");
}

TEST(JournalLineTest, KernelTransportIsPassedThrough) {
  const std::string msg = "audit: type=1400 audit(1795424441.976:5): apparmor=\"DENIED\"";
  EXPECT_EQ(journal_line("kernel", msg, std::nullopt, std::nullopt, 0), msg);
}

TEST(JournalSourceTest, MissingJournalDirectoryIsNotAnError) {
  JournalOptions o;
  o.directory = "/nonexistent/aatune-journal";
  auto j = JournalSource::open(o);
  // Either unavailable with a reason, or (some libsystemd versions) open and empty.
  if (j) {
    auto e = j->next();
    ASSERT_TRUE(e);
    EXPECT_FALSE(e->has_value());
  } else {
    EXPECT_FALSE(j.error().empty());
  }
}

}  // namespace
}  // namespace aatune::collector
