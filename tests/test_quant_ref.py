#!/usr/bin/env python3
"""Checks cllama's block formats against an independent implementation: the `gguf`
package's numpy (de)quantizers (gguf-py, maintained with llama.cpp).

usage: test_quant_ref.py PATH/TO/quant_dump [stories260K-f32.gguf]

1. Random valid blocks of every weight type (random bytes, f16 scale fields replaced
   by finite values) decode identically in cllama and gguf (within float rounding of
   the different evaluation orders). F16 and BF16 are checked on all 65536 patterns.
2. Byte equality of the quantizers that gguf has (gguf 0.19: F16, BF16, Q4_0, Q4_1,
   Q5_0, Q5_1, Q8_0; it has no K-quant quantizer): cllama's blocks equal
   gguf.quants.quantize's, block for block, on rows of many kinds (normal, uniform,
   heavy-tailed, an outlier, zeros, constants, grids that put values exactly on
   rounding ties, subnormal and tiny values, values near the f16 limit, ...) and on
   every F32 tensor of stories260K (real trained weights; skipped if the file is not
   given or absent). F16/BF16 also on bit patterns around every rounding boundary.
   One deliberate exception, checked separately: a Q4_0/Q5_0 block of negative zeros,
   where gguf's d is +0 but llama.cpp's (whose bytes cllama follows) is -0.
3. Round trips through gguf's dequantizers: the quantizers' error stays within the
   bound of each type on Gaussian rows, and, for the K-quants, every 256-value block
   of rows of several kinds comes back within BLOCK_BOUND x the RMS of its row.
   Rows of NaN/Inf do not crash or hang any quantizer (callers reject them first).
Exit 77 (skip) when numpy or gguf is not importable. The K-quants' byte equality with
llama.cpp is test_quant_k_ref.py's (against blocks stored from llama-quantize)."""
import os
import subprocess
import sys
import tempfile
import warnings

try:
    import numpy as np
    from gguf import GGMLQuantizationType as QT
    from gguf import GGUFReader
    from gguf.quants import dequantize, quantize
except ImportError as e:
    print(f"SKIP: {e} (pip install gguf numpy)")
    sys.exit(77)

# type -> (block values, block bytes, byte offsets of f16 scale fields)
TYPES = {
    "Q4_0": (32, 18, [0]),
    "Q4_1": (32, 20, [0, 2]),
    "Q5_0": (32, 22, [0]),
    "Q5_1": (32, 24, [0, 2]),
    "Q8_0": (32, 34, [0]),
    "Q2_K": (256, 84, [80, 82]),
    "Q3_K": (256, 110, [108]),
    "Q4_K": (256, 144, [0, 2]),
    "Q5_K": (256, 176, [0, 2]),
    "Q6_K": (256, 210, [208]),
}

# Relative RMS error allowed for the quantizer round trip on Gaussian data.
ROUNDTRIP = {
    "F16": 1e-3, "BF16": 5e-3, "Q8_0": 0.01, "Q4_0": 0.12, "Q4_1": 0.11, "Q5_0": 0.06,
    "Q5_1": 0.055, "Q2_K": 0.45, "Q3_K": 0.25, "Q4_K": 0.12, "Q5_K": 0.06, "Q6_K": 0.03,
}

rng = np.random.default_rng(1234)
failures = []
tmp = tempfile.mkdtemp(prefix="quant_ref_")


def run(tool, mode, name, data):
    src, dst = os.path.join(tmp, "in.bin"), os.path.join(tmp, "out.bin")
    data.tofile(src)
    r = subprocess.run([tool, mode, name, src, dst], capture_output=True, text=True)
    if r.returncode:
        raise SystemExit(f"quant_dump {mode} {name} failed: {r.stderr.strip()}")
    return np.fromfile(dst, dtype=np.float32 if mode == "deq" else np.uint8)


def sane_f16(n):
    """Finite f16 scales of both signs, including zero and subnormals."""
    v = rng.uniform(1e-3, 2.0, n) * rng.choice([-1, 1], n)
    v[rng.random(n) < 0.05] = 0.0
    v[rng.random(n) < 0.05] = rng.uniform(1e-7, 6e-5)  # subnormal range
    return v.astype(np.float16)


def random_blocks(name, nb):
    bs, ts, fields = TYPES[name]
    raw = rng.integers(0, 256, size=(nb, ts), dtype=np.uint8)
    for off in fields:
        raw[:, off:off + 2] = sane_f16(nb).view(np.uint8).reshape(nb, 2)
    return raw.reshape(-1)


def check_decode(tool, name):
    qt = QT[name]
    if name in ("F16", "BF16"):
        raw = np.arange(65536, dtype=np.uint16).view(np.uint8)
        bs = 1
    else:
        bs = TYPES[name][0]
        raw = random_blocks(name, 4096 if bs == 32 else 512)
    mine = run(tool, "deq", name, raw)
    ref = np.asarray(dequantize(raw, qt), dtype=np.float32).reshape(-1)
    if mine.shape != ref.shape:
        failures.append(f"{name}: decoded {mine.size} values, gguf {ref.size}")
        return
    if bs == 1:
        same = (mine.view(np.uint32) == ref.view(np.uint32)) | (np.isnan(mine) & np.isnan(ref))
        bad = int((~same).sum())
        worst = 0.0
    else:
        # Different evaluation orders (d*sc*q vs d*(sc*q)) differ by a few ulps of
        # the block's largest term.
        scale = np.abs(ref).reshape(-1, bs).max(axis=1, keepdims=True) + 1e-30
        err = (np.abs(mine - ref).reshape(-1, bs) / scale)
        worst = float(err.max())
        bad = int((err > 1e-6).sum())
    status = "ok" if bad == 0 else "FAIL"
    print(f"decode    {name:5s} {mine.size:7d} values  max rel err {worst:.2e}  {status}")
    if bad:
        i = int(np.argmax(mine != ref))
        failures.append(f"{name}: {bad} decoded values differ from gguf (first at {i}: {mine[i]} vs {ref[i]})")


def check_roundtrip(tool, name):
    qt = QT[name]
    bs = TYPES[name][0] if name in TYPES else 1
    n = 256 * 512
    x = rng.standard_normal(n).astype(np.float32)
    # Rows of different magnitudes, and an all-zero and a constant block.
    x *= np.repeat(np.float32(10.0) ** rng.uniform(-3, 2, n // 256).astype(np.float32), 256)
    x[:256] = 0
    x[256:512] = 0.75
    blocks = run(tool, "quant", name, x)
    y = np.asarray(dequantize(blocks, qt), dtype=np.float32).reshape(-1)
    if y.size != n or not np.all(np.isfinite(y)):
        failures.append(f"{name}: quantizer output does not decode to {n} finite values")
        return
    rows = x.reshape(-1, 256)[2:]
    err = (y.reshape(-1, 256)[2:] - rows)
    rel = float(np.sqrt((err ** 2).mean(axis=1) / (rows ** 2).mean(axis=1)).max())
    zero_ok = np.all(y[:256] == 0)
    const_ok = np.abs(y[256:512] - 0.75).max() <= 0.75 * ROUNDTRIP[name] * 2
    ok = rel <= ROUNDTRIP[name] and zero_ok and const_ok
    extra = ""
    if name in ("F16", "BF16"):
        ref = np.asarray(quantize(x, qt)).view(np.uint8).reshape(-1)
        exact = np.array_equal(ref, blocks)
        ok = ok and exact
        extra = f"  bit-exact vs numpy: {exact}"
    print(f"roundtrip {name:5s} worst row rel rms err {rel:.4f} (limit {ROUNDTRIP[name]}){extra}  {'ok' if ok else 'FAIL'}")
    if not ok:
        failures.append(f"{name}: quantizer round trip through gguf failed (rel err {rel:.4f}, zero {zero_ok}, const {const_ok})")


# ---- byte equality with gguf's quantizers ----

LEGACY = ["F16", "BF16", "Q4_0", "Q4_1", "Q5_0", "Q5_1", "Q8_0"]


def grid(n_rows, n, lo, hi, span, offset=False):
    """Values k * c/2 (c a power of two, k in lo..hi) with the first value of every
    32-value block at the extreme `span` * c: each type's d = span*c / levels is then
    exact, so x / d lands exactly on .5 ties (the rounding mode shows)."""
    c = np.float32(2.0) ** rng.integers(-12, 6, (n_rows, 1)).astype(np.float32)
    k = rng.integers(lo, hi + 1, (n_rows, n)).astype(np.float32)
    x = k * c / 2
    if offset:  # min at 0 shifted: values m + k*c/2, k >= 0, min and max present
        x[:, ::32] = 0
        x[:, 1::32] = span * c
        x = x + np.float32(3) * c
    else:
        x[:, ::32] = span * c * rng.choice(np.float32([-1, 1]), (n_rows, 1))
    return x.astype(np.float32)


def row_kinds(n_rows, n, lo=-4, hi=3):
    """Rows of many kinds: name -> float32 (rows, n); the scaled kinds at scales
    10^lo..10^hi."""
    def scales():
        return (10.0 ** rng.uniform(lo, hi, (n_rows, 1))).astype(np.float32)

    def g():
        return rng.standard_normal((n_rows, n)).astype(np.float32)

    k = {}
    k["normal"] = g() * scales()
    k["uniform"] = rng.uniform(-1, 1, (n_rows, n)).astype(np.float32) * scales()
    k["heavy-tailed"] = rng.standard_t(2, (n_rows, n)).astype(np.float32) * scales()
    x = g() * scales()
    x[np.arange(n_rows), rng.integers(0, n, n_rows)] *= 1000
    k["outlier"] = x
    k["zeros"] = np.zeros((4, n), np.float32)
    k["constant"] = np.repeat(scales() * rng.choice(np.float32([-1, 1]), (n_rows, 1)), n, axis=1)
    k["sparse"] = np.where(rng.random((n_rows, n)) < 0.85, np.float32(0), g() * scales())
    k["positive offset"] = np.abs(g()) * scales() + 3 * scales()
    s = scales()
    k["min dwarfs spread"] = -100 * s + g() * s * np.float32(1e-4)
    k["small ints"] = rng.integers(-3, 4, (n_rows, n)).astype(np.float32)
    k["f16-exact"] = (g() * scales()).astype(np.float16).astype(np.float32)
    k["ties Q4_0"] = grid(n_rows, n, -16, 16, 8)
    k["ties Q5_0"] = grid(n_rows, n, -32, 32, 16)
    k["ties Q8_0"] = grid(n_rows, n, -254, 254, 127)
    k["ties Q4_1"] = grid(n_rows, n, 0, 30, 15, offset=True)
    k["ties Q5_1"] = grid(n_rows, n, 0, 62, 31, offset=True)
    k["subnormal"] = g() * np.float32(1e-39)          # float32 subnormals
    k["tiny"] = g() * np.float32(1e-37)               # 1/d overflows to inf
    k["near f16 limit"] = g() * np.float32(2e4)       # some d, m overflow f16
    k["beyond f16"] = rng.uniform(-1, 1, (n_rows, n)).astype(np.float32) * np.float32(1e6)
    for name in k:
        k[name] = np.asarray(k[name], dtype=np.float32)
    return k


def f16_boundaries():
    """float32 values at and next to every f16 and bf16 rounding boundary, of both
    signs: the midpoints between neighbours (the ties), one float ulp either side,
    the overflow threshold 65520 and subnormal f16 results."""
    h = np.arange(0, 0x7BFF, dtype=np.uint32)  # finite non-negative f16 patterns
    lo = h.astype(np.uint16).view(np.float16).astype(np.float32)
    hi = (h + 1).astype(np.uint16).view(np.float16).astype(np.float32)
    mid = (lo.astype(np.float64) + hi.astype(np.float64)) / 2  # exact in float32
    mid = mid.astype(np.float32)
    b = (np.arange(0, 0x7F80, 7, dtype=np.uint32) << 16) + 0x8000  # bf16 ties
    pats = np.concatenate([mid.view(np.uint32), b])
    pats = np.concatenate([pats, pats - 1, pats + 1])
    v = np.concatenate([pats.view(np.float32), np.float32([65504, 65519.996, 65520, 65520.004, 1e30, np.inf, 0])])
    return np.concatenate([v, -v]).astype(np.float32)


def compare_bytes(tool, name, x, label, expect=None):
    """Quantizes x (rows) with cllama and gguf; records a failure unless every block
    is identical. Returns (blocks differing, blocks)."""
    qt = QT[name]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # gguf divides by zero on zero blocks
        ref = np.asarray(quantize(x, qt)).view(np.uint8).reshape(-1) if expect is None else expect
    mine = run(tool, "quant", name, np.ascontiguousarray(x).reshape(-1))
    bs, ts = (1, 2) if name in ("F16", "BF16") else (TYPES[name][0], TYPES[name][1])
    if mine.size != ref.size:
        failures.append(f"{name} {label}: {mine.size} bytes, gguf {ref.size}")
        return 0, 0
    diff = (mine.reshape(-1, ts) != ref.reshape(-1, ts)).any(axis=1)
    bad = int(diff.sum())
    if bad:
        i = int(np.argmax(diff))
        failures.append(f"{name} {label}: {bad} of {diff.size} blocks differ from gguf (first: block {i}, "
                        f"cllama {mine.reshape(-1, ts)[i][:8].tobytes().hex()}.. gguf {ref.reshape(-1, ts)[i][:8].tobytes().hex()}..)")
    return bad, int(diff.size)


def check_bytes_random(tool):
    kinds = row_kinds(64, 256)
    bounds = f16_boundaries()
    for name in LEGACY:
        total = bad = 0
        worst = []
        for label, x in kinds.items():
            b, n = compare_bytes(tool, name, x, label)
            bad, total = bad + b, total + n
            if b:
                worst.append(label)
        if name in ("F16", "BF16"):
            b, n = compare_bytes(tool, name, bounds.reshape(1, -1), "rounding boundaries")
            bad, total = bad + b, total + n
            if b:
                worst.append("rounding boundaries")
        status = "ok" if not bad else "FAIL (" + ", ".join(worst) + ")"
        print(f"bytes     {name:5s} {total:7d} blocks of {len(kinds)} kinds: {total - bad} identical to gguf  {status}")


def check_negative_zero(tool):
    """A block of -0.0: llama.cpp's Q4_0/Q5_0 start from max = +0 and store
    d = 0 / -8 = -0 (f16 0x8000); gguf takes the -0.0 element and stores +0. cllama
    follows llama.cpp (llama-quantize's bytes); both decode to zeros."""
    x = np.full((1, 32), -0.0, np.float32)
    for name in ("Q4_0", "Q5_0"):
        mine = run(tool, "quant", name, x.reshape(-1))
        ok = mine[:2].tobytes() == b"\x00\x80"
        print(f"bytes     {name:5s} block of -0.0: d = {mine[1]:02x}{mine[0]:02x} (llama.cpp: 8000)  {'ok' if ok else 'FAIL'}")
        if not ok:
            failures.append(f"{name}: block of -0.0 gives d {mine[1]:02x}{mine[0]:02x}, llama.cpp 8000")


def real_tensors(path):
    """The F32 tensors of a GGUF as rows: name -> (rows, ne0) float32."""
    out = {}
    for t in GGUFReader(path).tensors:
        if t.tensor_type != QT.F32:
            continue
        ne0 = int(t.shape[0])
        out[t.name] = np.asarray(t.data, dtype=np.float32).reshape(-1, ne0)
    return out


def check_bytes_real(tool, path):
    if not path or not os.path.exists(path):
        print(f"bytes     real tensors skipped: {path or 'no model given'} is not there")
        return
    tensors = real_tensors(path)
    for name in LEGACY:
        bs = 1 if name in ("F16", "BF16") else 32
        total = bad = 0
        for tname, x in tensors.items():
            if x.shape[1] % bs:  # ffn_down rows are 172 long: cut the flattened values
                flat = x.reshape(-1)
                x = flat[:flat.size // bs * bs].reshape(1, -1)
            b, n = compare_bytes(tool, name, x, f"tensor {tname}")
            bad, total = bad + b, total + n
        print(f"bytes     {name:5s} {total:7d} blocks of {len(tensors)} real tensors: {total - bad} identical to gguf  "
              f"{'ok' if not bad else 'FAIL'}")


# ---- K-quants: every block within a bound of its row's RMS ----

# Largest RMS error of one 256-value block, relative to the RMS of its 1024-value row:
# (bound on the typical kinds of row, bound on the hard kinds: heavy tails, an outlier,
# mostly zeros, the real weights). About 1.25 x the worst measured over ten seeds, at
# row scales 10^-2.5..10^1 (Q6_K's constant rows are the worst typical ones: its d =
# max/4096 is an f16 subnormal below max ~0.25, and a constant row shows d's rounding
# directly). Not covered: rows of RMS below ~1e-3, where d = max/63
# or max/4096 falls into f16's subnormal range and the error grows past the RMS, and
# values whose d or dmin overflow f16 (llama-quantize rejects such rows); the reference
# quantizers behave the same (identical bytes).
BLOCK_BOUND = {"Q2_K": (0.52, 1.2), "Q3_K": (0.27, 0.38), "Q4_K": (0.13, 0.29), "Q5_K": (0.065, 0.16),
               "Q6_K": (0.045, 0.1)}
TYPICAL = ("normal", "uniform", "positive offset", "small ints", "f16-exact", "near f16 limit", "constant",
           "sub-block scales vary")
HARD = ("heavy-tailed", "outlier", "sparse", "stories260K")


def check_block_bounds(tool, path):
    kinds = row_kinds(48, 1024, -2.5, 1)
    g = rng.standard_normal((48, 1024)).astype(np.float32)
    kinds["sub-block scales vary"] = g * (1 + 4 * (np.arange(1024) // 16 % 4)).astype(np.float32)
    if path and os.path.exists(path):
        flat = np.concatenate([x.reshape(-1) for x in real_tensors(path).values()])
        kinds["stories260K"] = flat[:flat.size // 1024 * 1024].reshape(-1, 1024)
    for name, bounds in BLOCK_BOUND.items():
        line = []
        for group, bound in zip((TYPICAL, HARD), bounds):
            worst, where = 0.0, ""
            for label in group:
                if label not in kinds:
                    continue
                x = kinds[label]
                blocks = run(tool, "quant", name, x.reshape(-1))
                y = np.asarray(dequantize(blocks, QT[name]), dtype=np.float32).reshape(x.shape)
                row_rms = np.sqrt((x.astype(np.float64) ** 2).mean(axis=1, keepdims=True))
                err = (y - x).astype(np.float64).reshape(x.shape[0], -1, 256)
                rel = np.sqrt((err ** 2).mean(axis=2)) / row_rms
                if not np.all(np.isfinite(rel)):
                    worst, where = float("inf"), label
                elif rel.max() > worst:
                    worst, where = float(rel.max()), label
            line.append(f"{worst:.3f} ({where}; bound {bound})")
            if not worst <= bound:
                failures.append(f"{name}: a block's RMS error is {worst:.4f} x its row's RMS on {where} rows (bound {bound})")
        zero = run(tool, "quant", name, np.zeros(256, np.float32))
        zero_ok = bool(np.all(np.asarray(dequantize(zero, QT[name])) == 0))
        if not zero_ok:
            failures.append(f"{name}: a zero block does not decode to zeros")
        print(f"blocks    {name:5s} worst block rms err / row rms: typical {line[0]}, hard {line[1]}, "
              f"zero block exact: {zero_ok}")


def check_nonfinite(tool):
    """NaN and Inf in a row: the quantizers return (callers reject such rows first)."""
    x = rng.standard_normal(1024).astype(np.float32)
    x[3], x[300], x[600], x[601] = np.nan, np.inf, -np.inf, np.nan
    x[768:] = np.nan
    for name in LEGACY + list(BLOCK_BOUND):
        src, dst = os.path.join(tmp, "nf.bin"), os.path.join(tmp, "nf.out")
        x.tofile(src)
        try:
            r = subprocess.run([tool, "quant", name, src, dst], capture_output=True, timeout=60)
            ok = r.returncode == 0
        except subprocess.TimeoutExpired:
            ok = False
        if not ok:
            failures.append(f"{name}: quantizing a row with NaN/Inf crashed or hung")
    print(f"nonfinite rows with NaN/Inf: every quantizer returns  {'ok' if not any('NaN' in f for f in failures) else 'FAIL'}")


def main():
    if len(sys.argv) not in (2, 3):
        raise SystemExit(__doc__)
    tool = sys.argv[1]
    model = sys.argv[2] if len(sys.argv) == 3 else None
    for name in ["F16", "BF16", *TYPES]:
        check_decode(tool, name)
    for name in ROUNDTRIP:
        check_roundtrip(tool, name)
    check_bytes_random(tool)
    check_negative_zero(tool)
    check_bytes_real(tool, model)
    check_block_bounds(tool, model)
    check_nonfinite(tool)
    if failures:
        print("FAILED:\n  " + "\n  ".join(failures))
        return 1
    print("all block formats match gguf")
    return 0


if __name__ == "__main__":
    sys.exit(main())
