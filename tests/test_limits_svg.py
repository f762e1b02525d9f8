#!/usr/bin/env python3
"""cllama limits --svg: the roofline chart renders and says what it shows.

usage: test_limits_svg.py CLLAMA_BIN OUTDIR

Runs limits on Apple M1 and M1 Max (reported figures for Llama 2 7B Q4_0 and Llama 3 8B
Q4_K_M exist) and this host (figures from a hand-written bench JSON, so there are host
points too), writes OUTDIR/limits.svg and renders it with rsvg-convert (Debian
librsvg2-bin) to OUTDIR/limits.png. Checks:
- rsvg-convert renders it without error, to a PNG of the chart's size;
- each device label is drawn exactly once (one roof label per device, not one per row);
- each point has a visible label "MODEL QUANT tg|pp" (one per point, so a model's label
  appears once per device that has its figure), and the <title> tooltips stay;
- no two texts overlap and none runs off the canvas (boxes from font size x 0.6 em per
  character, as DejaVu Sans sets these labels; tick labels at the lower-left corner
  included).
Exit 77 (CTest's skip) when rsvg-convert is not installed.
"""
import json, os, shutil, struct, subprocess, sys
import xml.etree.ElementTree as ET
from checklib import check, finish

bin_, outdir = sys.argv[1], sys.argv[2]
rsvg = shutil.which("rsvg-convert")
if not rsvg:
    print("skipped: rsvg-convert not found (Debian: apt-get install librsvg2-bin)")
    sys.exit(77)
os.makedirs(outdir, exist_ok=True)
NS = "{http://www.w3.org/2000/svg}"


def rec(shape, quant, n_prompt, n_gen, ts):
    return {"model_filename": "", "n_prompt": n_prompt, "n_gen": n_gen, "n_depth": 0, "avg_ts": ts,
            "model_name": f"{shape} (synthetic)", "quant": quant, "synthetic": True, "shape": shape, "fits": True}


bench = os.path.join(outdir, "limits-bench.json")
json.dump([rec("llama2-7b", "Q4_0", 512, 0, 12.0), rec("llama2-7b", "Q4_0", 0, 128, 3.0),
           rec("llama3-8b", "Q4_K_M", 512, 0, 9.0), rec("llama3-8b", "Q4_K_M", 0, 128, 2.2)], open(bench, "w"))
svg, png = os.path.join(outdir, "limits.svg"), os.path.join(outdir, "limits.png")
for p in (svg, png):
    if os.path.exists(p):
        os.remove(p)
r = subprocess.run([bin_, "limits", "-o", "json", "--device", "m1-7gpu", "--device", "m1-max-32gpu", "--device",
                    "host", "--shape", "llama2-7b:Q4_0", "--shape", "llama3-8b:Q4_K_M", "--from-bench", bench,
                    "--svg", svg], capture_output=True, text=True, timeout=300)
check(r.returncode == 0 and os.path.exists(svg), f"limits --svg writes the chart (exit {r.returncode}) {r.stderr[-300:]}")
if r.returncode:
    sys.exit(1)
rows = json.loads(r.stdout)

r = subprocess.run([rsvg, svg, "-o", png], capture_output=True, text=True, timeout=60)
check(r.returncode == 0 and not r.stderr.strip(), f"rsvg-convert renders it without error: {r.stderr.strip()}")
root = ET.parse(svg).getroot()
W, H = float(root.get("width")), float(root.get("height"))
if os.path.exists(png):
    head = open(png, "rb").read(24)
    w, h = struct.unpack(">II", head[16:24])
    check(head[:8] == b"\x89PNG\r\n\x1a\n" and (w, h) == (W, H), f"{png}: a {w}x{h} PNG")


def text_of(t):
    return " ".join(s.strip() for s in t.itertext() if s.strip())


texts = [t for t in root.iter(NS + "text")]
shown = [text_of(t) for t in texts]

labels = sorted({r["device_label"] for r in rows})
for lab in labels:
    n = sum(s == lab for s in shown)
    inside = sum(lab in s for s in shown)
    check(n == 1 and inside == 1, f"device label drawn once: '{lab}' ({n} exact, {inside} containing)")

points = {}
for r_ in rows:
    for test in ("tg", "pp"):
        if r_.get(f"{test}_ts"):
            key = f"{r_['model']} {r_['quant']} {test}"
            points[key] = points.get(key, 0) + 1
check(sum(points.values()) >= 8, f"points on the chart: {points}")
for key, n in sorted(points.items()):
    got = sum(s == key for s in shown)
    check(got == n, f"point label '{key}' appears for each of its {n} points (got {got})")
titles = [t.text for t in root.iter(NS + "title")]
check(len(titles) == sum(points.values()), f"every point keeps its <title> ({len(titles)})")


def boxes(t):
    """Estimated boxes of a <text> element (one per <tspan> line), in px."""
    size = float(t.get("font-size", root.get("font-size", "12")))
    parts = [(t.get("x"), t.get("y"), (t.text or "").strip())] if t.text and t.text.strip() else []
    parts += [(s.get("x"), s.get("y"), (s.text or "").strip()) for s in t.iter(NS + "tspan")]
    out = []
    for x, y, s in parts:
        if x is None or not s:
            continue
        x, y, w = float(x), float(y), 0.6 * size * len(s)
        anchor = t.get("text-anchor", "start")
        x0 = x - w if anchor == "end" else x - w / 2 if anchor == "middle" else x
        out.append((x0, y - 0.75 * size, x0 + w, y + 0.2 * size, s))
    return out


placed = [b for t in texts if not t.get("transform") for b in boxes(t)]
off = [b[4] for b in placed if b[0] < 0 or b[2] > W or b[1] < 0 or b[3] > H]
check(not off, f"no text runs off the {W:.0f}x{H:.0f} canvas: {off}")
P = 1  # px of clear space around each text
clash = [(a[4], b[4]) for i, a in enumerate(placed) for b in placed[i + 1:]
         if a[0] - P < b[2] + P and b[0] - P < a[2] + P and a[1] - P < b[3] + P and b[1] - P < a[3] + P]
check(not clash, f"no two texts overlap or touch: {clash}")

# The corner where the axes meet: the first tick label of each axis (x ticks: centred
# texts on one baseline; y ticks: right-aligned texts on one x) at least 4 px apart.
def ticks(anchor, coord):
    group = {}
    for t in texts:
        if t.get("text-anchor") == anchor and t.get(coord):
            group.setdefault(t.get(coord), []).append(t)
    best = max(group.values(), key=len, default=[])
    return best if len(best) >= 3 else []


xt, yt = ticks("middle", "y"), ticks("end", "x")
if xt and yt:
    a = boxes(min(xt, key=lambda t: float(t.get("x"))))[0]
    b = boxes(max(yt, key=lambda t: float(t.get("y"))))[0]
    gap = max(a[0] - b[2], b[0] - a[2], a[1] - b[3], b[1] - a[3])
    check(gap >= 4, f"lower-left corner: tick labels '{a[4]}' and '{b[4]}' {gap:.1f} px apart")
else:
    check(False, "tick labels found on both axes")
print(f"chart: {svg}\npng:   {png}")
finish()
