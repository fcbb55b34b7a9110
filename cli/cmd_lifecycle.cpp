#include <ostream>

#include "cli/commands.h"

namespace aatune::cli {
namespace {
int not_yet(const Invocation& inv, const char* name) {
  inv.err << "aatune: error: '" << name << "' is not implemented yet\n";
  return kExitUsage;
}
}  // namespace

int run_undo(const Invocation& inv) { return not_yet(inv, "undo"); }
int run_disable(const Invocation& inv) { return not_yet(inv, "disable"); }
int run_enable(const Invocation& inv) { return not_yet(inv, "enable"); }
int run_complain(const Invocation& inv) { return not_yet(inv, "complain"); }
int run_enforce(const Invocation& inv) { return not_yet(inv, "enforce"); }

}  // namespace aatune::cli
