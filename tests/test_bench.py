#!/usr/bin/env python3
"""cllama bench and synth, end to end.

usage: test_bench.py CLLAMA_BIN TMPDIR

- one bench run writes md, csv, json and jsonl (--out-dir): each parses and all four
  carry the same numbers; json carries every sample and its mean matches avg_ts
  (test_bench_formats.py checks them against llama-bench's, test_bench_svg.py the chart);
- --mem-limit below the need gives an N/A row with the reason, and no samples;
- bad flags exit 2 with one line;
- each kernel set `--version` lists, forced with CLLAMA_ISA, is the one bench records
  in its json `kernels` field; the summary names the CPU and the set that ran;
- synth writes a GGUF that the independent reader of the `gguf` Python package (if
  installed) parses with the published shape and the Q4_K_M recipe's types, and that
  our own loader describes with the same shapes (cllama info).
"""
import csv, json, os, re, statistics, subprocess, sys
from checklib import check, finish

bin_, tmp = sys.argv[1], sys.argv[2]


def run(*args):
    return subprocess.run([bin_, *args], capture_output=True, text=True, timeout=600)


def test_name(j):
    t = f"pp{j['n_prompt']}+tg{j['n_gen']}" if j["n_prompt"] and j["n_gen"] else \
        f"pp{j['n_prompt']}" if j["n_prompt"] else f"tg{j['n_gen']}"
    return t + (f" @ d{j['n_depth']}" if j["n_depth"] else "")


# --- formats carry the same numbers -------------------------------------------------
out = os.path.join(tmp, "bench-formats")
os.makedirs(out, exist_ok=True)
r = run("bench", "--shape", "smollm2-135m:Q4_0", "-p", "8", "-n", "4", "-r", "3", "-t", "1", "--out-dir", out,
        "--svg", os.path.join(out, "chart.svg"))
check(r.returncode == 0, f"bench runs (exit {r.returncode}) {r.stderr.strip()[-200:]}")
rows_json = json.load(open(os.path.join(out, "bench.json")))
rows_jsonl = [json.loads(l) for l in open(os.path.join(out, "bench.jsonl")) if l.strip()]
rows_csv = list(csv.DictReader(open(os.path.join(out, "bench.csv"))))
md = [l for l in open(os.path.join(out, "bench.md")) if l.startswith("|")][2:]
check(len(rows_json) == 2 and len(rows_jsonl) == 2 and len(rows_csv) == 2 and len(md) == 2,
      "two rows (pp8, tg4) in every format")
for j, jl, c, m in zip(rows_json, rows_jsonl, rows_csv, md):
    j["test"] = jl["test"] = test_name(j)
    check(j == jl, f"{j['test']}: json and jsonl rows are identical")
    check(len(j["samples_ns"]) == 3 and len(j["samples_ts"]) == 3, f"{j['test']}: json carries all 3 samples")
    check(abs(statistics.mean(j["samples_ts"]) - j["avg_ts"]) <= 1e-3 * j["avg_ts"], f"{j['test']}: avg_ts is the mean of the samples")
    check(abs(statistics.stdev(j["samples_ts"]) - j["stddev_ts"]) <= 1e-3 * max(j["avg_ts"], 1), f"{j['test']}: stddev_ts is the sample sd")
    tokens = j["n_prompt"] + j["n_gen"]
    check(all(abs(tokens / (ns * 1e-9) - ts) <= 1e-3 * ts for ns, ts in zip(j["samples_ns"], j["samples_ts"])),
          f"{j['test']}: samples_ts = tokens / samples_ns")
    check(int(c["n_prompt"]) == j["n_prompt"] and int(c["n_gen"]) == j["n_gen"] and abs(float(c["avg_ts"]) - j["avg_ts"]) <= 1e-4 * j["avg_ts"]
          and abs(float(c["stddev_ts"]) - j["stddev_ts"]) <= 1e-4 * max(j["avg_ts"], 1), f"{j['test']}: csv matches json")
    cells = [x.strip() for x in m.strip().strip("|").split("|")]
    mm = re.match(r"([\d.]+) ± ([\d.]+)", cells[-1])
    check(cells[5] == j["test"] and mm and abs(float(mm.group(1)) - j["avg_ts"]) <= 0.006
          and abs(float(mm.group(2)) - j["stddev_ts"]) <= 0.006, f"{j['test']}: markdown matches json")
    check(j["avg_ts"] > 0 and j["fits"], f"{j['test']}: positive t/s")

# --- N/A through --mem-limit --------------------------------------------------------
r = run("bench", "--shape", "llama2-7b:Q4_0", "-p", "8", "-n", "0", "-o", "json", "--mem-limit", "2G")
check(r.returncode == 0, "bench with --mem-limit exits 0")
j = json.loads(r.stdout)
check(len(j) == 1 and not j[0]["fits"] and not j[0]["samples_ns"], "row does not fit and has no samples")
check(re.search(r"needs 3\.\d GiB, 2\.0 GiB allowed", j[0]["reason"]) is not None, f"reason: {j[0]['reason']}")
# a synthetic model is built in memory and interleaved: up to twice its weights
r = run("bench", "--shape", "llama2-7b:Q4_0", "-p", "8", "-n", "0", "-o", "json", "--mem-limit", "5G")
j = json.loads(r.stdout)
check(len(j) == 1 and not j[0]["fits"] and "a file would fit (3." in j[0]["reason"] and "needs up to 7." in j[0]["reason"],
      f"synthetic peak counted: {j[0]['reason']}")
r = run("bench", "--shape", "llama2-7b:Q4_0", "-p", "8", "-n", "0", "-o", "summary", "--mem-limit", "2G")
check("N/A" in r.stdout and "does not fit" in r.stdout, "summary shows N/A")

# --- the kernel set that ran is recorded, and CLLAMA_ISA forces any this CPU runs ----
v = run("--version")
sets = re.search(r"kernels: ([^)]*)\)", v.stdout)
check(sets is not None, f"--version lists the kernel sets ({v.stdout.strip()})")
for isa in (sets.group(1).split() if sets else []):
    env = dict(os.environ, CLLAMA_ISA=isa)
    r = subprocess.run([bin_, "bench", "--shape", "smollm2-135m:Q4_0", "-p", "8", "-n", "0", "-r", "1", "-t", "1",
                        "-o", "json"], capture_output=True, text=True, timeout=600, env=env)
    j = json.loads(r.stdout) if r.returncode == 0 else [{}]
    check(j[0].get("kernels") == isa, f"CLLAMA_ISA={isa}: bench json records kernels {j[0].get('kernels')!r}")
r = run("bench", "--shape", "smollm2-135m:Q4_0", "-p", "8", "-n", "0", "-r", "1", "-t", "1", "-o", "summary")
best = sets.group(1).split()[0] if sets else "?"
check(r.returncode == 0 and r.stdout.rstrip().splitlines()[-1].endswith(f"; kernels: {best}"),
      f"summary ends with the CPU and the set chosen ({r.stdout.rstrip().splitlines()[-1] if r.stdout.strip() else ''})")

# --- usage errors -------------------------------------------------------------------
for args in (["--bogus"], ["-p", "x"], ["-o", "xml"], ["--shape", "llama9-1b"], ["--shape", "llama2-7b:Q9_9"],
             ["-r", "0"], ["-t", "0"], ["--mem-limit", "lots"], ["-pg", "1"]):
    r = run("bench", *args)
    check(r.returncode == 2 and len(r.stderr.strip().splitlines()) == 1, f"bench {' '.join(args)}: exit 2, one line")

# --- runtime errors: one line, exit 1, nothing on stdout, before any benchmarking ------
import time
for args, want in ((["-m", tmp], "is a directory"), (["-m", "/nonexistent/model.gguf"], "No such file or directory"),
                   (["--shape", "llama2-7b:Q4_0", "--svg", "/nonexistent/dir/chart.svg"], "No such file or directory"),
                   (["--shape", "llama2-7b:Q4_0", "--svg", tmp], "Is a directory"),
                   (["--shape", "llama2-7b:Q4_0", "--out-dir", "/nonexistent/dir/out"], "No such file or directory")):
    t0 = time.time()
    r = run("bench", "-p", "8", "-n", "0", "-r", "1", *args)
    lines = r.stderr.strip().splitlines()
    check(r.returncode == 1 and r.stdout == "" and len(lines) == 1 and want in lines[0] and time.time() - t0 < 5,
          f"bench {' '.join(args)}: exit 1, one line with '{want}', no table, no benchmarking "
          f"({r.returncode}, {time.time() - t0:.1f} s, {lines})")
r = run("synth", "--shape", "nope:Q4_0", "-o", os.path.join(tmp, "x.gguf"))
check(r.returncode == 2, "synth unknown shape: exit 2")

# --- synth writes a loadable GGUF ---------------------------------------------------
path = os.path.join(tmp, "smollm2-q4km.gguf")
r = run("synth", "--shape", "smollm2-135m:Q4_K_M", "-o", path)
check(r.returncode == 0 and os.path.getsize(path) > 50e6, f"synth writes {path}")
info = run("info", path)
check(info.returncode == 0 and re.search(r"n_embd:\s+576", info.stdout) and re.search(r"n_layer:\s+30", info.stdout)
      and re.search(r"n_head_kv:\s+3", info.stdout) and "tied to token_embd" in info.stdout
      and "synthetic" in info.stdout, "our loader: smollm2-135m shape, tied output, synthetic name")
# Its placeholder vocabulary spells text with byte tokens: more tokens than bytes (each
# space is the 3-byte U+2581), which the CLI must not take for a failure.
tok = run("tokenize", "-m", path, "-p", "hello there", "--ids")
ids = json.loads(tok.stdout) if tok.returncode == 0 else []
check(len(ids) == 17 and ids[0] == 1, f"byte-fallback tokenization with more tokens than bytes: {len(ids)} tokens (BOS + 16 bytes)")
try:
    import gguf, numpy as np
except ImportError:
    print("skip: gguf Python package not installed; independent reader check not run")
else:
    rd = gguf.GGUFReader(path)
    t = {x.name: x for x in rd.tensors}
    f = rd.fields
    check(int(f["llama.embedding_length"].parts[-1][0]) == 576 and int(f["llama.block_count"].parts[-1][0]) == 30,
          "gguf reader: metadata shape")
    check(len(t) == 2 + 30 * 9 and "output.weight" not in t, "gguf reader: 272 tensors, no output.weight (tied)")
    # Rows of 576 values are not whole 256-value super-blocks: as in llama.cpp's
    # quantizer, Q6_K falls back to Q8_0 and Q4_K to Q5_0 there; ffn_down (rows of
    # n_ff = 1536) keeps the K-quants.
    check(list(t["token_embd.weight"].shape) == [576, 49152] and t["token_embd.weight"].tensor_type.name == "Q8_0",
          "token_embd [576, 49152] Q8_0 (tied output gets Q6_K, which falls back to Q8_0)")
    # Q4_K_M: attn_v / ffn_down get Q6_K in layers i < n/8, i >= 7n/8, (i - n/8) % 3 == 2.
    n = 30
    for i in range(n):
        more = i < n // 8 or i >= 7 * n // 8 or (i - n // 8) % 3 == 2
        want_v, want_down = ("Q8_0", "Q6_K") if more else ("Q5_0", "Q4_K")
        ok = t[f"blk.{i}.attn_v.weight"].tensor_type.name == want_v and t[f"blk.{i}.ffn_down.weight"].tensor_type.name == want_down
        if not ok:
            check(False, f"layer {i}: attn_v should be {want_v}, ffn_down {want_down}")
    check(all(t[f"blk.{i}.attn_q.weight"].tensor_type.name == "Q5_0" for i in range(n)), "attn_q Q5_0 in every layer")
    check(list(t["blk.0.attn_k.weight"].shape) == [576, 192] and list(t["blk.0.ffn_down.weight"].shape) == [1536, 576],
          "GQA and FFN shapes")
    w = gguf.quants.dequantize(t["blk.3.ffn_gate.weight"].data, t["blk.3.ffn_gate.weight"].tensor_type)
    sd = float(np.std(w))
    check(np.isfinite(w).all() and 0.01 < sd < 0.04, f"weights dequantize finite with std {sd:.4f} (~0.02)")
os.remove(path)
finish()
