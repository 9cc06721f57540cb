"""Bitcoin-family transactions through bitcoinlib: one builder for a plan step, parsing, txids, scripts
and the worst-case size rule.

* :func:`build_transaction` turns a plan step's ``tx`` document (inputs with their values and script
  types, outputs with their locking scripts) into a bitcoinlib :class:`~bitcoinlib.transactions.Transaction`.
  The plan's ``unsigned_hex`` is that object's serialization without scripts or witnesses; the
  signer builds the same object with the public key and signs *it* (no second serialization to
  reconcile): :func:`unsigned_hex` of the signer's object must equal the approved ``unsigned_hex``.
* :func:`parse_raw` / :func:`txid_of_raw`: bitcoinlib's parser (its txid is over the non-witness
  serialization); a raw transaction is accepted only if bitcoinlib serializes the parse back to the
  very same bytes (no trailing bytes, nothing it did not understand).
* :func:`output_script`: the locking script and type of an address (bitcoinlib ``Output``).
* :func:`worst_case_vsize`: bitcoinlib's ``estimate_size`` is an estimate (it subtracts 1.5 vbytes
  and assumes 72-byte signatures), not an upper bound, and a plan must never cost more than quoted.
  So the transaction is built in bitcoinlib with the largest scripts a signature can give (a
  73-byte DER signature push with its hash type, a 33-byte key) and its size is measured from
  bitcoinlib's own serialization: weight = 3 x non-witness bytes + all bytes (BIP-141).
"""

from __future__ import annotations

import math
from typing import Sequence

from chains.errors import InvalidAddress
from chains.utxo.networks import register_networks

# Imports inside functions: bitcoinlib / embit load on first use: importing the family (to validate an
# address) loads no SDK.

__all__ = ["SEQUENCE_FINAL", "TX_VERSION", "SPENDABLE", "build_transaction", "unsigned_hex", "parse_raw",
           "txid_of_raw", "output_script", "worst_case_vsize", "signed_differs", "hex_bytes", "input_types"]

SEQUENCE_FINAL = 0xFFFFFFFF
TX_VERSION = 2
SPENDABLE = ("p2pkh", "p2sh-p2wpkh", "p2wpkh")
# our script type -> bitcoinlib (input witness_type, input script_type)
_BCL_INPUT = {"p2pkh": ("legacy", "sig_pubkey"), "p2sh-p2wpkh": ("p2sh-segwit", "p2sh_p2wpkh"),
              "p2wpkh": ("segwit", "sig_pubkey")}
# bitcoinlib output script_type -> ours
_BCL_OUTPUT = {"p2pkh": "p2pkh", "p2sh": "p2sh", "p2wpkh": "p2wpkh", "p2wsh": "p2wsh", "p2tr": "p2tr"}
_DUMMY_PUB = bytes.fromhex("0279be667ef9dcbbac55a06295ce870b07029bfcdb2dce28d959f2815b16f81798")
_MAX_SIG = bytes(73)  # DER signature at its 72-byte maximum + the hash type byte


def hex_bytes(raw: str | bytes) -> bytes:
    if isinstance(raw, (bytes, bytearray)):
        return bytes(raw)
    s = raw.strip()
    s = s[2:] if s.startswith("0x") else s
    try:
        return bytes.fromhex(s)
    except ValueError:
        raise ValueError("not a hex-encoded transaction") from None


def _networks() -> None:
    register_networks()


def input_types(doc: dict) -> list[str]:
    return [i["script_type"] for i in doc["inputs"]]


def _new(network: str, types: Sequence[str], version: int, locktime: int):
    from bitcoinlib.transactions import Transaction

    _networks()
    legacy = all(t == "p2pkh" for t in types)
    return Transaction(network=network, witness_type="legacy" if legacy else "segwit", version=version,
                       locktime=locktime)


def build_transaction(doc: dict, network: str, *, public_hex: str | None = None):
    """The bitcoinlib ``Transaction`` of plan step ``doc`` (unsigned).  With ``public_hex`` the inputs
    carry the signer's key, ready for ``sign()``; without it they are identified by their address."""
    types = input_types(doc)
    bad = sorted(set(types) - set(SPENDABLE))
    if bad:
        raise ValueError(f"cannot spend {', '.join(bad)} inputs")
    t = _new(network, types, int(doc["version"]), int(doc["locktime"]))
    for i in doc["inputs"]:
        wt, st = _BCL_INPUT[i["script_type"]]
        who = {"keys": public_hex} if public_hex else {"address": i["address"]}
        t.add_input(i["txid"], int(i["vout"]), value=int(i["amount"]), witness_type=wt, script_type=st,
                    sequence=int(i.get("sequence", SEQUENCE_FINAL)), **who)
    for o in doc["outputs"]:
        t.add_output(int(o["amount"]), lock_script=bytes.fromhex(o["script_pubkey"]))
    return t


def unsigned_hex(t) -> str:
    """The serialization without scriptSigs and witnesses (what a PSBT carries, what approvals hash)."""
    return t.raw_hex(witness_type="legacy")


def parse_raw(raw: str | bytes, network: str = "bitcoin"):
    """bitcoinlib's parse of serialized transaction bytes; ValueError unless it serializes back to them."""
    from bitcoinlib.transactions import Transaction

    _networks()
    data = hex_bytes(raw)
    try:
        t = Transaction.parse_bytes(data, network=network)
    except Exception as exc:  # bitcoinlib raises several types on malformed bytes
        raise ValueError(f"not a transaction ({type(exc).__name__}: {exc})") from None
    if not t.inputs:
        raise ValueError("a transaction without inputs")
    witness = any(i.witnesses and i.witness_type != "legacy" for i in t.inputs)
    again = t.raw(witness_type="segwit" if witness else "legacy")
    if again != data:
        raise ValueError("trailing or unparsed bytes in the transaction")
    return t


def txid_of_raw(raw: str | bytes, network: str = "bitcoin") -> str:
    """The txid of serialized transaction bytes (double SHA-256 of the non-witness serialization)."""
    return parse_raw(raw, network).txid


def output_script(address: str, network: str) -> tuple[bytes, str]:
    """The locking script of ``address`` on the bitcoinlib ``network`` and its type
    (p2pkh, p2sh, p2wpkh, p2wsh, p2tr).  Raises ``InvalidAddress``."""
    from bitcoinlib.keys import deserialize_address
    from bitcoinlib.transactions import Output

    _networks()
    try:
        info = deserialize_address(address, network=network)
        if info["encoding"] != "base58" and network not in (info.get("networks") or []):
            raise ValueError(f"not a {network} address")
        out = Output(0, address=address, network=network)
    except InvalidAddress:
        raise
    except Exception as exc:
        raise InvalidAddress(f"{address!r} is not a {network} address: {exc}") from None
    st = _BCL_OUTPUT.get(out.script_type)
    if st is None:
        raise InvalidAddress(f"{address!r}: unsupported address type {out.script_type}")
    return bytes(out.lock_script), st


def worst_case_vsize(types: Sequence[str], output_scripts: Sequence[bytes], *, network: str = "bitcoin") -> int:
    """The largest virtual size a transaction spending inputs of ``types`` to ``output_scripts`` can
    have once signed (see the module docstring)."""
    if not types:
        raise ValueError("a transaction needs inputs")
    bad = sorted(set(types) - set(SPENDABLE))
    if bad:
        raise ValueError(f"cannot spend a {', '.join(bad)} input")
    from bitcoinlib.encoding import varstr

    t = _new(network, types, TX_VERSION, 0)
    for n, st in enumerate(types):
        wt, bst = _BCL_INPUT[st]
        t.add_input(bytes(32), n, keys=_DUMMY_PUB.hex(), value=1, witness_type=wt, script_type=bst)
        inp = t.inputs[-1]
        if st == "p2pkh":
            inp.unlocking_script = varstr(_MAX_SIG) + varstr(_DUMMY_PUB)
        else:
            inp.witnesses = [_MAX_SIG, _DUMMY_PUB]
            inp.unlocking_script = varstr(b"\x00" + varstr(bytes(20))) if st == "p2sh-p2wpkh" else b""
    for s in output_scripts:
        t.add_output(1, lock_script=bytes(s))
    if t.witness_type == "legacy":
        return len(t.raw(witness_type="legacy"))
    base, total = len(t.raw(witness_type="legacy")), len(t.raw(witness_type="segwit"))
    return math.ceil((3 * base + total) / 4)


def signed_differs(doc: dict, raw: str, network: str) -> str | None:
    """Why signed ``raw`` is not plan step ``doc`` (same inputs in order, same outputs, same
    version/locktime/sequences, and signed), or None."""
    try:
        p = parse_raw(raw, network)
    except ValueError as exc:
        return str(exc)
    want_in = [(i["txid"], int(i["vout"]), int(i.get("sequence", SEQUENCE_FINAL))) for i in doc["inputs"]]
    got_in = [(i.prev_txid.hex(), int(i.output_n_int), int(i.sequence)) for i in p.inputs]
    if want_in != got_in:
        return "it spends other inputs"
    want_out = [(int(o["amount"]), o["script_pubkey"]) for o in doc["outputs"]]
    got_out = [(int(o.value), bytes(o.lock_script).hex()) for o in p.outputs]
    if want_out != got_out:
        return "it pays other outputs or amounts"
    if int(p.version_int) != int(doc["version"]) or int(p.locktime) != int(doc["locktime"]):
        return "other version or locktime"
    if not any(i.unlocking_script or (i.witnesses and any(i.witnesses)) for i in p.inputs):
        return "it is not signed"
    return None
