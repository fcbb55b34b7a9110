// The analyzer against a small real tree (tests/analyzer/data/tree) read by the rules reader.
#include "analyzer/analyzer.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <string>
#include <vector>

#include "analyzer/tree_view.h"
#include "collector/parser.h"
#include "rules/aare.h"
#include "rules/profile_tree.h"

namespace aatune::analyzer {
namespace {

const rules::ProfileTree& tree() {
  static const rules::ProfileTree t = [] {
    auto r = rules::read_profile_tree(AATUNE_SOURCE_DIR "/tests/analyzer/data/tree");
    EXPECT_TRUE(r.has_value()) << r.error();
    return r.value_or(rules::ProfileTree{});
  }();
  return t;
}

// A kernel record body for `profile`, as auditd writes it.
std::string avc(std::string_view body, int serial = 1) {
  return "type=AVC msg=audit(1700000000.000:" + std::to_string(serial) + "): " + std::string(body);
}

Analysis run(const std::vector<std::string>& lines, const AnalyzeOptions& opt = {}) {
  std::vector<LoggedEvent> events;
  uint64_t n = 0;
  for (const auto& l : lines) {
    auto ev = collector::parse_line(l);
    EXPECT_TRUE(ev.has_value()) << l;
    if (ev) events.push_back({*ev, "test.log", ++n});
  }
  const TreeView view(tree());
  return analyze(events, view, opt);
}

const Proposal* find(const Analysis& a, std::string_view profile, std::string_view cls) {
  for (const auto& p : a.proposals) {
    if (p.profile == profile && p.rule_class == cls) return &p;
  }
  return nullptr;
}

std::vector<std::string> alt_texts(const Proposal& p, Alternative::Kind kind) {
  std::vector<std::string> out;
  for (const auto& a : p.alternatives) {
    if (a.kind == kind) out.push_back(a.text);
  }
  return out;
}

std::string file_denial(std::string_view profile, std::string_view path, std::string_view mask,
                        int fsuid = 0, int ouid = 0, std::string_view type = "DENIED") {
  return avc("apparmor=\"" + std::string(type) + "\" operation=\"open\" class=\"file\" profile=\"" +
             std::string(profile) + "\" name=\"" + std::string(path) +
             "\" pid=42 comm=\"x\" requested_mask=\"" + std::string(mask) + "\" denied_mask=\"" +
             std::string(mask) + "\" fsuid=" + std::to_string(fsuid) +
             " ouid=" + std::to_string(ouid));
}

std::string exec_denial(std::string_view profile, std::string_view path,
                        std::string_view info = "") {
  return avc("apparmor=\"DENIED\" operation=\"exec\" class=\"file\" " +
             (info.empty() ? std::string() : "info=\"" + std::string(info) + "\" error=-13 ") +
             "profile=\"" + std::string(profile) + "\" name=\"" + std::string(path) +
             "\" pid=42 comm=\"x\" requested_mask=\"x\" denied_mask=\"x\" fsuid=0 ouid=0");
}

std::string signal_denial(std::string_view profile, std::string_view access, std::string_view sig,
                          std::string_view peer) {
  return avc("apparmor=\"DENIED\" operation=\"signal\" class=\"signal\" profile=\"" +
             std::string(profile) + "\" pid=42 comm=\"x\" requested_mask=\"" + std::string(access) +
             "\" denied_mask=\"" + std::string(access) + "\" signal=" + std::string(sig) +
             " peer=\"" + std::string(peer) + "\"");
}

std::string ptrace_denial(std::string_view profile, std::string_view access,
                          std::string_view peer) {
  return avc("apparmor=\"DENIED\" operation=\"ptrace\" class=\"ptrace\" profile=\"" +
             std::string(profile) + "\" pid=42 comm=\"x\" requested_mask=\"" + std::string(access) +
             "\" denied_mask=\"" + std::string(access) + "\" peer=\"" + std::string(peer) + "\"");
}

// --- files -------------------------------------------------------------------------------------

TEST(FileProposal, MinimalRuleWithGlobAlternatives) {
  const Analysis a = run({file_denial("daemon", "/var/lib/daemon/state.db", "r")});
  const Proposal* p = find(a, "daemon", "file");
  ASSERT_NE(p, nullptr);
  EXPECT_EQ(p->rule, "/var/lib/daemon/state.db r,");
  ASSERT_TRUE(p->rule_value.has_value());
  EXPECT_EQ(rules::render(*p->rule_value), p->rule);
  EXPECT_EQ(alt_texts(*p, Alternative::Kind::kGlob),
            std::vector<std::string>{"/var/lib/daemon/* r,"});
  EXPECT_EQ(alt_texts(*p, Alternative::Kind::kRecursive),
            std::vector<std::string>{"/var/lib/daemon/** r,"});
  EXPECT_EQ(alt_texts(*p, Alternative::Kind::kExtension),
            std::vector<std::string>{"/var/lib/daemon/*.db r,"});
  EXPECT_EQ(p->why.code, WhyCode::kNoRule);
  EXPECT_EQ(p->why.text, "daemon may not read /var/lib/daemon/state.db: no file rule covers it");
}

TEST(FileProposal, MasksOfOnePathMerge) {
  const Analysis a = run({file_denial("daemon", "/var/lib/daemon/state.db", "r"),
                          file_denial("daemon", "/var/lib/daemon/state.db", "w"),
                          file_denial("daemon", "/var/lib/daemon/state.db", "c")});
  ASSERT_EQ(a.grouped.groups.size(), 3u);
  ASSERT_EQ(a.proposals.size(), 1u);
  EXPECT_EQ(a.proposals[0].rule, "/var/lib/daemon/state.db rw,");
  EXPECT_EQ(a.proposals[0].groups, (std::vector<size_t>{0, 1, 2}));
}

TEST(FileProposal, AareCharactersInLoggedPathsStayLiteral) {
  const Analysis a = run({file_denial("daemon", "/srv/a*b[1]{x}", "r")});
  ASSERT_EQ(a.proposals.size(), 1u);
  EXPECT_EQ(a.proposals[0].rule, "/srv/a\\*b\\[1\\]\\{x\\} r,");
}

TEST(FileProposal, PathWithSpaceIsQuoted) {
  // hex-encoded by the kernel: "/srv/with space"
  const Analysis a = run({avc(
      R"(apparmor="DENIED" operation="open" class="file" profile="daemon" name=2F7372762F77697468207370616365 pid=1 comm="x" requested_mask="r" denied_mask="r" fsuid=0 ouid=0)")});
  ASSERT_EQ(a.proposals.size(), 1u);
  EXPECT_EQ(a.proposals[0].rule, "\"/srv/with space\" r,");
}

TEST(FileProposal, RelativePathIsRefusedWithTheReason) {
  const Analysis a = run({file_denial("daemon", "dev/pts/1", "rw")});
  ASSERT_EQ(a.proposals.size(), 1u);
  EXPECT_EQ(a.proposals[0].rule, "");
  EXPECT_EQ(a.proposals[0].refused, "path 'dev/pts/1' is not absolute");
}

// --- paths that change on every run -------------------------------------------------------------

// The volatile alternative's path (its rule without the trailing " PERMS,").
std::string volatile_pattern(const Proposal& p) {
  const auto texts = alt_texts(p, Alternative::Kind::kVolatile);
  if (texts.size() != 1) return {};
  return texts[0].substr(0, texts[0].rfind(' '));
}

TEST(VolatileAlternative, DomainIdAndRandomSuffixAreGlobbedAndNothingElse) {
  // QEMU's hugepage backing file: a per-start directory and a mkstemp suffix.
  const std::string path = "/dev/hugepages/libvirt/qemu/3-webvm/qemu_back_mem.pc.ram.Xk3vQb";
  const Analysis a = run({file_denial("daemon", path, "w")});
  const Proposal* p = find(a, "daemon", "file");
  ASSERT_NE(p, nullptr);
  // The exact rule stays the proposal (the minimal grant); the volatile one is the first
  // alternative, and the random suffix is not offered as an "extension".
  EXPECT_EQ(p->rule, path + " w,");
  ASSERT_FALSE(p->alternatives.empty());
  EXPECT_EQ(p->alternatives.front().kind, Alternative::Kind::kVolatile);
  EXPECT_EQ(p->alternatives.front().text,
            "/dev/hugepages/libvirt/qemu/[0-9]*-webvm/qemu_back_mem.pc.ram.?????? w,");
  EXPECT_NE(p->alternatives.front().note.find("3-webvm (libvirt's domain id"), std::string::npos);
  EXPECT_NE(p->alternatives.front().note.find(".Xk3vQb (a random temporary-file suffix)"),
            std::string::npos);
  EXPECT_TRUE(alt_texts(*p, Alternative::Kind::kExtension).empty());
  // It matches this start's file and the next start's, and neither another guest's nor another
  // backing file nor a file in the directory itself.
  const std::string pattern = volatile_pattern(*p);
  EXPECT_TRUE(rules::aare_matches(pattern, path));
  EXPECT_TRUE(rules::aare_matches(
      pattern, "/dev/hugepages/libvirt/qemu/12-webvm/qemu_back_mem.pc.ram.aB9xQz"));
  EXPECT_FALSE(rules::aare_matches(
      pattern, "/dev/hugepages/libvirt/qemu/12-othervm/qemu_back_mem.pc.ram.aB9xQz"));
  EXPECT_FALSE(
      rules::aare_matches(pattern, "/dev/hugepages/libvirt/qemu/12-webvm/qemu_back_mem.pc.ram"));
  EXPECT_FALSE(rules::aare_matches(
      pattern, "/dev/hugepages/libvirt/qemu/12-webvm/qemu_back_mem.pc.ram.aB9xQz/x"));
  EXPECT_FALSE(rules::aare_matches(pattern,
                                   "/dev/hugepages/libvirt/qemu/webvm/"
                                   "qemu_back_mem.pc.ram.aB9xQz"));
}

TEST(VolatileAlternative, LibvirtDomainDirectoryWithItsPrefix) {
  const Analysis a =
      run({file_denial("daemon", "/var/lib/libvirt/qemu/domain-3-webvm/master-key.aes", "r")});
  const Proposal* p = find(a, "daemon", "file");
  ASSERT_NE(p, nullptr);
  EXPECT_EQ(
      alt_texts(*p, Alternative::Kind::kVolatile),
      std::vector<std::string>{"/var/lib/libvirt/qemu/domain-[0-9]*-webvm/master-key.aes r,"});
  // A directory's own name is globbed too; its escaping is the literal path's.
  const Analysis b = run({file_denial("daemon", "/tmp/build dir/out.Ab3dEf/", "r")});
  ASSERT_EQ(b.proposals.size(), 1u);
  EXPECT_EQ(alt_texts(b.proposals[0], Alternative::Kind::kVolatile),
            std::vector<std::string>{"\"/tmp/build dir/out." + std::string(6, '?') + "/\" r,"});
  // The per-VM directory itself (logged with its trailing '/'), but not a file of that name.
  const Analysis d = run({file_denial("daemon", "/run/libvirt/qemu/3-webvm/", "r")});
  ASSERT_EQ(d.proposals.size(), 1u);
  EXPECT_EQ(alt_texts(d.proposals[0], Alternative::Kind::kVolatile),
            std::vector<std::string>{"/run/libvirt/qemu/[0-9]*-webvm/ r,"});
  const Analysis e = run({file_denial("daemon", "/run/libvirt/qemu/3-webvm", "r")});
  ASSERT_EQ(e.proposals.size(), 1u);
  EXPECT_TRUE(alt_texts(e.proposals[0], Alternative::Kind::kVolatile).empty());
  const Analysis c = run({file_denial("daemon", "/srv/a[1]/x.Ab3dEfGh", "r")});
  ASSERT_EQ(c.proposals.size(), 1u);
  EXPECT_EQ(alt_texts(c.proposals[0], Alternative::Kind::kVolatile),
            std::vector<std::string>{"/srv/a\\[1\\]/x.???????? r,"});
}

TEST(VolatileAlternative, OrdinaryNamesAreNotMistakenForOne) {
  for (const char* path : {
           "/var/lib/daemon/state.db",                  // an extension
           "/home/user/notes.Backup",                   // a capitalised word
           "/srv/data/report.PDFFILE",                  // no lower-case letter
           "/srv/data/archive.tar12345",                // no upper-case letter
           "/srv/3-data/file",                          // a leading number outside libvirt
           "/var/lib/libvirt/images/2-disk.qcow2",      // a file, not a per-VM directory
           "/var/lib/libvirt/images/3-webvm/disk.img",  // not below libvirt's qemu/ directory
           "/dev/hugepages/libvirt/qemu/webvm/x",       // no id
           "/dev/hugepages/libvirt/qemu/3-/x",          // no name after the id
       }) {
    const Analysis a = run({file_denial("daemon", path, "r")});
    ASSERT_EQ(a.proposals.size(), 1u) << path;
    EXPECT_TRUE(alt_texts(a.proposals[0], Alternative::Kind::kVolatile).empty()) << path;
  }
}

TEST(Owner, NonRootOwnerGetsOwner) {
  const Analysis a = run({file_denial("daemon", "/home/alice/.config/daemon/rc", "r", 1000, 1000)});
  ASSERT_EQ(a.proposals.size(), 1u);
  const Proposal& p = a.proposals[0];
  EXPECT_EQ(p.rule, "owner /home/alice/.config/daemon/rc r,");
  EXPECT_EQ(alt_texts(p, Alternative::Kind::kOwner),
            std::vector<std::string>{"/home/alice/.config/daemon/rc r,"});
}

TEST(Owner, RootOwnerGetsNoOwner) {
  // aa-logprof adds owner here too (fsuid == ouid == 0); a root daemon then cannot read files
  // owned by other users. We do not.
  const Analysis a = run({file_denial("daemon", "/var/lib/daemon/x", "r", 0, 0)});
  EXPECT_EQ(a.proposals[0].rule, "/var/lib/daemon/x r,");
  EXPECT_TRUE(alt_texts(a.proposals[0], Alternative::Kind::kOwner).empty());
}

TEST(Owner, DifferentOwnerGetsNoOwner) {
  const Analysis a = run({file_denial("daemon", "/var/lib/daemon/x", "r", 1000, 0)});
  EXPECT_EQ(a.proposals[0].rule, "/var/lib/daemon/x r,");
}

TEST(Variables, HomeAndProcAreRewrittenWithTheTreesVariables) {
  const Analysis a = run({file_denial("daemon", "/home/alice/.config/daemon/rc", "r", 1000, 1000),
                          file_denial("daemon", "/proc/1234/status", "r")});
  const auto home = alt_texts(a.proposals[0], Alternative::Kind::kVariable);
  EXPECT_EQ(home, std::vector<std::string>{"owner @{HOME}/.config/daemon/rc r,"});
  const auto proc = alt_texts(a.proposals[1], Alternative::Kind::kVariable);
  EXPECT_EQ(proc, std::vector<std::string>{"@{PROC}/@{pid}/status r,"});
}

TEST(Variables, MultiarchSegment) {
  const Analysis a = run({file_denial("daemon", "/usr/share/x86_64-linux-gnu/x.conf", "r")});
  EXPECT_EQ(alt_texts(a.proposals[0], Alternative::Kind::kVariable),
            std::vector<std::string>{"/usr/share/@{multiarch}/x.conf r,"});
}

TEST(Abstractions, MostSpecificFirst) {
  // nameservice grants it with /etc/** r, ssl_certs with /etc/ssl/certs/* r: ssl_certs is about
  // this very file family and ranks first.
  const Analysis a = run({file_denial("daemon", "/etc/ssl/certs/ca.pem", "r")});
  EXPECT_EQ(alt_texts(a.proposals[0], Alternative::Kind::kAbstraction),
            (std::vector<std::string>{"include <abstractions/ssl_certs>",
                                      "include <abstractions/nameservice>"}));
}

// --- why ---------------------------------------------------------------------------------------

TEST(Why, ExplicitDenyNamesFileAndLine) {
  const Analysis a = run({file_denial("daemon", "/etc/shadow", "r")});
  const Proposal& p = a.proposals[0];
  EXPECT_EQ(p.why.code, WhyCode::kExplicitDeny);
  ASSERT_TRUE(p.why.site.has_value());
  EXPECT_TRUE(p.why.site->file.ends_with("usr.sbin.daemon")) << p.why.site->file;
  EXPECT_EQ(p.why.site->line, 7u);
  EXPECT_EQ(p.why.text, "daemon may not read /etc/shadow: an explicit deny rule covers it at " +
                            p.why.site->file + ":7; deny wins over any allow rule");
}

TEST(Why, AlreadyAllowedMeansReload) {
  const Analysis a = run({file_denial("daemon", "/etc/daemon.conf", "r")});
  const Proposal& p = a.proposals[0];
  EXPECT_EQ(p.why.code, WhyCode::kAlreadyAllowed);
  ASSERT_TRUE(p.why.site.has_value());
  EXPECT_EQ(p.why.site->line, 6u);
  EXPECT_NE(p.why.text.find("reload daemon"), std::string::npos) << p.why.text;
}

TEST(Why, OwnerRuleButNotOwner) {
  const Analysis a = run({file_denial("daemon", "/srv/data/x", "w", 1000, 0)});
  const Proposal& p = a.proposals[0];
  EXPECT_EQ(p.why.code, WhyCode::kOwnerMismatch);
  ASSERT_TRUE(p.why.site.has_value());
  EXPECT_EQ(p.why.site->line, 8u);
}

TEST(Why, DisconnectedPath) {
  const Analysis a = run({avc(
      R"(apparmor="DENIED" operation="open" class="file" info="Failed name lookup - disconnected path" error=-13 profile="daemon" name="dev/pts/1" pid=1 comm="x" requested_mask="rw" denied_mask="rw" fsuid=0 ouid=0)")});
  const Proposal& p = a.proposals[0];
  EXPECT_EQ(p.why.code, WhyCode::kDisconnectedPath);
  EXPECT_NE(p.why.text.find("flags=(attach_disconnected)"), std::string::npos);
  EXPECT_EQ(alt_texts(p, Alternative::Kind::kFlag),
            std::vector<std::string>{"flags=(attach_disconnected)"});
}

TEST(Why, ProfileTransitionNotFound) {
  const Analysis a = run({exec_denial("daemon", "/usr/bin/other", "profile transition not found")});
  EXPECT_EQ(a.proposals[0].why.code, WhyCode::kNoTransitionProfile);
}

TEST(Why, ComplainMode) {
  const Analysis a = run({file_denial("tool", "/var/tmp/t", "r", 0, 0, "ALLOWED")});
  const Proposal& p = a.proposals[0];
  EXPECT_EQ(p.why.code, WhyCode::kComplainMode);
  EXPECT_TRUE(p.complain);
  EXPECT_EQ(p.rule, "/var/tmp/t r,");
}

TEST(Why, MissingChild) {
  const Analysis a = run({file_denial("daemon//nochild", "/var/tmp/t", "r")});
  EXPECT_EQ(a.proposals[0].why.code, WhyCode::kMissingChild);
  EXPECT_EQ(a.proposals[0].why.text,
            "daemon//nochild may not read /var/tmp/t: the child profile or hat nochild is not in "
            "daemon in the tree");
}

TEST(Why, ProfileNotInTreeStillProposes) {
  const Analysis a = run({file_denial("ghost", "/var/tmp/t", "r")});
  const Proposal& p = a.proposals[0];
  EXPECT_EQ(p.why.code, WhyCode::kProfileNotInTree);
  EXPECT_FALSE(p.profile_in_tree);
  EXPECT_EQ(p.rule, "/var/tmp/t r,");
  EXPECT_EQ(p.why.text,
            "ghost may not read /var/tmp/t: profile not found in the tree (treated as an empty "
            "profile)");
}

TEST(Why, UnverifiedEvidenceIsNoted) {
  auto ev = collector::parse_line(file_denial("daemon", "/var/tmp/t", "r"));
  ASSERT_TRUE(ev.has_value());
  ev->trust = collector::Trust::kUnverified;
  const std::vector<LoggedEvent> events{{*ev, "stdin", 1}};
  const TreeView view(tree());
  const Analysis a = analyze(events, view);
  ASSERT_EQ(a.proposals.size(), 1u);
  EXPECT_TRUE(a.proposals[0].unverified);
  ASSERT_EQ(a.proposals[0].why.notes.size(), 1u);
  EXPECT_EQ(a.proposals[0].why.notes[0],
            "evidence is unverified: the record could have been written by any user (not from "
            "the kernel or auditd)");
}

// --- exec --------------------------------------------------------------------------------------

TEST(Exec, TrustedDaemonHelpersGetPUx) {
  // daemon already hands work to helpers with PUx (/usr/bin/helper PUx): the libvirtd case.
  const Analysis a = run({exec_denial("daemon", "/usr/lib/daemon/helper2")});
  const Proposal& p = a.proposals[0];
  EXPECT_EQ(p.rule, "/usr/lib/daemon/helper2 PUx,");
  EXPECT_EQ(p.why.text,
            "daemon may not execute /usr/lib/daemon/helper2: no exec rule covers it; helpers of "
            "daemon get PUx");
  EXPECT_EQ(
      alt_texts(p, Alternative::Kind::kExecMode),
      (std::vector<std::string>{"/usr/lib/daemon/helper2 ix,", "/usr/lib/daemon/helper2 Ux,"}));
}

TEST(Exec, PlainProfileInherits) {
  const Analysis a = run({exec_denial("worker", "/usr/bin/other")});
  EXPECT_EQ(a.proposals[0].rule, "/usr/bin/other ix,");
  // No profile for it: Px is not offered.
  for (const auto& alt : a.proposals[0].alternatives) {
    EXPECT_EQ(alt.text.find(" Px,"), std::string::npos) << alt.text;
  }
}

TEST(Exec, PxOnlyWhenTheTargetHasAProfile) {
  const Analysis a = run({exec_denial("worker", "/usr/bin/runner")});
  EXPECT_EQ(a.proposals[0].rule, "/usr/bin/runner Px,");
}

TEST(Exec, CxWhenAChildProfileExists) {
  const Analysis a = run({exec_denial("daemon", "/usr/bin/kid")});
  EXPECT_EQ(a.proposals[0].rule, "/usr/bin/kid Cx,");
}

// --- peers -------------------------------------------------------------------------------------

TEST(Peers, SignalSendPairsWithReceiveInThePeer) {
  const Analysis a = run({signal_denial("daemon", "send", "term", "worker")});
  ASSERT_EQ(a.proposals.size(), 2u);
  const Proposal* send = find(a, "daemon", "signal");
  const Proposal* recv = find(a, "worker", "signal");
  ASSERT_NE(send, nullptr);
  ASSERT_NE(recv, nullptr);
  EXPECT_EQ(send->rule, "signal send set=term peer=worker,");
  EXPECT_EQ(recv->rule, "signal receive set=term peer=daemon,");
  ASSERT_TRUE(send->pair.has_value());
  EXPECT_EQ(send->pair, recv->pair);
  EXPECT_FALSE(send->peer_side);
  EXPECT_TRUE(recv->peer_side);
}

TEST(Peers, PeerThatAlreadyAllowsNeedsNoPair) {
  // worker has `signal (receive) set=(hup) peer=daemon`.
  const Analysis a = run({signal_denial("daemon", "send", "hup", "worker")});
  ASSERT_EQ(a.proposals.size(), 1u);
  EXPECT_FALSE(a.proposals[0].pair.has_value());
}

TEST(Peers, UnconfinedPeerNeedsNoPair) {
  const Analysis a = run({signal_denial("daemon", "send", "term", "unconfined")});
  ASSERT_EQ(a.proposals.size(), 1u);
  EXPECT_EQ(a.proposals[0].rule, "signal send set=term peer=unconfined,");
  EXPECT_FALSE(a.proposals[0].pair.has_value());
}

TEST(Peers, LoggedReceiveSideIsLinkedNotDuplicated) {
  const Analysis a = run({signal_denial("daemon", "send", "term", "worker"),
                          signal_denial("worker", "receive", "term", "daemon")});
  ASSERT_EQ(a.proposals.size(), 2u);
  EXPECT_TRUE(a.proposals[0].pair.has_value());
  EXPECT_EQ(a.proposals[0].pair, a.proposals[1].pair);
  EXPECT_FALSE(a.proposals[0].peer_side);
  EXPECT_FALSE(a.proposals[1].peer_side);
  EXPECT_EQ(a.proposals[0].groups.size(), 1u);
  EXPECT_EQ(a.proposals[1].groups.size(), 1u);
}

TEST(Peers, PtraceReadPairsWithReadby) {
  const Analysis a = run({ptrace_denial("daemon", "read", "worker")});
  ASSERT_EQ(a.proposals.size(), 2u);
  EXPECT_EQ(find(a, "daemon", "ptrace")->rule, "ptrace read peer=worker,");
  EXPECT_EQ(find(a, "worker", "ptrace")->rule, "ptrace readby peer=daemon,");
}

TEST(Peers, PtraceTracePairsWithTracedby) {
  const Analysis a = run({ptrace_denial("daemon", "trace", "worker")});
  ASSERT_EQ(a.proposals.size(), 2u);
  EXPECT_EQ(find(a, "daemon", "ptrace")->rule, "ptrace trace peer=worker,");
  EXPECT_EQ(find(a, "worker", "ptrace")->rule, "ptrace tracedby peer=daemon,");
  EXPECT_EQ(find(a, "daemon", "ptrace")->severity.level, Severity::kCritical);
}

TEST(Peers, SelfPeerUsesProfileNameWhereTheTreeDoes) {
  const Analysis a = run({ptrace_denial("plain", "trace", "plain")});
  ASSERT_EQ(a.proposals.size(), 2u);
  EXPECT_EQ(a.proposals[0].rule, "ptrace trace peer=@{profile_name},");
  EXPECT_EQ(a.proposals[1].rule, "ptrace tracedby peer=@{profile_name},");
  EXPECT_EQ(a.proposals[0].pair, a.proposals[1].pair);
}

TEST(Peers, StackedPeerPairsWithEachConfinedProfile) {
  const Analysis a = run({signal_denial("daemon", "send", "usr1", "worker//&plain")});
  ASSERT_EQ(a.proposals.size(), 3u);
  EXPECT_EQ(find(a, "worker", "signal")->rule, "signal receive set=usr1 peer=daemon,");
  EXPECT_EQ(find(a, "plain", "signal")->rule, "signal receive set=usr1 peer=daemon,");
}

// --- other classes -----------------------------------------------------------------------------

struct ClassCase {
  std::string body;
  std::string rule;
};

class ClassProposal : public ::testing::TestWithParam<ClassCase> {};

TEST_P(ClassProposal, RendersTheMinimalRule) {
  const Analysis a = run({avc(GetParam().body)});
  ASSERT_FALSE(a.proposals.empty());
  EXPECT_EQ(a.proposals[0].rule, GetParam().rule) << a.proposals[0].refused;
}

INSTANTIATE_TEST_SUITE_P(
    Classes, ClassProposal,
    ::testing::Values(
        ClassCase{
            R"(apparmor="DENIED" operation="capable" class="cap" profile="daemon" pid=1 comm="x" capability=12  capname="net_admin")",
            "capability net_admin,"},
        ClassCase{
            R"(apparmor="DENIED" operation="connect" class="net" profile="daemon" pid=1 comm="x" laddr=10.0.0.2 lport=51234 faddr=10.0.0.1 fport=443 family="inet" sock_type="stream" protocol=6 requested_mask="connect" denied_mask="connect")",
            "network inet stream,"},
        ClassCase{
            R"(apparmor="DENIED" operation="connect" class="net" profile="daemon" pid=1 comm="x" family="unix" sock_type="stream" protocol=0 requested="send receive connect" denied="send receive connect" addr=none peer_addr="@test_sock" peer="unconfined")",
            "unix (connect receive send) type=stream peer=(label=unconfined addr=@test_sock),"},
        ClassCase{
            R"(apparmor="DENIED" operation="mount" class="mount" info="failed mntpnt match" error=-13 profile="daemon" name="/mnt/" pid=1 comm="x" fstype="tmpfs" srcname="none" flags="rw, nosuid, nodev")",
            "mount fstype=tmpfs options=(rw,nosuid,nodev) none -> /mnt/,"},
        ClassCase{
            R"(apparmor="DENIED" operation="umount" class="mount" profile="daemon" name="/mnt/a/" pid=1 comm="x")",
            "umount /mnt/a/,"},
        ClassCase{
            R"(apparmor="DENIED" operation="pivotroot" class="mount" profile="daemon" name="/tmp/nr/" pid=1 comm="x" srcname="/tmp/nr/old/")",
            "pivot_root oldroot=/tmp/nr/old/ /tmp/nr/,"},
        ClassCase{
            R"(apparmor="DENIED" operation="change_profile" class="file" profile="daemon" name="worker" pid=1 comm="x" target="worker")",
            "change_profile -> worker,"},
        ClassCase{
            R"(apparmor="DENIED" operation="userns_create" class="namespace" profile="daemon" pid=1 comm="x" requested="userns_create" denied="userns_create")",
            "userns,"},
        ClassCase{
            R"(apparmor="DENIED" operation="uring_sqpoll" class="io_uring" profile="daemon" pid=1 comm="x" requested="sqpoll" denied="sqpoll")",
            "io_uring sqpoll,"},
        ClassCase{
            R"(apparmor="DENIED" operation="create" class="posix_mqueue" profile="daemon" name="/queuename" pid=1 comm="x" requested="create" denied="create" fsuid=0 ouid=0)",
            "mqueue create type=posix /queuename,"}));

TEST(Dbus, SendKeepsThePeerLabelAndPairs) {
  const Analysis a = run(
      {R"(type=USER_AVC msg=audit(1700000000.000:5): pid=1 uid=0 auid=4294967295 ses=4294967295 msg='apparmor="DENIED" operation="dbus_method_call" bus="system" path="/org/x" interface="org.x.I" member="Ping" mask="send" name="org.x" pid=7 label="daemon" peer_pid=8 peer_label="worker" exe="/usr/bin/dbus-daemon" sauid=0 hostname=? addr=? terminal=?')"});
  ASSERT_EQ(a.proposals.size(), 2u);
  EXPECT_EQ(find(a, "daemon", "dbus")->rule,
            "dbus send bus=system path=/org/x interface=org.x.I member=Ping peer=(name=org.x "
            "label=worker),");
  EXPECT_EQ(find(a, "worker", "dbus")->rule,
            "dbus receive bus=system path=/org/x interface=org.x.I member=Ping "
            "peer=(label=daemon),");
}

// --- severity, targets, libvirt ----------------------------------------------------------------

TEST(Order, RiskiestFirst) {
  const Analysis a = run(
      {file_denial("daemon", "/var/tmp/t", "r"),
       avc(R"(apparmor="DENIED" operation="capable" class="cap" profile="daemon" pid=1 comm="x" capability=16  capname="sys_module")")});
  ASSERT_EQ(a.proposals.size(), 2u);
  EXPECT_EQ(a.proposals[0].rule, "capability sys_module,");
  EXPECT_EQ(a.proposals[0].severity.level, Severity::kCritical);
  EXPECT_EQ(a.proposals[0].id, 1u);
  EXPECT_EQ(a.proposals[1].id, 2u);
}

TEST(Targets, LocalOverrideIsTheDefault) {
  const Analysis a = run({file_denial("daemon", "/var/tmp/t", "r")});
  const auto& t = a.proposals[0].targets;
  ASSERT_EQ(t.size(), 2u);
  EXPECT_EQ(t[0].file.kind, TargetFile::Kind::kLocal);
  EXPECT_TRUE(t[0].is_default);
  EXPECT_TRUE(t[0].file.path.ends_with("local/usr.sbin.daemon")) << t[0].file.path;
  EXPECT_EQ(t[1].file.kind, TargetFile::Kind::kProfileFile);
  EXPECT_FALSE(t[1].is_default);
}

TEST(Targets, LibvirtGuestBaseProfileIsDefaultFilesWarned) {
  AnalyzeOptions opt;
  opt.vm_names["11111111-2222-3333-4444-555555555555"] = "vm1";
  const Analysis a =
      run({file_denial("libvirt-11111111-2222-3333-4444-555555555555", "/srv/vm1.img", "r")}, opt);
  const Proposal& p = a.proposals[0];
  EXPECT_EQ(p.vm_name, "vm1");
  EXPECT_NE(p.why.text.find("(VM vm1)"), std::string::npos) << p.why.text;
  ASSERT_EQ(p.targets.size(), 2u);
  EXPECT_EQ(p.targets[0].file.kind, TargetFile::Kind::kLibvirtBase);
  EXPECT_TRUE(p.targets[0].is_default);
  EXPECT_TRUE(
      p.targets[0].file.path.ends_with("libvirt/libvirt-11111111-2222-3333-4444-555555555555"))
      << p.targets[0].file.path;
  EXPECT_EQ(p.targets[1].file.kind, TargetFile::Kind::kLibvirtFiles);
  EXPECT_EQ(p.targets[1].file.warning,
            "virt-aa-helper regenerates this file on the next start of the VM");
}

// Complain mode runs a program without a profile in the learning child `parent//null-<prog>`:
// its accesses are the parent's to grant, and the explanation says where they came from.
TEST(LearningChild, NullChildMapsToItsParent) {
  const Analysis a =
      run({file_denial("plain//null-/usr/bin/helper", "/srv/data.txt", "r", 0, 0, "ALLOWED"),
           file_denial("plain", "/srv/data.txt", "w", 0, 0, "ALLOWED")});
  ASSERT_EQ(a.proposals.size(), 1u);
  const Proposal& p = a.proposals[0];
  EXPECT_EQ(p.profile, "plain");
  EXPECT_EQ(p.rule, "/srv/data.txt rw,");
  EXPECT_TRUE(p.profile_in_tree);
  EXPECT_NE(p.why.code, WhyCode::kMissingChild);
  ASSERT_FALSE(p.why.notes.empty());
  const std::string note =
      "logged under the learning child plain//null-/usr/bin/helper (complain mode ran "
      "/usr/bin/helper without a profile of its own); the rule belongs to plain, or give "
      "/usr/bin/helper its own profile and a Px rule";
  EXPECT_EQ(std::count(p.why.notes.begin(), p.why.notes.end(), note), 1) << p.why.text;
}

TEST(Network, CoarseRuleFirstFineGrainedAsAlternative) {
  const Analysis a = run(
      {avc("apparmor=\"DENIED\" operation=\"connect\" class=\"net\" profile=\"plain\" pid=42 "
           "comm=\"x\" laddr=10.0.0.2 lport=40312 faddr=10.0.0.5 fport=443 family=\"inet\" "
           "sock_type=\"stream\" protocol=6 requested_mask=\"connect\" denied_mask=\"connect\"")});
  const Proposal* p = find(a, "plain", "network");
  ASSERT_NE(p, nullptr);
  EXPECT_EQ(p->rule, "network inet stream,");
  EXPECT_EQ(alt_texts(*p, Alternative::Kind::kFineGrained),
            std::vector<std::string>{"network (connect) inet stream peer=(ip=10.0.0.5 port=443),"});
  // bind: the local side (the port the service listens on).
  const Analysis b = run(
      {avc("apparmor=\"DENIED\" operation=\"bind\" class=\"net\" profile=\"plain\" pid=42 "
           "comm=\"x\" laddr=0.0.0.0 lport=8080 family=\"inet\" sock_type=\"stream\" protocol=6 "
           "requested_mask=\"bind\" denied_mask=\"bind\"")});
  const Proposal* q = find(b, "plain", "network");
  ASSERT_NE(q, nullptr);
  EXPECT_EQ(alt_texts(*q, Alternative::Kind::kFineGrained),
            std::vector<std::string>{"network (bind) inet stream ip=0.0.0.0 port=8080,"});
  EXPECT_EQ(to_string(Alternative::Kind::kFineGrained), "fine-grained");
}

TEST(Refusals, PtraceWithoutMaskAndUnconfinedSubjects) {
  const Analysis a =
      run({avc("apparmor=\"DENIED\" operation=\"ptrace\" class=\"ptrace\" "
               "profile=\"plain\" pid=42 comm=\"x\" peer=\"unconfined\"")});
  const Proposal* p = find(a, "plain", "ptrace");
  ASSERT_NE(p, nullptr);
  EXPECT_EQ(p->rule, "");
  EXPECT_EQ(p->refused, "the record names no ptrace access (read, trace, …)");
  const Analysis b = run(
      {avc("apparmor=\"DENIED\" operation=\"change_onexec\" info=\"no new privs\" error=-1 "
           "profile=\"unconfined\" name=\"system_tor\" pid=1 comm=\"tor\" target=\"system_tor\"")});
  ASSERT_EQ(b.proposals.size(), 1u);
  EXPECT_EQ(b.proposals[0].rule, "");
  EXPECT_EQ(b.proposals[0].refused,
            "the process was unconfined: there is no profile to add a rule to");
}

// The analyzer quotes logged names through the rules model: a hostile name is one literal rule.
TEST(HostileNames, AnalyzerUsesTheRulesModelQuoting) {
  const Analysis a = run({file_denial("plain", "/tmp/x, /** rw, \\", "r")});
  ASSERT_EQ(a.proposals.size(), 1u);
  EXPECT_EQ(a.proposals[0].rule, "\"/tmp/x, /\\*\\* rw, \\134\" r,");
  EXPECT_EQ(quote_literal_path("/tmp/a,").value(), "\"/tmp/a,\"");
}

}  // namespace
}  // namespace aatune::analyzer
