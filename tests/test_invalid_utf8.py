#!/usr/bin/env python3
"""Invalid UTF-8 in plain text tokenizes as the reference engine tokenizes it.

usage: test_invalid_utf8.py CLLAMA LLAMA2_VOCAB LLAMA3_VOCAB SMOLLM2_MODEL CASES.json...

Each CASES file lists byte strings (hex) with the ids llama.cpp gives them (no BOS, no
special parsing) in the Llama 2 (SentencePiece), Llama 3 and SmolLM2 (byte-level BPE)
vocabularies: ../shared/testdata/reference/invalid-utf8.json and
tests/data/invalid_utf8_more.json (its "source" says how it was made). For each case and
vocabulary, `cllama tokenize -f FILE --no-bos --ids` must print exactly those ids (the
reference's never include a control token; test_tokenizer and the tokenizer fuzz target
check that for any input). SmolLM2 is skipped with a
message when scripts/setup.sh has not fetched it; the other two must be there.
"""
import json, os, subprocess, sys, tempfile

cllama, v2, v3, smol = sys.argv[1:5]
case_files = sys.argv[5:]
vocabs = {"llama2": v2, "llama3": v3, "smollm2": smol}
if not os.path.exists(smol):
    print(f"note: {smol} is not there (scripts/setup.sh fetches it): SmolLM2 cases skipped")
    del vocabs["smollm2"]
for name in ("llama2", "llama3"):
    if not os.path.exists(vocabs[name]):
        print(f"skipped: {vocabs[name]} is not there (../shared/testdata beside the clone)")
        sys.exit(77)

fails = n = 0


tmp = tempfile.mkdtemp()
for cf in case_files:
    data = json.load(open(cf, encoding="utf-8"))
    for i, case in enumerate(data["cases"]):
        raw = bytes.fromhex(case["hex"])
        path = os.path.join(tmp, "case.txt")
        with open(path, "wb") as f:
            f.write(raw)
        for name, vocab in vocabs.items():
            want = case[name]
            r = subprocess.run([cllama, "tokenize", "-m", vocab, "-f", path, "--no-bos", "--ids"], capture_output=True,
                               text=True, timeout=60)
            got = json.loads(r.stdout) if r.returncode == 0 and r.stdout.strip() else None
            n += 1
            label = f"{os.path.basename(cf)}#{i} {case.get('name', case['hex'][:24])} {name}"
            if got != want:
                fails += 1
                print(f"FAIL {label}: got {got if got is not None else r.stderr.strip()} want {want}")
            else:
                print(f"ok   {label}: {got}")

# A 4-byte sequence above U+10FFFF: the reference aborts ("invalid codepoint"); we must not.
# Each of its bytes is then one U+FFFD, as for any other bad sequence.
with open(path, "wb") as f:
    f.write(b"z\xf4\x90\x80\x80z")
for name, vocab in vocabs.items():
    if name == "llama2":
        continue
    r = subprocess.run([cllama, "tokenize", "-m", vocab, "-f", path, "--no-bos", "--ids"], capture_output=True,
                       text=True, timeout=60)
    fffd = subprocess.run([cllama, "tokenize", "-m", vocab, "-p", "z\ufffd\ufffd\ufffd\ufffdz", "--no-bos", "--ids"],
                          capture_output=True, text=True, timeout=60)
    n += 1
    ok = r.returncode == 0 and r.stdout == fffd.stdout and fffd.returncode == 0
    fails += not ok
    print(f"{'ok  ' if ok else 'FAIL'} {name}: f4 90 80 80 (above U+10FFFF) tokenizes as four U+FFFD: {r.stdout.strip()}"
          f" {r.stderr.strip()}")

print(f"{n - fails} of {n} checks passed")
sys.exit(1 if fails else 0)
