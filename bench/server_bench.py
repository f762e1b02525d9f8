#!/usr/bin/env python3
"""Aggregate generation speed of an OpenAI-compatible server under concurrent
streaming clients: `cllama serve` and, for comparison, llama.cpp's `llama-server` on
the same file, threads, context and --parallel.

usage: server_bench.py --model FILE [--cllama BIN[,BIN]] [--llama-server BIN] [--threads 2]
                       [--parallel 8] [--ctx 4096] [--clients 1,4,8] [--tokens 32] [--rounds 2]
                       [--mpi N] [--prompt-tokens 16]

--cllama with two builds compares them (e.g. before and after a change); --mpi N runs
each cllama server under `mpirun -np N` on this machine (loopback, --oversubscribe),
the layers split across N ranks with --threads each.

Each client streams /v1/completions requests (a distinct prompt of --prompt-tokens ids, so a
synthetic model's placeholder vocabulary costs the same as a real one; max_tokens
--tokens, ignore_eos so every request generates exactly that many, greedy)
one after another for --rounds rounds; aggregate t/s = all completion tokens / the wall
time of the whole run. A warm-up request goes first. Runs the servers one after the
other on a free loopback port and prints a markdown table.
"""
import argparse, concurrent.futures, json, os, re, signal, socket, subprocess, sys, time, urllib.request


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    p = s.getsockname()[1]
    s.close()
    return p


MPI_ENV = dict(os.environ, OMPI_MCA_btl="self,vader,tcp", OMPI_MCA_btl_tcp_if_include="lo",
               OMPI_MCA_oob_tcp_if_include="lo", OMPI_MCA_mpi_yield_when_idle="1")


def start(cmd, port):
    p = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=MPI_ENV)
    end = time.time() + 600
    while time.time() < end:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=2) as r:
                if r.status == 200:
                    return p
        except Exception:
            pass
        if p.poll() is not None:
            raise RuntimeError(f"{cmd[0]} exited")
        time.sleep(0.5)
    raise RuntimeError(f"{cmd[0]} never became ready")


def stream(port, prompt, n):
    body = json.dumps({"prompt": prompt, "max_tokens": n, "temperature": 0, "stream": True, "ignore_eos": True,
                       "stream_options": {"include_usage": True}}).encode()
    req = urllib.request.Request(f"http://127.0.0.1:{port}/v1/completions", data=body,
                                 headers={"Content-Type": "application/json"})
    tokens, chunks = None, 0
    with urllib.request.urlopen(req, timeout=3600) as r:
        for line in r:
            line = line.strip()
            if not line.startswith(b"data: ") or line == b"data: [DONE]":
                continue
            j = json.loads(line[6:])
            if j.get("usage"):
                tokens = j["usage"]["completion_tokens"]
            elif j.get("choices") and j["choices"][0].get("text"):
                chunks += 1
    return tokens if tokens is not None else chunks


def run(port, clients, rounds, n, prompt_tokens=16):
    def client(i):
        total = 0
        for r in range(rounds):
            prompt = [1] + [300 + (i * 7919 + r * 104729 + k * 31) % 20000 for k in range(prompt_tokens - 1)]
            total += stream(port, prompt, n)
        return total

    t0 = time.time()
    with concurrent.futures.ThreadPoolExecutor(clients) as ex:
        total = sum(ex.map(client, range(clients)))
    return total, time.time() - t0


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", required=True)
    ap.add_argument("--cllama", default="build/cllama")
    ap.add_argument("--llama-server")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--parallel", type=int, default=8)
    ap.add_argument("--ctx", type=int, default=4096)
    ap.add_argument("--clients", default="1,4,8")
    ap.add_argument("--tokens", type=int, default=32)
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--mpi", type=int, default=0)
    ap.add_argument("--prompt-tokens", type=int, default=16)
    a = ap.parse_args()
    mpi = ["mpirun", "--oversubscribe", "-np", str(a.mpi)] + (["--allow-run-as-root"] if os.geteuid() == 0 else []) \
        if a.mpi > 1 else []
    builds = a.cllama.split(",")

    def cllama_cmd(b):
        return lambda port: mpi + [b, "serve", "-m", a.model, "--port", str(port), "-t", str(a.threads), "--parallel",
                                   str(a.parallel), "--ctx", str(a.ctx)]
    servers = [("cllama serve" + (f" ({b})" if len(builds) > 1 else ""), cllama_cmd(b)) for b in builds]
    if a.llama_server:
        servers.append(("llama-server", lambda port: [a.llama_server, "-m", a.model, "--port", str(port), "--host",
                                                      "127.0.0.1", "-t", str(a.threads), "-tb", str(a.threads), "-np",
                                                      str(a.parallel), "-c", str(a.ctx), "--no-webui"]))
    clients = [int(c) for c in a.clients.split(",")]
    rows = {}
    for name, cmd in servers:
        port = free_port()
        p = start(cmd(port), port)
        try:
            stream(port, [1, 500, 600, 700], 4)
            for c in clients:
                tok, secs = run(port, c, a.rounds, a.tokens, a.prompt_tokens)
                rows.setdefault(c, {})[name] = tok / secs
                print(f"{name}: {c} clients: {tok} tokens in {secs:.1f} s = {tok / secs:.2f} t/s", file=sys.stderr, flush=True)
        finally:
            p.send_signal(signal.SIGTERM)
            p.wait(timeout=60)
    names = [s[0] for s in servers]
    print(f"\n{os.path.basename(a.model)}, {a.threads} threads{f' x {a.mpi} MPI ranks' if mpi else ''}, --parallel {a.parallel}, ctx {a.ctx}, {a.tokens} tokens "
          f"per request after a {a.prompt_tokens}-token prompt, {a.rounds} requests per client\n")
    print("| streaming clients | " + " | ".join(f"{n} aggregate t/s" for n in names) +
          (" | ratio |" if len(names) == 2 else " |"))
    print("|---:|" + "---:|" * len(names) + ("---:|" if len(names) == 2 else ""))
    for c in clients:
        vals = [rows[c][n] for n in names]
        print(f"| {c} | " + " | ".join(f"{v:.2f}" for v in vals) + (f" | {vals[0] / vals[1]:.2f}x |" if len(vals) == 2 else " |"))


if __name__ == "__main__":
    main()
