"""The Stellar family's reading of REAL recorded Horizon records (tests/chains/stellar/fixtures/README.md says
where each came from), and ``scan_incoming`` against the loopback Horizon (tests/support/horizon_replay.py).

Recorded: a 2019 transaction with a text memo_type and its ``path_payment`` operation (the sixth of six, as
``/operations?join=transactions`` answered it: the record Horizon wrote before protocol 12 renamed the type
``path_payment_strict_receive``), served by the replay unchanged and read by ``observe``; and three recorded
``/accounts/{id}/payments`` pages (testnet native payments, testnet ``path_payment_strict_send`` whose
``destination_min`` 9 is less than the 10 that arrived, pubnet ``path_payment`` with ``source_max``) read as
``observe`` and ``scan_incoming`` read operation records."""

from __future__ import annotations

from stellar_sdk import Keypair, MuxedAccount

from chains.base import NATIVE, Capability
from chains.stellar.observe import deposits_in_page, transfer_of, transfers_of
from horizon_replay import fixture
from test_stellar_family import XLM, _deposit, _pay, world  # noqa: F401 - the module's replay fixture

LIVE_TX = "de8ca055af7972f817e9d3f7c7a0b480de82593bc378f0e48f83b8e31985e4e5"


def _records(name: str) -> list[dict]:
    return fixture(name)["_embedded"]["records"]


# -- observe over the recorded transaction, served verbatim ----------------------------------------

def test_recorded_path_payment_transaction_is_observed_as_recorded(world):
    tx, page = fixture("live_tx_de8ca055.json"), fixture("live_ops_de8ca055.json")
    replay = world["replay"]
    assert replay.transactions[LIVE_TX] == tx and replay.operation_pages[LIVE_TX] == page  # unchanged
    obs = world["adapter"].tx_status(LIVE_TX.upper())
    assert obs.found and obs.success is True and obs.block_number == 679846 and obs.confirmations == 1
    assert obs.sender == "GBIABVWR2LOKFDMAI6QA2NGT4G54O3BC577GAWDQ6QMOUP5E3ULBBGYX"
    (t,) = obs.transfers
    # operation id 2919916336320518 = 679846 << 32 | 1 << 12 | 6: the sixth operation, index 5 (not its place
    # in the answered page); its text memo is empty: no memo
    assert (t.index, t.asset, t.sender, t.recipient, t.amount, t.memo) == (
        5, "USD:GBXGR3C3VKWAJCWLF7LX5TLS4KWQKPKJ4KUOJ6T6NEBROA62TTUUM6GD",
        "GD7PZVW3WXKEWT4XQPV57K3DARCAQ5XZE5ZWFSDTGHBMQ4U7ZWYWZLPC",
        "GCC3LGXHBZ6NSJOJCETNRRYTNDQJGCRC3P7YC2ZQ2ER3YWVJJQ2YDUL7", 100_000_000_000, None)
    assert isinstance(t.amount, int)
    assert world["adapter"].recheck_deposit(txid=LIVE_TX, block_number=679846, block_hash=None,
                                            recipient=t.recipient, asset=t.asset, amount=t.amount, index=5) is None


# -- operation records as recorded ----------------------------------------------------------------

def test_recorded_native_payments_are_exact_stroops():
    ops = _records("testnet_payments_GCNL55.json")
    out = transfers_of({"memo_type": "text", "memo": "deposit 17"}, ops)
    # create_account and account_merge are not payments; the rest are, each at its decimal string exactly
    assert [(t.index, t.asset, t.amount, t.memo) for t in out[:3]] == [
        (0, NATIVE, 6_884_065_454, "deposit 17"), (0, NATIVE, 3_553_887_598, "deposit 17"),
        (0, "USD:GDUKMGUGDZQK6YHYA5Z6AY2G4XDSZPSZ3SW5UN3ARVMO6QSRDWP5YLEX", 849_410_878, "deposit 17")]
    dust = transfer_of(ops[5], None)
    assert (dust.index, dust.amount, dust.sender, dust.recipient) == (
        30, 1, "GBDSJHAGNQDL2WZ5LBRSIVI6MUHJO6CLKF5XFVUK7GMPUQ4NBLSYVAHX",
        "GCNL55IJTH2HX26HLNIGYD2JIQLTBAQL3SVPNZA6PXK7NAVHU423WOTE")


def test_recorded_strict_send_counts_amount_not_destination_min():
    op = _records("testnet_payments_GCKZFMAO.json")[1]
    assert (op["type"], op["amount"], op["destination_min"], op["source_amount"]) == (
        "path_payment_strict_send", "10.0000000", "9.0000000", "10.0000000")
    t = transfer_of(op, None)
    assert (t.asset, t.amount, t.recipient) == ("POC:GDLDBAEQ2HNCIGYUSOZGWOLVUFF6HCVPEAEN3NH54GD37LFJXGWBRPII",
                                                100_000_000, "GCKZFMAONEZXIYINFMWEE3GA7RXK6ASUCIM7VYHRMMM2P25IRMWVFPSE")


def test_recorded_pubnet_path_payment_counts_amount_not_source_max():
    op = _records("pubnet_payments_GB36JPXH.json")[1]
    assert (op["type"], op["type_i"]) == ("path_payment", 2) and "source_max" in op
    t = transfer_of(op, "memo")
    assert (t.asset, t.amount, t.memo) == (NATIVE, 690_000_000, "memo")
    assert t.recipient == "GB36JPXHJIP34EBRTZ6JVJXL3HEQ65S3CGOID2LKJXBYN2DNLVOFL6FX"


def test_recorded_payments_page_scanned_into_the_address_within_the_ledgers():
    """The testnet page of GCNL55...: payments into it in ledgers 26857992..34308569, not the one it sent nor
    the ones past the range; the memo is the transaction's (here given: the page was recorded unjoined)."""
    address = "GCNL55IJTH2HX26HLNIGYD2JIQLTBAQL3SVPNZA6PXK7NAVHU423WOTE"
    memos = {"c09d4cee": {"successful": True, "memo_type": "id", "memo": "42"},
             "c25dd847": {"successful": False, "memo_type": "none"}}
    tx_of = lambda h: memos.get(h[:8], {"successful": True, "memo_type": "none"})  # noqa: E731
    found, done = deposits_in_page(_records("testnet_payments_GCNL55.json"), address, 26857992, 34308569, tx_of)
    assert done is True
    assert [(d.txid[:8], d.block_number, d.index, d.amount, d.memo) for d in found] == [
        ("c09d4cee", 26857992, 0, 6_884_065_454, "42"), ("b53cd1d3", 34307708, 30, 1, None),
        ("1be9f5f3", 34308569, 30, 1, None)]
    assert found[0].sender == "GDV4KECLSZLKRVH4ZTWVAS4I3W2LPAPV66ADFFUZKGIVOTK6GMKGJT53"
    found, done = deposits_in_page(_records("testnet_payments_GCNL55.json"), address, 0, 10**9, tx_of)
    assert done is False and len(found) == 6


# -- scan_incoming against the replay -------------------------------------------------------------

def test_scan_incoming_finds_memo_and_memoless_deposits_not_failed_ones(world):
    adapter, replay, ex = world["adapter"], world["replay"], world["exchange"].public_key
    assert adapter.can(Capability.SCAN_INCOMING)
    start = replay.ledger + 1
    plain = _deposit(world, amount="2")
    memo = _deposit(world, memo="1042", amount="3")
    failed = replay.record(_pay(world, memo="77", amount="4"), successful=False)
    muxed = _deposit(world, to=MuxedAccount(ex, 9001).account_muxed, amount="5")
    elsewhere = _deposit(world, to=world["other"].public_key, amount="6")
    end = replay.ledger
    later = _deposit(world, memo="999", amount="7")
    seen = []
    found = adapter.scan_incoming([ex, ex], start, end, progress=seen.append)
    by_tx = {d.txid: d for d in found}
    assert set(by_tx) == {plain, memo, muxed} and failed not in by_tx and elsewhere not in by_tx
    assert later not in by_tx and seen == [1]
    assert (by_tx[plain].memo, by_tx[plain].amount, by_tx[plain].sender) == (None, 2 * XLM, world["user"].public_key)
    assert (by_tx[memo].memo, by_tx[memo].amount, by_tx[memo].index) == ("1042", 3 * XLM, 0)
    assert (by_tx[muxed].memo, by_tx[muxed].recipient) == ("9001", ex)
    assert [d.block_number for d in found] == sorted(d.block_number for d in found)
    q = replay.payment_queries[-1]
    assert (q["order"], q["limit"], q["include_failed"], q["join"], q["cursor"]) == (
        "asc", "200", "false", "transactions", str(start << 32))
    for d in found:  # index as observe gives it
        assert d.index in {t.index for t in adapter.tx_status(d.txid).transfers}


def test_scan_incoming_pages_by_cursor(world, monkeypatch):
    import chains.stellar.observe as observe

    adapter, replay, ex = world["adapter"], world["replay"], world["exchange"].public_key
    start = replay.ledger + 1
    txids = [_deposit(world, memo=str(100 + i), amount="1") for i in range(5)]
    monkeypatch.setattr(observe, "SCAN_PAGE", 2)
    before = len(replay.payment_queries)
    found = adapter.scan_incoming([ex], start, replay.ledger)
    assert [d.txid for d in found] == txids and [d.memo for d in found] == ["100", "101", "102", "103", "104"]
    assert len(replay.payment_queries) - before == 3


def test_scan_incoming_of_an_unknown_account_finds_nothing(world):
    assert world["adapter"].scan_incoming([Keypair.random().public_key], 1, world["replay"].ledger) == []
