#!/usr/bin/env python3
"""Tiny random-weight models of architectures the shared test data has no model of,
written with the `gguf` Python package (an independent GGUF writer), for golden tests
against the reference engine.

usage: make_tiny_model.py NAME OUT.gguf [GOLDEN.json]
  NAME: qwen2-f16 | qwen2-q8_0
  GOLDEN.json: fail unless the file written has the golden file's model_sha256

The weights come from numpy's legacy RandomState (its stream is fixed across numpy
versions), so every run writes the same bytes; the golden files under tests/data/golden
record the sha256 of the file they were made from, and this script refuses a model
whose hash differs (exit 1) instead of comparing against logits of another file.

Exit 77 (CTest's skip) when gguf or numpy is missing.

How the golden files were made (once, by hand, not in CI): llama.cpp from
llama-cpp-python 0.3.36's source package (commit 0c1e570, CPU, AVX-512, no AMX) and a
small program against its C API that writes the testdata/golden format (prompt_top:
top-10 logits of every prompt position in one batch; greedy: 24 steps through the KV
cache; last.f32), 2 threads, F16 KV cache:
  golden tiny-qwen2-q8_0.gguf tests/data/golden/tiny-qwen2-q8_0 --ids 1,... --steps 24
"""
import hashlib, json, sys

try:
    import numpy as np
    import gguf
    from gguf import GGMLQuantizationType as T
except ImportError as e:
    print(f"skipped: {e} (pip install gguf numpy)")
    sys.exit(77)

# Qwen2 layout at toy size: GQA 4:1, head_dim 32, Q/K/V biases, tied output, NeoX
# rope with Qwen's base.
SHAPES = {
    "qwen2": dict(arch="qwen2", n_vocab=512, n_embd=256, n_layer=2, n_head=8, n_head_kv=2, n_ff=512,
                  n_ctx=2048, rope_base=1000000.0, eps=1e-6),
}


def vocab(w, n):
    """A SentencePiece vocabulary of n tokens: <unk> <s> </s>, the 256 byte tokens, filler pieces."""
    toks, scores, types = [], [], []
    for i in range(n):
        if i < 3:
            toks.append(["<unk>", "<s>", "</s>"][i]); types.append(2 if i == 0 else 3); scores.append(0.0)
        elif i < 259:
            toks.append("<0x%02X>" % (i - 3)); types.append(6); scores.append(0.0)
        else:
            toks.append("\u2581t%d" % i); types.append(1); scores.append(-float(i))
    w.add_tokenizer_model("llama")
    w.add_token_list(toks)
    w.add_token_scores(scores)
    w.add_token_types(types)
    w.add_unk_token_id(0)
    w.add_bos_token_id(1)
    w.add_eos_token_id(2)
    w.add_add_bos_token(True)


def main():
    if len(sys.argv) not in (3, 4):
        sys.exit(__doc__)
    name, out = sys.argv[1], sys.argv[2]
    family, qtype = name.split("-")
    s = SHAPES[family]
    wtype = {"f16": T.F16, "q8_0": T.Q8_0}[qtype]
    rng = np.random.RandomState(20261130)
    E, V, F, L = s["n_embd"], s["n_vocab"], s["n_ff"], s["n_layer"]
    H, Hkv = s["n_head"], s["n_head_kv"]
    D = E // H

    def normal(rows, cols, std):
        return (rng.standard_normal((rows, cols)) * std).astype(np.float32)

    w = gguf.GGUFWriter(out, s["arch"])
    w.add_name(f"tiny {name} (random weights)")
    w.add_context_length(s["n_ctx"])
    w.add_embedding_length(E)
    w.add_block_count(L)
    w.add_feed_forward_length(F)
    w.add_head_count(H)
    w.add_head_count_kv(Hkv)
    w.add_rope_freq_base(s["rope_base"])
    w.add_layer_norm_rms_eps(s["eps"])
    w.add_file_type({T.F16: 1, T.Q8_0: 7}[wtype])
    vocab(w, V)

    def matrix(tname, rows, cols, std, t=wtype):
        x = normal(rows, cols, std)  # [rows][cols]: GGUF ne = [cols, rows]
        if t == T.F16:
            w.add_tensor(tname, x.astype(np.float16))
        else:
            q = gguf.quants.quantize(x, t)
            w.add_tensor(tname, q, raw_shape=q.shape, raw_dtype=t)

    def vector(tname, n, mean, std):
        w.add_tensor(tname, (mean + rng.standard_normal(n) * std).astype(np.float32))

    matrix("token_embd.weight", V, E, 1.0)
    vector("output_norm.weight", E, 1.0, 0.1)
    for l in range(L):
        p = f"blk.{l}."
        vector(p + "attn_norm.weight", E, 1.0, 0.1)
        matrix(p + "attn_q.weight", H * D, E, 1.0 / np.sqrt(E))
        matrix(p + "attn_k.weight", Hkv * D, E, 1.0 / np.sqrt(E))
        matrix(p + "attn_v.weight", Hkv * D, E, 1.0 / np.sqrt(E))
        # Qwen's Q/K biases are large next to the projections: a wrong bias shows.
        vector(p + "attn_q.bias", H * D, 0.0, 1.0)
        vector(p + "attn_k.bias", Hkv * D, 0.0, 1.0)
        vector(p + "attn_v.bias", Hkv * D, 0.0, 0.5)
        matrix(p + "attn_output.weight", E, H * D, 1.0 / np.sqrt(H * D))
        vector(p + "ffn_norm.weight", E, 1.0, 0.1)
        matrix(p + "ffn_gate.weight", F, E, 1.0 / np.sqrt(E))
        matrix(p + "ffn_up.weight", F, E, 1.0 / np.sqrt(E))
        matrix(p + "ffn_down.weight", E, F, 1.0 / np.sqrt(F))
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()
    if len(sys.argv) == 4:
        want = json.load(open(sys.argv[3]))["model_sha256"]
        got = hashlib.sha256(open(out, "rb").read()).hexdigest()
        if got != want:
            sys.exit(f"{out}: sha256 {got} is not the {want} that {sys.argv[3]} was made from "
                     f"(numpy {np.__version__}, gguf {getattr(gguf, '__version__', '?')})")
        print(f"{out}: sha256 matches {sys.argv[3]}")


if __name__ == "__main__":
    main()
