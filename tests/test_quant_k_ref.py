#!/usr/bin/env python3
"""cllama's K-quant quantizers against llama.cpp's llama-quantize, block for block.

usage: test_quant_k_ref.py PATH/TO/quant_dump PATH/TO/tests/data/quant_ref [stories260K-f32.gguf]

The rows of test values are 192 super-blocks: 64 of real trained weights (read from
stories260K by the folder's make_quant_ref.py, real_rows) then 128 synthetic of 16 kinds
(synthetic.f32). The folder holds the blocks that llama-quantize (llama.cpp 0c1e570, no
importance matrix, --pure) made of them for Q2_K, Q3_K, Q4_K, Q5_K and Q6_K (TYPE.bin;
how: make_quant_ref.py). For each type, cllama quantizes the rows (tests/quant_dump) and
every block must equal llama-quantize's. Without stories260K only the synthetic rows are
checked (said on a line). Printed per
type: the share of identical blocks (real / synthetic) and the RMS error of cllama's
blocks over llama-quantize's (both decoded by cllama's dequantizer, which
test_quant_ref.py checks against gguf's): 1.000 when the blocks are identical.

Exit 77 (skip) when numpy or gguf is not importable."""
import os
import subprocess
import sys
import tempfile

try:
    import numpy as np
    import gguf  # noqa: F401 (make_quant_ref reads stories260K with it)
except ImportError as e:
    print(f"SKIP: {e} (pip install numpy gguf)")
    sys.exit(77)

TYPES = {"Q2_K": 84, "Q3_K": 110, "Q4_K": 144, "Q5_K": 176, "Q6_K": 210}
N_REAL = 64  # the first 64 super-blocks are stories260K's weights
KINDS = ["normal", "uniform", "heavy tails", "outlier", "zero/constant", "sparse", "zero sub-blocks",
         "positive offset", "min dwarfs spread", "grid (ties)", "sub-block scales vary", "subnormal",
         "near f16 limit", "wide range", "mixed halves", "f16-exact"]  # 8 super-blocks each


def run(tool, tmp, mode, name, src):
    dst = os.path.join(tmp, f"{mode}-{name}.bin")
    r = subprocess.run([tool, mode, name, src, dst], capture_output=True, text=True)
    if r.returncode:
        raise SystemExit(f"quant_dump {mode} {name} failed: {r.stderr.strip()}")
    return dst


def main():
    if len(sys.argv) not in (3, 4):
        raise SystemExit(__doc__)
    tool, data = sys.argv[1:3]
    stories = sys.argv[3] if len(sys.argv) == 4 else None
    x = np.fromfile(os.path.join(data, "synthetic.f32"), dtype="<f4")
    n_real = N_REAL
    if stories and os.path.exists(stories):
        sys.path.insert(0, data)
        from make_quant_ref import real_rows
        x = np.concatenate([real_rows(stories).reshape(-1), x])
    else:
        print(f"stories260K not found ({stories}): only the synthetic rows are checked")
        n_real = 0
    nb = x.size // 256
    failures = []
    with tempfile.TemporaryDirectory(prefix="quant_k_ref_") as tmp:
        src = os.path.join(tmp, "input.f32")
        x.tofile(src)
        for name, ts in TYPES.items():
            ref_path = os.path.join(data, f"{name}.bin")
            ref = np.fromfile(ref_path, dtype=np.uint8)
            if ref.size != (nb + N_REAL - n_real) * ts:
                failures.append(f"{name}: {ref_path} has {ref.size} bytes, not {nb + N_REAL - n_real} blocks of {ts}")
                continue
            ref = ref[(N_REAL - n_real) * ts:]
            ref_path = os.path.join(tmp, f"ref-{name}.bin")
            ref.tofile(ref_path)
            mine_path = run(tool, tmp, "quant", name, src)
            mine = np.fromfile(mine_path, dtype=np.uint8)
            same = (mine.reshape(nb, ts) == ref.reshape(nb, ts)).all(axis=1)
            y_mine = np.fromfile(run(tool, tmp, "deq", name, mine_path), dtype=np.float32)
            y_ref = np.fromfile(run(tool, tmp, "deq", name, ref_path), dtype=np.float32)
            e_mine = float(np.sqrt(np.mean((y_mine.astype(np.float64) - x) ** 2)))
            e_ref = float(np.sqrt(np.mean((y_ref.astype(np.float64) - x) ** 2)))
            ratio = e_mine / e_ref if e_ref > 0 else float("nan")
            real, syn = same[:n_real], same[n_real:]
            print(f"{name}: identical blocks {same.sum()}/{nb} ({100 * same.mean():.1f} %; real weights "
                  f"{real.sum()}/{real.size}, synthetic {syn.sum()}/{syn.size}); RMS error cllama / llama-quantize "
                  f"{ratio:.4f}")
            if not same.all():
                bad = np.flatnonzero(~same)
                kinds = sorted({"real weights" if b < n_real else KINDS[(b - n_real) // 8] for b in bad})
                i = int(bad[0])
                failures.append(f"{name}: {bad.size} blocks differ from llama-quantize's (rows: {', '.join(kinds)}; "
                                f"first: block {i}, cllama {mine.reshape(nb, ts)[i][:12].tobytes().hex()}.. "
                                f"llama-quantize {ref.reshape(nb, ts)[i][:12].tobytes().hex()}..)")
    if failures:
        print("FAILED:\n  " + "\n  ".join(failures))
        return 1
    print("every K-quant block equals llama-quantize's")
    return 0


if __name__ == "__main__":
    sys.exit(main())
