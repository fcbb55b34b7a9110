// Every entry of the documented guardrail list (docs/security.md, "Risk guardrails") and the
// nearest grants that must not trip it.
#include <gtest/gtest.h>

#include <string>

#include "analyzer/severity.h"
#include "rules/rule.h"

namespace aatune::analyzer {
namespace {

Guardrail guard_of(const std::string& text) {
  auto rule = rules::parse_rule(text);
  EXPECT_TRUE(rule.has_value()) << text;
  return rule ? guardrail_for_rule(*rule) : Guardrail{};
}

struct Case {
  const char* rule;
  const char* reason;  // "" = no guardrail
};

class GuardrailList : public ::testing::TestWithParam<Case> {};

TEST_P(GuardrailList, ExactReason) {
  const Case c = GetParam();
  const Guardrail g = guard_of(c.rule);
  EXPECT_EQ(g.needs_force, std::string(c.reason) != "") << c.rule;
  EXPECT_EQ(g.reason, c.reason) << c.rule;
}

INSTANTIATE_TEST_SUITE_P(
    Documented, GuardrailList,
    ::testing::Values(
        // Writes under system trees.
        Case{"/etc/hosts w,", "write under /etc"}, Case{"/etc/cron.d/x a,", "write under /etc"},
        Case{"/usr/bin/tool rw,", "write under /usr"},
        Case{"/boot/grub/grub.cfg w,", "write under /boot"},
        Case{"/lib/modules/x.ko w,", "write under /lib"},
        Case{"/lib64/ld.so w,", "write under /lib64"}, Case{"/libx32/a w,", "write under /libx32"},
        Case{"/sys/kernel/mm/x w,", "write under /sys"},
        Case{"/proc/sys/kernel/core_pattern w,", "write under /proc/sys"},
        Case{"/e{tc,var}/x w,", "write under /"}, Case{"/*/x w,", "write under /"},
        // Recursive grants at the top of a tree.
        Case{"/** r,", "recursive grant over a whole tree (/**)"},
        Case{"/*/** r,", "recursive grant over a whole tree (/*/**)"},
        Case{"/etc/** r,", "recursive grant over a whole tree (/etc/**)"},
        Case{"/home/** rw,", "recursive grant over a whole tree (/home/**)"},
        Case{"@{HOME}/** r,", "recursive grant over a whole tree (@{HOME}/**)"},
        Case{"/** ix,", "recursive grant over a whole tree (/**)"},
        // Exec that may leave confinement.
        Case{"/usr/bin/x ux,", "exec may run unconfined (ux)"},
        Case{"/usr/bin/x Ux,", "exec may run unconfined (Ux)"},
        Case{"/usr/bin/x PUx,", "exec may run unconfined (PUx)"},
        Case{"/usr/bin/x pux,", "exec may run unconfined (pux)"},
        Case{"/usr/bin/x CUx,", "exec may run unconfined (CUx)"},
        // Capabilities.
        Case{"capability sys_admin,", "capability sys_admin"},
        Case{"capability sys_module,", "capability sys_module"},
        Case{"capability sys_ptrace,", "capability sys_ptrace"},
        Case{"capability mac_admin,", "capability mac_admin"},
        Case{"capability mac_override,", "capability mac_override"},
        Case{"capability dac_override,", "capability dac_override"},
        Case{"capability sys_rawio,", "capability sys_rawio"},
        Case{"capability chown sys_rawio,", "capability sys_rawio"},
        Case{"capability,", "all capabilities"},
        // ptrace trace on unconfined.
        Case{"ptrace trace peer=unconfined,", "ptrace trace on unconfined processes"},
        Case{"ptrace trace,", "ptrace trace on unconfined processes"},
        Case{"ptrace (read trace) peer=unconfi*,", "ptrace trace on unconfined processes"},
        Case{"ptrace,", "ptrace trace on unconfined processes"},
        // Near misses: not on the list.
        Case{"/etc/hosts r,", ""}, Case{"/etcetera/x w,", ""}, Case{"/usrlocal/x w,", ""},
        Case{"/var/lib/app/** rw,", ""}, Case{"/home/*/.cache/app/** rw,", ""},
        Case{"/tmp/x w,", ""}, Case{"/usr/bin/x ix,", ""}, Case{"/usr/bin/x Px,", ""},
        Case{"/usr/bin/x Cx,", ""}, Case{"/etc/\\*\\* r,", ""}, Case{"capability chown,", ""},
        Case{"capability net_bind_service,", ""}, Case{"ptrace read peer=unconfined,", ""},
        Case{"ptrace trace peer=/usr/sbin/foo,", ""}, Case{"ptrace tracedby peer=unconfined,", ""},
        Case{"deny /etc/** w,", ""}, Case{"deny capability sys_admin,", ""},
        Case{"signal send set=term peer=unconfined,", ""}));

}  // namespace
}  // namespace aatune::analyzer
