#include <ostream>

#include "cli/commands.h"

namespace aatune::cli {

int run_watch(const Invocation& inv) {
  inv.err << "aatune: error: 'watch' is not implemented yet\n";
  return kExitUsage;
}

}  // namespace aatune::cli
