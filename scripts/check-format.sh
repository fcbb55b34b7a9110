#!/usr/bin/env bash
# Fails if any C++ file tracked by git differs from what clang-format (the repository's
# .clang-format) makes of it; prints the places. `clang-format -i FILE` fixes one.
set -euo pipefail
cd "$(dirname "$0")/.."
command -v clang-format >/dev/null || { echo "check-format: clang-format is not installed (scripts/install-deps.sh installs it)" >&2; exit 2; }
git ls-files -z '*.cpp' '*.h' '*.c' | xargs -0 clang-format --dry-run --Werror
echo "check-format: $(git ls-files '*.cpp' '*.h' '*.c' | wc -l) files formatted"
