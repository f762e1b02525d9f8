#!/usr/bin/env python3
"""A bounded load test of `cllama serve` on loopback: 500 requests from 16 concurrent
clients (chat and completions, streamed and not, a few tokens each) against
--parallel 4. Every request must succeed, or be refused with the documented 503 (queue
full); the latency percentiles are reported. It stops by itself.

usage: test_server_load.py CLLAMA MODEL.gguf
"""
import concurrent.futures, json, os, statistics, sys, time

sys.path.insert(0, os.path.dirname(__file__))
from server_util import Server

cllama, model = sys.argv[1], sys.argv[2]
if not os.path.exists(model):
    print(f"skipped: {model} is not there")
    sys.exit(77)
N, CLIENTS = 500, 16
srv = Server(cllama, model, "--parallel", "4", "--ctx", "1024", "-t", "2", "--queue", "64")


def one(i):
    kind = i % 4
    if kind < 2:
        path, body = "/v1/chat/completions", {"messages": [{"role": "user", "content": f"Question {i}?"}]}
    else:
        path, body = "/v1/completions", {"prompt": f"Request {i} says"}
    body.update({"max_tokens": 4, "temperature": 0.7, "seed": i, "stream": kind % 2 == 1})
    t0 = time.time()
    status, text = srv.post(path, body, timeout=300)
    ok = status == 200 and ("[DONE]" in text if body["stream"] else "usage" in json.loads(text))
    return status, ok, time.time() - t0


t0 = time.time()
with concurrent.futures.ThreadPoolExecutor(CLIENTS) as ex:
    results = list(ex.map(one, range(N)))
wall = time.time() - t0
code = srv.stop()
lat = sorted(r[2] for r in results if r[1])
failures = [r for r in results if not r[1] and r[0] != 503]
busy = sum(1 for r in results if r[0] == 503)
p = lambda q: lat[min(len(lat) - 1, int(q * len(lat)))] * 1000 if lat else float("nan")
print(f"{N} requests from {CLIENTS} clients in {wall:.1f} s ({N / wall:.1f} requests/s): {len(lat)} ok, {busy} refused "
      f"with 503, {len(failures)} failed; latency p50 {p(0.5):.0f} ms, p90 {p(0.9):.0f} ms, p99 {p(0.99):.0f} ms, "
      f"max {lat[-1] * 1000 if lat else 0:.0f} ms")
ok = not failures and len(lat) + busy == N and code == 0
print(("ok   " if ok else "FAIL ") + "no failures other than the documented 503; the server stopped cleanly"
      + ("" if ok else f" (failures {failures[:5]}, exit {code})"))
sys.exit(0 if ok else 1)
