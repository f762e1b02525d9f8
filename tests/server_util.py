"""Starting and stopping `cllama serve` for the server tests: on loopback, on a port the
server picks itself (--port 0, read back from its first line), waiting for /health."""
import json, os, re, signal, subprocess, time, urllib.error, urllib.request


class Server:
    def __init__(self, cllama, model, *args, log=None):
        self.log = open(log or os.devnull, "w")
        self.p = subprocess.Popen([cllama, "serve", "-m", model, "--port", "0", *args], stdout=self.log,
                                  stderr=subprocess.PIPE, text=True)
        line = self.p.stderr.readline()
        m = re.search(r"listening on http://([^/]+)/", line)
        if not m:
            self.p.kill()
            raise RuntimeError(f"cllama serve did not start: {line!r} {self.p.stderr.read()[:500]}")
        self.base = "http://" + m.group(1)
        self.lines = [line]
        self.key = args[args.index("--api-key") + 1] if "--api-key" in args else None
        # keep reading its log so the pipe never fills
        import threading
        threading.Thread(target=self._drain, daemon=True).start()
        end = time.time() + 120
        while time.time() < end:
            status, _ = self.get("/health")
            if status == 200:
                return
            if self.p.poll() is not None:
                raise RuntimeError("cllama serve exited: " + "".join(self.lines))
            time.sleep(0.1)
        raise RuntimeError("cllama serve never became ready")

    def _drain(self):
        for line in self.p.stderr:
            self.lines.append(line)

    def request(self, method, path, body=None, headers=None, timeout=300):
        data = body if isinstance(body, (bytes, type(None))) else json.dumps(body).encode()
        h = {"Content-Type": "application/json"}
        if self.key:
            h["Authorization"] = "Bearer " + self.key
        h.update(headers or {})
        req = urllib.request.Request(self.base + path, data=data, method=method, headers=h)
        try:
            with urllib.request.urlopen(req, timeout=timeout) as r:
                return r.status, r.read().decode()
        except urllib.error.HTTPError as e:
            return e.code, e.read().decode()

    def get(self, path):
        try:
            return self.request("GET", path, timeout=10)
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            return None, ""

    def post(self, path, body, **kw):
        return self.request("POST", path, body, **kw)

    def stop(self):
        """SIGTERM; returns the exit code (a sanitized build's leak report makes it non-zero)."""
        if self.p.poll() is None:
            self.p.send_signal(signal.SIGTERM)
        try:
            code = self.p.wait(timeout=60)
        except subprocess.TimeoutExpired:
            self.p.kill()
            code = "hung"
        self.log.close()
        return code
