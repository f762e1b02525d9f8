#!/bin/sh
# The installable library: `cmake --install` into a temporary prefix, then the example
# (examples/simple.c) compiled against the installed package with pkg-config only,
# run on a reference model. Its greedy tokens must be the reference engine's (golden
# file). Also: the installed shared library exports only versioned cllama_* symbols,
# and the installed CLI reports its version and commit.
# usage: install_example.sh BUILD_DIR SOURCE_DIR MODEL.gguf GOLDEN.json OUT_DIR
# Environment: CC (default cc), EXAMPLE_CFLAGS (a sanitized build's flags).
set -eu
build=$1 src=$2 model=$3 golden=$4 out=$5
[ -f "$model" ] || { echo "skipped: $model is not there"; exit 77; }
command -v pkg-config >/dev/null || { echo "FAIL: pkg-config is not installed"; exit 1; }
prefix=$out/prefix
rm -rf "$prefix"
mkdir -p "$out"
cmake --install "$build" --prefix "$prefix" >"$out/install.log"

pc=$(find "$prefix" -name cllama.pc)
[ -n "$pc" ] || { echo "FAIL: no cllama.pc installed"; exit 1; }
export PKG_CONFIG_PATH
PKG_CONFIG_PATH=$(dirname "$pc")
flags=$(pkg-config --cflags --libs cllama)
echo "pkg-config --cflags --libs cllama: $flags"
# Nothing but the installed prefix: no source or build directory on the command line.
${CC:-cc} -std=c11 -Wall -Wextra -Werror ${EXAMPLE_CFLAGS:-} "$src/examples/simple.c" $flags -o "$out/simple"
libdir=$(pkg-config --variable=libdir cllama)

prompt=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["prompt"])' "$golden")
LD_LIBRARY_PATH=$libdir "$out/simple" "$model" "$prompt" 16 >"$out/simple.out" 2>"$out/simple.err"
ids=$(sed -n 's/^generated ids: *//p' "$out/simple.err")
want=$(python3 -c 'import json,sys; print(" ".join(str(s["token"]) for s in json.load(open(sys.argv[1]))["greedy"][:16]))' "$golden")
echo "example: $ids"
echo "golden:  $want"
[ "$ids" = "$want" ] || { echo "FAIL: the example's greedy tokens are not the reference's"; exit 1; }
[ -s "$out/simple.out" ] || { echo "FAIL: the example printed no text"; exit 1; }

so=$(find "$prefix" -name 'libcllama.so.*.*' | head -n 1)
[ -n "$so" ] || { echo "FAIL: no versioned libcllama.so installed"; exit 1; }
# objdump -T rows: address, binding, kind, section, version, name (the version node
# itself is an *ABS* row)
exported=$(objdump -T "$so" | awk '$2 == "g" && $4 != "*UND*" && $4 != "*ABS*"')
bad=$(echo "$exported" | awk '{print $NF}' | grep -v '^cllama_' || true)
[ -z "$bad" ] || { echo "FAIL: the library exports other symbols: $bad"; exit 1; }
unversioned=$(echo "$exported" | awk '$(NF-1) != "CLLAMA_0" {print $NF}')
[ -z "$unversioned" ] || { echo "FAIL: symbols without the CLLAMA_0 version: $unversioned"; exit 1; }
echo "$(basename "$so"): $(echo "$exported" | wc -l) exported symbols, all cllama_* with version CLLAMA_0"

"$prefix/bin/cllama" --version | grep -E '^cllama [0-9]+\.[0-9]+\.[0-9]+ \(commit [0-9a-f]+' ||
    { echo "FAIL: installed cllama --version"; exit 1; }
echo "ok"
