#!/usr/bin/env python3
"""One model across MPI ranks (mpirun -np N cllama ...), against the single process.

usage: test_mpi.py CLLAMA MPIRUN TESTDATA OUTDIR

 - logits of a prompt under -np 2 and -np 3 (stories260K: 5 layers; the tiny Llama 2
   and Llama 3 models: 2 layers, -np 2), and with --layer-split, are the single
   process's, bit for bit (same kernels, same order of operations);
 - greedy generation of 64 tokens prints the same text; so does sampled generation
   (temperature, top-k, top-p, min-p, repetition penalty, a seed), whose tokens are
   picked on the last rank, under -np 2 and -np 3; the server (--parallel 2) answers
   two requests at once as the single process does, greedy and sampled with seeds;
 - faults end the job within 10 s, exit non-zero, with a one-line message on rank 0:
   one rank pointed at a missing file; one rank given another model file (refused at
   start); one rank killed with SIGKILL during generation; --layer-split that does not
   add up to the model's layers.
Ranks run with one thread each (--oversubscribe: CI machines have 2 cores).
"""
import os, re, signal, subprocess, sys, time

cllama, mpirun, testdata, outdir = sys.argv[1:5]
from checklib import check, finish

models = os.path.join(testdata, "models")
stories = os.path.join(models, "stories260K-f32.gguf")
if not os.path.exists(stories):
    print(f"skipped: {stories} is not there (../shared/testdata beside the clone)")
    sys.exit(77)
os.makedirs(outdir, exist_ok=True)
MPI = [mpirun, "--oversubscribe"] + (["--allow-run-as-root"] if os.geteuid() == 0 else [])
# no network devices needed: the ranks share this machine
ENV = dict(os.environ, OMPI_MCA_btl="self,vader,tcp", OMPI_MCA_btl_tcp_if_include="lo",
           OMPI_MCA_oob_tcp_if_include="lo", OMPI_MCA_mpi_yield_when_idle="1")


def run(args, timeout=120):
    t0 = time.time()
    p = subprocess.run(args, capture_output=True, env=ENV, timeout=timeout)
    return p, time.time() - t0


def logits(model, n=None, split=None, tag=""):
    out = os.path.join(outdir, f"logits{tag}.f32")
    if os.path.exists(out):
        os.remove(out)
    args = [cllama, "logits", "-m", model, "-p", "Once upon a time, there was a little girl", "-o", out, "-t", "1"]
    if n:
        args = MPI + ["-np", str(n), *args] + (["--layer-split", split] if split else [])
    p, _ = run(args)
    data = open(out, "rb").read() if p.returncode == 0 and os.path.exists(out) else None
    return data, p


for name, ranks in (("stories260K-f32", (2, 3)), ("tiny-llama2-s1-q4_k_m", (2,)), ("tiny-llama3-s1-q4_k_m", (2,))):
    model = os.path.join(models, name + ".gguf")
    if not os.path.exists(model):
        print(f"{model} absent: skipped")
        continue
    solo, p = logits(model, tag="-solo")
    if not check(solo, f"{name}: single-process logits ({p.stderr.decode()[-200:]})"):
        continue
    for n in ranks:
        mine, p = logits(model, n, tag=f"-np{n}")
        err = p.stderr.decode()
        check(mine == solo, f"{name}: logits under -np {n} are the single process's, bit for bit "
              f"({len(solo) // 4} floats; {err.strip().splitlines()[-1] if mine != solo and err.strip() else 'ok'})")
    if name.startswith("stories"):
        mine, p = logits(model, 2, split="4,1", tag="-split")
        check(mine == solo and b"layers [0, 4)" in p.stderr, "stories260K: --layer-split 4,1: the same logits")

model = os.path.join(models, "tiny-llama2-s1-q4_k_m.gguf")
if os.path.exists(model):
    gen = [cllama, "run", "-m", model, "-p", "Once upon a time", "-n", "64", "--temp", "0", "-t", "1"]
    a, _ = run(gen)
    b, _ = run(MPI + ["-np", "2", *gen])
    check(a.returncode == 0 and b.returncode == 0 and a.stdout == b.stdout and len(a.stdout) > 20,
          f"greedy generation of 64 tokens: the same text under -np 2 ({len(a.stdout)} bytes)")
for m, np_ in ((model, 2), (stories, 3)):
    if not os.path.exists(m):
        continue
    gen = [cllama, "run", "-m", m, "-p", "Once upon a time", "-n", "64", "--temp", "0.9", "--top-k", "20",
           "--top-p", "0.9", "--min-p", "0.02", "--repeat-penalty", "1.15", "--seed", "4242", "-t", "1"]
    a, _ = run(gen)
    b, _ = run(MPI + ["-np", str(np_), *gen])
    greedy = subprocess.run([*gen[:gen.index("--temp")], "--temp", "0", "-t", "1"], capture_output=True, env=ENV)
    check(a.returncode == 0 and b.returncode == 0 and a.stdout == b.stdout and a.stdout != greedy.stdout,
          f"{os.path.basename(m)}: sampled generation (seed 4242), tokens picked on the last of {np_} ranks: the "
          f"single process's text, which greedy decoding does not give ({len(a.stdout)} bytes)")
if os.path.exists(model):

    # --- the server across ranks: two requests at once, the single process's answers ------
    import json, socket, urllib.request

    def free_port():
        with socket.socket() as so:
            so.bind(("127.0.0.1", 0))
            return so.getsockname()[1]

    def serve_answers(prefix):
        port = free_port()
        srv = subprocess.Popen(prefix + [cllama, "serve", "-m", model, "--host", "127.0.0.1", "--port", str(port),
                                         "--parallel", "2", "-t", "1"],
                               stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=ENV)
        # short prompts (one batch of both slots a step), then long ones (each slot's group
        # in flight while the other's is evaluated)
        long = "Once upon a time there was a little girl who lived in a village near the forest. " * 3
        bodies = [json.dumps({"prompt": p, "max_tokens": 24, "temperature": t, "seed": 7 + i}).encode()
                  for p, t in (("Once upon a time", 0), ("Once upon a time", 0.9), (long, 0.9)) for i in range(2)]
        answers = []
        try:
            for _ in range(150):  # up to 30 s until /health says the model is loaded (on every rank)
                try:
                    if urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=1).status == 200:
                        break
                except Exception:
                    pass
                time.sleep(0.2)
            import concurrent.futures as cf

            def ask(body):
                req = urllib.request.Request(f"http://127.0.0.1:{port}/v1/completions", data=body,
                                             headers={"Content-Type": "application/json"})
                return json.load(urllib.request.urlopen(req, timeout=60))["choices"][0]["text"]
            with cf.ThreadPoolExecutor(2) as ex:  # two at a time: greedy, sampled with seeds 7 and 8, long prompts
                answers = list(ex.map(ask, bodies[:2])) + list(ex.map(ask, bodies[2:4])) + list(ex.map(ask, bodies[4:]))
            metrics = urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5).read().decode()
            answers.append(int(re.search(r"^cllama_batches_in_flight_total (\d+)", metrics, re.M).group(1)))
        except Exception as e:  # reported by the check below
            answers = [f"error: {e}"]
        finally:
            srv.send_signal(signal.SIGINT)
            try:
                srv.wait(timeout=20)
            except subprocess.TimeoutExpired:
                srv.kill()
                srv.wait()
        return answers

    one = serve_answers([])
    two = serve_answers(MPI + ["-np", "2"])
    check(len(one) == 7 and one[:6] == two[:6] and one[0] == one[1] and len(one[0]) > 10 and one[2] != one[3],
          f"serve --parallel 2 under -np 2: two requests at once, greedy, sampled (seeds 7 and 8) and with long "
          f"prompts, answered as by one process ({two[:6]})")
    check(len(two) == 7 and one[6] == 0 and two[6] > 0,
          f"the long prompts went down the pipeline in flight at once ({two[6] if len(two) == 7 else '?'} batches; "
          f"the single process: {one[6] if len(one) == 7 else '?'})")

    # --- faults ---------------------------------------------------------------------------
    def fault(what, args, says, limit=10):
        p, dt = run(args, timeout=60)
        err = p.stderr.decode()
        ours = [l for l in err.splitlines() if l.startswith("cllama")]
        check(p.returncode != 0 and dt < limit and ours and all(s in ours[0] for s in says),
              f"{what}: exit {p.returncode} after {dt:.1f} s, rank 0 says: {ours[0] if ours else err[-300:]!r}")

    fault("rank 1 pointed at a missing file",
          MPI + ["-np", "1", cllama, "logits", "-m", model, "-p", "Hi", "-o", os.path.join(outdir, "x.f32"), ":",
                 "-np", "1", cllama, "logits", "-m", "/nonexistent/model.gguf"],
          ["rank 1", "/nonexistent/model.gguf"])
    other = os.path.join(models, "tiny-llama2-s1-q8_0.gguf")
    if os.path.exists(other):
        fault("rank 1 given another model file",
              MPI + ["-np", "1", cllama, "logits", "-m", model, "-p", "Hi", "-o", os.path.join(outdir, "x.f32"), ":",
                     "-np", "1", cllama, "logits", "-m", other],
              ["rank 1", "another model file"])
    fault("--layer-split 1,5 for a model of 2 layers",
          MPI + ["-np", "2", cllama, "logits", "-m", model, "-p", "Hi", "-o", os.path.join(outdir, "x.f32"),
                 "--layer-split", "1,5"], ["--layer-split", "2"])

    # one rank killed during a long generation
    errf = open(os.path.join(outdir, "kill.err"), "w+b")
    job = subprocess.Popen(MPI + ["-np", "2", cllama, "run", "-m", model, "-p", "Once upon a time", "-n", "1000000",
                                  "--ignore-eos", "--temp", "0", "-c", "1000000", "-t", "1"],
                           stdout=subprocess.DEVNULL, stderr=errf, env=ENV)
    victim = None
    t_end = time.time() + 20
    while victim is None and time.time() < t_end and job.poll() is None:
        time.sleep(0.5)
        for pid in os.listdir("/proc"):
            if not pid.isdigit():
                continue
            try:
                env = open(f"/proc/{pid}/environ", "rb").read()
                cmd = open(f"/proc/{pid}/cmdline", "rb").read()
            except OSError:
                continue
            if b"OMPI_COMM_WORLD_RANK=1\0" in env and cmd.startswith(cllama.encode()) and b"run\0" in cmd:
                victim = int(pid)
    if check(victim is not None, f"rank 1 found (pid {victim})"):
        time.sleep(1.0)  # generating
        os.kill(victim, signal.SIGKILL)
        t0 = time.time()
        try:
            job.wait(timeout=30)
        except subprocess.TimeoutExpired:
            job.kill()
            job.wait()
        dt = time.time() - t0
        errf.seek(0)
        err = errf.read().decode(errors="replace")
        ours = [l for l in err.splitlines() if l.startswith("cllama")]
        check(job.returncode != 0 and dt < 10 and any("stopped by mpirun" in l for l in ours) and "rank 1" in err,
              f"rank 1 killed during generation: the job ended after {dt:.1f} s, exit {job.returncode}, rank 0: "
              f"{[l for l in ours if 'stopped' in l]}")
    else:
        job.kill()
        job.wait()
finish()
