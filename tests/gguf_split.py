#!/usr/bin/env python3
"""Writes a GGUF model as split parts with the gguf package (gguf-py's GGUFWriter, the
writer llama.cpp's conversion scripts use): NAME-00001-of-0000K.gguf, at most
MAX_TENSORS tensors a part, the split.* keys set by the writer.

usage: gguf_split.py IN.gguf OUTDIR/NAME MAX_TENSORS   (prints the first part's path)"""
import os, sys

import numpy as np
import gguf
from gguf import GGUFValueType as VT


def split(src, prefix, max_tensors):
    r = gguf.GGUFReader(src)
    arch = r.fields["general.architecture"].contents()
    w = gguf.GGUFWriter(prefix + ".gguf", arch, split_max_tensors=max_tensors)
    for f in r.fields.values():
        if f.name.startswith("GGUF.") or f.name in ("general.architecture",) or f.name.startswith("split."):
            continue
        vt = f.types[0]
        if vt == VT.ARRAY:
            w.add_key_value(f.name, f.contents(), vt, sub_type=f.types[-1])
        else:
            w.add_key_value(f.name, f.contents(), vt)
    for t in r.tensors:
        shape = [int(x) for x in reversed(t.shape)]  # gguf-py's numpy order
        data = np.asarray(t.data)
        w.add_tensor(t.name, data, raw_shape=data.shape if t.tensor_type in (0, 1, 30) else None,
                     raw_dtype=t.tensor_type)
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()
    n = len(r.tensors)
    k = (n + max_tensors - 1) // max_tensors
    return f"{prefix}-00001-of-{k:05d}.gguf", k


if __name__ == "__main__":
    first, k = split(sys.argv[1], sys.argv[2], int(sys.argv[3]))
    print(first)
