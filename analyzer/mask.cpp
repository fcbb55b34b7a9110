#include "analyzer/mask.h"

namespace aatune::analyzer {
namespace {

constexpr std::string_view kOrder = "mrwalk";

std::string canonical(bool m, bool r, bool w, bool a, bool l, bool k) {
  std::string out;
  if (m) out += 'm';
  if (r) out += 'r';
  if (w) out += 'w';
  if (a && !w) out += 'a';
  if (l) out += 'l';
  if (k) out += 'k';
  return out;
}

}  // namespace

std::string file_perms_from_mask(std::string_view mask) {
  bool m = false, r = false, w = false, a = false, l = false, k = false;
  for (char c : mask) {
    switch (c) {
      case 'm':
        m = true;
        break;
      case 'r':
        r = true;
        break;
      case 'w':
      case 'c':
      case 'd':
        w = true;
        break;
      case 'a':
        a = true;
        break;
      case 'l':
        l = true;
        break;
      case 'k':
        k = true;
        break;
      default:
        break;  // x (exec), ':' (old owner::other form), unknown letters
    }
  }
  return canonical(m, r, w, a, l, k);
}

std::string merge_perms(std::string_view a, std::string_view b) {
  auto has = [&](char c) {
    return a.find(c) != std::string_view::npos || b.find(c) != std::string_view::npos;
  };
  static_assert(kOrder.size() == 6);
  return canonical(has('m'), has('r'), has('w'), has('a'), has('l'), has('k'));
}

}  // namespace aatune::analyzer
