"""`recover demo`: the main job end to end on an in-process EVM chain (web3's eth-tester).

A temporary SQLite database, an unlisted token deployed on the chain, a user's misdeposit to one of
our deposit addresses, then every step a real case takes: register the address, open, verify on
chain, price, quote, prepare (simulated), a refused self-approval, two enrolled approvers approve,
sign with the HD seed, broadcast, track to completed, and the final balances.  Authority is real too:
a trust root with two admins enrolls every operator, and each action is a statement signed by its
operator's key.  Nothing is pretended: every number comes
from the chain or the database.  The seed is the public development mnemonic; never use it for money.
"""

from __future__ import annotations

import os
import tempfile
from contextlib import contextmanager
from pathlib import Path
from typing import Callable

from recover import api, errors
from recover.networks.chainio import use_adapter_factory
from recover.networks.registry import get_network

# Imports inside functions: the EVM family and its in-process chain load only when the demo runs.

DEMO_SEED = "test test test test test test test test test test test junk"  # public dev mnemonic
DEMO_PASSPHRASE = "demo passphrase, never for real keys"  # the demo's throwaway approver key files
DEPOSIT_PATH = "m/44'/60'/0'/0/7"
NETWORK = "ethtester"


@contextmanager
def demo_env(**values):
    """Set environment variables for the run, and restore them after (the CLI process goes on)."""
    old = {k: os.environ.get(k) for k in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for k, v in old.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


def run_demo(say: Callable[[str], None] = print) -> dict:
    from chains.evm import devchain
    from chains.evm.devchain import DevChain
    from chains.evm.keys import derive_evm_account
    net = get_network(NETWORK)
    use_adapter_factory(devchain.adapter_for)  # the network's node is the in-process chain
    try:
        with tempfile.TemporaryDirectory(prefix="recover-demo-") as tmp, \
                demo_env(RECOVER_SEED=DEMO_SEED, RECOVER_KEY_PASSPHRASE=DEMO_PASSPHRASE, RECOVER_TRUST_ROOT="",
                         RECOVER_OPERATOR_KEY=""):
            return _run(net, Path(tmp), DevChain(), derive_evm_account, say)
    finally:
        use_adapter_factory(None)
        devchain.reset()


def api_errors():
    return errors


def demo_authority(tmp: Path, db: str, say: Callable[[str], None]) -> tuple[list[Path], dict[str, Path]]:
    """A trust root with two admins (quorum 2), and four enrolled operators: a specialist who also
    approves (to show that nobody approves their own case), a pricer and two approvers."""
    root = api.trust_init(2, 2, tmp)
    os.environ["RECOVER_TRUST_ROOT"] = root["trust_root"]
    admins = [Path(p) for p in root["admin_keys"]]
    ops = {}
    for name, roles, person in (("sam", "specialist,approver", "sam"), ("pia", "pricer", "pia"),
                                ("ana", "approver", "ana"), ("ben", "approver,senior", "ben")):
        path = tmp / f"{name}.key"
        public = api.operators_keygen(name, path)
        api.operators_enroll(name, public, roles, person, admins, db=db)
        ops[name] = path
    say("3. trust: a trust root with 2 admins (quorum 2); enrolled sam (specialist, approver), pia (pricer), "
        "ana (approver) and ben (approver, senior), each enrollment signed by both admins")
    return admins, ops


def _run(net, tmp: Path, chain, derive_evm_account, say: Callable[[str], None]) -> dict:
    """Every step of the demo on ``chain`` (a :class:`chains.evm.devchain.DevChain`), data under ``tmp``."""
    db = f"sqlite:///{tmp / 'demo.db'}"
    say(f"1. init: case database at {db} (schema {api.init(db)})")
    user, ret = chain.accounts[1], chain.accounts[2]
    deposit = derive_evm_account(DEMO_SEED, DEPOSIT_PATH).address
    station = derive_evm_account(DEMO_SEED, net.gas_station_path).address
    chain.send_native(chain.accounts[3], station, 10**18)
    token = chain.deploy_token("Unlisted Demo Token", "UDT", 6)
    chain.mint(token, user, 10_000 * 10**6)
    tx = chain.transfer(token, user, deposit, 2_500 * 10**6)
    say(f"2. chain: token {token.address} deployed; user {user} sent 2500 UDT to our deposit address "
        f"{deposit} in {tx}")
    admins, ops = demo_authority(tmp, db, say)
    csv = tmp / "addresses.csv"
    csv.write_text(f"network,address,derivation_path,account\n{NETWORK},{deposit},{DEPOSIT_PATH},user-7\n")
    api.import_addresses(csv, admin_keys=admins, db=db)
    say(f"4. addresses: {deposit} registered at {DEPOSIT_PATH} by a statement both admins signed")
    case = api.open_case(NETWORK, tx, deposit_address=deposit, return_address=ret, claimant="demo-user",
                         db=db, key=ops["sam"])
    say(f"5. case open: case {case.id}, return address {ret}, claim signed by sam (specialist)")
    result = api.verify_case(case.id, db=db, key=ops["sam"])
    say(f"6. verify: {result.message}")
    api.set_price(f"{NETWORK}:{token.address}", "1.00", db=db, key=ops["pia"])
    api.set_price("ETH", "3000", db=db, key=ops["pia"])
    q = api.quote_case(case.id, db=db, key=ops["sam"]).quote
    say(f"7. quote (prices signed by pia, pricer): gross {q.gross}, fee {q.fee}, network cost "
        f"{q.network_cost_in_asset} (in UDT), net {q.net} base units (6 decimals); value {q.value_usd} USD")
    for line in q.lines:
        say(f"     {line}")
    plan = api.prepare_case(case.id, db=db, key=ops["sam"])
    say(f"8. prepare: plan {plan.plan_hash[:16]}… with steps "
        + ", ".join(s["role"] for s in plan.plan["steps"]) + " (each simulated), signed by sam")
    try:
        api.decide(case.id, "approve", db=db, key=ops["sam"])
    except api_errors().PolicyRefused as exc:
        say(f"9. self-approval refused ({exc.code}): {exc}")
    else:  # pragma: no cover - the demo would be lying
        raise RuntimeError("the preparer's own approval was accepted")
    for name in ("ana", "ben"):
        state = api.decide(case.id, "approve", db=db, key=ops[name])
    say(f"10. approvals: {', '.join(state.counted)} signed the plan hash ({state.tier.describe()})")
    signed = api.sign_case(case.id, db=db, key=ops["ana"])
    say(f"11. sign: {len(signed)} transactions signed with keys derived from the HD seed, after the signer "
        "re-derived destination, amounts, keys and approvals from the signed statements")
    sent = api.broadcast_case(case.id, db=db, key=ops["ana"], wait_seconds=30)
    say(f"12. broadcast: {len(sent.sent)} sent in order (gas top-up first)")
    tracked = api.track_case(case.id, db=db, key=ops["ana"])
    say(f"13. track: case {case.id} is {tracked.status}")
    balances = {"user (return address)": chain.token_balance(token, ret),
                "fee collector": chain.token_balance(token, net.fee_collector),
                "deposit address": chain.token_balance(token, deposit)}
    say("14. final UDT balances (base units): "
        + "; ".join(f"{k} {v}" for k, v in balances.items()))
    audit = api.verify_audit(db=db)
    say(f"15. audit: {audit.events} events, chain intact and every statement verified: {audit.ok}")
    doc = api.show_case(case.id, db=db)
    doc["demo_balances"] = {k: str(v) for k, v in balances.items()}
    return doc
