#!/usr/bin/env python3
"""Tiny random-weight models of architectures the shared test data has no model of,
written with the `gguf` Python package (an independent GGUF writer), for golden tests
against the reference engine.

usage: make_tiny_model.py NAME OUT.gguf [GOLDEN.json]
  NAME: FAMILY-TYPE, FAMILY one of qwen2 gemma2 gemma3 phi3 mistral mistralref,
        TYPE f16 | q8_0
  mistralref is the mistral model (Llama layers, every one windowed) written as
  llama.cpp's granite_swa architecture (neutral scales, attention sinks of -1e30 that
  take no weight, every layer windowed), because the reference's llama architecture
  ignores attention.sliding_window: its logits are the golden ones of mistral.
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

# Toy sizes. A prompt of 24 tokens runs past the 8-position windows.
# qwen2: GQA 4:1, head_dim 32, Q/K/V biases, tied output, NeoX rope with Qwen's base.
# gemma2: head_dim 48 (not n_embd / n_head), window on layer 0 of 2, soft-caps small
#   enough to bite (scores 5, logits 10), large Q/K weights so that scores reach them.
# gemma3: 6 layers (5 windowed, 1 global), MQA, Q/K norms, global rope base 1e6 with
#   linear scaling 8, local layers at the default base 10000 and unscaled.
# phi3: fused QKV and gate+up, GQA 2:1, LongRoPE factors (the long ones: both engines'
#   contexts exceed original_context_length 32) and attention factor 1.19; its window
#   is in the file and applied by neither engine.
# mistral: Llama layers with attention.sliding_window 8 on every layer, GQA 4:1.
SHAPES = {
    "qwen2": dict(arch="qwen2", n_vocab=512, n_embd=256, n_layer=2, n_head=8, n_head_kv=2, n_ff=512,
                  n_ctx=2048, rope_base=1000000.0, eps=1e-6),
    "gemma2": dict(arch="gemma2", n_vocab=512, n_embd=256, n_layer=2, n_head=8, n_head_kv=4, n_ff=512,
                   n_ctx=2048, rope_base=10000.0, eps=1e-6, head_dim=48, swa=8, qk_std=3.0),
    "gemma3": dict(arch="gemma3", n_vocab=512, n_embd=256, n_layer=6, n_head=4, n_head_kv=1, n_ff=512,
                   n_ctx=2048, rope_base=1000000.0, eps=1e-6, head_dim=64, swa=8, qk_std=1.0),
    "phi3": dict(arch="phi3", n_vocab=512, n_embd=256, n_layer=2, n_head=8, n_head_kv=4, n_ff=512,
                 n_ctx=2048, rope_base=10000.0, eps=1e-5, swa=8),
    "mistral": dict(arch="llama", n_vocab=512, n_embd=256, n_layer=2, n_head=8, n_head_kv=2, n_ff=512,
                    n_ctx=2048, rope_base=10000.0, eps=1e-5, swa=8),
}
SHAPES["mistralref"] = dict(SHAPES["mistral"], arch="granite_swa")


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
    D = s.get("head_dim", E // H)
    arch = s["arch"]

    def normal(rows, cols, std):
        return (rng.standard_normal((rows, cols)) * std).astype(np.float32)

    w = gguf.GGUFWriter(out, arch)
    # A name with "phi3" in it makes the reference look up Phi-3's <|endoftext|> token.
    w.add_name(f"tiny {name} (random weights)" if arch != "phi3" else f"tiny fused-QKV LongRoPE {qtype} (random weights)")
    w.add_context_length(s["n_ctx"])
    w.add_embedding_length(E)
    w.add_block_count(L)
    w.add_feed_forward_length(F)
    w.add_head_count(H)
    w.add_head_count_kv(Hkv)
    w.add_rope_freq_base(s["rope_base"])
    w.add_layer_norm_rms_eps(s["eps"])
    w.add_file_type({T.F16: 1, T.Q8_0: 7}[wtype])
    if "head_dim" in s:
        w.add_key_length(D)
        w.add_value_length(D)
    if "swa" in s:
        w.add_sliding_window(s["swa"])
    if arch == "gemma2":
        w.add_attn_logit_softcapping(5.0)
        w.add_final_logit_softcapping(10.0)
    if arch == "gemma3":
        w.add_rope_scaling_type(gguf.RopeScalingType.LINEAR)
        w.add_rope_scaling_factor(8.0)
    if arch == "phi3":
        w.add_rope_scaling_attn_factors(1.19)
        w.add_rope_scaling_orig_ctx_len(32)
    if arch == "granite_swa":
        w.add_sliding_window_pattern([True] * L)
        w.add_logit_scale(1.0)
        w.add_embedding_scale(1.0)
        w.add_residual_scale(1.0)
    vocab(w, V)

    def matrix(tname, rows, cols, std, t=wtype):
        x = normal(rows, cols, std)  # [rows][cols]: GGUF ne = [cols, rows]
        put(tname, x, t)

    def put(tname, x, t=wtype):
        if t == T.F16:
            w.add_tensor(tname, x.astype(np.float16))
        else:
            q = gguf.quants.quantize(x, t)
            w.add_tensor(tname, q, raw_shape=q.shape, raw_dtype=t)

    def vector(tname, n, mean, std):
        w.add_tensor(tname, (mean + rng.standard_normal(n) * std).astype(np.float32))

    gemma = arch.startswith("gemma")
    # Gemma multiplies embeddings by sqrt(n_embd): smaller ones keep the stream at unit scale.
    matrix("token_embd.weight", V, E, 1.0 / np.sqrt(E) if gemma else 1.0)
    vector("output_norm.weight", E, 1.0, 0.1)
    if arch == "phi3":
        vector("rope_factors_long.weight", D // 2, 2.0, 0.5)
        vector("rope_factors_short.weight", D // 2, 1.0, 0.1)
    if arch in ("llama", "granite_swa"):
        matrix("output.weight", V, E, 1.0 / np.sqrt(E))
    qk = s.get("qk_std", 1.0) / np.sqrt(E)
    for l in range(L):
        p = f"blk.{l}."
        vector(p + "attn_norm.weight", E, 1.0, 0.1)
        if arch == "phi3":
            matrix(p + "attn_qkv.weight", (H + 2 * Hkv) * D, E, 1.0 / np.sqrt(E))
        else:
            matrix(p + "attn_q.weight", H * D, E, qk)
            matrix(p + "attn_k.weight", Hkv * D, E, qk)
            matrix(p + "attn_v.weight", Hkv * D, E, 1.0 / np.sqrt(E))
        if arch == "qwen2":
            # Qwen's Q/K biases are large next to the projections: a wrong bias shows.
            vector(p + "attn_q.bias", H * D, 0.0, 1.0)
            vector(p + "attn_k.bias", Hkv * D, 0.0, 1.0)
            vector(p + "attn_v.bias", Hkv * D, 0.0, 0.5)
        if arch == "gemma3":
            vector(p + "attn_q_norm.weight", D, 1.0, 0.3)
            vector(p + "attn_k_norm.weight", D, 1.0, 0.3)
        if arch == "granite_swa":
            w.add_tensor(p + "attn_sinks.weight", np.full(H, -1e30, dtype=np.float32))
        matrix(p + "attn_output.weight", E, H * D, 1.0 / np.sqrt(H * D))
        if gemma:
            vector(p + "post_attention_norm.weight", E, 1.0, 0.1)
        vector(p + "ffn_norm.weight", E, 1.0, 0.1)
        if arch == "phi3":
            matrix(p + "ffn_up.weight", 2 * F, E, 1.0 / np.sqrt(E))
        else:
            matrix(p + "ffn_gate.weight", F, E, 1.0 / np.sqrt(E))
            matrix(p + "ffn_up.weight", F, E, 1.0 / np.sqrt(E))
        matrix(p + "ffn_down.weight", E, F, 1.0 / np.sqrt(F))
        if gemma:
            vector(p + "post_ffw_norm.weight", E, 1.0, 0.1)
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
