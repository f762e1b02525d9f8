#!/usr/bin/env bash
# Set-up, build, then the whole test suite (needs ../shared/testdata beside the repo).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh -DCLLAMA_WERROR=ON
cd build
ctest --output-on-failure -j"$(nproc)"
