#!/usr/bin/env python3
"""A Gemma-style SentencePiece vocabulary for the tokenizer suite: llama.cpp's own
Llama SPM vocabulary (ggml-vocab-llama-spm.gguf, from llama-cpp-python's source package)
rewritten as Gemma's files carry theirs: tokenizer.ggml.add_space_prefix false, control
tokens for the chat turns and user-defined tokens (HTML tags, whitespace runs) that
are matched in plain text. The texts are the Llama SPM suite's plus cases for those;
the ids are llama.cpp's for this file (tests/data/gemma_style_vocab.out, made once by
tokenizing the .inp with llama.cpp 0c1e570's llama_tokenize, no BOS, parse_special off).

usage: make_gemma_style_vocab.py SUITE_DIR OUT_DIR
Writes OUT_DIR/ggml-vocab-gemma-style.gguf, .inp and .out (in the suite's layout).
Exit 77 when gguf is missing or SUITE_DIR lacks the Llama SPM files.
"""
import os, shutil, sys

try:
    import numpy as np
    import gguf
except ImportError as e:
    print(f"skipped: {e} (pip install gguf numpy)")
    sys.exit(77)

SEP = "\n__ggml_vocab_test__\n"
# (text, token type): 3 control, 4 user-defined.
ADDED = [("<start_of_turn>", 3), ("<end_of_turn>", 3), ("<table>", 4), ("<h1>", 4), ("\t\t", 4),
         ("\u2581\u2581\u2581\u2581\u2581\u2581\u2581\u2581", 4)]
EXTRA = ["<start_of_turn>user\nHi<end_of_turn>\n", "<table><h1>Title</h1></table>", " <table> x",
         "a\t\tb\t\t\tc", "        eight spaces", "x" + " " * 8 + "y" + " " * 9, "no prefix", " one prefix",
         "Hello\n\nworld<h1>"]


def main():
    src_dir, out_dir = sys.argv[1], sys.argv[2]
    src = os.path.join(src_dir, "ggml-vocab-llama-spm.gguf")
    if not all(os.path.exists(src + e) for e in ("", ".inp")):
        print(f"skipped: {src} missing (scripts/setup.sh extracts llama.cpp's vocabulary suite)")
        sys.exit(77)
    os.makedirs(out_dir, exist_ok=True)
    r = gguf.GGUFReader(src)
    f = r.fields
    toks = [bytes(f["tokenizer.ggml.tokens"].parts[i]).decode("utf-8") for i in f["tokenizer.ggml.tokens"].data]
    scores = [float(f["tokenizer.ggml.scores"].parts[i][0]) for i in f["tokenizer.ggml.scores"].data]
    types = [int(f["tokenizer.ggml.token_type"].parts[i][0]) for i in f["tokenizer.ggml.token_type"].data]
    for text, t in ADDED:
        if text in toks:
            types[toks.index(text)] = t
        else:
            toks.append(text), scores.append(0.0), types.append(t)
    out = os.path.join(out_dir, "ggml-vocab-gemma-style.gguf")
    # The Llama file's hyperparameters (the reference reads them even for a vocabulary).
    w = gguf.GGUFWriter(out, "llama")
    w.add_name("gemma-style vocabulary (llama.cpp's Llama SPM vocabulary, Gemma's flags)")
    for k in ("block_count", "context_length", "embedding_length", "feed_forward_length", "attention.head_count",
              "attention.head_count_kv", "rope.dimension_count"):
        w.add_uint32("llama." + k, int(f["llama." + k].contents()))
    w.add_layer_norm_rms_eps(1e-5)
    w.add_vocab_size(len(toks))
    w.add_tokenizer_model("llama")
    w.add_tokenizer_pre("default")
    w.add_token_list(toks)
    w.add_token_scores(scores)
    w.add_token_types(types)
    w.add_bos_token_id(1)
    w.add_eos_token_id(2)
    w.add_unk_token_id(0)
    w.add_add_bos_token(True)
    w.add_add_space_prefix(False)
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.close()
    texts = open(src + ".inp", encoding="utf-8").read()
    if not texts.endswith(SEP):
        texts += SEP
    open(out + ".inp", "w", encoding="utf-8").write(texts + SEP.join(EXTRA) + SEP)
    ref = os.path.join(os.path.dirname(os.path.abspath(__file__)), "data", "gemma_style_vocab.out")
    if os.path.exists(ref):
        shutil.copy(ref, out + ".out")
    print(f"wrote {out} ({len(toks)} tokens) and its cases")


if __name__ == "__main__":
    main()
