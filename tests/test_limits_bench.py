#!/usr/bin/env python3
"""cllama limits --from-bench: which bench records become the measured figures of
device 'host', the warnings when they cannot, and efficiencies above 100 %.

usage: test_limits_bench.py CLLAMA_BIN TMPDIR

- a hand-written bench JSON (llama-bench's record keys, in its order, then cllama's
  extras model_name, quant, synthetic, shape, mem_needed, mem_available, fits, reason)
  is matched: a -m FILE by model_filename naming the same file (another spelling of
  the path too), a --shape by shape + quant; only records at n_depth == --depth; the
  first pp-only and tg-only records that ran (fits true); pp+tg records and records
  that did not fit are not used; the older format ("model": "SHAPE (synthetic)") too;
- every record that ran and names no model here gives one warning line naming it;
  --from-bench without device 'host' gives a warning;
- a measured tg far above the ceiling (1e6 t/s) is marked "NN % *" with a footnote
  under the table (md) and "efficiency_over_100": true with a note (json); a tiny one
  gets neither: no timing is assumed, the fixture's figures are far from any host's;
- the output of a real `cllama bench -o json` run is matched the same way.

Runs with device 'host' probe this machine (a few seconds each).
"""
import json, os, re, subprocess, sys
from checklib import check, finish

bin_, tmp = sys.argv[1], sys.argv[2]
os.makedirs(tmp, exist_ok=True)


def run(*args, timeout=300):
    return subprocess.run([bin_, *args], capture_output=True, text=True, timeout=timeout)


def record(n_prompt, n_gen, avg_ts, model_filename="", shape="", quant="Q4_0", n_depth=0, fits=True,
           model_name=None):
    """One record as `cllama bench -o json` writes it (llama-bench's keys in its order,
    then cllama's)."""
    ns = int(1e9 * (n_prompt + n_gen) / avg_ts) if avg_ts else 0
    return {
        "build_commit": "0000000", "build_number": 1, "cpu_info": "test CPU", "gpu_info": "", "backends": "CPU",
        "model_filename": model_filename, "model_type": f"llama ?B {quant}", "model_size": 1, "model_n_params": 1,
        "n_batch": 2048, "n_ubatch": 512, "n_threads": 2, "cpu_mask": "0x0", "cpu_strict": False, "poll": 50,
        "type_k": "f16", "type_v": "f16", "n_gpu_layers": 0, "n_cpu_moe": 0, "split_mode": "layer", "main_gpu": 0,
        "no_kv_offload": False, "flash_attn": 0, "devices": "auto", "tensor_split": "0.00",
        "tensor_buft_overrides": "none", "load_mode": "auto", "lazy_mode": "auto", "embeddings": False,
        "no_op_offload": 0, "no_host": False, "repack": True, "fit_target": 0, "fit_min_ctx": 0,
        "n_prompt": n_prompt, "n_gen": n_gen, "n_depth": n_depth, "test_time": "2026-01-01T00:00:00Z",
        "avg_ns": ns, "stddev_ns": 0, "avg_ts": avg_ts, "stddev_ts": 0.0, "samples_ns": [ns],
        "samples_ts": [avg_ts],
        "model_name": model_name or (f"{shape} (synthetic)" if shape else os.path.basename(model_filename)),
        "quant": quant, "synthetic": bool(shape), "shape": shape, "mem_needed": 1, "mem_available": 2,
        "fits": fits, "reason": "" if fits else "needs 9.0 GiB, 1.0 GiB available",
    }


def write(name, records):
    path = os.path.join(tmp, name)
    with open(path, "w") as f:
        json.dump(records, f, indent=2)
    return path


def warnings(stderr):
    return [l for l in stderr.splitlines() if "warning" in l]


def host_row(rows, model):
    hit = [r for r in rows if r["device"] == "host" and r["model"] == model]
    return hit[0] if len(hit) == 1 else {}


# A model file of our own for the path matching (the smallest shape, a second).
model = os.path.join(tmp, "small.gguf")
r = run("synth", "--shape", "smollm2-135m:Q4_0", "-o", model)
check(r.returncode == 0, f"synth a model file (exit {r.returncode}) {r.stderr.strip()[-200:]}")
os.makedirs(os.path.join(tmp, "sub"), exist_ok=True)
other_spelling = os.path.join(tmp, "sub", "..", "small.gguf")  # the same file, another path
file_name = "synthetic smollm2-135m Q4_0 (random weights)"  # its general.name: limits' model label

# --- matching -----------------------------------------------------------------------
fixture = write("bench.json", [
    record(512, 0, 50.0, shape="llama2-7b"),
    record(0, 128, 5.0, shape="llama2-7b"),
    record(0, 128, 4.0, shape="llama2-7b"),                       # a second tg: the first one counts
    record(0, 128, 3.0, shape="llama2-7b", n_depth=512),          # generation at a depth: --depth 512 only
    record(512, 128, 40.0, shape="llama2-7b"),                    # pp+tg: neither figure
    record(0, 128, 999.0, shape="llama2-7b", fits=False),         # did not run: no figure, no warning
    record(0, 16, 6.5, shape="llama3-8b", quant="Q4_K_M"),        # no such model here: warned
    record(0, 16, 7.5, shape="llama2-7b", quant="Q8_0"),          # same shape, other quant: warned
    record(64, 0, 300.0, model_filename=model, quant="Q4_0"),     # the file, by its path
    record(0, 8, 30.0, model_filename=model, quant="Q4_0"),
    record(0, 8, 1.0, model_filename="/nowhere/other.gguf", quant="Q4_1", model_name="other"),  # warned
    {"model": "tinyllama-1.1b (synthetic)", "quant": "Q8_0", "fits": True, "test": "tg16", "n_prompt": 0,
     "n_gen": 16, "avg_ts": 12.5},                                # the older format
])
r = run("limits", "-o", "json", "--device", "host", "--shape", "llama2-7b:Q4_0", "-m", other_spelling,
        "--shape", "tinyllama-1.1b:Q8_0", "--from-bench", fixture)
check(r.returncode == 0, f"limits --from-bench runs (exit {r.returncode}) {r.stderr.strip()[-300:]}")
rows = json.loads(r.stdout) if r.returncode == 0 else []
s = host_row(rows, "llama2-7b")
check(s.get("pp_ts") == 50.0 and s.get("tg_ts") == 5.0 and s.get("figures") == "measured",
      f"shape + quant: first pp-only 50 and tg-only 5 at depth 0 (got pp {s.get('pp_ts')}, tg {s.get('tg_ts')})")
f = host_row(rows, file_name)
check(f.get("quant") == "Q4_0", f"the file's quantization is named Q4_0, not 'file' (got {f.get('quant')})")
check(f.get("pp_ts") == 300.0 and f.get("tg_ts") == 30.0,
      f"file: matched by model_filename given as another path (got pp {f.get('pp_ts')}, tg {f.get('tg_ts')})")
o = host_row(rows, "tinyllama-1.1b")
check(o.get("tg_ts") == 12.5, f"older format 'NAME (synthetic)' + quant matched (got tg {o.get('tg_ts')})")
w = warnings(r.stderr)
print("  stderr warnings:\n    " + "\n    ".join(w))
check(len(w) == 3, f"three warnings, one per record that ran and names no model (got {len(w)})")
check(any("llama3-8b" in l and "Q4_K_M" in l and "tg16" in l and "matches no model" in l for l in w),
      "warning names the llama3-8b Q4_K_M tg16 record")
check(any("llama2-7b" in l and "Q8_0" in l and "matches no model" in l for l in w),
      "warning names the llama2-7b Q8_0 record (same shape, other quantization)")
check(any("/nowhere/other.gguf" in l and "Q4_1" in l and "tg8" in l and "-m FILE" in l for l in w),
      "warning names the record of another file by its model_filename")
check(not any("999" in l or "pp512+tg128" in l for l in w), "no warning for a record that did not fit or for pp+tg")

r = run("limits", "-o", "json", "--device", "host", "--shape", "llama2-7b:Q4_0", "--depth", "512",
        "--from-bench", fixture)
rows = json.loads(r.stdout) if r.returncode == 0 else []
s = host_row(rows, "llama2-7b")
check(s.get("tg_ts") == 3.0 and "pp_ts" not in s,
      f"--depth 512: the tg record at n_depth 512 only (got tg {s.get('tg_ts')}, pp {s.get('pp_ts')})")

only_deep = write("deep.json", [record(0, 128, 3.0, shape="llama2-7b", n_depth=512)])
r = run("limits", "-o", "json", "--device", "m1-7gpu", "--shape", "llama2-7b:Q4_0", "--from-bench", only_deep)
w = warnings(r.stderr)
check(r.returncode == 0 and any("'host'" in l and "--device host" in l for l in w),
      "--from-bench without device 'host': warned")
check(any("depth 512" in l and "--depth 0" in l for l in w),
      "a model whose records are all at another depth: warned (no measured figures)")

# --- efficiencies above 100 % -------------------------------------------------------
both = write("over.json", [record(0, 128, 1e6, shape="llama2-7b"), record(0, 128, 1e-3, shape="llama3-8b",
                                                                          quant="Q4_K_M")])
args = ["--device", "host", "--shape", "llama2-7b:Q4_0", "--shape", "llama3-8b:Q4_K_M", "--from-bench", both]
r = run("limits", *args)
lines = r.stdout.splitlines()
big = [l for l in lines if l.startswith("| this host") and "| llama2-7b |" in l]
tiny = [l for l in lines if l.startswith("| this host") and "| llama3-8b |" in l]
cells = [c.strip() for c in big[0].strip("|").split("|")] if big else []
check(len(cells) > 8 and re.fullmatch(r"\d+ % \*", cells[8]) is not None,
      f"md: tg 1e6 t/s -> efficiency marked: '{cells[8] if len(cells) > 8 else big}'")
cells = [c.strip() for c in tiny[0].strip("|").split("|")] if tiny else []
check(len(cells) > 8 and re.fullmatch(r"\d+ %", cells[8]) is not None,
      f"md: tg 1e-3 t/s -> no marker: '{cells[8] if len(cells) > 8 else tiny}'")
foot = [l for l in lines if l.startswith("Efficiency marked *")]
check(len(foot) == 1 and "probe read low" in foot[0] and "below what the engine reached" in foot[0],
      f"md: one footnote under the table: {foot}")
table_end = max(i for i, l in enumerate(lines) if l.startswith("|"))
check(foot and lines.index(foot[0]) > table_end, "the footnote is under the table")
check(foot and "last-level cache" not in foot[0], "a 7B model is not said to fit in the cache")
# a model of a few MB stays in the CPU's caches: the footnote says so (where sysfs gives the cache size)
llc = 0
for i in range(8):
    try:
        v = open(f"/sys/devices/system/cpu/cpu0/cache/index{i}/size").read().strip()
        llc = max(llc, int(v[:-1]) * {"K": 1024, "M": 1 << 20}[v[-1]] if v[-1] in "KM" else int(v))
    except (OSError, ValueError):
        pass
if llc >= 2 << 20:
    smollm = write("cached.json", [record(0, 16, 1e6, shape="smollm2-135m")])
    r = run("limits", "--device", "host", "--shape", "smollm2-135m:Q4_0", "--from-bench", smollm)
    foot = [l for l in r.stdout.splitlines() if l.startswith("Efficiency marked *")]
    fits = 135e6 * 0.6 <= llc  # Q4_0: about 4.5 bits a weight
    check(foot and ("last-level cache" in foot[0]) == fits,
          f"a model that {'fits' if fits else 'does not fit'} in the {llc >> 20} MB cache: footnote {'says' if fits else 'does not say'} so")
else:
    print("note: no cache size in sysfs: the cache footnote is not checked")
r = run("limits", "-o", "json", *args)
rows = json.loads(r.stdout) if r.returncode == 0 else []
b, t = host_row(rows, "llama2-7b"), host_row(rows, "llama3-8b")
check(b.get("efficiency_over_100") is True and "probe" in b.get("note", ""),
      f"json: efficiency_over_100 and a note on the 1e6 row ({b.get('note')})")
check(t.get("efficiency_over_100") is False and "note" not in t, "json: neither on the 1e-3 row")

small = write("small.json", [record(0, 128, 1e-3, shape="llama2-7b"), record(512, 0, 1e-3, shape="llama2-7b")])
r = run("limits", "--device", "host", "--shape", "llama2-7b:Q4_0", "--from-bench", small)
check(r.returncode == 0 and "*" not in r.stdout and "Efficiency marked" not in r.stdout,
      "md: tiny figures -> no marker and no footnote")

# --- a real bench run ---------------------------------------------------------------
out = os.path.join(tmp, "real-bench.json")
r = run("bench", "-m", model, "--shape", "smollm2-135m:Q4_0", "-p", "8", "-n", "4", "-r", "1", "-t", "1", "-o",
        "json", timeout=600)
check(r.returncode == 0, f"cllama bench -o json runs (exit {r.returncode}) {r.stderr.strip()[-200:]}")
recs = json.loads(r.stdout) if r.returncode == 0 else []
open(out, "w").write(r.stdout)
new_format = bool(recs) and all("model_filename" in x for x in recs)
print(f"  cllama bench writes the {'llama-bench (model_filename)' if new_format else 'older (model)'} format")
r = run("limits", "-o", "json", "--device", "host", "-m", model, "--shape", "smollm2-135m:Q4_0", "--from-bench", out)
rows = json.loads(r.stdout) if r.returncode == 0 else []
for name, is_file in ((file_name, True), ("smollm2-135m", False)):
    want = {}
    for x in recs:
        if new_format:  # the file's records name it; the shape's have model_filename ""
            mine = bool(x.get("model_filename")) == is_file
        else:
            mine = x.get("model") == (name if is_file else name + " (synthetic)")
        if not mine:
            continue
        kind = "pp" if x["n_prompt"] and not x["n_gen"] else "tg" if x["n_gen"] and not x["n_prompt"] else ""
        if kind and kind not in want:
            want[kind] = x["avg_ts"]
    got = host_row(rows, name)
    check(want and got.get("pp_ts") == want.get("pp") and got.get("tg_ts") == want.get("tg"),
          f"real bench, {'file' if is_file else 'shape'}: limits shows bench's figures {want} "
          f"(got pp {got.get('pp_ts')}, tg {got.get('tg_ts')})")
check(not warnings(r.stderr), f"real bench: no warnings ({warnings(r.stderr)})")

if os.path.exists(model):  # 80 MB: not kept in the build tree
    os.remove(model)
finish()
