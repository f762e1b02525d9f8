#!/usr/bin/env python3
"""`cllama bench --svg`: every row drawn once, labelled, inside the chart; rendered to PNG.

usage: test_bench_svg.py CLLAMA TESTDATA OUTDIR

One run over two files (the tiny Llama 2 model, and a copy of it whose general.name is
150 characters with XML's special characters in it, made with the gguf package's
gguf_new_metadata) and a synthetic Llama 3 70B that does not fit under --mem-limit,
at -t 1,2 -p 16,64 -n 4,8. The SVG must parse as XML; each model, quantization and
thread count has one header line and under it each test once (pp16, pp64, tg4, tg8,
none dropped); the 70B rows say N/A with the reason; no text runs past the right edge
(13 px sans-serif, at most 7.5 px per character, 8.5 in bold); and rsvg-convert (Debian
librsvg2-bin) renders it to OUTDIR/bench.png, the picture to look at. Skipped without
the test data; the PNG step is skipped with a message without rsvg-convert.
"""
import os, shutil, subprocess, sys
import xml.etree.ElementTree as ET
from checklib import check, finish

cllama, testdata, outdir = sys.argv[1:4]
model = os.path.join(testdata, "models", "tiny-llama2-s1-q4_0.gguf")
if not os.path.exists(model):
    print(f"skipped: {model} is not there (../shared/testdata beside the clone)")
    sys.exit(77)
os.makedirs(outdir, exist_ok=True)


long_name = "A <very> long & \"quoted\" model name " + "x" * 113
long_path = os.path.join(outdir, "long-name.gguf")
try:
    r = subprocess.run([sys.executable, "-m", "gguf.scripts.gguf_new_metadata", model, long_path, "--general-name",
                        long_name, "--force"], capture_output=True, text=True, timeout=120)
    have_long = r.returncode == 0
except OSError:
    have_long = False
if not have_long:
    print("note: the gguf package is not installed: no long-name model in the chart")

svg = os.path.join(outdir, "bench.svg")
args = ["bench", "-m", model] + (["-m", long_path] if have_long else []) + \
       ["--shape", "llama3-70b:Q4_K_M", "-t", "1,2", "-p", "16,64", "-n", "4,8", "-r", "1", "--mem-limit", "200M",
        "--svg", svg, "-o", "json"]
r = subprocess.run([cllama, *args], capture_output=True, text=True, timeout=600)
check(r.returncode == 0, f"cllama {' '.join(args)} (exit {r.returncode}) {r.stderr.strip()[-300:]}")
root = ET.parse(svg).getroot()
check(True, "the SVG parses as XML")
ns = "{http://www.w3.org/2000/svg}"
width = float(root.get("width"))
# (text, x, px per character): 13 px sans-serif is at most ~7.5 px a character, bold ~8.5
texts = [("".join(t.itertext()), float(t.get("x")),
          (8.5 if t.get("font-weight") == "bold" else 7.5) * int(t.get("font-size") or 13) / 13)
         for t in root.iter(ns + "text")]

models = [("tiny-llama2-s1", "Q4_0")] + ([(long_name, "Q4_0")] if have_long else []) + \
         [("llama3-70b (synthetic)", "Q4_K_M")]
tests = ["pp16", "pp64", "tg4", "tg8"]
lines = [t[0] for t in texts]
for name, quant in models:
    for th in (1, 2):
        tail = f" \u00b7 {quant} \u00b7 {th} thread{'s' if th > 1 else ''}"
        heads = [i for i, l in enumerate(lines) if l == name + tail or
                 (l.endswith("\u2026" + tail) and name.startswith(l[:-len(tail) - 1]))]
        want = name[:40] + ("..." if len(name) > 40 else "") + tail
        check(len(heads) == 1, f"one header line for {want}: {len(heads)}")
        if len(heads) != 1:
            continue
        i = heads[0]
        labels = lines[i + 1:i + 1 + 2 * len(tests)]
        got = [l for l in labels if l in tests]
        check(got == tests, f"  under it each test once, in order: {got}")
        if "70b" in name:
            check(any(l.startswith("N/A (needs") for l in labels), "  the rows that do not fit say N/A with the reason")
if have_long:
    cut = [l for l in lines if l.startswith("A <very> long & \"quoted\"")]
    check(len(cut) == 2 and all("\u2026 \u00b7 Q4_0 \u00b7 " in l for l in cut),
          f"the long name is cut with an ellipsis, its quantization and threads kept ({cut})")
over = [(l, x) for l, x, px in texts if x + px * len(l) > width]
check(not over, f"no text runs past the right edge ({width:.0f} px): {over[:3]}")
n_bars = sum(1 for e in root.iter(ns + "rect") if e.get("y") and float(e.get("y")) > 60)
measured = 2 * len(tests) * (len(models) - 1)
check(n_bars == measured, f"one bar per measured row: {n_bars} of {measured}")

rsvg = shutil.which("rsvg-convert")
if not rsvg:
    print("note: rsvg-convert is not installed (Debian librsvg2-bin): the PNG is not rendered")
else:
    png = os.path.join(outdir, "bench.png")
    r = subprocess.run([rsvg, svg, "-o", png], capture_output=True, text=True, timeout=60)
    ok = r.returncode == 0 and open(png, "rb").read(8) == b"\x89PNG\r\n\x1a\n"
    check(ok, f"rsvg-convert renders it: {png} {r.stderr.strip()}")
finish()
