// parse_line_into() must give exactly parse_line()'s result while reusing one Event, and must not
// allocate for a record whose strings fit in what the previous record left.
#include <gtest/gtest.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <new>
#include <sstream>
#include <string>
#include <vector>

#include "collector/parser.h"
#include "collector/reader.h"

// Counts heap allocations of this test binary (operator new is replaceable program-wide; only
// differences of the counter are used). GCC cannot see that the replaced pair matches once
// inlined, hence the pragma.
#pragma GCC diagnostic ignored "-Wmismatched-new-delete"
namespace {
std::atomic<uint64_t> g_allocations{0};
}  // namespace

void* operator new(std::size_t size) {
  g_allocations.fetch_add(1, std::memory_order_relaxed);
  if (void* p = std::malloc(size == 0 ? 1 : size)) return p;
  throw std::bad_alloc();
}
void* operator new[](std::size_t size) {
  g_allocations.fetch_add(1, std::memory_order_relaxed);
  if (void* p = std::malloc(size == 0 ? 1 : size)) return p;
  throw std::bad_alloc();
}
void operator delete(void* p) noexcept {
  std::free(p);
}
void operator delete[](void* p) noexcept {
  std::free(p);
}
void operator delete(void* p, std::size_t) noexcept {
  std::free(p);
}
void operator delete[](void* p, std::size_t) noexcept {
  std::free(p);
}

namespace aatune::collector {
namespace {

namespace fs = std::filesystem;

// Every field of an Event, one per line, so a mismatch names the field.
std::string describe(const Event& e) {
  std::ostringstream out;
  auto str = [&](const char* name, const std::optional<std::string>& v) {
    out << name << '=' << (v ? "[" + *v + "]" : "-") << '\n';
  };
  auto num = [&](const char* name, const auto& v) {
    out << name << '=';
    if (v) {
      out << *v;
    } else {
      out << '-';
    }
    out << '\n';
  };
  out << "event=" << to_string(e.event) << "\ncontainer=" << to_string(e.container)
      << "\ntrust=" << to_string(e.trust) << "\nrecord_type=" << e.record_type
      << "\nrecord_type_name=" << e.record_type_name << '\n';
  str("audit_id", e.audit_id);
  num("epoch", e.epoch);
  num("audit_msec", e.audit_msec);
  num("audit_sub_id", e.audit_sub_id);
  str("operation", e.operation);
  str("rule_class", e.rule_class);
  str("info", e.info);
  num("error_code", e.error_code);
  str("requested_mask", e.requested_mask);
  str("denied_mask", e.denied_mask);
  num("fsuid", e.fsuid);
  num("ouid", e.ouid);
  str("profile", e.profile);
  str("ns", e.ns);
  str("peer_profile", e.peer_profile);
  str("peer", e.peer);
  str("name", e.name);
  str("name2", e.name2);
  str("comm", e.comm);
  str("attribute", e.attribute);
  str("info_peer", e.info_peer);
  str("active_hat", e.active_hat);
  str("execpath", e.execpath);
  num("pid", e.pid);
  num("peer_pid", e.peer_pid);
  num("task", e.task);
  num("magic_token", e.magic_token);
  num("parent", e.parent);
  str("net_family", e.net_family);
  str("net_protocol", e.net_protocol);
  str("net_sock_type", e.net_sock_type);
  str("net_local_addr", e.net_local_addr);
  num("net_local_port", e.net_local_port);
  str("net_foreign_addr", e.net_foreign_addr);
  num("net_foreign_port", e.net_foreign_port);
  str("net_addr", e.net_addr);
  str("peer_addr", e.peer_addr);
  str("dbus_bus", e.dbus_bus);
  str("dbus_path", e.dbus_path);
  str("dbus_interface", e.dbus_interface);
  str("dbus_member", e.dbus_member);
  str("signal", e.signal);
  str("fs_type", e.fs_type);
  str("flags", e.flags);
  str("src_name", e.src_name);
  for (const auto& [k, v] : e.extra) out << "extra " << k << "=[" << v << "]\n";
  str("host", e.host);
  str("timestamp", e.timestamp);
  num("sender_uid", e.sender_uid);
  out << "raw=" << e.raw << '\n';
  return out.str();
}

std::vector<std::string> logical_lines(const fs::path& file) {
  auto reader = LineReader::open(file.string());
  EXPECT_TRUE(reader.has_value());
  std::vector<std::string> out;
  if (!reader) return out;
  while (true) {
    auto next = reader->next();
    EXPECT_TRUE(next.has_value());
    if (!next || !*next) break;
    out.push_back(std::move((*next)->text));
  }
  return out;
}

std::vector<std::string> conformance_lines() {
  std::vector<fs::path> files;
  for (const auto& entry : fs::directory_iterator(AATUNE_CONFORMANCE_DIR)) {
    if (entry.path().extension() == ".in") files.push_back(entry.path());
  }
  std::ranges::sort(files);
  std::vector<std::string> out;
  for (const auto& f : files) {
    for (auto& line : logical_lines(f)) out.push_back(std::move(line));
  }
  return out;
}

class GeneratedLog : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    dir_ = new fs::path(fs::temp_directory_path() /
                        ("aatune-parseinto-" + std::to_string(::getpid())));
    fs::create_directories(*dir_);
    const fs::path log = *dir_ / "mixed.log";
    const std::string cmd = "python3 '" AATUNE_SOURCE_DIR
                            "/tests/bench/gen_log.py' --lines 6000 "
                            "--seed 7 '" +
                            log.string() + "'";
    ASSERT_EQ(std::system(cmd.c_str()), 0) << cmd;
    lines_ = new std::vector<std::string>(logical_lines(log));
  }
  static void TearDownTestSuite() {
    fs::remove_all(*dir_);
    delete dir_;
    delete lines_;
  }
  static fs::path* dir_;
  static std::vector<std::string>* lines_;
};
fs::path* GeneratedLog::dir_ = nullptr;
std::vector<std::string>* GeneratedLog::lines_ = nullptr;

// One Event reused over all lines, in order: each result must equal a fresh parse_line().
void expect_equal_to_parse_line(const std::vector<std::string>& lines) {
  Event reused;
  size_t records = 0;
  for (size_t i = 0; i < lines.size(); ++i) {
    const auto& line = lines[i];
    const auto fresh = parse_line(line);
    const auto error = parse_line_into(line, reused);
    SCOPED_TRACE("line " + std::to_string(i + 1) + ": " + line.substr(0, 160));
    ASSERT_EQ(fresh.has_value(), !error.has_value());
    if (!fresh) {
      EXPECT_EQ(static_cast<int>(fresh.error().kind), static_cast<int>(error->kind));
      EXPECT_EQ(fresh.error().field, error->field);
      EXPECT_EQ(fresh.error().message, error->message);
      EXPECT_EQ(reused.event, EventType::kInvalid);
      continue;
    }
    ++records;
    ASSERT_EQ(describe(*fresh), describe(reused));
  }
  EXPECT_GT(records, 0u);
}

TEST(ParseLineInto, EqualsParseLineOnTheConformanceCorpus) {
  const auto lines = conformance_lines();
  ASSERT_GE(lines.size(), 179u);
  expect_equal_to_parse_line(lines);
  // Backwards too: every record follows a different one than before.
  expect_equal_to_parse_line(std::vector<std::string>(lines.rbegin(), lines.rend()));
}

TEST(ParseLineInto, ClearsWhatTheEarlierRecordHad) {
  // The first record has fields (name, extra, host, timestamp) the second one lacks.
  const std::string first =
      R"(Nov 14 22:13:34 h kernel: [ 1.2] audit: type=1400 audit(1.2:3): apparmor="DENIED" )"
      R"(operation="open" profile="/usr/bin/a" name="/etc/x" pid=1 comm="a" )"
      R"(requested_mask="r" denied_mask="r" fsuid=0 ouid=0 zzz="q")";
  const std::string second =
      R"(type=AVC msg=audit(5.6:7): apparmor="DENIED" operation="capable" )"
      R"(profile="/usr/bin/b" pid=2 comm="b" capability=12  capname="net_admin")";
  Event ev;
  ASSERT_FALSE(parse_line_into(first, ev).has_value());
  ASSERT_EQ(ev.extra.size(), 1u);
  ASSERT_FALSE(parse_line_into(second, ev).has_value());
  EXPECT_EQ(describe(ev), describe(*parse_line(second)));
  EXPECT_EQ(ev.name, "net_admin");
  EXPECT_FALSE(ev.host.has_value());
  EXPECT_FALSE(ev.timestamp.has_value());
  EXPECT_FALSE(ev.fsuid.has_value());
  ASSERT_EQ(ev.extra.size(), 1u);
  EXPECT_EQ(ev.extra[0].first, "capability");
}

TEST(ParseLineInto, FailedRecordReportsLikeParseLine) {
  Event ev;
  ASSERT_FALSE(parse_line_into(R"(type=AVC msg=audit(1.2:3): apparmor="DENIED" operation="open" )"
                               R"(profile="p" name="/x")",
                               ev)
                   .has_value());
  const std::string bad = R"(type=AVC msg=audit(1.2:3): apparmor="DENIED" profile="p" name=ABC)";
  const auto error = parse_line_into(bad, ev);
  ASSERT_TRUE(error.has_value());
  EXPECT_EQ(error->kind, ParseError::Kind::kInvalid);
  EXPECT_EQ(error->field, "name");
  EXPECT_EQ(error->message, "odd-length hex value in name=");
  EXPECT_EQ(ev.event, EventType::kInvalid);
  const auto noise = parse_line_into("Nov 14 22:13:34 h sshd[1]: Accepted publickey", ev);
  ASSERT_TRUE(noise.has_value());
  EXPECT_EQ(noise->kind, ParseError::Kind::kNotAppArmor);
  EXPECT_EQ(ev.event, EventType::kInvalid);
}

TEST(ParseLineInto, SameShapeRecordsAllocateNothing) {
  // Long values everywhere (no small-string optimisation to hide an allocation), a hex label,
  // an unknown key (extra) and a syslog host.
  const std::string a =
      R"(Nov 14 22:13:34 kvm-host3.lab.example.org kernel: [ 1911.569682] audit: type=1400 )"
      R"(audit(1700000000.123:45678): apparmor="DENIED" operation="file_mknod" class="file" )"
      R"(profile="libvirt-3f2a7c1e-9b0d-4e6f-8a21-5c4d3b2a1f00" )"
      R"(name="/var/lib/libvirt/images/some-long-disk-image-name.qcow2" pid=4242 )"
      R"(comm="qemu-system-x86_64" requested_mask="wrc" denied_mask="wrc" fsuid=64055 )"
      R"(ouid=64055 unknown_long_key="an unknown value long enough to be on the heap")";
  const std::string b =
      R"(Nov 14 22:13:35 kvm-host3.lab.example.org kernel: [ 1911.569999] audit: type=1400 )"
      R"(audit(1700000001.456:45679): apparmor="DENIED" operation="file_mknod" class="file" )"
      R"(profile=2F686F6D652F757365722F62696E2F6D7920746F6F6C2F776974682F612F6C6F6E67 )"
      R"(name="/var/lib/libvirt/images/another-long-disk-image-name.raw" pid=4243 )"
      R"(comm="qemu-system-x86_64" requested_mask="wrc" denied_mask="wrc" fsuid=64055 )"
      R"(ouid=64055 unknown_long_key="another unknown value, long enough for the heap")";
  Event ev;
  ASSERT_FALSE(parse_line_into(a, ev).has_value());
  ASSERT_FALSE(parse_line_into(b, ev).has_value());
  const uint64_t before = g_allocations.load();
  for (int i = 0; i < 100; ++i) {
    ASSERT_FALSE(parse_line_into(i % 2 == 0 ? a : b, ev).has_value());
  }
  EXPECT_EQ(g_allocations.load() - before, 0u);
  EXPECT_EQ(describe(ev), describe(*parse_line(b)));
}

TEST_F(GeneratedLog, ParseLineIntoEqualsParseLine) {
  ASSERT_GT(lines_->size(), 5000u);
  expect_equal_to_parse_line(*lines_);
}

TEST_F(GeneratedLog, ParseLineIntoAllocatesFarLessThanParseLine) {
  // A mixed log changes record shape often, so a field absent from one record and present in the
  // next is allocated again; still, most records must reuse what the previous ones left. (Noise
  // lines are left out: their ParseError message is a heap string in both functions.)
  std::vector<std::string> records;
  for (const auto& line : *lines_) {
    if (parse_line(line)) records.push_back(line);
  }
  ASSERT_GT(records.size(), 2000u);
  uint64_t before = g_allocations.load();
  for (const auto& line : records) (void)parse_line(line);
  const uint64_t fresh = g_allocations.load() - before;
  Event ev;
  for (const auto& line : records) (void)parse_line_into(line, ev);  // warm up
  before = g_allocations.load();
  for (const auto& line : records) (void)parse_line_into(line, ev);
  const uint64_t reused = g_allocations.load() - before;
  const auto n = static_cast<double>(records.size());
  std::cout << "allocations per record: parse_line " << static_cast<double>(fresh) / n
            << ", parse_line_into " << static_cast<double>(reused) / n << '\n';
  EXPECT_LT(reused * 5, fresh);
}

}  // namespace
}  // namespace aatune::collector
