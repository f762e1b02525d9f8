#!/usr/bin/env bash
# Kernel benchmark (issue 4): synthetic models of real shapes, measured in one run:
# prompt processing (pp) and generation (tg) tokens/s, this host's read bandwidth, and tg
# as a share of the bandwidth ceiling (bandwidth / bytes read per generated token).
#
# usage: bench/kernels.sh [-t THREADS] [-p PP_LIST] [-n TG] [SHAPE:QUANT ...]
#   default: -p 64 -n 16 llama2-7b:Q4_0 (add llama2-7b:Q8_0 llama3-8b:Q4_K_M, -p 64,512 ...)
# Needs the build (scripts/setup.sh) and python3. Takes about a minute per 7B model.
set -euo pipefail
cd "$(dirname "$0")/.."
threads="" pp=64 tg=16
while getopts "t:p:n:" o; do
    case $o in
    t) threads=$OPTARG ;;
    p) pp=$OPTARG ;;
    n) tg=$OPTARG ;;
    *) echo "usage: $0 [-t THREADS] [-p PP_LIST] [-n TG] [SHAPE:QUANT ...]" >&2; exit 2 ;;
    esac
done
shift $((OPTIND - 1))
shapes=("$@")
[ ${#shapes[@]} -gt 0 ] || shapes=(llama2-7b:Q4_0)
[ -x build/cllama ] || scripts/setup.sh >&2
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT

args=()
for s in "${shapes[@]}"; do args+=(--shape "$s"); done
[ -n "$threads" ] && args+=(-t "$threads")
build/cllama bench "${args[@]}" -p "$pp" -n "$tg" -r 1 -o json >"$out/bench.json"
# limits probes this host's read bandwidth and relates each measured row to its ceiling.
build/cllama limits --from-bench "$out/bench.json" -o json >"$out/limits.json"
python3 - "$out/bench.json" "$out/limits.json" <<'EOF'
import json, sys
bench = json.load(open(sys.argv[1]))
lim = json.load(open(sys.argv[2]))
host = [r for r in lim if r.get("device") == "host"]
bw = host[0]["bandwidth_gbs"] if host else float("nan")
print(f"read bandwidth (this host, all cores): {bw:.1f} GB/s")
print("| model | quant | size GiB | threads | test | t/s | tg ceiling t/s | % of ceiling |")
print("|---|---|---:|---:|---|---:|---:|---:|")
for b in bench:  # llama-bench's fields, then cllama's (model_name, quant)
    ceil = bw * 1e9 / b["model_size"]
    share = f"{100 * b['avg_ts'] / ceil:.0f} %" if b["n_gen"] else "-"
    test = f"pp{b['n_prompt']}" if b["n_prompt"] else f"tg{b['n_gen']}"
    print(f"| {b['model_name']} | {b['quant']} | {b['model_size'] / 2**30:.2f} | {b['n_threads']} | {test} | "
          f"{b['avg_ts']:.2f} | {ceil:.2f} | {share} |")
EOF
