"""A refund step as a stellar-sdk transaction, and a signed envelope read back into the step's fields (pure).

A step's ``tx`` fixes everything the signed bytes hold: source, sequence, fee, time bounds, memo, and one
Payment (destination, asset, amount in stroops), so the envelope is rebuilt from it byte for byte and its hash
(the txid: SHA-256 of the network id and the transaction, not the signatures) is known before signing.
"""

from __future__ import annotations

from chains.base import NATIVE
from chains.stellar.common import from_stroops, sdk_asset, to_stroops

# Imports inside functions: stellar-sdk's builder and XDR load on first use, as in the family's other modules.

TX_FIELDS = ("network_passphrase", "source", "sequence", "fee", "min_time", "max_time", "memo_type", "memo",
             "destination", "asset", "amount")
UINT64_MAX = 2**64 - 1
MAX_TEXT_MEMO = 28  # bytes (XDR string<28>)


def memo_fields(memo: str | None) -> tuple[str, str]:
    """``(memo_type, memo)`` a refund carries: ``id`` when the memo is all digits and fits uint64 (what
    exchanges' memo ids are), else ``text`` up to 28 bytes; none without one.  Others are refused."""
    from chains.errors import InvalidRequest

    if not memo:
        return "none", ""
    # "007" as an id would arrive as "7", another memo: digits with a leading zero go as text, as written
    if memo.isascii() and memo.isdigit() and int(memo) <= UINT64_MAX and memo == str(int(memo)):
        return "id", memo
    if len(memo.encode("utf-8")) > MAX_TEXT_MEMO:
        raise InvalidRequest(f"the memo {memo!r} is {len(memo.encode())} bytes: a Stellar text memo holds at most "
                             f"{MAX_TEXT_MEMO} (an id memo: digits up to {UINT64_MAX})", code="bad_memo")
    return "text", memo


def sdk_memo(memo_type: str, memo: str):
    from stellar_sdk import IdMemo, NoneMemo, TextMemo

    if memo_type == "id":
        return IdMemo(int(memo))
    if memo_type == "text":
        return TextMemo(memo)
    return NoneMemo()


def envelope(tx: dict):
    """The unsigned ``TransactionEnvelope`` of a step (stellar-sdk's builder and XDR)."""
    from stellar_sdk import Account, TransactionBuilder

    builder = TransactionBuilder(Account(tx["source"], int(tx["sequence"]) - 1), tx["network_passphrase"],
                                 base_fee=int(tx["fee"]))
    builder.add_time_bounds(int(tx["min_time"]), int(tx["max_time"]))
    builder.add_memo(sdk_memo(tx["memo_type"], tx["memo"]))
    builder.append_payment_op(tx["destination"], sdk_asset(tx["asset"]), from_stroops(int(tx["amount"])))
    return builder.build()


def decode(raw: str, passphrase: str) -> tuple[object, dict]:
    """``(envelope, fields)`` of a signed envelope (base64 XDR), ``fields`` named as :data:`TX_FIELDS`;
    ``ValueError`` when it is not one plain Payment transaction."""
    from stellar_sdk import IdMemo, NoneMemo, Payment, TextMemo, TransactionEnvelope

    env = TransactionEnvelope.from_xdr(raw, passphrase)
    t = env.transaction
    ops = t.operations
    if len(ops) != 1 or not isinstance(ops[0], Payment) or ops[0].source is not None:
        raise ValueError("it is not one Payment operation of the transaction's own account")
    op = ops[0]
    memo = t.memo
    if isinstance(memo, IdMemo):
        mt, mv = "id", str(memo.memo_id)
    elif isinstance(memo, TextMemo):
        mt, mv = "text", memo.memo_text.decode("utf-8") if isinstance(memo.memo_text, bytes) else memo.memo_text
    elif isinstance(memo, NoneMemo):
        mt, mv = "none", ""
    else:
        mt, mv = type(memo).__name__, ""
    bounds = t.preconditions.time_bounds if t.preconditions else None
    asset = NATIVE if op.asset.is_native() else f"{op.asset.code}:{op.asset.issuer}"
    return env, {"network_passphrase": passphrase, "source": t.source.universal_account_id,
                 "sequence": str(t.sequence), "fee": str(t.fee),
                 "min_time": str(bounds.min_time if bounds else 0), "max_time": str(bounds.max_time if bounds else 0),
                 "memo_type": mt, "memo": mv, "destination": op.destination.universal_account_id, "asset": asset,
                 "amount": str(to_stroops(op.amount))}
