#!/usr/bin/env python3
"""Chat templates: every real template in tests/data/chat_templates x every
conversation below, rendered by our Jinja interpreter (through the public API) and by
Python's jinja2 set up as transformers' apply_chat_template sets it up
(ImmutableSandboxedEnvironment, trim_blocks, lstrip_blocks, loopcontrols,
raise_exception, strftime_now, json.dumps-based tojson). Outputs must be identical
byte for byte; where jinja2 raises, we must fail too (with the template's own message
when it called raise_exception).

usage: test_chat_templates.py CHAT_RENDER TEMPLATE_DIR [--only NAME] [--show]
Exit 77 (skip) when jinja2 is not installed.
"""
import datetime, json, os, re, subprocess, sys, tempfile

try:
    import jinja2
    import jinja2.ext
    import jinja2.sandbox
except ImportError:
    print("skipped: Python's jinja2 is not installed (Debian python3-jinja2)")
    sys.exit(77)

render_bin, tdir = sys.argv[1], sys.argv[2]
only = sys.argv[sys.argv.index("--only") + 1] if "--only" in sys.argv else None
show = "--show" in sys.argv
NOW = 1721952000  # 2024-07-26 00:00 UTC, for strftime_now on both sides

# ---- transformers' environment (transformers/utils/chat_template_utils.py) ----


class AssistantTracker(jinja2.ext.Extension):
    """{% generation %}...{% endgeneration %} renders its body (transformers uses it to mark assistant tokens)."""
    tags = {"generation"}

    def parse(self, parser):
        lineno = next(parser.stream).lineno
        body = parser.parse_statements(["name:endgeneration"], drop_needle=True)
        return jinja2.nodes.CallBlock(self.call_method("_render"), [], [], body).set_lineno(lineno)

    def _render(self, caller):
        return caller()


def raise_exception(message):
    raise jinja2.exceptions.TemplateError(message)


def tojson(x, ensure_ascii=False, indent=None, separators=None, sort_keys=False):
    return json.dumps(x, ensure_ascii=ensure_ascii, indent=indent, separators=separators, sort_keys=sort_keys)


def strftime_now(fmt):
    return datetime.datetime.fromtimestamp(NOW, tz=datetime.timezone.utc).strftime(fmt)


env = jinja2.sandbox.ImmutableSandboxedEnvironment(trim_blocks=True, lstrip_blocks=True,
                                                   extensions=[AssistantTracker, jinja2.ext.loopcontrols])
env.filters["tojson"] = tojson
env.globals["raise_exception"] = raise_exception
env.globals["strftime_now"] = strftime_now

# ---- the conversations ----
SYS = {"role": "system", "content": "You are a helpful assistant. Answer briefly."}
CONVERSATIONS = {
    "single": ([{"role": "user", "content": "What is the capital of France?"}], True),
    "system": ([SYS, {"role": "user", "content": "Hi!"}], True),
    "multi_turn": ([SYS, {"role": "user", "content": "Name a color."},
                    {"role": "assistant", "content": "Blue."},
                    {"role": "user", "content": "Another one?"}], True),
    "no_gen_prompt": ([{"role": "user", "content": "Say hi."},
                       {"role": "assistant", "content": "Hi."}], False),
    "non_ascii": ([{"role": "user", "content": "Grüße! ¿Qué tal? 你好 😀 \"quoted\" back\\slash\ttab\nnew line  "},
                   {"role": "assistant", "content": "Très bien — merci ✓"},
                   {"role": "user", "content": "Ελληνικά и кириллица; 'single' <tag> & ampersand"}], True),
    "empty_content": ([{"role": "system", "content": ""}, {"role": "user", "content": ""}], True),
    "bad_order": ([{"role": "user", "content": "one"}, {"role": "user", "content": "two"}], True),
    "assistant_first": ([{"role": "assistant", "content": "Hello, how can I help?"},
                         {"role": "user", "content": "Tell me a joke."}], True),
}


def sources():
    """bos/eos tokens per template from SOURCES.md's table (columns named File, bos_token, eos_token)."""
    toks, cols = {}, None
    path = os.path.join(tdir, "SOURCES.md")
    for line in open(path, encoding="utf-8") if os.path.exists(path) else []:
        if not line.startswith("|"):
            continue
        cells = [c.strip().replace("\\|", "|") for c in re.split(r"(?<!\\)\|", line.strip())[1:-1]]
        if cols is None:
            cols = cells
            continue
        row = dict(zip(cols, cells))
        unq = lambda x: re.sub(r"^`(.*)`$", r"\1", x or "")
        f = unq(row.get("File"))
        if f.endswith(".jinja"):
            toks[f] = (unq(row.get("bos_token")), unq(row.get("eos_token")))
    return toks


def clean_tok(t):
    return "" if t.strip("`").startswith("null") or t in ("unknown", "-", "") else t


def main():
    toks = sources()
    files = sorted(f for f in os.listdir(tdir) if f.endswith(".jinja") and (not only or only in f))
    cases, expected, labels = [], [], []
    for f in files:
        text = open(os.path.join(tdir, f), encoding="utf-8").read()
        bos, eos = (clean_tok(x) for x in toks.get(f, ("", "")))
        try:
            tmpl = env.from_string(text)
        except Exception as e:  # a template jinja2 itself cannot compile is not a fair test
            print(f"FAIL {f}: jinja2 cannot compile it: {e}")
            return 1
        for name, (msgs, gen) in CONVERSATIONS.items():
            try:
                want = ("text", tmpl.render(messages=msgs, add_generation_prompt=gen, bos_token=bos, eos_token=eos,
                                            tools=None, documents=None))
            except jinja2.exceptions.TemplateError as e:
                # raise_exception raises TemplateError itself; its subclasses are jinja2's own errors
                want = ("raise" if type(e) is jinja2.exceptions.TemplateError else "error", str(e))
            except Exception as e:
                want = ("error", f"{type(e).__name__}: {e}")
            cases.append({"template": text, "messages": msgs, "add_generation_prompt": gen, "bos_token": bos,
                          "eos_token": eos, "now": NOW})
            expected.append(want)
            labels.append((f, name))
    with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False, encoding="utf-8") as tf:
        json.dump(cases, tf, ensure_ascii=False)
    try:
        r = subprocess.run([render_bin, tf.name], capture_output=True, text=True, timeout=600, encoding="utf-8")
    finally:
        os.unlink(tf.name)
    if r.returncode != 0:
        print(f"FAIL chat_render exited {r.returncode}: {r.stderr[-500:]}")
        return 1
    got = json.loads(r.stdout)
    fails, rendered, raised, per_file = 0, 0, 0, {}
    for (f, conv), want, g in zip(labels, expected, got):
        ok = False
        if want[0] == "text":
            ok = g.get("text") == want[1]
            rendered += ok
        else:
            # jinja2 failed: so must we; a raise_exception message must come through
            ok = "error" in g and (want[0] != "raise" or want[1] in g["error"])
            raised += ok
        per_file.setdefault(f, []).append("." if ok else "X")
        if not ok:
            fails += 1
            if fails <= 12 or show:
                print(f"FAIL {f} x {conv}:")
                print(f"  jinja2: {want[0]}: {want[1][:600]!r}")
                print(f"  ours:   {json.dumps(g, ensure_ascii=False)[:600]}")
    for f, marks in per_file.items():
        print(f"{'ok  ' if 'X' not in marks else 'FAIL'} {''.join(marks)}  {f}")
    total = len(labels)
    print(f"{'ok  ' if not fails else 'FAIL'} {total - fails}/{total} template x conversation cases identical to jinja2 "
          f"({len(files)} templates x {len(CONVERSATIONS)} conversations; {rendered} rendered byte for byte, "
          f"{raised} raised by both)")
    return 1 if fails else 0


sys.exit(main())
