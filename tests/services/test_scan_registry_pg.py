"""Issue 27: a scan with 2,000,000 registered addresses on PostgreSQL finds exactly the planted deposits,
without loading the registry (the scan process's peak memory stays that of a small registry).

The registry is filled server-side (``generate_series``: random-looking 40-hex-digit addresses, 1 %
retired), as an exchange's would be; the addresses the test pays are registered the normal way (an
admin-signed ``addresses import``).  On chain: stranded deposits to our addresses (an unlisted token
to active and retired ones, native value to a retired one), deposits that are not stranded (a listed
token and native value to an active address), and noise to addresses that are not ours."""

from __future__ import annotations

import json
import os
import subprocess
import time

import sqlalchemy as sa
import team
from clihelp import RECOVER
from evm_devnet import deploy, fund_token, token_transfer
from evmflow import _override_config, derive, world_pg  # noqa: F401

REGISTERED = 2_000_000


def _fill_registry(url: str, n: int) -> None:
    from recover.storage.db import get_engine

    with get_engine(url).begin() as conn:
        conn.execute(sa.text(
            "INSERT INTO deposit_addresses (network, address, address_key, derivation_path, account, status, kind, "
            "created_at) SELECT 'anvil', a, a, 'm/44''/60''/7''/0/' || i, 'bulk-' || i, "
            "CASE WHEN i % 100 = 0 THEN 'retired' ELSE 'active' END, 'deposit', now() "
            "FROM (SELECT i, '0x' || md5(i::text) || substr(md5('x' || i), 1, 8) AS a "
            "FROM generate_series(1, :n) AS i) s"), {"n": n})
        conn.execute(sa.text("ANALYZE deposit_addresses"))


def test_a_scan_of_two_million_registered_addresses_finds_exactly_the_planted_deposits(world_pg):
    w = world_pg
    listed = deploy(w.a.w3, "StandardToken", "Listed", "LST", 6)
    env = _override_config(w, listed=listed.address)
    unlisted = deploy(w.a.w3, "StandardToken", "Unlisted", "UNL", 6)
    for token in (listed, unlisted):
        fund_token(w.a.w3, token, w.user, 10**12)
    ours = {i: derive(i) for i in range(20, 26)}
    retired = {21, 23}
    csv = w.tmp / "addresses.csv"
    csv.write_text("network,address,derivation_path,account,status\n" + "".join(
        f"anvil,{a},m/44'/60'/0'/0/{i},acct-{i},{'retired' if i in retired else 'active'}\n" for i, a in ours.items()))
    from clihelp import run

    assert run("addresses", "import", str(csv), db=w.db, env=env).code == 0
    _fill_registry(w.db, REGISTERED)
    start = w.a.w3.eth.block_number + 1
    tx = lambda r: r["transactionHash"].to_0x_hex()  # noqa: E731
    planted = {tx(token_transfer(w.a.w3, unlisted, w.user, ours[i], 10**6 + i)): f"acct-{i}" for i in (20, 21, 22, 24)}
    planted[w.a.w3.eth.send_transaction({"from": w.user, "to": ours[23], "value": 10**16}).to_0x_hex()] = "acct-23"
    token_transfer(w.a.w3, listed, w.user, ours[25], 10**6)  # a listed token to an active address: credited
    w.a.w3.eth.send_transaction({"from": w.user, "to": ours[24], "value": 10**16})  # native to an active one
    for i in range(40, 46):  # not ours
        token_transfer(w.a.w3, unlisted, w.user, derive(i), 10**6)
        w.a.w3.eth.send_transaction({"from": w.user, "to": derive(i), "value": 10**15})
    # held 2 s where it records the chunk (after matching and opening its cases): meanwhile its memory's
    # high-water mark is read from /proc (VmHWM: this program's own, unlike getrusage's ru_maxrss, which
    # keeps the forking test process's size across exec)
    with_scan = {**os.environ, **team.env(), **env, "RECOVER_DB_URL": w.db, "RECOVER_TEST_PAUSE": "scan_state_saving:2000"}
    proc = subprocess.Popen([RECOVER, "scan", "--network", "anvil", "--from-block", str(start), "--json",
                             "--key", team.team().key("spec")], env=with_scan, text=True, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE)
    peak_kib = 0
    while proc.poll() is None:
        try:
            status = open(f"/proc/{proc.pid}/status").read()
        except OSError:
            break
        peak_kib = max([peak_kib] + [int(line.split()[1]) for line in status.splitlines() if line.startswith("VmHWM:")])
        time.sleep(0.05)
    out, err = proc.communicate(timeout=300)
    assert proc.returncode == 0, err
    # matched in the database chunk by chunk: the process holds what the chain showed, not 2,000,000 keys
    # (loading them took over 300 MiB); 200 MiB is the bound for a scan's peak memory
    assert 50 * 1024 < peak_kib < 200 * 1024, f"peak RSS {peak_kib // 1024} MiB"
    from recover.storage.db import get_engine

    with get_engine(w.db).connect() as conn:
        assert conn.execute(sa.text("SELECT count(*) FROM deposit_addresses")).scalar() == REGISTERED + len(ours)
        cases = dict(conn.execute(sa.text("SELECT txid, credit_account FROM cases")).all())
    assert cases == planted
    report = json.loads(out)
    assert report["found"] == len(planted) and len(report["opened"]) == len(planted) and report["errors"] == []
