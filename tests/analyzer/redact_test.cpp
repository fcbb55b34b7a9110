#include "analyzer/redact.h"

#include <gtest/gtest.h>

#include "analyzer/report.h"

namespace aatune::analyzer {
namespace {

TEST(Redact, HomeUserHostAddressesConsistently) {
  auto r = Redactor::create({});
  ASSERT_TRUE(r);
  const std::string line =
      "Nov 23 10:01:01 bobs-pc kernel: name=\"/home/alice/x\" addr=10.20.30.40 "
      "mac=52:54:00:ab:cd:ef v6=fe80::1 by alice";
  r->learn(line);
  EXPECT_EQ(r->redact(line),
            "Nov 23 10:01:01 HOST1 kernel: name=\"/home/USER1/x\" addr=192.0.2.1 "
            "mac=02:00:00:00:00:01 v6=2001:db8::1 by USER1");
  EXPECT_EQ(r->redact("/home/alice/y 10.20.30.40"), "/home/USER1/y 192.0.2.1");
  EXPECT_EQ(r->counts().at("home").occurrences, 2u);
  EXPECT_EQ(r->counts().at("home").distinct, 1u);
  EXPECT_EQ(r->counts().at("user").distinct, 1u);
  EXPECT_EQ(r->counts().at("ipv4").distinct, 1u);
}

TEST(Redact, KeepsRuleSyntaxLoopbackAndLibvirtUuids) {
  auto r = Redactor::create({.uuids = true, .patterns = {}, .hosts = {}});
  ASSERT_TRUE(r);
  EXPECT_EQ(r->redact("  /usr/lib/qemu/virtiofsd PUx, 127.0.0.1 ::1 09:12:01"),
            "  /usr/lib/qemu/virtiofsd PUx, 127.0.0.1 ::1 09:12:01");
  EXPECT_EQ(r->redact("libvirt-7f3c9a2e-5b1d-4e8a-9c6f-2d4b8e1a0c35 "
                      "7f3c9a2e-5b1d-4e8a-9c6f-2d4b8e1a0c35"),
            "libvirt-7f3c9a2e-5b1d-4e8a-9c6f-2d4b8e1a0c35 00000000-0000-4000-8000-000000000001");
}

TEST(Redact, AddressPlaceholdersAreDistinctDocumentationAddresses) {
  auto r = Redactor::create({});
  ASSERT_TRUE(r);
  std::string in, want;
  for (int i = 1; i <= 300; ++i) {
    in += "10.0." + std::to_string(i / 256) + "." + std::to_string(i % 256) + " ";
    want +=
        (i <= 254 ? "192.0.2." + std::to_string(i) : "198.51.100." + std::to_string(i - 254)) + " ";
  }
  EXPECT_EQ(r->redact(in), want);
  EXPECT_EQ(r->counts().at("ipv4").distinct, 300u);
  EXPECT_EQ(r->counts().at("ipv4").occurrences, 300u);
}

TEST(Redact, AddressesInFileNamesButNotLongerDottedNumbers) {
  auto r = Redactor::create({});
  ASSERT_TRUE(r);
  EXPECT_EQ(r->redact("/var/lib/libvirt/dnsmasq/52:54:00:ab:cd:ef-vm-192.168.122.45.lease "
                      "at 10.1.1.1. v1.2.3.4.5"),
            "/var/lib/libvirt/dnsmasq/02:00:00:00:00:01-vm-192.0.2.1.lease at 192.0.2.2. "
            "v1.2.3.4.5");
}

TEST(Redact, HexEncodedValuesAreRedactedAndStayHex) {
  auto r = Redactor::create({});
  ASSERT_TRUE(r);
  // proctitle "/usr/sbin/libvirtd\0--listen=10.20.30.40\0--name=bobs-pc" and
  // cwd "/home/carol/my work" (a space: the kernel writes it in hex).
  const std::string rec =
      "node=bobs-pc type=PROCTITLE msg=audit(1.0:1): proctitle=2F7573722F7362696E2F6C69627669727464"
      "002D2D6C697374656E3D31302E32302E33302E3430002D2D6E616D653D626F62732D7063 "
      "cwd=2F686F6D652F6361726F6C2F6D7920776F726B a1=7f";
  r->learn(rec);
  // "/usr/sbin/libvirtd\0--listen=192.0.2.1\0--name=HOST1", "/home/USER1/my work"
  EXPECT_EQ(r->redact(rec),
            "node=HOST1 type=PROCTITLE msg=audit(1.0:1): proctitle=2F7573722F7362696E2F6C6962766972"
            "7464002D2D6C697374656E3D3139322E302E322E31002D2D6E616D653D484F535431 "
            "cwd=2F686F6D652F55534552312F6D7920776F726B a1=7f");
  EXPECT_EQ(r->counts().at("ipv4").distinct, 1u);
  EXPECT_EQ(r->counts().at("host").distinct, 1u);
  EXPECT_EQ(r->counts().at("home").occurrences, 1u);
  // Hex that is not text (a control byte), or not of an encoded field, is left alone.
  EXPECT_EQ(r->redact("name=0102 a0=2F686F6D652F6361726F6C"),
            "name=0102 a0=2F686F6D652F6361726F6C");
}

TEST(Redact, UserPatternsAndUuidsOnlyWhenAsked) {
  auto plain = Redactor::create({});
  ASSERT_TRUE(plain);
  const std::string text =
      "/srv/ACME-CORP-4711/d.img "
      "/var/lib/libvirt/images/3d9f6c1e-8a2b-4c5d-9e0f-1a2b3c4d5e6f.qcow2";
  EXPECT_EQ(plain->redact(text), text);
  EXPECT_TRUE(plain->counts().empty());

  auto r = Redactor::create({.uuids = true, .patterns = {"ACME-[A-Z]+-[0-9]+"}, .hosts = {}});
  ASSERT_TRUE(r);
  EXPECT_EQ(
      r->redact(text + " ACME-CORP-4711"),
      "/srv/REDACTED1/d.img /var/lib/libvirt/images/00000000-0000-4000-8000-000000000001.qcow2 "
      "REDACTED1");
  EXPECT_EQ(r->counts().at("pattern").distinct, 1u);
  EXPECT_EQ(r->counts().at("pattern").occurrences, 2u);
  EXPECT_EQ(r->counts().at("uuid").distinct, 1u);
}

TEST(Redact, JsonStringsAreRedactedKeysKept) {
  auto r = Redactor::create({});
  ASSERT_TRUE(r);
  nlohmann::json doc = {{"/home/alice", "x"},
                        {"raw", "audit: name=\"/home/alice/a\" UID=\"alice\""},
                        {"list", {"owner alice", 42, "10.1.2.3"}}};
  r->redact_json(doc);
  const nlohmann::json want = {{"/home/alice", "x"},
                               {"raw", "audit: name=\"/home/USER1/a\" UID=\"USER1\""},
                               {"list", {"owner USER1", 42, "192.0.2.1"}}};
  EXPECT_EQ(doc, want);
}

TEST(Redact, SystemAccountsAreNotPersonalData) {
  auto r = Redactor::create({});
  ASSERT_TRUE(r);
  const std::string line =
      "FSUID=\"_chrony\" OUID=\"libvirt-qemu\" UID=\"systemd-network\" AUID=\"unset\" "
      "acct=\"Debian-gdm\" UID=\"root\" /usr/lib/qemu/x /home/_apt";
  r->learn(line);
  EXPECT_EQ(r->redact(line), line);
  EXPECT_TRUE(r->counts().empty());
}

TEST(Redact, BadPatternIsAnError) {
  auto r = Redactor::create({.uuids = false, .patterns = {"("}, .hosts = {}});
  ASSERT_FALSE(r);
  EXPECT_TRUE(r.error().starts_with("--redact-pattern '(': not a valid regular expression"));
}

TEST(Report, Sha256KnownVectors) {
  EXPECT_EQ(sha256_hex(""), "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  EXPECT_EQ(sha256_hex("abc"), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
}

}  // namespace
}  // namespace aatune::analyzer
