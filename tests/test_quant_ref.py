#!/usr/bin/env python3
"""Checks cllama's block formats against an independent implementation: the `gguf`
package's numpy (de)quantizers (gguf-py, maintained with llama.cpp).

usage: test_quant_ref.py PATH/TO/quant_dump

1. Random valid blocks of every weight type (random bytes, f16 scale fields replaced
   by finite values) decode identically in cllama and gguf (within float rounding of
   the different evaluation orders). F16 and BF16 are checked on all 65536 patterns.
2. cllama's quantizers produce blocks that gguf decodes back to the input within the
   error expected of each type; F16/BF16 encodings are bit-identical to numpy's.
Exit 77 (skip) when numpy or gguf is not importable."""
import os
import subprocess
import sys
import tempfile

try:
    import numpy as np
    from gguf import GGMLQuantizationType as QT
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


def main():
    if len(sys.argv) != 2:
        raise SystemExit(__doc__)
    tool = sys.argv[1]
    for name in ["F16", "BF16", *TYPES]:
        check_decode(tool, name)
    for name in ROUNDTRIP:
        check_roundtrip(tool, name)
    if failures:
        print("FAILED:\n  " + "\n  ".join(failures))
        return 1
    print("all block formats match gguf")
    return 0


if __name__ == "__main__":
    sys.exit(main())
