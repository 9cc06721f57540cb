"""Batch verification of ERC-20 misdeposits on anvil: ours vs raw batched JSON-RPC vs a naive web3 loop.

Run by hand: `.venv/bin/python benchmarks/verify_evm.py [--cases N] [--per-block K] [--naive N] [--profile FILE]
[--cli [json|table]]`.
The default 10,000 cases take about 7 minutes here (anvil's historic eth_call slows down as its
state grows: each raw pass alone takes over a minute); `--cases 1000` takes about 10 s.

Setup (not timed): a private anvil, one StandardToken, N distinct deposit addresses (random but
valid checksummed addresses: the benchmark only verifies, it never sweeps, so no keys are needed),
each receiving one token transfer in its own transaction, spread over up to MAX_BLOCKS blocks (one
deposit per block up to 1,000 cases, 10 per block for 10,000; `--per-block K` chooses),
a temporary SQLite case database with the addresses registered and N open cases.

Then, in one run, on the same cases and the same node:
  (b) raw   - batched JSON-RPC over `requests` (JSON arrays of 500): every receipt, then balanceOf
              at block-1, block and latest; no database.  Run twice: one HTTP connection, and the
              same worker threads as our RPC client; the faster is the reference.
  (a) naive - a plain web3 loop, one call at a time (get_transaction_receipt + 3 balanceOf calls),
              on the first --naive cases (default 1,000), extrapolated to cases/s.
  (c) ours  - recover.api.verify_cases(all_open=True), end to end: node reads, decisions, and the
              database writes of each chunk (facts, state changes, signed statements, audit events,
              in one transaction per chunk); every case must end `verified`, with its fact,
              its `verified` audit event and its signed verification statement.
  (c) ours, with `--cli` - ONE `recover case verify --all --db URL --key FILE` process, timed from its
              start to its exit: interpreter start-up, imports, opening the operator key (its KDF),
              the database and the network files included, as a specialist waits for it.  Its
              output (`--json` by default, or the table with `--cli table`) goes to a file, and must
              say every case verified.  The command runs once first, untimed, on a copy of the
              database holding one open case, so that its bytecode exists as it does for someone
              who types it all day.
Raw is measured before and after ours (the better figure is kept) so a node cache warmed by one
pass does not favour either side.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests" / "support"))

import requests  # noqa: E402
from _common import rpc_batch  # noqa: E402  (the benchmarks' one batched JSON-RPC call)
from eth_utils import to_checksum_address  # noqa: E402

from evm_devnet import contract_at, deploy, fund_token, start_anvil  # noqa: E402

RPC_CHUNK = 500
# anvil 1.x keeps a bounded number of historic states in memory, then writes them to disk and drops
# the oldest: with 10,000 one-deposit blocks setup took minutes and the oldest blocks answered
# "BlockOutOfRangeError".  So by default the deposits are spread over at most this many blocks.
MAX_BLOCKS = 1_000
TRANSFER_GAS = 80_000
SEL_TRANSFER = "0xa9059cbb"
SEL_BALANCE_OF = "0x70a08231"


# -- setup ------------------------------------------------------------------------------------------
def _word(address: str) -> str:
    return address.lower()[2:].rjust(64, "0")


def make_deposits(node, n: int, per_block: int) -> tuple[str, list[tuple[str, str, int]]]:
    """Deploy a token and send one transfer to each of n fresh addresses; returns (token, [(txid, addr, amount)])."""
    w3 = node.w3
    token = deploy(w3, "StandardToken", "Bench Token", "BNCH", 6)
    senders = node.accounts[:8]
    per_sender = (n + len(senders) - 1) // len(senders)
    for s in senders:
        fund_token(w3, token, s, per_sender * 10**9)
    addrs = [to_checksum_address("0x" + os.urandom(20).hex()) for _ in range(n)]
    amounts = [1_000_000 + i for i in range(n)]
    nonces = {s: w3.eth.get_transaction_count(s) for s in senders}
    session = requests.Session()

    def send(indices: range) -> list[str]:
        calls = []
        for i in indices:
            s = senders[i % len(senders)]
            data = SEL_TRANSFER + _word(addrs[i]) + hex(amounts[i])[2:].rjust(64, "0")
            calls.append(("eth_sendTransaction", [{"from": s, "to": token.address, "data": data,
                                                   "gas": hex(TRANSFER_GAS), "nonce": hex(nonces[s])}]))
            nonces[s] += 1
        return rpc_batch(session, node.url, calls)

    txids: list[str] = []
    if per_block <= 1:
        # automine: each transaction is mined in its own block as it arrives.  One transaction per
        # sender per JSON array: anvil handles an array's elements concurrently, and a transaction
        # whose nonce arrives before its predecessor's would wait in the pool for the next block.
        for start in range(0, n, len(senders)):
            txids += send(range(start, min(n, start + len(senders))))
    else:
        node.rpc("evm_setAutomine", [False])
        try:
            for start in range(0, n, per_block):
                txids += send(range(start, min(n, start + per_block)))
                node.rpc("evm_mine", [])
        finally:
            node.rpc("evm_setAutomine", [True])
    # every deposit mined (automine mines asynchronously: wait for the last receipts) and successful
    deadline = time.monotonic() + 120
    pending = list(txids)
    while pending:
        still = []
        for start in range(0, len(pending), RPC_CHUNK):
            part = pending[start:start + RPC_CHUNK]
            for t, r in zip(part, rpc_batch(session, node.url, [("eth_getTransactionReceipt", [t]) for t in part])):
                if r is None:
                    still.append(t)
                elif int(r["status"], 16) != 1:
                    raise RuntimeError(f"setup: deposit transaction {t} failed")
        pending = still
        if pending:
            if per_block <= 1 and time.monotonic() > deadline - 110:
                node.rpc("evm_mine", [])  # safety net: a transaction stuck in the pool
            if time.monotonic() > deadline:
                raise RuntimeError(f"setup: {len(pending)} deposit transactions not mined after 120 s")
            time.sleep(0.1)
    node.rpc("anvil_mine", [hex(1)])  # one more block: the last deposits have 2 confirmations
    return token.address, list(zip(txids, addrs, amounts))


def make_db(db_url: str, workdir: Path, token: str, deposits: list[tuple[str, str, int]]) -> None:
    import sqlalchemy as sa

    import recover.api as api
    from chains.addresses import address_key
    from recover.casework.cases import claim_scope
    from recover.networks.registry import get_network
    from recover.storage.db import get_engine
    from recover.storage.models import Case, utcnow

    api.init(db_url)
    # authority: a one-admin trust root and an enrolled specialist who verifies (not timed)
    os.environ.setdefault("RECOVER_KEY_PASSPHRASE", "benchmark passphrase, never for real keys")
    root = api.trust_init(1, 1, workdir)
    os.environ["RECOVER_TRUST_ROOT"] = root["trust_root"]
    public = api.operators_keygen("bench", workdir / "bench.key")
    api.operators_enroll("bench", public, "specialist", "bench", root["admin_keys"], db=db_url)
    os.environ["RECOVER_OPERATOR_KEY"] = str(workdir / "bench.key")
    csv_path = workdir / "addresses.csv"
    with csv_path.open("w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["network", "address", "derivation_path", "account"])
        for i, (_txid, addr, _amt) in enumerate(deposits):
            w.writerow(["anvil", addr, f"m/44'/60'/0'/0/{1000 + i}", f"user-{i}"])
    api.import_addresses(csv_path, admin_keys=root["admin_keys"], db=db_url)
    net = get_network("anvil")
    ret = to_checksum_address("0x" + "ab" * 20)
    now = utcnow()
    rows = [dict(network="anvil", txid=txid, claim_scope=claim_scope(net, addr, token), asset=token,
                 deposit_address=addr, return_address=ret, status="open", opened_by="bench", version=1,
                 created_at=now, updated_at=now)
            for txid, addr, _amt in deposits]
    with get_engine(db_url).begin() as conn:
        conn.execute(sa.insert(Case), rows)
    assert address_key("evm", token) == token.lower()


# -- (b) raw batched JSON-RPC ---------------------------------------------------------------------------
def raw_batched(url: str, token: str, deposits: list[tuple[str, str, int]], workers: int) -> float:
    """Receipts, then balanceOf before/at/after, in JSON arrays of RPC_CHUNK; returns seconds."""
    local = __import__("threading").local()

    def post(calls):
        s = getattr(local, "s", None)
        if s is None:
            s = local.s = requests.Session()
        return rpc_batch(s, url, calls)

    def run(calls: list) -> list:
        chunks = [calls[i:i + RPC_CHUNK] for i in range(0, len(calls), RPC_CHUNK)]
        if workers == 1:
            parts = [post(c) for c in chunks]
        else:
            parts = list(pool.map(post, chunks))
        return [r for p in parts for r in p]

    pool = ThreadPoolExecutor(max_workers=workers)
    try:
        t0 = time.perf_counter()
        receipts = run([("eth_getTransactionReceipt", [t]) for t, _a, _m in deposits])
        calls = []
        for r, (_t, addr, _m) in zip(receipts, deposits):
            block = int(r["blockNumber"], 16)
            call = {"to": token, "data": SEL_BALANCE_OF + _word(addr)}
            calls += [("eth_call", [call, hex(block - 1)]), ("eth_call", [call, hex(block)]),
                      ("eth_call", [call, "latest"])]
        balances = run(calls)
        elapsed = time.perf_counter() - t0
    finally:
        pool.shutdown()
    for i, (_t, _a, amount) in enumerate(deposits):  # the reads answered what they should
        before, at, now = (int(x, 16) for x in balances[3 * i:3 * i + 3])
        assert at - before == amount and now == at, (i, before, at, now, amount)
    return elapsed


# -- (a) naive web3 loop -------------------------------------------------------------------------------
def naive_loop(w3, token: str, deposits: list[tuple[str, str, int]]) -> float:
    contract = contract_at(w3, "StandardToken", token)
    t0 = time.perf_counter()
    for txid, addr, amount in deposits:
        r = w3.eth.get_transaction_receipt(txid)
        block = r["blockNumber"]
        fn = contract.functions.balanceOf(addr)
        before = fn.call(block_identifier=block - 1)
        at = fn.call(block_identifier=block)
        now = fn.call(block_identifier="latest")
        assert at - before == amount and now == at
    return time.perf_counter() - t0


# -- (c) ours ------------------------------------------------------------------------------------------
class _Timers:
    """Wall time spent inside a few functions during (c), by wrapping them in this process only."""

    def __init__(self) -> None:
        self.spent: dict[str, float] = {}

    def wrap(self, owner, name: str, label: str) -> None:
        fn = getattr(owner, name)

        def timed(*a, **kw):
            t0 = time.perf_counter()
            try:
                return fn(*a, **kw)
            finally:
                self.spent[label] = self.spent.get(label, 0.0) + time.perf_counter() - t0

        setattr(owner, name, timed)


def ours(db_url: str, n: int, profile: str | None) -> tuple[float, dict, dict[str, float]]:
    import recover.api as api
    import recover.casework.verification as verification
    from chains.evm.adapter import EvmAdapter

    timers = _Timers()
    timers.wrap(EvmAdapter, "observe", "node reads: observe (receipts, blocks)")
    timers.wrap(EvmAdapter, "prove_each", "node reads: prove_each (balances, code, token meta)")
    timers.wrap(verification, "_write", "database: _write (per chunk: facts, states, statements, audit)")

    t0 = time.perf_counter()
    if profile:
        import cProfile

        prof = cProfile.Profile()
        summary = prof.runcall(api.verify_cases, all_open=True, db=db_url)
        prof.dump_stats(profile)
    else:
        summary = api.verify_cases(all_open=True, db=db_url)
    elapsed = time.perf_counter() - t0
    d = summary.to_dict()
    assert len(summary.results) == n, (len(summary.results), n)
    assert d["verified"] == n, {k: v for k, v in d.items() if k != "cases"} | {"first": d["cases"][:3]}
    return elapsed, d, timers.spent


def ours_cli(db_url: str, n: int, key_file: str, output: str, profile: str | None) -> tuple[float, float]:
    """One ``recover case verify --all`` process, start to exit (warmed once on a copy of the database):
    its wall time, and its CPU time (user + system, from ``wait4``: less sensitive to a busy machine)."""
    recover = str(Path(sys.executable).with_name("recover"))
    # bytecode written (as pip writes it for an installed toolkit), whatever this shell says
    env = {**{k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"},
           "RECOVER_DB_URL": "", "COLUMNS": "200"}
    db_file = db_url.removeprefix("sqlite:///")

    def command(url: str) -> list[str]:
        cmd = [recover, "case", "verify", "--all", "--db", url, "--key", key_file]
        if profile and url == db_url:
            cmd = [sys.executable, "-m", "cProfile", "-o", profile, recover, *cmd[1:]]
        return cmd + (["--json"] if output == "json" else [])

    warm = db_file + ".warm"
    shutil.copyfile(db_file, warm)
    with sqlite3.connect(warm) as conn:  # the warm-up verifies one case: every module loaded, in seconds
        conn.execute("UPDATE cases SET status = 'rejected' WHERE id <> (SELECT min(id) FROM cases)")
    subprocess.run(command("sqlite:///" + warm), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env,
                   check=True)
    os.unlink(warm)
    out_path = db_file + ".out"
    with open(out_path, "wb") as out, open(db_file + ".err", "wb") as err:
        t0 = time.perf_counter()
        proc = subprocess.Popen(command(db_url), stdout=out, stderr=err, env=env)
        _, status, usage = os.wait4(proc.pid, 0)
        elapsed = time.perf_counter() - t0
        proc.returncode = os.waitstatus_to_exitcode(status)  # reaped here: Popen must not wait for it again
    if proc.returncode != 0:
        raise SystemExit(f"recover case verify --all exited {proc.returncode}: "
                         f"{Path(db_file + '.err').read_text()[:2000]}")
    text = Path(out_path).read_text()
    if output == "json":
        doc = json.loads(text)
        assert doc["verified"] == n and len(doc["cases"]) == n, {k: v for k, v in doc.items() if k != "cases"}
    else:
        assert f"{n} verified" in text, text[:500]
    return elapsed, usage.ru_utime + usage.ru_stime


def check_db(db_url: str, n: int) -> None:
    import sqlalchemy as sa

    from recover.storage.db import get_engine

    with get_engine(db_url).connect() as conn:
        statuses = dict(conn.execute(sa.text("SELECT status, count(*) FROM cases GROUP BY status")).all())
        facts = conn.execute(sa.text("SELECT count(*) FROM deposit_facts")).scalar()
        events = conn.execute(sa.text("SELECT count(*) FROM audit_events WHERE action = 'verified'")).scalar()
        signed = conn.execute(sa.text("SELECT count(*) FROM statements WHERE kind = 'verification'")).scalar()
    assert statuses == {"verified": n}, statuses
    assert facts == n and events == n and signed == n, (facts, events, signed)
    from sqlmodel import Session

    from recover.storage.audit import verify_chain

    # the hash chain written chunk by chunk is whole (the cases were inserted without signed claims,
    # so the statements are not checked here: tests/services/test_bulk_verify.py runs the full `audit verify`)
    with Session(get_engine(db_url)) as s:
        report = verify_chain(s)
    assert report.ok and report.events >= n, report.problems[:3]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--cases", type=int, default=10_000)
    ap.add_argument("--per-block", type=int, default=None,
                    help="deposit transactions per block (1: automine, each deposit in its own block); default: "
                         f"1 up to {MAX_BLOCKS} cases, else enough to fit the deposits in {MAX_BLOCKS} blocks")
    ap.add_argument("--naive", type=int, default=1_000, help="cases timed in the naive loop (extrapolated; 0: skip it)")
    ap.add_argument("--workers", type=int, default=None, help="raw threads (default: our JsonRpcClient's max_workers)")
    ap.add_argument("--profile", default=None, help="write a cProfile of (c) to this file")
    ap.add_argument("--cli", nargs="?", const="json", default=None, choices=("json", "table"),
                    help="(c) is one `recover case verify --all` process, timed end to end (default output --json)")
    args = ap.parse_args()
    n = args.cases
    if args.per_block is None:
        args.per_block = max(1, -(-n // MAX_BLOCKS))

    from chains.transport import JsonRpcClient

    workers = args.workers or JsonRpcClient(["http://unused"]).max_workers
    node = start_anvil(31337)
    os.environ["ANVIL_URL"] = node.url
    os.environ.pop("RECOVER_CONFIG_DIR", None)
    with tempfile.TemporaryDirectory(prefix="bench-verify-") as tmp:
        db_url = f"sqlite:///{tmp}/bench.db"
        try:
            t0 = time.perf_counter()
            token, deposits = make_deposits(node, n, args.per_block)
            t1 = time.perf_counter()
            make_db(db_url, Path(tmp), token, deposits)
            t2 = time.perf_counter()
            print(f"setup: {n} ERC-20 deposits on anvil in {t1 - t0:.1f} s "
                  f"({(n + args.per_block - 1) // args.per_block} blocks of {args.per_block} deposit(s)), database in {t2 - t1:.1f} s")

            raw1 = raw_batched(node.url, token, deposits, 1)
            rawp = raw_batched(node.url, token, deposits, workers)
            k = min(args.naive, n)
            naive = naive_loop(node.w3, token, deposits[:k]) if k else 0.0
            if args.cli:
                (ours_s, cpu_s), spent = ours_cli(db_url, n, os.environ["RECOVER_OPERATOR_KEY"], args.cli,
                                                  args.profile), {}
            else:
                ours_s, _summary, spent = ours(db_url, n, args.profile)
            check_db(db_url, n)
            raw1b = raw_batched(node.url, token, deposits, 1)
            rawpb = raw_batched(node.url, token, deposits, workers)
        finally:
            node.stop()

    raw_1 = n / min(raw1, raw1b)
    raw_p = n / min(rawp, rawpb)
    raw_best = max(raw_1, raw_p)
    naive_cps = k / naive if k else 0.0
    ours_cps = n / ours_s
    print(f"cases: {n} ERC-20 misdeposits, reads per case: receipt + balanceOf at block-1, block, latest")
    if k:
        print(f"(a) naive web3 loop     : {naive_cps:8.1f} cases/s  (timed on the first {k} cases, "
              f"{naive:.1f} s; extrapolated)")
    print(f"(b) raw batched JSON-RPC: {raw_1:8.1f} cases/s  (1 connection; best of 2 passes)")
    print(f"(b) raw batched JSON-RPC: {raw_p:8.1f} cases/s  ({workers} threads; best of 2 passes)")
    if args.cli:
        print(f"(c) ours, one CLI process: {ours_cps:8.1f} cases/s  ({ours_s:.2f} s wall, {cpu_s:.2f} s CPU, "
              f"`recover case verify --all`{' --json' if args.cli == 'json' else ' (table)'}, start-up and key "
              f"opening included, all {n} verified)")
    else:
        print(f"(c) ours verify_cases   : {ours_cps:8.1f} cases/s  ({ours_s:.1f} s, all {n} verified, "
              f"database writes and audit events included)")
        rest = ours_s - sum(spent.values())
        for label, sec in [*spent.items(), ("other (queries, decisions, registry lookups)", rest)]:
            print(f"      {label:<55}: {sec:6.2f} s  {1000 * sec / n:6.3f} ms/case")
    print(f"ours / raw (best {raw_best:.1f}) = {ours_cps / raw_best:.2f}   "
          f"ours / naive = {ours_cps / naive_cps if k else float('nan'):.1f}x   "
          f"target ours >= 0.50 x raw: {'OK' if ours_cps >= 0.5 * raw_best else 'BELOW'}")


if __name__ == "__main__":
    main()
