#!/usr/bin/env python3
"""Models cllama does not run are refused by `cllama run` with one clear line, and the
per-layer window list is read (`cllama info`): small files written by the gguf Python
package (an independent writer).

usage: test_arch_refusals.py CLLAMA TMPDIR
Exit 77 (CTest's skip) when gguf or numpy is missing.
"""
import os, subprocess, sys

sys.path.insert(0, os.path.dirname(__file__))
from checklib import check, finish

try:
    import numpy as np
    import gguf
    from make_tiny_model import vocab
except ImportError as e:
    print(f"skipped: {e} (pip install gguf numpy)")
    sys.exit(77)

E, V, F, H = 64, 300, 128, 4


def write(path, arch, keys=None, layers=2, extra=()):
    """A Llama-layout model of `layers` layers under `arch`, with extra metadata keys
    (name -> value, the writer's method chosen by the value's type) and tensors."""
    w = gguf.GGUFWriter(path, arch)
    w.add_context_length(256)
    w.add_embedding_length(E)
    w.add_block_count(layers)
    w.add_feed_forward_length(F)
    w.add_head_count(H)
    w.add_head_count_kv(H)
    w.add_layer_norm_rms_eps(1e-5)
    for k, v in (keys or {}).items():
        key = f"{arch}.{k}"
        if isinstance(v, str): w.add_string(key, v)
        elif isinstance(v, float): w.add_float32(key, v)
        elif isinstance(v, list): w.add_array(key, v)
        else: w.add_uint32(key, v)
    vocab(w, V)
    rng = np.random.RandomState(1)
    t = lambda *shape: (rng.standard_normal(shape) * 0.1).astype(np.float32)
    w.add_tensor("token_embd.weight", t(V, E))
    w.add_tensor("output_norm.weight", np.ones(E, np.float32))
    for l in range(layers):
        p = f"blk.{l}."
        for n in ("attn_norm", "ffn_norm") + (("post_attention_norm", "post_ffw_norm") if arch.startswith("gemma") else ()):
            w.add_tensor(p + n + ".weight", np.ones(E, np.float32))
        for n in ("attn_q", "attn_k", "attn_v", "attn_output"):
            w.add_tensor(p + n + ".weight", t(E, E))
        w.add_tensor(p + "ffn_gate.weight", t(F, E))
        w.add_tensor(p + "ffn_up.weight", t(F, E))
        w.add_tensor(p + "ffn_down.weight", t(E, F))
        if arch == "gemma3":
            w.add_tensor(p + "attn_q_norm.weight", np.ones(E // H, np.float32))
            w.add_tensor(p + "attn_k_norm.weight", np.ones(E // H, np.float32))
    for name, arr in extra:
        w.add_tensor(name, arr)
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()


def info(path, cmd=("info",)):
    r = subprocess.run([cli, *cmd, "-m", path], capture_output=True, text=True, timeout=60)
    return r.returncode, r.stdout, r.stderr.strip()


def refused(name, arch, keys, needles, **kw):
    path = os.path.join(tmp, name + ".gguf")
    write(path, arch, keys, **kw)
    rc, _, err = info(path, ("run", "-p", "hi", "-n", "1"))
    check(rc != 0 and len(err.splitlines()) == 1 and all(n in err for n in needles), f"{name}: exit {rc}, {err!r}")


cli, tmp = sys.argv[1], sys.argv[2]
os.makedirs(tmp, exist_ok=True)

# Mixture-of-experts: Mixtral is general.architecture llama with experts; Qwen3-MoE,
# DeepSeek and the like have their own names. Neither is run, both are named as such.
refused("mixtral", "llama", {"expert_count": 8, "expert_used_count": 2},
        ["mixture-of-experts", "llama.expert_count = 8", "dense llama, qwen2, gemma2, gemma3, phi3"])
refused("qwen3moe", "qwen3moe", {"expert_count": 128, "expert_used_count": 8},
        ["mixture-of-experts", "qwen3moe.expert_count = 128"])
refused("deepseek2", "deepseek2", {"expert_count": 64}, ["mixture-of-experts", "deepseek2"])
refused("mamba", "mamba", {}, ["architecture 'mamba' is not supported", "llama, qwen2, gemma2, gemma3, phi3"])
refused("yarn", "llama", {"rope.scaling.type": "yarn", "rope.scaling.factor": 4.0},
        ["llama.rope.scaling.type = yarn is not supported", "none, linear, longrope"])
refused("window-list", "gemma3", {"attention.sliding_window": 8, "attention.sliding_window_pattern": [True]},
        ["gemma3.attention.sliding_window_pattern must be one boolean per layer (2)"])
refused("phi3-unfused", "phi3", {}, ["missing tensor blk.0.attn_qkv.weight"])

# The per-layer list is read as given (the reference's array form), the number as a
# pattern (here 3: layers 0 and 1 of each 3 windowed).
for name, arch, pat, layers, want in (("list", "gemma2", [False, True, True], 3, "on 2 of 3 layers"),
                                      ("pattern", "gemma3", 3, 6, "on 4 of 6 layers"),
                                      ("mistral", "llama", None, 2, "on 2 of 2 layers")):
    path = os.path.join(tmp, f"window-{name}.gguf")
    keys = {"attention.sliding_window": 16}
    if pat is not None: keys["attention.sliding_window_pattern"] = pat
    write(path, arch, keys, layers=layers)
    rc, out, err = info(path)
    line = next((l for l in out.splitlines() if l.startswith("sliding window:")), "")
    check(rc == 0 and "16 positions " + want in line, f"{arch} window {pat!r}: {line or err!r}")

finish()
