#include <ostream>

#include "cli/commands.h"

namespace aatune::cli {

int run_status(const Invocation& inv) {
  inv.err << "aatune: error: 'status' is not implemented yet\n";
  return kExitUsage;
}

}  // namespace aatune::cli
