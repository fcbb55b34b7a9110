// Typed AppArmor policy rules, their canonical one-line rendering and a parser for one rule line.
//
// Rendering follows what AppArmor's own utils (python3-apparmor `get_clean`) write, so rules we add
// look like the ones aa-logprof would have added: keyword order, sorted sets, `(a b)` parentheses
// only when a set has several members, quotes only where needed.
#pragma once

#include <expected>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

namespace aatune::rules {

/// A file rule: `[owner] PATH PERMS [-> TARGET],`. `path` is an AARE pattern as written (no quotes;
/// use quote_path_literal() to turn a concrete path from a log into one).
struct FileRule {
  std::string path{};
  std::string perms{};      ///< Any of "mrwalk" in any order; rendered as m r w a l k.
  std::string exec_mode{};  ///< "", "ix", "px", "Px", "cx", "Cx", "ux", "Ux", "pix", "Pix", "cix",
                            ///< "Cix", "pux", "PUx", "cux", "CUx", or "x" (deny rules only).
  std::string
      exec_target{};  ///< `-> target` of an exec transition (or of an `l` rule), else empty.
  bool leading_perms = false;  ///< Written `r /path,` (kept, as python3-apparmor keeps it).
};

/// `link [subset] PATH -> TARGET,`.
struct LinkRule {
  bool subset = false;
  std::string path{};
  std::string target{};
};

/// `capability [NAME…],`; empty = all capabilities.
struct CapabilityRule {
  std::vector<std::string> caps{};
};

/// `network [ACCESS] [FAMILY] [TYPE|PROTOCOL] [ip=IP] [port=N] [peer=(ip=IP port=N)],`; empty
/// fields = any. The access list and the ip/port conditions are AppArmor 4's fine-grained inet
/// mediation (apparmor_parser 3.x rejects them: see is_fine_grained()).
struct NetworkRule {
  std::string family{};               ///< inet, inet6, unix, netlink, packet, …
  std::string type_or_protocol{};     ///< stream, dgram, raw, seqpacket, tcp, udp, icmp, …
  std::vector<std::string> access{};  ///< create bind listen accept connect shutdown getattr
                                      ///< setattr getopt setopt send receive r w rw.
  std::string local_ip{};             ///< `ip=`: an IPv4/IPv6 address or `none`.
  std::string local_port{};           ///< `port=`: a decimal port.
  std::string peer_ip{};              ///< `peer=(ip=…)`.
  std::string peer_port{};            ///< `peer=(port=…)`.

  /// True when the rule uses the AppArmor 4 fine-grained form (access, ip or port).
  [[nodiscard]] bool is_fine_grained() const {
    return !access.empty() || !local_ip.empty() || !local_port.empty() || !peer_ip.empty() ||
           !peer_port.empty();
  }
};

/// `signal [ACCESS] [set=SIGNALS] [peer=LABEL],`; empty = any.
struct SignalRule {
  std::vector<std::string> access{};   ///< send, receive (r/w/rw/read/write are kept as written).
  std::vector<std::string> signals{};  ///< hup, term, kill, usr1, rtmin+3, …
  std::string peer{};                  ///< AARE on the peer label.
};

/// `ptrace [ACCESS] [peer=LABEL],`.
struct PtraceRule {
  std::vector<std::string> access{};  ///< read, trace, readby, tracedby.
  std::string peer{};
};

/// `unix [ACCESS] [type=T] [protocol=P] [addr=A] [label=L] [attr=…] [opt=…] [peer=(label=L,
/// addr=A)],`.
struct UnixRule {
  std::vector<std::string> access{};  ///< create bind listen accept connect shutdown getattr
                                      ///< setattr getopt setopt send receive r w rw.
  std::string type{};
  std::string protocol{};
  std::string addr{};
  std::string label{};
  std::string peer_label{};
  std::string peer_addr{};
};

/// `dbus [ACCESS] [bus=B] [path=P] [name=N] [interface=I] [member=M] [peer=(name=N, label=L)],`.
struct DbusRule {
  std::vector<std::string> access{};  ///< send receive bind eavesdrop (r w rw read write).
  std::string bus{};
  std::string path{};
  std::string name{};  ///< Only for `bind`.
  std::string interface {};
  std::string member{};
  std::string peer_name{};
  std::string peer_label{};
};

/// `mount`, `remount`, `umount` and `pivot_root` rules.
struct MountRule {
  enum class Kind { kMount, kRemount, kUmount, kPivotRoot };
  Kind kind = Kind::kMount;
  std::vector<std::string> fstypes{};  ///< `fstype=(…)` (mount only).
  std::vector<std::string> options{};  ///< `options=(…)` (mount/remount).
  std::string source{};                ///< mount: source device/path; pivot_root: `oldroot=`.
  std::string target{};                ///< `-> mountpoint`; umount/remount: the mountpoint;
                                       ///< pivot_root: the new root.
  std::string target_profile{};        ///< pivot_root `-> profile`.
};

/// `change_profile [safe|unsafe] [EXEC] [-> PROFILE],`.
struct ChangeProfileRule {
  std::string exec_mode{};  ///< "", "safe", "unsafe".
  std::string exec_cond{};  ///< AARE of the program, empty = any.
  std::string target{};     ///< AARE of the target profile, empty = any.
};

/// `userns [create],`.
struct UsernsRule {
  bool create = true;  ///< `userns create,` vs bare `userns,` (same meaning today).
};

/// `io_uring [ACCESS] [label=L],`.
struct IoUringRule {
  std::vector<std::string> access{};  ///< sqpoll, override_creds.
  std::string label{};
};

/// `mqueue [ACCESS] [type=posix|sysv] [label=L] [NAME],`.
struct MqueueRule {
  std::vector<std::string> access{};  ///< create open delete read write getattr setattr r w rw.
  std::string type{};
  std::string label{};
  std::string name{};
};

/// Anything we do not model (new keywords, rlimit, `all,`, dbus forms we cannot read, …): kept
/// verbatim (without the trailing comma and comment, whitespace collapsed) so it is never lost.
struct UnknownRule {
  std::string text{};
  std::string reason{};  ///< Why it was not understood, for the warning.
};

using RuleBody = std::variant<FileRule, LinkRule, CapabilityRule, NetworkRule, SignalRule,
                              PtraceRule, UnixRule, DbusRule, MountRule, ChangeProfileRule,
                              UsernsRule, IoUringRule, MqueueRule, UnknownRule>;

/// One policy rule with its common qualifiers. `owner` is meaningful for file and link rules.
struct Rule {
  bool audit = false;
  bool deny = false;
  bool owner = false;
  RuleBody body{};
};

/// The class keyword of a rule: "file", "link", "capability", "network", "signal", "ptrace",
/// "unix", "dbus", "mount", "remount", "umount", "pivot_root", "change_profile", "userns",
/// "io_uring", "mqueue", "unknown".
[[nodiscard]] std::string rule_class(const Rule& rule);

/// The canonical one-line text (trailing comma, no indentation, no comment). Quotes values that
/// need it; never changes what a pattern matches.
[[nodiscard]] std::string render(const Rule& rule);

/// Like render(), but refuses rules that would be invalid or ambiguous in a profile: empty path or
/// permissions, a path or value with a newline/control byte or an unbalanced quote, an exec
/// target on a non-exec rule, `x` in an allow rule.
[[nodiscard]] std::expected<std::string, std::string> render_checked(const Rule& rule);

/// The AARE pattern that matches exactly `path` (a concrete path from a log): escapes the AARE
/// specials `* ? [ ] { } ^ \` (so `@{` can never start a variable) with `\`; a final `\` is
/// written `\134` (octal), because a value ending in a backslash would escape the closing quote or
/// the blank after it in the profile lexer. Refuses (with a
/// one-line reason) an empty or relative path and one with a newline, NUL or other control byte.
/// The result is unquoted; render() adds quotes when it contains spaces.
[[nodiscard]] std::expected<std::string, std::string> quote_path_literal(std::string_view path);

/// A value as it is written in a rule: unchanged when the profile lexer reads it as one token,
/// else in double quotes with `"` escaped. `value` is already in AARE form (quote_path_literal()).
[[nodiscard]] std::string quote_value(std::string_view value);

/// The AARE that matches exactly the label or name `label` (e.g. a `peer=` value): the escaping of
/// quote_path_literal() without requiring a leading '/'. Refuses empty names and control bytes.
[[nodiscard]] std::expected<std::string, std::string> quote_label_literal(std::string_view label);

/// Parses one rule (one statement, with or without the trailing comma; leading qualifiers
/// `audit`, `deny`, `allow`, `owner`, `other`; a trailing `# comment` is dropped). Statements whose
/// keyword we do not know give a Rule holding UnknownRule (never an error). Errors: a known class
/// with malformed content (e.g. `/path` without permissions, unclosed quote or parenthesis).
[[nodiscard]] std::expected<Rule, std::string> parse_rule(std::string_view line);

/// Equality on the canonical form (used to detect "already present").
[[nodiscard]] bool same_rule(const Rule& a, const Rule& b);

}  // namespace aatune::rules
