"""Shared machinery of the reliability harness (bench/reliability/*.py): starting and killing
`keel serve`, signed-in HTTP sessions with CSRF and two-factor sign-in, the demo's sign-ins,
and fresh PostgreSQL databases. Standard library only.

Nothing here is Keel's code; it drives Keel from outside, as a browser or the vendor's product
would.
"""

import base64
import hashlib
import hmac
import http.client
import json
import os
import re
import signal
import socket
import struct
import subprocess
import sys
import time
import urllib.parse
import uuid

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
PG_ADMIN = os.environ.get("KEEL_TEST_PG_URL", "postgres://postgres@127.0.0.1:5432/postgres")


def log(msg):
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def binary():
    """The release binary (built by the caller: cargo build --release)."""
    target = os.environ.get("CARGO_TARGET_DIR", os.path.expanduser("~/.cache/keel-target"))
    path = os.environ.get("KEEL_BIN", os.path.join(target, "release", "keel"))
    if not os.path.exists(path):
        sys.exit(f"{path} not found: run `cargo build --release` first (or set KEEL_BIN)")
    return path


# ------------------------------------------------------------------ PostgreSQL

def psql(sql, url=PG_ADMIN):
    out = subprocess.run(["psql", "-X", "-q", "-A", "-t", "-d", url, "-c", sql], capture_output=True, text=True)
    if out.returncode != 0:
        raise RuntimeError(f"psql: {out.stderr.strip()}")
    return out.stdout.strip()


def pg_create():
    name = "keel_rel_" + uuid.uuid4().hex[:12]
    psql(f"CREATE DATABASE {name}")
    base = PG_ADMIN.rsplit("/", 1)[0]
    return name, f"{base}/{name}"


def pg_drop(name):
    try:
        psql(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
    except RuntimeError as e:
        log(f"could not drop {name}: {e}")


# ------------------------------------------------------------------ keel serve

class Server:
    """One `keel serve` process with its own log file."""

    def __init__(self, data_dir, database_url, port=None, extra_env=None, log_path=None, demo=True, args=()):
        self.data_dir = data_dir
        self.port = port or free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.log_path = log_path or os.path.join(data_dir, "keel.log")
        self.env = dict(os.environ)
        self.env.update({
            "KEEL_DATA_DIR": data_dir,
            "KEEL_DATABASE_URL": database_url,
            "KEEL_BIND": f"127.0.0.1:{self.port}",
            "KEEL_BASE_URL": self.base,
            "KEEL_SECRET_KEY": os.environ.get("KEEL_REL_SECRET", base64.b64encode(b"k" * 64).decode()),
            "KEEL_LOG": "info",
        })
        self.env.update(extra_env or {})
        self.demo = demo
        self.args = list(args)
        self.proc = None

    def start(self, timeout=180):
        cmd = [binary(), "serve"] + (["--demo"] if self.demo else []) + self.args
        self.logf = open(self.log_path, "ab")
        self.proc = subprocess.Popen(cmd, env=self.env, stdout=self.logf, stderr=self.logf)
        deadline = time.time() + timeout
        while time.time() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"keel exited with {self.proc.returncode}; see {self.log_path}")
            try:
                st, _, _ = request(self.base, "GET", "/healthz", timeout=1)
                if st == 200:
                    return self
            except OSError:
                pass
            time.sleep(0.05)
        raise RuntimeError(f"keel did not answer /healthz within {timeout}s")

    def kill(self, sig=signal.SIGKILL):
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        if getattr(self, "logf", None):
            self.logf.close()

    def stop(self):
        self.kill(signal.SIGTERM)


def run_keel(env_from, *args, check=False):
    """Runs a keel CLI command with a server's settings; returns (exit code, output)."""
    out = subprocess.run([binary()] + list(args), env=env_from.env, capture_output=True, text=True)
    if check and out.returncode != 0:
        raise RuntimeError(f"keel {' '.join(args)}: {out.returncode}\n{out.stdout}{out.stderr}")
    return out.returncode, out.stdout + out.stderr


# ------------------------------------------------------------------ HTTP

def request(base, method, path, body=None, headers=None, timeout=10):
    """One request on a fresh connection: (status, headers dict lower-case, body bytes)."""
    u = urllib.parse.urlsplit(base)
    conn = http.client.HTTPConnection(u.hostname, u.port, timeout=timeout)
    try:
        conn.request(method, path, body=body, headers=headers or {})
        r = conn.getresponse()
        data = r.read()
        return r.status, {k.lower(): v for k, v in r.getheaders()}, data
    finally:
        conn.close()


def totp(secret_b32, t=None):
    key = base64.b32decode(secret_b32.replace(" ", "").upper() + "=" * (-len(secret_b32.replace(" ", "")) % 8))
    counter = int((t or time.time()) // 30)
    mac = hmac.new(key, struct.pack(">Q", counter), hashlib.sha1).digest()
    o = mac[-1] & 0x0F
    return "%06d" % ((struct.unpack(">I", mac[o:o + 4])[0] & 0x7FFFFFFF) % 1_000_000)


class Session:
    """A browser-like client: cookies, the CSRF token, no redirect following."""

    def __init__(self, base, origin=None):
        self.base = base
        self.origin = origin or base  # what the browser sends as Origin (Keel's KEEL_BASE_URL)
        self.cookies = {}
        self.csrf = ""
        self.totp_secret = None

    def _headers(self, extra=None):
        h = {"Origin": self.origin}
        if self.cookies:
            h["Cookie"] = "; ".join(f"{k}={v}" for k, v in self.cookies.items())
        h.update(extra or {})
        return h

    def _keep(self, headers_list):
        for k, v in headers_list:
            if k.lower() != "set-cookie":
                continue
            pair = v.split(";", 1)[0]
            name, _, value = pair.partition("=")
            gone = "max-age=0" in v.lower() or value == ""
            if gone:
                self.cookies.pop(name, None)
            else:
                self.cookies[name] = value

    def send(self, method, path, body=None, headers=None, timeout=15):
        u = urllib.parse.urlsplit(self.base)
        conn = http.client.HTTPConnection(u.hostname, u.port, timeout=timeout)
        try:
            conn.request(method, path, body=body, headers=self._headers(headers))
            r = conn.getresponse()
            data = r.read()
            self._keep(r.getheaders())
            text = data.decode("utf-8", "replace")
            m = re.search(r'name="csrf_token" value="([^"]+)"', text)
            if m:
                self.csrf = m.group(1)
            return r.status, {k.lower(): v for k, v in r.getheaders()}, text
        finally:
            conn.close()

    def get(self, path, **kw):
        return self.send("GET", path, **kw)

    def post(self, path, fields, **kw):
        fields = list(fields) + [("csrf_token", self.csrf)]
        body = urllib.parse.urlencode(fields)
        return self.send("POST", path, body, {"Content-Type": "application/x-www-form-urlencoded"}, **kw)

    def post_multipart(self, path, fields, file=None, **kw):
        boundary = "----keelrel" + uuid.uuid4().hex
        parts = []
        for k, v in list(fields) + [("csrf_token", self.csrf)]:
            parts.append(f'--{boundary}\r\nContent-Disposition: form-data; name="{k}"\r\n\r\n{v}\r\n'.encode())
        if file:
            name, filename, data, ctype = file
            parts.append(
                f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"; filename="{filename}"\r\n'
                f"Content-Type: {ctype}\r\n\r\n".encode() + data + b"\r\n")
        parts.append(f"--{boundary}--\r\n".encode())
        return self.send("POST", path, b"".join(parts),
                         {"Content-Type": f"multipart/form-data; boundary={boundary}"}, **kw)

    def sign_in(self, email, password):
        """Signs in; for staff accounts sets up (first time) or answers two-factor authentication."""
        self.get("/login")
        st, h, body = self.post("/login", [("email", email), ("password", password)])
        if st != 303:
            raise RuntimeError(f"sign-in of {email} answered {st}")
        loc = h.get("location", "")
        if loc.endswith("/account/2fa/setup"):
            _, _, page = self.get("/account/2fa/setup")
            m = re.search(r'<pre class="code[^"]*">([A-Z2-7 ]+)</pre>', page)
            if not m:
                raise RuntimeError("no TOTP key on the setup page")
            self.totp_secret = m.group(1).replace(" ", "")
            st, h, _ = self.post("/account/2fa/setup", [("code", totp(self.totp_secret))])
            if st not in (200, 303):
                raise RuntimeError(f"2FA setup answered {st}")
        elif "/login/2fa" in loc:
            self.get("/login/2fa")
            st, h, _ = self.post("/login/2fa", [("code", totp(self.totp_secret))])
            if st != 303:
                raise RuntimeError(f"2FA answered {st}")
        self.get("/account")
        return self


def demo_logins(data_dir):
    """{role label lower-case: (email, password)} from the demo's credentials file."""
    out = {}
    with open(os.path.join(data_dir, "demo-credentials.txt")) as f:
        next(f)
        for line in f:
            role, _where, email, password = line.rstrip("\n").split("\t")
            out.setdefault(role.lower(), (email, password))
    return out


def demo_key(data_dir):
    with open(os.path.join(data_dir, "demo-ingest-key.txt")) as f:
        return f.read().strip()


def percentile(values, p):
    if not values:
        return float("nan")
    s = sorted(values)
    k = min(len(s) - 1, max(0, int(round(p / 100 * (len(s) - 1)))))
    return s[k]


def dump(path, obj):
    with open(path, "w") as f:
        json.dump(obj, f, indent=2, sort_keys=True)
