#!/usr/bin/env bash
# Generation when the machine is busy (issue 20): tokens/s of `cllama run` with -t 1
# and with -t N (N: the CPUs this process may use) on a quiet machine, beside one
# busy-loop process, and beside two; each line gives -t N as a share of -t 1 under the
# same load. A benchmark, not a test: the figures are the machine's of the moment.
#
# usage: bench/contention.sh [MODEL] [CLLAMA] [TOKENS]
#   defaults: build/models/SmolLM2-135M-Instruct.Q4_1.gguf (scripts/setup.sh fetches it),
#   build/cllama, 128 tokens; every figure is the median of 3 runs.
set -u
model=${1:-build/models/SmolLM2-135M-Instruct.Q4_1.gguf}
bin=${2:-build/cllama}
tokens=${3:-128}
n=$(nproc)
[ -f "$model" ] || { echo "contention: no model at $model" >&2; exit 1; }

pids=()
busy() { # busy K: K processes spinning on a core each
    for _ in $(seq "$1"); do
        (while :; do :; done) &
        pids+=($!)
    done
}
quiet() {
    [ ${#pids[@]} -gt 0 ] && kill "${pids[@]}" 2>/dev/null && wait "${pids[@]}" 2>/dev/null
    pids=()
}
trap quiet EXIT

one() { # tokens/s of one run with -t $1
    "$bin" run -m "$model" -p "Once upon a time" -n "$tokens" --temp 0 --ignore-eos -t "$1" 2>&1 >/dev/null |
        sed -n 's/^gen: .* = *\([0-9.]*\) tokens\/s.*/\1/p'
}
median() { # median of 3 runs with -t $1
    for _ in 1 2 3; do one "$1"; done | sort -g | sed -n 2p
}

echo "$("$bin" --version | head -1); $n CPUs; $(basename "$model"), $tokens tokens, median of 3"
echo
echo "| load | -t 1 t/s | -t $n t/s | -t $n / -t 1 |"
echo "|---|--:|--:|--:|"
for k in 0 1 2; do
    quiet
    busy "$k"
    sleep 0.5
    a=$(median 1)
    b=$(median "$n")
    label=$([ "$k" = 0 ] && echo quiet || echo "$k busy process$([ "$k" -gt 1 ] && echo es)")
    echo "| $label | $a | $b | $(awk -v a="$a" -v b="$b" 'BEGIN { printf "%.2f", (a > 0 ? b / a : 0) }') |"
done
