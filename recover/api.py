"""The Python API: the same operations as the CLI (which is a thin client of this module).

Every function opens one unit of work: it commits when it returns and leaves the database exactly
as it was when it raises.  ``db`` is a database URL (default: ``RECOVER_DB_URL`` or
``sqlite:///recover.db``).  Every state-changing function is done by an enrolled operator: ``key``
is their key file (or a PyNaCl ``SigningKey``), default ``RECOVER_OPERATOR_KEY``; admin functions
take ``admin_keys`` (files), as many as the trust root's quorum.
"""

from __future__ import annotations

from pathlib import Path

from recover.db import require_schema, session_scope, upgrade_to_head

SPECIALIST = ("specialist",)
APPROVING = ("approver", "senior")
WALLET_TEAM = ("approver", "senior")  # sign, export, import-signed, credits export
ANY_ROLE = ()


def _key(key):
    """The operator's signing key, opened before any transaction starts (the KDF takes a moment)."""
    from recover.authority import load_operator_key

    return load_operator_key(key)


def _acting(session, signing_key, roles, doing: str):
    from recover.authority import acting

    return acting(session, signing_key, roles, doing=doing)


def _admins(admin_keys):
    from recover.trust import admin_keys_from_files, load_trust_root

    root = load_trust_root()
    return root, admin_keys_from_files(list(admin_keys or []), root)


def _accept_history(session, doing: str, root=None):
    """A decision rests on the whole statement log, extending this host's pinned head
    (:func:`recover.history.accept_history`); refused (exit 7) otherwise."""
    from recover.history import accept_history
    from recover.trust import load_trust_root

    return accept_history(session, root or load_trust_root(), doing=doing)


def init(db: str | None = None) -> str:
    """Create or upgrade the case database to the newest schema; returns the revision."""
    return upgrade_to_head(db)


def list_networks(recovery_class: str | None = None, *, include_devnets: bool = True):
    from recover.errors import InvalidInput
    from recover.registry import networks

    if recovery_class not in (None, "direct", "conditional"):
        raise InvalidInput(f"--class must be direct or conditional, not {recovery_class!r}")
    nets = sorted(networks().values(), key=lambda n: (n.devnet, n.recovery_class, n.key))
    return [n for n in nets if (recovery_class is None or n.recovery_class == recovery_class)
            and (include_devnets or not n.devnet)]


def import_addresses(path: str | Path, *, admin_keys: list, db: str | None = None):
    """Register deposit addresses: one statement per new or changed row, signed by an admin quorum."""
    from recover.addresses import import_addresses as _import

    root, keys = _admins(admin_keys)
    with session_scope(db) as s:
        require_schema(s)
        _accept_history(s, "to register addresses", root)
        return _import(s, Path(path), root=root, admin_keys=keys)


def check_network(key: str):
    """``(network, problems)``: every missing or invalid setting of a network (no node is asked)."""
    from recover.netcheck import check_network as _check

    return _check(key)


def list_addresses(network: str | None = None, *, db: str | None = None):
    """The registered deposit addresses (optionally of one network), by network and address."""
    from sqlmodel import select

    from recover.models import DepositAddress
    from recover.registry import get_network

    query = select(DepositAddress).order_by(DepositAddress.network, DepositAddress.address_key)
    if network:
        query = query.where(DepositAddress.network == get_network(network).key)
    with session_scope(db) as s:
        require_schema(s)
        return list(s.exec(query))


def list_prices(*, db: str | None = None):
    """The price observations, newest first per asset."""
    from sqlmodel import select

    from recover.models import Price

    with session_scope(db) as s:
        require_schema(s)
        return list(s.exec(select(Price).order_by(Price.asset, Price.at.desc(), Price.id.desc())))


def open_case(network: str, tx: str, *, return_address: str | None = None, credit_account: str | None = None,
              asset: str | None = None, deposit_address: str | None = None, claimant: str | None = None,
              db: str | None = None, key=None):
    """Record a claim (a specialist's signed statement); returns the new ``Case`` (status ``open``)."""
    from recover.cases import Claim, open_case as _open

    sk = _key(key)
    claim = Claim(network=network, tx=tx, return_address=return_address, credit_account=credit_account,
                  asset=asset, deposit_address=deposit_address, claimant=claimant)
    with session_scope(db) as s:
        require_schema(s)
        return _open(s, claim, actor=_acting(s, sk, SPECIALIST, "open a case"))


def import_appeals(path: str | Path, *, db: str | None = None, key=None):
    """Open one case per line of an appeals CSV (idempotent: lines already imported are reported)."""
    from recover.appeals import import_appeals as _import

    sk = _key(key)
    with session_scope(db) as s:
        require_schema(s)
        who = _acting(s, sk, SPECIALIST, "open cases")
    return _import(lambda: session_scope(db), Path(path), actor=who)


def run_worker(*, db: str | None = None, key=None, once: bool = False, poll_seconds: float = 2.0,
               lease_seconds: int = 300, stop=None, say=None):
    """Drive cases forward from the job queue until stopped (``once``: until no job is due)."""
    from recover.worker import run_worker as _run

    return _run(db=db, key=key, once=once, poll_seconds=poll_seconds, lease_seconds=lease_seconds, stop=stop,
                say=say)


def scan(network: str, *, from_block: int | None = None, to_block: int | None = None, db: str | None = None,
         key=None, progress=None):
    """Find deposits to our addresses in a block range and open a case for each (never twice)."""
    from recover.registry import get_network
    from recover.scanning import scan_network

    net = get_network(network)
    sk = _key(key)
    with session_scope(db) as s:
        require_schema(s)
        who = _acting(s, sk, SPECIALIST, "open cases")
    return scan_network(lambda: session_scope(db), net, from_block=from_block, to_block=to_block, actor=who,
                        progress=progress)


def show_case(case_id: int, *, db: str | None = None) -> dict:
    """The whole story of a case as one JSON-safe document."""
    from recover.cases import get_case
    from recover.views import case_view

    with session_scope(db) as s:
        require_schema(s)
        return case_view(s, get_case(s, case_id))


def list_cases(status: str | None = None, *, network: str | None = None, db: str | None = None):
    from recover.views import list_cases as _list

    with session_scope(db) as s:
        require_schema(s)
        return _list(s, status, network)


def verify_audit(*, db: str | None = None, checkpoint: str | Path | None = None):
    """Recompute the audit chain and the statement log, check every statement and every row against
    its statement, and the log against this host's pinned head; with ``checkpoint`` also against that
    signed head (a truncated or rewritten history since then is named).  When everything checks out,
    this host pins the log's head (an auditor's host is a deciding host too)."""
    import json
    from dataclasses import replace

    from recover.audit import checkpoint_problems, verify_chain
    from recover.consistency import statement_problems
    from recover.errors import InvalidInput
    from recover.history import examine_history, pin_path, read_pin, write_pin
    from recover.models import Case
    from recover.trust import load_trust_root

    doc = None
    if checkpoint is not None:
        try:
            doc = json.loads(Path(checkpoint).read_text())
        except (OSError, ValueError) as exc:
            raise InvalidInput(f"cannot read checkpoint {checkpoint}: {type(exc).__name__}", code="bad_file") from None
    root = load_trust_root()
    with session_scope(db) as s:
        require_schema(s)
        report = verify_chain(s)
        path = pin_path(root, s)
        want = ()
        if isinstance(doc, dict) and isinstance(doc.get("statements"), dict):
            try:
                want = (int(doc["statements"].get("seq") or 0),)
            except (TypeError, ValueError):
                want = ()
        history, entries = examine_history(s, root, pin=read_pin(path, root), full=True, want=want)
        problems = list(history.problems) + statement_problems(s)
        from recover.jobs import stranded_cases

        problems += [f"case {cid} is {s.get(Case, cid).status} and no job will move it (a worker's next loop "
                     "queues one; run `recover worker --once`)" for cid in stranded_cases(s)]
        if doc is not None:
            problems += checkpoint_problems(s, doc, expected_public_key=root.checkpoint_key, log_entries=entries,
                                            log_seq=history.head.seq)
        if problems:
            report = replace(report, ok=False, problems=report.problems + tuple(problems))
        if report.ok:
            write_pin(path, root, s, history.head)
        return replace(report, statements=history.head.seq)


def _checkpoint_public_key() -> str | None:
    """This host's checkpoint key, when it is the signer host (RECOVER_SEED set)."""
    import os

    if not os.environ.get("RECOVER_SEED"):
        return None
    from chains.errors import ChainError
    from chains.keys import mnemonic_seed
    from recover.audit import checkpoint_key
    from recover.errors import InvalidInput

    try:
        return checkpoint_key(mnemonic_seed(os.environ["RECOVER_SEED"])).verify_key.encode().hex()
    except ChainError as exc:
        raise InvalidInput(f"RECOVER_SEED: {exc}", code="bad_seed") from None


def checkpoint_public_key() -> str:
    """This signer host's checkpoint public key (from RECOVER_SEED), for ``trust init --checkpoint-key``."""
    from recover.errors import InvalidInput

    key = _checkpoint_public_key()
    if key is None:
        raise InvalidInput("the checkpoint key is derived from the signer host's seed: set RECOVER_SEED",
                           code="signer_config")
    return key


def audit_checkpoint(out: str | Path, *, db: str | None = None) -> dict:
    """Write the heads of the audit chain and the statement log, signed by the signer host's
    checkpoint key (from RECOVER_SEED, and the one the trust root pins), to ``out``."""
    import json
    import os

    from chains.keys import mnemonic_seed
    from recover.audit import checkpoint_key, make_checkpoint
    from recover.errors import InvalidInput
    from recover.trust import load_trust_root

    public = checkpoint_public_key()
    root = load_trust_root()
    if root.checkpoint_key != public:
        raise InvalidInput("this host's checkpoint key (from RECOVER_SEED) is not the one the trust root pins"
                           + ("" if root.checkpoint_key else " (it pins none)") + ": no checkpoint is written",
                           code="checkpoint_key_mismatch")
    key = checkpoint_key(mnemonic_seed(os.environ["RECOVER_SEED"]))
    with session_scope(db) as s:
        require_schema(s)
        doc = make_checkpoint(s, key)
    out = Path(out)
    try:
        fd = os.open(out, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
    except FileExistsError:
        raise InvalidInput(f"{out} exists: refusing to overwrite a checkpoint", code="file_exists") from None
    except OSError as exc:
        raise InvalidInput(f"cannot write {out}: {exc.strerror}", code="bad_file") from None
    with os.fdopen(fd, "w") as fh:
        fh.write(json.dumps(doc, indent=2) + "\n")
    return doc


def set_price(asset: str, usd: str, *, at: str | None = None, db: str | None = None, key=None):
    """Record a USD price of ASSET (native symbol, or ``network:contract``), signed by a pricer."""
    from recover.prices import set_price as _set

    sk = _key(key)
    with session_scope(db) as s:
        require_schema(s)
        return _set(s, asset, usd, at, actor=_acting(s, sk, ("pricer",), "set prices"))


def import_prices(path: str | Path, *, db: str | None = None, key=None):
    from recover.prices import import_prices as _import

    sk = _key(key)
    with session_scope(db) as s:
        require_schema(s)
        return _import(s, Path(path), actor=_acting(s, sk, ("pricer",), "set prices"))


def verify_cases(case_ids: list[int] | None = None, *, all_open: bool = False, db: str | None = None,
                 key=None, progress=None):
    """Verify cases on-chain; returns a ``BatchSummary`` (a refusal of one case never stops the others)."""
    from sqlmodel import select

    from recover.models import Case
    from recover.verification import verify_cases as _verify

    sk = _key(key)
    with session_scope(db) as s:
        require_schema(s)
        who = _acting(s, sk, SPECIALIST, "verify cases")
        if all_open:
            case_ids = list(s.exec(select(Case.id).where(Case.status == "open").order_by(Case.id)))
    return _verify(lambda: session_scope(db), list(case_ids or []), actor=who, progress=progress)


def verify_case(case_id: int, *, db: str | None = None, key=None):
    """Verify one case; raises the refusal (exit 6), after recording it on the case."""
    from recover.errors import RecoverError

    summary = verify_cases([case_id], db=db, key=key)
    result = summary.results[0]
    if result.outcome != "verified":
        err = RecoverError(result.message, code=result.code)
        err.exit_code = result.exit_code or 6
        raise err
    return result


def quote_case(case_id: int, *, db: str | None = None, key=None, cost_fn=None, now=None):
    """Quote a verified case; a refused quote is stored and recorded, then raised (exit 7)."""
    from recover.cases import get_case
    from recover.quoting import quote_case as _quote

    sk = _key(key)
    with session_scope(db) as s:
        require_schema(s)
        who = _acting(s, sk, SPECIALIST, "quote a case")
        outcome = _quote(s, get_case(s, case_id), actor=who, cost_fn=cost_fn, now=now)
    outcome.quote.raise_if_refused()
    return outcome


def prepare_case(case_id: int, *, db: str | None = None, key=None):
    """Build, simulate and store the sweep plan of a quoted case; returns its hash and content."""
    from recover.cases import get_case
    from recover.planning import prepare_case as _prepare

    sk = _key(key)
    station = _gas_station_address_or_none(case_id, db)
    with session_scope(db) as s:
        require_schema(s)
        who = _acting(s, sk, SPECIALIST, "prepare a case")
        return _prepare(s, get_case(s, case_id), actor=who, gas_station_address=station)


def _gas_station_address_or_none(case_id: int, db: str | None) -> str | None:
    """The gas station's address (from the signer backend, when one is configured here)."""
    import os

    from chains.base import Capability
    from recover.cases import get_case
    from recover.chainio import adapter
    from recover.registry import get_network
    from recover.signing import signer_from_env

    if not (os.environ.get("RECOVER_SEED") or os.environ.get("RECOVER_GAS_STATION_ADDRESS")):
        return None
    with session_scope(db) as s:
        net = get_network(get_case(s, case_id).network)
    if os.environ.get("RECOVER_GAS_STATION_ADDRESS"):
        return net.validate_address(os.environ["RECOVER_GAS_STATION_ADDRESS"], what="RECOVER_GAS_STATION_ADDRESS")
    chain = adapter(net)
    if not net.gas_station_path or not chain.can(Capability.GAS_STATION):  # e.g. UTXO: fees from the inputs
        return None
    return signer_from_env().address_for(chain, net.gas_station_path)


# -- the approval queue ----------------------------------------------------------------------------
def decide(case_id: int, decision: str, *, reason: str | None = None, db: str | None = None, key=None):
    """Sign (with the approver's key) and record a decision on the case's current plan."""
    from recover.approvals import submit
    from recover.cases import get_case

    sk = _key(key)
    with session_scope(db) as s:
        require_schema(s)
        who = _acting(s, sk, APPROVING, "approve or reject plans")
        _accept_history(s, f"to {decision} case {case_id}")
        return submit(s, get_case(s, case_id), actor=who, decision=decision, reason=reason)


def set_policy(path: str | Path, *, admin_keys: list, db: str | None = None) -> dict:
    """Put an approval policy in force: a statement signed by an admin quorum."""
    from recover.audit import append_event
    from recover.authority import POLICY_SUBJECT, admin_attest, admin_names
    from recover.errors import InvalidInput
    from recover.policy import parse_policy, policy_doc

    try:
        text = Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise InvalidInput(f"cannot read {path}: {type(exc).__name__}", code="bad_file") from None
    policy = parse_policy(text, str(path))
    root, keys = _admins(admin_keys)
    with session_scope(db) as s:
        require_schema(s)
        _accept_history(s, "to set the approval policy", root)
        record, signers = admin_attest(s, root, "policy", POLICY_SUBJECT, {"policy": policy_doc(policy)}, keys)
        append_event(s, actor=admin_names(root, signers), action="policy_set",
                     details={"statement": record.hash, **policy_doc(policy)})
        return {"statement": record.hash, **policy_doc(policy)}


def show_policy(*, db: str | None = None) -> dict:
    """The approval policy in force: the newest admin-signed one, else the bundled one."""
    from recover.authority import POLICY_SUBJECT, Verifier
    from recover.policy import policy_doc, policy_in_force

    with session_scope(db) as s:
        require_schema(s)
        verifier = Verifier(s)
        policy = policy_in_force(verifier)
        good, _ = verifier.statements(POLICY_SUBJECT, ("policy",))
        newest = max(good, key=lambda g: g.body.get("log", {}).get("admin_seq", 0), default=None)
        return {"source": policy.source, "statement": newest.hash if newest and policy.source.startswith("policy ")
                else None, **policy_doc(policy)}


def queue(*, db: str | None = None) -> list[dict]:
    """Cases awaiting approval, with value and approvals so far and needed."""
    from sqlmodel import select

    from recover.approvals import case_state
    from recover.authority import Verifier
    from recover.models import Case
    from recover.planning import current_quote
    from recover.policy import policy_in_force

    out = []
    with session_scope(db) as s:
        require_schema(s)
        verifier = Verifier(s)
        policy = policy_in_force(verifier)
        for case in s.exec(select(Case).where(Case.status.in_(["awaiting_approval", "approved"])).order_by(Case.id)):
            state = case_state(s, case, policy, verifier)
            quote = current_quote(s, case)
            out.append({"id": case.id, "status": case.status, "network": case.network,
                        "classification": case.classification, "value_usd": quote.value_usd if quote else None,
                        "net": str(quote.net) if quote else None, "decimals": quote.decimals if quote else None,
                        "prepared_by": case.prepared_by, "approvals": state.to_dict() if state else None,
                        "opened_at": case.created_at.strftime("%Y-%m-%dT%H:%M:%SZ")})
    return out


# -- conditions ---------------------------------------------------------------------------------------
def prove_ownership(case_id: int, signature: str, *, db: str | None = None, key=None):
    from recover.cases import get_case
    from recover.conditions import prove_ownership as _prove

    sk = _key(key)
    with session_scope(db) as s:
        require_schema(s)
        who = _acting(s, sk, ("specialist", "reviewer"), "record an ownership proof")
        return _prove(s, get_case(s, case_id), signature, actor=who)


def sign_off(case_id: int, condition: str, reason: str, *, db: str | None = None, key=None):
    from recover.cases import get_case
    from recover.conditions import sign_off as _sign_off

    sk = _key(key)
    with session_scope(db) as s:
        require_schema(s)
        who = _acting(s, sk, ("reviewer",), "sign off conditions")
        return _sign_off(s, get_case(s, case_id), condition, reason, actor=who)


def reopen_case(case_id: int, reason: str, *, admin_keys: list, db: str | None = None) -> dict:
    """Reopen a rejected, unrecoverable or failed case: an admin-quorum decision with a reason that
    re-attests the case's newest valid signed claim.  Returns ``{"id", "status", "statement"}`` where
    ``statement`` is the body the admins signed."""
    from recover.cases import get_case
    from recover.reopen import reopen_case as _reopen

    root, keys = _admins(admin_keys)
    with session_scope(db) as s:
        require_schema(s)
        _accept_history(s, f"to reopen case {case_id}", root)
        case, body = _reopen(s, get_case(s, case_id), reason, root=root, admin_keys=keys)
        return {"id": case.id, "status": case.status, "statement": body}


def preview_reopen(case_id: int, reason: str, *, db: str | None = None) -> dict:
    """What a reopen of the case would have the admins sign (nothing is signed or written)."""
    from recover.cases import get_case
    from recover.reopen import reopen_body

    with session_scope(db) as s:
        require_schema(s)
        target, body = reopen_body(s, get_case(s, case_id), reason)
        s.rollback()
        return {"id": case_id, "status": target.value, "statement": body}


def close_case(case_id: int, as_status: str, reason: str, *, admin_keys: list | None = None,
               db: str | None = None, key=None):
    """End a case that is not final with a reason: by a reviewer before approval, by an admin quorum
    (``admin_keys``) at any point before its transactions are sent.  Returns the ``Case``."""
    from recover.cases import get_case
    from recover.closing import close_case as _close

    if admin_keys:
        root, keys = _admins(admin_keys)
        with session_scope(db) as s:
            require_schema(s)
            _accept_history(s, f"to close case {case_id}", root)
            return _close(s, get_case(s, case_id), as_status, reason, root=root, admin_keys=keys)
    sk = _key(key)
    with session_scope(db) as s:
        require_schema(s)
        who = _acting(s, sk, ("reviewer",), "close cases (before approval; after it, an admin quorum does)")
        _accept_history(s, f"to close case {case_id}")
        return _close(s, get_case(s, case_id), as_status, reason, actor=who)


# -- sign, broadcast, track -----------------------------------------------------------------------------
def sign_case(case_id: int, *, db: str | None = None, key=None, signer=None):
    from recover.cases import get_case
    from recover.execution import check_signable, sign_case as _sign
    from recover.signing import signer_from_env

    sk = _key(key)
    with session_scope(db) as s:
        require_schema(s)
        who = _acting(s, sk, WALLET_TEAM, "sign sweeps")
        case = get_case(s, case_id)
        _accept_history(s, f"to sign case {case_id}")
        check_signable(s, case)  # "not approved" before "no signer configured"
        return _sign(s, case, actor=who, signer=signer or signer_from_env())


def broadcast_case(case_id: int, *, db: str | None = None, key=None, wait_seconds: float = 0.0):
    """Send the signed transactions in order; a prerequisite not confirmed within ``wait_seconds``
    raises ``Waiting`` (exit 9) after sending what could be sent: run it again later."""
    from recover.execution import broadcast_case as _broadcast

    sk = _key(key)
    with session_scope(db) as s:
        require_schema(s)
        who = _acting(s, sk, ANY_ROLE, "broadcast")
        _accept_history(s, f"to broadcast case {case_id}")
    return _broadcast(lambda: session_scope(db), case_id, actor=who, wait_seconds=wait_seconds)


def track_case(case_id: int, *, db: str | None = None, key=None):
    from recover.cases import get_case
    from recover.execution import track_case as _track

    sk = _key(key)
    with session_scope(db) as s:
        require_schema(s)
        who = _acting(s, sk, ANY_ROLE, "track")
        _accept_history(s, f"to track case {case_id}")
        return _track(s, get_case(s, case_id), actor=who)


def export_credits(out: str | Path, *, db: str | None = None, key=None) -> int:
    """Write credits not yet exported to ``out`` (CSV), each exactly once, after checking each one
    against its case's signed statements."""
    from recover.execution import export_credits as _export

    sk = _key(key)
    out = Path(out)
    tmp = None
    try:
        with session_scope(db) as s:
            require_schema(s)
            who = _acting(s, sk, WALLET_TEAM, "export credits")
            _accept_history(s, "to export credits")
            count, tmp = _export(s, out, actor=who)
    except BaseException:
        if tmp is not None:
            Path(tmp).unlink(missing_ok=True)
        raise
    import os

    os.replace(tmp, out)  # only after the commit: an export is never marked done without its file
    return count


def export_case(case_id: int, out: str | Path, *, db: str | None = None, key=None) -> dict:
    """Write an approved plan for an offline signer (PSBT for UTXO, unsigned JSON for EVM)."""
    from recover.cases import get_case
    from recover.offline import export_case as _export

    sk = _key(key)
    with session_scope(db) as s:
        require_schema(s)
        who = _acting(s, sk, WALLET_TEAM, "export plans for signing")
        _accept_history(s, f"to export case {case_id}")
        return _export(s, get_case(s, case_id), Path(out), actor=who)


def import_signed(case_id: int, path: str | Path, *, db: str | None = None, key=None):
    """Accept offline-signed transactions only if they are exactly the approved plan."""
    from recover.cases import get_case
    from recover.offline import import_signed as _import

    sk = _key(key)
    with session_scope(db) as s:
        require_schema(s)
        who = _acting(s, sk, WALLET_TEAM, "import signed plans")
        _accept_history(s, f"to import signed transactions of case {case_id}")
        return _import(s, get_case(s, case_id), Path(path), actor=who)


# -- trust root and operators ----------------------------------------------------------------------
def trust_init(admins: int, quorum: int, out_dir: str | Path, *, checkpoint_key: str | None = None) -> dict:
    """Write a new trust root (a new deployment id) and ``admins`` admin key files (sealed with the
    key-file passphrase).  ``checkpoint_key``: the signer host's checkpoint public key (``recover
    audit checkpoint-key`` prints it there); default: the one of ``RECOVER_SEED`` when it is set here."""
    import json

    from recover.trust import init_trust

    if checkpoint_key is None:
        checkpoint_key = _checkpoint_public_key()
    root, keys = init_trust(Path(out_dir), admins, quorum, checkpoint_key=checkpoint_key)
    doc = json.loads(Path(root).read_text())
    return {"trust_root": str(root), "admin_keys": [str(k) for k in keys], "quorum": quorum,
            "deployment": doc["deployment"], "checkpoint_key": doc["checkpoint_key"]}


def operators_keygen(name: str, out: str | Path) -> str:
    """A new operator key pair: the private key sealed in ``out``; returns the public key to enroll."""
    from recover.operators import keygen

    return keygen(name, Path(out))


def operators_enroll(name: str, public_key: str | None, roles: str, person: str, admin_keys: list, *,
                     db: str | None = None, passkey_file: str | Path | None = None):
    """Enroll an operator: a statement signed by a quorum of the trust root's admins.  The key is an
    Ed25519 ``public_key`` or the passkey of ``passkey_file`` (the web queue's enrolment page), one of both."""
    from recover.errors import InvalidInput
    from recover.operators import enroll, parse_roles
    from recover.trust import admin_keys_from_files, load_trust_root

    if (public_key is None) == (passkey_file is None):
        raise InvalidInput("give the operator's key: --public-key HEX or --passkey FILE (one of both)",
                           code="key_required")
    passkey = None
    if passkey_file is not None:
        from recover.passkeys import load_passkey_file

        passkey = load_passkey_file(passkey_file)
    root = load_trust_root()
    parsed = parse_roles(roles)
    keys = admin_keys_from_files(admin_keys, root)
    with session_scope(db) as s:
        require_schema(s)
        _accept_history(s, f"to enroll operator {name}", root)
        return enroll(s, root, name, public_key, parsed, person, keys, passkey=passkey)


def operators_revoke(name: str, admin_keys: list, *, db: str | None = None):
    from recover.operators import revoke
    from recover.trust import admin_keys_from_files, load_trust_root

    root = load_trust_root()
    keys = admin_keys_from_files(admin_keys, root)
    with session_scope(db) as s:
        require_schema(s)
        _accept_history(s, f"to revoke operator {name}", root)
        return revoke(s, root, name, keys)


def operators_list(*, db: str | None = None):
    from sqlmodel import select

    from recover.models import Operator

    with session_scope(db) as s:
        require_schema(s)
        return list(s.exec(select(Operator).order_by(Operator.name)))
