"""Issue 21, item 7 "Exits and contract": what a new user's trial and an attacker's found, through the
installed CLI on anvil.  Every refusal asserts its exit code, that the database did not change, and
that nothing moved on chain.

- ``approvals_missing`` is exit 7 on every path (``case sign``, ``case export``, ``case import-signed``;
  a case still awaiting approval and an approved case whose approvals no longer count alike), as
  README, docs/cli.md and docs/web.md say.
- A re-quote of a case awaiting approval (or approved) voids its plan and approvals, and says so: in
  the human output, in ``--json`` and in the audit log.
- A zero or unchecksummed ``fee_collector`` / ``hot_wallet`` is refused (exit 4, naming the file and
  the key) whether the network file writes it or takes it from ``${ENV}``.
- A wrong ``RECOVER_KEYSTORE_PASSPHRASE`` is exit 4 ``bad_keystore`` (configuration), never exit 7.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from clihelp import run, snapshot
from evm_devnet import ANVIL_MNEMONIC
from evmflow import _override_config, cli, key, prepared_token_case, token_balance, world  # noqa: F401
from team import team

STATION_PATH = "m/44'/60'/1'/0/0"
GOOD_COLLECTOR = "0x23618e81E3f5cdF7f54C3d65f7FBc0aBf5B21E8f"
GOOD_HOT = "0xa0Ee7A142d267C1f36714E4a8F75612F20a79720"
ZERO = "0x0000000000000000000000000000000000000000"


def chain_state(w, token, deposit):
    """What would change on chain if anything were sent."""
    return (w.a.w3.eth.block_number, token_balance(w.a, token, deposit), token_balance(w.a, token, w.ret),
            w.a.w3.eth.get_transaction_count(deposit))


def refused(w, args, exit_code, code, *, env=None, token=None, deposit=None):
    before = snapshot(w.db)
    on_chain = chain_state(w, token, deposit) if token is not None else None
    r = run(*args, "--json", db=w.db, env=env)
    assert r.code == exit_code, (args, r.code, r.out, r.err)
    assert r.out == "" and r.error["code"] == code, (args, r.err)
    assert snapshot(w.db) == before, f"{args} changed the database"
    if token is not None:
        assert chain_state(w, token, deposit) == on_chain, f"{args} moved something on chain"
    return r.error


# -- 1. approvals_missing: exit 7 on every path ----------------------------------------------------
def test_approvals_missing_is_exit_7_for_sign_export_and_import_signed(world):
    w = world
    cid, token, deposit, quote = prepared_token_case(w)  # 2,500 USD: two approvals needed
    cli(w, "queue", "approve", str(cid), "--key", key("bob"))
    out, signed = w.tmp / "plan.json", w.tmp / "signed.json"
    signed.write_text(json.dumps({"case_id": cid, "plan_hash": "00" * 32, "signed": []}))
    paths = (["case", "sign", str(cid)], ["case", "export", str(cid), "--out", str(out)],
             ["case", "import-signed", str(cid), str(signed)])
    # still awaiting approval (1 of 2), with and without a signer configured
    for args in paths:
        for env in (None, {"RECOVER_SEED": ""}):
            err = refused(w, args, 7, "approvals_missing", env=env, token=token, deposit=deposit)
            assert "1 of 2 approvals" in err["message"], err
    assert not out.exists()
    # approved, then an approver is revoked: the approvals no longer suffice, the same code and exit
    cli(w, "queue", "approve", str(cid), "--key", key("carol"))
    assert cli(w, "operators", "revoke", "carol", *team().admin_args)["active"] is False
    assert cli(w, "case", "show", str(cid))["status"] == "approved"
    for args in paths:
        err = refused(w, args, 7, "approvals_missing", token=token, deposit=deposit)
        assert "1 of 2 approvals" in err["message"], err
    assert not out.exists()
    # and a case in a state that cannot be signed at all is still an illegal state (exit 5)
    cid2, token2, deposit2, _ = prepared_token_case(w, deposit_index=21)
    cli(w, "case", "quote", str(cid2), "--key", key("alice"))  # back to quoted: no plan
    for args in (["case", "sign", str(cid2)], ["case", "export", str(cid2), "--out", str(out)]):
        refused(w, args, 5, "not_approved", token=token2, deposit=deposit2)


# -- 2. a re-quote that voids approvals says so ---------------------------------------------------
def _voided_events(w, cid):
    from sqlmodel import select

    from recover.storage.db import session_scope
    from recover.storage.models import AuditEvent

    with session_scope(w.db) as s:
        return [(e.action, e.details) for e in s.exec(select(AuditEvent).where(AuditEvent.case_id == cid)
                                                       .order_by(AuditEvent.seq))]


def test_a_requote_says_which_plan_and_how_many_approvals_it_voided(world):
    w = world
    cid, token, deposit, quote = prepared_token_case(w)
    plan = cli(w, "case", "show", str(cid))["plan"]["plan_hash"]
    cli(w, "queue", "approve", str(cid), "--key", key("bob"))
    # --json: the voided plan, the case's status then, and the approvals it had
    doc = cli(w, "case", "quote", str(cid), "--key", key("alice"))
    assert doc["voided_plans"] == [{"plan_hash": plan, "status": "awaiting_approval", "approvals": 1,
                                    "approvers": ["bob"]}], doc
    events = _voided_events(w, cid)
    superseded = [d for a, d in events if a == "plan_superseded"]
    assert superseded == [{"plan_hash": plan, "status": "awaiting_approval", "approvals": 1, "approvers": ["bob"],
                           "why": "re-quoted"}], superseded
    assert events[-1][0] == "quoted" and events[-1][1]["voided_plans"] == doc["voided_plans"]
    assert cli(w, "case", "show", str(cid))["status"] == "quoted"
    # a re-quote of a quoted case voids nothing and says nothing about it
    assert cli(w, "case", "quote", str(cid), "--key", key("alice"))["voided_plans"] == []
    # approved (two approvals), re-quoted: the human output says it on stderr, data stays on stdout
    cli(w, "case", "prepare", str(cid), "--key", key("alice"))
    plan2 = cli(w, "case", "show", str(cid))["plan"]["plan_hash"]
    cli(w, "queue", "approve", str(cid), "--key", key("bob"))
    assert cli(w, "queue", "approve", str(cid), "--key", key("carol"))["status"] == "approved"
    r = run("case", "quote", str(cid), "--key", key("alice"), db=w.db)
    assert r.code == 0, r.err
    assert "quote for case" in r.out and "voided" not in r.out
    said = " ".join(r.err.split())
    assert f"was approved; this quote voided its plan {plan2} and the 2 approvals it had: bob, carol" in said, r.err
    assert f"recover case prepare {cid}" in said
    superseded = [d for a, d in _voided_events(w, cid) if a == "plan_superseded"]
    assert superseded[-1] == {"plan_hash": plan2, "status": "approved", "approvals": 2, "approvers": ["bob", "carol"],
                              "why": "re-quoted"}
    # nothing of the voided plans can be signed any more
    refused(w, ["case", "sign", str(cid)], 5, "not_approved", token=token, deposit=deposit)


# -- 5. the exchange's wallets: the same rule whether the file or the environment gives them --------
def _wallet_config(w, key_name: str, value: str, source: str) -> dict:
    """An anvil network file whose ``key_name`` is ``value``, written in the file or taken from ``${ENV}``."""
    env = _override_config(w)
    path = Path(env["RECOVER_CONFIG_DIR"]) / "anvil.toml"
    good = {"fee_collector": GOOD_COLLECTOR, "hot_wallet": GOOD_HOT}[key_name]
    text = path.read_text()
    assert f'{key_name} = "{good}"' in text
    if source == "file":
        path.write_text(text.replace(f'{key_name} = "{good}"', f'{key_name} = "{value}"'))
    else:
        path.write_text(text.replace(f'{key_name} = "{good}"', f'{key_name} = "${{MY_{key_name.upper()}}}"'))
        env[f"MY_{key_name.upper()}"] = value
    return env


@pytest.mark.parametrize("source", ["file", "env"])
@pytest.mark.parametrize("key_name,value,why", [
    ("fee_collector", GOOD_COLLECTOR.lower(), "no EIP-55 checksum"),
    ("fee_collector", ZERO, "zero address"),
    ("hot_wallet", GOOD_HOT.lower(), "no EIP-55 checksum"),
    ("hot_wallet", ZERO, "zero address"),
])
def test_a_bad_wallet_is_refused_from_the_file_and_from_the_environment(world, source, key_name, value, why):
    w = world
    cid, token, deposit, quote = prepared_token_case(w)  # under the good configuration
    env = _wallet_config(w, key_name, value, source)
    config_file = str(Path(env["RECOVER_CONFIG_DIR"]) / "anvil.toml")
    # networks check names the setting, the value's origin and the problem (exit 4)
    r = run("networks", "check", "anvil", "--json", db=w.db, env=env)
    assert r.code == 4, (r.out, r.err)
    problems = {p["setting"]: p["problem"] for p in r.json["problems"]}
    assert key_name in problems and why in problems[key_name], problems
    assert (f"${{MY_{key_name.upper()}}}" if source == "env" else config_file) in problems[key_name]
    # and every command that uses the network refuses it, naming the file and the key, changing nothing
    for args in (["case", "quote", str(cid), "--key", key("alice")], ["case", "prepare", str(cid), "--key", key("alice")],
                 ["scan", "--network", "anvil", "--from-block", "0"]):
        err = refused(w, args, 4, "config_error", env=env, token=token, deposit=deposit)
        assert config_file in err["message"] and f"key '{key_name}'" in err["message"] and why in err["message"], err
    cli(w, "queue", "approve", str(cid), "--key", key("bob"), env=env)
    cli(w, "queue", "approve", str(cid), "--key", key("carol"), env=env)
    err = refused(w, ["case", "sign", str(cid)], 4, "config_error", env=env, token=token, deposit=deposit)
    assert config_file in err["message"] and f"key '{key_name}'" in err["message"], err


# -- 6. a wrong keystore passphrase is configuration: exit 4 ---------------------------------------
def _keystore(folder: Path, passphrase: str, *paths: str) -> dict[str, str]:
    from eth_account import Account

    from chains.evm.keys import derive_evm_account

    folder.mkdir()
    addresses = {}
    for i, path in enumerate(paths):
        acct = derive_evm_account(ANVIL_MNEMONIC, path)
        doc = Account.encrypt(acct.key, passphrase, kdf="scrypt", iterations=2**10)
        (folder / f"key{i}.json").write_text(json.dumps(doc))
        addresses[path] = acct.address
    return addresses


def test_a_wrong_keystore_passphrase_is_exit_4_and_signs_nothing(world):
    w = world
    cid, token, deposit, quote = prepared_token_case(w)
    cli(w, "queue", "approve", str(cid), "--key", key("bob"))
    cli(w, "queue", "approve", str(cid), "--key", key("carol"))
    folder = w.tmp / "keystore"
    addresses = _keystore(folder, "the right one", "m/44'/60'/0'/0/20", STATION_PATH)
    keystore = {"RECOVER_SEED": "", "RECOVER_KEYSTORE_DIR": str(folder),
                "RECOVER_GAS_STATION_ADDRESS": addresses[STATION_PATH]}
    err = refused(w, ["case", "sign", str(cid)], 4, "bad_keystore",
                  env={**keystore, "RECOVER_KEYSTORE_PASSPHRASE": "a wrong one"}, token=token, deposit=deposit)
    assert "wrong passphrase" in err["message"] and "a wrong one" not in err["message"]
    refused(w, ["case", "sign", str(cid)], 4, "signer_config", env=keystore, token=token, deposit=deposit)
    # the same keystore with its passphrase signs the case (the path above is the real one)
    signed = cli(w, "case", "sign", str(cid), env={**keystore, "RECOVER_KEYSTORE_PASSPHRASE": "the right one"})
    assert [t["role"] for t in signed["transactions"]] == ["gas_topup", "sweep_net", "sweep_fee"]
