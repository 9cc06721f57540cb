"""Issue 21, item 5: each deposit's money is its own.

Through the installed CLI on a real anvil node (PostgreSQL with real ``recover worker`` processes for
the concurrent run):

- a token sweep at an address that also holds another deposit's native value brings its own gas (a
  top-up from the gas station) and never spends that value; only a known leftover of our own earlier
  top-ups may pay its gas, and what is left over is recorded as ours;
- a batch of plans takes distinct gas-station nonces (reserved at prepare, released when a plan is
  voided, reused first), so they all sign without a re-plan; a top-up whose nonce is not reached yet
  waits (exit 9) instead of being sent;
- no case is left ``signed`` or ``broadcast`` without a job that will move it.
"""

from __future__ import annotations

import os
import signal
import subprocess
import time

import sqlalchemy as sa

from clihelp import RECOVER, finished, run, snapshot
from evm_devnet import ANVIL_MNEMONIC, deploy, fund_token, send_eth, token_transfer, transact
from evmflow import FEE_COLLECTOR, _world, cli, derive, key, open_case, register, world, world_pg  # noqa: F401

ETH = 10**18
STATION_PATH = "m/44'/60'/1'/0/0"


def station_address() -> str:
    from chains.evm.keys import derive_evm_account

    return derive_evm_account(ANVIL_MNEMONIC, STATION_PATH).address


def sql(w, text: str, **params):
    from recover.storage.db import get_engine

    with get_engine(w.db).begin() as conn:
        result = conn.execute(sa.text(text), params)
        return result.all() if result.returns_rows else None


def leftover(w, address: str) -> int:
    """What the case database records as the exchange's own native at ``address`` (0: nothing)."""
    rows = sql(w, "SELECT amount FROM gas_leftovers WHERE address_key = :a", a=address.lower())
    return int(rows[0][0]) if rows else 0


def plan_doc(w, cid) -> dict:
    return cli(w, "case", "show", str(cid))["plan"]["plan"]


def topup_nonce(w, cid) -> int | None:
    steps = [s for s in plan_doc(w, cid)["steps"] if s["role"] == "gas_topup"]
    return int(steps[0]["tx"]["nonce"]) if steps else None


def approve(w, cid):
    for name in ("bob", "carol"):
        state = cli(w, "queue", "approve", str(cid), "--key", key(name))
    assert state["status"] == "approved", state


def complete(w, cid):
    """Sign (the wallet team's wes), broadcast and track an approved case to ``completed``."""
    cli(w, "case", "sign", str(cid))
    cli(w, "case", "broadcast", str(cid))
    assert cli(w, "case", "track", str(cid))["status"] == "completed"


def receipts_of(w, cid) -> dict[str, dict]:
    """role -> receipt of the case's transactions (as mined)."""
    return {t["role"]: w.a.w3.eth.get_transaction_receipt(t["txid"])
            for t in cli(w, "case", "show", str(cid))["transactions"]}


def paid(receipt) -> int:
    return receipt["gasUsed"] * receipt["effectiveGasPrice"]


def token_case(w, token, deposit, amount, *, env=None):
    """A verified and quoted case of ``amount`` of ``token`` sent to ``deposit`` (already registered)."""
    tx = token_transfer(w.a.w3, token, w.user, deposit, amount)["transactionHash"].to_0x_hex()
    cid = open_case(w, "anvil", tx)
    cli(w, "case", "verify", str(cid), env=env)
    cli(w, "case", "quote", str(cid), env=env)
    return cid


def new_token(w, symbol="UNL"):
    token = deploy(w.a.w3, "StandardToken", "Unlisted", symbol, 6)
    fund_token(w.a.w3, token, w.user, 10**15)
    cli(w, "prices", "set", f"anvil:{token.address}", "1")
    cli(w, "prices", "set", "ETH", "3000")
    return token


# -- 1. one retired address, two deposits: each case spends only its own -----------------------------
def test_a_token_sweep_never_pays_its_gas_with_another_deposits_ether(world):
    w = world
    deposit = derive(20)
    station = station_address()
    register(w, [("anvil", deposit, "m/44'/60'/0'/0/20", "retired")])
    eth_tx = send_eth(w.a.w3, w.user, deposit, ETH // 2)["transactionHash"].to_0x_hex()
    a = open_case(w, "anvil", eth_tx)  # case A: 0.5 ETH
    assert cli(w, "case", "verify", str(a))["classification"] == "retired_address"
    token = new_token(w)
    b = token_case(w, token, deposit, 42 * 10**6)  # case B: 42 unlisted tokens at the same address
    quote_a = cli(w, "case", "quote", str(a))
    quote_b = cli(w, "case", "show", str(b))["quote"]

    # B's plan brings its own gas: the 0.5 ETH at the address are A's, not ours
    prepared = cli(w, "case", "prepare", str(b))
    assert [s["role"] for s in prepared["plan"]["steps"]] == ["gas_topup", "sweep_net", "sweep_fee"]
    gas_b = sum(int(s["tx"]["gas"]) for s in prepared["plan"]["steps"][1:]) * int(prepared["plan"]["meta"]["gas_price"])
    assert int(prepared["plan"]["steps"][0]["tx"]["value"]) == gas_b
    assert "own_native_used" not in prepared["plan"]["meta"]
    station_before = w.a.w3.eth.get_balance(station)
    approve(w, b)
    complete(w, b)
    r = receipts_of(w, b)
    left_b = gas_b - paid(r["sweep_net"]) - paid(r["sweep_fee"])
    assert left_b > 0  # the gas limit's margin, unused
    assert w.a.w3.eth.get_balance(deposit) == ETH // 2 + left_b  # A's ether untouched
    assert leftover(w, deposit) == left_b  # and the rest of B's top-up recorded as ours
    assert w.a.w3.eth.get_balance(station) == station_before - gas_b - paid(r["gas_topup"])
    assert token.functions.balanceOf(w.ret).call() == int(quote_b["net"])
    assert token.functions.balanceOf(deposit).call() == 0

    # a third deposit (C, another token) at the address: our leftover pays part of its gas, the top-up the rest
    other = new_token(w, "OTH")
    c = token_case(w, other, deposit, 7 * 10**6)
    prepared = cli(w, "case", "prepare", str(c))
    steps = prepared["plan"]["steps"]
    gas_c = sum(int(s["tx"]["gas"]) for s in steps[1:]) * int(prepared["plan"]["meta"]["gas_price"])
    assert [s["role"] for s in steps] == ["gas_topup", "sweep_net", "sweep_fee"]
    assert int(steps[0]["tx"]["value"]) == gas_c - left_b
    assert prepared["plan"]["meta"]["own_native_used"] == str(left_b)
    assert leftover(w, deposit) == 0  # consumed by C's live plan
    approve(w, c)
    complete(w, c)
    r = receipts_of(w, c)
    left_c = gas_c - paid(r["sweep_net"]) - paid(r["sweep_fee"])
    assert leftover(w, deposit) == left_c
    assert w.a.w3.eth.get_balance(deposit) == ETH // 2 + left_c

    # A: its own 0.5 ETH, to the base unit; our leftover stays where it is
    ret_before, fees_before = w.a.w3.eth.get_balance(w.ret), w.a.w3.eth.get_balance(FEE_COLLECTOR)
    station_before = w.a.w3.eth.get_balance(station)
    cli(w, "case", "prepare", str(a))
    approve(w, a)
    complete(w, a)
    assert w.a.w3.eth.get_balance(w.ret) - ret_before == int(quote_a["net"])
    assert w.a.w3.eth.get_balance(FEE_COLLECTOR) - fees_before == int(quote_a["fee"])
    assert w.a.w3.eth.get_balance(deposit) == left_c == leftover(w, deposit)
    assert w.a.w3.eth.get_balance(station) == station_before  # a native sweep pays its own gas


def deposit_gas(quote: dict) -> int:
    """The gas a quoted token sweep's own transactions may burn at the deposit address (limit x price)."""
    params = quote["details"]["cost_estimate"]["params"]
    return sum(int(s["gas"]) for s in params["steps"] if s["role"] != "gas_topup") * int(params["gas_price"])


def test_a_quote_that_counted_on_our_leftover_is_not_carried_out_with_another_deposits_ether(world):
    """Two token cases at one address, both quoted while our leftover there covered the gas of one of
    them: the first plan consumes it; another deposit's ether arrives; the second plan is refused
    (re-quote, exit 7) instead of burning that ether: nothing stored, nothing moved."""
    w = world
    deposit = derive(22)
    register(w, [("anvil", deposit, "m/44'/60'/0'/0/22", "retired")])
    token = new_token(w)
    first = token_case(w, token, deposit, 50 * 10**6)
    cli(w, "case", "prepare", str(first))
    approve(w, first)
    complete(w, first)
    left = leftover(w, deposit)
    assert left > 0 and w.a.w3.eth.get_balance(deposit) == left
    txs = [token_transfer(w.a.w3, token, w.user, deposit, n * 10**6)["transactionHash"].to_0x_hex() for n in (9, 8)]
    second, third = (open_case(w, "anvil", tx) for tx in txs)
    for cid in (second, third):  # quoted in one block: at one gas price
        cli(w, "case", "verify", str(cid))
        cli(w, "case", "quote", str(cid))
    needs = [deposit_gas(cli(w, "case", "show", str(c))["quote"]) for c in (second, third)]
    # our leftover there grows to what one sweep needs (a top-up of ours: on chain and in the book)
    own = max(needs)
    w.a.set_balance(deposit, own)  # no block is mined: the gas price of the quotes stays
    sql(w, "UPDATE gas_leftovers SET amount = :v WHERE address_key = :a", v=str(own), a=deposit.lower())
    for cid in (second, third):
        params = cli(w, "case", "quote", str(cid))["cost_estimate"]["params"]
        assert params["topup"] is False  # each one alone could be paid with our own leftover
    prepared = cli(w, "case", "prepare", str(second))
    assert [s["role"] for s in prepared["plan"]["steps"]] == ["sweep_net", "sweep_fee"]
    assert prepared["plan"]["meta"]["own_native_used"] == str(needs[0])
    assert leftover(w, deposit) == own - needs[0] < needs[1]
    send_eth(w.a.w3, w.user, deposit, ETH)  # another deposit's ether arrives
    before, onchain = snapshot(w.db), w.a.w3.eth.get_balance(deposit)
    err = cli(w, "case", "prepare", str(third), expect=7)
    assert err["code"] == "requote" and "top-up" in err["message"]
    assert snapshot(w.db) == before and w.a.w3.eth.get_balance(deposit) == onchain
    cli(w, "case", "quote", str(third))  # quoted again: with a top-up of its own now
    prepared = cli(w, "case", "prepare", str(third))
    assert prepared["plan"]["steps"][0]["role"] == "gas_topup"
    rest = own - needs[0]  # what was left of ours there: the third plan counts on it, the top-up is the rest
    assert prepared["plan"]["meta"].get("own_native_used", "0") == str(rest) and leftover(w, deposit) == 0
    cli(w, "case", "quote", str(second))  # voids the second plan: its share of our leftover is back
    assert leftover(w, deposit) == needs[0]
    assert sql(w, "SELECT outcome FROM gas_reservations WHERE case_id = :c", c=second) == [("voided",)]


def test_two_prepares_at_once_take_two_station_nonces(world_pg):
    """Two specialists prepare two cases at the same moment on PostgreSQL: the gas book's lock on the
    station makes one wait for the other, and they take two nonces."""
    w = world_pg
    token = new_token(w)
    deposits = [derive(i) for i in (29, 31)]
    register(w, [("anvil", d, f"m/44'/60'/0'/0/{i}", "active") for d, i in zip(deposits, (29, 31))])
    cases = [token_case(w, token, d, 100 * 10**6) for d in deposits]
    base = w.a.w3.eth.get_transaction_count(station_address(), "pending")
    import team

    # each one pauses 1.5 s after reading the gas book: without the lock both would read the same free nonce
    env = {**os.environ, **team.env(), "RECOVER_DB_URL": w.db, "RECOVER_TEST_PAUSE": "gas_book_read:1500"}
    procs = [subprocess.Popen([RECOVER, "case", "prepare", str(c), "--json"], env=env, stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True) for c in cases]
    results = [finished(p, 180) for p in procs]
    assert [code for code, _, _ in results] == [0, 0], results
    assert sorted(topup_nonce(w, c) for c in cases) == [base, base + 1]


# -- 2. gas-station nonces reserved at prepare ---------------------------------------------------------
def test_a_top_up_whose_nonce_is_not_reached_waits_and_sends_nothing(world):
    w = world
    station = station_address()
    token = new_token(w)
    deposits = [derive(i) for i in (23, 24)]
    register(w, [("anvil", d, f"m/44'/60'/0'/0/{i}", "active") for d, i in zip(deposits, (23, 24))])
    first, second = (token_case(w, token, d, 100 * 10**6) for d in deposits)
    base = w.a.w3.eth.get_transaction_count(station, "pending")
    for cid in (first, second):
        cli(w, "case", "prepare", str(cid))
    assert (topup_nonce(w, first), topup_nonce(w, second)) == (base, base + 1)
    for cid in (first, second):
        approve(w, cid)
        cli(w, "case", "sign", str(cid))  # both sign: no re-plan
    txids = [t["txid"] for t in cli(w, "case", "show", str(second))["transactions"]]
    before = snapshot(w.db)
    err = cli(w, "case", "broadcast", str(second), expect=9)
    assert err["code"] == "nonce_not_reached" and f"case {first}" in err["message"]
    assert snapshot(w.db) == before
    assert w.a.w3.eth.get_transaction_count(station, "pending") == base  # nothing sent, nothing queued
    assert all(w.a.rpc("eth_getTransactionByHash", [t]) is None for t in txids)
    cli(w, "case", "broadcast", str(first))
    cli(w, "case", "broadcast", str(second))
    for cid in (first, second):
        assert cli(w, "case", "track", str(cid))["status"] == "completed"
    assert w.a.w3.eth.get_transaction_count(station) == base + 2


def test_a_rejected_plan_frees_its_nonce_and_a_taken_one_replans(world):
    w = world
    station = station_address()
    token = new_token(w)
    idx = (25, 26, 27)
    deposits = [derive(i) for i in idx]
    register(w, [("anvil", d, f"m/44'/60'/0'/0/{i}", "active") for d, i in zip(deposits, idx)])
    c1, c2, c3 = (token_case(w, token, d, 100 * 10**6) for d in deposits)
    base = w.a.w3.eth.get_transaction_count(station, "pending")
    cli(w, "case", "prepare", str(c1))
    cli(w, "case", "prepare", str(c2))
    assert (topup_nonce(w, c1), topup_nonce(w, c2)) == (base, base + 1)
    # a rejection voids c1's plan and frees its nonce in the same transaction: c3 takes it
    cli(w, "queue", "reject", str(c1), "--key", key("bob"), "--reason", "not this one")
    assert sql(w, "SELECT released_at IS NOT NULL FROM gas_reservations WHERE case_id = :c", c=c1) == [(True,)]
    cli(w, "case", "prepare", str(c3))
    assert topup_nonce(w, c3) == base
    approve(w, c2)
    approve(w, c3)
    # someone else uses the station's nonce c3 reserved (a transaction sent by hand)
    w.a.impersonate(station)
    w.a.w3.eth.send_transaction({"from": station, "to": station, "value": 0})
    w.a.stop_impersonating(station)
    before, station_nonce = snapshot(w.db), w.a.w3.eth.get_transaction_count(station)
    err = cli(w, "case", "sign", str(c3), expect=5)
    assert err["code"] == "replan_needed" and "nonce" in err["message"]
    assert w.a.w3.eth.get_transaction_count(station) == station_nonce
    doc = cli(w, "case", "show", str(c3))
    assert doc["status"] == "quoted" and doc["plan"] is None and doc["refusal"]["code"] == "nonce_taken"
    assert snapshot(w.db) != before  # the re-plan is recorded (and c3's reservation released with it)
    assert sql(w, "SELECT count(*) FROM gas_reservations WHERE case_id = :c AND released_at IS NULL", c=c3) == [(0,)]
    complete(w, c2)  # base + 1: the next nonce now, unaffected
    cli(w, "case", "prepare", str(c3))
    assert topup_nonce(w, c3) == base + 2
    approve(w, c3)
    complete(w, c3)
    assert token.functions.balanceOf(deposits[2]).call() == 0 == token.functions.balanceOf(deposits[1]).call()
    assert token.functions.balanceOf(deposits[0]).call() == 100 * 10**6  # the rejected case's deposit


# -- 3. a batch on PostgreSQL with three workers -------------------------------------------------------
BATCH = 30



def _workers(w, n: int, *extra: str) -> list[subprocess.Popen]:
    import team

    env = {**os.environ, **team.env(), "RECOVER_DB_URL": w.db}
    return [subprocess.Popen([RECOVER, "worker", "--poll", "0.2", "--json", *extra], env=env,
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for _ in range(n)]


def stranded(w) -> list[int]:
    from recover.storage.db import session_scope
    from recover.storage.jobs import stranded_cases

    with session_scope(w.db) as s:
        return stranded_cases(s)


def count(w, action: str) -> dict[int, int]:
    return dict(sql(w, "SELECT case_id, count(*) FROM audit_events WHERE action = :a GROUP BY case_id", a=action))


def _keys(*names):
    """The team's signing keys, opened once (each key file costs an Argon2id derivation)."""
    from recover.authority.keyfile import load_signing_key
    from team import team

    return [load_signing_key(team().keys[n]) for n in names]


def test_a_batch_takes_distinct_station_nonces_and_three_workers_finish_it(world_pg):
    """The steps this test is about run through the CLI (prepare, re-quote); the rest of each case's
    life before the workers (open, verify, quote, approvals, signing) in-process, keys opened once."""
    from recover import api

    w = world_pg
    spec, bob, carol, wes = _keys("spec", "bob", "carol", "wes")
    station = station_address()
    token = new_token(w)
    idx = list(range(200, 200 + BATCH + 1))
    deposits = {i: derive(i) for i in idx}
    register(w, [("anvil", deposits[i], f"m/44'/60'/0'/0/{i}", "active") for i in idx])
    cases = []
    for n, i in enumerate(idx):
        tx = token_transfer(w.a.w3, token, w.user, deposits[i], (100 + n) * 10**6)["transactionHash"].to_0x_hex()
        cid = api.open_case("anvil", tx, return_address=w.ret, db=w.db, key=spec).id
        api.verify_case(cid, db=w.db, key=spec)
        api.quote_case(cid, db=w.db, key=spec)
        cases.append(cid)
    batch, extra = cases[:BATCH], cases[BATCH]
    base = w.a.w3.eth.get_transaction_count(station, "pending")
    for cid in batch:
        cli(w, "case", "prepare", str(cid))
    nonces = {cid: topup_nonce(w, cid) for cid in batch}
    assert sorted(nonces.values()) == list(range(base, base + BATCH))
    # a re-quote voids a plan and releases its nonce; the next prepare (another case) takes it first
    requoted = batch[BATCH // 2]
    cli(w, "case", "quote", str(requoted))
    assert sql(w, "SELECT nonce, released_at IS NOT NULL, outcome FROM gas_reservations WHERE case_id = :c",
               c=requoted) == [(nonces[requoted], True, "voided")]
    cli(w, "case", "prepare", str(extra))
    assert topup_nonce(w, extra) == nonces[requoted]
    cli(w, "case", "prepare", str(requoted))
    assert topup_nonce(w, requoted) == base + BATCH
    everyone = batch + [extra]
    for cid in everyone:
        api.decide(cid, "approve", db=w.db, key=bob)
        api.decide(cid, "approve", db=w.db, key=carol)
        api.sign_case(cid, db=w.db, key=wes)  # every one signs: no nonce conflict, no re-plan
    assert {c["status"] for c in cli(w, "case", "list") if c["id"] in everyone} == {"signed"}
    assert count(w, "replan_needed") == {}
    workers = _workers(w, 3)
    try:
        deadline = time.monotonic() + 600
        while True:
            statuses = dict(sql(w, "SELECT id, status FROM cases"))
            assert stranded(w) == []  # at every moment: a signed or broadcast case has its job
            if all(statuses[c] == "completed" for c in everyone):
                break
            assert time.monotonic() < deadline, statuses
            assert all(p.poll() is None for p in workers)
            time.sleep(0.5)
    finally:
        for p in workers:
            p.send_signal(signal.SIGTERM)
        results = [finished(p, 60) for p in workers]
    assert all(code == 0 for code, _, _ in results), results
    assert count(w, "replan_needed") == {}
    assert count(w, "completed") == {c: 1 for c in everyone}
    assert sum(count(w, "tx_sent").values()) == 3 * len(everyone)  # every effect once
    assert w.a.w3.eth.get_transaction_count(station) == base + len(everyone)
    assert stranded(w) == []
    for i in idx:
        assert token.functions.balanceOf(deposits[i]).call() == 0
        assert w.a.w3.eth.get_balance(deposits[i]) == leftover(w, deposits[i]) > 0
    nets = sum(int(cli(w, "case", "show", str(c))["quote"]["net"]) for c in everyone)
    assert token.functions.balanceOf(w.ret).call() == nets


# -- 4. the stranded-case check and refusals that leave the job pending -------------------------------
def test_a_refused_broadcast_keeps_its_job_and_a_lost_job_is_recreated(world):
    w = world
    station = station_address()
    deposit = derive(28)
    register(w, [("anvil", deposit, "m/44'/60'/0'/0/28", "active")])
    token = deploy(w.a.w3, "PausableToken", "Pausable", "PAU", 6)
    fund_token(w.a.w3, token, w.user, 10**12)
    cli(w, "prices", "set", f"anvil:{token.address}", "1")
    cli(w, "prices", "set", "ETH", "3000")
    cid = token_case(w, token, deposit, 500 * 10**6)
    cli(w, "case", "prepare", str(cid))
    approve(w, cid)
    cli(w, "case", "sign", str(cid))
    transact(token.functions.pause(), sender=w.a.accounts[0])  # frozen after signing
    nonce = w.a.w3.eth.get_transaction_count(station)
    r = run("worker", "--once", "--json", db=w.db)
    assert r.code == 0, r.err
    assert r.json["by_kind"]["broadcast"] == 1  # (and the verify job of the case, verified by hand: nothing to do)
    assert [e["error"].split(":")[0] for e in r.json["errors"]] == ["would_fail"]
    assert w.a.w3.eth.get_transaction_count(station) == nonce  # nothing sent
    assert cli(w, "case", "show", str(cid))["status"] == "signed"
    jobs = sql(w, "SELECT kind, done_at IS NULL, last_error FROM jobs WHERE case_id = :c AND kind = 'broadcast'", c=cid)
    assert [(k, pending) for k, pending, _ in jobs] == [("broadcast", True)] and "would_fail" in jobs[0][2]
    assert stranded(w) == []
    transact(token.functions.unpause(), sender=w.a.accounts[0])
    # the job is lost (deleted by hand): the worker's check finds the case and gives it a job again
    sql(w, "DELETE FROM jobs WHERE case_id = :c", c=cid)
    assert stranded(w) == [cid]
    r = run("worker", "--once", "--json", db=w.db)
    assert r.code == 0, r.err
    assert r.json["by_kind"] == {"broadcast": 1, "track": 1} and r.json["requeued"] == [cid], r.json
    assert cli(w, "case", "show", str(cid))["status"] == "completed"
    assert stranded(w) == []
    assert token.functions.balanceOf(deposit).call() == 0
    assert sql(w, "SELECT kind, done_at IS NOT NULL FROM jobs WHERE case_id = :c ORDER BY id", c=cid) == \
        [("broadcast", True), ("track", True)]


def test_a_job_enqueued_again_while_leased_stays_due_and_stranded_cases_lists_jobless_ones(db_url):
    """The worker's bookkeeping on both databases: a job whose case came back to its state while the job
    was leased (its ``due_at`` moved past the lease) is not marked done when the old run finishes; a
    signed or broadcast case without a pending job is listed by ``stranded_cases`` (an open one is not:
    a person can verify it) and given its job again by ``requeue_stranded``."""
    from recover.storage.db import session_scope
    from recover.storage.jobs import claim, enqueue_for, finish, requeue_stranded, stranded_cases
    from recover.storage.models import Case, Job

    with session_scope(db_url) as s:
        ids = []
        for n, status in enumerate(("signed", "broadcast", "open", "verified")):
            case = Case(network="anvil", chain="eip155:31337", txid=f"0x{n:064x}", claim_scope="*|*", status=status,
                        opened_by="test")
            s.add(case)
            s.flush()
            enqueue_for(s, case.id, status)
            ids.append(case.id)
    signed, broadcast, opened, _ = ids
    factory = lambda: session_scope(db_url)  # noqa: E731
    first = claim(factory, "w1", 60)
    assert first.case_id == signed
    time.sleep(0.01)
    with session_scope(db_url) as s:
        enqueue_for(s, signed, "signed")  # e.g. re-signed meanwhile: the job is due again now
    assert finish(factory, first, "w1", later_seconds=None, error=None)
    with session_scope(db_url) as s:
        job = s.exec(sa.select(Job).where(Job.case_id == signed)).scalars().one()
        assert job.done_at is None and job.leased_by is None
        assert stranded_cases(s) == []
    while (again := claim(factory, "w2", 60)).job_id != first.job_id:  # the others: due again in an hour
        finish(factory, again, "w2", later_seconds=3600, error=None)
    assert finish(factory, again, "w2", later_seconds=None, error=None)
    with session_scope(db_url) as s:
        assert stranded_cases(s) == [signed]
        s.execute(sa.delete(Job).where(Job.case_id.in_([broadcast, opened])))
        assert stranded_cases(s) == [signed, broadcast]
    assert requeue_stranded(factory, worker="w3") == [signed, broadcast]
    with session_scope(db_url) as s:
        assert stranded_cases(s) == []
        jobs = s.exec(sa.select(Job.case_id, Job.kind, Job.last_error).where(Job.done_at.is_(None))
                      .order_by(Job.case_id)).all()
    assert [(c, k) for c, k, _ in jobs] == [(signed, "broadcast"), (broadcast, "track")]
    assert jobs[0][2] == "requeued by w3: the signed case had no pending job"
