#include <ostream>

#include "cli/commands.h"

namespace aatune::cli {

int run_scan(const Invocation& inv) {
  inv.err << "aatune: error: 'scan' is not implemented yet\n";
  return kExitUsage;
}

}  // namespace aatune::cli
