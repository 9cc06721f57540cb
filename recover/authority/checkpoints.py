"""Audit checkpoints: the heads of the audit chain and of the statement log, signed by the signer
host's checkpoint key and kept outside the database, so that ``audit verify`` detects a history
truncated or rewritten (and re-hashed) since.
"""

from __future__ import annotations

import sqlalchemy as sa
from sqlmodel import Session, select

from recover.authority.statement_log import log_head
from recover.authority.statements import signature_valid
from recover.storage.audit import GENESIS, now_text
from recover.storage.canonical import canonical_json
from recover.storage.models import AuditEvent

# Imports inside functions: PyNaCl and webauthn load when a key is opened or a signature checked, not with
# every read that shows no signature.

CHECKPOINT_FORMAT = "recover-audit-checkpoint/2"
_CHECKPOINT_PERSON = b"recover-audit-1"  # BLAKE2b personalisation: this key is for checkpoints only


def checkpoint_key(seed: bytes):
    """The signer host's checkpoint key: an Ed25519 key from its BIP-39 seed, by keyed BLAKE2b
    (PyNaCl) with its own personalisation, so it is no key of any deposit or wallet."""
    from nacl.encoding import RawEncoder
    from nacl.hash import blake2b
    from nacl.signing import SigningKey

    return SigningKey(blake2b(b"audit checkpoint", key=seed[:64], person=_CHECKPOINT_PERSON, digest_size=32,
                              encoder=RawEncoder))


def make_checkpoint(session: Session, signing_key) -> dict:
    """The heads of the audit chain (its seq, hash and event count) and of the statement log (seq and
    entry), signed: kept outside the database, it lets ``audit verify`` detect a history truncated or
    rewritten (and re-hashed) since."""
    last = session.exec(select(AuditEvent).order_by(AuditEvent.seq.desc()).limit(1)).first()
    count = session.exec(sa.select(sa.func.count()).select_from(AuditEvent)).one()[0] if last else 0
    head = log_head(session, lock=False)
    body = {"format": CHECKPOINT_FORMAT, "seq": last.seq if last else 0, "hash": last.hash if last else GENESIS,
            "events": int(count), "statements": {"seq": head.seq, "entry": head.entry}, "at": now_text()}
    signature = signing_key.sign(canonical_json(body).encode("utf-8")).signature.hex()
    return {**body, "public_key": signing_key.verify_key.encode().hex(), "signature": signature}


def checkpoint_problems(session: Session, doc: dict, *, expected_public_key: str | None,
                        log_entries: dict[int, str] | None = None, log_seq: int | None = None) -> list[str]:
    """What is wrong with the chains, or with the checkpoint itself, against a checkpoint.  The key is
    the one the trust root pins (never the one the file names); ``log_entries`` maps statement seqs to
    their recomputed entries and ``log_seq`` is where the statement log ends (``recover.authority.statement_log``)."""
    keys = ("format", "seq", "hash", "events", "statements", "at")
    if not isinstance(doc, dict) or doc.get("format") != CHECKPOINT_FORMAT or any(k not in doc for k in keys):
        return ["the checkpoint file is not an audit checkpoint (of this version)"]
    if not expected_public_key:
        return ["the trust root pins no checkpoint key: make a trust root with `recover trust init "
                "--checkpoint-key` to check checkpoints"]
    body = {k: doc[k] for k in keys}
    public = str(doc.get("public_key") or "")
    if public != expected_public_key:
        return ["the checkpoint is not signed by the checkpoint key the trust root pins"]
    if not signature_valid(public, canonical_json(body), str(doc.get("signature") or "")):
        return ["the checkpoint's signature does not verify: the file was altered"]
    out = []
    seq, head = int(doc["seq"]), str(doc["hash"])
    if seq:
        ev = session.exec(select(AuditEvent).where(AuditEvent.seq == seq)).first()
        if ev is None:
            last = session.exec(select(AuditEvent).order_by(AuditEvent.seq.desc()).limit(1)).first()
            out.append(f"event {seq} of the checkpoint is missing: the history was truncated "
                       f"(the chain now ends at event {last.seq if last else 0})")
        elif ev.hash != head:
            out.append(f"event {seq} no longer has the hash the checkpoint signed: the history up to it was "
                       "rewritten (and re-hashed) since the checkpoint")
    st = doc["statements"] if isinstance(doc["statements"], dict) else {}
    st_seq, st_entry = int(st.get("seq") or 0), str(st.get("entry") or "")
    if st_seq and log_seq is not None and st_seq > log_seq:
        out.append(f"statement {st_seq} of the checkpoint is missing: the statement log was truncated (it now ends "
                   f"at statement {log_seq})")
    elif st_seq and log_entries is not None and log_entries.get(st_seq) not in (None, st_entry):
        out.append(f"statement {st_seq} of the log is not the one the checkpoint signed: the statement log was "
                   "rewritten since the checkpoint")
    return out
