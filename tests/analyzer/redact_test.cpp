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
            "Nov 23 10:01:01 HOST1 kernel: name=\"/home/USER1/x\" addr=192.0.2.2 "
            "mac=02:00:00:00:00:01 v6=2001:db8::1 by USER1");
  EXPECT_EQ(r->redact("/home/alice/y 10.20.30.40"), "/home/USER1/y 192.0.2.2");
  EXPECT_EQ(r->counts().at("home").occurrences, 2u);
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

TEST(Redact, BadPatternIsAnError) {
  auto r = Redactor::create({.uuids = false, .patterns = {"("}, .hosts = {}});
  ASSERT_FALSE(r);
  EXPECT_TRUE(r.error().starts_with("--redact-pattern '(': not a valid regular expression"));
}

TEST(Report, Sha256KnownVectors) {
  EXPECT_EQ(sha256_hex(""), "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  EXPECT_EQ(sha256_hex("abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
}

}  // namespace
}  // namespace aatune::analyzer
