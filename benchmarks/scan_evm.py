"""`recover scan` on anvil with 1,000,000 (or 10,000,000) registered addresses vs the raw reads it needs.

Run by hand: `.venv/bin/python benchmarks/scan_evm.py [--blocks 10000] [--addresses 1000000]
[--backend postgresql|sqlite] [--noise-per-block 5] [--planted 200] [--tracemalloc]`.
Defaults take about 3 minutes here, most of it building the chain (10,000,000 addresses add about
4 minutes of inserting and indexing).

Setup (not timed):
- a private anvil; two tokens compiled with solc-js (tests/support/contracts: StandardToken), "Stranded"
  (not listed on the network) and "Noise";
- BLOCKS blocks, each with NOISE_PER_BLOCK Noise transfers to random addresses that are not ours
  (the Transfer logs a scan reads and throws away, as on a busy chain), and, spread over the
  range, PLANTED Stranded transfers to a sample of our addresses plus PLANTED/10 native payments to
  retired ones;
- ADDRESSES registered deposit addresses (1 % retired) made by the database server itself
  (`generate_series` with md5 on PostgreSQL, `randomblob` on SQLite: random 40-hex-digit keys), plus
  the planted ones (EIP-55, from eth-utils).  Scanning reads only the table's address key, status and
  account: it does not check the admin-signed registration statements (those are checked when a case
  is signed), so rows without statements scan like imported ones.

Then, on the same node and range:
  (b) raw  - what the scan must read: eth_getLogs for every Transfer log in the scan's chunks
             (BLOCKS_PER_QUERY blocks), (b1) one request after another and (b2) as one JSON array
             (the faster is the reference), and (b4) trace_filter over the same range, unfiltered,
             in the scan's ranges and batches (the native part with `[evm] native_scan =
             "trace_filter"`, anvil's setting); (b3) reading every block with its transactions
             instead (the native part with "blocks") is shown for comparison.
  (c) ours - recover.scan (scan_network), timed in a fresh child process (operator key opened
             before the clock starts): per chunk, the reads, one indexed lookup of the chunk's
             recipients in the case database, and one case per finding (each in its own
             transaction).  Run twice: the first opens every case, the second (the same range
             again) finds them all already open.  The child's peak RSS is reported (and, with
             --tracemalloc, in a third run the peak of Python allocations, which slows that run down).
Target: ours >= 0.5 x raw (logs + traces); peak RSS below 200 MiB, the same within 10 % at 10,000,000.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time

import requests  # noqa: E402
from _common import ROOT, case_database, peak_rss_mib, rpc_batch, team_env

SEL_TRANSFER = "0xa9059cbb"
TRANSFER_GAS = 80_000


def _word(address: str) -> str:
    return address.lower()[2:].rjust(64, "0")


# -- setup -----------------------------------------------------------------------------------------
def make_addresses(n: int) -> list[str]:
    """n random EIP-55 addresses (eth-utils): the ones the chain pays."""
    from eth_utils import to_checksum_address

    return [to_checksum_address("0x" + os.urandom(20).hex()) for _ in range(n)]


def build_chain(node, n_blocks: int, noise_per_block: int, planted_to: list[str], native_to: list[str]):
    """BLOCKS blocks of Noise transfers with the planted Stranded transfers and native payments
    spread over them; returns (first block, last block, stranded token address, planted txids)."""
    from evm_devnet import deploy, fund_token

    w3 = node.w3
    stranded = deploy(w3, "StandardToken", "Stranded", "STR", 6)
    noise = deploy(w3, "StandardToken", "Noise", "NOI", 6)
    senders = node.accounts[:8]
    for s in senders:
        fund_token(w3, noise, s, 10**15)
        fund_token(w3, stranded, s, 10**15)
    nonces = {s: w3.eth.get_transaction_count(s) for s in senders}
    session = requests.Session()
    first = w3.eth.block_number + 1
    plant_at = {}  # block offset -> list of calls
    for i, to in enumerate(planted_to):
        plant_at.setdefault(i * n_blocks // max(1, len(planted_to)), []).append(("token", to))
    for i, to in enumerate(native_to):
        plant_at.setdefault((2 * i + 1) * n_blocks // max(1, 2 * len(native_to)), []).append(("native", to))
    planted: list[str] = []
    node.rpc("evm_setAutomine", [False])
    k = 0
    try:
        for b in range(n_blocks):
            calls, kinds = [], []
            jobs = [("noise", "0x" + os.urandom(20).hex()) for _ in range(noise_per_block)] + plant_at.get(b, [])
            for kind, to in jobs:
                s = senders[k % len(senders)]
                k += 1
                tx = {"from": s, "nonce": hex(nonces[s]), "gas": hex(TRANSFER_GAS)}
                nonces[s] += 1
                if kind == "native":
                    tx |= {"to": to, "value": hex(10**15)}
                else:
                    tx |= {"to": (stranded if kind == "token" else noise).address,
                           "data": SEL_TRANSFER + _word(to) + hex(1_000_000 + k)[2:].rjust(64, "0")}
                calls.append(("eth_sendTransaction", [tx]))
                kinds.append(kind)
            hashes = rpc_batch(session, node.url, calls) if calls else []
            planted += [h for h, kind in zip(hashes, kinds) if kind != "noise"]
            node.rpc("evm_mine", [])
            if b % 1000 == 999:
                print(f"  ... {b + 1} blocks", flush=True)
    finally:
        node.rpc("evm_setAutomine", [True])
    last = w3.eth.block_number
    assert last - first + 1 == n_blocks, (first, last)
    receipts = rpc_batch(session, node.url, [("eth_getTransactionReceipt", [h]) for h in planted])
    assert all(r and int(r["status"], 16) == 1 for r in receipts), "setup: a planted transfer failed"
    return first, last, stranded.address, planted


def insert_addresses(db_url: str, n_bulk: int, retired_share: float, active: list[str], retired: list[str]) -> None:
    """n_bulk random registered addresses made by the server (1 in 1/retired_share retired), and the
    planted ``active`` and ``retired`` ones."""
    import sqlalchemy as sa

    from recover.storage.db import get_engine

    engine = get_engine(db_url)
    every = max(1, round(1 / retired_share)) if retired_share > 0 else n_bulk + 1
    if engine.dialect.name == "postgresql":
        bulk = ("INSERT INTO deposit_addresses (network, address, address_key, derivation_path, account, status, kind, "
                "created_at) SELECT 'anvil', a, a, 'm/44''/60''/7''/0/' || i, 'user-' || i, "
                "CASE WHEN i % :every = 0 THEN 'retired' ELSE 'active' END, 'deposit', now() "
                "FROM (SELECT i, '0x' || md5(random()::text || i) || substr(md5(random()::text), 1, 8) AS a "
                "FROM generate_series(1, :n) AS i) s ON CONFLICT DO NOTHING")
    else:
        bulk = ("WITH RECURSIVE g(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM g WHERE i < :n) "
                "INSERT OR IGNORE INTO deposit_addresses (network, address, address_key, derivation_path, account, "
                "status, kind, created_at) SELECT 'anvil', a, a, 'm/44''/60''/7''/0/' || i, 'user-' || i, "
                "CASE WHEN i % :every = 0 THEN 'retired' ELSE 'active' END, 'deposit', datetime('now') "
                "FROM (SELECT i, '0x' || lower(hex(randomblob(20))) AS a FROM g)")
    mine = [{"a": a, "k": a.lower(), "p": f"m/44'/60'/0'/0/{i}", "acct": f"ours-{i}", "st": st}
            for i, (a, st) in enumerate([(a, "active") for a in active] + [(a, "retired") for a in retired])]
    with engine.begin() as conn:
        conn.execute(sa.text(bulk), {"n": n_bulk, "every": every})
        conn.execute(sa.text("INSERT INTO deposit_addresses (network, address, address_key, derivation_path, "
                             "account, status, kind, created_at) VALUES ('anvil', :a, :k, :p, :acct, :st, "
                             "'deposit', CURRENT_TIMESTAMP)"), mine)
        conn.execute(sa.text("ANALYZE deposit_addresses" if engine.dialect.name == "postgresql" else "ANALYZE"))


# -- (b) raw ---------------------------------------------------------------------------------------
def _chunks(first: int, last: int, size: int) -> list[tuple[int, int]]:
    return [(a, min(last, a + size - 1)) for a in range(first, last + 1, size)]


def raw_logs(url: str, first: int, last: int, size: int, *, one_array: bool) -> tuple[float, int]:
    """Every Transfer log of the range in the scan's chunks; (seconds, logs)."""
    from chains.evm.erc20 import TRANSFER_TOPIC

    session = requests.Session()
    calls = [("eth_getLogs", [{"fromBlock": hex(a), "toBlock": hex(b), "topics": [TRANSFER_TOPIC]}])
             for a, b in _chunks(first, last, size)]
    t0 = time.perf_counter()
    if one_array:
        parts = rpc_batch(session, url, calls)
    else:
        parts = [rpc_batch(session, url, [c])[0] for c in calls]
    elapsed = time.perf_counter() - t0
    return elapsed, sum(len(p) for p in parts)


def raw_blocks(url: str, first: int, last: int, per_batch: int) -> tuple[float, int]:
    """Every block of the range with its transactions, per_batch blocks per JSON array; (seconds, txs)."""
    session = requests.Session()
    t0 = time.perf_counter()
    txs = 0
    for a, b in _chunks(first, last, per_batch):
        blocks = rpc_batch(session, url, [("eth_getBlockByNumber", [hex(n), True]) for n in range(a, b + 1)])
        txs += sum(len(blk["transactions"]) for blk in blocks)
    return time.perf_counter() - t0, txs


def raw_traces(url: str, first: int, last: int) -> tuple[float, int]:
    """trace_filter over the range, unfiltered, in the scan's ranges and batches; (seconds, traces)."""
    from chains.evm.scan import TRACE_CALLS_PER_REQUEST
    from recover.networks.registry import get_network

    step = get_network("anvil").evm_options.trace_filter_blocks
    calls = [("trace_filter", [{"fromBlock": hex(a), "toBlock": hex(b)}]) for a, b in _chunks(first, last, step)]
    session = requests.Session()
    t0 = time.perf_counter()
    parts = [part for i in range(0, len(calls), TRACE_CALLS_PER_REQUEST)
             for part in rpc_batch(session, url, calls[i:i + TRACE_CALLS_PER_REQUEST])]
    return time.perf_counter() - t0, sum(len(p) for p in parts)


# -- (c) ours, in a child process ------------------------------------------------------------------
def child(db_url: str, first: int, last: int, trace: bool) -> None:
    """Run in a fresh process: time recover.scan, print one JSON line."""
    import recover
    from recover.authority.acting import load_operator_key

    key = load_operator_key(None)  # the Argon2id key opening is not part of the scan
    import chains.evm.adapter  # noqa: F401  (importing web3 is start-up, not scanning)
    base = peak_rss_mib()
    if trace:
        import tracemalloc

        tracemalloc.start()
    profile = os.environ.get("SCAN_PROFILE")  # a file: cProfile of the scan (to find where time goes)
    if profile:
        import cProfile

        prof = cProfile.Profile()
        prof.enable()
    t0 = time.perf_counter()
    report = recover.scan("anvil", from_block=first, to_block=last, db=db_url, key=key)
    elapsed = time.perf_counter() - t0
    if profile:
        prof.disable()
        prof.dump_stats(profile)
    traced = tracemalloc.get_traced_memory()[1] / 2**20 if trace else None
    d = report.to_dict()
    print(json.dumps({"seconds": elapsed, "rss_before_mib": base, "rss_peak_mib": peak_rss_mib(),
                      "traced_peak_mib": traced, "found": d["found"], "opened": len(d["opened"]),
                      "existing": d["already_cases"], "errors": d["errors"][:3]}))


def run_child(db_url: str, node_url: str, first: int, last: int, trace: bool = False) -> dict:
    env = {**os.environ, **team_env(), "ANVIL_URL": node_url, "RECOVER_DB_URL": db_url}
    proc = subprocess.run([sys.executable, __file__, "--child", db_url, str(first), str(last),
                           *(["--tracemalloc"] if trace else [])],
                          env=env, capture_output=True, text=True, timeout=1800, cwd=ROOT)
    if proc.returncode != 0:
        raise RuntimeError(f"scan child failed ({proc.returncode}):\n{proc.stderr[-4000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def measure(args, node, size: int, first: int, last: int, planted_to, native_to) -> dict:
    """One registry size: a fresh case database, raw reads before and after, our two scans."""
    from chains.evm.scan import BLOCKS_PER_BATCH, BLOCKS_PER_QUERY

    with case_database(args.backend) as db_url:
        t2 = time.perf_counter()
        insert_addresses(db_url, size - len(planted_to) - len(native_to), args.retired_share, planted_to, native_to)
        print(f"setup: {size:,} deposit addresses inserted into {args.backend} in "
              f"{time.perf_counter() - t2:.1f} s", flush=True)
        raw = {"b1": [], "b2": [], "b3": [], "b4": [], "logs": 0, "txs": 0}

        def raw_pass():
            s1, logs = raw_logs(node.url, first, last, BLOCKS_PER_QUERY, one_array=False)
            s2, logs2 = raw_logs(node.url, first, last, BLOCKS_PER_QUERY, one_array=True)
            s3, txs = raw_blocks(node.url, first, last, BLOCKS_PER_BATCH)
            s4, traces = raw_traces(node.url, first, last)
            assert logs == logs2 and traces >= txs
            raw["b1"].append(s1), raw["b2"].append(s2), raw["b3"].append(s3), raw["b4"].append(s4)
            raw["logs"], raw["txs"] = logs, txs

        raw_pass()
        runs = [run_child(db_url, node.url, first, last), run_child(db_url, node.url, first, last)]
        raw_pass()
        traced = run_child(db_url, node.url, first, last, trace=True) if args.tracemalloc else None
    return {"raw": raw, "runs": runs, "traced": traced}


def report(args, size: int, result: dict, expect: int) -> float:
    """Print one registry size's figures; the peak RSS of its scans."""
    from chains.evm.scan import BLOCKS_PER_BATCH, BLOCKS_PER_QUERY

    raw, (one, two), traced = result["raw"], result["runs"], result["traced"]
    assert one["found"] == expect and one["opened"] == expect and not one["errors"], one
    assert two["found"] == expect and two["opened"] == 0 and two["existing"] == expect, two
    n = args.blocks
    b_logs = min(min(raw["b1"]), min(raw["b2"]))
    b_native = min(raw["b3"])
    print(f"range: {n} blocks, {raw['logs']:,} Transfer logs, {raw['txs']:,} transactions; {size:,} registered "
          f"addresses on {args.backend}; chunks of {BLOCKS_PER_QUERY} blocks (logs), {BLOCKS_PER_BATCH} (blocks)")
    print(f"(b1) raw eth_getLogs, one request per chunk : {n / min(raw['b1']):9.0f} blocks/s "
          f"({min(raw['b1']):.2f} s, best of 2)")
    print(f"(b2) raw eth_getLogs, chunks in one array   : {n / min(raw['b2']):9.0f} blocks/s "
          f"({min(raw['b2']):.2f} s, best of 2)")
    print(f"(b3) raw eth_getBlockByNumber (native part) : {n / b_native:9.0f} blocks/s ({b_native:.2f} s)")
    b_traces = min(raw["b4"])
    print(f"(b4) raw trace_filter (native part, anvil's) : {n / b_traces:9.0f} blocks/s ({b_traces:.2f} s, "
          "unfiltered)")
    for label, r in (("first scan: opens every case", one), ("second scan: all already cases", two)):
        print(f"(c)  ours, {label:<32}: {n / r['seconds']:9.0f} blocks/s ({r['seconds']:.2f} s; "
              f"found {r['found']}, opened {r['opened']}, already {r['existing']}); "
              f"peak RSS {r['rss_peak_mib']:.0f} MiB (process before the scan {r['rss_before_mib']:.0f} MiB)")
    if traced:
        print(f"     under tracemalloc: peak of Python allocations during the scan {traced['traced_peak_mib']:.0f} MiB")
    best = min(one["seconds"], two["seconds"])
    ratio_logs = b_logs / best
    ratio_all = (b_logs + b_traces) / best
    print(f"ours / raw (logs + trace_filter, the same reads) = {ratio_all:.2f} "
          f"(target >= 0.50: {'OK' if ratio_all >= 0.5 else 'BELOW'}); ours / raw eth_getLogs alone = {ratio_logs:.2f}")
    return max(one["rss_peak_mib"], two["rss_peak_mib"])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--blocks", type=int, default=10_000)
    ap.add_argument("--addresses", default="1000000",
                    help="Registered addresses; a comma list (1000000,10000000) measures each on the same chain")
    ap.add_argument("--planted", type=int, default=200, help="Stranded token transfers to our addresses")
    ap.add_argument("--noise-per-block", type=int, default=5, help="Transfer logs per block to addresses not ours")
    ap.add_argument("--retired-share", type=float, default=0.01)
    ap.add_argument("--backend", choices=("postgresql", "sqlite"), default="postgresql")
    ap.add_argument("--tracemalloc", action="store_true", help="a third scan under tracemalloc (Python heap peak)")
    ap.add_argument("--child", nargs=3, metavar=("DB", "FROM", "TO"), help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        child(args.child[0], int(args.child[1]), int(args.child[2]), args.tracemalloc)
        return
    from evm_devnet import start_anvil

    sizes = [int(x) for x in args.addresses.split(",")]
    team_env()
    n_native = max(1, args.planted // 10)
    planted_to, native_to = make_addresses(args.planted), make_addresses(n_native)
    node = start_anvil(31337)
    os.environ["ANVIL_URL"] = node.url
    results = {}
    try:
        t0 = time.perf_counter()
        first, last, _token, planted = build_chain(node, args.blocks, args.noise_per_block, planted_to, native_to)
        node.rpc("anvil_mine", [hex(1)])  # the last scanned block has its confirmation
        print(f"setup: {args.blocks} blocks ({first}..{last}) with {args.noise_per_block} noise transfers each, "
              f"{len(planted_to)} stranded token transfers and {len(native_to)} native payments planted, "
              f"in {time.perf_counter() - t0:.0f} s", flush=True)
        for size in sizes:
            results[size] = measure(args, node, size, first, last, planted_to, native_to)
    finally:
        node.stop()
    peaks = {size: report(args, size, results[size], len(planted)) for size in sizes}
    if len(sizes) > 1:
        low, high = peaks[sizes[0]], peaks[sizes[-1]]
        print(f"peak RSS {low:.0f} MiB at {sizes[0]:,} addresses, {high:.0f} MiB at {sizes[-1]:,}: "
              f"{(high - low) / low:+.0%} (target: below 200 MiB, within 10 %)")


if __name__ == "__main__":
    main()
