"""Sign (SIGN_MODE_DIRECT), hash, send, and read back a refund step.

The shared wallet's key is a :class:`~chains.cosmos.keys.CosmosKey` (HD seed, keystore) or a key on an HSM
token (:class:`chains.hsm.HsmKey`, the plan's ``hsm:<label>``): :class:`TokenKey` makes the latter look
like the former, so one path builds and signs the sign doc; a token-signed step is read back and
checked like an imported one before it is returned.

Signed transactions are the ``TxRaw`` bytes as hex; a txid is SHA-256 of those bytes, upper-case hex
(what CometBFT indexes and explorers show).  Broadcasting uses ``BROADCAST_MODE_SYNC`` (CheckTx only):
code 0, or a node that already holds the same bytes ("tx already in mempool" / "already exists in
cache", code 19), or bytes already in a block, is success; any other code is the node's refusal with its log.
"""

from __future__ import annotations

import base64

from chains.base import PlanStep, SweepPlan
from chains.cosmos import txbuild
from chains.cosmos.keys import PUBKEY_TYPE_URL, SECP256K1, CosmosKey, address_of, digest, verify
from chains.cosmos.rest import RestError
from chains.errors import NodeRefused, SignerMismatch, SweepRefused
from chains.hsm import HsmKey

BROADCAST = "/cosmos/tx/v1beta1/txs"
#: CheckTx answers meaning the node already has exactly these bytes (sdkerrors ErrTxInMempoolCache = 19,
#: whose log may be empty)
ALREADY_KNOWN = ("tx already in mempool", "tx already exists in cache", "already exists")
IN_MEMPOOL_CACHE = 19


def raw_bytes(raw: str) -> bytes:
    try:
        return bytes.fromhex(raw[2:] if raw[:2].lower() == "0x" else raw)
    except (ValueError, TypeError):
        raise SweepRefused("signed transaction is not hex of TxRaw bytes", code="signed_differs") from None


class TokenKey:
    """An HSM key as the sign path uses a ``CosmosKey``: the token signs the key type's digest of the sign
    doc (SHA-256, or Keccak-256 for ``eth_secp256k1``) and gives ``(r, s)`` with a low ``s``; the signature
    is the 64 bytes ``r || s``, the public key the token's compressed one."""

    def __init__(self, key: HsmKey, key_type: str):
        if key.curve != SECP256K1:
            raise SignerMismatch(f"HSM key {key.label!r} is an {key.curve} key: a Cosmos wallet is secp256k1",
                                 code="signer_mismatch")
        self.hsm, self.key_type = key, key_type

    @property
    def public_key(self) -> bytes:
        return self.hsm.public_key

    def sign(self, message: bytes) -> bytes:
        r, s = self.hsm.sign_digest(digest(message, self.key_type))
        return r.to_bytes(32, "big") + s.to_bytes(32, "big")


class SignMixin:
    """sign / txid_of / broadcast / signed_step_problem of the Cosmos adapter."""

    def _as_key(self, key) -> CosmosKey | TokenKey:
        if isinstance(key, CosmosKey):
            return key
        if isinstance(key, HsmKey):
            return TokenKey(key, self.network.cosmos.key_type)
        if isinstance(key, (bytes, bytearray)):
            return self.key_from_secret(bytes(key)).key
        raise SignerMismatch(f"not a Cosmos key: {type(key).__name__}", code="signer_mismatch")

    def sign(self, plan: SweepPlan, key_for_path) -> list[str]:
        self._check_plan(plan)
        opts = self.network.cosmos
        out = []
        for step in plan.steps:
            key = self._as_key(key_for_path(step.signer_path))
            if key.key_type != opts.key_type or address_of(key.public_key, opts.key_type, opts.bech32_prefix) \
                    != step.signer_address:
                raise SignerMismatch(f"the key derived at {step.signer_path} does not control {step.signer_address}",
                                     details={"path": step.signer_path, "address": step.signer_address})
            body = txbuild.body_bytes(step.tx)
            auth = txbuild.auth_info_bytes(step.tx, key.public_key, opts.key_type)
            doc = txbuild.sign_doc_bytes(body, auth, step.tx["chain_id"], int(step.tx["account_number"]))
            raw = txbuild.tx_raw(body, auth, key.sign(doc)).hex()
            problem = self.signed_step_problem(step, raw) if isinstance(key, TokenKey) else None
            if problem:
                raise SignerMismatch(f"step {step.seq} signed by HSM key {key.hsm.label!r}: {problem}",
                                     details={"path": step.signer_path, "address": step.signer_address})
            out.append(raw)
        return out

    def txid_of(self, raw: str) -> str:
        return txbuild.txid(raw_bytes(raw))

    def broadcast(self, raw: str) -> str:
        data = raw_bytes(raw)
        txid = txbuild.txid(data)
        self.check_chain()
        try:
            answer = self.rest.post(BROADCAST, {"tx_bytes": base64.b64encode(data).decode(),
                                                "mode": "BROADCAST_MODE_SYNC"})
        except RestError as err:
            raise NodeRefused(f"{self.network.key}: the node refused transaction {txid}: {err.node_message}",
                              details={"txid": txid, "grpc_code": err.grpc_code}) from None
        resp = answer.get("tx_response") or {}
        code = int(resp.get("code") or 0)
        log = str(resp.get("raw_log") or "")
        known = (code == IN_MEMPOOL_CACHE and (resp.get("codespace") or "sdk") == "sdk") or \
            any(w in log.lower() for w in ALREADY_KNOWN)
        # once in a block, the same bytes fail CheckTx on their used sequence: the chain already has them
        if code != 0 and not known and self._get_tx(txid) is None:
            raise NodeRefused(f"{self.network.key}: the node refused transaction {txid} (code {code}, "
                              f"{resp.get('codespace') or 'sdk'}): {log}",
                              details={"txid": txid, "code": code, "codespace": resp.get("codespace"), "log": log})
        return txid

    def signed_step_problem(self, step: PlanStep, raw: str) -> str | None:
        """Decode the ``TxRaw`` (cosmpy's protobufs) and compare every field with the step; the signature must
        verify over the step's SignDoc (its chain id and account number) with a key that is the step's
        signer's."""
        opts = self.network.cosmos
        try:
            decoded = txbuild.decode_raw(raw_bytes(raw))
        except SweepRefused as exc:
            return str(exc)
        if decoded.problems:
            return "; ".join(decoded.problems)
        want = {k: str(step.tx.get(k) if k != "memo" else step.tx.get(k) or "") for k in txbuild.TX_FIELDS
                if k not in ("chain_id", "account_number")}
        diffs = [f"{k} is {decoded.fields.get(k)!r}, the plan says {v!r}" for k, v in want.items()
                 if str(decoded.fields.get(k)) != v]
        if decoded.fields.get("from") != step.signer_address:
            diffs.append(f"it is sent from {decoded.fields.get('from')}, not the step's signer {step.signer_address}")
        if diffs:
            return "; ".join(diffs)
        if decoded.public_key is None or decoded.pubkey_type != PUBKEY_TYPE_URL[opts.key_type]:
            return f"its signer key is {decoded.pubkey_type or 'missing'}, not a {opts.key_type} key"
        try:
            signer = address_of(decoded.public_key, opts.key_type, opts.bech32_prefix)
        except Exception:
            return "its signer key is not a secp256k1 point"
        if signer != step.signer_address:
            return f"it is signed by {signer}, not {step.signer_address}"
        doc = txbuild.sign_doc_bytes(decoded.body, decoded.auth_info, step.tx["chain_id"], int(step.tx["account_number"]))
        if not verify(decoded.public_key, doc, decoded.signature, opts.key_type):
            return "its signature does not verify for the step's chain id and account number"
        return None
