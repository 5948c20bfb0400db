#!/usr/bin/env python3
"""Database outage: Keel on PostgreSQL reaches the database through bench/tcp_proxy.py; under a
steady load the proxy is stopped for 30 s (the machine's PostgreSQL is left alone), then started
again on the same port.

    cargo build --release
    python3 bench/reliability/outage.py [--down 30] [--pool 8]

Measured, per second of the run and per kind of request:
Six threads, two per kind, each request on a fresh connection:
  public    GET /status and GET /api/v2/summary.json (must stay 200, with the stale marker)
  signed-in GET /account and GET /usage as a district admin (503 with Retry-After while down)
  events    POST /api/v1/events (503 while down: the vendor's product retries)
and: 500s and panics (must be 0), the seconds after the database came back until the error rate
of every later second stayed under 1%, and the most connections Keel held (pg_stat_activity,
sampled every 200 ms) against its pool size.
"""

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import uuid

import keelh
from keelh import log


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--down", type=float, default=30.0)
    ap.add_argument("--before", type=float, default=10.0)
    ap.add_argument("--after", type=float, default=20.0)
    ap.add_argument("--pool", type=int, default=8)
    ap.add_argument("--threads", type=int, default=6)
    a = ap.parse_args()
    stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
    out = os.path.join(keelh.ROOT, "bench", "results", f"{stamp}-outage")
    os.makedirs(out, exist_ok=True)
    data = tempfile.mkdtemp(prefix="keel-outage-")
    name, direct_url = keelh.pg_create()
    pport = keelh.free_port()
    proxy_cmd = [sys.executable, os.path.join(keelh.ROOT, "bench", "tcp_proxy.py"), str(pport), "5432"]
    proxy = subprocess.Popen(proxy_cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    time.sleep(0.5)
    url = direct_url.replace(":5432/", f":{pport}/")
    server = keelh.Server(data, url, extra_env={"KEEL_DB_POOL_SIZE": str(a.pool)},
                          log_path=os.path.join(out, "keel.log"))
    samples = []  # (t, kind, status, ms, stale)
    lock = threading.Lock()
    stop = threading.Event()
    max_conns = [0]
    try:
        server.start(timeout=600)
        logins = keelh.demo_logins(data)
        key = keelh.demo_key(data)
        admins = [keelh.Session(server.base).sign_in(*logins["district admin"]) for _ in range(a.threads)]
        slug = keelh.psql("SELECT slug FROM tenants WHERE kind = 'school' ORDER BY id LIMIT 1", direct_url)

        def load(i):
            s = admins[i]
            n = 0
            while not stop.is_set():
                n += 1
                kind, t0 = None, time.time()
                try:
                    role = ("public", "signed-in", "events")[i % 3]
                    if role == "public":
                        kind = "public"
                        path = "/status" if n % 8 == 0 else "/api/v2/summary.json"
                        st, h, body = keelh.request(server.base, "GET", path, timeout=10)
                        stale = b"We can't refresh this page" in body or b'"stale":true' in body
                    elif role == "events":
                        kind = "events"
                        batch = [{"idempotency_key": "out-" + uuid.uuid4().hex, "tenant": slug,
                                  "metric": "assessments",
                                  "timestamp": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}]
                        st, h, body = keelh.request(server.base, "POST", "/api/v1/events", json.dumps(batch).encode(),
                                                    {"Authorization": f"Bearer {key}",
                                                     "Content-Type": "application/json"}, timeout=10)
                        stale = False
                    else:
                        kind = "signed-in"
                        st, h, body = s.get("/account" if n % 2 else "/usage", timeout=10)
                        stale = False
                    retry = "retry-after" in h
                except OSError as e:
                    st, stale, retry = type(e).__name__, False, False
                with lock:
                    samples.append((t0, kind, st, (time.time() - t0) * 1000, stale, retry))

        def watch():
            while not stop.is_set():
                try:
                    n = int(keelh.psql(f"SELECT COUNT(*) FROM pg_stat_activity WHERE datname = '{name}'"))
                    max_conns[0] = max(max_conns[0], n)
                except (RuntimeError, ValueError):
                    pass
                time.sleep(0.2)

        threads = [threading.Thread(target=load, args=(i,), daemon=True) for i in range(a.threads)]
        threads.append(threading.Thread(target=watch, daemon=True))
        start = time.time()
        for t in threads:
            t.start()
        time.sleep(a.before)
        log(f"stopping the proxy for {a.down}s")
        t_down = time.time()
        proxy.terminate()
        proxy.wait()
        time.sleep(a.down)
        proxy = subprocess.Popen(proxy_cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        t_up = time.time()
        log("proxy back")
        time.sleep(a.after)
        stop.set()
        for t in threads:
            t.join(timeout=15)
        server.stop()

        def phase(t):
            return "before" if t < t_down else ("down" if t < t_up else "after")

        summary = {"down_seconds": a.down, "pool_size": a.pool, "threads": a.threads,
                   "max_connections_seen": max_conns[0], "phases": {}}
        for ph in ("before", "down", "after"):
            for kind in ("public", "signed-in", "events"):
                rows = [s for s in samples if phase(s[0]) == ph and s[1] == kind]
                by = {}
                for r in rows:
                    by[str(r[2])] = by.get(str(r[2]), 0) + 1
                summary["phases"].setdefault(ph, {})[kind] = {
                    "requests": len(rows), "statuses": by,
                    "stale_marked": sum(1 for r in rows if r[4]),
                    "503_with_retry_after": sum(1 for r in rows if r[2] == 503 and r[5]),
                    "p50_ms": round(keelh.percentile([r[3] for r in rows], 50), 1),
                    "p99_ms": round(keelh.percentile([r[3] for r in rows], 99), 1),
                }
        summary["http_500"] = sum(1 for s in samples if s[2] == 500)
        with open(server.log_path, errors="replace") as f:
            summary["panics_in_log"] = sum(1 for line in f if "panicked" in line)
        # Recovery: the first second after t_up from which every later full second of
        # signed-in and event requests had under 1% errors.
        after = [s for s in samples if s[0] >= t_up and s[1] != "public"]
        secs = {}
        for s in after:
            k = int(s[0] - t_up)
            ok = s[2] in (200, 303)
            tot, bad = secs.get(k, (0, 0))
            secs[k] = (tot + 1, bad + (0 if ok else 1))
        last = max(secs) if secs else 0
        recovered = None
        for k in range(0, last):
            if all(secs.get(j, (0, 0))[1] <= 0.01 * max(1, secs.get(j, (1, 0))[0]) for j in range(k, last)):
                recovered = k
                break
        summary["recovered_within_seconds"] = recovered
        summary["per_second_after"] = {k: secs[k] for k in sorted(secs)[:10]}
        keelh.dump(os.path.join(out, "summary.json"), summary)
        print(json.dumps(summary, indent=2, sort_keys=True))
        log(f"results in {out}")
    finally:
        stop.set()
        server.kill()
        proxy.kill()
        keelh.pg_drop(name)
        shutil.rmtree(data, ignore_errors=True)


if __name__ == "__main__":
    main()
