#include <ostream>

#include "cli/commands.h"

namespace aatune::cli {

int run_tui(const Invocation& inv) {
  inv.err << "aatune: error: 'tui' is not implemented yet\n";
  return kExitUsage;
}

}  // namespace aatune::cli
