#include <ostream>

#include "cli/commands.h"

namespace aatune::cli {

int run_suggest(const Invocation& inv) {
  inv.err << "aatune: error: 'suggest' is not implemented yet\n";
  return kExitUsage;
}

}  // namespace aatune::cli
