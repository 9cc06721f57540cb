"""Issue 26 on LiteSVM (behind JSON-RPC) and a real SoftHSM2 token, through the installed ``recover``:
the Solana fee payer (the gas station) is an Ed25519 key on the token (``gas_station_path =
"hsm:<label>"``), the deposit key stays with the HD seed.  SPL and SOL sweeps complete with the fee
payer's signature made by the token; a wrong PIN, a missing key, a token key whose address differs from
the network file's and a secp256k1 key under the label are refused with their exit codes, with nothing
sent and the database unchanged."""

from __future__ import annotations

import base64

import pytest
from solders.keypair import Keypair
from solders.pubkey import Pubkey
from solders.transaction import VersionedTransaction

from clihelp import cli_json
from clihelp import snapshot as _snapshot
from paths import REPO
from softhsm import SoftHsm, softhsm  # noqa: F401  (the fixture)
from solanaflow import SOL, cli, sol  # noqa: F401  (the fixture and helpers)
from team import team

LABEL = "solana-fee-payer"
ATA_RENT = 2039280  # a token account's rent (165 bytes), given back to the fee payer when the deposit's closes


def hsm_config(w, hsm: SoftHsm, *, address: str, label: str = LABEL) -> dict:
    """solana-litesvm.toml with its fee payer on the token, in a RECOVER_CONFIG_DIR; the env of a signing host."""
    folder = w.tmp / "conf"
    folder.mkdir(exist_ok=True)
    text = (REPO / "chain_configs" / "solana-litesvm.toml").read_text()
    assert "gas_station_path = \"m/44'/501'/1'/0'\"" in text
    text = text.replace("gas_station_path = \"m/44'/501'/1'/0'\"", f'gas_station_path = "hsm:{label}"')
    text += f'\n[hsm]\ntoken = "{hsm.token}"\n\n[hsm.keys]\n{label} = "{address}"\n'
    (folder / "solana-litesvm.toml").write_text(text)
    return {"RECOVER_CONFIG_DIR": str(folder), **hsm.env}


def _station_ready(w, hsm) -> str:
    """An Ed25519 fee payer generated on the token, funded, and the desk's env pointed at it."""
    station = str(Pubkey.from_bytes(hsm.add_key(LABEL, "ed25519")))
    w.devnet.airdrop(station, 10 * SOL)
    w.env = {**w.env, **hsm_config(w, hsm, address=station)}
    return station


def _spl_case(w):
    """600 units of an unlisted SPL token sent to the deposit: opened, verified, quoted, prepared, approved."""
    authority = Keypair()
    w.devnet.airdrop(authority.pubkey(), SOL)
    mint = w.devnet.create_mint(authority, 6)
    w.devnet.mint_to(authority, mint, w.user.pubkey(), 1_000 * 10**6)
    tx = w.devnet.transfer_spl(w.user, mint, w.deposit.pubkey(), 600 * 10**6)
    cid = _approved(w, tx, f"solana-litesvm:{mint}")
    return cid, mint


def _approved(w, tx: str, price_asset: str) -> int:
    cid = cli(w, "case", "open", "--network", "solana-litesvm", "--tx", tx,
              "--return-address", str(w.ret.pubkey()))["id"]
    cli(w, "case", "verify", str(cid))
    cli(w, "prices", "set", price_asset, "1")
    cli(w, "prices", "set", "SOL", "150")
    cli(w, "case", "quote", str(cid))
    cli(w, "case", "prepare", str(cid))
    assert cli(w, "queue", "approve", str(cid), "--key", str(team().key("bob")))["status"] == "approved"
    return cid


def _signed_tx(w, cid) -> VersionedTransaction:
    import sqlalchemy as sa

    from recover.storage.db import get_engine

    with get_engine(w.db).connect() as conn:
        (raw,) = conn.execute(sa.text("SELECT raw FROM signed_txs WHERE case_id = :c"), {"c": cid}).one()
    return VersionedTransaction.from_bytes(base64.b64decode(raw))


def _signed_by_token(w, cid, station: str, deposit: str) -> str:
    """The landed transaction's fee payer is the token key, and its signature verifies under it."""
    tx = _signed_tx(w, cid)
    keys = [str(k) for k in tx.message.account_keys[:tx.message.header.num_required_signatures]]
    assert keys == [station, deposit]
    assert tx.verify_with_results() == [True, True]
    txid = cli(w, "case", "show", str(cid))["transactions"][0]["txid"]
    assert str(tx.signatures[0]) == txid and txid in w.devnet.records
    return txid


def test_spl_sweep_fee_payer_is_the_hsm_key(sol, softhsm):
    w = sol
    station = _station_ready(w, softhsm)
    cid, mint = _spl_case(w)
    step = cli(w, "case", "show", str(cid))["plan"]["plan"]["steps"][0]
    assert step["tx"]["fee_payer"] == station and step["tx"]["fee_payer_path"] == f"hsm:{LABEL}"
    quote = cli(w, "case", "show", str(cid))["quote"]
    before = w.devnet.balance(station)
    cli(w, "case", "sign", str(cid))
    cli(w, "case", "broadcast", str(cid))
    assert cli(w, "case", "track", str(cid))["status"] == "completed"
    txid = _signed_by_token(w, cid, station, str(w.deposit.pubkey()))
    net, fee, cost = int(quote["net"]), int(quote["fee"]), int(quote["network_cost_in_asset"])
    assert net + fee + cost == 600 * 10**6
    assert int(w.devnet.token_account(w.devnet.ata(w.ret.pubkey(), mint))["amount"]) == net
    assert int(w.devnet.token_account(w.devnet.ata(w.collector.pubkey(), mint))["amount"]) == fee + cost
    assert w.devnet.token_account(w.devnet.ata(w.deposit.pubkey(), mint)) is None  # closed
    # the fee payer paid the two signatures and the two new accounts' rent, and got the closed one's back
    assert w.devnet.records[txid]["meta"]["fee"] == 2 * 5000
    assert before - w.devnet.balance(station) == int(quote["network_cost_native"]) - ATA_RENT


def test_sol_sweep_fee_payer_is_the_hsm_key(sol, softhsm):
    w = sol
    station = _station_ready(w, softhsm)
    csv = w.tmp / "retire.csv"  # SOL to a retired deposit address is a case
    csv.write_text("network,address,derivation_path,account,status\n"
                   f"solana-litesvm,{w.deposit.pubkey()},m/44'/501'/0'/7',u7,retired\n")
    assert cli(w, "addresses", "import", str(csv))["updated"] == 1
    tx = w.devnet.transfer_sol(w.user, w.deposit.pubkey(), 3 * SOL)
    cid = _approved(w, tx, "SOL")
    quote = cli(w, "case", "show", str(cid))["quote"]
    before, ret_before = w.devnet.balance(station), w.devnet.balance(w.ret.pubkey())
    cli(w, "case", "sign", str(cid))
    cli(w, "case", "broadcast", str(cid))
    assert cli(w, "case", "track", str(cid))["status"] == "completed"
    txid = _signed_by_token(w, cid, station, str(w.deposit.pubkey()))
    assert w.devnet.balance(w.deposit.pubkey()) == 0
    assert w.devnet.balance(w.ret.pubkey()) - ret_before == int(quote["net"])
    # the deposit bore the network cost: it paid the fee payer back exactly the fee the fee payer paid
    paid = w.devnet.records[txid]["meta"]["fee"]
    assert paid == 2 * 5000 and int(quote["network_cost_native"]) == paid
    assert w.devnet.balance(station) == before


def _refused(w, cid, env, code, exit_code, watched):
    """``case sign`` exits ``exit_code`` with ``code``; the database, the ledger and the balances of
    ``watched`` are as they were."""
    before, balances, landed = _snapshot(w.db), [w.devnet.balance(a) for a in watched], len(w.devnet.records)
    err = cli_json("case", "sign", str(cid), db=w.db, env={**w.env, **env}, expect=exit_code)
    assert err["code"] == code, err
    assert _snapshot(w.db) == before
    assert [w.devnet.balance(a) for a in watched] == balances and len(w.devnet.records) == landed
    return err


def test_wrong_pin_is_refused_and_never_shown(sol, softhsm):
    w = sol
    station = _station_ready(w, softhsm)
    cid, _mint = _spl_case(w)
    err = _refused(w, cid, {"RECOVER_PKCS11_PIN": "999999"}, "hsm_pin_incorrect", 4,
                   [station, str(w.deposit.pubkey())])
    assert "999999" not in str(err)
    cli(w, "case", "sign", str(cid))  # the right PIN signs the same approved plan
    cli(w, "case", "broadcast", str(cid))
    assert cli(w, "case", "track", str(cid))["status"] == "completed"


def test_missing_key_label_is_refused(sol, softhsm):
    w = sol
    station = str(Pubkey.from_bytes(softhsm.add_key("another-label", "ed25519")))  # a key, not the one named
    w.devnet.airdrop(station, 10 * SOL)
    w.env = {**w.env, **hsm_config(w, softhsm, address=station)}
    cid, _mint = _spl_case(w)
    err = _refused(w, cid, {}, "signer_missing_key", 7, [station, str(w.deposit.pubkey())])
    assert LABEL in err["message"]


def test_token_key_whose_address_differs_is_refused(sol, softhsm):
    """The network file (and so the plan) names one fee payer; the token's key under that label is
    another: nothing is signed with it."""
    w = sol
    softhsm.add_key(LABEL, "ed25519")
    written = Keypair()  # a funded address that is not the token key's
    w.devnet.airdrop(written.pubkey(), 10 * SOL)
    w.env = {**w.env, **hsm_config(w, softhsm, address=str(written.pubkey()))}
    cid, _mint = _spl_case(w)
    assert cli(w, "case", "show", str(cid))["plan"]["plan"]["steps"][0]["tx"]["fee_payer"] == str(written.pubkey())
    err = _refused(w, cid, {}, "signer_mismatch", 7, [str(written.pubkey()), str(w.deposit.pubkey())])
    assert "token" in err["message"]


def test_secp256k1_key_under_the_label_is_refused(sol, softhsm):
    """A Solana address is an Ed25519 key: a secp256k1 key under the label controls nothing here."""
    w = sol
    softhsm.add_key(LABEL, "secp256k1")
    written = Keypair()
    w.devnet.airdrop(written.pubkey(), 10 * SOL)
    w.env = {**w.env, **hsm_config(w, softhsm, address=str(written.pubkey()))}
    cid, _mint = _spl_case(w)
    _refused(w, cid, {}, "hsm_wrong_curve", 4, [str(written.pubkey()), str(w.deposit.pubkey())])


def test_address_of_public_key():
    from chains.config import load_network_file
    from chains.errors import ChainError
    from chains.solana.adapter import SolanaAdapter

    chain = SolanaAdapter(load_network_file(REPO / "chain_configs" / "solana-litesvm.toml").resolved(env={
        "SOLANA_LITESVM_URL": "http://127.0.0.1:1", "SOLANA_LITESVM_FEE_COLLECTOR": str(Keypair().pubkey()),
        "SOLANA_LITESVM_HOT_WALLET": str(Keypair().pubkey())}))
    key = Keypair()
    assert chain.address_of_public_key("ed25519", bytes(key.pubkey())) == str(key.pubkey())
    with pytest.raises(ChainError) as exc:
        chain.address_of_public_key("secp256k1", b"\x02" + bytes(32))
    assert exc.value.code == "hsm_wrong_curve"
    with pytest.raises(ChainError) as exc:
        chain.address_of_public_key("ed25519", bytes(31))
    assert exc.value.code == "bad_key"
