// The record grammar. One pass over the line, no regex, no per-token allocation except for the
// decoded values that end up in the Event. The container prefix (audit.log, syslog, dmesg/kmsg,
// journal export, bare) is peeled first; what follows is an optional audit header and a list of
// key=value pairs whose values are "quoted", bare, or bare uppercase hex (records.md §1.2).
#include "collector/parser.h"

#include <algorithm>
#if defined(__SSE2__)
#include <emmintrin.h>
#endif
#if defined(__x86_64__) && defined(__GNUC__)
#include <immintrin.h>
#endif
#include <array>
#include <charconv>
#include <cstring>
#include <optional>
#include <string>
#include <string_view>
#include <utility>

namespace aatune::collector {
namespace {

constexpr bool is_digit(char c) {
  return c >= '0' && c <= '9';
}
constexpr bool is_upper_hex(char c) {
  return is_digit(c) || (c >= 'A' && c <= 'F');
}
constexpr bool is_alpha(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

// Character classes as one table lookup each: the tokenizer tests every byte of every record,
// and the chains of comparisons were the hottest lines of `parse --count`.
constexpr uint8_t kSpaceBit = 1;
constexpr uint8_t kKeyBit = 2;
constexpr std::array<uint8_t, 256> kCharClass = [] {
  std::array<uint8_t, 256> t{};
  // 0x1d is auditd's ENRICHED separator; \n appears inside dbus-daemon USER_AVC bodies.
  for (unsigned char c : {' ', '\t', '\x1d', '\r', '\n'}) t[c] |= kSpaceBit;
  for (int c = 0; c < 256; ++c) {
    const char ch = static_cast<char>(c);
    if (is_alpha(ch) || is_digit(ch) || ch == '_' || ch == '-')
      t[static_cast<size_t>(c)] |= kKeyBit;
  }
  return t;
}();

constexpr bool is_space(char c) {
  return (kCharClass[static_cast<unsigned char>(c)] & kSpaceBit) != 0;
}
constexpr bool is_key_char(char c) {
  return (kCharClass[static_cast<unsigned char>(c)] & kKeyBit) != 0;
}

// `s == "literal"` with the length known at compile time: GCC inlines the memcmp into one or two
// integer compares, where string_view's operator== calls the library memcmp (the key lookup runs
// for every key of every record, and showed up as 10 % of `parse --count`).
// The first L bytes of `a` and `b` are equal. Fixed-size loads (overlapping at the tail) that
// GCC turns into one to three integer compares; memcmp with a constant size still became a
// library call for most lengths (2 % of `parse --count`).
template <size_t L>
[[gnu::always_inline]] inline bool bytes_eq(const char* a, const char* b) {
  const auto load = [](const char* p, auto word) {
    std::memcpy(&word, p, sizeof(word));
    return word;
  };
  if constexpr (L == 0) {
    return true;
  } else if constexpr (L == 1) {
    return a[0] == b[0];
  } else if constexpr (L < 4) {
    return load(a, uint16_t{}) == load(b, uint16_t{}) &&
           load(a + L - 2, uint16_t{}) == load(b + L - 2, uint16_t{});
  } else if constexpr (L < 8) {
    return load(a, uint32_t{}) == load(b, uint32_t{}) &&
           load(a + L - 4, uint32_t{}) == load(b + L - 4, uint32_t{});
  } else if constexpr (L <= 16) {
    return load(a, uint64_t{}) == load(b, uint64_t{}) &&
           load(a + L - 8, uint64_t{}) == load(b + L - 8, uint64_t{});
  } else {
    return std::memcmp(a, b, L) == 0;
  }
}

template <size_t N>
constexpr bool eq(std::string_view s, const char (&literal)[N]) {
  return s.size() == N - 1 && bytes_eq<N - 1>(s.data(), literal);
}

bool starts_with(std::string_view s, size_t pos, std::string_view prefix) {
  return s.size() >= pos + prefix.size() && s.compare(pos, prefix.size(), prefix) == 0;
}

// The literal form: a compile-time length lets GCC inline the compare (see eq()).
template <size_t N>
bool starts_with(std::string_view s, size_t pos, const char (&prefix)[N]) {
  return s.size() >= pos + N - 1 && bytes_eq<N - 1>(s.data() + pos, prefix);
}

size_t skip_spaces(std::string_view s, size_t pos) {
  while (pos < s.size() && (s[pos] == ' ' || s[pos] == '\t')) ++pos;
  return pos;
}

bool all_digits(std::string_view s) {
  return !s.empty() && std::ranges::all_of(s, [](char c) { return is_digit(c); });
}

template <typename T>
std::optional<T> to_number(std::string_view s) {
  // Most numbers (pids, uids, ports, audit ids) are a few digits: up to 9 (18 for 64 bits) fit
  // every T here, so a plain loop gives from_chars' result without its generality (a sign or any
  // other character goes to from_chars, which decides).
  constexpr size_t kSafeDigits = sizeof(T) >= 8 ? 18 : 9;
  if (!s.empty() && s.size() <= kSafeDigits) {
    // One pass: sum the digits and note any other byte (then from_chars decides below).
    uint64_t value = 0;
    bool digits_only = true;
    for (const char c : s) {
      const auto d = static_cast<unsigned>(static_cast<unsigned char>(c) - '0');
      digits_only = digits_only && d <= 9;
      value = value * 10 + d;
    }
    if (digits_only) return static_cast<T>(value);
  }
  T value{};
  const auto* end = s.data() + s.size();
  const auto [ptr, ec] = std::from_chars(s.data(), end, value);
  if (ec != std::errc() || ptr != end || s.empty()) return std::nullopt;
  return value;
}

// `byte(i)` yields the i-th byte of a text of `size` bytes: the same check runs on plain values
// and, without decoding them into a buffer first, on hex-encoded ones.
template <typename ByteAt>
bool valid_utf8_bytes(size_t size, ByteAt byte) {
  size_t i = 0;
  while (i < size) {
    const auto c = static_cast<unsigned char>(byte(i));
    if (c < 0x80) {
      ++i;
      continue;
    }
    size_t len = 0;
    uint32_t cp = 0;
    if ((c & 0xE0) == 0xC0) {
      len = 2;
      cp = c & 0x1F;
    } else if ((c & 0xF0) == 0xE0) {
      len = 3;
      cp = c & 0x0F;
    } else if ((c & 0xF8) == 0xF0) {
      len = 4;
      cp = c & 0x07;
    } else {
      return false;
    }
    if (i + len > size) return false;
    for (size_t k = 1; k < len; ++k) {
      const auto cc = static_cast<unsigned char>(byte(i + k));
      if ((cc & 0xC0) != 0x80) return false;
      cp = (cp << 6) | (cc & 0x3F);
    }
    // Overlong forms, surrogates and out-of-range code points are not UTF-8 either.
    if ((len == 2 && cp < 0x80) || (len == 3 && cp < 0x800) || (len == 4 && cp < 0x10000) ||
        cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) {
      return false;
    }
    i += len;
  }
  return true;
}

bool valid_utf8(std::string_view s) {
  return valid_utf8_bytes(s.size(), [s](size_t i) { return s[i]; });
}

// One pass over the line for the two whole-line facts the parser needs first: does it hold a NUL
// byte (an error), and any byte >= 0x80 (then values need the UTF-8 check). 16 bytes per step.
struct LineBytes {
  bool nul = false;
  bool high_bit = false;
};

LineBytes scan_line_bytes(std::string_view s) {
  const char* p = s.data();
  const size_t n = s.size();
  size_t i = 0;
  unsigned char acc = 0;
  bool nul = false;
#if defined(__SSE2__)
  __m128i high = _mm_setzero_si128();
  __m128i zero_hits = _mm_setzero_si128();
  const __m128i zero = _mm_setzero_si128();
  for (; i + 16 <= n; i += 16) {
    const __m128i v = _mm_loadu_si128(reinterpret_cast<const __m128i*>(p + i));
    high = _mm_or_si128(high, v);
    zero_hits = _mm_or_si128(zero_hits, _mm_cmpeq_epi8(v, zero));
  }
  acc = _mm_movemask_epi8(high) != 0 ? 0x80 : 0;
  nul = _mm_movemask_epi8(zero_hits) != 0;
#endif
  for (; i < n; ++i) {
    acc |= static_cast<unsigned char>(p[i]);
    nul = nul || p[i] == '\0';
  }
  return LineBytes{nul, (acc & 0x80) != 0};
}

// The end of the key that starts at `pos` (the first byte that is not a key character).
size_t key_end(std::string_view s, size_t pos) {
  const size_t n = s.size();
#if defined(__SSE2__)
  // 16 bytes per step: letters (case folded with 0x20), digits, '_' and '-'. Bytes >= 0x80 are
  // negative in the signed compares and fall out of every range.
  const __m128i fold = _mm_set1_epi8(0x20);
  for (; pos + 16 <= n; pos += 16) {
    const __m128i v = _mm_loadu_si128(reinterpret_cast<const __m128i*>(s.data() + pos));
    const __m128i lower = _mm_or_si128(v, fold);
    const __m128i alpha = _mm_and_si128(_mm_cmpgt_epi8(lower, _mm_set1_epi8('a' - 1)),
                                        _mm_cmplt_epi8(lower, _mm_set1_epi8('z' + 1)));
    const __m128i digit = _mm_and_si128(_mm_cmpgt_epi8(v, _mm_set1_epi8('0' - 1)),
                                        _mm_cmplt_epi8(v, _mm_set1_epi8('9' + 1)));
    const __m128i other =
        _mm_or_si128(_mm_cmpeq_epi8(v, _mm_set1_epi8('_')), _mm_cmpeq_epi8(v, _mm_set1_epi8('-')));
    const auto ok =
        static_cast<unsigned>(_mm_movemask_epi8(_mm_or_si128(_mm_or_si128(alpha, digit), other)));
    if (ok != 0xFFFF) return pos + static_cast<size_t>(__builtin_ctz(~ok));
  }
#endif
  while (pos < n && is_key_char(s[pos])) ++pos;
  return pos;
}

// The end of a bare value that starts at `pos`: the first separator (see kSpaceBit) or
// `terminator` (the quote closing a USER_AVC msg, or NUL, which a parsed line never holds).
size_t value_end(std::string_view s, size_t pos, char terminator) {
  const size_t n = s.size();
#if defined(__SSE2__)
  const __m128i term = _mm_set1_epi8(terminator);
  for (; pos + 16 <= n; pos += 16) {
    const __m128i v = _mm_loadu_si128(reinterpret_cast<const __m128i*>(s.data() + pos));
    const __m128i stop =
        _mm_or_si128(_mm_or_si128(_mm_or_si128(_mm_cmpeq_epi8(v, _mm_set1_epi8(' ')),
                                               _mm_cmpeq_epi8(v, _mm_set1_epi8('\t'))),
                                  _mm_or_si128(_mm_cmpeq_epi8(v, _mm_set1_epi8('\x1d')),
                                               _mm_cmpeq_epi8(v, _mm_set1_epi8('\r')))),
                     _mm_or_si128(_mm_cmpeq_epi8(v, _mm_set1_epi8('\n')), _mm_cmpeq_epi8(v, term)));
    const auto mask = static_cast<unsigned>(_mm_movemask_epi8(stop));
    if (mask != 0) return pos + static_cast<size_t>(__builtin_ctz(mask));
  }
#endif
  while (pos < n && !is_space(s[pos]) && s[pos] != terminator) ++pos;
  return pos;
}

// s.find('"', from) for the short values of a record: one 16-byte compare settles most of them
// without the call into memchr.
size_t find_quote(std::string_view s, size_t from) {
#if defined(__SSE2__)
  // Paths and profile names often run past 16 bytes: a few more steps still beat the call.
  for (int step = 0; step < 4 && from + 16 <= s.size(); ++step) {
    const __m128i v = _mm_loadu_si128(reinterpret_cast<const __m128i*>(s.data() + from));
    const auto mask =
        static_cast<unsigned>(_mm_movemask_epi8(_mm_cmpeq_epi8(v, _mm_set1_epi8('"'))));
    if (mask != 0) return from + static_cast<size_t>(__builtin_ctz(mask));
    from += 16;
  }
#endif
  return s.find('"', from);
}

int hex_value(char c) {
  return is_digit(c) ? c - '0' : c - 'A' + 10;
}

char hex_byte(std::string_view hex, size_t i) {
  return static_cast<char>((hex_value(hex[2 * i]) << 4) | hex_value(hex[2 * i + 1]));
}

// Into `out`, reusing its capacity.
void hex_decode_into(std::string& out, std::string_view hex) {
  out.resize(hex.size() / 2);
  for (size_t i = 0; i < out.size(); ++i) out[i] = hex_byte(hex, i);
}

std::string hex_decode(std::string_view hex) {
  std::string out;
  hex_decode_into(out, hex);
  return out;
}

// UTF-8 check of what `hex` decodes to, without a buffer for the decoded bytes.
bool valid_utf8_hex(std::string_view hex) {
  return valid_utf8_bytes(hex.size() / 2, [hex](size_t i) { return hex_byte(hex, i); });
}

// IP protocol numbers as libapparmor names them (from netinet/in.h IPPROTO_*), so that
// `protocol=6` reads "tcp" in both tools. Written into `out` to reuse its capacity.
void protocol_name_into(std::string& out, std::string_view number) {
  static constexpr std::array<std::pair<int, std::string_view>, 27> kProtocols{{
      {0, "ip"},         {1, "icmp"},   {2, "igmp"},    {4, "ipip"},      {6, "tcp"},
      {8, "egp"},        {12, "pup"},   {17, "udp"},    {22, "idp"},      {29, "tp"},
      {33, "dccp"},      {41, "ipv6"},  {46, "rsvp"},   {47, "gre"},      {50, "esp"},
      {51, "ah"},        {92, "mtp"},   {94, "beetph"}, {98, "encap"},    {103, "pim"},
      {108, "comp"},     {115, "l2tp"}, {132, "sctp"},  {136, "udplite"}, {137, "mpls"},
      {143, "ethernet"}, {255, "raw"},
  }};
  const auto value = to_number<unsigned>(number);
  if (!value) {
    out.assign(number);
    return;
  }
  for (const auto& [num, name] : kProtocols) {
    if (static_cast<unsigned>(num) == *value) {
      out.assign(name);
      return;
    }
  }
  if (*value == 262) {
    out.assign("mptcp");
    return;
  }
  std::array<char, 16> digits{};
  const auto end = std::to_chars(digits.data(), digits.data() + digits.size(), *value).ptr;
  out.assign("unknown(").append(digits.data(), end).append(")");
}

// The legacy AppArmor audit type numbers (linux/audit.h AUDIT_APPARMOR_*).
EventType event_of_type_number(int number) {
  switch (number) {
    case 1501:
      return EventType::kAudit;
    case 1502:
      return EventType::kAllowed;
    case 1503:
      return EventType::kDenied;
    case 1504:
      return EventType::kHint;
    case 1505:
      return EventType::kStatus;
    case 1506:
      return EventType::kError;
    case 1507:
      return EventType::kKilled;
    default:
      return EventType::kInvalid;
  }
}

std::optional<EventType> event_of_apparmor_value(std::string_view v) {
  if (eq(v, "DENIED")) return EventType::kDenied;
  if (eq(v, "ALLOWED")) return EventType::kAllowed;
  if (eq(v, "AUDIT")) return EventType::kAudit;
  if (eq(v, "STATUS")) return EventType::kStatus;
  if (eq(v, "HINT")) return EventType::kHint;
  if (eq(v, "ERROR")) return EventType::kError;
  if (eq(v, "KILLED")) return EventType::kKilled;
  return std::nullopt;
}

// What kind of audit record the container says this is.
enum class RecordKind {
  kNone,     ///< No type given (bare body, dbus-daemon syslog fallback).
  kAvc,      ///< 1400: AppArmor or another LSM; decided by the body.
  kUserAvc,  ///< 1107: body wrapped in msg='…'.
  kLegacy,   ///< 1500–1599 / APPARMOR_*: always AppArmor.
  kForeign,  ///< SYSCALL, CRED_ACQ, …, and the free-text `type=APPARMOR` of AppArmor 2.0.
};

struct RecordType {
  RecordKind kind = RecordKind::kNone;
  int number = 0;
  EventType preset = EventType::kInvalid;
};

RecordType classify_number(int number) {
  if (number == 1400) return {RecordKind::kAvc, number, EventType::kInvalid};
  if (number == 1107) return {RecordKind::kUserAvc, number, EventType::kInvalid};
  if (number >= 1500 && number <= 1599) {
    return {RecordKind::kLegacy, number, event_of_type_number(number)};
  }
  return {RecordKind::kForeign, number, EventType::kInvalid};
}

RecordType classify_type_name(std::string_view name) {
  if (eq(name, "AVC")) return classify_number(1400);
  if (eq(name, "USER_AVC")) return classify_number(1107);
  if (all_digits(name)) return classify_number(to_number<int>(name).value_or(0));
  if (name.starts_with("UNKNOWN[") && name.ends_with("]")) {
    return classify_number(to_number<int>(name.substr(8, name.size() - 9)).value_or(0));
  }
  static constexpr std::array<std::pair<std::string_view, int>, 7> kNames{{
      {"APPARMOR_AUDIT", 1501},
      {"APPARMOR_ALLOWED", 1502},
      {"APPARMOR_DENIED", 1503},
      {"APPARMOR_HINT", 1504},
      {"APPARMOR_STATUS", 1505},
      {"APPARMOR_ERROR", 1506},
      {"APPARMOR_KILL", 1507},
  }};
  for (const auto& [n, number] : kNames) {
    if (n == name) return classify_number(number);
  }
  return {RecordKind::kForeign, 0, EventType::kInvalid};
}

// ---- key table -----------------------------------------------------------------------------

enum class Field : uint8_t {
  kUnknown,
  kApparmor,
  kType,
  kOperation,
  kClass,
  kInfo,
  kPeerInfo,
  kError,
  kRequested,
  kDenied,
  kFsuid,
  kOuid,
  kProfile,
  kNamespace,
  kPeerProfile,
  kPeer,
  kName,
  kName2,
  kComm,
  kCapname,
  kAttribute,
  kTask,
  kParent,
  kMagicToken,
  kPid,
  kPeerPid,
  kFamily,
  kSockType,
  kProtocol,
  kLaddr,
  kFaddr,
  kLport,
  kFport,
  kAddr,
  kPeerAddr,
  kBus,
  kPath,
  kInterface,
  kMember,
  kSignal,
  kFstype,
  kFlags,
  kSrcname,
  kExecpath,
  kUntrustedExtra,  ///< Not modelled, but the kernel may hex-encode it: decode into `extra`.
};

// A switch on the length keeps the lookup at one or two comparisons per key (hot loop).
Field field_of(std::string_view k) {
  switch (k.size()) {
    case 2:
      if (eq(k, "ns")) return Field::kNamespace;
      break;
    case 3:
      if (eq(k, "pid")) return Field::kPid;
      if (eq(k, "exe")) return Field::kUntrustedExtra;
      if (eq(k, "bus")) return Field::kBus;
      if (eq(k, "dev")) return Field::kUntrustedExtra;
      // lsm_audit's socket address fields (bind/connect/sendmsg): source is the local end.
      if (eq(k, "src")) return Field::kLport;
      break;
    case 4:
      if (eq(k, "name")) return Field::kName;
      if (eq(k, "comm")) return Field::kComm;
      if (eq(k, "info")) return Field::kInfo;
      if (eq(k, "peer")) return Field::kPeer;
      if (eq(k, "mask")) return Field::kDenied;
      if (eq(k, "ouid")) return Field::kOuid;
      if (eq(k, "task")) return Field::kTask;
      if (eq(k, "addr")) return Field::kAddr;
      if (eq(k, "path")) return Field::kPath;
      if (eq(k, "type")) return Field::kType;
      if (eq(k, "dest")) return Field::kFport;
      break;
    case 5:
      if (eq(k, "fsuid")) return Field::kFsuid;
      if (eq(k, "class")) return Field::kClass;
      if (eq(k, "error")) return Field::kError;
      if (eq(k, "label")) return Field::kProfile;
      if (eq(k, "name2")) return Field::kName2;
      if (eq(k, "lport")) return Field::kLport;
      if (eq(k, "fport")) return Field::kFport;
      if (eq(k, "laddr")) return Field::kLaddr;
      if (eq(k, "faddr")) return Field::kFaddr;
      if (eq(k, "flags")) return Field::kFlags;
      if (eq(k, "ocomm")) return Field::kUntrustedExtra;
      if (eq(k, "trans")) return Field::kUntrustedExtra;
      if (eq(k, "saddr")) return Field::kLaddr;
      if (eq(k, "daddr")) return Field::kFaddr;
      break;
    case 6:
      if (eq(k, "denied")) return Field::kDenied;
      if (eq(k, "target")) return Field::kName2;
      if (eq(k, "parent")) return Field::kParent;
      if (eq(k, "family")) return Field::kFamily;
      if (eq(k, "signal")) return Field::kSignal;
      if (eq(k, "fstype")) return Field::kFstype;
      if (eq(k, "member")) return Field::kMember;
      if (eq(k, "method")) return Field::kMember;  // dbus-broker's name for member
      break;
    case 7:
      if (eq(k, "profile")) return Field::kProfile;
      if (eq(k, "capname")) return Field::kCapname;
      if (eq(k, "srcname")) return Field::kSrcname;
      if (eq(k, "options")) return Field::kUntrustedExtra;
      break;
    case 8:
      if (eq(k, "apparmor")) return Field::kApparmor;
      if (eq(k, "protocol")) return Field::kProtocol;
      if (eq(k, "peer_pid")) return Field::kPeerPid;
      if (eq(k, "tcontext")) return Field::kPeerProfile;
      if (eq(k, "execpath")) return Field::kExecpath;
      break;
    case 9:
      if (eq(k, "operation")) return Field::kOperation;
      if (eq(k, "requested")) return Field::kRequested;
      if (eq(k, "sock_type")) return Field::kSockType;
      if (eq(k, "namespace")) return Field::kNamespace;
      if (eq(k, "attribute")) return Field::kAttribute;
      if (eq(k, "interface")) return Field::kInterface;
      if (eq(k, "peer_info")) return Field::kPeerInfo;
      if (eq(k, "peer_addr")) return Field::kPeerAddr;
      break;
    case 10:
      if (eq(k, "peer_label")) return Field::kPeerProfile;
      break;
    case 11:
      if (eq(k, "denied_mask")) return Field::kDenied;
      if (eq(k, "magic_token")) return Field::kMagicToken;
      break;
    case 12:
      if (eq(k, "peer_profile")) return Field::kPeerProfile;
      break;
    case 14:
      if (eq(k, "requested_mask")) return Field::kRequested;
      break;
    default:
      break;
  }
  return Field::kUnknown;
}

// Values the kernel passes through audit_log_untrustedstring(): bare means uppercase hex.
bool is_untrusted(Field f) {
  switch (f) {
    case Field::kProfile:
    case Field::kNamespace:
    case Field::kPeerProfile:
    case Field::kPeer:
    case Field::kName:
    case Field::kName2:
    case Field::kComm:
    case Field::kCapname:
    case Field::kAddr:
    case Field::kPeerAddr:
    case Field::kPath:
    case Field::kFstype:
    case Field::kSrcname:
    case Field::kExecpath:
    case Field::kUntrustedExtra:
      return true;
    default:
      return false;
  }
}

// Labels are policy names, i.e. text: a hex value that decodes to invalid UTF-8 is kernel
// garbage (LP: #1689667 printed raw pointers as `target=`), not a label.
bool is_label(Field f) {
  return f == Field::kProfile || f == Field::kNamespace || f == Field::kPeerProfile ||
         f == Field::kPeer || f == Field::kName2;
}

// ---- writing into an Event -------------------------------------------------------------------

using StringSlot = std::optional<std::string> Event::*;
constexpr std::array<StringSlot, 34> kStringSlots{
    &Event::audit_id,       &Event::operation,
    &Event::rule_class,     &Event::info,
    &Event::requested_mask, &Event::denied_mask,
    &Event::profile,        &Event::ns,
    &Event::peer_profile,   &Event::peer,
    &Event::name,           &Event::name2,
    &Event::comm,           &Event::attribute,
    &Event::info_peer,      &Event::active_hat,
    &Event::execpath,       &Event::net_family,
    &Event::net_protocol,   &Event::net_sock_type,
    &Event::net_local_addr, &Event::net_foreign_addr,
    &Event::net_addr,       &Event::peer_addr,
    &Event::dbus_bus,       &Event::dbus_path,
    &Event::dbus_interface, &Event::dbus_member,
    &Event::signal,         &Event::fs_type,
    &Event::flags,          &Event::src_name,
    &Event::host,           &Event::timestamp,
};
constexpr size_t kDistinctStringSlots = kStringSlots.size();
static_assert(kDistinctStringSlots <= 64, "Fill keeps one bit per slot");

// Resets every field of an Event but its optional strings, `raw` and `extra` (those are Fill's or
// clear_lean_fields()'s business): the one list both ways of reusing an Event share.
void reset_scalars(Event& e) {
  e.event = EventType::kInvalid;
  e.container = Container::kUnknown;
  e.trust = Trust::kUnverified;
  e.record_type = 0;
  e.record_type_name.clear();
  e.epoch.reset();
  e.audit_msec.reset();
  e.audit_sub_id.reset();
  e.error_code.reset();
  e.fsuid.reset();
  e.ouid.reset();
  e.pid.reset();
  e.peer_pid.reset();
  e.task.reset();
  e.magic_token.reset();
  e.parent.reset();
  e.net_local_port.reset();
  e.net_foreign_port.reset();
  e.sender_uid.reset();
}

// Every string the parser stores goes through here. A fresh Event is filled as usual. A reused
// one (parse_line_into, classify_line) keeps the strings of the previous record engaged but
// empty ("stale") so that assigning into them reuses their capacity; finish() resets the stale
// ones this record did not write, so the result equals a parse into a fresh Event.
class Fill {
 public:
  explicit Fill(Event& ev) : ev_(ev) {}

  /// Clears `ev` for a new record, keeping the capacity of its strings and of `extra`.
  void begin_reuse() {
    Event& e = ev_;
    reset_scalars(e);
    e.raw.clear();
    stale_ = 0;
    for (size_t i = 0; i < kDistinctStringSlots; ++i) {
      if (auto& slot = e.*kStringSlots[i]) {
        slot->clear();
        stale_ |= uint64_t{1} << i;
      }
    }
    extras_reused_ = true;
    extras_used_ = 0;
  }

  /// True if this record wrote `slot`.
  [[nodiscard]] bool has(const std::optional<std::string>& slot) const {
    return slot.has_value() && (stale_ == 0 || (stale_ & bit_of(slot)) == 0);
  }

  /// The (empty) string to write `slot`'s value into.
  std::string& set(std::optional<std::string>& slot) {
    if (stale_ != 0) stale_ &= ~bit_of(slot);
    if (slot) {
      slot->clear();
    } else {
      slot.emplace();
    }
    return *slot;
  }

  void set(std::optional<std::string>& slot, std::string_view value) {
    if (slot) {
      set(slot).assign(value.data(), value.size());
      return;
    }
    // Constructing in place is much cheaper than assigning into an empty string (_M_replace).
    if (stale_ != 0) stale_ &= ~bit_of(slot);
    slot.emplace(value.data(), value.size());
  }

  /// A new `extra` entry (empty key and value to fill in).
  std::pair<std::string, std::string>& add_extra() {
    auto& extra = ev_.extra;
    if (!extras_reused_) return extra.emplace_back();
    if (extras_used_ < extra.size()) {
      auto& entry = extra[extras_used_++];
      entry.first.clear();
      entry.second.clear();
      return entry;
    }
    ++extras_used_;
    return extra.emplace_back();
  }

  [[nodiscard]] std::pair<std::string, std::string>& last_extra() {
    return extras_reused_ ? ev_.extra[extras_used_ - 1] : ev_.extra.back();
  }

  /// Resets what the previous record left and this one did not write.
  void finish() {
    for (size_t i = 0; stale_ != 0 && i < kDistinctStringSlots; ++i) {
      if ((stale_ & (uint64_t{1} << i)) != 0) (ev_.*kStringSlots[i]).reset();
    }
    stale_ = 0;
    if (extras_reused_) ev_.extra.resize(extras_used_);
    extras_reused_ = false;
  }

  /// Forgets everything (a record that failed before its body): a fresh Event but for `raw`.
  void reset_keeping_raw() {
    std::string raw = std::move(ev_.raw);
    ev_ = Event{};
    ev_.raw = std::move(raw);
    stale_ = 0;
    extras_reused_ = false;
    extras_used_ = 0;
  }

  [[nodiscard]] Event& ev() { return ev_; }

 private:
  [[nodiscard]] uint64_t bit_of(const std::optional<std::string>& slot) const {
    for (size_t i = 0; i < kDistinctStringSlots; ++i) {
      if (&(ev_.*kStringSlots[i]) == &slot) return uint64_t{1} << i;
    }
    return 0;
  }

  Event& ev_;
  uint64_t stale_ = 0;  ///< Bit i: kStringSlots[i] holds nothing of this record yet.
  bool extras_reused_ = false;
  size_t extras_used_ = 0;
};

// ---- the record parser -----------------------------------------------------------------------

class RecordParser {
 public:
  /// `lean`: run every check but keep only what the event type and record_class() need (the
  /// counting path); the other values are validated and dropped instead of being allocated.
  explicit RecordParser(Fill& fill, bool line_has_high_bit, bool lean = false)
      : fill_(fill), event_(fill.ev()), check_utf8_(line_has_high_bit), lean_(lean) {}

  /// Parses key=value pairs of `s` from `pos`. With `terminator` (the `'` closing a USER_AVC
  /// msg), stops after it and sets `closed`. False on error (see error()).
  bool parse_keys(std::string_view s, size_t& pos_out, char terminator, bool& closed) {
    // The scan runs on a local copy: through the reference every step was a store to memory.
    size_t pos = pos_out;
    struct WriteBack {
      size_t& out;
      const size_t& value;
      ~WriteBack() { out = value; }
    } write_back{pos_out, pos};
    const size_t n = s.size();
    while (true) {
      while (pos < n && is_space(s[pos])) ++pos;
      if (pos >= n) return true;
      if (terminator != '\0' && s[pos] == terminator) {
        ++pos;
        closed = true;
        return true;
      }
      const size_t key_start = pos;
      pos = key_end(s, pos);
      if (pos == key_start || pos >= n || s[pos] != '=') {
        // `subj=/usr/sbin/cupsd (enforce)`: the mode suffix is unquoted and follows a space.
        if (eq(last_key_, "subj") && s[key_start] == '(' && saw_extra_) {
          pos = key_start;
          while (pos < n && !is_space(s[pos]) && s[pos] != terminator) ++pos;
          if (!lean_) {
            std::string& subj = fill_.last_extra().second;
            subj += ' ';
            subj.append(s.substr(key_start, pos - key_start));
          }
          continue;
        }
        // libapparmor keeps the unparsed remainder as `info`; so do we, for the user to see.
        fill_.set(event_.info, s.substr(key_start));
        return fail("", "unexpected text '" + excerpt(s.substr(key_start)) +
                            "' where key=value was expected");
      }
      // Direct views, not substr(): the positions are in range, and substr's check and throw
      // path cost 3 % in this loop.
      const std::string_view key(s.data() + key_start, pos - key_start);
      ++pos;  // '='
      std::string_view value;
      bool quoted = false;
      if (pos < n && s[pos] == '"') {
        // No escapes inside quotes: a value holding '"' is always hex-encoded (records.md §1.2).
        const size_t close = find_quote(s, pos + 1);
        if (close == std::string_view::npos) {
          return fail(std::string(key), "unterminated quote in " + std::string(key) + "=");
        }
        value = std::string_view(s.data() + pos + 1, close - pos - 1);
        pos = close + 1;
        quoted = true;
      } else if (pos < n && s[pos] == '\'' && eq(key, "msg") && terminator == '\0') {
        ++pos;
        bool inner_closed = false;
        in_user_msg_ = true;
        if (!parse_keys(s, pos, '\'', inner_closed)) return false;
        in_user_msg_ = false;
        saw_user_msg_ = true;
        continue;
      } else {
        const size_t start = pos;
        pos = value_end(s, pos, terminator);
        value = std::string_view(s.data() + start, pos - start);
      }
      last_key_ = key;
      if (!apply(key, value, quoted)) return false;
    }
  }

  bool fail(std::string field, std::string message) {
    error_ = ParseError{ParseError::Kind::kInvalid, std::move(field), std::move(message)};
    return false;
  }

  [[nodiscard]] const std::optional<ParseError>& error() const { return error_; }
  [[nodiscard]] bool saw_apparmor() const { return saw_apparmor_; }
  [[nodiscard]] bool saw_legacy_type() const { return saw_legacy_type_; }
  void set_user_avc_outer(bool v) { user_avc_outer_ = v; }

 private:
  static std::string excerpt(std::string_view s) {
    std::string out(s.substr(0, 40));
    for (char& c : out) {
      if (static_cast<unsigned char>(c) < 0x20 || static_cast<unsigned char>(c) >= 0x7f) c = '?';
    }
    if (s.size() > 40) out += "…";
    return out;
  }

  // kInvalid: the check failed (see error()). A plain enum, not std::optional: the optional's
  // two-part return went through the stack and stalled on store forwarding in the hot loop.
  enum class Encoding : uint8_t { kInvalid, kPlain, kHex };

  // Checks one string value: both modes (lean or not) accept and reject exactly the same records,
  // and nothing is written before the check passed (a failed record keeps its earlier fields).
  [[gnu::always_inline]] Encoding check_string(Field f, std::string_view key,
                                               std::string_view value, bool quoted) {
    // Most values are quoted ASCII: nothing to check, and no call (the call was 3 % of the
    // instructions of `parse --count`).
    if (quoted && !check_utf8_) return Encoding::kPlain;
    return check_string_slow(f, key, value, quoted);
  }

  [[gnu::noinline]] Encoding check_string_slow(Field f, std::string_view key,
                                               std::string_view value, bool quoted) {
    if (!quoted && is_untrusted(f) && !value.empty() &&
        std::ranges::all_of(value, [](char c) { return is_upper_hex(c); })) {
      if (value.size() % 2 != 0) return fail_value(key, "odd-length hex value in ", "=");
      if (is_label(f) && !valid_utf8_hex(value)) {
        return fail_value(key, "hex value of ", "= is not a label (invalid UTF-8)");
      }
      return Encoding::kHex;
    }
    if (check_utf8_ && !valid_utf8(value)) return fail_value(key, "invalid UTF-8 in ", "=");
    return Encoding::kPlain;
  }

  // Out of line: the message building would otherwise bloat the hot check's stack frame.
  [[gnu::cold, gnu::noinline]] Encoding fail_value(std::string_view key, std::string_view before,
                                                   std::string_view after) {
    std::string message(before);
    message.append(key).append(after);
    fail(std::string(key), std::move(message));
    return Encoding::kInvalid;
  }

  void decode_into(std::optional<std::string>& slot, std::string_view value, Encoding encoding) {
    if (encoding == Encoding::kHex) {
      hex_decode_into(fill_.set(slot), value);
    } else {
      fill_.set(slot, value);
    }
  }

  static void decode_into(std::string& out, std::string_view value, Encoding encoding) {
    if (encoding == Encoding::kHex) {
      hex_decode_into(out, value);
    } else {
      out.assign(value.data(), value.size());
    }
  }

  // The fields record_class() reads; everything else is dropped in lean mode.
  static bool kept_when_lean(Field f) {
    return f == Field::kOperation || f == Field::kClass || f == Field::kFamily ||
           f == Field::kSockType;
  }

  template <typename T>
  bool number_into(std::optional<T>& slot, std::string_view key, std::string_view value) {
    const auto n = to_number<T>(value);
    if (!n) return fail(std::string(key), "expected a number in " + std::string(key) + "=");
    slot = *n;
    return true;
  }

  // Inlined into apply()'s cases: the call was 5 % of the instructions of `parse --count`.
  [[gnu::always_inline]] bool string_into(std::optional<std::string>& slot, Field f,
                                          std::string_view key, std::string_view value,
                                          bool quoted) {
    const Encoding encoding = check_string(f, key, value, quoted);
    if (encoding == Encoding::kInvalid) return false;
    if (!lean_ || kept_when_lean(f)) decode_into(slot, value, encoding);
    return true;
  }

  // An entry of `extra`; `prefix` goes before the key.
  bool extra_into(Field f, std::string_view prefix, std::string_view key, std::string_view value,
                  bool quoted) {
    const Encoding encoding = check_string(f, key, value, quoted);
    if (encoding == Encoding::kInvalid) return false;
    if (lean_) return true;
    auto& [k, v] = fill_.add_extra();
    k.assign(prefix).append(key);
    decode_into(v, value, encoding);
    return true;
  }

  bool apply(std::string_view key, std::string_view value, bool quoted) {
    // Outside the msg='…' of a USER_AVC, keys describe the sending process, not the request.
    if (user_avc_outer_ && !in_user_msg_) {
      // The kernel writes the sender's uid= before msg='; the message text is the sender's own
      // and can close the quote and append " uid=0": only the first uid= is the kernel's.
      if (eq(key, "uid") && !event_.sender_uid) {
        if (const auto uid = to_number<uint64_t>(value)) event_.sender_uid = *uid;
        return true;
      }
      saw_extra_ = true;
      const bool enriched =
          std::ranges::all_of(key, [](char c) { return !(c >= 'a' && c <= 'z'); });
      return extra_into(Field::kUnknown, enriched ? "" : "sender_", key, value, quoted);
    }
    const Field f = field_of(key);
    switch (f) {
      case Field::kApparmor: {
        const auto type = event_of_apparmor_value(value);
        if (!type) return fail("apparmor", "unknown apparmor=\"" + excerpt(value) + "\"");
        event_.event = *type;
        saw_apparmor_ = true;
        return true;
      }
      case Field::kType: {
        const auto number = to_number<int>(value);
        if (!number) return fail("type", "expected a number in type=");
        event_.event = event_of_type_number(*number);
        if (*number >= 1500 && *number <= 1599) {
          saw_legacy_type_ = true;
          event_.record_type = *number;
        }
        return true;
      }
      case Field::kOperation:
        return string_into(event_.operation, f, key, value, quoted);
      case Field::kClass:
        return string_into(event_.rule_class, f, key, value, quoted);
      case Field::kInfo:
        return string_into(event_.info, f, key, value, quoted);
      case Field::kPeerInfo:
        return string_into(event_.info_peer, f, key, value, quoted);
      case Field::kError: {
        const auto n = to_number<int>(value);
        if (!n) return fail("error", "expected a number in error=");
        event_.error_code = *n;
        return true;
      }
      case Field::kRequested:
        return string_into(event_.requested_mask, f, key, value, quoted);
      case Field::kDenied:
        return string_into(event_.denied_mask, f, key, value, quoted);
      case Field::kFsuid:
        return number_into(event_.fsuid, key, value);
      case Field::kOuid:
        return number_into(event_.ouid, key, value);
      case Field::kProfile:
        return string_into(event_.profile, f, key, value, quoted);
      case Field::kNamespace:
        return string_into(event_.ns, f, key, value, quoted);
      case Field::kPeerProfile:
        return string_into(event_.peer_profile, f, key, value, quoted);
      case Field::kPeer:
        return string_into(event_.peer, f, key, value, quoted);
      case Field::kName:
        return string_into(event_.name, f, key, value, quoted);
      case Field::kName2:
        return string_into(event_.name2, f, key, value, quoted);
      case Field::kComm:
        return string_into(event_.comm, f, key, value, quoted);
      case Field::kCapname:
        // Older kernels reported the capability in name=; libapparmor still maps it there.
        return string_into(event_.name, f, key, value, quoted);
      case Field::kAttribute:
        return string_into(event_.attribute, f, key, value, quoted);
      case Field::kTask:
        return number_into(event_.task, key, value);
      case Field::kParent:
        return number_into(event_.parent, key, value);
      case Field::kMagicToken:
        return number_into(event_.magic_token, key, value);
      case Field::kPid:
        return number_into(event_.pid, key, value);
      case Field::kPeerPid:
        return number_into(event_.peer_pid, key, value);
      case Field::kFamily:
        return string_into(event_.net_family, f, key, value, quoted);
      case Field::kSockType:
        return string_into(event_.net_sock_type, f, key, value, quoted);
      case Field::kProtocol:
        if (!quoted && all_digits(value)) {
          if (!lean_) protocol_name_into(fill_.set(event_.net_protocol), value);
          return true;
        }
        return string_into(event_.net_protocol, f, key, value, quoted);
      case Field::kLaddr:
        return string_into(event_.net_local_addr, f, key, value, quoted);
      case Field::kFaddr:
        return string_into(event_.net_foreign_addr, f, key, value, quoted);
      case Field::kLport:
        return number_into(event_.net_local_port, key, value);
      case Field::kFport:
        return number_into(event_.net_foreign_port, key, value);
      case Field::kAddr:
      case Field::kPeerAddr: {
        // `none` (no address) and dbus' `addr=?` are markers, not addresses.
        if (!quoted && (eq(value, "none") || eq(value, "?"))) break;
        return string_into(f == Field::kAddr ? event_.net_addr : event_.peer_addr, f, key, value,
                           quoted);
      }
      case Field::kBus:
        return string_into(event_.dbus_bus, f, key, value, quoted);
      case Field::kPath:
        return string_into(event_.dbus_path, f, key, value, quoted);
      case Field::kInterface:
        return string_into(event_.dbus_interface, f, key, value, quoted);
      case Field::kMember:
        return string_into(event_.dbus_member, f, key, value, quoted);
      case Field::kSignal:
        return string_into(event_.signal, f, key, value, quoted);
      case Field::kFstype:
        return string_into(event_.fs_type, f, key, value, quoted);
      case Field::kFlags:
        return string_into(event_.flags, f, key, value, quoted);
      case Field::kSrcname:
        return string_into(event_.src_name, f, key, value, quoted);
      case Field::kExecpath:
        return string_into(event_.execpath, f, key, value, quoted);
      case Field::kUntrustedExtra:
      case Field::kUnknown:
        break;
    }
    saw_extra_ = true;
    return extra_into(f, "", key, value, quoted);
  }

  Fill& fill_;
  Event& event_;
  bool check_utf8_;
  bool lean_;
  bool saw_extra_ = false;  ///< An `extra` entry was (or, lean, would have been) added.
  std::optional<ParseError> error_;
  std::string_view last_key_;
  bool saw_apparmor_ = false;
  bool saw_legacy_type_ = false;
  bool user_avc_outer_ = false;
  bool in_user_msg_ = false;
  bool saw_user_msg_ = false;
};

// ---- containers ------------------------------------------------------------------------------

// `audit(1279948288.415:39):` at `pos`; fills the event's header fields.
bool parse_audit_id(std::string_view s, size_t& pos, Fill& fill, bool lean) {
  if (!starts_with(s, pos, "audit(")) return false;
  size_t p = pos + 6;
  const size_t n = s.size();
  // The digits' value is summed in the same pass (every record has this header); a run longer
  // than to_number's plain-loop limit (kSafeDigits) goes to to_number, which decides overflow.
  struct Digits {
    std::string_view text;
    uint64_t value = 0;
  };
  const char* data = s.data();
  auto digits = [data, n](size_t& q_out) {
    size_t q = q_out;  // a local: through the reference every digit was a store
    const size_t start = q;
    uint64_t value = 0;
    while (q < n && is_digit(data[q])) {
      value = value * 10 + static_cast<uint64_t>(data[q] - '0');
      ++q;
    }
    q_out = q;
    return Digits{std::string_view(data + start, q - start), value};
  };
  const Digits sec = digits(p);
  if (sec.text.empty() || p >= n || s[p] != '.') return false;
  ++p;
  const Digits msec = digits(p);
  if (msec.text.empty() || p >= n || s[p] != ':') return false;
  ++p;
  const Digits serial = digits(p);
  if (serial.text.empty() || p >= n || s[p] != ')') return false;
  const auto epoch = sec.text.size() <= 18 ? std::optional<int64_t>(static_cast<int64_t>(sec.value))
                                           : to_number<int64_t>(sec.text);
  const auto ms = msec.text.size() <= 9 ? std::optional<uint32_t>(static_cast<uint32_t>(msec.value))
                                        : to_number<uint32_t>(msec.text);
  const auto sub = serial.text.size() <= 9
                       ? std::optional<uint32_t>(static_cast<uint32_t>(serial.value))
                       : to_number<uint32_t>(serial.text);
  if (!epoch || !ms || !sub) return false;
  Event& ev = fill.ev();
  if (!lean) fill.set(ev.audit_id, s.substr(pos + 6, p - pos - 6));
  ev.epoch = *epoch;
  ev.audit_msec = *ms;
  ev.audit_sub_id = *sub;
  ++p;
  if (p < n && s[p] == ':') ++p;
  pos = p;
  return true;
}

// `[ 1911.569682]` (dmesg/kern.log uptime stamp).
std::optional<std::string_view> parse_dmesg_stamp(std::string_view s, size_t& pos) {
  if (pos >= s.size() || s[pos] != '[') return std::nullopt;
  size_t p = pos + 1;
  while (p < s.size() && s[p] == ' ') ++p;
  const size_t start = p;
  while (p < s.size() && is_digit(s[p])) ++p;
  if (p == start || p >= s.size() || s[p] != '.') return std::nullopt;
  ++p;
  const size_t frac = p;
  while (p < s.size() && is_digit(s[p])) ++p;
  if (p == frac || p >= s.size() || s[p] != ']') return std::nullopt;
  const auto stamp = s.substr(start, p - start);
  pos = p + 1;
  return stamp;
}

// HH:MM:SS[.frac][Z|±HH:MM|±HHMM]
bool parse_clock(std::string_view s, size_t& p) {
  for (int i = 0; i < 3; ++i) {
    if (p + 2 > s.size() || !is_digit(s[p]) || !is_digit(s[p + 1])) return false;
    p += 2;
    if (i < 2) {
      if (p >= s.size() || s[p] != ':') return false;
      ++p;
    }
  }
  if (p < s.size() && (s[p] == '.' || s[p] == ',')) {
    ++p;
    while (p < s.size() && is_digit(s[p])) ++p;
  }
  if (p < s.size() && s[p] == 'Z') {
    ++p;
  } else if (p < s.size() && (s[p] == '+' || s[p] == '-')) {
    ++p;
    while (p < s.size() && (is_digit(s[p]) || s[p] == ':')) ++p;
  }
  return true;
}

// A syslog timestamp: `Mon DD HH:MM:SS…` or ISO 8601 `YYYY-MM-DDTHH:MM:SS…`.
std::optional<std::string_view> parse_syslog_time(std::string_view s, size_t& pos) {
  size_t p = pos;
  // Month names packed as 3-byte integers: one load and up to 12 integer compares per line.
  static constexpr std::array<std::string_view, 12> kMonths{
      "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
  auto is_month = [](const char* m) {
    const auto pack = [](const char* c) {
      return static_cast<uint32_t>(static_cast<unsigned char>(c[0])) |
             static_cast<uint32_t>(static_cast<unsigned char>(c[1])) << 8 |
             static_cast<uint32_t>(static_cast<unsigned char>(c[2])) << 16;
    };
    const uint32_t v = pack(m);
    return std::ranges::any_of(kMonths,
                               [&](std::string_view name) { return pack(name.data()) == v; });
  };
  if (s.size() >= p + 4 && is_month(s.data() + p) && s[p + 3] == ' ') {
    p = skip_spaces(s, p + 3);
    const size_t day = p;
    while (p < s.size() && is_digit(s[p])) ++p;
    if (p == day || p - day > 2 || p >= s.size() || s[p] != ' ') return std::nullopt;
    p = skip_spaces(s, p);
    if (!parse_clock(s, p)) return std::nullopt;
  } else if (s.size() >= p + 11 && is_digit(s[p]) && is_digit(s[p + 3]) && s[p + 4] == '-' &&
             s[p + 7] == '-' && (s[p + 10] == 'T' || s[p + 10] == ' ')) {
    p += 11;
    if (!parse_clock(s, p)) return std::nullopt;
  } else {
    return std::nullopt;
  }
  if (p >= s.size() || s[p] != ' ') return std::nullopt;
  const auto stamp = s.substr(pos, p - pos);
  pos = p;
  return stamp;
}

struct Envelope {
  Container container = Container::kUnknown;
  Trust trust = Trust::kUnverified;
  RecordType type;
  std::string_view type_name;
  bool has_header = false;  ///< An audit(…) id was present.
  bool lean = false;        ///< Input: skip the text fields (audit id, host, timestamp).
  size_t body = 0;          ///< Offset of the key=value body in the line.
};

enum class EnvelopeResult { kOk, kNotRecord, kBadAuditId, kUnknownPrefix };

// After a kernel text prefix (dmesg stamp / "kernel:" / kmsg): `[stamp] [audit: ][type=N ]audit(…):
// `.
EnvelopeResult parse_kernel_text(std::string_view s, size_t pos, Envelope& env, Fill& fill,
                                 bool allow_bare_body) {
  pos = skip_spaces(s, pos);
  if (auto stamp = parse_dmesg_stamp(s, pos)) {
    if (!env.lean && !fill.has(fill.ev().timestamp)) fill.set(fill.ev().timestamp, *stamp);
    pos = skip_spaces(s, pos);
  }
  if (starts_with(s, pos, "audit: ")) pos = skip_spaces(s, pos + 7);
  if (starts_with(s, pos, "type=")) {
    size_t p = pos + 5;
    const size_t start = p;
    while (p < s.size() && !is_space(s[p])) ++p;
    const auto name = s.substr(start, p - start);
    p = skip_spaces(s, p);
    if (!starts_with(s, p, "audit(")) return EnvelopeResult::kNotRecord;
    env.type = classify_type_name(name);
    env.type_name = name;
    pos = p;
  }
  if (starts_with(s, pos, "audit(")) {
    if (!parse_audit_id(s, pos, fill, env.lean)) return EnvelopeResult::kBadAuditId;
    env.has_header = true;
    env.body = pos;
    return EnvelopeResult::kOk;
  }
  // dbus-daemon's syslog fallback writes the body with no audit header at all.
  if (allow_bare_body && starts_with(s, pos, "apparmor=")) {
    env.body = pos;
    return EnvelopeResult::kOk;
  }
  return EnvelopeResult::kNotRecord;
}

EnvelopeResult parse_envelope(std::string_view s, Envelope& env, Fill& fill) {
  size_t pos = 0;
  // journalctl -o export: MESSAGE=<kmsg text>, or MESSAGE=AVC <body> from the audit transport.
  if (starts_with(s, 0, "MESSAGE=")) {
    env.container = Container::kJournal;
    env.trust = Trust::kKernel;
    pos = 8;
    for (std::string_view name : {std::string_view("AVC "), std::string_view("USER_AVC ")}) {
      if (starts_with(s, pos, name)) {
        env.type_name = name.substr(0, name.size() - 1);
        env.type = classify_type_name(env.type_name);
        env.body = pos + name.size();
        return EnvelopeResult::kOk;
      }
    }
    return parse_kernel_text(s, pos, env, fill, false);
  }
  // /dev/kmsg: `5,364,2875192,-;audit: type=1400 …`
  if (!s.empty() && is_digit(s[0])) {
    size_t p = 0;
    int commas = 0;
    while (p < s.size() &&
           (is_digit(s[p]) || s[p] == ',' || s[p] == '-' || s[p] == '+' || s[p] == 'c')) {
      commas += s[p] == ',';
      ++p;
    }
    if (commas >= 3 && p < s.size() && s[p] == ';') {
      env.container = Container::kDmesg;
      env.trust = Trust::kKernel;
      return parse_kernel_text(s, p + 1, env, fill, false);
    }
  }
  // auditd: `[node=NAME ]type=NAME msg=audit(…): body`
  if (starts_with(s, 0, "node=")) {
    while (pos < s.size() && !is_space(s[pos])) ++pos;
    pos = skip_spaces(s, pos);
  }
  if (starts_with(s, pos, "type=")) {
    size_t p = pos + 5;
    const size_t start = p;
    while (p < s.size() && !is_space(s[p])) ++p;
    env.type_name = s.substr(start, p - start);
    env.type = classify_type_name(env.type_name);
    env.container = Container::kAuditLog;
    env.trust = Trust::kAuditDaemon;
    p = skip_spaces(s, p);
    if (starts_with(s, p, "msg=")) {
      p += 4;
      if (!parse_audit_id(s, p, fill, env.lean)) return EnvelopeResult::kBadAuditId;
      env.has_header = true;
      env.body = p;
      return EnvelopeResult::kOk;
    }
    // Netlink text as the live source renders it: `type=1400 audit(…): body`.
    if (starts_with(s, p, "audit(")) {
      env.container = Container::kNetlink;
      env.trust = Trust::kKernel;
      if (!parse_audit_id(s, p, fill, env.lean)) return EnvelopeResult::kBadAuditId;
      env.has_header = true;
      env.body = p;
      return EnvelopeResult::kOk;
    }
    return EnvelopeResult::kNotRecord;
  }
  if (pos > 0) return EnvelopeResult::kUnknownPrefix;
  // kmsg text without its `prio,seq,usec,flags;` prefix (the live kmsg source hands this over).
  if (starts_with(s, 0, "audit: ")) {
    env.container = Container::kDmesg;
    env.trust = Trust::kKernel;
    return parse_kernel_text(s, 0, env, fill, false);
  }
  if (starts_with(s, 0, "[")) {
    env.container = Container::kDmesg;
    env.trust = Trust::kKernel;
    size_t p = 0;
    if (!parse_dmesg_stamp(s, p)) return EnvelopeResult::kUnknownPrefix;
    return parse_kernel_text(s, 0, env, fill, false);
  }
  if (starts_with(s, 0, "audit(") || starts_with(s, 0, "apparmor=")) {
    env.container = Container::kBare;
    env.trust = Trust::kUnverified;
    return parse_kernel_text(s, 0, env, fill, true);
  }
  // syslog: `<time> [host ]program[pid]: text`
  size_t p = 0;
  const auto stamp = parse_syslog_time(s, p);
  if (!stamp) return EnvelopeResult::kUnknownPrefix;
  if (!env.lean) fill.set(fill.ev().timestamp, *stamp);
  p = skip_spaces(s, p);
  auto token = [&]() {
    const size_t start = p;
    while (p < s.size() && !is_space(s[p])) ++p;
    const auto t = s.substr(start, p - start);
    p = skip_spaces(s, p);
    return t;
  };
  std::string_view program = token();
  if (!program.ends_with(':')) {
    if (!env.lean) fill.set(fill.ev().host, program);
    program = token();
    if (!program.ends_with(':')) return EnvelopeResult::kNotRecord;
  }
  program.remove_suffix(1);
  if (const size_t bracket = program.find('['); bracket != std::string_view::npos) {
    program = program.substr(0, bracket);
  }
  env.container = Container::kSyslog;
  // Only the kernel writes with the kernel's name (socklog tags it kern.<level>); anything else
  // could be `logger` output and is unverified.
  const bool kernel = program == "kernel" || program.starts_with("kern.");
  env.trust = kernel ? Trust::kKernel : Trust::kUnverified;
  return parse_kernel_text(s, p, env, fill, true);
}

ParseError not_apparmor(std::string message) {
  return ParseError{ParseError::Kind::kNotAppArmor, "", std::move(message)};
}

}  // namespace

namespace {

// Fills the event in place (the Event is large; moving it around costs more than parsing it). On
// error it holds the partial record and its event is kInvalid.
// `lean` keeps only what classify_line() promises (see RecordParser).
// `scanned`: the line's byte facts when the caller has them already (scan_line()).
std::optional<ParseError> parse_body(Fill& fill, std::string_view line, bool lean,
                                     const LineBytes* scanned) {
  Event& ev = fill.ev();
  if (!lean) ev.raw.assign(line.data(), line.size());
  auto invalid = [&](ParseError error) {
    ev.event = EventType::kInvalid;
    return std::optional<ParseError>(std::move(error));
  };
  auto reset_partial = [&] { fill.reset_keeping_raw(); };
  const LineBytes bytes = scanned != nullptr ? *scanned : scan_line_bytes(line);
  if (bytes.nul) {
    if (!may_be_apparmor(line)) return invalid(not_apparmor("not an AppArmor record"));
    return invalid(ParseError{ParseError::Kind::kInvalid, "",
                              "NUL byte at column " + std::to_string(line.find('\0') + 1)});
  }
  Envelope env;
  env.lean = lean;
  switch (parse_envelope(line, env, fill)) {
    case EnvelopeResult::kOk:
      break;
    case EnvelopeResult::kNotRecord:
      return invalid(not_apparmor("not an AppArmor record"));
    case EnvelopeResult::kBadAuditId:
      reset_partial();
      if (!may_be_apparmor(line)) return invalid(not_apparmor("not an AppArmor record"));
      return invalid(ParseError{ParseError::Kind::kInvalid, "audit id",
                                "malformed audit(<sec>.<ms>:<serial>) id"});
    case EnvelopeResult::kUnknownPrefix:
      reset_partial();
      if (!may_be_apparmor(line)) return invalid(not_apparmor("not an AppArmor record"));
      return invalid(ParseError{ParseError::Kind::kInvalid, "",
                                "unrecognised text before the record (not audit.log, syslog, "
                                "dmesg or journal format)"});
  }
  ev.container = env.container;
  ev.trust = env.trust;
  ev.record_type = env.type.number;
  ev.record_type_name.assign(env.type_name.data(), env.type_name.size());
  ev.event = env.type.preset;

  size_t pos = env.body;
  while (pos < line.size() && is_space(line[pos])) ++pos;

  if (env.type.kind == RecordKind::kForeign) {
    // libapparmor's reading of a foreign record: the type name as operation, the body as info.
    fill.set(ev.operation, env.type_name);
    fill.set(ev.info, line.substr(pos));
    if (env.type_name == "APPARMOR") {
      return invalid(ParseError{ParseError::Kind::kInvalid, "",
                                "AppArmor 2.0 free-text record (type=APPARMOR) is not supported"});
    }
    return invalid(not_apparmor("not an AppArmor record"));
  }

  RecordParser parser(fill, bytes.high_bit, lean);
  const bool user_avc = env.type.kind == RecordKind::kUserAvc;
  parser.set_user_avc_outer(user_avc);
  bool closed = false;
  const bool ok = parser.parse_keys(line, pos, '\0', closed);

  const bool is_apparmor =
      env.type.kind == RecordKind::kLegacy || parser.saw_apparmor() || parser.saw_legacy_type();
  if (!ok) {
    ParseError error = *parser.error();
    // A malformed record that never claimed to be AppArmor (an SELinux AVC, say) is noise.
    const bool claimed =
        is_apparmor || line.substr(env.body).find("apparmor=") != std::string_view::npos;
    if (!claimed) error.kind = ParseError::Kind::kNotAppArmor;
    return invalid(std::move(error));
  }
  if (!is_apparmor) return invalid(not_apparmor("not an AppArmor record"));
  if (ev.event == EventType::kInvalid) {
    return invalid(ParseError{ParseError::Kind::kInvalid, "apparmor",
                              "record type " + std::string(env.type_name) +
                                  " does not say what happened (no apparmor= key)"});
  }
  if (user_avc && (ev.trust == Trust::kKernel || ev.trust == Trust::kAuditDaemon)) {
    ev.trust = Trust::kUserspaceAudit;
  }
  return std::nullopt;
}

// `reuse`: `ev` holds an earlier record whose string capacity is worth keeping (see Fill).
std::optional<ParseError> parse_into(Event& ev, std::string_view line, bool lean, bool reuse,
                                     const LineBytes* scanned = nullptr) {
  Fill fill(ev);
  if (reuse) fill.begin_reuse();
  auto error = parse_body(fill, line, lean, scanned);
  fill.finish();
  return error;
}

}  // namespace

ParseOutcome parse_record(std::string_view line) {
  ParseOutcome outcome;
  outcome.error = parse_into(outcome.event, line, false, false);
  return outcome;
}

std::expected<Event, ParseError> parse_line(std::string_view line) {
  if (!may_be_apparmor(line)) return std::unexpected(not_apparmor("not an AppArmor record"));
  std::expected<Event, ParseError> result(std::in_place);
  if (auto error = parse_into(*result, line, false, false)) {
    return std::unexpected(std::move(*error));
  }
  return result;
}

std::optional<ParseError> parse_line_into(std::string_view line, Event& event) {
  if (!may_be_apparmor(line)) {
    // The event's strings stay allocated for the next record; only its verdict changes.
    event.event = EventType::kInvalid;
    return not_apparmor("not an AppArmor record");
  }
  return parse_into(event, line, false, true);
}

namespace {

// Clears what a lean parse can write. The generic reuse (Fill::begin_reuse) looks at every
// string of the Event; a lean parse writes only these, and the others stay empty throughout.
void clear_lean_fields(Event& e) {
  reset_scalars(e);
  e.operation.reset();
  e.rule_class.reset();
  e.info.reset();
  e.net_family.reset();
  e.net_sock_type.reset();
}

void begin_lean(Event& event) {
  if (event.raw.empty() && !event.profile && !event.name && event.extra.empty()) {
    clear_lean_fields(event);
  } else {
    event = Event{};  // a caller's full Event: start from scratch once
  }
}

}  // namespace

std::optional<ParseError> classify_line(std::string_view line, Event& event) {
  begin_lean(event);
  if (!may_be_apparmor(line)) return not_apparmor("not an AppArmor record");
  return parse_into(event, line, true, false);
}

std::optional<ParseError> classify_scanned(std::string_view line, const LineFacts& facts,
                                           Event& event) {
  begin_lean(event);
  if (!facts.may_be_apparmor) return not_apparmor("not an AppArmor record");
  const LineBytes bytes{facts.nul, facts.high_bit};
  return parse_into(event, line, true, false, &bytes);
}

std::optional<Companion> parse_companion(std::string_view line) {
  Event header;
  Fill fill(header);
  Envelope env;
  if (parse_envelope(line, env, fill) != EnvelopeResult::kOk || !env.has_header) {
    return std::nullopt;
  }
  static constexpr std::array<std::pair<std::string_view, std::string_view>, 5> kTypes{{
      {"SYSCALL", "1300"},
      {"PROCTITLE", "1327"},
      {"CWD", "1307"},
      {"PATH", "1302"},
      {"EOE", "1320"},
  }};
  std::string type;
  for (const auto& [name, number] : kTypes) {
    if (env.type_name == name || env.type_name == number) type = std::string(name);
  }
  if (type.empty()) return std::nullopt;
  Companion c;
  c.type = std::move(type);
  c.audit_id = std::move(header.audit_id);
  c.epoch = header.epoch;
  c.audit_sub_id = header.audit_sub_id;
  c.raw = std::string(line);
  // Lenient tokenizer: evidence, not policy, so an odd token is skipped rather than fatal.
  size_t p = env.body;
  const std::string_view s = line;
  while (p < s.size()) {
    while (p < s.size() && is_space(s[p])) ++p;
    const size_t key_start = p;
    while (p < s.size() && is_key_char(s[p])) ++p;
    if (p == key_start || p >= s.size() || s[p] != '=') {
      const size_t word = key_start;
      while (p < s.size() && !is_space(s[p])) ++p;
      if (c.type == "SYSCALL" && !c.fields.empty() && c.fields.back().first == "subj") {
        c.fields.back().second += ' ';
        c.fields.back().second.append(s.substr(word, p - word));
      }
      if (p == key_start) ++p;
      continue;
    }
    const auto key = s.substr(key_start, p - key_start);
    ++p;
    std::string value;
    if (p < s.size() && s[p] == '"') {
      const size_t close = s.find('"', p + 1);
      const size_t end = close == std::string_view::npos ? s.size() : close;
      value = std::string(s.substr(p + 1, end - p - 1));
      p = close == std::string_view::npos ? s.size() : close + 1;
    } else {
      const size_t start = p;
      while (p < s.size() && !is_space(s[p])) ++p;
      const auto raw = s.substr(start, p - start);
      const bool hex_key =
          key == "proctitle" || key == "name" || key == "cwd" || key == "exe" || key == "comm";
      if (hex_key && !raw.empty() && raw.size() % 2 == 0 &&
          std::ranges::all_of(raw, [](char ch) { return is_upper_hex(ch); })) {
        value = hex_decode(raw);
        if (key == "proctitle") {
          // argv is NUL-separated; show it as a command line.
          while (!value.empty() && value.back() == '\0') value.pop_back();
          std::ranges::replace(value, '\0', ' ');
        }
      } else {
        value = std::string(raw);
      }
    }
    c.fields.emplace_back(std::string(key), std::move(value));
  }
  return c;
}

}  // namespace aatune::collector
