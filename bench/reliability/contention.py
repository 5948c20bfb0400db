#!/usr/bin/env python3
"""Contention on SQLite: 16 concurrent writers for 60 s against a release `keel serve`.

    cargo build --release
    python3 bench/reliability/contention.py [--writers 16] [--seconds 60]

Writers (each its own session or key, each request on a fresh connection):
  1/3 procurement officers saving the billing profile (POST /billing)
  1/3 staff members filing support requests (POST /support/new, multipart)
  1/3 the vendor's product posting event batches of 50 (POST /api/v1/events)
Reports per kind: writes, statuses, p50/p99 latency; and the number of answers or log lines that
mention `database is locked` (must be 0), and 5xx answers (must be 0).
"""

import argparse
import json
import os
import shutil
import tempfile
import threading
import time
import uuid

import keelh
from keelh import log


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--writers", type=int, default=16)
    ap.add_argument("--seconds", type=float, default=60.0)
    a = ap.parse_args()
    stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
    out = os.path.join(keelh.ROOT, "bench", "results", f"{stamp}-contention-sqlite")
    os.makedirs(out, exist_ok=True)
    data = tempfile.mkdtemp(prefix="keel-contention-")
    server = keelh.Server(data, f"sqlite://{data}/keel.db", log_path=os.path.join(out, "keel.log"))
    samples = []
    lock = threading.Lock()
    try:
        server.start(timeout=600)
        logins = keelh.demo_logins(data)
        key = keelh.demo_key(data)
        import sqlite3
        con = sqlite3.connect(f"{data}/keel.db")
        buyer_email, staff_email = logins["procurement officer"][0], logins["staff"][0]

        def tenant_of(email):
            return con.execute("SELECT m.tenant_id FROM memberships m JOIN users u ON u.id = m.user_id "
                               "WHERE u.email = ?", (email,)).fetchone()[0]

        buyer_t, staff_t = tenant_of(buyer_email), tenant_of(staff_email)
        slug = con.execute("SELECT slug FROM tenants WHERE id = ?", (staff_t,)).fetchone()[0]
        con.close()
        kinds = ["profile", "support", "events"]
        sessions = []
        for i in range(a.writers):
            kind = kinds[i % 3]
            s = None
            if kind == "profile":
                s = keelh.Session(server.base).sign_in(*logins["procurement officer"])
            elif kind == "support":
                s = keelh.Session(server.base).sign_in(*logins["staff"])
            sessions.append((kind, s))
        deadline = [0.0]

        def write(i):
            kind, s = sessions[i]
            n = 0
            while time.time() < deadline[0]:
                n += 1
                t0 = time.time()
                try:
                    if kind == "profile":
                        st, _, body = s.post("/billing", [
                            ("tenant_id", buyer_t), ("mode", "invoice_po"), ("po_number", "PO-2026-0412"),
                            ("po_amount", "12,400.00"), ("currency", "USD"), ("terms_days", "30"),
                            ("address_line1", "5905 O Street"), ("address_line2", f"Suite {i}-{n}"),
                            ("city", "Lincoln"), ("region", "NE"), ("postal_code", "68510"), ("country", "us"),
                            ("schedule", "annual")])
                    elif kind == "support":
                        st, _, body = s.post_multipart("/support/new", [
                            ("tenant_id", staff_t), ("severity", "P4"), ("category", "other"),
                            ("subject", f"Contention request {i}-{n}"),
                            ("description", "Filed by the contention benchmark with fifteen other writers.")])
                    else:
                        batch = [{"idempotency_key": "cont-" + uuid.uuid4().hex, "tenant": slug,
                                  "metric": "assessments",
                                  "timestamp": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
                                  "properties": {"user_id": f"u{j}", "role": "teacher"}} for j in range(50)]
                        st, _, raw = keelh.request(server.base, "POST", "/api/v1/events", json.dumps(batch).encode(),
                                                   {"Authorization": f"Bearer {key}",
                                                    "Content-Type": "application/json"}, timeout=30)
                        body = raw.decode("utf-8", "replace")
                    locked = "database is locked" in body
                except OSError as e:
                    st, locked = type(e).__name__, False
                with lock:
                    samples.append((kind, st, (time.time() - t0) * 1000, locked))

        threads = [threading.Thread(target=write, args=(i,), daemon=True) for i in range(a.writers)]
        deadline[0] = time.time() + a.seconds
        log(f"{a.writers} writers for {a.seconds}s")
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        server.stop()
        result = {"writers": a.writers, "seconds": a.seconds, "kinds": {}}
        for kind in kinds + ["all"]:
            rows = [s for s in samples if kind in ("all", s[0])]
            by = {}
            for r in rows:
                by[str(r[1])] = by.get(str(r[1]), 0) + 1
            lat = [r[2] for r in rows]
            result["kinds"][kind] = {"writes": len(rows), "statuses": by,
                                     "p50_ms": round(keelh.percentile(lat, 50), 1),
                                     "p99_ms": round(keelh.percentile(lat, 99), 1),
                                     "max_ms": round(max(lat), 1) if lat else None,
                                     "per_second": round(len(rows) / a.seconds, 1)}
        result["locked_in_answers"] = sum(1 for s in samples if s[3])
        result["http_5xx"] = sum(1 for s in samples if isinstance(s[1], int) and s[1] >= 500)
        with open(server.log_path, errors="replace") as f:
            text = f.read()
        result["locked_in_log"] = text.count("database is locked")
        result["panics_in_log"] = text.count("panicked")
        keelh.dump(os.path.join(out, "summary.json"), result)
        print(json.dumps(result, indent=2, sort_keys=True))
        log(f"results in {out}")
    finally:
        server.kill()
        shutil.rmtree(data, ignore_errors=True)


if __name__ == "__main__":
    main()
