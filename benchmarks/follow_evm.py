"""`recover scan --follow` against an anvil producing 10 blocks/s of 50 transfers each: does it keep up?

Run by hand: `.venv/bin/python benchmarks/follow_evm.py [--seconds 60] [--blocks-per-second 10]
[--transfers-per-block 50] [--addresses 1000000] [--backend postgresql|sqlite]`.  About 2 minutes.

Setup (not timed): a private anvil with two StandardToken contracts ("Stranded", not listed; "Noise"),
a case database with ADDRESSES registered addresses made by the server (as in scan_evm.py) plus the
ones the producer pays, and a first `recover scan` that records where the follower starts.

Then, at once:
- the producer: every 1/BLOCKS_PER_SECOND s, TRANSFERS_PER_BLOCK Noise transfers to random addresses
  (one JSON array of eth_sendTransaction) and `evm_mine`; one transfer a second goes instead to one of
  our addresses in the Stranded token (a case to open);
- the follower: ONE `recover scan --network anvil --follow --json --poll 0.1` process, whose JSON lines
  (one per round: blocks, cases opened, ``lag`` = the node's newest block minus the last block scanned)
  are read as they come.
After SECONDS the producer stops; the follower must catch up (lag 0: the anvil network file asks one
confirmation) and is stopped with SIGTERM.  Reported: blocks and transfers the producer made per
second (the machine may not reach the target: the figure says what was offered), the follower's lag
over the run (median, 95th percentile, max, in blocks and in seconds of production), the time it took
to catch up after the producer stopped, and whether every planted deposit is exactly one case.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import threading
import time

import requests
from _common import ROOT, case_database, rpc_batch, team_env

SEL_TRANSFER = "0xa9059cbb"


def _word(address: str) -> str:
    return address.lower()[2:].rjust(64, "0")


def produce(node, noise, stranded, sender: str, ours: list[str], seconds: float, bps: float, per_block: int,
            stop: threading.Event, out: dict) -> None:
    """The producer thread: blocks of transfers at ``bps`` blocks/s for ``seconds``."""
    session = requests.Session()
    nonce = node.w3.eth.get_transaction_count(sender)
    planted, blocks, transfers = [], 0, 0
    t0 = time.perf_counter()
    next_plant = t0
    while not stop.is_set() and time.perf_counter() - t0 < seconds:
        due = t0 + blocks / bps
        if time.perf_counter() < due:
            time.sleep(due - time.perf_counter())
        calls, plant = [], time.perf_counter() >= next_plant
        for i in range(per_block):
            to, token = ("0x" + os.urandom(20).hex(), noise)
            if plant and i == 0:
                to, token = ours[len(planted) % len(ours)], stranded
            calls.append(("eth_sendTransaction", [{"from": sender, "nonce": hex(nonce), "gas": hex(80_000),
                                                   "to": token.address,
                                                   "data": SEL_TRANSFER + _word(to) + hex(1000 + nonce)[2:].rjust(64, "0")}]))
            nonce += 1
        hashes = rpc_batch(session, node.url, calls)
        if plant:
            planted.append(hashes[0])
            next_plant += 1.0
        node.rpc("evm_mine", [])
        blocks += 1
        transfers += per_block
    out.update(blocks=blocks, transfers=transfers, seconds=time.perf_counter() - t0, planted=planted,
               last=node.w3.eth.block_number)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--seconds", type=float, default=60)
    ap.add_argument("--blocks-per-second", type=float, default=10)
    ap.add_argument("--transfers-per-block", type=int, default=50)
    ap.add_argument("--addresses", type=int, default=1_000_000)
    ap.add_argument("--backend", choices=("postgresql", "sqlite"), default="postgresql")
    args = ap.parse_args()

    from evm_devnet import deploy, fund_token, start_anvil
    from scan_evm import insert_addresses, make_addresses

    import sqlalchemy as sa

    import team
    from clihelp import RECOVER
    from recover.storage.db import get_engine

    team_env()
    node = start_anvil(31337)
    os.environ["ANVIL_URL"] = node.url
    try:
        w3 = node.w3
        stranded = deploy(w3, "StandardToken", "Stranded", "STR", 6)
        noise = deploy(w3, "StandardToken", "Noise", "NOI", 6)
        sender = node.accounts[0]
        fund_token(w3, noise, sender, 10**18)
        fund_token(w3, stranded, sender, 10**18)
        ours = make_addresses(50)
        node.rpc("evm_setAutomine", [False])
        with case_database(args.backend) as db_url:
            insert_addresses(db_url, args.addresses - len(ours), 0.01, ours, [])
            env = {**os.environ, **team.env(), "RECOVER_DB_URL": db_url}
            start = w3.eth.block_number
            subprocess.run([RECOVER, "scan", "--network", "anvil", "--from-block", str(start), "--json"], env=env,
                           check=True, capture_output=True)
            follower = subprocess.Popen([RECOVER, "scan", "--network", "anvil", "--follow", "--poll", "0.1", "--json"],
                                        env=env, text=True, stdout=subprocess.PIPE, stderr=subprocess.PIPE, cwd=ROOT)
            rounds: list[tuple[float, dict]] = []

            def read():
                for line in follower.stdout:
                    if line.strip():
                        rounds.append((time.perf_counter(), json.loads(line)))

            reader = threading.Thread(target=read, daemon=True)
            reader.start()
            time.sleep(2)  # the follower's start-up (imports, key opening) is not what is measured
            made: dict = {}
            stop = threading.Event()
            t_start = time.perf_counter()
            producer = threading.Thread(target=produce, args=(node, noise, stranded, sender, ours, args.seconds,
                                                              args.blocks_per_second, args.transfers_per_block,
                                                              stop, made))
            producer.start()
            producer.join()
            t_stop = time.perf_counter()
            caught = None
            while time.perf_counter() - t_stop < 300:
                done = [r for _, r in rounds if "to_block" in r and r["to_block"] >= made["last"]]
                if done:
                    caught = next(t for t, r in rounds if "to_block" in r and r["to_block"] >= made["last"])
                    break
                if follower.poll() is not None:
                    raise RuntimeError(f"the follower exited: {follower.stderr.read()[-2000:]}")
                time.sleep(0.05)
            follower.terminate()
            follower.wait(timeout=60)
            reader.join(timeout=10)
            with get_engine(db_url).connect() as conn:
                cases = dict(conn.execute(sa.text("SELECT txid, count(*) FROM cases GROUP BY txid")).all())
    finally:
        node.stop()

    during = [r["lag"] for t, r in rounds if t_start <= t <= t_stop and r.get("lag") is not None]
    bps = made["blocks"] / made["seconds"]
    q = statistics.quantiles(during, n=20) if len(during) >= 2 else during * 19
    print(f"producer: {made['blocks']} blocks, {made['transfers']:,} transfers in {made['seconds']:.1f} s = "
          f"{bps:.1f} blocks/s, {made['transfers'] / made['seconds']:.0f} transfers/s "
          f"(target {args.blocks_per_second:g} x {args.transfers_per_block}); {len(made['planted'])} planted; "
          f"{args.addresses:,} registered addresses on {args.backend}")
    print(f"follower: {len(during)} rounds while producing; lag median {statistics.median(during):.0f} blocks, "
          f"p95 {q[18]:.0f}, max {max(during)} ({max(during) / bps:.1f} s of production)")
    print(f"caught up {caught - t_stop:.2f} s after the producer stopped" if caught else "DID NOT CATCH UP in 300 s")
    exact = all(cases.get(h) == 1 for h in made["planted"]) and len(cases) == len(made["planted"])
    print(f"cases: {len(cases)} for {len(made['planted'])} planted deposits, each once: {'OK' if exact else 'WRONG'}")


if __name__ == "__main__":
    main()
