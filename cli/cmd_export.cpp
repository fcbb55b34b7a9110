#include <ostream>

#include "cli/commands.h"

namespace aatune::cli {

int run_export(const Invocation& inv) {
  inv.err << "aatune: error: 'export' is not implemented yet\n";
  return kExitUsage;
}

}  // namespace aatune::cli
