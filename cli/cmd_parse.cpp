#include <ostream>

#include "cli/commands.h"

namespace aatune::cli {

int run_parse(const Invocation& inv) {
  inv.err << "aatune: error: 'parse' is not implemented yet\n";
  return kExitUsage;
}

}  // namespace aatune::cli
