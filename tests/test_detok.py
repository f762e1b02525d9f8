#!/usr/bin/env python3
"""The streaming detokenizer against Python's UTF-8 decoder.

usage: test_detok.py DETOK_DUMP LLAMA2_VOCAB.gguf

The Llama 2 vocabulary has a byte token <0xNN> for every byte, so any byte string is
a token sequence (one token per byte, the hardest split there is). For thousands of
seeded random strings (valid characters of every length, stray continuation bytes,
cut sequences, overlongs, surrogates, values above U+10FFFF) the bytes the
detokenizer hands out must be exactly bytes.decode("utf-8", errors="replace")
re-encoded, and each piece it hands out must be complete, valid UTF-8 by itself.
Ordinary tokens (whole words) mixed in must come out as their text.
"""
import random, subprocess, sys

dump, vocab = sys.argv[1], sys.argv[2]
rng = random.Random(13)
ATOMS = [b"a", b" ", b"\n", "ä".encode(), "€".encode(), "😀".encode(), "中".encode(),
         b"\x80", b"\xbf", b"\xc0", b"\xc1", b"\xc3", b"\xe2\x82", b"\xf0\x9f\x98", b"\xe0\x80\x80",
         b"\xed\xa0\x80", b"\xf4\x90\x80\x80", b"\xf5", b"\xff", b"\xf0\x80"]


def random_bytes():
    return b"".join(rng.choice(ATOMS) if rng.random() < 0.7 else bytes([rng.randrange(256)])
                    for _ in range(rng.randrange(1, 12)))


cases = [random_bytes() for _ in range(3000)]
# <0xNN> is id 3 + NN in the Llama 2 vocabulary; 15043 is " Hello", 3186 " world"
lines = [" ".join(str(3 + b) for b in c) for c in cases]
mixed = [(bytes([0xe2]), "15043 %d %d 3186" % (3 + 0xe2, 3 + 0x82)),  # cut by a word
         (None, "15043 %d %d %d 3186" % (3 + 0xe2, 3 + 0x82, 3 + 0xac))]
lines += [m[1] for m in mixed]
r = subprocess.run([dump, vocab], input="\n".join(lines) + "\n", capture_output=True, text=True, timeout=300)
if r.returncode != 0:
    sys.exit(f"FAIL: detok_dump exited {r.returncode}: {r.stderr.strip()}")
out = r.stdout.split("\n")
fails = 0
for i, c in enumerate(cases):
    want = c.decode("utf-8", errors="replace").encode()
    got = out[i]
    if got.endswith(" invalid") or bytes.fromhex(got) != want:
        fails += 1
        if fails <= 5:
            print(f"FAIL {c!r}: got {got!r}, Python gives {want.hex()}")
print(f"{'ok  ' if not fails else 'FAIL'} {len(cases) - fails}/{len(cases)} random byte strings detokenized "
      "as Python's decoder replaces them, every piece valid UTF-8")
m1 = bytes.fromhex(out[len(cases)]).decode()
m2 = bytes.fromhex(out[len(cases) + 1]).decode()
ok = m1 == " Hello\ufffd world" and m2 == " Hello€ world"
print(f"{'ok  ' if ok else 'FAIL'} words around byte tokens: {m1!r}, {m2!r}")
sys.exit(1 if fails or not ok else 0)
