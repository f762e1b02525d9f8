#!/usr/bin/env python3
"""How cllama names a file's quantization (what `limits -m FILE` shows and bench writes).

usage: test_limits_filetype.py CLLAMA_BIN TMPDIR [TESTDATA]

- `cllama synth` writes general.file_type with llama.cpp's number for the scheme
  (enum llama_ftype in llama.cpp's include/llama.h: Q4_0 = 2, Q8_0 = 7, ...), read back
  with the independent reader of the `gguf` Python package, and limits names the file
  by it;
- without the key (removed from a synth file, or never written by a small GGUF made
  here with the `gguf` package), the name comes from the 2-D weight matrices, weighted
  by element count, token_embd/output left out: one type -> its name; the K-quant
  mixes of llama.cpp's quantizer recipes -> Q4_K_M, Q4_K_S, Q5_K_M, Q3_K_M, Q3_K_L,
  Q3_K_S, Q2_K;
- a general.file_type number llama.cpp does not define is named from the tensors too,
  and a defined one wins over the tensors (as in llama.cpp's loader).

The small GGUFs hold zero-filled weights: limits only reads shapes and types.
Exit 77 (CTest's skip) when the gguf or numpy package is missing.
"""
import json, os, subprocess, sys
from checklib import check, finish

try:
    import numpy as np
    import gguf
    from gguf import GGMLQuantizationType as T
except ImportError as e:
    print(f"skipped: {e} (pip install gguf numpy)")
    sys.exit(77)

bin_, tmp = sys.argv[1], sys.argv[2]
testdata = sys.argv[3] if len(sys.argv) > 3 else ""
os.makedirs(tmp, exist_ok=True)


def limits_quant(path):
    """The quantization `cllama limits -m path` names, or the error."""
    r = subprocess.run([bin_, "limits", "-m", path, "--device", "m1-7gpu", "-o", "json"], capture_output=True,
                       text=True, timeout=120)
    if r.returncode:
        return f"exit {r.returncode}: {r.stderr.strip()}"
    return json.loads(r.stdout)[0]["quant"]


def file_type(path):
    """general.file_type as the gguf package reads it, or None."""
    f = gguf.GGUFReader(path).fields.get("general.file_type")
    return None if f is None else int(f.parts[f.data[0]][0])


def strip_file_type(src, dst):
    """A copy of src whose general.file_type key is renamed to a key nobody reads (same
    length, so the layout stays valid): the file then has no file type."""
    data = open(src, "rb").read()
    check(data.count(b"general.file_type") == 1, f"{os.path.basename(src)}: one general.file_type key to remove")
    open(dst, "wb").write(data.replace(b"general.file_type", b"general.file_tyqe"))


# --- synth writes llama.cpp's number ----------------------------------------------
for quant, number in (("Q8_0", 7), ("Q4_0", 2)):
    path = os.path.join(tmp, f"smollm2-{quant}.gguf")
    r = subprocess.run([bin_, "synth", "--shape", f"smollm2-135m:{quant}", "-o", path], capture_output=True,
                       text=True, timeout=600)
    check(r.returncode == 0, f"synth smollm2-135m:{quant} (exit {r.returncode}) {r.stderr.strip()[-200:]}")
    if r.returncode:
        continue
    check(file_type(path) == number, f"synth {quant}: general.file_type {file_type(path)} == llama.cpp's {number}")
    got = limits_quant(path)
    check(got == quant, f"synth {quant}: limits names it {got}")
    stripped = os.path.join(tmp, f"smollm2-{quant}-nokey.gguf")
    strip_file_type(path, stripped)
    check(file_type(stripped) is None, f"synth {quant} without the key: general.file_type gone")
    got = limits_quant(stripped)
    check(got == quant, f"synth {quant} without the key: named from its tensors: {got}")
    for p in (path, stripped):  # 80-150 MB each: not kept in the build tree
        os.remove(p)

# --- small GGUFs with chosen tensor types -------------------------------------------
E, F, V, H = 256, 512, 300, 4  # every row a whole number of 256-value K-quant blocks


def write_model(path, layer_types, n_layer=8, vocab=V, embd=T.Q8_0, out=T.Q8_0, ftype=None):
    """A llama-shaped GGUF whose matrix types come from layer_types(layer) -> {kind: type}
    (kinds attn_q attn_k attn_v attn_output ffn_gate ffn_up ffn_down; missing = Q8_0)."""
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    from make_tiny_model import vocab as write_vocab
    w = gguf.GGUFWriter(path, "llama")
    w.add_name("filetype test")
    w.add_context_length(256)
    w.add_embedding_length(E)
    w.add_block_count(n_layer)
    w.add_feed_forward_length(F)
    w.add_head_count(H)
    w.add_head_count_kv(H)
    w.add_layer_norm_rms_eps(1e-5)
    if ftype is not None:
        w.add_file_type(ftype)
    write_vocab(w, vocab)

    def matrix(name, rows, cols, t):  # GGUF ne = [cols, rows]
        if t in (T.F32, T.F16):
            w.add_tensor(name, np.zeros((rows, cols), np.float32 if t == T.F32 else np.float16))
            return
        block, size = gguf.GGML_QUANT_SIZES[t]
        b = np.zeros((rows, cols // block * size), np.uint8)
        w.add_tensor(name, b, raw_shape=b.shape, raw_dtype=t)

    matrix("token_embd.weight", vocab, E, embd)
    w.add_tensor("output_norm.weight", np.ones(E, np.float32))
    matrix("output.weight", vocab, E, out)
    dims = {"attn_q": (E, E), "attn_k": (E, E), "attn_v": (E, E), "attn_output": (E, E), "ffn_gate": (F, E),
            "ffn_up": (F, E), "ffn_down": (E, F)}
    for l in range(n_layer):
        w.add_tensor(f"blk.{l}.attn_norm.weight", np.ones(E, np.float32))
        w.add_tensor(f"blk.{l}.ffn_norm.weight", np.ones(E, np.float32))
        types = layer_types(l)
        for kind, (rows, cols) in dims.items():
            matrix(f"blk.{l}.{kind}.weight", rows, cols, types.get(kind, T.Q8_0))
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()


def all_of(t):
    return lambda l: {k: t for k in ("attn_q", "attn_k", "attn_v", "attn_output", "ffn_gate", "ffn_up", "ffn_down")}


def recipe(base, more=None, **over):
    """base everywhere, over[kind] = type for some kinds, more = (type, layers) for
    attn_v and ffn_down in those layers (the _M recipes' 'more bits' layers)."""
    def f(l):
        d = all_of(base)(l)
        d.update(over)
        if more and l in more[1]:
            d["attn_v"] = d["ffn_down"] = more[0]
        return d
    return f


more_bits = (0, 3, 6, 7)  # llama.cpp's use_more_bits for 8 layers: first and last eighth, every third between
cases = [
    ("F16 everywhere", all_of(T.F16), dict(embd=T.F16, out=T.F16), "F16"),
    ("F32 everywhere", all_of(T.F32), dict(embd=T.F32, out=T.F32), "F32"),
    ("Q8_0 everywhere", all_of(T.Q8_0), {}, "Q8_0"),
    ("Q4_0 with output Q6_K", all_of(T.Q4_0), dict(out=T.Q6_K, embd=T.Q4_0), "Q4_0"),
    ("Q5_1 everywhere", all_of(T.Q5_1), dict(out=T.Q5_1, embd=T.Q5_1), "Q5_1"),
    ("Q4_K with Q6_K attn_v/ffn_down in half the layers (Q4_K_M recipe)", recipe(T.Q4_K, (T.Q6_K, more_bits)),
     dict(embd=T.Q4_K, out=T.Q6_K), "Q4_K_M"),
    ("Q4_K with Q5_K in the first layers (Q4_K_S recipe)", recipe(T.Q4_K, (T.Q5_K, (0, 1))),
     dict(embd=T.Q4_K, out=T.Q6_K), "Q4_K_S"),
    ("Q5_K with Q6_K (Q5_K_M recipe)", recipe(T.Q5_K, (T.Q6_K, more_bits)), dict(embd=T.Q5_K, out=T.Q6_K), "Q5_K_M"),
    ("Q5_K alone (Q5_K_S recipe)", all_of(T.Q5_K), dict(embd=T.Q5_K, out=T.Q6_K), "Q5_K_S"),
    ("Q6_K everywhere", all_of(T.Q6_K), dict(embd=T.Q6_K, out=T.Q6_K), "Q6_K"),
    ("Q3_K with Q4_K attn_v/attn_output/ffn_down and Q5_K early (Q3_K_M recipe)",
     recipe(T.Q3_K, (T.Q5_K, (0,)), attn_v=T.Q4_K, attn_output=T.Q4_K, ffn_down=T.Q4_K),
     dict(embd=T.Q3_K, out=T.Q6_K), "Q3_K_M"),
    ("Q3_K with Q5_K attn_v/attn_output/ffn_down (Q3_K_L recipe)",
     recipe(T.Q3_K, attn_v=T.Q5_K, attn_output=T.Q5_K, ffn_down=T.Q5_K), dict(embd=T.Q3_K, out=T.Q6_K), "Q3_K_L"),
    ("Q3_K alone (Q3_K_S recipe)", all_of(T.Q3_K), dict(embd=T.Q3_K, out=T.Q6_K), "Q3_K_S"),
    ("Q2_K with Q3_K attn_v/attn_output/ffn_down (Q2_K recipe)",
     recipe(T.Q2_K, attn_v=T.Q3_K, attn_output=T.Q3_K, ffn_down=T.Q3_K), dict(embd=T.Q2_K, out=T.Q6_K), "Q2_K"),
    # Weighted by elements, not counted: 4 attention matrices of E x E in Q8_0 against
    # 3 FFN matrices twice as large in Q4_0 (llama.cpp's count would say Q8_0).
    ("attention Q8_0, FFN Q4_0 (more elements in fewer tensors)",
     recipe(T.Q4_0, attn_q=T.Q8_0, attn_k=T.Q8_0, attn_v=T.Q8_0, attn_output=T.Q8_0), dict(embd=T.Q4_0), "Q4_0"),
    # A small model with a large vocabulary: token_embd and output (Q6_K, as the
    # recipes give them) hold more elements than the layers; they do not name the file.
    ("one Q4_0 layer, 4096-token vocabulary in Q6_K", all_of(T.Q4_0),
     dict(n_layer=1, vocab=4096, embd=T.Q6_K, out=T.Q6_K), "Q4_0"),
    ("general.file_type 5 (not a llama.cpp file type), Q8_0 tensors", all_of(T.Q8_0), dict(ftype=5), "Q8_0"),
    ("general.file_type 2 (Q4_0) on Q8_0 tensors: the key wins", all_of(T.Q8_0), dict(ftype=2), "Q4_0"),
]
for i, (what, types, kw, want) in enumerate(cases):
    path = os.path.join(tmp, f"ft-{i}.gguf")
    write_model(path, types, **kw)
    got = limits_quant(path)
    check(got == want, f"{what}: named {got} (want {want})")

# --- reference files, key removed ---------------------------------------------------
models = os.path.join(testdata, "models") if testdata else ""
for name, want in (("tiny-llama2-s1-q4_0.gguf", "Q4_0"), ("tiny-llama2-s1-q4_k_m.gguf", "Q4_K_M"),
                   ("tiny-llama2-s1-q8_0.gguf", "Q8_0"), ("stories260K-f32.gguf", "F32")):
    src = os.path.join(models, name)
    if not models or not os.path.exists(src):
        print(f"skip {name}: not in the reference test data ({models or 'no TESTDATA given'})")
        continue
    if file_type(src) is None:
        dst = src
    else:
        dst = os.path.join(tmp, "nokey-" + name)
        strip_file_type(src, dst)
    got = limits_quant(dst)
    check(got == want, f"{name} without general.file_type: named {got} (want {want})")
    if dst != src:
        os.remove(dst)

finish()
