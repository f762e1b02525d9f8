#!/usr/bin/env python3
"""`cllama chat` driven through a pseudo-terminal, as a person at a terminal would.

usage: test_chat_cli.py CLLAMA MODEL.gguf

On a tiny model (random weights, so the replies are noise; what is checked is the
conversation machinery):
 1. two turns: the second turn evaluates only what the cache does not hold (its
    --verbose line: evaluated = total - reused, and everything of the first turn's
    prompt is reused);
 2. Ctrl-C in the middle of a long reply stops it and returns to the prompt; the
    next message is answered; /bye exits 0;
 3. Ctrl-C at an empty prompt exits 0, and so does Ctrl-D;
 4. /clear forgets the conversation (the next message has turn 1's token count);
    a conversation outgrowing a small context drops its oldest turns with a notice;
 5. with -p, and with a message on a pipe, only the answer is printed (no prompt, no
    banner) and the exit code is 0.
"""
import os, pty, re, select, subprocess, sys, time

cllama, model = sys.argv[1], sys.argv[2]
if not os.path.exists(model):
    print(f"skipped: {model} is not there")
    sys.exit(77)
fails = 0


def check(cond, what):
    global fails
    print(("ok   " if cond else "FAIL ") + what)
    if not cond:
        fails += 1


class Term:
    """A child on a pty; reads consume the output, so each wait sees only new text."""

    def __init__(self, args):
        self.pid, self.fd = pty.fork()
        if self.pid == 0:
            os.execv(args[0], args)
        self.seen, self.all = b"", b""

    def wait(self, pat, timeout=60):
        end = time.time() + timeout
        while pat.encode() not in self.seen:
            left = end - time.time()
            r, _, _ = select.select([self.fd], [], [], max(0.0, left))
            if not r:
                return None
            try:
                d = os.read(self.fd, 4096)
            except OSError:
                return None
            if not d:
                return None
            self.seen += d
            self.all += d
        i = self.seen.index(pat.encode()) + len(pat)
        got, self.seen = self.seen[:i].decode(errors="replace"), self.seen[i:]
        return got

    def send(self, s):
        os.write(self.fd, s.encode())

    def exit_code(self, timeout=30):
        end = time.time() + timeout
        while time.time() < end:
            try:
                r, _, _ = select.select([self.fd], [], [], 0.2)
                if r:
                    d = os.read(self.fd, 4096)
                    self.all += d
            except OSError:
                pass
            pid, st = os.waitpid(self.pid, os.WNOHANG)
            if pid:
                return os.waitstatus_to_exitcode(st)
        os.kill(self.pid, 9)
        os.waitpid(self.pid, 0)
        return "hung"


def verbose_counts(text):
    m = re.search(r"\[prompt: (\d+) tokens, (\d+) evaluated, (\d+) reused", text or "")
    return tuple(map(int, m.groups())) if m else None


base = [cllama, "chat", "-m", model, "--chat-template", "chatml", "--temp", "0", "-t", "1", "--verbose"]

# 1. two turns
def turn_out(t, msg):
    """Sends a message; the output up to the next prompt (the reply itself may contain "> ")."""
    t.send(msg + "\r")
    out = t.wait("[reply:")
    rest = t.wait("> ")
    return None if out is None or rest is None else out + rest


t = Term(base + ["-n", "12"])
t.wait("> ")
first = turn_out(t, "Hello there")
second = turn_out(t, "How are you today?")
c1, c2 = verbose_counts(first), verbose_counts(second)
check(c1 is not None and c1[1] == c1[0] and c1[2] == 0, f"turn 1 evaluates its whole prompt: {c1}")
check(c2 is not None and c2[1] == c2[0] - c2[2] and c1 and c2[2] >= c1[0] and c2[1] < c2[0],
      f"turn 2 evaluates only what the cache lacks: {c2} (turn 1's {c1[0] if c1 else '?'} prompt tokens reused)")
t.send("/clear\r")
t.wait("[conversation cleared]")
t.wait("> ")
third = turn_out(t, "Hello there")
c3 = verbose_counts(third)
check(c3 is not None and c1 and c3[0] == c1[0] and c3[2] < c3[0],
      f"after /clear the first message again has turn 1's {c1[0] if c1 else '?'} tokens: {c3}")
t.send("/bye\r")
check(t.exit_code() == 0, "/bye exits 0")

# 2. Ctrl-C in the middle of a long reply
t = Term(base + ["-n", "100000", "--ctx", "4096"])
t.wait("> ")
t.send("Tell me a long story\r")
t.wait("[prompt:")
time.sleep(1.0)
t.send("\x03")
stopped = t.wait("[interrupted]", timeout=20)
check(stopped is not None and t.wait("> ", timeout=20) is not None, "Ctrl-C during a reply stops it and returns to the prompt")
t.send("Short one?\r")
after = t.wait("[prompt:", timeout=20)
time.sleep(0.5)
t.send("\x03")
again = t.wait("[interrupted]", timeout=20)
check(after is not None and again is not None and t.wait("> ", timeout=20) is not None,
      "the next message is answered after the interruption (and Ctrl-C stops that reply too)")
t.send("/bye\r")
check(t.exit_code() == 0, "/bye exits 0 after an interrupted reply")

# 3. Ctrl-C and Ctrl-D at an empty prompt
for key, name in (("\x03", "Ctrl-C"), ("\x04", "Ctrl-D")):
    t = Term(base + ["-n", "4"])
    t.wait("> ")
    time.sleep(0.3)
    t.send(key)
    check(t.exit_code() == 0, f"{name} at an empty prompt exits 0")

# 4b. a conversation longer than the context: the oldest turns go, with a notice, the
# system prompt stays, and nothing overflows
t = Term(base + ["-n", "8", "--ctx", "96", "-sys", "Be brief."])
t.wait("> ")
notices, ok_turns = 0, 0
for i in range(8):
    out = turn_out(t, f"Message number {i} with some words in it")
    if out is None:
        break
    ok_turns += 1
    notices += "[context full: the" in out
t.send("/bye\r")
code = t.exit_code()
check(ok_turns == 8 and notices >= 1 and code == 0,
      f"8 turns in a 96-token context: all answered, {notices} notices that the oldest messages were dropped, exit {code}")

# 5. once, with -p and on a pipe: only the answer on stdout
r = subprocess.run(base[:-1] + ["-n", "6", "-p", "Hi"], capture_output=True, text=True, timeout=120)
check(r.returncode == 0 and "> " not in r.stdout and "template" not in r.stdout and r.stdout.count("\n") == 1,
      f"-p prints one answer line and exits 0 (exit {r.returncode}, {r.stdout!r})")
p = subprocess.run(base[:-1] + ["-n", "6"], input="Hi\n", capture_output=True, text=True, timeout=120)
check(p.returncode == 0 and p.stdout == r.stdout, "a message on a pipe gets the same answer as -p")
bad = subprocess.run([cllama, "chat", "-m", model, "--chat-template", "/nonexistent.jinja", "-p", "x"],
                     capture_output=True, text=True, timeout=60)
check(bad.returncode == 2 and bad.stderr.count("\n") == 1, f"a missing template file: one line, exit 2 ({bad.stderr.strip()})")
sys.exit(1 if fails else 0)
