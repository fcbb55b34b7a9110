// The prefilter (may_be_apparmor) and the fused line scan share the needle test, so the two
// cannot drift apart: every AppArmor record holds `apparmor=` (1400/1107), `APPARMOR` (type
// names) or a legacy type number `150x` after '=' or '['. A SIMD pass compares the first and the
// last byte of each needle at 32 (or 16) positions at once and confirms the rare candidates.
// None of the needles holds a newline, so a needle confirmed against the bytes after a line's
// start lies wholly inside the line: scan_line() may confirm before it knows where the line ends.
#include "collector/line_scan.h"

#if defined(__SSE2__)
#include <emmintrin.h>
#endif
#if defined(__x86_64__) && defined(__GNUC__)
#include <immintrin.h>
#endif
#include <cstdint>
#include <cstring>
#include <string_view>

#include "collector/parser.h"

namespace aatune::collector {
namespace {

constexpr std::string_view kLowerNeedle = "apparmor=";
constexpr std::string_view kUpperNeedle = "APPARMOR";
constexpr std::string_view kLegacyNeedle = "150";

// Confirms a candidate position found by the first/last-byte test.
[[gnu::always_inline]] inline bool needle_at(const char* data, size_t size, size_t i) {
  return (i + kLowerNeedle.size() <= size &&
          std::memcmp(data + i, kLowerNeedle.data(), kLowerNeedle.size()) == 0) ||
         (i + kUpperNeedle.size() <= size &&
          std::memcmp(data + i, kUpperNeedle.data(), kUpperNeedle.size()) == 0) ||
         (i > 0 && i + kLegacyNeedle.size() <= size && (data[i - 1] == '=' || data[i - 1] == '[') &&
          std::memcmp(data + i, kLegacyNeedle.data(), kLegacyNeedle.size()) == 0);
}

[[gnu::always_inline]] inline bool may_start_needle(char c) {
  return c == 'a' || c == 'A' || c == '1';
}

#if defined(__x86_64__) && defined(__GNUC__)
// Loads reach i + 31 + 8 (the last byte of "apparmor="): a block needs 40 bytes.
constexpr size_t kAvx2Reach = 40;

// The needle candidates among the 32 positions at `p` (bit k: position k): the first and the
// last byte of each needle. (Testing the second byte too was measured: more work than it saves.)
[[gnu::target("avx2"), gnu::always_inline]] inline uint32_t candidates_avx2(const char* p,
                                                                            __m256i first) {
  const __m256i hits = _mm256_or_si256(
      _mm256_or_si256(
          _mm256_and_si256(
              _mm256_cmpeq_epi8(first, _mm256_set1_epi8('a')),
              _mm256_cmpeq_epi8(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(p + 8)),
                                _mm256_set1_epi8('='))),
          _mm256_and_si256(
              _mm256_cmpeq_epi8(first, _mm256_set1_epi8('A')),
              _mm256_cmpeq_epi8(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(p + 7)),
                                _mm256_set1_epi8('R')))),
      _mm256_and_si256(
          _mm256_cmpeq_epi8(first, _mm256_set1_epi8('1')),
          _mm256_cmpeq_epi8(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(p + 2)),
                            _mm256_set1_epi8('0'))));
  return static_cast<uint32_t>(_mm256_movemask_epi8(hits));
}

// 32 positions per step. Sets `i` to where it stopped; true if a needle was confirmed.
[[gnu::target("avx2")]] bool needle_avx2(const char* data, size_t size, size_t& i) {
  for (; i + kAvx2Reach <= size; i += 32) {
    const __m256i first = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(data + i));
    auto mask = candidates_avx2(data + i, first);
    while (mask != 0) {
      if (needle_at(data, size, i + static_cast<size_t>(__builtin_ctz(mask)))) return true;
      mask &= mask - 1;
    }
  }
  return false;
}

// scan_line() 32 bytes per step; stops at the newline or where a block would read past `avail`
// (`i` is then where the caller goes on, with `out` holding the facts of data[0, i)).
// True if the newline was found (out.length set).
[[gnu::target("avx2")]] bool scan_line_avx2(const char* data, size_t avail, size_t& i_out,
                                            ScannedLine& out) {
  size_t i = i_out;  // a local: through the reference every step stored to memory
  bool needle = false;
  // Blocks wholly before the newline are OR-ed as vectors (no mask work per block); only the
  // block holding the newline is cut at it.
  __m256i nul = _mm256_setzero_si256();
  __m256i high = _mm256_setzero_si256();
  __m256i quote = _mm256_setzero_si256();
  uint32_t last_nul = 0;
  uint32_t last_high = 0;
  uint32_t last_quote = 0;
  bool found = false;
  for (; i + kAvx2Reach <= avail; i += 32) {
    const __m256i v = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(data + i));
    const auto newlines =
        static_cast<uint32_t>(_mm256_movemask_epi8(_mm256_cmpeq_epi8(v, _mm256_set1_epi8('\n'))));
    const __m256i is_nul = _mm256_cmpeq_epi8(v, _mm256_setzero_si256());
    const __m256i is_quote = _mm256_cmpeq_epi8(v, _mm256_set1_epi8('\''));
    // Bits before the newline (all 32 when there is none in this block).
    const uint32_t keep = newlines == 0 ? ~0U : (newlines & -newlines) - 1;
    if (!needle) {
      auto mask = candidates_avx2(data + i, v) & keep;
      while (mask != 0) {
        if (needle_at(data, avail, i + static_cast<size_t>(__builtin_ctz(mask)))) {
          needle = true;
          break;
        }
        mask &= mask - 1;
      }
    }
    if (newlines != 0) {
      last_nul = static_cast<uint32_t>(_mm256_movemask_epi8(is_nul)) & keep;
      last_high = static_cast<uint32_t>(_mm256_movemask_epi8(v)) & keep;
      last_quote = static_cast<uint32_t>(_mm256_movemask_epi8(is_quote)) & keep;
      out.length = i + static_cast<size_t>(__builtin_ctz(newlines));
      out.newline = true;
      found = true;
      break;
    }
    nul = _mm256_or_si256(nul, is_nul);
    high = _mm256_or_si256(high, v);
    quote = _mm256_or_si256(quote, is_quote);
  }
  out.facts = LineFacts{needle, (_mm256_movemask_epi8(nul) != 0) || last_nul != 0,
                        (_mm256_movemask_epi8(high) != 0) || last_high != 0,
                        (_mm256_movemask_epi8(quote) != 0) || last_quote != 0};
  i_out = i;
  return found;
}

bool have_avx2() {
  return __builtin_cpu_supports("avx2") != 0;
}
#endif

}  // namespace

ScannedLine scan_line(const char* data, size_t avail) {
  ScannedLine out;
  size_t i = 0;
#if defined(__x86_64__) && defined(__GNUC__)
  if (have_avx2() && scan_line_avx2(data, avail, i, out)) return out;
#endif
  // The last bytes of the buffer (or a machine without AVX2): one byte at a time.
  LineFacts& facts = out.facts;
  for (; i < avail; ++i) {
    const char c = data[i];
    if (c == '\n') {
      out.length = i;
      out.newline = true;
      return out;
    }
    facts.nul = facts.nul || c == '\0';
    facts.high_bit = facts.high_bit || static_cast<unsigned char>(c) >= 0x80;
    facts.quote = facts.quote || c == '\'';
    if (!facts.may_be_apparmor && may_start_needle(c) && needle_at(data, avail, i)) {
      facts.may_be_apparmor = true;
    }
  }
  out.length = avail;
  return out;
}

bool may_be_apparmor(std::string_view line) {
  // This runs on every line a caller did not scan_line(), so it stops at the first needle.
  const char* data = line.data();
  const size_t size = line.size();
  size_t i = 0;
#if defined(__x86_64__) && defined(__GNUC__)
  if (size >= kAvx2Reach && have_avx2() && needle_avx2(data, size, i)) return true;
#endif
#if defined(__SSE2__)
  // Loads reach i + 15 + 8 (the last byte of "apparmor="), so stop 24 bytes before the end.
  if (size >= i + 24) {
    const __m128i a = _mm_set1_epi8('a');
    const __m128i eq = _mm_set1_epi8('=');
    const __m128i big_a = _mm_set1_epi8('A');
    const __m128i big_r = _mm_set1_epi8('R');
    const __m128i one = _mm_set1_epi8('1');
    const __m128i zero = _mm_set1_epi8('0');
    for (; i + 24 <= size; i += 16) {
      const auto* p = reinterpret_cast<const __m128i*>(data + i);
      const __m128i first = _mm_loadu_si128(p);
      const __m128i last8 = _mm_loadu_si128(reinterpret_cast<const __m128i*>(data + i + 8));
      const __m128i last7 = _mm_loadu_si128(reinterpret_cast<const __m128i*>(data + i + 7));
      const __m128i last2 = _mm_loadu_si128(reinterpret_cast<const __m128i*>(data + i + 2));
      const __m128i hits = _mm_or_si128(
          _mm_or_si128(_mm_and_si128(_mm_cmpeq_epi8(first, a), _mm_cmpeq_epi8(last8, eq)),
                       _mm_and_si128(_mm_cmpeq_epi8(first, big_a), _mm_cmpeq_epi8(last7, big_r))),
          _mm_and_si128(_mm_cmpeq_epi8(first, one), _mm_cmpeq_epi8(last2, zero)));
      auto mask = static_cast<unsigned>(_mm_movemask_epi8(hits));
      while (mask != 0) {
        if (needle_at(data, size, i + static_cast<size_t>(__builtin_ctz(mask)))) return true;
        mask &= mask - 1;
      }
    }
  }
#endif
  for (; i < size; ++i) {
    if (may_start_needle(data[i]) && needle_at(data, size, i)) return true;
  }
  return false;
}

}  // namespace aatune::collector
