#!/usr/bin/env python3
"""`cllama bench` writes llama-bench's formats, checked against llama-bench's own output.

usage: test_bench_formats.py CLLAMA TESTDATA REFDIR OUTDIR

REFDIR (tests/data/llama_bench, SOURCE.md says how it was made) holds llama-bench's
output for `-m tiny-llama2-s1-q4_0.gguf -p 16 -n 4 -pg 8,4 -d 0,8 -r 2 -t 2` in md,
csv, json, jsonl and sql. The same run of `cllama bench` (--out-dir writes every format)
must give:
 - json / jsonl: llama-bench's keys in its order with the same JSON types, then
   cllama's own; the same rows (tests, depths) in the same order; the same model_type,
   model_size and model_n_params for the same file; samples and their statistics
   consistent (avg_ts = mean of samples_ts, samples_ts = tokens / samples_ns);
 - csv: llama-bench's header as the first columns;
 - sql: our statements load into the table llama-bench's statements create (sqlite3),
   and every column stores the same SQLite type for our rows as for llama-bench's;
 - md: llama-bench's header and separator lines, its test names ("pp16 @ d8") and the
   build line; -b / -ub columns appear when they differ from the defaults.
"""
import csv, io, json, math, os, re, sqlite3, statistics, subprocess, sys
from checklib import check, finish

cllama, testdata, refdir, outdir = sys.argv[1:5]
model = os.path.join(testdata, "models", "tiny-llama2-s1-q4_0.gguf")
if not os.path.exists(model):
    print(f"skipped: {model} is not there (../shared/testdata beside the clone)")
    sys.exit(77)


def run(*args, timeout=600):
    return subprocess.run([cllama, *args], capture_output=True, text=True, timeout=timeout)


def jtype(v):
    return {bool: "bool", int: "int", float: "float", str: "str", list: "list"}[type(v)]


os.makedirs(outdir, exist_ok=True)
args = ["bench", "-m", model, "-p", "16", "-n", "4", "-pg", "8,4", "-d", "0,8", "-r", "2", "-t", "2"]
r = run(*args, "--out-dir", outdir)
check(r.returncode == 0, f"cllama {' '.join(args)} --out-dir (exit {r.returncode}) {r.stderr.strip()[-300:]}")

ref_json = json.load(open(os.path.join(refdir, "ref.json")))
ours = json.load(open(os.path.join(outdir, "bench.json")))
ours_l = [json.loads(l) for l in open(os.path.join(outdir, "bench.jsonl")) if l.strip()]
ref_l = [json.loads(l) for l in open(os.path.join(refdir, "ref.jsonl")) if l.strip()]

# --- JSON / JSONL keys, order and types --------------------------------------------
ref_keys = list(ref_json[0].keys())
check(list(ref_l[0].keys()) == ref_keys, "(reference json and jsonl have the same keys)")
check(len(ours) == len(ref_json) == 6, f"{len(ours)} rows, as llama-bench's {len(ref_json)}")
for name, rows in (("json", ours), ("jsonl", ours_l)):
    for i, row in enumerate(rows):
        keys = list(row.keys())
        check(keys[:len(ref_keys)] == ref_keys, f"{name} row {i}: llama-bench's {len(ref_keys)} keys first, in order")
        bad = [k for k in ref_keys if k in row and jtype(row[k]) != jtype(ref_json[0][k])]
        check(not bad, f"{name} row {i}: same JSON types as llama-bench's (differ: {bad})")
        check(all(jtype(x) == "float" for x in row["samples_ts"]) and all(jtype(x) == "int" for x in row["samples_ns"]),
              f"{name} row {i}: samples_ns integers, samples_ts floats")
        extra = keys[len(ref_keys):]
        check({"model_name", "quant", "synthetic", "mem_needed", "fits"} <= set(extra),
              f"{name} row {i}: cllama's fields after them ({', '.join(extra)})")
check(ours == ours_l, "json and jsonl carry the same rows")

# --- the same rows, model figures ---------------------------------------------------
def tests(rows):
    return [(x["n_prompt"], x["n_gen"], x["n_depth"]) for x in rows]


check(tests(ours) == tests(ref_json), f"tests in llama-bench's order: {tests(ours)}")
for k in ("model_type", "model_size", "model_n_params", "n_batch", "n_ubatch", "n_threads", "type_k", "type_v",
          "backends", "gpu_info"):
    check(all(o[k] == ref_json[0][k] for o in ours), f"{k} = {ref_json[0][k]!r} as llama-bench says for this file")
check(all(o["model_filename"] == model for o in ours), "model_filename is the file as given")
for o in ours:
    t = f"{o['n_prompt']}/{o['n_gen']}@{o['n_depth']}"
    check(len(o["samples_ns"]) == 2 and o["fits"] and o["avg_ts"] > 0, f"{t}: two samples, positive t/s")
    tokens = o["n_prompt"] + o["n_gen"]
    check(all(abs(tokens / (ns * 1e-9) - ts) <= 1e-5 * ts for ns, ts in zip(o["samples_ns"], o["samples_ts"])),
          f"{t}: samples_ts = (n_prompt + n_gen) / samples_ns (depth not counted)")
    check(abs(statistics.mean(o["samples_ts"]) - o["avg_ts"]) <= 1e-4 * o["avg_ts"]
          and abs(statistics.stdev(o["samples_ts"]) - o["stddev_ts"]) <= 1e-4 * o["avg_ts"] + 1e-6,
          f"{t}: avg_ts / stddev_ts are the mean and sample sd of samples_ts")
    check(abs(statistics.mean(o["samples_ns"]) - o["avg_ns"]) <= 1 and
          abs(statistics.stdev(o["samples_ns"]) - o["stddev_ns"]) <= 1, f"{t}: avg_ns / stddev_ns")
    check(re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", o["test_time"]) is not None, f"{t}: test_time RFC 3339")

# --- CSV ----------------------------------------------------------------------------
ref_head = open(os.path.join(refdir, "ref.csv")).readline().strip().split(",")
our_csv = list(csv.reader(open(os.path.join(outdir, "bench.csv"))))
check(our_csv[0][:len(ref_head)] == ref_head, "csv: llama-bench's columns first, in order")
check(len(our_csv) == 7 and all(len(x) == len(our_csv[0]) for x in our_csv), "csv: header and 6 full rows")
col = {n: i for i, n in enumerate(our_csv[0])}
check(all(abs(float(c[col["avg_ts"]]) - o["avg_ts"]) <= 1e-4 * o["avg_ts"] for c, o in zip(our_csv[1:], ours)),
      "csv: avg_ts as in json")

# --- SQL: into llama-bench's own table ----------------------------------------------
db = sqlite3.connect(":memory:")
db.executescript(open(os.path.join(refdir, "ref.sql")).read())
n_ref = db.execute("select count(*) from llama_bench").fetchone()[0]
try:
    db.executescript(open(os.path.join(outdir, "bench.sql")).read())
    ok = True
except sqlite3.Error as e:
    ok = False
    print("   ", e)
check(ok, "sql: our statements run against the table llama-bench's statements created")
n_all = db.execute("select count(*) from llama_bench").fetchone()[0]
check(n_all - n_ref == 6, f"sql: 6 rows inserted ({n_all - n_ref})")
cols = [c[1] for c in db.execute("pragma table_info(llama_bench)")]
diff = []
for c in cols:
    types = db.execute(f"select distinct typeof({c}), rowid > {n_ref} from llama_bench").fetchall()
    ref_t = {t for t, mine in types if not mine}
    our_t = {t for t, mine in types if mine}
    if ref_t != our_t:
        diff.append(f"{c}: {ref_t} vs {our_t}")
check(not diff, f"sql: every column stores the same SQLite type as llama-bench's rows ({diff})")
got = db.execute(f"select n_prompt, n_gen, n_depth, avg_ts from llama_bench where rowid > {n_ref}").fetchall()
check([g[:3] for g in got] == tests(ours) and all(abs(g[3] - o["avg_ts"]) <= 1e-4 * o["avg_ts"] for g, o in zip(got, ours)),
      "sql: rows as in json")

# --- markdown -----------------------------------------------------------------------
ref_md = open(os.path.join(refdir, "ref.md")).read().splitlines()
our_md = open(os.path.join(outdir, "bench.md")).read().splitlines()
check(our_md[:2] == ref_md[:2], "md: llama-bench's header and separator lines")
def md_cells(lines):
    return [[x.strip() for x in l.strip().strip("|").split("|")] for l in lines if l.startswith("|")][2:]
ref_cells, our_cells = md_cells(ref_md), md_cells(our_md)
check([c[:5] + c[5:6] for c in our_cells] == [c[:6] for c in ref_cells],
      f"md: model, size, params, backend, threads and test cells as llama-bench's ({[c[5] for c in our_cells]})")
check(all(len(a) == len(b) for a, b in zip(our_md[2:8], ref_md[2:8])), "md: rows as wide as llama-bench's")
check(all(re.fullmatch(r"\d+\.\d\d ± \d+\.\d\d", c[6]) for c in our_cells), "md: t/s as avg ± sd")
check(re.fullmatch(r"build: \S+ \(\d+\)", our_md[-1]) is not None and our_md[-2] == "", f"md: build line ({our_md[-1]})")

# -b / -ub: the columns llama-bench adds when they are not the defaults, and the values
r = run("bench", "-m", model, "-p", "16", "-n", "0", "-r", "1", "-t", "1", "-b", "8", "-ub", "4")
lines = [l for l in r.stdout.splitlines() if l.startswith("|")]
head = [x.strip() for x in lines[0].strip("|").split("|")] if lines else []
check(r.returncode == 0 and head == ["model", "size", "params", "backend", "threads", "n_batch", "n_ubatch", "test", "t/s"],
      f"md with -b 8 -ub 4: n_batch and n_ubatch columns ({head})")
cells = md_cells(lines)
check(cells and cells[0][5:8] == ["8", "4", "pp16"], f"md: values 8, 4 ({cells})")
r = run("bench", "-m", model, "-p", "16", "-n", "0", "-r", "1", "-t", "1", "-b", "8,16", "-ub", "4", "-o", "json")
j = json.loads(r.stdout) if r.returncode == 0 else []
check([(x["n_batch"], x["n_ubatch"]) for x in j] == [(8, 4), (16, 4)], "json: one row per -b value")

# --- the seed table stays the default of the no-argument run ------------------------
r = run("bench", "--shape", "llama3-70b:Q4_K_M", "-p", "8", "-n", "4", "-o", "summary", "--mem-limit", "1G")
check(r.returncode == 0 and r.stdout.startswith("| Model | Quantization | Processing Speed (t/s, pp8) | "
                                                 "Generation Speed (t/s, tg4) | Memory needed |"),
      "summary format unchanged")
finish()
