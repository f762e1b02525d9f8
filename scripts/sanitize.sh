#!/usr/bin/env bash
# Sanitizer and fuzz pass: builds ./build-asan with clang, AddressSanitizer and
# UndefinedBehaviorSanitizer (CLLAMA_SANITIZE) plus the libFuzzer targets (CLLAMA_FUZZ),
# runs the whole test suite there, then each fuzzer (GGUF, tokenizers, chat templates)
# for FUZZ_SECONDS (default 60).
# Seed corpora are made at run time from ../shared/testdata (CLLAMA_TESTDATA) and
# fuzz/make_seeds, inside build-asan (fresh each run: a kept corpus of mutated models
# grows by tens of MB a minute); a run's findings land in build-asan/fuzz/findings.
# Exits non-zero if any step fails; it still runs every step, to report them all.
# Usage: scripts/sanitize.sh [extra cmake args...]
set -uo pipefail
cd "$(dirname "$0")/.."
start=$SECONDS
FUZZ_SECONDS=${FUZZ_SECONDS:-60}
TESTDATA=${CLLAMA_TESTDATA:-$(cd .. && pwd)/shared/testdata}
B=build-asan
JOBS=$(nproc)

. scripts/lib.sh
install_missing build-essential cmake pkg-config libpcre2-dev libcjson-dev libedit-dev libmicrohttpd-dev python3 python3-jinja2 clang || exit 1
# libFuzzer and the sanitizer runtimes come with the compiler-rt package of clang's version.
install_missing "libclang-rt-$(clang -dumpversion | cut -d. -f1)-dev" || exit 1

failed=()
step() { # step NAME COMMAND...: runs it, records a failure
    local t0=$SECONDS
    echo "== $1" >&2
    "${@:2}"
    local rc=$?
    echo "== $1: $([ $rc -eq 0 ] && echo ok || echo "FAILED (exit $rc)") in $((SECONDS - t0)) s" >&2
    [ $rc -eq 0 ] || failed+=("$1")
    return $rc
}

# RelWithDebInfo: -O2 as the release build, plus line numbers in the reports. Without
# MPI: LeakSanitizer would report Open MPI's own start-up allocations; the pipeline
# itself runs here in one process (test_pipe).
step configure cmake -S . -B "$B" -DCMAKE_C_COMPILER=clang -DCMAKE_BUILD_TYPE=RelWithDebInfo \
    -DCLLAMA_SANITIZE=ON -DCLLAMA_FUZZ=ON -DCLLAMA_WERROR=ON -DCLLAMA_MPI=OFF -DCLLAMA_TESTDATA="$TESTDATA" "$@" >/dev/null || exit 1
step build cmake --build "$B" -j"$JOBS" || exit 1

export ASAN_OPTIONS=detect_leaks=1
export UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1
export CLLAMA_TESTDATA="$TESTDATA"
# the real model scripts/setup.sh fetches, for its vocabulary (fuzz_tokenizer), if present
[ -f build/models/SmolLM2-135M-Instruct.Q4_1.gguf ] && export CLLAMA_SMOLLM2=$PWD/build/models/SmolLM2-135M-Instruct.Q4_1.gguf
step ctest sh -c "cd $B && ctest --output-on-failure -j$JOBS"

F=$B/fuzz
rm -rf "$F/seeds" "$F/corpus" "$F/findings"
mkdir -p "$F/seeds/gguf" "$F/seeds/tokenizer" "$F/seeds/chat_template" "$F/corpus/gguf" "$F/corpus/tokenizer" \
    "$F/corpus/chat_template" "$F/findings"
make_seeds() {
    cp "$TESTDATA/models/stories260K-f32.gguf" "$TESTDATA/vocab/llama2-vocab.gguf" "$F/seeds/gguf/" &&
        head -c 65536 "$TESTDATA/models/tiny-llama2-s1-q4_0.gguf" >"$F/seeds/gguf/tiny-llama2-s1-q4_0.64k.gguf" &&
        "$F/make_seeds" "$F/seeds/gguf" &&
        cp tests/data/chat_templates/*.jinja "$F/seeds/chat_template/" &&
        python3 - "$TESTDATA/vocab/tokenizer-cases.txt" "$F/seeds/tokenizer" \
            "$TESTDATA/reference/invalid-utf8.json" tests/data/invalid_utf8_more.json <<'EOF'
import json, os, sys
# A case is the lines before a "__ggml_vocab_test__" line, joined with "\n".
cases, cur = [], []
for line in open(sys.argv[1], "rb").read().split(b"\n"):
    if line == b"__ggml_vocab_test__":
        cases.append(b"\n".join(cur))
        cur = []
    else:
        cur.append(line)
for i, c in enumerate(cases):
    open("%s/case-%03d" % (sys.argv[2], i), "wb").write(c)
# and the invalid UTF-8 inputs the reference's ids are known for
for f in sys.argv[3:]:
    if os.path.exists(f):
        for i, c in enumerate(json.load(open(f))["cases"]):
            open("%s/%s-%02d" % (sys.argv[2], os.path.basename(f).split(".")[0], i), "wb").write(bytes.fromhex(c["hex"]))
EOF
}
step seeds make_seeds

fuzz() { # fuzz NAME MAX_LEN
    local log=$F/$1.log
    # -timeout: one input running a minute is a finding, and bounds the pass's time
    (cd "$F/findings" && "../$1" -max_len="$2" -rss_limit_mb=4096 -timeout=60 -max_total_time="$FUZZ_SECONDS" \
        -print_final_stats=1 "../corpus/${1#fuzz_}" "../seeds/${1#fuzz_}") >"$log" 2>&1
    local rc=$?
    local runs secs
    runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log")
    secs=$(sed -n 's/^Done [0-9]* runs in \([0-9]*\) second.*/\1/p' "$log")
    echo "$1: ${runs:-?} executions in ${secs:-?} s" >&2
    if [ $rc -ne 0 ]; then
        grep -E "ERROR|SUMMARY|runtime error|fuzz_tokenizer:|Test unit written" "$log" | head -20 >&2
        echo "(full log: $log)" >&2
    fi
    return $rc
}
step fuzz_gguf fuzz fuzz_gguf 2097152
step fuzz_tokenizer fuzz fuzz_tokenizer 4096
step fuzz_chat_template fuzz fuzz_chat_template 16384

echo "sanitize: $((SECONDS - start)) s in all" >&2
if [ ${#failed[@]} -gt 0 ]; then
    echo "sanitize: FAILED: ${failed[*]}" >&2
    exit 1
fi
echo "sanitize: all passed" >&2
