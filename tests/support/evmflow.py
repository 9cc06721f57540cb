"""Shared EVM flow helpers for the end-to-end tests (anvil + the installed ``recover`` command)."""

from __future__ import annotations

import json

import pytest
import sqlalchemy as sa

from chains.base import PlanStep, SweepPlan
from clihelp import cli_json, run
from evm_devnet import ANVIL_MNEMONIC, deploy, fund_token, token_transfer

FEE_COLLECTOR = "0x23618e81E3f5cdF7f54C3d65f7FBc0aBf5B21E8f"  # anvil account 8 (chain_configs/anvil.toml)
HOT_WALLET = "0xa0Ee7A142d267C1f36714E4a8F75612F20a79720"     # anvil account 9


def derive(i: int) -> str:
    from chains.evm.keys import derive_evm_account

    return derive_evm_account(ANVIL_MNEMONIC, f"m/44'/60'/0'/0/{i}").address


def _world(evm, db_url, tmp_path):
    a, b = evm
    w = type("World", (), {})()
    w.a, w.b, w.db, w.tmp = a, b, db_url, tmp_path
    w.user = a.accounts[1]
    w.deposit = derive(20)
    w.ret = derive(30)
    assert run("init", db=db_url).code == 0
    return w


@pytest.fixture
def world(evm, sqlite_db_url, tmp_path):
    return _world(evm, sqlite_db_url, tmp_path)


@pytest.fixture
def world_both(evm, db_url, tmp_path):
    """The same on SQLite and on PostgreSQL."""
    return _world(evm, db_url, tmp_path)


@pytest.fixture
def world_pg(evm, tmp_path):
    """The EVM world on a fresh PostgreSQL database (many workers share a queue there)."""
    from pgdb import create_pg_database, drop_pg_database

    url = create_pg_database()
    try:
        yield _world(evm, url, tmp_path)
    finally:
        drop_pg_database(url)


def key(name: str) -> str:
    """The key file of a team operator (``tests/support/team.py``: spec, alice, rita, pete, bob, carol, sam, wes)."""
    from team import team

    return team().key(name)


def register(w, rows):
    csv = w.tmp / "addresses.csv"
    csv.write_text("network,address,derivation_path,account,status\n" + "".join(
        f"{net},{addr},{path},acct,{status}\n" for net, addr, path, status in rows))
    r = run("addresses", "import", str(csv), "--json", db=w.db)
    assert r.code == 0, r.err


def cli(w, *args, expect=0, env=None):
    return cli_json(*args, db=w.db, env=env, expect=expect)


def open_case(w, network, tx, **kw):
    args = ["case", "open", "--network", network, "--tx", tx]
    for k, v in kw.items():
        args += [f"--{k.replace('_', '-')}", v]
    if "return_address" not in kw and "credit_account" not in kw:
        args += ["--return-address", w.ret]
    return cli(w, *args)["id"]


def plan_of(w, case_id) -> SweepPlan:
    doc = cli(w, "case", "show", str(case_id))["plan"]["plan"]
    steps = tuple(PlanStep(seq=s["seq"], role=s["role"], signer_address=s["signer_address"],
                           signer_path=s["signer_path"], tx=s["tx"], after=tuple(s["after"]),
                           simulation=s["simulation"]) for s in doc["steps"])
    return SweepPlan(network=doc["network"], family=doc["family"], case_id=doc["case_id"], asset=doc["asset"],
                     gross=int(doc["gross"]), net=int(doc["net"]), fee_total=int(doc["fee_total"]),
                     native_cost=int(doc["native_cost"]), destination=doc["destination"],
                     fee_collector=doc["fee_collector"], steps=steps, meta=doc["meta"])


def execute(network_key: str, url_env: dict, plan: SweepPlan, node) -> list[dict]:
    """Sign with the HD seed and broadcast step by step, each mined before the next."""
    from chains.config import load_network_file
    from chains.evm.adapter import EvmAdapter
    from chains.evm.keys import derive_evm_account
    from paths import REPO as repo
    net = load_network_file(repo / "chain_configs" / f"{network_key}.toml").resolved(url_env)
    adapter = EvmAdapter(net)
    raws = adapter.sign(plan, lambda path: derive_evm_account(ANVIL_MNEMONIC, path))
    receipts = []
    for raw in raws:
        txid = adapter.broadcast(raw)
        receipt = node.w3.eth.wait_for_transaction_receipt(txid, timeout=10)
        assert receipt["status"] == 1
        receipts.append(receipt)
    return receipts


def token_balance(node, token, who):
    return token.functions.balanceOf(who).call()




def _override_config(w, *, confirmations=1, listed=None, min_deposit=0, conditions=None):
    folder = w.tmp / "conf"
    folder.mkdir(exist_ok=True)
    from paths import REPO as repo
    text = (repo / "chain_configs" / "anvil.toml").read_text()
    text = text.replace("confirmations = 1", f"confirmations = {confirmations}")
    if conditions:
        text = text.replace('recovery_class = "direct"', 'recovery_class = "conditional"')
        text = text.replace("conditions = []", "")
        text = text.replace('recovery_class = "conditional"',
                            f'recovery_class = "conditional"\nconditions = {json.dumps(conditions)}\n'
                            'reason = "test: a conditional devnet"')
    if listed:
        text += f'\n[[listed_tokens]]\nsymbol = "LST"\naddress = "{listed}"\ndecimals = 6\nmin_deposit = {min_deposit}\n'
    (folder / "anvil.toml").write_text(text)
    return {"RECOVER_CONFIG_DIR": str(folder)}


def prepared_token_case(w, *, amount=2_500 * 10**6, credit=None, env=None, deposit_index=20, contract="StandardToken",
                        preparer=None):
    """A verified, quoted, prepared unlisted-token case: opened, verified, quoted and prepared by alice
    (a specialist who also approves) or the specialist key file ``preparer``, priced by pete (the
    pricer, not the preparer)."""
    deposit = derive(deposit_index)
    register(w, [("anvil", deposit, f"m/44'/60'/0'/0/{deposit_index}", "active")])
    token = deploy(w.a.w3, contract, "Unlisted", "UNL", 6)
    fund_token(w.a.w3, token, w.user, 10**12)
    r = token_transfer(w.a.w3, token, w.user, deposit, amount)
    alice = str(preparer) if preparer else key("alice")
    cid = cli(w, "case", "open", "--network", "anvil", "--tx", r["transactionHash"].to_0x_hex(), "--key", alice,
              *(["--credit-account", credit] if credit else ["--return-address", w.ret]), env=env)["id"]
    cli(w, "case", "verify", str(cid), "--key", alice, env=env)
    cli(w, "prices", "set", f"anvil:{token.address}", "1", env=env)  # by pete, the pricer (not the preparer)
    cli(w, "prices", "set", "ETH", "3000", env=env)
    quote = cli(w, "case", "quote", str(cid), "--key", alice, env=env)
    cli(w, "case", "prepare", str(cid), "--key", alice, env=env)
    return cid, token, deposit, quote


# -- helpers of the attack tests (tests/authority/) -----------------------------------------------
def sql(w, text: str, **params):
    from recover.storage.db import get_engine

    with get_engine(w.db).begin() as conn:
        result = conn.execute(sa.text(text), params)
        return result.all() if result.returns_rows else None


def scalar(w, text: str, **params):
    return sql(w, text, **params)[0][0]


def token_case(w, *, credit=None, env=None, deposit=None, path=None, preparer=None, register_it=True,
               prices_by_preparer=False, confirm_blocks=0):
    """An unlisted-token deposit of 2,500 UNL (1 USD each), opened, verified, quoted and prepared."""
    deposit = deposit or derive(20)
    if register_it:
        register(w, [("anvil", deposit, path or "m/44'/60'/0'/0/20", "active")])
    token = deploy(w.a.w3, "StandardToken", "Unlisted", "UNL", 6)
    fund_token(w.a.w3, token, w.user, 10**12)
    tx = token_transfer(w.a.w3, token, w.user, deposit, 2_500 * 10**6)["transactionHash"].to_0x_hex()
    if confirm_blocks:
        w.a.mine(confirm_blocks)
    k = ["--key", preparer] if preparer else []
    dest = ["--credit-account", credit] if credit else ["--return-address", w.ret]
    cid = cli(w, "case", "open", "--network", "anvil", "--tx", tx, *dest, *k, env=env)["id"]
    cli(w, "case", "verify", str(cid), *k, env=env)
    priced_by = k if prices_by_preparer else []  # else pete, the team's pricer
    cli(w, "prices", "set", f"anvil:{token.address}", "1", *priced_by, env=env)
    cli(w, "prices", "set", "ETH", "3000", *priced_by, env=env)
    cli(w, "case", "quote", str(cid), *k, env=env)
    cli(w, "case", "prepare", str(cid), *k, env=env)
    return cid, token, deposit


def approve(w, cid, *names, env=None):
    out = None
    for name in names:
        out = cli(w, "queue", "approve", str(cid), "--key", key(name), env=env)
    return out


def balances(w, token, *who):
    return [token.functions.balanceOf(a).call() for a in who]


def nothing_signed(w, cid):
    return scalar(w, "SELECT count(*) FROM signed_txs WHERE case_id = :c", c=cid) == 0


def enroll_extra(w, name, roles, person):
    path = w.tmp / f"{name}.key"
    public = cli(w, "operators", "keygen", name, "--out", str(path))["public_key"]
    from team import team

    cli(w, "operators", "enroll", name, "--public-key", public, "--roles", roles, "--person", person,
        *team().admin_args)
    return str(path), public
