#!/usr/bin/env python3
"""Output paths that cannot be written: one line with the reason, exit 1, and before
the expensive work (logits, synth, limits --svg).

usage: test_limits_errors.py CLLAMA_BIN TMPDIR

- `-o /nonexistent/x` (and a directory as -o): exit 1, exactly one line on stderr,
  "cannot write PATH: REASON" with the C library's text for the errno
  (os.strerror: "No such file or directory", "Is a directory");
- the path is checked first: logits names the output, not the missing model; synth
  fails at the path under an address-space limit of 1 GiB, where building the 3.6 GiB
  model it was asked for could not even start (so no timing is assumed); limits
  prints no table;
- an existing output file keeps its contents when the command fails before writing.
"""
import errno, os, resource, subprocess, sys
from checklib import check, finish

bin_, tmp = sys.argv[1], sys.argv[2]
os.makedirs(tmp, exist_ok=True)
ENOENT, EISDIR = os.strerror(errno.ENOENT), os.strerror(errno.EISDIR)


def run(*args, limit_as=None):
    pre = (lambda: resource.setrlimit(resource.RLIMIT_AS, (limit_as, limit_as))) if limit_as else None
    return subprocess.run([bin_, *args], capture_output=True, text=True, timeout=300, preexec_fn=pre)


def one_line_error(r, path, reason, what):
    lines = r.stderr.strip().splitlines()
    check(r.returncode == 1, f"{what}: exit 1 (got {r.returncode})")
    check(len(lines) == 1, f"{what}: one line on stderr (got {len(lines)}: {lines})")
    check(bool(lines) and f"cannot write {path}: {reason}" in lines[0], f"{what}: says why: {lines[:1]}")


bad = "/nonexistent/x"
model = os.path.join(tmp, "small.gguf")
r = run("synth", "--shape", "smollm2-135m:Q4_0", "-o", model)
check(r.returncode == 0, f"synth a small model (exit {r.returncode}) {r.stderr.strip()[-200:]}")

# --- logits ---------------------------------------------------------------------------
r = run("logits", "-m", model, "-p", "hello", "-o", bad)
one_line_error(r, bad, ENOENT, "logits -o /nonexistent/x")
r = run("logits", "-m", model, "-p", "hello", "-o", tmp)
one_line_error(r, tmp, EISDIR, "logits -o DIRECTORY")
r = run("logits", "-m", os.path.join(tmp, "missing.gguf"), "-p", "hello", "-o", bad)
one_line_error(r, bad, ENOENT, "logits: the output is checked before the model loads")
keep = os.path.join(tmp, "keep.f32")
open(keep, "wb").write(b"previous contents")
r = run("logits", "-m", os.path.join(tmp, "missing.gguf"), "-p", "hello", "-o", keep)
check(r.returncode == 1 and open(keep, "rb").read() == b"previous contents",
      "logits failing on the model leaves an existing output file as it was")
made = os.path.join(tmp, "made.f32")
if os.path.exists(made):
    os.remove(made)
r = run("logits", "-m", os.path.join(tmp, "missing.gguf"), "-p", "hello", "-o", made)
check(r.returncode == 1 and not os.path.exists(made), "logits failing leaves no empty output file behind")
r = run("logits", "-m", model, "-p", "hello", "-o", os.path.join(tmp, "ok.f32"))
check(r.returncode == 0 and os.path.getsize(os.path.join(tmp, "ok.f32")) > 0, "logits to a good path still writes")

# --- synth ----------------------------------------------------------------------------
r = run("synth", "--shape", "smollm2-135m:Q4_0", "-o", bad)
one_line_error(r, bad, ENOENT, "synth -o /nonexistent/x")
# AddressSanitizer reserves terabytes of address space for its shadow memory, so an
# address-space limit stops an ASan build before main(): checked in plain builds only.
if b"__asan_init" in open(bin_, "rb").read():
    print("note: AddressSanitizer build: the address-space-limit check is for plain builds")
else:
    r = run("synth", "--shape", "llama2-7b:Q4_0", "-o", bad, limit_as=1 << 30)
    one_line_error(r, bad, ENOENT, "synth llama2-7b (3.6 GiB) under a 1 GiB address-space limit: the path first")
r = run("synth", "--shape", "smollm2-135m:Q4_0", "-o", tmp)
one_line_error(r, tmp, EISDIR, "synth -o DIRECTORY")

# --- limits --svg ---------------------------------------------------------------------
svg = "/nonexistent/chart.svg"
r = run("limits", "--device", "m1-7gpu", "--shape", "llama2-7b:Q4_0", "--svg", svg)
one_line_error(r, svg, ENOENT, "limits --svg /nonexistent/chart.svg")
check(r.stdout == "", "limits --svg to a bad path prints no table first")

if os.path.exists(model):  # 80 MB: not kept in the build tree
    os.remove(model)
finish()
