"""Two `recover worker` processes against one on PostgreSQL, on a node-latency-bound load.

Run by hand: `.venv/bin/python benchmarks/workers_pg.py [--cases 100] [--delay-ms 20]`.

Set-up (not timed), once per run, on a private anvil reverted to the same snapshot for each run:
CASES native misdeposits (0.5 ETH) to retired deposit addresses, opened in-process in a fresh
PostgreSQL database with the tests' team.  The workers reach the node through a small JSON-RPC
proxy (this file) that waits DELAY ms before forwarding each HTTP request, as a remote node would.

Timed: (1) `recover worker` processes (stopped with SIGTERM once done) verify every case (the jobs `case open` enqueued);
then, not timed, every case is quoted, prepared, approved and signed in-process; (2) the workers
broadcast and track every case to `completed`.  Checked after each run: every case verified once,
completed once, each transaction sent once (audit events), and on chain each deposit address sent
exactly its own transactions and holds nothing.
"""

from __future__ import annotations

import argparse
import http.server
import os
import subprocess
import tempfile
import threading
import time
import urllib.request

import sqlalchemy as sa
from _common import case_database, team_env

ETH = 10**18


class _Delay(http.server.BaseHTTPRequestHandler):
    target = ""
    delay = 0.02

    def do_POST(self):  # noqa: N802 - http.server's name
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        time.sleep(self.delay)
        req = urllib.request.Request(self.target, data=body, headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(req, timeout=60) as resp:
            answer = resp.read()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(answer)))
        self.end_headers()
        self.wfile.write(answer)

    def log_message(self, *args):  # quiet
        pass


def start_proxy(target: str, delay: float) -> tuple[http.server.ThreadingHTTPServer, str]:
    handler = type("Handler", (_Delay,), {"target": target, "delay": delay})
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, f"http://127.0.0.1:{server.server_address[1]}"


def open_cases(node, db: str, n: int) -> list[tuple[int, str]]:
    from evmflow import derive
    from recover import api
    from recover.authority.keyfile import load_signing_key
    from team import team

    deposits = [derive(i) for i in range(100, 100 + n)]
    csv = os.path.join(tempfile.gettempdir(), f"bench-addresses-{os.getpid()}.csv")
    with open(csv, "w") as fh:
        fh.write("network,address,derivation_path,account,status\n")
        fh.writelines(f"anvil,{d},m/44'/60'/0'/0/{100 + i},acct,retired\n" for i, d in enumerate(deposits))
    api.import_addresses(csv, admin_keys=team().admin_paths, db=db)
    spec = load_signing_key(team().keys["spec"])
    pete = load_signing_key(team().keys["pete"])
    sender = node.accounts[1]
    node.set_balance(sender, (n + 10) * ETH)
    out = []
    for d in deposits:
        tx = node.w3.eth.send_transaction({"from": sender, "to": d, "value": ETH // 2})
        out.append((api.open_case("anvil", tx.to_0x_hex(), return_address=node.accounts[2], db=db, key=spec).id, d))
    api.set_price("ETH", "3000", db=db, key=pete)
    return out


def approve_and_sign(db: str, cases) -> int:
    from recover import api
    from recover.authority.keyfile import load_signing_key
    from team import team

    spec, bob, carol, wes = (load_signing_key(team().keys[n]) for n in ("spec", "bob", "carol", "wes"))
    total = 0
    for cid, _ in cases:
        api.quote_case(cid, db=db, key=spec)
        api.prepare_case(cid, db=db, key=spec)
        api.decide(cid, "approve", db=db, key=bob)
        api.decide(cid, "approve", db=db, key=carol)
        total += len(api.sign_case(cid, db=db, key=wes))
    return total


def run_workers(db: str, rpc_url: str, n: int, done) -> float:
    """Start ``n`` workers, stop them (SIGTERM: each finishes its job) once ``done()`` holds; the wall
    time from their start to ``done``.  Not ``--once``: a worker must wait for confirmations, not exit."""
    from clihelp import RECOVER

    env = {**os.environ, **team_env(), "RECOVER_DB_URL": db, "ANVIL_URL": rpc_url}
    t0 = time.perf_counter()
    procs = [subprocess.Popen([RECOVER, "worker", "--poll", "0.2", "--json"], env=env,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for _ in range(n)]
    try:
        while not done():
            if any(p.poll() is not None for p in procs):
                raise RuntimeError(f"a worker stopped: {[p.communicate()[1][-2000:] for p in procs if p.poll() is not None]}")
            time.sleep(0.2)
        return time.perf_counter() - t0
    finally:
        for p in procs:
            p.terminate()
        for p in procs:
            p.communicate(timeout=120)


def statuses(db: str) -> dict[str, int]:
    from recover.storage.db import get_engine

    with get_engine(db).connect() as conn:
        return dict(conn.execute(sa.text("SELECT status, count(*) FROM cases GROUP BY status")).all())


def counts(db: str, action: str) -> dict[int, int]:
    from recover.storage.db import get_engine

    with get_engine(db).connect() as conn:
        rows = conn.execute(sa.text("SELECT case_id, count(*) FROM audit_events WHERE action = :a GROUP BY case_id"),
                            {"a": action}).all()
    return dict(rows)


def one_run(node, proxy_url: str, n_cases: int, n_workers: int) -> dict:
    from recover import api

    with case_database("postgresql") as db:
        cases = open_cases(node, db, n_cases)
        verify_s = run_workers(db, proxy_url, n_workers, lambda: statuses(db).get("verified") == n_cases)
        assert counts(db, "verified") == {cid: 1 for cid, _ in cases}, "a case verified twice or not at all"
        txs = approve_and_sign(db, cases)
        send_s = run_workers(db, proxy_url, n_workers, lambda: statuses(db).get("completed") == n_cases)
        sent = counts(db, "tx_sent")
        assert sum(sent.values()) == txs and counts(db, "completed") == {cid: 1 for cid, _ in cases}
        for cid, deposit in cases:
            steps = len(api.show_case(cid, db=db)["transactions"])
            assert node.w3.eth.get_transaction_count(deposit) == steps and node.w3.eth.get_balance(deposit) == 0
        return {"verify_s": verify_s, "send_s": send_s, "txs": txs}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--cases", type=int, default=100)
    ap.add_argument("--delay-ms", type=float, default=20.0)
    args = ap.parse_args()
    from chains.evm.keys import derive_evm_account
    from evm_devnet import ANVIL_MNEMONIC, start_anvil

    team_env()
    os.environ["RECOVER_SEED"] = ANVIL_MNEMONIC
    node = start_anvil(31337)
    try:
        station = derive_evm_account(ANVIL_MNEMONIC, "m/44'/60'/1'/0/0").address
        node.set_balance(station, 1000 * ETH)
        os.environ["ANVIL_URL"] = node.url  # set-up talks to the node directly; the workers via the proxy
        proxy, proxy_url = start_proxy(node.url, args.delay_ms / 1000)
        snap = node.snapshot()
        results = {}
        for n_workers in (1, 2):
            node.revert(snap)
            snap = node.snapshot()
            results[n_workers] = one_run(node, proxy_url, args.cases, n_workers)
            r = results[n_workers]
            print(f"{n_workers} worker(s): verify {args.cases} cases {r['verify_s']:.1f} s "
                  f"({args.cases / r['verify_s']:.1f} cases/s); broadcast+track {r['txs']} transactions "
                  f"{r['send_s']:.1f} s ({args.cases / r['send_s']:.1f} cases/s); every effect once", flush=True)
        proxy.shutdown()
        one, two = results[1], results[2]
        total1, total2 = one["verify_s"] + one["send_s"], two["verify_s"] + two["send_s"]
        print(f"speed-up of 2 workers (node delay {args.delay_ms:.0f} ms per request): verify "
              f"{one['verify_s'] / two['verify_s']:.2f} x, broadcast+track {one['send_s'] / two['send_s']:.2f} x, "
              f"all {total1 / total2:.2f} x (target >= 1.6 x)")
    finally:
        node.stop()


if __name__ == "__main__":
    main()
