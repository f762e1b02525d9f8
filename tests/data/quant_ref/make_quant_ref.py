#!/usr/bin/env python3
"""Makes the reference K-quant blocks in this folder with llama.cpp's llama-quantize.
Run by hand, once, where the reference engine is built (not in CI); what it writes
is committed.

usage: make_quant_ref.py LLAMA_QUANTIZE STORIES260K_F32_GGUF OUTDIR

1. Rows of test values (192 super-blocks of 256, float32):
   - 32 rows of 512: real trained weights, the F32 tensors of stories260K flattened
     and cut into 256-value pieces (token_embd, output, attention and FFN matrices of
     layers 0 and 4, and the norm weights: all near 1, all positive);
   - 128 rows of 256: synthetic, 8 rows of each of 16 kinds (see synthetic_rows),
     stored as synthetic.f32 (little-endian).
2. A llama-architecture GGUF holding them as two F32 tensors, blk.0.ffn_gate.weight
   (512 x 32) and blk.0.ffn_up.weight (256 x 128), quantized by
     llama-quantize --pure IN.gguf OUT.gguf TYPE 1
   for TYPE in Q2_K, Q3_K_S, Q4_K_S, Q5_K_S, Q6_K (no importance matrix; --pure: every
   tensor of the file gets that ftype's base type, Q3_K_S -> Q3_K etc.).
3. TYPE.bin: the two tensors' blocks from OUT.gguf (read with the gguf package): the
   64 super-blocks of the real rows, then the 128 of the synthetic ones.
"""
import os
import subprocess
import sys
import tempfile

import numpy as np
import gguf
from gguf import GGMLQuantizationType as QT

FTYPES = {"Q2_K": "Q2_K", "Q3_K": "Q3_K_S", "Q4_K": "Q4_K_S", "Q5_K": "Q5_K_S", "Q6_K": "Q6_K"}


def real_rows(path):
    """32 x 512 values of stories260K's trained weights."""
    r = gguf.GGUFReader(path)
    t = {x.name: np.asarray(x.data, dtype=np.float32).reshape(-1) for x in r.tensors}
    pieces = [t["token_embd.weight"][:2048], t["output.weight"][:1536]]
    for b in (0, 4):
        for name, n in (("attn_q", 1024), ("attn_k", 512), ("attn_v", 512), ("attn_output", 1024),
                        ("ffn_gate", 1024), ("ffn_down", 1024), ("ffn_up", 1024)):
            pieces.append(t[f"blk.{b}.{name}.weight"][:n])
    norms = np.concatenate([v for k, v in sorted(t.items()) if k.endswith("norm.weight")])
    pieces.append(norms[:512])
    vals = np.concatenate(pieces)
    assert vals.size == 32 * 512, vals.size
    return vals.reshape(32, 512)


def synthetic_rows(rng):
    """128 x 256: 8 rows of each kind, at scales from 1e-4 to 1e2."""
    rows = []
    for kind in range(16):
        for r in range(8):
            s = np.float32(10.0 ** rng.uniform(-4, 2))
            g = rng.standard_normal(256).astype(np.float32)
            if kind == 0:    x = g * s                                   # normal
            elif kind == 1:  x = rng.uniform(-1, 1, 256) * s              # uniform
            elif kind == 2:  x = rng.standard_t(2, 256) * s               # heavy tails
            elif kind == 3:                                               # one outlier
                x = g * s
                x[rng.integers(256)] = s * 300 * rng.choice([-1, 1])
            elif kind == 4:  x = np.zeros(256) if r < 4 else np.full(256, s * rng.choice([-1, 1]))  # zero, constant
            elif kind == 5:  x = np.where(rng.random(256) < 0.85, 0, g * s)  # sparse
            elif kind == 6:                                               # zero sub-blocks
                x = g * s
                for j in rng.choice(16, 6, replace=False):
                    x[16 * j:16 * j + 16] = 0
            elif kind == 7:  x = np.abs(g) * s + 2 * s                    # all positive, offset
            elif kind == 8:  x = -100 * s + g * s * 1e-4                  # min dwarfs spread
            elif kind == 9:  x = rng.integers(-8, 9, 256) * (s / 8)       # grid values: ties
            elif kind == 10: x = g * (1 + 4 * (np.arange(256) // 16 % 4)) * s  # sub-block scales vary
            elif kind == 11: x = g * 1e-39                               # subnormal floats
            elif kind == 12: x = g * 2e4                                 # near the f16 limit
            elif kind == 13: x = rng.lognormal(0, 2, 256) * rng.choice([-1, 1], 256) * s  # wide range
            elif kind == 14: x = np.where(np.arange(256) % 32 < 16, g * s, g * s * 1e-3)  # mixed halves
            else:            x = (g * s).astype(np.float16)              # f16-exact values
            rows.append(np.asarray(x, dtype=np.float32))
    return np.stack(rows)


def write_gguf(path, a, b):
    w = gguf.GGUFWriter(path, "llama")
    w.add_context_length(256)
    w.add_embedding_length(256)
    w.add_feed_forward_length(512)
    w.add_block_count(1)
    w.add_head_count(4)
    w.add_head_count_kv(4)
    w.add_rope_dimension_count(64)
    w.add_layer_norm_rms_eps(1e-5)
    w.add_tensor("blk.0.ffn_gate.weight", a)
    w.add_tensor("blk.0.ffn_up.weight", b)
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()


def main():
    if len(sys.argv) != 4:
        raise SystemExit(__doc__)
    quantize, stories, out = sys.argv[1:]
    a = real_rows(stories)
    b = synthetic_rows(np.random.default_rng(17))
    os.makedirs(out, exist_ok=True)
    # Only the synthetic rows are stored: the real ones are read from stories260K again
    # by the test (nothing of the shared test data is copied into the repository).
    b.astype("<f4").tofile(os.path.join(out, "synthetic.f32"))
    with tempfile.TemporaryDirectory() as tmp:
        src = os.path.join(tmp, "in.gguf")
        write_gguf(src, a, b)
        for name, ftype in FTYPES.items():
            dst = os.path.join(tmp, f"{name}.gguf")
            subprocess.run([quantize, "--pure", src, dst, ftype, "1"], check=True,
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            t = {x.name: x for x in gguf.GGUFReader(dst).tensors}
            blocks = []
            for tn in ("blk.0.ffn_gate.weight", "blk.0.ffn_up.weight"):
                if t[tn].tensor_type != QT[name]:
                    raise SystemExit(f"{tn} came out as {t[tn].tensor_type.name}, not {name}")
                blocks.append(np.asarray(t[tn].data).view(np.uint8).reshape(-1))
            np.concatenate(blocks).tofile(os.path.join(out, f"{name}.bin"))
            print(f"{name}: {sum(x.size for x in blocks)} bytes")


if __name__ == "__main__":
    main()
