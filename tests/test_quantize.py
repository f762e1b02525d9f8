#!/usr/bin/env python3
"""`cllama quantize` against llama-quantize and the gguf package.

usage: test_quantize.py CLLAMA TESTDATA REF.json SMOLLM2.gguf OUTDIR

 - REF.json (tests/data/quantize_ref, its "source" says how it was made) holds, for
   llama-quantize's output of tiny-llama2-s1-f16.gguf at each of the 17 file types, with
   --pure, and with --output-tensor-type / --token-embedding-type: the sha256 of the file
   and, per tensor, its name, type and data sha256. Our output for the same input and
   arguments must be the same file, byte for byte (the tensor list says where not).
 - The legacy block types of the real stories260K F32 model equal, tensor by tensor,
   what the gguf package's quantize() makes of the same floats.
 - Output loads back: our loader runs it, the gguf reader reads the recipe's types; all
   metadata keys of SmolLM2 (tokenizer, chat template) are carried over unchanged.
 - Bad input: a NaN or an infinity fails naming the tensor; a truncated file fails; a
   quantized input needs --allow-requantize; bad types and arguments exit 2. No output
   file (nor its .part) is left behind by a failure.
"""
import hashlib, json, os, shutil, subprocess, sys

cllama, testdata, ref_path, smollm2, outdir = sys.argv[1:6]
tiny = os.path.join(testdata, "models", "tiny-llama2-s1-f16.gguf")
stories = os.path.join(testdata, "models", "stories260K-f32.gguf")
if not os.path.exists(tiny):
    print(f"skipped: {tiny} is not there (../shared/testdata beside the clone)")
    sys.exit(77)
try:
    import numpy as np
    import gguf
    from gguf.quants import quantize as gguf_quantize
except ImportError as e:
    print(f"skipped: {e} (the gguf and numpy Python packages read the output)")
    sys.exit(77)
from checklib import check, finish

shutil.rmtree(outdir, ignore_errors=True)  # a file left by an earlier run would hide a leftover
os.makedirs(outdir)


def run(*args):
    return subprocess.run([cllama, "quantize", *args], capture_output=True, text=True, timeout=600)


def sha(path):
    return hashlib.sha256(open(path, "rb").read()).hexdigest()


def tensors(path):
    return [[t.name, t.tensor_type.name, hashlib.sha256(bytes(t.data)).hexdigest()] for t in gguf.GGUFReader(path).tensors]


# --- the same files as llama-quantize -----------------------------------------------
ref = json.load(open(ref_path))
check(sha(tiny) == ref["input_sha256"], "the input is the file the reference was made from")
for name, r in ref["runs"].items():
    out = os.path.join(outdir, f"tiny-{name}.gguf")
    p = run(*r["args"][:-1], tiny, out, r["args"][-1], "-t", "2")
    if not check(p.returncode == 0, f"{name}: quantize ({p.stderr.strip()[-200:]})"):
        continue
    if sha(out) == r["sha256"]:
        check(True, f"{name}: byte-identical to llama-quantize's file")
    else:
        ours = tensors(out)
        diff = [f"{o[0]} {o[1]} (ref {t[1]})" for o, t in zip(ours, r["tensors"]) if o != t]
        check(False, f"{name}: differs from llama-quantize's file; tensors differing: {len(diff)} of "
                     f"{len(ours)} {diff[:5]}{' (metadata only)' if not diff else ''}")
    os.remove(out)

# --- legacy blocks of a real model against gguf.quants --------------------------------
if os.path.exists(stories):
    src = {t.name: np.array(t.data, dtype=np.float32).reshape(t.data.shape) for t in gguf.GGUFReader(stories).tensors}
    for qt in ("Q8_0", "Q4_0", "Q4_1", "Q5_0", "Q5_1", "F16", "BF16"):
        out = os.path.join(outdir, f"stories-{qt}.gguf")
        p = run(stories, out, qt, "-q")
        if not check(p.returncode == 0, f"stories260K -> {qt} ({p.stderr.strip()[-200:]})"):
            continue
        bad, n = [], 0
        for t in gguf.GGUFReader(out).tensors:
            if t.tensor_type.name == "F32":
                continue
            n += 1
            want = gguf_quantize(src[t.name], t.tensor_type)
            if bytes(t.data) != want.tobytes():
                bad.append(f"{t.name} ({t.tensor_type.name})")
        check(n > 0 and not bad, f"stories260K {qt}: {n} tensors equal gguf.quants' bytes {bad[:4]}")
        os.remove(out)
else:
    print(f"note: {stories} is not there: the gguf.quants comparison on a real model is not run")

# --- the output loads ---------------------------------------------------------------
out = os.path.join(outdir, "tiny-Q4_K_M.gguf")
run(tiny, out, "Q4_K_M", "-q")
g = subprocess.run([cllama, "run", "-m", out, "--ids", "1,450,4996,17354", "-n", "4", "--temp", "0",
                    "--no-display-prompt"], capture_output=True, text=True, timeout=120)
check(g.returncode == 0 and len(g.stdout) > 0, f"our loader runs the Q4_K_M output ({g.stderr.strip()[-120:]})")
info = subprocess.run([cllama, "info", out], capture_output=True, text=True, timeout=60)
check("Q4_K_M" in info.stdout, "info names its file type Q4_K_M")
os.remove(out)
if os.path.exists(smollm2):
    out = os.path.join(outdir, "smollm2-Q8_0.gguf")
    p = run("--allow-requantize", smollm2, out, "Q8_0", "-q")
    a, b = gguf.GGUFReader(smollm2).fields, gguf.GGUFReader(out).fields
    keys = [k for k in a if not k.startswith("GGUF.") and k not in ("general.file_type", "general.quantization_version")]
    same = [k for k in keys if k in b and a[k].types == b[k].types and
            all(np.array_equal(np.asarray(a[k].parts[i]), np.asarray(b[k].parts[j]))
                for i, j in zip(a[k].data, b[k].data))]
    check(p.returncode == 0 and len(same) == len(keys), f"SmolLM2: all {len(keys)} metadata keys carried over "
          f"unchanged (tokenizer, chat template); differing: {sorted(set(keys) - set(same))[:5]}")
    check(int(b["general.file_type"].parts[-1][0]) == 7, "general.file_type is 7 (Q8_0)")
    os.remove(out)
else:
    print(f"note: {smollm2} is not there (scripts/setup.sh fetches it): the metadata carry-over check is not run")

# --- bad input ----------------------------------------------------------------------
def writer_file(path, arr):
    w = gguf.GGUFWriter(path, "llama")
    w.add_block_count(1)
    w.add_tensor("blk.0.ffn_up.weight", arr)
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()


def no_output(out):
    return not os.path.exists(out) and not os.path.exists(out + ".part")


for what, value in (("a NaN", np.nan), ("an infinity", np.inf)):
    arr = np.random.default_rng(1).normal(size=(8, 256)).astype(np.float32)
    arr[5, 17] = value
    bad = os.path.join(outdir, "bad.gguf")
    writer_file(bad, arr)
    out = os.path.join(outdir, "never.gguf")
    p = run(bad, out, "Q4_0", "-q")
    lines = p.stderr.strip().splitlines()
    check(p.returncode == 1 and len(lines) == 1 and "blk.0.ffn_up.weight" in lines[0] and "row 5" in lines[0]
          and no_output(out), f"{what}: exit 1, one line naming the tensor and row, no output ({lines})")

half = os.path.join(outdir, "half.gguf")
open(half, "wb").write(open(tiny, "rb").read()[: os.path.getsize(tiny) // 2])
out = os.path.join(outdir, "never.gguf")
p = run(half, out, "Q4_0", "-q")
check(p.returncode == 1 and len(p.stderr.strip().splitlines()) == 1 and no_output(out),
      f"truncated input: exit 1, one line, no output ({p.stderr.strip()})")
os.remove(half)
bad = os.path.join(outdir, "hostile.gguf")
head = bytearray(open(tiny, "rb").read(64))
head[8:16] = (1 << 62).to_bytes(8, "little")  # tensor count: 2^62
open(bad, "wb").write(bytes(head))
p = run(bad, out, "Q4_0", "-q")
check(p.returncode == 1 and len(p.stderr.strip().splitlines()) == 1 and no_output(out),
      f"hostile header (2^62 tensors): exit 1, one line, no output ({p.stderr.strip()})")
os.remove(bad)

q4 = os.path.join(outdir, "q4.gguf")
run(tiny, q4, "Q4_0", "-q")
p = run(q4, out, "Q8_0", "-q")
check(p.returncode == 1 and "--allow-requantize" in p.stderr and no_output(out),
      f"quantized input without --allow-requantize: refused ({p.stderr.strip()})")
p = run("--allow-requantize", q4, out, "Q8_0", "-q")
check(p.returncode == 0 and os.path.exists(out), "with --allow-requantize: written")
for args, what, says in (([tiny, out, "Q9_9"], "unknown type", "Q9_9"), ([tiny, out], "no type", "TYPE"),
                         ([tiny, tiny, "Q4_0"], "in = out", "overwrite"),
                         ([tiny, out, "Q4_0", "--bogus"], "unknown flag", "--bogus"),
                         ([tiny, out, "Q4_0", "--output-tensor-type"], "missing value", "needs a value")):
    p = run(*args)
    check(p.returncode == 2 and len(p.stderr.strip().splitlines()) == 1 and says in p.stderr,
          f"{what}: exit 2, one line saying '{says}' ({p.stderr.strip()})")
link = os.path.join(outdir, "same.gguf")
os.symlink(os.path.abspath(tiny), link)
p = run(tiny, link, "Q4_0", "-q")
check(p.returncode == 1 and "overwrite" in p.stderr and os.path.getsize(tiny) == os.path.getsize(link)
      and not os.path.exists(link + ".part"), f"the input under another name: refused ({p.stderr.strip()})")
os.remove(link)
p = run(tiny, out, "Q4_0", "--output-tensor-type", "Q7_7")
check(p.returncode == 1 and "Q7_7" in p.stderr, f"unknown tensor type: refused ({p.stderr.strip()})")
p = run(tiny, "/nonexistent/dir/out.gguf", "Q4_0", "-q")
check(p.returncode == 1 and "No such file or directory" in p.stderr, f"unwritable output: the reason ({p.stderr.strip()})")

# --- progress and summary ---------------------------------------------------------------
p = run(tiny, out, "Q4_K_M", "-t", "2")
lines = p.stderr.strip().splitlines()
n_t = len(ref["runs"]["Q4_K_M"]["tensors"])
check(sum(1 for l in lines if l.startswith("[")) == n_t and "bits per weight" in lines[-1],
      f"one line per tensor ({n_t}) and a summary: {lines[-1]}")
finish()
