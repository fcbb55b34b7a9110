#include "collector/label.h"

namespace aatune::collector {
namespace {

LabelPart split_one(std::string_view text) {
  LabelPart part;
  // `:ns:name` (or `:ns//sub:name`) names a profile in another policy namespace.
  if (text.size() > 1 && text[0] == ':') {
    const size_t close = text.find(':', 1);
    if (close != std::string_view::npos) {
      part.ns = std::string(text.substr(1, close - 1));
      text.remove_prefix(close + 1);
    }
  }
  part.profile = std::string(text);
  size_t sep = text.find("//");
  part.root = std::string(text.substr(0, sep));
  while (sep != std::string_view::npos) {
    text.remove_prefix(sep + 2);
    sep = text.find("//");
    part.children.emplace_back(text.substr(0, sep));
  }
  return part;
}

}  // namespace

std::vector<LabelPart> split_label(std::string_view label) {
  std::vector<LabelPart> parts;
  // The mode suffix appears only where FLAG_SHOW_MODE is set (/proc attr, subj= with the sysctl).
  for (std::string_view mode : {" (enforce)", " (complain)", " (kill)", " (user)", " (unconfined)",
                                " (prompt)", " (mixed)", "(mixed)"}) {
    if (label.ends_with(mode)) {
      label.remove_suffix(mode.size());
      break;
    }
  }
  if (label.empty()) return parts;
  while (true) {
    const size_t amp = label.find("//&");
    parts.push_back(split_one(label.substr(0, amp)));
    if (amp == std::string_view::npos) break;
    label.remove_prefix(amp + 3);
  }
  return parts;
}

}  // namespace aatune::collector
