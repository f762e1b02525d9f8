#!/usr/bin/env python3
"""`cllama serve` through the official `openai` Python client, on a tiny model.

usage: test_server.py CLLAMA MODEL.gguf

 - models, chat completions (plain and streamed), completions (plain and streamed);
 - usage counts equal what the tokenizer gives for the same prompt (`cllama tokenize`);
 - greedy output identical to `cllama run` (completions) and `cllama chat` (chat);
 - stop strings, seeds, logprobs/top_logprobs, penalties, a refused response_format;
 - /tokenize and /detokenize, /metrics in Prometheus' text format;
 - parallel correctness: 8 different greedy requests at once to --parallel 4 return
   exactly what each returns alone.
Skipped (77) without the openai package or the model.
"""
import concurrent.futures, json, os, re, subprocess, sys, tempfile

sys.path.insert(0, os.path.dirname(__file__))
from server_util import Server

cllama, model = sys.argv[1], sys.argv[2]
try:
    import openai
except ImportError:
    print("skipped: the openai Python package is not installed (pip install openai)")
    sys.exit(77)
if not os.path.exists(model):
    print(f"skipped: {model} is not there")
    sys.exit(77)
fails = 0


def check(cond, what):
    global fails
    print(("ok   " if cond else "FAIL ") + what, flush=True)
    if not cond:
        fails += 1


def cli(*args):
    r = subprocess.run([cllama, *args], capture_output=True, text=True, timeout=300)
    return r.stdout, r.returncode


srv = Server(cllama, model, "--parallel", "4", "--ctx", "2048", "-t", "2")
client = openai.OpenAI(base_url=srv.base + "/v1", api_key="none", max_retries=0)
try:
    name = client.models.list().data[0].id
    check(name == os.path.basename(model), f"models: {name}")

    msgs = [{"role": "system", "content": "You are terse."}, {"role": "user", "content": "Tell me about the sea."}]
    c = client.chat.completions.create(model=name, messages=msgs, temperature=0, max_tokens=16)
    text = c.choices[0].message.content
    with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False) as f:
        json.dump(msgs, f)
    ids = json.loads(cli("tokenize", "-m", model, "--chat", f.name, "--chat-template", "chatml", "--ids")[0])
    os.unlink(f.name)
    check(c.object == "chat.completion" and c.choices[0].message.role == "assistant" and c.choices[0].finish_reason == "length",
          f"chat completion: {text!r}, finish {c.choices[0].finish_reason}")
    check(c.usage.prompt_tokens == len(ids) and c.usage.completion_tokens == 16 and c.usage.total_tokens == len(ids) + 16,
          f"usage {c.usage.prompt_tokens}+{c.usage.completion_tokens}: the tokenizer gives {len(ids)} prompt tokens")
    chat_cli, rc = cli("chat", "-m", model, "--chat-template", "chatml", "-sys", "You are terse.", "-p",
                       "Tell me about the sea.", "--temp", "0", "-n", "16", "-t", "2")
    check(rc == 0 and chat_cli == text + "\n", f"greedy chat equals `cllama chat -p`: {chat_cli!r}")

    chunks = list(client.chat.completions.create(model=name, messages=msgs, temperature=0, max_tokens=16, stream=True,
                                                 stream_options={"include_usage": True}))
    streamed = "".join(ch.choices[0].delta.content or "" for ch in chunks if ch.choices)
    finish = [ch.choices[0].finish_reason for ch in chunks if ch.choices and ch.choices[0].finish_reason]
    usage = [ch.usage for ch in chunks if ch.usage]
    check(streamed == text and finish == ["length"] and chunks[0].choices[0].delta.role == "assistant" and
          all(ch.object == "chat.completion.chunk" for ch in chunks),
          f"streamed chat: {len(chunks)} chunks, same text, finish {finish}")
    check(len(usage) == 1 and usage[0].completion_tokens == 16 and usage[0].prompt_tokens == len(ids),
          "stream_options.include_usage: one usage chunk with the same counts")

    prompt = "Once upon a time"
    comp = client.completions.create(model=name, prompt=prompt, temperature=0, max_tokens=16)
    run_out, rc = cli("run", "-m", model, "-p", prompt, "--temp", "0", "-n", "16", "--no-display-prompt", "-t", "2")
    run_ids = json.loads(cli("tokenize", "-m", model, "-p", prompt, "--special", "--ids")[0])
    check(comp.object == "text_completion" and comp.choices[0].text + "\n" == run_out and rc == 0,
          f"greedy completion equals `cllama run`: {comp.choices[0].text!r}")
    check(comp.usage.prompt_tokens == len(run_ids) and comp.usage.completion_tokens == 16,
          f"completion usage {comp.usage.prompt_tokens}+{comp.usage.completion_tokens} (tokenizer: {len(run_ids)})")
    sc = list(client.completions.create(model=name, prompt=prompt, temperature=0, max_tokens=16, stream=True))
    check("".join(x.choices[0].text for x in sc if x.choices) == comp.choices[0].text, f"streamed completion: {len(sc)} chunks")

    # stop strings: cut the greedy text at a piece from its middle
    words = comp.choices[0].text.split()
    stop = words[len(words) // 2] if len(words) > 2 else None
    if stop:
        st = client.completions.create(model=name, prompt=prompt, temperature=0, max_tokens=16, stop=[stop])
        cut = comp.choices[0].text[:comp.choices[0].text.index(stop)]
        check(st.choices[0].text == cut and st.choices[0].finish_reason == "stop",
              f"stop {stop!r}: {st.choices[0].text!r}, finish {st.choices[0].finish_reason}")
        ss = list(client.completions.create(model=name, prompt=prompt, temperature=0, max_tokens=16, stop=stop, stream=True))
        check("".join(x.choices[0].text for x in ss if x.choices) == cut, "streamed: the stop string never reaches the client")

    a = client.completions.create(model=name, prompt=prompt, temperature=1.0, max_tokens=12, seed=42)
    b = client.completions.create(model=name, prompt=prompt, temperature=1.0, max_tokens=12, seed=42)
    d = client.completions.create(model=name, prompt=prompt, temperature=1.0, max_tokens=12, seed=43)
    check(a.choices[0].text == b.choices[0].text and a.choices[0].text != d.choices[0].text,
          "sampling with a seed repeats; another seed differs")
    rep = "the the the the the the the the the the the the"
    plain = client.completions.create(model=name, prompt=rep, temperature=0, max_tokens=48).choices[0].text
    pen = client.completions.create(model=name, prompt=rep, temperature=0, max_tokens=48, frequency_penalty=2.0,
                                    presence_penalty=1.0).choices[0].text
    check(pen != plain, "presence/frequency penalties change a greedy completion that repeats itself")

    lp = client.chat.completions.create(model=name, messages=msgs, temperature=0, max_tokens=8, logprobs=True,
                                        top_logprobs=3)
    ent = lp.choices[0].logprobs.content
    check(len(ent) == 8 and all(len(e.top_logprobs) == 3 and e.logprob <= 0 and
                                abs(e.logprob - e.top_logprobs[0].logprob) < 1e-5 and e.token == e.top_logprobs[0].token
                                for e in ent) and "".join(e.token for e in ent) == lp.choices[0].message.content,
          "logprobs: 8 entries, greedy token = the top alternative, tokens spell the content")
    clp = client.completions.create(model=name, prompt=prompt, temperature=0, max_tokens=4, logprobs=2)
    check(len(clp.choices[0].logprobs.tokens) == 4 and len(clp.choices[0].logprobs.top_logprobs[0]) == 2,
          "completions logprobs in the legacy shape")
    try:
        client.chat.completions.create(model=name, messages=msgs, response_format={"type": "json_object"})
        check(False, "response_format json_object is refused")
    except openai.BadRequestError as e:
        check(e.status_code == 400 and "response_format" in str(e), f"response_format refused: 400 {e.body['message']!r}")

    status, body = srv.post("/tokenize", {"content": "Hello world"})
    toks = json.loads(body)["tokens"]
    cli_toks = json.loads(cli("tokenize", "-m", model, "-p", "Hello world", "--no-bos", "--special", "--ids")[0])
    status2, body2 = srv.post("/detokenize", {"tokens": toks})
    check(status == 200 and toks == cli_toks and status2 == 200 and json.loads(body2)["content"].strip() == "Hello world",
          f"/tokenize {toks} and /detokenize round trip")

    # parallel correctness
    prompts = [f"Request number {i}: the story of {w}" for i, w in
               enumerate(["a cat", "the moon", "rivers", "old bridges", "tea", "winter", "a clock", "ships"])]

    def one(p):
        return client.completions.create(model=name, prompt=p, temperature=0, max_tokens=24).choices[0].text

    alone = [one(p) for p in prompts]
    with concurrent.futures.ThreadPoolExecutor(8) as ex:
        together = list(ex.map(one, prompts))
    same = sum(x == y for x, y in zip(alone, together))
    check(same == 8, f"8 greedy requests at once to --parallel 4: {same}/8 identical to each alone")
    chats = [[{"role": "user", "content": p}] for p in prompts]

    def one_chat(m):
        return client.chat.completions.create(model=name, messages=m, temperature=0, max_tokens=24).choices[0].message.content

    alone_c = [one_chat(m) for m in chats]
    with concurrent.futures.ThreadPoolExecutor(8) as ex:
        together_c = list(ex.map(one_chat, chats))
    same_c = sum(x == y for x, y in zip(alone_c, together_c))
    check(same_c == 8, f"8 greedy chats at once: {same_c}/8 identical to each alone")

    status, text = srv.get("/metrics")
    n_ok = sum(int(m.group(1)) for m in re.finditer(r'cllama_requests_total\{route="/v1/[a-z/]+",status="200"\} (\d+)', text))
    gen = re.search(r"^cllama_generated_tokens_total (\d+)$", text, re.M)
    cells = re.search(r"^cllama_kv_cache_cells (\d+)$", text, re.M)
    check(status == 200 and n_ok >= 30 and gen and int(gen.group(1)) > 0 and cells and int(cells.group(1)) == 2048 and
          "# TYPE cllama_queue_depth gauge" in text, f"/metrics: {n_ok} API requests answered 200, tokens, queue, KV cells")
finally:
    code = srv.stop()
check(code == 0, f"the server stops cleanly on SIGTERM (exit {code})")
sys.exit(1 if fails else 0)
