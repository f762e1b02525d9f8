#!/usr/bin/env python3
"""Models split in parts (NAME-00001-of-0000K.gguf, as big models are published): the
parts written by the gguf package's GGUFWriter (split_max_tensors), loaded by cllama.

usage: test_split.py CLLAMA TESTDATA OUTDIR [MPIRUN]

 - the logits of a prompt from the parts are the whole file's, bit for bit (and under
   mpirun -np 2 when MPIRUN is given);
 - info counts the tensors and bytes of all parts;
 - a missing part, a first part under another name, a later part given first: one-line
   errors naming the problem.
Skips (77) without the tiny model or the gguf package."""
import os, shutil, subprocess, sys

cllama, testdata, outdir = sys.argv[1:4]
mpirun = sys.argv[4] if len(sys.argv) > 4 else None
model = os.path.join(testdata, "models", "tiny-llama2-s1-q4_k_m.gguf")
if not os.path.exists(model):
    print(f"skipped: {model} is not there")
    sys.exit(77)
try:
    from gguf_split import split
except ImportError as e:
    print(f"skipped: {e} (the gguf Python package writes the parts)")
    sys.exit(77)
from checklib import check, finish

shutil.rmtree(outdir, ignore_errors=True)
os.makedirs(outdir)
first, k = split(model, os.path.join(outdir, "tiny"), 8)
check(k == 3 and os.path.exists(first), f"the gguf package wrote {k} parts")


def logits(path, mpi=False):
    out = os.path.join(outdir, "l.f32")
    if os.path.exists(out):
        os.remove(out)
    args = [cllama, "logits", "-m", path, "-p", "Once upon a time, in a land far away", "-o", out, "-t", "1"]
    if mpi:
        args = [mpirun, "--oversubscribe", "-np", "2"] + (["--allow-run-as-root"] if os.geteuid() == 0 else []) + args
    p = subprocess.run(args, capture_output=True, text=True, timeout=120)
    return (open(out, "rb").read() if p.returncode == 0 else None), p


whole, _ = logits(model)
parts, p = logits(first)
check(whole and parts == whole, f"logits from the {k} parts are the whole file's, bit for bit {p.stderr.strip()[-200:]}")
if mpirun:
    mine, p = logits(first, mpi=True)
    check(mine == whole, f"and under mpirun -np 2 {p.stderr.strip()[-200:] if mine != whole else ''}")
p = subprocess.run([cllama, "info", first], capture_output=True, text=True)
check(p.returncode == 0 and "21 tensors" in p.stdout and "parts:           3 files" in p.stdout and
      f"({os.path.getsize(model) + 0} bytes" not in p.stdout, "info: 21 tensors in 3 files")
third = first.replace("-00001-of-", "-00003-of-")
os.rename(third, third + ".away")
_, p = logits(first)
check(p.returncode == 1 and "part 3 of 3" in p.stderr and "No such file" in p.stderr,
      f"a missing part: {p.stderr.strip()}")
os.rename(third + ".away", third)
other = os.path.join(outdir, "renamed.gguf")
shutil.copy(first, other)
_, p = logits(other)
check(p.returncode == 1 and "NAME-00001-of-00003.gguf" in p.stderr, f"the first part renamed: {p.stderr.strip()}")
_, p = logits(first.replace("-00001-of-", "-00002-of-"))
check(p.returncode == 1 and "load the first" in p.stderr, f"a later part given: {p.stderr.strip()}")
finish()
