#!/usr/bin/env python3
"""Crash durability: mixed writes over HTTP against a release `keel serve`, killed with SIGKILL at
random moments and restarted, N times. Then: every write that got a 2xx is present, invoice
numbers are gapless with every PDF present and matching its hash, no orphan files, the audit
chain verifies, SQLite's integrity_check is ok, the outbox sent each email once, no job was lost
or run twice.

    cargo build --release
    python3 bench/reliability/crash.py --backend sqlite --cycles 200
    python3 bench/reliability/crash.py --backend postgres --cycles 200

The writers (one thread each, as different users):
  events    POST /api/v1/events, batches of 20 with fresh idempotency keys (ingest key)
  invoices  platform admin: new draft, one line, issue (number, PDF, email to the contacts)
  profile   procurement officer: POST /billing with a new address line 2 each time
  support   staff member: POST /support/new (multipart) with a unique subject
  incident  platform admin: an update with a unique body on an open incident
A write counts as acknowledged when Keel answered 2xx/303 for it. Results go to
bench/results/<stamp>-crash-<backend>/ (summary.json, the server log).
"""

import argparse
import json
import os
import random
import re
import shutil
import sqlite3
import tempfile
import threading
import time
import uuid

import keelh
from keelh import log


class Db:
    """Reads the database directly for setup and verification."""

    def __init__(self, backend, path_or_url):
        self.backend, self.target = backend, path_or_url

    def rows(self, sql):
        if self.backend == "sqlite":
            con = sqlite3.connect(self.target, timeout=30)
            try:
                return [tuple(r) for r in con.execute(sql).fetchall()]
            finally:
                con.close()
        out = keelh.psql(sql.replace("\n", " "), self.target)
        return [tuple(line.split("|")) for line in out.splitlines() if line]

    def one(self, sql):
        r = self.rows(sql)
        return r[0][0] if r else None


class Acks:
    def __init__(self):
        self.lock = threading.Lock()
        self.acked = {k: [] for k in ("events", "invoices", "profile", "support", "incident")}
        self.attempted = {k: [] for k in self.acked}
        self.errors = {k: 0 for k in self.acked}
        self.statuses = {}

    def attempt(self, kind, value):
        with self.lock:
            self.attempted[kind].append(value)

    def ack(self, kind, value):
        with self.lock:
            self.acked[kind].append(value)

    def status(self, kind, code):
        with self.lock:
            key = f"{kind}:{code}"
            self.statuses[key] = self.statuses.get(key, 0) + 1


def writer(kind, up, stop, acks, fn):
    while not stop.is_set():
        if not up.wait(0.2):
            continue
        try:
            fn()
        except (OSError, ConnectionError, RuntimeError) as e:
            # The server was killed mid-request: what was acknowledged before counts.
            acks.status(kind, type(e).__name__)
            time.sleep(0.02)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--backend", choices=["sqlite", "postgres"], default="sqlite")
    ap.add_argument("--cycles", type=int, default=200)
    ap.add_argument("--min-up", type=float, default=0.3, help="seconds of load before a kill, at least")
    ap.add_argument("--max-up", type=float, default=2.5)
    ap.add_argument("--seed", type=int, default=int(time.time()))
    ap.add_argument("--out", default=None)
    a = ap.parse_args()
    rng = random.Random(a.seed)
    stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
    out = a.out or os.path.join(keelh.ROOT, "bench", "results", f"{stamp}-crash-{a.backend}")
    os.makedirs(out, exist_ok=True)
    data = tempfile.mkdtemp(prefix="keel-crash-")
    pg_name = None
    if a.backend == "sqlite":
        url = f"sqlite://{data}/keel.db"
        db = Db("sqlite", f"{data}/keel.db")
    else:
        pg_name, url = keelh.pg_create()
        db = Db("postgres", url)
    mail = os.path.join(data, "mail")
    server = keelh.Server(data, url, extra_env={"KEEL_SMTP_URL": f"file://{mail}"},
                          log_path=os.path.join(out, "keel.log"))
    try:
        log(f"first start (demo seed) on {a.backend}, data in {data}")
        server.start(timeout=600)
        logins = keelh.demo_logins(data)
        key = keelh.demo_key(data)
        admin = keelh.Session(server.base).sign_in(*logins["platform admin"])
        buyer = keelh.Session(server.base).sign_in(*logins["procurement officer"])
        staff = keelh.Session(server.base).sign_in(*logins["staff"])
        buyer_email, staff_email = logins["procurement officer"][0], logins["staff"][0]
        buyer_tenant = db.one(f"SELECT m.tenant_id FROM memberships m JOIN users u ON u.id = m.user_id "
                              f"WHERE u.email = '{buyer_email}'")
        staff_tenant = db.one(f"SELECT m.tenant_id FROM memberships m JOIN users u ON u.id = m.user_id "
                              f"WHERE u.email = '{staff_email}'")
        invoice_tenants = [r[0] for r in db.rows(
            "SELECT tenant_id FROM billing_profiles WHERE address_line1 <> '' ORDER BY tenant_id")]
        slug = db.one(f"SELECT slug FROM tenants WHERE id = {staff_tenant}")
        st, h, _ = admin.post("/admin/status/incidents", [
            ("kind", "incident"), ("name", "Crash harness incident"), ("impact", "minor"),
            ("status", "investigating"), ("body", "Opened by the crash harness.")])
        m = re.search(r"/admin/status/incidents/(\d+)", h.get("location", ""))
        if st != 303 or not m:
            raise RuntimeError(f"could not open an incident: {st}")
        incident = m.group(1)
        log(f"writers: invoices for tenants {invoice_tenants}, profile of {buyer_tenant}, "
            f"support from {staff_tenant} ({slug}), incident {incident}")

        acks = Acks()
        up, stop = threading.Event(), threading.Event()
        counter = {"profile": 0}

        def events():
            batch = []
            for _ in range(20):
                k = "crash-" + uuid.uuid4().hex
                batch.append({"idempotency_key": k, "tenant": slug, "metric": "assessments",
                              "timestamp": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
                              "properties": {"user_id": "u1", "role": "teacher"}})
                acks.attempt("events", k)
            st, _, body = keelh.request(server.base, "POST", "/api/v1/events", json.dumps(batch).encode(), {
                "Authorization": f"Bearer {key}", "Content-Type": "application/json"})
            acks.status("events", st)
            if st == 200:
                for r, ev in zip(json.loads(body)["results"], batch):
                    if r["status"] in ("accepted", "duplicate"):
                        acks.ack("events", ev["idempotency_key"])

        def invoices():
            t = rng.choice(invoice_tenants)
            st, h, _ = admin.post("/admin/invoices", [("tenant_id", t)])
            acks.status("invoices", st)
            if st != 303:
                return
            path = h["location"]
            st, _, _ = admin.post(f"{path}/lines", [("description", "Crash harness licences"), ("kind", "license"),
                                                    ("quantity", "3"), ("unit_price", "38.80")])
            if st != 303:
                return
            inv = path.rsplit("/", 1)[1]
            acks.attempt("invoices", inv)
            st, _, _ = admin.post(f"{path}/issue", [])
            acks.status("invoices", st)
            if st == 303:
                acks.ack("invoices", inv)

        def profile():
            counter["profile"] += 1
            value = f"Suite {counter['profile']}-{uuid.uuid4().hex[:6]}"
            acks.attempt("profile", value)
            st, _, _ = buyer.post("/billing", [
                ("tenant_id", buyer_tenant), ("mode", "invoice_po"), ("po_number", "PO-2026-0412"),
                ("po_amount", "12,400.00"), ("currency", "USD"), ("terms_days", "30"),
                ("address_line1", "5905 O Street"), ("address_line2", value), ("city", "Lincoln"),
                ("region", "NE"), ("postal_code", "68510"), ("country", "us"), ("schedule", "annual")])
            acks.status("profile", st)
            if st == 303:
                acks.ack("profile", value)

        def support():
            subject = "Crash harness request " + uuid.uuid4().hex[:12]
            acks.attempt("support", subject)
            st, _, _ = staff.post_multipart("/support/new", [
                ("tenant_id", staff_tenant), ("severity", "P3"), ("category", "other"), ("subject", subject),
                ("description", "Filed by the crash harness to prove acknowledged writes survive a crash.")])
            acks.status("support", st)
            if st == 303:
                acks.ack("support", subject)

        def incident_update():
            body = "Crash harness update " + uuid.uuid4().hex[:12]
            acks.attempt("incident", body)
            st, _, _ = admin.post(f"/admin/status/incidents/{incident}/updates",
                                  [("status", "investigating"), ("body", body)])
            acks.status("incident", st)
            if st == 303:
                acks.ack("incident", body)

        threads = [threading.Thread(target=writer, args=(k, up, stop, acks, f), daemon=True)
                   for k, f in [("events", events), ("invoices", invoices), ("profile", profile),
                                ("support", support), ("incident", incident_update)]]
        for t in threads:
            t.start()
        up.set()
        time.sleep(1.0)
        started = time.time()
        restarts = []
        for cycle in range(1, a.cycles + 1):
            time.sleep(rng.uniform(a.min_up, a.max_up))
            up.clear()
            server.kill()
            t0 = time.time()
            server.start()
            restarts.append(time.time() - t0)
            up.set()
            if cycle % 20 == 0:
                log(f"{cycle}/{a.cycles} kills; acknowledged so far: "
                    + ", ".join(f"{k} {len(v)}" for k, v in acks.acked.items()))
        time.sleep(1.0)
        stop.set()
        up.set()
        for t in threads:
            t.join(timeout=30)
        elapsed = time.time() - started
        log("load stopped; letting the outbox and jobs drain")
        t_drain = time.time()
        deadline = t_drain + 900
        while time.time() < deadline:
            pending = db.one("SELECT COUNT(*) FROM outbound_emails WHERE status = 'queued'")
            if int(pending) == 0:
                break
            time.sleep(1)
        drain_seconds = round(time.time() - t_drain, 1)
        server.stop()

        # ------------------------------------------------------------ verification
        result = {"backend": a.backend, "cycles": a.cycles, "seed": a.seed, "seconds": round(elapsed, 1),
                  "restart_seconds_p50": round(keelh.percentile(restarts, 50), 3),
                  "restart_seconds_max": round(max(restarts), 3), "statuses": acks.statuses,
                  "outbox_drain_seconds": drain_seconds}
        lost = {}

        def present(sql_values, values):
            have = set()
            vals = list(values)
            for i in range(0, len(vals), 500):
                chunk = ",".join("'" + v.replace("'", "''") + "'" for v in vals[i:i + 500])
                have |= {str(r[0]) for r in db.rows(sql_values.format(chunk))}
            return have

        ev = set(acks.acked["events"])
        have = present("SELECT idempotency_key FROM usage_events WHERE idempotency_key IN ({})", ev)
        lost["events"] = len(ev - have)
        inv = set(acks.acked["invoices"])
        have = present("SELECT CAST(id AS TEXT) FROM invoices WHERE status <> 'draft' AND number IS NOT NULL "
                       "AND CAST(id AS TEXT) IN ({})", inv)
        lost["invoices"] = len(inv - have)
        sup = set(acks.acked["support"])
        lost["support"] = len(sup - present("SELECT subject FROM support_requests WHERE subject IN ({})", sup))
        upd = set(acks.acked["incident"])
        lost["incident"] = len(upd - present("SELECT body FROM incident_updates WHERE body IN ({})", upd))
        # The profile keeps the last write: the last acknowledged one, or a later one whose
        # answer the kill swallowed.
        final = db.one(f"SELECT address_line2 FROM billing_profiles WHERE tenant_id = {buyer_tenant}")
        attempted = acks.attempted["profile"]
        last_ack = acks.acked["profile"][-1] if acks.acked["profile"] else None
        ok_values = set(attempted[attempted.index(last_ack):]) if last_ack in attempted else set(attempted)
        lost["profile"] = 0 if final in ok_values else 1
        result["acknowledged"] = {k: len(v) for k, v in acks.acked.items()}
        result["attempted"] = {k: len(v) for k, v in acks.attempted.items()}
        result["lost"] = lost

        # Emails: every delivered row has exactly one file; no file without a row.
        sent = {int(r[0]) for r in db.rows("SELECT id FROM outbound_emails WHERE status IN ('sent', 'logged')")}
        files = [f for f in os.listdir(mail) if f.endswith(".eml")] if os.path.isdir(mail) else []
        file_ids = [int(f.split(".")[0]) for f in files]
        result["emails"] = {
            "rows": int(db.one("SELECT COUNT(*) FROM outbound_emails")),
            "sent_rows": len(sent),
            "queued_rows": int(db.one("SELECT COUNT(*) FROM outbound_emails WHERE status = 'queued'")),
            "files": len(files),
            "sent_without_file": len(sent - set(file_ids)),
            "files_without_sent_row": len(set(file_ids) - sent),
            "duplicate_files": len(file_ids) - len(set(file_ids)),
        }
        result["jobs"] = {r[0]: int(r[1]) for r in db.rows("SELECT status, COUNT(*) FROM jobs GROUP BY status")}
        result["jobs"]["overdue_queued_or_running"] = int(db.one(
            "SELECT COUNT(*) FROM jobs WHERE status IN ('queued', 'running') AND kind = 'email.send'"))
        code, text = keelh.run_keel(server, "check", "--json", "--grace-minutes", "0")
        report = json.loads(text[text.index("{"):])
        result["check_exit"] = code
        result["check"] = {c["name"]: {"summary": c["summary"], "problems": c["problem_count"],
                                       "examples": c["problems"][:3]} for c in report["checks"]}
        orphans = result["check"].get("orphan files", {}).get("problems", 0)
        if orphans:
            code2, _ = keelh.run_keel(server, "check", "--sweep", "--grace-minutes", "0")
            code3, text3 = keelh.run_keel(server, "check", "--json", "--grace-minutes", "0")
            result["orphans_swept"] = orphans
            result["check_after_sweep_exit"] = code3
        code, text = keelh.run_keel(server, "audit", "verify")
        result["audit_verify"] = text.strip().splitlines()[-1] if text.strip() else str(code)
        keelh.dump(os.path.join(out, "summary.json"), result)
        print(json.dumps(result, indent=2, sort_keys=True))
        bad = sum(lost.values()) + result["emails"]["sent_without_file"] + result["emails"]["duplicate_files"]
        bad += sum(v["problems"] for k, v in result["check"].items() if k != "orphan files")
        log(f"done: {'PASS' if bad == 0 else 'FAIL'}; results in {out}")
        return 0 if bad == 0 else 1
    finally:
        server.kill()
        if pg_name:
            keelh.pg_drop(pg_name)
        if os.environ.get("KEEP_DATA") != "1":
            shutil.rmtree(data, ignore_errors=True)


if __name__ == "__main__":
    raise SystemExit(main())
