#!/usr/bin/env python3
"""cllama limits --nodes N --link L: a model pipelined over N devices, on published figures.

usage: test_limits_nodes.py CLLAMA_BIN

Figures the checks are tied to: Llama 3 70B Q4_K_M is 39.59 GiB (llama-bench's label
for that file), n_embd 8192 and n_vocab 128256 (Meta-Llama-3-70B config.json); Apple
M1 Max: 400 GB/s, sold with 32 or 64 GB, of which Metal wires about 2/3 by default up
to 36 GB. The link terms are the README's: per hop latency + n_embd x 4 bytes / rate,
the sampled token back once (latency + 292 bytes: header, token, random state; the
pipeline samples on the last rank).
"""
import json, subprocess, sys

from checklib import check, finish

bin_ = sys.argv[1]
GiB = 1024 ** 3


def limits(*args):
    r = subprocess.run([bin_, "limits", *args], capture_output=True, text=True, timeout=120)
    return r.returncode, r.stdout, r.stderr


def nodes(n, link, device="m1-max-32gpu", shape="llama3-70b:Q4_K_M"):
    rc, out, err = limits("--shape", shape, "--device", device, "--nodes", str(n), "--link", link, "-o", "json")
    return json.loads(out)[0] if rc == 0 else None


W, E, V, BW = 39.59 * GiB, 8192, 128256, 400e9
one = nodes(1, "10gbe")
check(one and one["fits"] and one["mem_gb"] == 64,
      "Llama 3 70B Q4_K_M alone needs the 64 GB M1 Max (21.3 of 32 GB usable is too little)")
three = nodes(3, "tb4")
check(three and three["fits"] and three["mem_gb"] == 32,
      f"on 3 of them over Thunderbolt it fits the 32 GB model: {three['mem_per_node_bytes'] / 1e9:.1f} GB each")
check(W / 3 < three["mem_per_node_bytes"] < W / 3 + 3e9, "a third of the weights plus one end of the model and the scratch")
check(abs(one["tg"] - one["tg_one"]) < 1e-9 * one["tg_one"], "one node: tg is the single-device ceiling")
for n, link, gbs, lat in ((3, "tb4", 2.5e9, 30e-6), (2, "1gbe", 0.125e9, 50e-6), (8, "5,100", 5e9, 100e-6)):
    r = nodes(n, link)
    t_link = (n - 1) * (lat + E * 4 / gbs) + lat + 292 / gbs
    # the weights' bytes / bandwidth, from the single-device figure (KV at depth 0)
    t = 1 / one["tg_one"] + t_link
    check(r and abs(r["tg"] - 1 / t) < 1e-6 / t and abs(r["link_share"] - t_link / t) < 1e-6,
          f"{n} nodes over {link}: tg {r['tg']:.3f} t/s = 1 / (W / 400 GB/s + {t_link * 1e3:.3f} ms of link), "
          f"link {100 * r['link_share']:.1f} % of a token")
a, b = nodes(2, "10gbe"), nodes(16, "10gbe")
check(b["tg"] < a["tg"] and b["link_share"] > a["link_share"], "more devices: generation only slower, the link a larger share")
check(b["pp"] > a["pp"] > 0, f"and prompt processing (4096 tokens in micro-batches of 64) faster: {a['pp']:.1f} -> {b['pp']:.1f}")
rc, out, err = limits("--shape", "llama3-70b:Q4_K_M", "--device", "m1-max-32gpu", "--nodes", "3")
check(rc == 0 and "10 Gb Ethernet" in out and "| llama3-70b Q4_K_M |" in out, "markdown, 10 GbE by default")
rc, out, err = limits("--nodes", "2", "--link", "carrier-pigeon")
check(rc == 2 and "carrier-pigeon" in err and "10gbe" in err and len(err.strip().splitlines()) == 1,
      f"an unknown link: exit 2, one line naming the known ones ({err.strip()})")
rc, out, err = limits("--nodes", "0")
check(rc == 2 and "--nodes" in err, f"--nodes 0: exit 2 ({err.strip()})")
finish()
