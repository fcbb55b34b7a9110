// The native journal reader against real journal files. systemd-journal-remote (a Debian package
// that scripts/install-deps.sh installs) turns journal export text into a journal file exactly as
// journald would store it; JournalSource then reads it through the dlopen()ed libsystemd.
#include "collector/journal_source.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "collector/parser.h"

namespace aatune::collector {
namespace {

namespace fs = std::filesystem;

constexpr const char* kJournalRemote = "/lib/systemd/systemd-journal-remote";

// Three entries: an audit-transport record (journald dropped its `audit(…)` header), a
// kernel-transport record, and a syslog line the reader must leave out.
constexpr const char* kExport =
    "__REALTIME_TIMESTAMP=1795424536908123\n"
    "_TRANSPORT=audit\n"
    "_AUDIT_TYPE=1400\n"
    "_AUDIT_ID=10\n"
    "_HOSTNAME=vmhost1\n"
    "MESSAGE=AVC apparmor=\"DENIED\" operation=\"open\" profile=\"/usr/sbin/cupsd\" "
    "name=\"/etc/shadow\" pid=812 comm=\"cupsd\" requested_mask=\"r\" denied_mask=\"r\" fsuid=0 "
    "ouid=0\n"
    "\n"
    "__REALTIME_TIMESTAMP=1795424537000000\n"
    "_TRANSPORT=kernel\n"
    "_HOSTNAME=vmhost2\n"
    "MESSAGE=audit: type=1400 audit(1795424537.000:11): apparmor=\"DENIED\" "
    "operation=\"capable\" profile=\"/usr/sbin/cupsd\" pid=812 comm=\"cupsd\" capability=12 "
    "capname=\"net_admin\"\n"
    "\n"
    "__REALTIME_TIMESTAMP=1795424538000000\n"
    "_TRANSPORT=syslog\n"
    "MESSAGE=cron[99]: (root) CMD (true)\n"
    "\n";

class JournalSourceFileTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (access(kJournalRemote, X_OK) != 0) {
      GTEST_SKIP() << kJournalRemote
                   << " is missing (package systemd-journal-remote, see scripts/install-deps.sh)";
    }
    dir_ = fs::temp_directory_path() / ("aatune-journal-" + std::to_string(getpid()));
    fs::remove_all(dir_);
    fs::create_directories(dir_);
    const fs::path input = dir_ / "entries.export";
    std::ofstream(input) << kExport;
    const std::string cmd = std::string(kJournalRemote) + " -o " +
                            (dir_ / "test.journal").string() + " " + input.string() +
                            " 2>/dev/null";
    ASSERT_EQ(std::system(cmd.c_str()), 0) << cmd;
    fs::remove(input);
  }
  void TearDown() override {
    if (!dir_.empty()) fs::remove_all(dir_);
  }

  std::vector<JournalEntry> read_all(std::optional<std::string> after_cursor = std::nullopt) {
    JournalOptions options;
    options.directory = dir_.string();
    options.after_cursor = std::move(after_cursor);
    auto journal = JournalSource::open(options);
    EXPECT_TRUE(journal) << journal.error();
    std::vector<JournalEntry> entries;
    if (!journal) return entries;
    while (true) {
      auto entry = journal->next();
      EXPECT_TRUE(entry) << entry.error();
      if (!entry || !*entry) break;
      entries.push_back(std::move(**entry));
    }
    return entries;
  }

  fs::path dir_;
};

TEST_F(JournalSourceFileTest, ReadsKernelAndAuditTransportsWithTheAuditHeaderRebuilt) {
  const auto entries = read_all();
  ASSERT_EQ(entries.size(), 2u);
  EXPECT_EQ(entries[0].transport, "audit");
  EXPECT_EQ(entries[0].line,
            "type=1400 msg=audit(1795424536.908:10): apparmor=\"DENIED\" operation=\"open\" "
            "profile=\"/usr/sbin/cupsd\" name=\"/etc/shadow\" pid=812 comm=\"cupsd\" "
            "requested_mask=\"r\" denied_mask=\"r\" fsuid=0 ouid=0");
  EXPECT_EQ(entries[0].hostname, "vmhost1");
  EXPECT_EQ(entries[1].transport, "kernel");
  EXPECT_EQ(entries[1].line,
            "audit: type=1400 audit(1795424537.000:11): apparmor=\"DENIED\" operation=\"capable\" "
            "profile=\"/usr/sbin/cupsd\" pid=812 comm=\"cupsd\" capability=12 "
            "capname=\"net_admin\"");
  EXPECT_EQ(entries[1].hostname, "vmhost2");
  for (const auto& e : entries) {
    EXPECT_FALSE(e.cursor.empty());
    auto event = parse_line(e.line);
    ASSERT_TRUE(event) << e.line;
    EXPECT_EQ(event->profile, "/usr/sbin/cupsd");
  }
  EXPECT_NE(entries[0].cursor, entries[1].cursor);
}

TEST_F(JournalSourceFileTest, ResumesAfterTheCheckpointCursor) {
  const auto first = read_all();
  ASSERT_EQ(first.size(), 2u);
  const auto rest = read_all(first[0].cursor);
  ASSERT_EQ(rest.size(), 1u);
  EXPECT_EQ(rest[0].line, first[1].line);
  EXPECT_TRUE(read_all(first[1].cursor).empty());
}

TEST_F(JournalSourceFileTest, AForeignCursorIsAnError) {
  JournalOptions options;
  options.directory = dir_.string();
  options.after_cursor = "not-a-cursor";
  auto journal = JournalSource::open(options);
  ASSERT_FALSE(journal);
  EXPECT_EQ(journal.error(), "invalid journal cursor");
}

}  // namespace
}  // namespace aatune::collector
