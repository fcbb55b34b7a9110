#include "analyzer/correlation.h"

#include <algorithm>
#include <utility>

namespace aatune::analyzer {
namespace {

const std::string* field(const collector::Companion& c, std::string_view key) {
  for (const auto& [k, v] : c.fields) {
    if (k == key) return &v;
  }
  return nullptr;
}

}  // namespace

Correlator::Correlator(std::chrono::milliseconds max_wait, uint64_t serial_window)
    : max_wait_(max_wait), serial_window_(serial_window) {}

void Correlator::add_event(collector::Event event, Clock::time_point now) {
  // A userspace message (USER_AVC from dbus-daemon and the like, 1100–1199) is stamped on its
  // own serial outside any syscall: nothing will ever share it, so waiting would only delay it.
  const bool user_message = event.record_type >= 1100 && event.record_type <= 1199;
  if (!event.audit_id || user_message) {
    CorrelatedEvent ready;
    ready.event = std::move(event);
    ready_unkeyed_.push_back(std::move(ready));
    return;
  }
  if (event.audit_sub_id) latest_serial_ = std::max<uint64_t>(latest_serial_, *event.audit_sub_id);
  auto [it, inserted] = pending_.try_emplace(*event.audit_id);
  if (inserted) {
    it->second.first_seen = now;
    it->second.order = next_order_++;
  }
  it->second.events.push_back(std::move(event));
}

void Correlator::add_companion(collector::Companion companion, Clock::time_point now) {
  if (!companion.audit_id) return;  // Evidence that cannot be tied to anything.
  if (companion.audit_sub_id) {
    latest_serial_ = std::max<uint64_t>(latest_serial_, *companion.audit_sub_id);
  }
  auto [it, inserted] = pending_.try_emplace(*companion.audit_id);
  if (inserted) {
    it->second.first_seen = now;
    it->second.order = next_order_++;
  }
  if (companion.type == "EOE" || companion.type == "1320") {
    it->second.closed = true;
    return;
  }
  it->second.companions.push_back(std::move(companion));
}

void attach_evidence(CorrelatedEvent& e) {
  e.paths.clear();
  for (const auto& c : e.companions) {
    if (c.type == "SYSCALL" || c.type == "1300") {
      if (const auto* v = field(c, "exe")) e.exe = *v;
      if (const auto* v = field(c, "subj")) e.subject = *v;
      if (const auto* v = field(c, "syscall")) e.syscall = *v;
    } else if (c.type == "PROCTITLE" || c.type == "1327") {
      if (const auto* v = field(c, "proctitle")) e.command = *v;
    } else if (c.type == "CWD" || c.type == "1307") {
      if (const auto* v = field(c, "cwd")) e.cwd = *v;
    } else if (c.type == "PATH" || c.type == "1302") {
      if (const auto* v = field(c, "name")) e.paths.push_back(*v);
    }
  }
}

void Correlator::release(Pending& pending, std::vector<CorrelatedEvent>& out) const {
  // A serial with only companions (an ordinary audited syscall) is not ours: drop it.
  for (auto& event : pending.events) {
    CorrelatedEvent ready;
    ready.event = std::move(event);
    ready.companions = pending.companions;
    attach_evidence(ready);
    out.push_back(std::move(ready));
  }
}

std::vector<CorrelatedEvent> Correlator::take_ready(Clock::time_point now) {
  std::vector<CorrelatedEvent> out = std::exchange(ready_unkeyed_, {});
  std::vector<std::pair<uint64_t, std::string>> done;
  for (const auto& [id, p] : pending_) {
    const auto colon = id.rfind(':');
    uint64_t serial = 0;
    if (colon != std::string::npos) serial = std::strtoull(id.c_str() + colon + 1, nullptr, 10);
    const bool left_behind = latest_serial_ > serial + serial_window_;
    if (p.closed || left_behind || now - p.first_seen >= max_wait_) done.emplace_back(p.order, id);
  }
  std::ranges::sort(done);
  for (const auto& [order, id] : done) {
    auto node = pending_.extract(id);
    release(node.mapped(), out);
  }
  return out;
}

std::vector<CorrelatedEvent> Correlator::flush() {
  std::vector<CorrelatedEvent> out = std::exchange(ready_unkeyed_, {});
  std::vector<std::pair<uint64_t, std::string>> all;
  for (const auto& [id, p] : pending_) all.emplace_back(p.order, id);
  std::ranges::sort(all);
  for (const auto& [order, id] : all) release(pending_.at(id), out);
  pending_.clear();
  return out;
}

}  // namespace aatune::analyzer
