#include <ostream>

#include "cli/commands.h"

namespace aatune::cli {

int run_apply(const Invocation& inv) {
  inv.err << "aatune: error: 'apply' is not implemented yet\n";
  return kExitUsage;
}

}  // namespace aatune::cli
