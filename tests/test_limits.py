#!/usr/bin/env python3
"""cllama limits on fixed inputs (no host probe).

usage: test_limits.py CLLAMA_BIN

Published figures the checks are tied to (llama.cpp's llama-bench labels for these
files): Llama 2 7B Q4_0 3.56 GiB, Q8_0 6.67 GiB, Llama 3 8B Q4_K_M 4.58 GiB,
Llama 3 70B Q4_K_M 39.59 GiB; Apple M1 memory bandwidth 68.25 GB/s (LPDDR4X-4266,
128-bit); M1 is sold with 8 or 16 GB.
"""
import json, subprocess, sys

bin_ = sys.argv[1]
fails = 0
GiB = 1024 ** 3


def check(cond, what):
    global fails
    print(("ok   " if cond else "FAIL ") + what)
    fails += not cond


def limits(*args):
    r = subprocess.run([bin_, "limits", "-o", "json", *args], capture_output=True, text=True, timeout=120)
    if r.returncode:
        print(r.stderr)
    return r.returncode, (json.loads(r.stdout) if r.returncode == 0 else None)


published = {("llama2-7b", "Q4_0"): 3.56, ("llama2-7b", "Q8_0"): 6.67, ("llama3-8b", "Q4_K_M"): 4.58,
             ("llama3-70b", "Q4_K_M"): 39.59}
for (shape, quant), gib in published.items():
    rc, rows = limits("--shape", f"{shape}:{quant}", "--device", "m1-7gpu")
    check(rc == 0 and len(rows) == 1, f"{shape} {quant}: one row")
    r = rows[0]
    size = r["weight_bytes"] / GiB
    check(abs(size - gib) <= 0.01 * gib, f"{shape} {quant}: weights {size:.2f} GiB vs published {gib} GiB")
    bw = r["bandwidth_gbs"]
    check(abs(bw - 68.25) < 0.5, f"M1 bandwidth {bw} GB/s")
    ceiling = bw * 1e9 / (gib * GiB)
    check(abs(r["tg_ceiling"] - ceiling) <= 0.01 * ceiling,
          f"{shape} {quant}: tg ceiling {r['tg_ceiling']:.2f} t/s = bandwidth / published size ({ceiling:.2f})")
    if shape == "llama3-70b":
        check(not r["fits"] and r["mem_needed"] > 16e9 and "memory capacity" in r["binding"],
              f"70B Q4_K_M does not fit an M1 with 16 GB: {r['binding']}")
    else:
        check(r["fits"], f"{shape} {quant} fits an M1")
        check("tg_efficiency" in r and 0.5 < r["tg_efficiency"] <= 1.0,
              f"{shape} {quant}: reported tg {r.get('tg_ts')} t/s is {100 * r.get('tg_efficiency', 0):.0f} % of the ceiling")

# The KV term scales with the context: 2 (K, V) x layers x KV width x 2 bytes per token.
_, a = limits("--shape", "llama2-7b:Q4_0", "--device", "m1-7gpu", "--ctx", "4096")
_, b = limits("--shape", "llama2-7b:Q4_0", "--device", "m1-7gpu", "--ctx", "8192")
per_token = 2 * 32 * 4096 * 2
check(a[0]["kv_bytes"] == 4096 * per_token and b[0]["kv_bytes"] == 8192 * per_token, "KV bytes = ctx x 512 KiB for Llama 2 7B")
d = b[0]["mem_needed"] - a[0]["mem_needed"]
check(abs(d - 4096 * per_token) <= 0.01 * 4096 * per_token, f"memory needed grows by {d / GiB:.3f} GiB for 4096 more tokens")
_, g = limits("--shape", "llama3-8b:Q4_K_M", "--device", "m1-7gpu", "--ctx", "8192")
check(g[0]["kv_bytes"] == 8192 * 2 * 32 * 1024 * 2, "GQA: Llama 3 8B KV is 4x smaller per token (8 KV heads)")
_, z = limits("--shape", "llama2-7b:Q4_0", "--device", "m1-7gpu", "--depth", "4096")
check(z[0]["tg_ceiling"] < a[0]["tg_ceiling"] and abs(z[0]["bytes_per_token"] - a[0]["bytes_per_token"] - 4096 * per_token) < 1,
      "generation at depth 4096 reads the KV cache too")

r = subprocess.run([bin_, "limits", "--device", "nope"], capture_output=True, text=True)
check(r.returncode == 2 and len(r.stderr.strip().splitlines()) == 1, "unknown device: exit 2, one line")
r = subprocess.run([bin_, "limits", "--ctx", "0"], capture_output=True, text=True)
check(r.returncode == 2, "bad --ctx: exit 2")
print(f"{fails} failed")
sys.exit(1 if fails else 0)
