#include "analyzer/report.h"

#include <gtest/gtest.h>

#include "collector/parser.h"

namespace aatune::analyzer {
namespace {

using nlohmann::json;

json small_report() {
  json r;
  r["aatune_version"] = "1.2.3";
  r["generated_at"] = nullptr;
  r["summary"] = {{"groups", 1}, {"records", 2}, {"proposals", 1}, {"profiles", {"libvirtd"}}};
  r["sources"] = {{{"path", "logs/kern.log"}, {"records", 2}}};
  r["redaction"] = {{"enabled", true},
                    {"kinds", {{"host", {{"distinct", 1}, {"occurrences", 2}}}}}};
  r["policy"]["profiles"] = {{{"name", "libvirtd"},
                              {"mode", "enforce"},
                              {"disabled", false},
                              {"file", "usr.sbin.libvirtd"},
                              {"local_file", "local/usr.sbin.libvirtd"}}};
  r["policy"]["files"] = {{{"path", "usr.sbin.libvirtd"},
                           {"role", "profile"},
                           {"sha256", "ab12"},
                           {"package", nullptr}}};
  r["denials"] = {{{"id", 1},
                   {"profile", "libvirtd"},
                   {"class", "file"},
                   {"operation", "exec"},
                   {"target", "/usr/lib/qemu/virtiofsd"},
                   {"mask", "x"},
                   {"count", 2},
                   {"first_seen", "2026-11-23T09:12:01Z"},
                   {"last_seen", "2026-11-23T09:12:47Z"},
                   {"records",
                    {{{"source", "logs/kern.log"},
                      {"line", 14},
                      {"raw", "audit: a ```x``` b"},
                      {"companions", {{{"raw", "type=CWD cwd=\"/\""}}}}}}}}};
  r["analysis"] = {
      {"proposals",
       {{{"id", 1},
         {"profile", "libvirtd"},
         {"rule", "/usr/lib/qemu/virtiofsd PUx,"},
         {"refused", nullptr},
         {"why", {{"code", "no-rule"}, {"text", "no exec rule"}, {"notes", json::array()}}},
         {"severity", {{"level", "high"}, {"reason", "exec"}}},
         {"pair", nullptr},
         {"peer_side", false},
         {"denials", {1}},
         {"targets",
          {{{"path", "local/usr.sbin.libvirtd"}, {"default", true}, {"warning", ""}}}}}}},
      {"patch", "--- a/usr.sbin.libvirtd\n+++ b/usr.sbin.libvirtd\n"},
      {"local_patch", ""}};
  r["environment"] = {{"aatune_version", "1.2.3"}, {"probed", false}};
  return r;
}

TEST(Report, MarkdownHasSummaryTableAnalysisPatchAndEvidence) {
  EXPECT_EQ(render_markdown(small_report()),
            "# AppArmor denials: `libvirtd`\n\n"
            "Exported by aatune 1.2.3. 1 denial group(s) from 2 record(s); 1 proposed rule(s).\n\n"
            "## Summary\n\n"
            "- Profile `libvirtd`: enforce, defined in `usr.sbin.libvirtd`, local override "
            "`local/usr.sbin.libvirtd`\n"
            "- Sources read: `logs/kern.log`\n"
            "- Redacted: host (1 value(s), 2 occurrence(s))\n\n"
            "## Denials\n\n"
            "| # | profile | class | operation | target | mask | count | first seen | last seen |\n"
            "|---|---|---|---|---|---|---|---|---|\n"
            "| 1 | `libvirtd` | file | exec | `/usr/lib/qemu/virtiofsd` | x | 2 | "
            "2026-11-23T09:12:01Z | 2026-11-23T09:12:47Z |\n\n"
            "## Analysis\n\n"
            "### 1. `libvirtd`: `/usr/lib/qemu/virtiofsd PUx,`\n\n"
            "- Why: no exec rule (`no-rule`)\n"
            "- Severity: high: exec\n"
            "- Denials: #1\n"
            "- Could go into `local/usr.sbin.libvirtd` (recommended)\n\n"
            "## Proposed patch (packaged profile, `patch -p1` in the profile directory)\n\n"
            "```diff\n--- a/usr.sbin.libvirtd\n+++ b/usr.sbin.libvirtd\n```\n\n"
            "## Policy files\n\n"
            "| file | role | sha256 | package |\n|---|---|---|---|\n"
            "| `usr.sbin.libvirtd` | profile | `ab12` |  |\n\n"
            "## Environment\n\n"
            "- aatune_version: 1.2.3\n"
            "- probed: false\n\n"
            "## Raw evidence\n\n"
            "<details>\n<summary>Denial 1: 2 record(s)</summary>\n\n"
            // The evidence holds a run of three backticks: the fence is longer.
            "````\n# logs/kern.log:14\naudit: a ```x``` b\ntype=CWD cwd=\"/\"\n````\n\n"
            "</details>\n");
}

TEST(Report, TableCellsEscapePipesAndNewlines) {
  json r = small_report();
  r["denials"][0]["target"] = "/a|b\nc";
  const std::string md = render_markdown(r);
  EXPECT_NE(md.find("| `/a\\|b c` |"), std::string::npos) << md;
}

TEST(Report, EventFieldsArePresentOnesOnly) {
  const auto ev = collector::parse_line(
      "type=AVC msg=audit(1795425121.929:255): apparmor=\"DENIED\" operation=\"exec\" "
      "class=\"file\" profile=\"libvirtd\" name=\"/usr/lib/qemu/virtiofsd\" pid=4931 "
      "comm=\"rpc-libvirtd\" requested_mask=\"x\" denied_mask=\"x\" fsuid=0 ouid=0");
  ASSERT_TRUE(ev) << ev.error().message;
  const json f = event_fields(*ev);
  EXPECT_EQ(f["apparmor"], "DENIED");
  EXPECT_EQ(f["audit_id"], "1795425121.929:255");
  EXPECT_EQ(f["epoch"], 1795425121);
  EXPECT_EQ(f["name"], "/usr/lib/qemu/virtiofsd");
  EXPECT_EQ(f["pid"], 4931);
  EXPECT_FALSE(f.contains("signal"));
  EXPECT_FALSE(f.contains("peer"));
}

TEST(Report, CompanionFieldsKeepOrderAndDecodeHex) {
  const auto c = collector::parse_companion(
      "type=PROCTITLE msg=audit(1795425121.929:255): proctitle=2F7573722F7362696E2F6C69627669727464"
      "002D2D74696D656F7574");
  ASSERT_TRUE(c);
  EXPECT_EQ(companion_fields(*c), json::parse(R"([["proctitle","/usr/sbin/libvirtd --timeout"]])"));
}

}  // namespace
}  // namespace aatune::analyzer
