"""A refund transaction as protobuf bytes (cosmpy's generated ``cosmos.tx.v1beta1`` and ``cosmos.bank.v1beta1``
messages), and back: pure functions, no node.

The plan step's ``tx`` holds every field that fixes the signed bytes: ``chain_id``, ``account_number``,
``sequence``, ``from``, ``to``, ``denom``, ``amount``, ``memo``, ``gas``, ``fee_amount``, ``fee_denom`` (numbers as
text).  One ``MsgSend`` in the body, one signer in SIGN_MODE_DIRECT: the signature covers
``SignDoc(body_bytes, auth_info_bytes, chain_id, account_number)``, so the chain id and account number
are fixed by the signature although the ``TxRaw`` does not carry them.

A transaction's hash is SHA-256 of its ``TxRaw`` bytes (what CometBFT indexes), upper-case hex.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

from cosmpy.protos.cosmos.bank.v1beta1.tx_pb2 import MsgSend
from cosmpy.protos.cosmos.base.v1beta1.coin_pb2 import Coin
from cosmpy.protos.cosmos.crypto.secp256k1.keys_pb2 import PubKey
from cosmpy.protos.cosmos.tx.signing.v1beta1.signing_pb2 import SignMode
from cosmpy.protos.cosmos.tx.v1beta1.tx_pb2 import AuthInfo, Fee, ModeInfo, SignDoc, SignerInfo, TxBody, TxRaw
from google.protobuf.any_pb2 import Any
from google.protobuf.message import DecodeError

from chains.cosmos.keys import PUBKEY_TYPE_URL
from chains.errors import SweepRefused

MSG_SEND = "/cosmos.bank.v1beta1.MsgSend"
MSG_MULTI_SEND = "/cosmos.bank.v1beta1.MsgMultiSend"
TX_FIELDS = ("chain_id", "account_number", "sequence", "from", "to", "denom", "amount", "memo", "gas",
             "fee_amount", "fee_denom")


def body_bytes(tx: dict) -> bytes:

    msg = MsgSend(from_address=tx["from"], to_address=tx["to"],
                  amount=[Coin(denom=tx["denom"], amount=str(int(tx["amount"])))])
    return TxBody(messages=[Any(type_url=MSG_SEND, value=msg.SerializeToString())],
                  memo=tx.get("memo") or "").SerializeToString()


def auth_info_bytes(tx: dict, public_key: bytes | None, key_type: str) -> bytes:
    """One SIGN_MODE_DIRECT signer at ``tx["sequence"]``; ``public_key`` None leaves it out (a simulation
    for an account that has never signed: the node then uses its own placeholder key)."""

    signer = SignerInfo(mode_info=ModeInfo(single=ModeInfo.Single(mode=SignMode.SIGN_MODE_DIRECT)),
                        sequence=int(tx["sequence"]))
    if public_key is not None:  # ethsecp256k1.PubKey has the same shape (one bytes field): only the URL differs
        signer.public_key.CopyFrom(Any(type_url=PUBKEY_TYPE_URL[key_type],
                                       value=PubKey(key=bytes(public_key)).SerializeToString()))
    fee = Fee(amount=[Coin(denom=tx["fee_denom"], amount=str(int(tx["fee_amount"])))], gas_limit=int(tx["gas"]))
    return AuthInfo(signer_infos=[signer], fee=fee).SerializeToString()


def sign_doc_bytes(body: bytes, auth_info: bytes, chain_id: str, account_number: int) -> bytes:

    return SignDoc(body_bytes=body, auth_info_bytes=auth_info, chain_id=chain_id,
                   account_number=int(account_number)).SerializeToString()


def tx_raw(body: bytes, auth_info: bytes, signature: bytes) -> bytes:

    return TxRaw(body_bytes=body, auth_info_bytes=auth_info, signatures=[signature]).SerializeToString()


def unsigned_raw(tx: dict, public_key: bytes | None, key_type: str) -> bytes:
    """The step with an empty signature: what ``/cosmos/tx/v1beta1/simulate`` takes (it checks no signature)."""
    return tx_raw(body_bytes(tx), auth_info_bytes(tx, public_key, key_type), b"")


def txid(raw: bytes) -> str:
    return hashlib.sha256(raw).hexdigest().upper()


@dataclass(frozen=True)
class Decoded:
    """A signed ``TxRaw`` read back: the step's fields it fixes, the signer's key and the signature."""

    fields: dict
    pubkey_type: str | None
    public_key: bytes | None
    signature: bytes
    body: bytes
    auth_info: bytes
    problems: tuple[str, ...] = ()


def decode_raw(raw: bytes) -> Decoded:
    """Parse signed bytes into the step's fields (``chain_id`` and ``account_number`` are not in a ``TxRaw``:
    the signature fixes them).  Anything this family never builds is listed in ``problems``."""

    try:
        txr = TxRaw.FromString(raw)
        body, auth = TxBody.FromString(txr.body_bytes), AuthInfo.FromString(txr.auth_info_bytes)
    except DecodeError:
        raise SweepRefused("the signed bytes are not a Cosmos TxRaw", code="signed_differs") from None
    problems = []
    if len(body.messages) != 1 or body.messages[0].type_url != MSG_SEND:
        problems.append(f"messages {[m.type_url for m in body.messages]} instead of one {MSG_SEND}")
    if body.timeout_height or body.extension_options or body.non_critical_extension_options:
        problems.append("the body carries a timeout height or extension options")
    if len(auth.signer_infos) != 1 or len(txr.signatures) != 1:
        problems.append(f"{len(auth.signer_infos)} signers and {len(txr.signatures)} signatures instead of one")
    if len(auth.fee.amount) != 1 or auth.fee.payer or auth.fee.granter:
        problems.append("the fee is not one coin paid by the signer")
    fields: dict = {"gas": str(auth.fee.gas_limit), "memo": body.memo}
    if auth.fee.amount:
        fields.update(fee_amount=auth.fee.amount[0].amount, fee_denom=auth.fee.amount[0].denom)
    if body.messages and body.messages[0].type_url == MSG_SEND:
        msg = MsgSend.FromString(body.messages[0].value)
        fields.update({"from": msg.from_address, "to": msg.to_address})
        if len(msg.amount) == 1:
            fields.update(denom=msg.amount[0].denom, amount=msg.amount[0].amount)
        else:
            problems.append(f"the MsgSend moves {len(msg.amount)} coins instead of one")
    pubkey_type = public_key = None
    if auth.signer_infos:
        info = auth.signer_infos[0]
        fields["sequence"] = str(info.sequence)
        if info.mode_info.WhichOneof("sum") != "single" or info.mode_info.single.mode != SignMode.SIGN_MODE_DIRECT:
            problems.append("the signer does not sign in SIGN_MODE_DIRECT")
        if info.HasField("public_key"):
            pubkey_type, public_key = info.public_key.type_url, PubKey.FromString(info.public_key.value).key
    return Decoded(fields, pubkey_type, public_key, txr.signatures[0] if txr.signatures else b"",
                   txr.body_bytes, txr.auth_info_bytes, tuple(problems))
