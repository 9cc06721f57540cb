"""The Solana adapter against LiteSVM through the real JSON-RPC client (``chains.transport``, batched;
tests/support/solana_devnet.py serves JSON-RPC from LiteSVM state): verification by balance deltas, sweeps executed for real and checked
to the lamport / base unit, refusals with their codes."""

from __future__ import annotations

import pytest
from solders.keypair import Keypair
from solders.pubkey import Pubkey

from chains.base import NATIVE, Capability, SweepRequest, Transfer
from chains.config import load_network_file
from chains.errors import (
    InvalidAddress,
    InvalidRequest,
    NodeRefused,
    PermanentChainError,
    RetryableChainError,
    SignerMismatch,
    SweepRefused,
)
from chains.keys import SeedError, mnemonic_seed
from chains.solana.adapter import FINALIZED_CONFIRMATIONS, LAMPORTS_PER_SIGNATURE, TOKEN_INDEX_BASE, SolanaAdapter
from chains.solana.keys import SolanaKeyError, derive_keypair, derive_solana_keypair
from derive import key_for_path as keys_for
from paths import REPO
from recover.casework.classify import Registration, check_transaction, decide
from solana_devnet import ASSOCIATED_TOKEN_PROGRAM_ID, TOKEN_2022_PROGRAM_ID, SolanaDevnet

MNEMONIC = "test test test test test test test test test test test junk"
STATION_PATH = "m/44'/501'/1'/0'"
SOL = 10**9
RENT_ATA = 2039280  # rent-exempt minimum of a 165-byte token account


def dep_path(i: int) -> str:
    return f"m/44'/501'/0'/{i}'"


@pytest.fixture(scope="module")
def devnet():
    d = SolanaDevnet()
    yield d
    d.close()


@pytest.fixture(scope="module")
def world(devnet):
    station = derive_solana_keypair(MNEMONIC, STATION_PATH)
    user, hot, collector = Keypair(), Keypair(), Keypair()
    devnet.airdrop(station.pubkey(), 10 * SOL)
    devnet.airdrop(user.pubkey(), 100 * SOL)
    net = load_network_file(REPO / "chain_configs" / "solana-litesvm.toml").resolved(env={
        "SOLANA_LITESVM_URL": devnet.url,
        "SOLANA_LITESVM_FEE_COLLECTOR": str(collector.pubkey()),
        "SOLANA_LITESVM_HOT_WALLET": str(hot.pubkey()),
    })
    return {"station": station, "user": user, "hot": hot, "collector": collector, "net": net,
            "adapter": SolanaAdapter(net)}


key_for_path = keys_for("solana", MNEMONIC)


def request(w, deposit: Keypair, path: str, asset: str, decimals: int, gross: int, net: int, fee_total: int, *,
            cost_mode: str = "deduct", destination: str | None = None) -> SweepRequest:
    return SweepRequest(case_id=1, deposit_address=str(deposit.pubkey()), deposit_path=path, asset=asset,
                        decimals=decimals, gross=gross, net=net, fee_total=fee_total,
                        destination=destination or str(w["hot"].pubkey()), fee_collector=str(w["collector"].pubkey()),
                        gas_station_path=STATION_PATH, cost_mode=cost_mode,
                        gas_station_address=str(w["station"].pubkey()))


def sweep(adapter: SolanaAdapter, plan) -> str:
    raws = adapter.sign(plan, key_for_path)
    assert len(raws) == 1
    txid = adapter.broadcast(raws[0])
    assert txid == adapter.txid_of(raws[0])
    assert adapter.broadcast(raws[0]) == txid  # the same bytes again: "already processed" is success
    status = adapter.tx_status(txid)
    # found at finalized commitment: rooted, so at least the lockout depth (LiteSVM: no slot since)
    assert status.found and status.success is True and status.confirmations == FINALIZED_CONFIRMATIONS == 32
    return txid


# -- keys -------------------------------------------------------------------------------------------
def test_slip10_matches_known_vectors():
    abandon = "abandon " * 11 + "about"
    assert str(derive_solana_keypair(abandon, "m/44'/501'/0'/0'").pubkey()) == "HAgk14JpMQLgt6rVgv7cBQFJWFto5Dqxi472uT3DKpqk"
    assert str(derive_solana_keypair(abandon, "m/44h/501h/0h/0h").pubkey()) == "HAgk14JpMQLgt6rVgv7cBQFJWFto5Dqxi472uT3DKpqk"
    # SLIP-10 test vector 2 (ed25519, 64-byte seed), private keys of m, m/0H, m/0H/2147483647H
    seed = bytes.fromhex("fffcf9f6f3f0edeae7e4e1dedbd8d5d2cfccc9c6c3c0bdbab7b4b1aeaba8a5a29f9c999693908d8a8784817e7b7875"
                         "726f6c696663605d5a5754514e4b484542")
    for path, secret in (("m", "171cb88b1b3c1db25add599712e36245d75bc65a1a5c9e18d76f9f2b1eab4012"),
                         ("m/0'", "1559eb2bbec5790b0c65d8693e4d0875b1747f4970ae8b650486ed7470845635"),
                         ("m/0'/2147483647'", "ea4f5bfe8694d8bb74b7b59404632fd5968b774ed545e810de9c32a4fb4192f4")):
        assert derive_keypair(seed, path).secret().hex() == secret
    with pytest.raises(SolanaKeyError) as exc:
        derive_solana_keypair(MNEMONIC, "m/44'/501'/0/0")  # non-hardened
    assert (exc.value.code, exc.value.exit_code) == ("bad_path", 4) and "hardened" in str(exc.value)
    with pytest.raises(SeedError) as exc:
        derive_solana_keypair("test " * 12, STATION_PATH)  # bad checksum
    assert (exc.value.code, exc.value.exit_code) == ("bad_seed", 4) and "test" not in str(exc.value)
    with pytest.raises(SolanaKeyError) as exc:
        derive_keypair(b"short", STATION_PATH)
    assert exc.value.code == "bad_seed"


def test_contract_keys_and_ownership(world):
    """derive_key from the 64-byte BIP-39 seed, key_from_secret (32-byte seed or 64-byte keypair),
    verify_ownership (ed25519 over the UTF-8 message), capabilities."""
    a: SolanaAdapter = world["adapter"]
    seed = mnemonic_seed(MNEMONIC)
    derived = a.derive_key(seed, STATION_PATH)
    assert derived.address == str(world["station"].pubkey()) and derived.key.pubkey() == world["station"].pubkey()
    assert "key=" not in repr(derived)
    with pytest.raises(SolanaKeyError) as exc:
        a.derive_key(seed, "m/44'/501'/0'/0")
    assert exc.value.code == "bad_path"
    kp = Keypair()
    assert a.key_from_secret(bytes(kp)).address == str(kp.pubkey())            # 64 bytes (solana-keygen)
    assert a.key_from_secret(bytes(kp)[:32]).address == str(kp.pubkey())       # the 32-byte seed
    with pytest.raises(SolanaKeyError) as exc:
        a.key_from_secret(bytes(kp)[:32] + bytes(Keypair().pubkey()))          # halves of two keys
    assert exc.value.exit_code == 4 and bytes(kp)[:32].hex() not in str(exc.value)
    with pytest.raises(SolanaKeyError):
        a.key_from_secret(b"\x01" * 31)
    message = "case 7: I, the sender, ask for my tokens back"
    sig = str(kp.sign_message(message.encode("utf-8")))
    check = a.verify_ownership(message, sig, str(kp.pubkey()))
    assert (check.ok, check.scheme, check.signer) == (True, "ed25519", str(kp.pubkey()))
    assert a.verify_ownership(message + ".", sig, str(kp.pubkey())).ok is False
    assert a.verify_ownership(message, sig, str(Keypair().pubkey())).ok is False
    assert a.verify_ownership(message, "garbage", "not-an-address").ok is False
    assert a.capabilities == {Capability.NATIVE_SWEEP, Capability.TOKEN_SWEEP, Capability.GAS_STATION,
                              Capability.SIMULATION, Capability.HISTORIC_BALANCES, Capability.BATCH_VERIFY,
                              Capability.OWNERSHIP_PROOF, Capability.NESTED_ACCOUNTS, Capability.TOKENS,
                              Capability.SCAN_HOLDINGS}
    assert not a.can(Capability.OFFLINE_EXPORT) and not a.can(Capability.GAS_TOPUP)


# -- SOL ------------------------------------------------------------------------------------------------
def test_sol_deposit_verified_and_swept_to_zero(devnet, world):
    a: SolanaAdapter = world["adapter"]
    deposit = derive_solana_keypair(MNEMONIC, dep_path(0))
    gross = 2 * SOL + 123
    txid = devnet.transfer_sol(world["user"], deposit.pubkey(), gross)

    obs = a.observe([txid])[txid]
    assert obs.found and obs.success and obs.block_number == devnet.records[txid]["slot"]
    assert obs.confirmations == FINALIZED_CONFIRMATIONS  # rooted; no slot since
    devnet.slot += 40  # 40 slots later: finalized_slot - slot + 1
    assert a.observe([txid])[txid].confirmations == 41
    assert obs.sender == str(world["user"].pubkey())
    (tr,) = [t for t in obs.transfers if t.recipient == str(deposit.pubkey())]
    assert tr.asset == NATIVE and tr.amount == gross and tr.index == 1
    (proof,) = a.prove([(obs, tr)])
    assert (proof.before, proof.after, proof.now, proof.decimals) == (0, gross, gross, 9)
    assert proof.recipient_has_code is False
    assert check_transaction(obs, world["net"]) is None
    d = decide(world["net"], obs, [proof], Registration("solana-litesvm", "retired", dep_path(0), "u1"), [])
    assert d.outcome == "verified" and d.classification == "retired_address" and d.deposits[0].amount == gross

    quote_req = request(world, deposit, dep_path(0), NATIVE, 9, gross, gross - 1, 1)
    cost = a.estimate_cost(quote_req)
    assert cost.native_cost == 2 * LAMPORTS_PER_SIGNATURE
    fee = 10_000_000
    req = request(world, deposit, dep_path(0), NATIVE, 9, gross, gross - fee - cost.native_cost, fee)
    plan = a.prepare(req, cost)
    (step,) = plan.steps
    assert step.signer_address == str(deposit.pubkey()) and step.signer_path == dep_path(0)
    assert step.tx["fee_payer"] == str(world["station"].pubkey()) and step.tx["fee_payer_path"] == STATION_PATH
    assert step.simulation["ok"] is True
    assert plan.to_dict()["steps"][0]["tx"]["instructions"]  # JSON-safe, hashed with the plan
    assert a.signing_keys(plan) == {dep_path(0): str(deposit.pubkey()), STATION_PATH: str(world["station"].pubkey())}
    (view,) = a.describe_plan(plan)
    assert view.signer == str(deposit.pubkey()) and view.detail["fee payer"] == str(world["station"].pubkey())
    assert [(m["to"], m["amount"], m["what"]) for m in view.moves] == [
        (str(world["hot"].pubkey()), str(req.net), "net to the destination"),
        (str(world["collector"].pubkey()), str(fee), "fee to the fee collector"),
        (str(world["station"].pubkey()), str(cost.native_cost), "network cost back to the gas station")]
    assert view.detail["instructions"][0].startswith("system transfer ")
    assert sum(int(m["amount"]) for m in view.moves) == gross

    before = {k: devnet.balance(v) for k, v in (("hot", world["hot"].pubkey()), ("col", world["collector"].pubkey()),
                                                 ("station", world["station"].pubkey()))}
    sweep(a, plan)
    assert devnet.account(deposit.pubkey()) is None  # exactly 0 lamports: the account is gone
    assert devnet.balance(deposit.pubkey()) == 0
    assert devnet.balance(world["hot"].pubkey()) == before["hot"] + req.net
    assert devnet.balance(world["collector"].pubkey()) == before["col"] + fee
    # the gas station paid 2 signatures and got them back from the deposit (deduct mode)
    assert devnet.balance(world["station"].pubkey()) == before["station"]
    reason = a.recheck_deposit(txid=txid, block_number=obs.block_number, block_hash=None,
                               recipient=str(deposit.pubkey()), asset=NATIVE, amount=gross)
    assert reason and "less than" in reason


def test_sol_absorb_mode_and_rent_residue(devnet, world):
    a: SolanaAdapter = world["adapter"]
    deposit = derive_solana_keypair(MNEMONIC, dep_path(1))
    devnet.transfer_sol(world["user"], deposit.pubkey(), SOL)
    cost = a.estimate_cost(request(world, deposit, dep_path(1), NATIVE, 9, SOL, SOL - 1, 1, cost_mode="absorb"))
    # only part of the balance, leaving a remainder below the rent-exempt minimum: refused
    gross = SOL - 1000
    with pytest.raises(SweepRefused) as exc:
        a.prepare(request(world, deposit, dep_path(1), NATIVE, 9, gross, gross - 5000, 5000, cost_mode="absorb"), cost)
    assert exc.value.code == "rent_residue"
    # amounts that do not add up
    with pytest.raises(SweepRefused) as exc:
        a.prepare(request(world, deposit, dep_path(1), NATIVE, 9, SOL, SOL - 5000, 4000, cost_mode="absorb"), cost)
    assert exc.value.code == "amounts_mismatch"
    station_before = devnet.balance(world["station"].pubkey())
    plan = a.prepare(request(world, deposit, dep_path(1), NATIVE, 9, SOL, SOL - 5_000_000, 5_000_000,
                             cost_mode="absorb"), cost)
    sweep(a, plan)
    assert devnet.account(deposit.pubkey()) is None
    assert devnet.balance(world["station"].pubkey()) == station_before - cost.native_cost


# -- SPL ------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("program", ["token", "token-2022"])
def test_spl_deposit_verified_and_swept(devnet, world, program):
    a: SolanaAdapter = world["adapter"]
    i = 2 if program == "token" else 3
    deposit = derive_solana_keypair(MNEMONIC, dep_path(i))
    kwargs = {"program": TOKEN_2022_PROGRAM_ID} if program == "token-2022" else {}
    mint = devnet.create_mint(world["user"], 6, **kwargs)
    devnet.mint_to(world["user"], mint, world["user"].pubkey(), 1_000 * 10**6)
    if program == "token-2022":  # the fee collector's account exists already: created idempotently
        devnet.mint_to(world["user"], mint, world["collector"].pubkey(), 1)
    gross = 5_000_000
    txid = devnet.transfer_spl(world["user"], mint, deposit.pubkey(), gross)

    obs = a.observe([txid])[txid]
    (tr,) = [t for t in obs.transfers if t.asset == str(mint)]
    keys = [k["pubkey"] for k in devnet.records[txid]["transaction"]["message"]["accountKeys"]]
    assert tr.recipient == str(deposit.pubkey()) and tr.amount == gross
    assert tr.index == TOKEN_INDEX_BASE + keys.index(str(devnet.ata(deposit.pubkey(), mint)))
    assert tr.sender == str(world["user"].pubkey())
    (proof,) = a.prove([(obs, tr)])
    assert (proof.before, proof.after, proof.now, proof.decimals) == (0, gross, gross, 6)
    d = decide(world["net"], obs, [proof], Registration("solana-litesvm", "active", dep_path(i), "u"), [])
    assert d.outcome == "verified" and d.classification == "unlisted_token"

    cost = a.estimate_cost(request(world, deposit, dep_path(i), str(mint), 6, gross, gross - 1, 1))
    rent_ata = devnet.svm.minimum_balance_for_rent_exemption(170 if program == "token-2022" else 165)
    n_new = 2 if program == "token" else 1
    assert cost.native_cost == 2 * LAMPORTS_PER_SIGNATURE + n_new * rent_ata
    fee_total = 250_000
    req = request(world, deposit, dep_path(i), str(mint), 6, gross, gross - fee_total, fee_total)
    plan = a.prepare(req, cost)
    assert plan.meta["close_source"] is True
    (view,) = a.describe_plan(plan)
    assert [(m["to"], m["amount"], m["asset"]) for m in view.moves] == [
        (str(world["hot"].pubkey()), str(gross - fee_total), str(mint)),
        (str(world["collector"].pubkey()), str(fee_total), str(mint))]
    words = view.detail["instructions"]
    assert [w.split(" ")[0] for w in words] == ["create", "transfer_checked", "create", "transfer_checked", "close"]
    assert str(devnet.ata(world["hot"].pubkey(), mint)) in words[1] and "(6 decimals)" in words[1]
    source = Pubkey.from_string(plan.meta["source_token_account"])
    source_rent = devnet.balance(source)
    station_before = devnet.balance(world["station"].pubkey())
    col_before = (devnet.token_account(devnet.ata(world["collector"].pubkey(), mint)) or {"amount": 0})["amount"]

    sweep(a, plan)
    assert devnet.token_account(devnet.ata(world["hot"].pubkey(), mint))["amount"] == gross - fee_total
    assert devnet.token_account(devnet.ata(world["collector"].pubkey(), mint))["amount"] == col_before + fee_total
    assert devnet.account(source) is None  # the deposit's token account is closed
    assert devnet.balance(world["station"].pubkey()) == station_before - cost.native_cost + source_rent
    assert devnet.balance(deposit.pubkey()) == 0  # the deposit owner never needed SOL


# -- refusals ---------------------------------------------------------------------------------------
def test_failed_transaction_is_refused(devnet, world):
    a: SolanaAdapter = world["adapter"]
    poor = Keypair()
    devnet.airdrop(poor.pubkey(), SOL // 10)
    txid = devnet.transfer_sol(poor, Keypair().pubkey(), SOL, expect_ok=False)
    obs = a.observe([txid])[txid]
    assert obs.found and obs.success is False and obs.transfers == ()
    assert "InstructionError" in obs.failure_reason
    d = check_transaction(obs, world["net"])
    assert d.outcome == "refused" and d.code == "tx_failed"


def test_unknown_txid_and_malformed(world):
    a: SolanaAdapter = world["adapter"]
    unknown = str(Keypair().sign_message(b"never sent"))
    res = a.observe([unknown, "not-a-signature"])
    assert res[unknown].found is False and res[unknown].failure_reason is None
    assert check_transaction(res[unknown], world["net"]).code == "tx_not_found"
    assert a.tx_status(unknown).found is False
    assert res["not-a-signature"].found is False and res["not-a-signature"].failure_reason == "malformed txid"


def test_funds_gone_and_unknown_mint_and_nested(devnet, world):
    a: SolanaAdapter = world["adapter"]
    deposit = derive_solana_keypair(MNEMONIC, dep_path(4))
    txid = devnet.transfer_sol(world["user"], deposit.pubkey(), 3 * SOL)
    devnet.transfer_sol(deposit, world["user"].pubkey(), 2 * SOL)  # the funds move on
    obs = a.observe([txid])[txid]
    (tr,) = [t for t in obs.transfers if t.recipient == str(deposit.pubkey())]
    (proof,) = a.prove([(obs, tr)])
    # what is left: 3 SOL in, 2 SOL out and the fee of that transfer's one signature
    assert proof.now == devnet.balance(deposit.pubkey()) == SOL - LAMPORTS_PER_SIGNATURE < tr.amount
    d = decide(world["net"], obs, [proof], Registration("solana-litesvm", "active", dep_path(4), "u"), [])
    assert d.outcome == "refused" and d.code == "funds_gone"

    fake = Transfer(index=TOKEN_INDEX_BASE + 1, asset=str(Keypair().pubkey()), sender=None,
                    recipient=str(deposit.pubkey()), amount=5)
    (err,) = a.prove_each([(obs, fake)])
    assert isinstance(err, PermanentChainError) and err.code == "unknown_mint"

    # lamports (not tokens) sent to a token account's address: not a nested deposit, refused
    mint = devnet.create_mint(world["user"], 2)
    ata = devnet.mint_to(world["user"], mint, deposit.pubkey(), 1)
    txid = devnet.transfer_sol(world["user"], ata, 1000)
    obs = a.observe([txid])[txid]
    (tr,) = [t for t in obs.transfers if t.recipient == str(ata)]
    (err,) = a.prove_each([(obs, tr)])
    assert isinstance(err, PermanentChainError) and err.code == "lamports_to_token_account"
    assert err.details["wallet"] == str(deposit.pubkey())
    assert a.nested_parent(str(ata))["wallet"] == str(deposit.pubkey())
    assert a.nested_parent(str(deposit.pubkey())) is None


# -- nested token accounts ----------------------------------------------------------------------------
def service_keys(adapter, plan):
    """Keys looked up as recover/ does: ``adapter.signing_keys(plan)[path]`` must be the address the key
    derived with ``adapter.derive_key`` controls."""
    paths = adapter.signing_keys(plan)
    seed = mnemonic_seed(MNEMONIC)

    def key_for(path: str):
        key = adapter.derive_key(seed, path)
        assert key.address == paths[path], (path, paths[path])
        return key.key

    return key_for


@pytest.mark.parametrize("program,same_mint", [("token", False), ("token", True), ("token-2022", False)])
def test_nested_token_account_verified_and_recovered(devnet, world, program, same_mint):
    """Tokens sent to our wallet's ATA *as if it were a wallet*: they sit in the ATA whose owner is that
    ATA (nested); RecoverNested (signed by the wallet) moves them back, then the usual SPL sweep."""
    a: SolanaAdapter = world["adapter"]
    i = {("token", False): 10, ("token", True): 11, ("token-2022", False): 12}[(program, same_mint)]
    wallet = derive_solana_keypair(MNEMONIC, dep_path(i))
    kwargs = {"program": TOKEN_2022_PROGRAM_ID} if program == "token-2022" else {}
    parent_mint = devnet.create_mint(world["user"], 6, **kwargs)
    parent_ata = devnet.mint_to(world["user"], parent_mint, wallet.pubkey(), 1)  # our wallet's ATA, holding 1
    nested_mint = parent_mint if same_mint else devnet.create_mint(world["user"], 9, **kwargs)
    decimals = devnet.decimals(nested_mint)
    devnet.mint_to(world["user"], nested_mint, world["user"].pubkey(), 10**12)
    gross = 7_000_000
    txid = devnet.transfer_spl(world["user"], nested_mint, parent_ata, gross)  # to the ATA's address
    nested = devnet.ata(parent_ata, nested_mint)
    assert devnet.token_account(nested)["owner"] == str(parent_ata)

    # verify: the transfer's recipient is the parent ATA; the proof says nested
    obs = a.observe([txid])[txid]
    (tr,) = [t for t in obs.transfers if t.asset == str(nested_mint) and t.recipient == str(parent_ata)]
    assert tr.amount == gross
    (proof,) = a.prove_each([(obs, tr)])
    assert not isinstance(proof, Exception), proof
    assert (proof.before, proof.after, proof.now, proof.decimals) == (0, gross, gross, decimals)
    assert proof.details["nested"] is True and proof.details["token_account"] == str(nested)
    assert proof.details["wallet"] == str(wallet.pubkey())
    assert (proof.details["parent_mint"], proof.details["nested_mint"]) == (str(parent_mint), str(nested_mint))
    here = Registration("solana-litesvm", "active", dep_path(i), "u")
    d = decide(world["net"], obs, [proof], here, [])
    assert d.outcome == "verified" and d.classification == "nested_token_account", d
    assert d.deposits[0].amount == gross and d.deposits[0].recipient == str(parent_ata)
    assert d.deposits[0].details["wallet"] == str(wallet.pubkey())
    assert a.recheck_deposit(txid=txid, block_number=obs.block_number, block_hash=None, recipient=str(parent_ata),
                             asset=str(nested_mint), amount=gross) is None

    # the service: the recipient is not registered, its parent wallet is
    from types import SimpleNamespace

    from recover.casework.verification import _plan_claim

    row = SimpleNamespace(network="solana-litesvm", status="active", derivation_path=dep_path(i), account="u")
    regs = {str(wallet.pubkey()): [row]}
    claim = SimpleNamespace(deposit_address=None, asset=None)
    assert _plan_claim(claim, world["net"], a, obs, regs).code == "not_ours"
    parents = a.nested_parents([str(parent_ata), str(world["user"].pubkey())])
    assert set(parents) == {str(parent_ata)}
    transfers, reg, elsewhere = _plan_claim(claim, world["net"], a, obs, regs, parents)
    assert transfers == [tr] and reg == here and elsewhere == []

    # sweep: deposit_address is the recipient recorded (the parent ATA), the path is the wallet's
    rent_ata = devnet.svm.minimum_balance_for_rent_exemption(170 if program == "token-2022" else 165)
    base = request(world, wallet, dep_path(i), str(nested_mint), decimals, gross, gross - 1, 1)
    cost = a.estimate_cost(SweepRequest(**{**base.__dict__, "deposit_address": str(parent_ata)}))
    # the hot wallet's and the fee collector's ATAs are new; the wallet's own ATA for the nested mint is
    # created and closed in the sweep (its rent comes back to the gas station: not a cost)
    assert cost.native_cost == 2 * LAMPORTS_PER_SIGNATURE + 2 * rent_ata
    assert cost.params["nested"]["wallet"] == str(wallet.pubkey())
    assert cost.params["nested"]["temporary_rent"] == ("0" if same_mint else str(rent_ata))
    fee_total = 250_000
    base = request(world, wallet, dep_path(i), str(nested_mint), decimals, gross, gross - fee_total, fee_total)
    req = SweepRequest(**{**base.__dict__, "deposit_address": str(parent_ata)})
    plan = a.prepare(req, cost)
    (step,) = plan.steps
    assert step.signer_address == str(wallet.pubkey()) and step.signer_path == dep_path(i)
    ixs = step.tx["instructions"]
    assert ixs[1]["program_id"] == str(ASSOCIATED_TOKEN_PROGRAM_ID) and ixs[1]["data"] == "Ag=="  # RecoverNested
    assert [m["pubkey"] for m in ixs[1]["accounts"]] == [
        str(nested), str(nested_mint), str(devnet.ata(wallet.pubkey(), nested_mint)), str(parent_ata),
        str(parent_mint), str(wallet.pubkey()), str(devnet.program_of(nested_mint))]
    assert plan.meta["nested"]["token_account"] == str(nested)
    assert plan.meta["close_source"] is (not same_mint)
    assert step.simulation["ok"] is True

    nested_rent = devnet.balance(nested)
    station_before = devnet.balance(world["station"].pubkey())
    assert devnet.balance(wallet.pubkey()) == 0
    assert a.signing_keys(plan) == {dep_path(i): str(wallet.pubkey()), STATION_PATH: str(world["station"].pubkey())}
    (view,) = a.describe_plan(plan)
    assert view.detail["instructions"][1].startswith("RecoverNested: ")
    assert [(m["to"], m["what"]) for m in view.moves] == [(str(world["hot"].pubkey()), "net to the destination"),
                                                          (str(world["collector"].pubkey()), "fee to the fee collector")]
    raws = a.sign(plan, service_keys(a, plan))
    sent = a.broadcast(raws[0])
    assert a.tx_status(sent).success is True

    assert devnet.token_account(devnet.ata(world["hot"].pubkey(), nested_mint))["amount"] == gross - fee_total
    assert devnet.token_account(devnet.ata(world["collector"].pubkey(), nested_mint))["amount"] == fee_total
    assert devnet.account(nested) is None  # the nested account is closed
    assert devnet.token_account(parent_ata)["amount"] == 1  # the wallet's own ATA is untouched
    if not same_mint:
        assert devnet.account(devnet.ata(wallet.pubkey(), nested_mint)) is None  # created and closed again
    # no lamports stranded on the wallet: the nested account's rent went on to the gas station
    assert devnet.balance(wallet.pubkey()) == 0 and devnet.account(wallet.pubkey()) is None
    assert devnet.balance(world["station"].pubkey()) == station_before - cost.native_cost + nested_rent
    reason = a.recheck_deposit(txid=txid, block_number=obs.block_number, block_hash=None, recipient=str(parent_ata),
                               asset=str(nested_mint), amount=gross)
    assert reason and "less than" in reason


def test_nested_refusals(devnet, world):
    a: SolanaAdapter = world["adapter"]
    wallet = derive_solana_keypair(MNEMONIC, dep_path(13))
    parent_mint = devnet.create_mint(world["user"], 6)
    parent_ata = devnet.mint_to(world["user"], parent_mint, wallet.pubkey(), 1)
    nested_mint = devnet.create_mint(world["user"], 6)
    devnet.mint_to(world["user"], nested_mint, world["user"].pubkey(), 10**9)
    gross = 5_000
    devnet.transfer_spl(world["user"], nested_mint, parent_ata, gross)
    base = request(world, wallet, dep_path(13), str(nested_mint), 6, gross + 1, gross + 1 - 100, 100)
    req = SweepRequest(**{**base.__dict__, "deposit_address": str(parent_ata)})
    cost = a.estimate_cost(req)
    # more than the nested account holds: the wallet's ATA would not be closed, so its rent is a cost
    rent_ata = devnet.svm.minimum_balance_for_rent_exemption(165)
    assert cost.native_cost == 2 * LAMPORTS_PER_SIGNATURE + 3 * rent_ata
    with pytest.raises(PermanentChainError) as exc:
        a.prepare(req, cost)
    assert exc.value.code == "funds_missing"
    # a quote made for an ordinary deposit does not fit a nested one
    ok = SweepRequest(**{**req.__dict__, "gross": gross, "net": gross - 100})
    plain = a.estimate_cost(ok)
    plain = type(plain)(plain.native_cost, {k: v for k, v in plain.params.items() if k != "nested"})
    with pytest.raises(SweepRefused) as exc:
        a.prepare(ok, plain)
    assert exc.value.code == "requote"

    # Token-2022 tokens in a nested account under a Token (classic) ATA: RecoverNested cannot move them
    other = devnet.create_mint(world["user"], 6, program=TOKEN_2022_PROGRAM_ID)
    devnet.mint_to(world["user"], other, world["user"].pubkey(), 10**9)
    txid = devnet.transfer_spl(world["user"], other, parent_ata, 700)
    obs = a.observe([txid])[txid]
    (tr,) = [t for t in obs.transfers if t.asset == str(other) and t.recipient == str(parent_ata)]
    (err,) = a.prove_each([(obs, tr)])
    assert isinstance(err, PermanentChainError) and err.code == "nested_not_recoverable"
    assert err.details["wallet"] == str(wallet.pubkey())


def test_funds_missing_signer_mismatch_and_bad_input(devnet, world):
    a: SolanaAdapter = world["adapter"]
    deposit = derive_solana_keypair(MNEMONIC, dep_path(5))
    devnet.transfer_sol(world["user"], deposit.pubkey(), SOL)
    cost = a.estimate_cost(request(world, deposit, dep_path(5), NATIVE, 9, SOL, SOL - 1, 1))
    with pytest.raises(PermanentChainError) as exc:
        a.prepare(request(world, deposit, dep_path(5), NATIVE, 9, 2 * SOL, 2 * SOL - 10**6 - cost.native_cost, 10**6),
                  cost)
    assert exc.value.code == "funds_missing"
    plan = a.prepare(request(world, deposit, dep_path(5), NATIVE, 9, SOL, SOL - 10**6 - cost.native_cost, 10**6), cost)
    with pytest.raises(SignerMismatch) as exc:
        a.sign(plan, lambda path: Keypair())
    assert (exc.value.code, exc.value.exit_code) == ("signer_mismatch", 7)
    # a destination that cannot hold lamports below rent: the simulation says why
    tiny = request(world, deposit, dep_path(5), NATIVE, 9, SOL, SOL - 1000 - cost.native_cost, 1000,
                   cost_mode="deduct")
    tiny = SweepRequest(**{**tiny.__dict__, "fee_collector": str(Keypair().pubkey())})
    with pytest.raises(PermanentChainError) as exc:
        a.prepare(tiny, cost)
    assert exc.value.code == "simulation_failed" and "rent" in str(exc.value)
    # garbage never escapes as a pyo3 panic or a bare ValueError
    for bad in ("", "!!!", "AAAA"):
        with pytest.raises(PermanentChainError) as exc:
            a.txid_of(bad)
        assert exc.value.code == "invalid_raw"
    with pytest.raises(InvalidAddress) as exc:
        a.prove([(a.observe(["1" * 88])["1" * 88], Transfer(0, NATIVE, None, "xyz", 1))])
    assert exc.value.code == "invalid_address" and exc.value.exit_code == 4


def test_unreachable_node_is_retryable():
    import socket

    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    net = load_network_file(REPO / "chain_configs" / "solana-litesvm.toml").resolved(env={
        "SOLANA_LITESVM_URL": f"http://127.0.0.1:{port}",
        "SOLANA_LITESVM_FEE_COLLECTOR": str(Keypair().pubkey()),
        "SOLANA_LITESVM_HOT_WALLET": str(Keypair().pubkey()),
    })
    with pytest.raises(RetryableChainError) as exc:
        SolanaAdapter(net, timeout=2).observe(["5" * 87])
    assert exc.value.code == "node_unreachable"


def test_nested_case_life_through_the_service(devnet, world, sqlite_db_url, tmp_path):
    """The installed ``recover`` command: verify classifies the nested deposit (recipient: the parent ATA,
    registration: the wallet's), and quote/prepare/sign/broadcast use the wallet's key for the nested fact."""
    from clihelp import cli_json
    from team import team

    env = {"SOLANA_LITESVM_URL": devnet.url, "SOLANA_LITESVM_FEE_COLLECTOR": str(world["collector"].pubkey()),
           "SOLANA_LITESVM_HOT_WALLET": str(world["hot"].pubkey()), "RECOVER_SEED": MNEMONIC}

    def cli(*args, expect=0):
        return cli_json(*args, db=sqlite_db_url, env=env, expect=expect)

    wallet = derive_solana_keypair(MNEMONIC, dep_path(14))
    csv = tmp_path / "addresses.csv"
    csv.write_text(f"network,address,derivation_path,account\nsolana-litesvm,{wallet.pubkey()},{dep_path(14)},u14\n")
    cli("addresses", "import", str(csv))
    parent_mint = devnet.create_mint(world["user"], 6)
    parent_ata = devnet.mint_to(world["user"], parent_mint, wallet.pubkey(), 1)
    mint = devnet.create_mint(world["user"], 6)
    devnet.mint_to(world["user"], mint, world["user"].pubkey(), 10**12)
    gross = 600 * 10**6
    tx = devnet.transfer_spl(world["user"], mint, parent_ata, gross)
    ret = Keypair()
    cid = cli("case", "open", "--network", "solana-litesvm", "--tx", tx, "--return-address", str(ret.pubkey()))["id"]
    verified = cli("case", "verify", str(cid))
    assert verified["classification"] == "nested_token_account", verified
    (fact,) = verified["facts"]
    assert fact["amount"] == str(gross) and fact["receiving_address"] == str(parent_ata)
    assert fact["details"]["wallet"] == str(wallet.pubkey())
    assert fact["details"]["token_account"] == str(devnet.ata(parent_ata, mint))

    cli("prices", "set", f"solana-litesvm:{mint}", "1")
    cli("prices", "set", "SOL", "150")
    quote = cli("case", "quote", str(cid))
    cli("case", "prepare", str(cid))
    key = team().key("bob")
    assert cli("queue", "approve", str(cid), "--key", str(key))["status"] == "approved"
    cli("case", "sign", str(cid))
    cli("case", "broadcast", str(cid))
    assert cli("case", "track", str(cid))["status"] == "completed"
    net, fee, cost = int(quote["net"]), int(quote["fee"]), int(quote["network_cost_in_asset"])
    assert net + fee + cost == gross
    # independently of the quote's arithmetic: what arrived on chain is the whole deposit
    arrived = (devnet.token_account(devnet.ata(ret.pubkey(), mint))["amount"]
               + devnet.token_account(devnet.ata(world["collector"].pubkey(), mint))["amount"])
    assert arrived == gross
    assert devnet.token_account(devnet.ata(ret.pubkey(), mint))["amount"] == net
    assert devnet.token_account(devnet.ata(world["collector"].pubkey(), mint))["amount"] == fee + cost
    assert devnet.account(devnet.ata(parent_ata, mint)) is None
    assert devnet.balance(wallet.pubkey()) == 0


def test_reads_are_batched_and_error_answers_are_not_retried(devnet, world, monkeypatch):
    """observe of many transactions is one HTTP POST (a JSON-RPC batch); a node's error answer is
    classified by meaning (invalid params: exit 4; other refusals: exit 6) and never retried."""
    a = SolanaAdapter(world["net"])
    a.check_cluster()
    txids = [devnet.transfer_sol(world["user"], Keypair().pubkey(), SOL // 100) for _ in range(3)]
    sent = a.node.client.http_requests
    res = a.observe(txids)
    assert a.node.client.http_requests == sent + 1
    assert [res[t].found and res[t].success for t in txids] == [True, True, True]
    assert [devnet.records[t]["slot"] for t in txids] == [res[t].block_number for t in txids]

    from solana_devnet import RpcFault

    real = devnet.rpc

    def refusing(method, params):
        if method == "getBalance":
            raise RpcFault(-32602, "Invalid param: WrongSize")
        if method == "getTokenAccountsByOwner":
            raise RpcFault(-32010, "the owner's index is excluded from account secondary indexes")
        return real(method, params)

    monkeypatch.setattr(devnet, "rpc", refusing)
    obs = res[txids[0]]
    (tr,) = [t for t in obs.transfers if t.amount == SOL // 100]
    sent = a.node.client.http_requests
    (err,) = a.prove_each([(obs, tr)])
    assert a.node.client.http_requests == sent + 1  # answered: not retried
    assert isinstance(err, InvalidRequest) and (err.code, err.exit_code) == ("invalid_request", 4)
    mint = devnet.create_mint(world["user"], 0)
    fake = Transfer(TOKEN_INDEX_BASE, str(mint), None, tr.recipient, 1)
    (err,) = a.prove_each([(obs, fake)])
    assert isinstance(err, NodeRefused) and (err.code, err.exit_code) == ("node_refused", 6)
    assert not isinstance(err, RetryableChainError)

    # an answer of the wrong shape is not a node's error answer: retryable, named, no crash
    def garbage(method, params):
        if method == "getTransaction":
            return {"slot": 5}  # no transaction, no meta
        return real(method, params)

    monkeypatch.setattr(devnet, "rpc", garbage)
    with pytest.raises(RetryableChainError) as exc:
        SolanaAdapter(world["net"]).prove([(obs, tr)])
    assert exc.value.code == "node_answer_malformed"
