// Differential test against the system's libapparmor (Debian 12: 3.0.8) parse_record().
// aalogparse.h cannot be included from C++ (a member is named `namespace`), so the 3.0.8 record
// layout is declared here with that one member renamed; the layout is otherwise identical.
// Every difference must be listed below with its reason, so an unexplained one fails.
#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>
#include <map>
#include <string>
#include <vector>

#include "collector/format.h"
#include "collector/parser.h"
#include "collector/reader.h"

extern "C" {
enum aa30_syntax { kAaV1, kAaV2, kAaUnknown };
struct aa30_log_record {
  aa30_syntax version;
  int event;
  unsigned long pid, peer_pid, task, magic_token;
  long epoch;
  unsigned int audit_sub_id;
  int bitmask;
  char *audit_id, *operation, *denied_mask, *requested_mask;
  unsigned long fsuid, ouid;
  char *profile, *peer_profile, *comm, *name, *name2, *aa_namespace, *attribute;
  unsigned long parent;
  char *info, *peer_info;
  int error_code;
  char *active_hat, *net_family, *net_protocol, *net_sock_type, *net_local_addr;
  unsigned long net_local_port;
  char* net_foreign_addr;
  unsigned long net_foreign_port;
  char *dbus_bus, *dbus_path, *dbus_interface, *dbus_member, *signal, *peer, *fs_type, *flags,
      *src_name;
};
aa30_log_record* parse_record(char* str);
void free_record(aa30_log_record* record);
}

namespace aatune::collector {
namespace {

namespace fs = std::filesystem;

// The fields both versions have, in test_multi's order.
std::string render_libapparmor(const aa30_log_record& r) {
  static constexpr const char* kEvents[] = {
      "AA_RECORD_INVALID", "AA_RECORD_ERROR", "AA_RECORD_AUDIT", "AA_RECORD_ALLOWED",
      "AA_RECORD_DENIED",  "AA_RECORD_HINT",  "AA_RECORD_STATUS"};
  std::string out = "Event type: ";
  out += (r.event >= 0 && r.event <= 6) ? kEvents[r.event] : "UNKNOWN EVENT TYPE";
  out += '\n';
  auto s = [&](const char* label, const char* v) {
    if (v != nullptr) out.append(label).append(": ").append(v).push_back('\n');
  };
  auto n = [&](const char* label, unsigned long v, unsigned long unset) {
    if (v != unset)
      out.append(label).append(": ").append(std::to_string(static_cast<long>(v))).push_back('\n');
  };
  s("Audit ID", r.audit_id);
  s("Operation", r.operation);
  s("Mask", r.requested_mask);
  s("Denied Mask", r.denied_mask);
  n("fsuid", r.fsuid, static_cast<unsigned long>(-1));
  n("ouid", r.ouid, static_cast<unsigned long>(-1));
  s("Profile", r.profile);
  s("Peer profile", r.peer_profile);
  s("Peer", r.peer);
  s("Name", r.name);
  s("Command", r.comm);
  s("Name2", r.name2);
  s("Namespace", r.aa_namespace);
  s("Attribute", r.attribute);
  n("Task", r.task, 0);
  n("Parent", r.parent, 0);
  n("Token", r.magic_token, 0);
  s("Info", r.info);
  s("Peer info", r.peer_info);
  n("ErrorCode", static_cast<unsigned long>(static_cast<long>(r.error_code)), 0);
  n("PID", r.pid, 0);
  n("Peer PID", r.peer_pid, 0);
  s("Active hat", r.active_hat);
  s("Network family", r.net_family);
  s("Socket type", r.net_sock_type);
  s("Protocol", r.net_protocol);
  s("Local addr", r.net_local_addr);
  s("Foreign addr", r.net_foreign_addr);
  n("Local port", r.net_local_port, 0);
  n("Foreign port", r.net_foreign_port, 0);
  s("DBus bus", r.dbus_bus);
  s("DBus path", r.dbus_path);
  s("DBus interface", r.dbus_interface);
  s("DBus member", r.dbus_member);
  s("Signal", r.signal);
  s("FS Type", r.fs_type);
  s("Flags", r.flags);
  s("Src name", r.src_name);
  n("Epoch", static_cast<unsigned long>(r.epoch), 0);
  n("Audit subid", r.audit_sub_id, 0);
  return out;
}

// Ours, minus the header and the fields 3.0.8 does not have.
std::string render_ours(const Event& ev) {
  std::string full = format_aalogparse(ev, "");
  std::string out;
  size_t pos = 0;
  while (pos < full.size()) {
    const size_t nl = full.find('\n', pos);
    const std::string line = full.substr(pos, nl - pos + 1);
    pos = nl + 1;
    if (line.starts_with("START") || line.starts_with("File:") || line.starts_with("Class:") ||
        line.starts_with("Net Addr:") || line.starts_with("Peer Addr:") ||
        line.starts_with("Execpath:")) {
      continue;
    }
    out += line;
  }
  return out;
}

// Why 3.0.8 and we disagree. Each reason names the keys that trigger it (checked against the
// line, so a reason cannot be attached to a case it does not explain) and the cases it covers.
struct Reason {
  std::string why;
  std::vector<std::string> markers;  ///< At least one must occur in the record.
  std::vector<std::string> cases;
};

const std::vector<Reason>& expected_differences() {
  static const std::vector<Reason> kReasons{
      {"libapparmor 3.0.8 predates class= (printed since kernel 6.12 and by Ubuntu kernels) "
       "and turns the record INVALID at that key; the corpus .out files accept it",
       {" class="},
       {"change_onexec_gl636",
        "file_without_filename",
        "posix_mqueue_disconnected_no_name",
        "testcase36",
        "testcase_changeprofile_03",
        "testcase_io_uring_01",
        "testcase_io_uring_02",
        "testcase_mqueue_01",
        "testcase_mqueue_02",
        "testcase_mqueue_03",
        "testcase_mqueue_04",
        "testcase_mqueue_05",
        "testcase_mqueue_06",
        "testcase_mqueue_07",
        "testcase_mqueue_08",
        "testcase_mqueue_09",
        "testcase_network_06",
        "testcase_network_07",
        "testcase_network_08",
        "testcase_network_09",
        "testcase_network_10",
        "testcase_network_11",
        "testcase_network_12",
        "testcase_remount_01",
        "testcase_umount_01",
        "testcase_unix_01",
        "testcase_unix_02",
        "testcase_unix_03",
        "testcase_unix_no_denied_issue541",
        "testcase_userns_01",
        "testcase_userns_02"}},
      {"libapparmor 3.0.8 does not know dbus-broker's method= key and turns the record INVALID",
       {" method="},
       {"testcase_dbus_11"}},
  };
  return kReasons;
}

const Reason* reason_for(const std::string& name) {
  for (const auto& r : expected_differences()) {
    if (std::ranges::find(r.cases, name) != r.cases.end()) return &r;
  }
  return nullptr;
}

std::vector<std::string> cases() {
  std::vector<std::string> names;
  std::error_code ec;
  for (const auto& e : fs::directory_iterator(AATUNE_CONFORMANCE_DIR, ec)) {
    if (e.path().extension() == ".in") names.push_back(e.path().stem().string());
  }
  std::ranges::sort(names);
  return names;
}

TEST(Differential, LibapparmorAgreesExceptDocumentedReasons) {
  const auto names = cases();
  ASSERT_FALSE(names.empty()) << "corpus missing: " << AATUNE_CONFORMANCE_DIR;
  std::vector<std::string> unexplained;
  std::vector<std::string> stale;
  for (const auto& name : names) {
    const fs::path in = fs::path(AATUNE_CONFORMANCE_DIR) / (name + ".in");
    auto reader = LineReader::open(in.string());
    ASSERT_TRUE(reader.has_value());
    auto line = reader->next();
    ASSERT_TRUE(line && *line);
    std::string text = (*line)->text;
    aa30_log_record* rec = ::parse_record(text.data());
    ASSERT_NE(rec, nullptr);
    const std::string theirs = render_libapparmor(*rec);
    ::free_record(rec);
    const std::string ours = render_ours(parse_record(text).event);
    const bool differs = theirs != ours;
    const Reason* reason = reason_for(name);
    const bool listed = reason != nullptr;
    if (listed) {
      const bool explained = std::ranges::any_of(
          reason->markers, [&](const std::string& m) { return text.find(m) != std::string::npos; });
      EXPECT_TRUE(explained) << name << " is listed under \"" << reason->why
                             << "\" but its record has none of that reason's keys";
    }
    if (differs && !listed)
      unexplained.push_back(name + "\n--- libapparmor\n" + theirs + "--- aatune\n" + ours);
    if (!differs && listed) stale.push_back(name);
  }
  EXPECT_TRUE(unexplained.empty()) << unexplained.size() << " unexplained:\n"
                                   << (unexplained.empty() ? "" : unexplained.front());
  for (const auto& u : unexplained)
    std::cout << "UNEXPLAINED " << u.substr(0, u.find('\n')) << '\n';
  EXPECT_TRUE(stale.empty()) << "listed but agree now: " << (stale.empty() ? "" : stale.front());
}

}  // namespace
}  // namespace aatune::collector
