#!/usr/bin/env bash
# Installs what the build needs (Debian packages; the gguf Python package for the
# reference block-format test) when missing, then configures and builds in ./build.
# Usage: scripts/setup.sh [extra cmake args...]
set -euo pipefail
cd "$(dirname "$0")/.."

. scripts/lib.sh
install_missing build-essential cmake pkg-config libpcre2-dev libcjson-dev python3
if ! python3 -c "import gguf, numpy" 2>/dev/null; then
    echo "setup: installing the gguf and numpy Python packages" >&2
    python3 -m pip install -q gguf numpy 2>/dev/null ||
        python3 -m pip install -q --break-system-packages gguf numpy ||
        echo "setup: gguf not installed; the reference block-format test will be skipped" >&2
fi

cmake -S . -B build -DCMAKE_BUILD_TYPE=Release "$@" >/dev/null
cmake --build build -j"$(nproc)"
