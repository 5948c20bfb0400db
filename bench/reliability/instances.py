#!/usr/bin/env python3
"""Several instances: three `keel serve` processes on one PostgreSQL database and one file store
(a shared directory), behind a round-robin TCP proxy (each new connection goes to the next
instance; the harness opens a fresh connection per request).

    cargo build --release
    python3 bench/reliability/instances.py [--invoices 50]

Checks, each reported:
  sessions   a session made through the proxy works on every instance directly; signing out
             on one ends it on all
  status     a component status change made on instance 1 appears on the public JSON of
             instances 2 and 3 within the refresh interval (15 s); the delay is measured
  invoices   N drafts issued at the same moment through the proxy: every issue answers 303,
             numbers are 1..N for the tenant and year, no duplicate
  jobs       each scheduled period ran once (one row per dedupe key, each run by one worker);
             which instances ran jobs
  emails     each email was written once, by one instance (each instance has its own mail
             directory; an email in two directories would have been sent twice)
  check      `keel check` afterwards
"""

import argparse
import asyncio
import json
import os
import re
import shutil
import sys
import tempfile
import threading
import time

import keelh
from keelh import log

sys.path.insert(0, os.path.join(keelh.ROOT, "bench"))
from tcp_proxy import pipe  # noqa: E402  (the byte pump of the single-target proxy)


def round_robin_proxy(listen_port, ports, stop):
    async def run():
        turn = [0]

        async def handle(cr, cw):
            port = ports[turn[0] % len(ports)]
            turn[0] += 1
            try:
                sr, sw = await asyncio.open_connection("127.0.0.1", port)
            except OSError:
                cw.close()
                return
            await asyncio.gather(pipe(cr, sw), pipe(sr, cw))

        server = await asyncio.start_server(handle, "127.0.0.1", listen_port)
        async with server:
            while not stop.is_set():
                await asyncio.sleep(0.1)

    asyncio.run(run())


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--invoices", type=int, default=50)
    ap.add_argument("--soak", type=float, default=90.0, help="seconds to let jobs and the scheduler run")
    a = ap.parse_args()
    stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
    out = os.path.join(keelh.ROOT, "bench", "results", f"{stamp}-instances")
    os.makedirs(out, exist_ok=True)
    shared = tempfile.mkdtemp(prefix="keel-instances-")
    name, url = keelh.pg_create()
    lport = keelh.free_port()
    base = f"http://127.0.0.1:{lport}"
    servers = []
    stop = threading.Event()
    result = {}
    try:
        for i in range(3):
            mail = os.path.join(shared, f"mail-{i + 1}")
            s = keelh.Server(shared, url, extra_env={"KEEL_SMTP_URL": f"file://{mail}", "KEEL_BASE_URL": base,
                                                      "HOSTNAME": f"instance-{i + 1}"},
                             log_path=os.path.join(out, f"keel-{i + 1}.log"), demo=(i == 0))
            s.start(timeout=600)
            servers.append(s)
        proxy = threading.Thread(target=round_robin_proxy, args=(lport, [s.port for s in servers], stop), daemon=True)
        proxy.start()
        time.sleep(0.5)
        logins = keelh.demo_logins(shared)

        # -------------------------------------------------------------- sessions
        admin = keelh.Session(base).sign_in(*logins["platform admin"])
        answers = []
        for s in servers:
            direct = keelh.Session(s.base, base)
            direct.cookies = dict(admin.cookies)
            st, _, _ = direct.get("/admin")
            answers.append(st)
        buyer = keelh.Session(base).sign_in(*logins["procurement officer"])
        out_on = keelh.Session(servers[1].base, base)
        out_on.cookies = dict(buyer.cookies)
        out_on.get("/account")
        st_logout, _, _ = out_on.post("/logout", [])
        after = []
        for s in servers:
            d = keelh.Session(s.base, base)
            d.cookies = dict(buyer.cookies)
            st, h, _ = d.get("/account")
            after.append((st, h.get("location", "")))
        result["sessions"] = {"admin_session_on_each_instance": answers, "logout_on_instance_2": st_logout,
                              "after_logout_on_each_instance": after,
                              "ok": answers == [200, 200, 200] and all(s == 303 and "/login" in l for s, l in after)}
        log(f"sessions: {result['sessions']}")

        # -------------------------------------------------------------- status
        on1 = keelh.Session(servers[0].base, base)
        on1.cookies = dict(admin.cookies)
        on1.get("/admin/status")
        comp_id = keelh.psql("SELECT id FROM status_components WHERE NOT is_group AND status = 'operational' "
                             "ORDER BY id LIMIT 1", url)
        st, _, _ = on1.post(f"/admin/status/components/{comp_id}/status", [("status", "major_outage")])
        t0 = time.time()
        seen = {}
        while len(seen) < 2 and time.time() - t0 < 40:
            for i in (1, 2):
                if i in seen:
                    continue
                _, _, body = keelh.request(servers[i].base, "GET", "/api/v2/components.json")
                if b"major_outage" in body:
                    seen[i] = round(time.time() - t0, 2)
            time.sleep(0.25)
        result["status"] = {"set_on_instance_1": st, "seconds_until_visible": {f"instance-{i + 1}": v
                                                                               for i, v in seen.items()},
                            "refresh_interval_seconds": 15,
                            "ok": len(seen) == 2 and max(seen.values()) <= 15.5}
        log(f"status: {result['status']}")

        # -------------------------------------------------------------- invoices
        tenant = keelh.psql("SELECT tenant_id FROM billing_profiles WHERE address_line1 <> '' "
                            "ORDER BY tenant_id LIMIT 1", url)
        year = time.gmtime().tm_year
        before = int(keelh.psql(f"SELECT COALESCE(MAX(last_number), 0) FROM invoice_counters "
                                f"WHERE tenant_id = {tenant} AND year = {year}", url) or 0)
        paths = []
        for _ in range(a.invoices):
            st, h, _ = admin.post("/admin/invoices", [("tenant_id", tenant)])
            p = h["location"]
            admin.post(f"{p}/lines", [("description", "Licences"), ("kind", "license"), ("quantity", "1"),
                                      ("unit_price", "38.80")])
            paths.append(p)
        barrier = threading.Barrier(a.invoices)
        statuses = []

        def issue(p):
            s = keelh.Session(base)
            s.cookies, s.csrf = dict(admin.cookies), admin.csrf
            barrier.wait()
            try:
                st, _, _ = s.post(f"{p}/issue", [], timeout=60)
            except OSError as e:
                st = type(e).__name__
            statuses.append(st)

        ts = [threading.Thread(target=issue, args=(p,)) for p in paths]
        t0 = time.time()
        for t in ts:
            t.start()
        for t in ts:
            t.join()
        took = time.time() - t0
        numbers = [r for r in keelh.psql(f"SELECT number FROM invoices WHERE tenant_id = {tenant} "
                                         f"AND number LIKE '%-{year}-%'", url).splitlines() if r]
        seqs = sorted(int(n.rsplit("-", 1)[1]) for n in numbers)
        result["invoices"] = {"issued_at_once": a.invoices, "seconds": round(took, 2),
                              "statuses": {str(s): statuses.count(s) for s in set(statuses)},
                              "numbers_in_year": len(seqs), "previous_last_number": before,
                              "gapless_no_duplicate": seqs == list(range(1, len(seqs) + 1)),
                              "ok": statuses.count(303) == a.invoices and seqs == list(range(1, before + a.invoices + 1))}
        log(f"invoices: {result['invoices']}")

        # -------------------------------------------------------------- jobs and emails
        log(f"letting jobs and the scheduler run for {a.soak}s")
        time.sleep(a.soak)
        rows = keelh.psql("SELECT dedupe_key, status, attempts, locked_by FROM jobs "
                          "WHERE dedupe_key LIKE 'schedule:%'", url).splitlines()
        keys = [r.split("|")[0] for r in rows]
        ran_by = {}
        for r in keelh.psql("SELECT split_part(locked_by, ':', 1), COUNT(*) FROM jobs GROUP BY 1", url).splitlines():
            k, n = r.split("|")
            ran_by[k or "(not claimed)"] = int(n)
        twice = int(keelh.psql("SELECT COUNT(*) FROM jobs WHERE dedupe_key LIKE 'schedule:%' "
                               "AND status = 'succeeded' AND attempts > 1", url))
        result["jobs"] = {"scheduled_periods": len(keys), "duplicate_keys": len(keys) - len(set(keys)),
                          "periods_run_more_than_once": twice, "jobs_by_instance": ran_by,
                          "ok": len(keys) == len(set(keys)) and twice == 0}
        log(f"jobs: {result['jobs']}")
        files = {}
        for i in range(3):
            d = os.path.join(shared, f"mail-{i + 1}")
            for f in (os.listdir(d) if os.path.isdir(d) else []):
                if f.endswith(".eml"):
                    files.setdefault(f, []).append(i + 1)
        sent = int(keelh.psql("SELECT COUNT(*) FROM outbound_emails WHERE status = 'sent'", url))
        result["emails"] = {"sent_rows": sent, "files": sum(len(v) for v in files.values()),
                            "in_more_than_one_instance": sum(1 for v in files.values() if len(v) > 1),
                            "by_instance": {f"instance-{i}": sum(1 for v in files.values() if i in v)
                                            for i in (1, 2, 3)}}
        result["emails"]["ok"] = result["emails"]["in_more_than_one_instance"] == 0 and len(files) == sent
        log(f"emails: {result['emails']}")
        for s in servers:
            s.stop()
        code, text = keelh.run_keel(servers[0], "check")
        result["check"] = {"exit": code, "report": text.strip().splitlines()}
        keelh.dump(os.path.join(out, "summary.json"), result)
        print(json.dumps(result, indent=2, sort_keys=True))
        log(f"results in {out}")
    finally:
        stop.set()
        for s in servers:
            s.kill()
        keelh.pg_drop(name)
        shutil.rmtree(shared, ignore_errors=True)


if __name__ == "__main__":
    main()
