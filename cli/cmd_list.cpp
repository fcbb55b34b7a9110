#include <ostream>

#include "cli/commands.h"

namespace aatune::cli {

int run_list(const Invocation& inv) {
  inv.err << "aatune: error: 'list' is not implemented yet\n";
  return kExitUsage;
}

}  // namespace aatune::cli
