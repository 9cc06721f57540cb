"""The Python API: the same operations as the CLI (which is a thin client of this module).

Every function opens one unit of work: it commits when it returns and leaves the database exactly
as it was when it raises.  Every state-changing function is one call of :func:`recover.casework.runner.run`
with the operation's name in the operations table (``recover.life.operations``: who may do it, which
statuses it accepts, where it moves a case) and the service that does the work.  ``db`` is a
database URL (default: ``RECOVER_DB_URL`` or ``sqlite:///recover.db``).  Every state-changing
function is done by an enrolled operator: ``key`` is their key file (or a PyNaCl ``SigningKey``),
default ``RECOVER_OPERATOR_KEY``; admin functions take ``admin_keys`` (files), as many as the trust
root's quorum.
"""

from __future__ import annotations

from pathlib import Path

from recover.casework.runner import run
from recover.storage.db import require_schema, session_scope, upgrade_to_head

# Imports inside functions: a call loads only the operation it runs; a write command starts without the
# services it does not use.


def init(db: str | None = None) -> str:
    """Create or upgrade the case database to the newest schema; returns the revision."""
    return upgrade_to_head(db)


def list_networks(recovery_class: str | None = None, *, include_devnets: bool | None = None):
    """The networks (``NetworkConfig``, checked from their files) in the order ``recover networks``
    lists them: the devnets only when ``include_devnets`` (None: as ``RECOVER_DEVNETS`` says, off by
    default).  Every network, devnet or not, is usable by key."""
    from recover.errors import InvalidInput
    from recover.networks.registry import networks
    from recover.queries.networks import devnets_wanted, listing

    if recovery_class not in (None, "direct", "conditional"):
        raise InvalidInput(f"--class must be direct or conditional, not {recovery_class!r}")
    return listing(networks().values(), recovery_class, include_devnets=devnets_wanted(include_devnets))


def import_addresses(path: str | Path, *, admin_keys: list, db: str | None = None):
    """Register deposit addresses: one statement per new or changed row, signed by an admin quorum."""
    from recover.networks.addresses import import_addresses as _import

    return run("addresses-import", db=db, admin_keys=admin_keys,
               body=lambda ctx: _import(ctx.session, Path(path), root=ctx.root, admin_keys=ctx.admin_keys))


def import_memos(path: str | Path, *, admin_keys: list, db: str | None = None):
    """Register the memos of shared-wallet networks (memo -> account, active | closed): one statement per
    new or changed row, signed by an admin quorum."""
    from recover.networks.memos import import_memos as _import

    return run("memos-import", db=db, admin_keys=admin_keys,
               body=lambda ctx: _import(ctx.session, Path(path), root=ctx.root, admin_keys=ctx.admin_keys))


def check_network(key: str, *, live: bool = False, signer: bool = False):
    """Every missing or invalid setting of a network, as a ``NetworkCheck`` (``.problems``, ``.notes``,
    ``.exit_code``, ``.to_dict()``).  ``live``: also ask the node; ``signer``: this host signs, so its
    signer is required too (a read-only host needs no seed)."""
    from recover.networks.netcheck import check_network as _check

    return _check(key, live=live, signer=signer)


def hsm_keys(*, token: str | None = None, network: str | None = None) -> list[dict]:
    """What the HSM tokens the network files name hold (``recover keys hsm list``): per token its keys
    (label, curve, public key) and, per network naming the token, the address each key controls and
    whether the file's ``[hsm.keys]`` says the same; configured labels the token lacks under ``missing``."""
    from recover.networks.hsm_keys import hsm_inventory

    return hsm_inventory(token=token, network=network)


def list_addresses(network: str | None = None, *, db: str | None = None):
    """The registered deposit addresses (optionally of one network), by network and address: rows
    with the columns of ``deposit_addresses`` as attributes (the read path, ``recover.queries``)."""
    from recover.queries.lists import addresses

    return addresses(network, db=db)


def list_prices(*, db: str | None = None):
    """The price observations, newest first per asset: rows with the columns of ``prices`` as
    attributes (the read path, ``recover.queries``)."""
    from recover.queries.lists import prices

    return prices(db=db)


def open_case(network: str, tx: str, *, return_address: str | None = None, credit_account: str | None = None,
              asset: str | None = None, deposit_address: str | None = None, claimant: str | None = None,
              msg_index: int | None = None, return_memo: str | None = None, db: str | None = None, key=None):
    """Record a claim (a specialist's signed statement); returns the new ``Case`` (status ``open``).
    Shared-wallet (memo) networks: ``msg_index`` names the transfer of the transaction claimed,
    ``return_memo`` the memo / tag a refund must carry."""
    from recover.casework.cases import Claim
    from recover.casework.cases import open_case as _open

    claim = Claim(network=network, tx=tx, return_address=return_address, credit_account=credit_account,
                  asset=asset, deposit_address=deposit_address, claimant=claimant, msg_index=msg_index,
                  return_memo=return_memo)
    return run("open", db=db, key=key, body=lambda ctx: _open(ctx.session, claim, actor=ctx.actor))


def show_case(case_id: int, *, db: str | None = None) -> dict:
    """The whole story of a case as one JSON-safe document (the read path, ``recover.queries``)."""
    from recover.queries.lists import show_case as _show

    return _show(case_id, db=db)


def list_cases(status: str | None = None, *, network: str | None = None, db: str | None = None):
    """Cases oldest first: rows with the columns of ``cases`` as attributes (``recover.queries``)."""
    from recover.queries.lists import cases

    return cases(status, network=network, db=db)


def verify_audit(*, db: str | None = None, checkpoint: str | Path | None = None):
    """Recompute the audit chain and the statement log, check every statement and every row against
    its statement, and the log against this host's pinned head; with ``checkpoint`` also against that
    signed head (a truncated or rewritten history since then is named).  When everything checks out,
    this host pins the log's head (an auditor's host is a deciding host too)."""
    import json

    from recover.authority.trust import load_trust_root
    from recover.casework.auditing import audit_report
    from recover.errors import InvalidInput

    doc = None
    if checkpoint is not None:
        try:
            doc = json.loads(Path(checkpoint).read_text())
        except (OSError, ValueError) as exc:
            raise InvalidInput(f"cannot read checkpoint {checkpoint}: {type(exc).__name__}", code="bad_file") from None
    root = load_trust_root()
    return run("audit-verify", db=db, body=lambda ctx: audit_report(ctx.session, root, doc))


def _checkpoint_public_key() -> str | None:
    """This host's checkpoint key, when it is the signer host (RECOVER_SEED set)."""
    import os

    if not os.environ.get("RECOVER_SEED"):
        return None
    from chains.errors import ChainError
    from chains.keys import mnemonic_seed
    from recover.authority.checkpoints import checkpoint_key
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
    from recover.authority.checkpoints import checkpoint_key, make_checkpoint
    from recover.authority.trust import load_trust_root
    from recover.errors import InvalidInput

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
    from recover.networks.prices import set_price as _set

    return run("price", db=db, key=key, body=lambda ctx: _set(ctx.session, asset, usd, at, actor=ctx.actor))


def import_prices(path: str | Path, *, db: str | None = None, key=None):
    from recover.networks.prices import import_prices as _import

    return run("price", db=db, key=key, body=lambda ctx: _import(ctx.session, Path(path), actor=ctx.actor))


def verify_cases(case_ids: list[int] | None = None, *, all_open: bool = False, db: str | None = None,
                 key=None, progress=None, ahead=None):
    """Verify cases on-chain; returns a ``BatchSummary`` (a refusal of one case never stops the others).
    ``ahead``: the node reads :func:`recover.casework.verify_reads.read_ahead` started (closed here)."""
    from recover.casework.verification import verify_cases as _verify

    ids = list(case_ids or [])

    def every_open(ctx):  # read in the runner's unit of work, before the batch makes its own
        from sqlmodel import select

        from recover.storage.models import Case

        accepts = [st.value for st in ctx.op.accepts]
        ids[:] = list(ctx.session.exec(select(Case.id).where(Case.status.in_(accepts)).order_by(Case.id)))

    try:
        return run("verify", db=db, key=key, own_units=True, before=every_open if all_open else None,
                   body=lambda ctx: _verify(ctx.sessions, ids, actor=ctx.actor, progress=progress, ahead=ahead))
    finally:
        if ahead is not None:  # the networks no case of the batch was on, or all of them when refused
            ahead.close()


def verify_case(case_id: int, *, db: str | None = None, key=None):
    """Verify one case; raises the refusal (exit 6), after recording it on the case."""
    result = verify_cases([case_id], db=db, key=key).results[0]
    result.raise_if_not_verified()
    return result


def quote_case(case_id: int, *, db: str | None = None, key=None, cost_fn=None, now=None):
    """Quote a verified case; a refused quote is stored and recorded, then raised (exit 7)."""
    from recover.casework.quoting import quote_case as _quote

    outcome = run("quote", db=db, key=key, case_id=case_id,
                  body=lambda ctx: _quote(ctx.session, ctx.case, actor=ctx.actor, cost_fn=cost_fn, now=now))
    outcome.quote.raise_if_refused()
    return outcome


def prepare_case(case_id: int, *, db: str | None = None, key=None):
    """Build, simulate and store the sweep plan of a quoted case; returns its hash and content."""
    from recover.casework.planning import prepare_case as _prepare

    return run("prepare", db=db, key=key, case_id=case_id, before=lambda ctx: _gas_station_address_or_none(ctx.case),
               body=lambda ctx: _prepare(ctx.session, ctx.case, actor=ctx.actor, gas_station_address=ctx.checked))


def _gas_station_address_or_none(case) -> str | None:
    """The gas station's address of the case's network, when this host knows it (RECOVER_GAS_STATION_ADDRESS,
    or derived from RECOVER_SEED); a plan that needs it without it is refused by ``prepare`` (exit 4)."""
    import os

    from recover.networks.chainio import adapter
    from recover.networks.gas_station import ADDRESS_ENV, SEED_ENV, gas_station_address
    from recover.networks.registry import get_network

    if not (os.environ.get(SEED_ENV) or os.environ.get(ADDRESS_ENV)):
        return None
    net = get_network(case.network)
    return gas_station_address(net, adapter(net))


# -- the approval queue ----------------------------------------------------------------------------
def decide(case_id: int, decision: str, *, reason: str | None = None, db: str | None = None, key=None):
    """Sign (with the approver's key) and record a decision (``approve`` or ``reject``, an operation
    each) on the case's current plan."""
    from recover.casework.approvals import submit
    from recover.errors import InvalidInput

    if decision not in ("approve", "reject"):
        raise InvalidInput("decision must be approve or reject")
    return run(decision, db=db, key=key, case_id=case_id,
               body=lambda ctx: submit(ctx.session, ctx.case, actor=ctx.actor, decision=decision, reason=reason))


def set_policy(path: str | Path, *, admin_keys: list, db: str | None = None) -> dict:
    """Put an approval policy in force: a statement signed by an admin quorum."""
    from recover.authority.policy import parse_policy, put_in_force
    from recover.errors import InvalidInput

    try:
        text = Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise InvalidInput(f"cannot read {path}: {type(exc).__name__}", code="bad_file") from None
    policy = parse_policy(text, str(path))
    return run("policy-set", db=db, admin_keys=admin_keys,
               body=lambda ctx: put_in_force(ctx.session, policy, root=ctx.root, admin_keys=ctx.admin_keys))


def show_policy(*, db: str | None = None) -> dict:
    """The approval policy in force: the newest admin-signed one, else the bundled one."""
    from recover.queries.lists import show_policy as _show

    return _show(db=db)


def queue(*, db: str | None = None) -> list[dict]:
    """Cases awaiting approval, with value and approvals so far and needed (``recover.queries``)."""
    from recover.queries.lists import queue as _queue

    return _queue(db=db)


# -- conditions ---------------------------------------------------------------------------------------
def prove_ownership(case_id: int, signature: str, *, db: str | None = None, key=None):
    from recover.casework.conditions import check_proof
    from recover.casework.conditions import prove_ownership as _prove

    return run("prove", db=db, key=key, case_id=case_id, before=lambda ctx: check_proof(ctx.case),
               body=lambda ctx: _prove(ctx.session, ctx.case, signature, actor=ctx.actor))


def sign_off(case_id: int, condition: str, reason: str, *, db: str | None = None, key=None):
    from recover.casework.conditions import check_signoff
    from recover.casework.conditions import sign_off as _sign_off

    return run("signoff", db=db, key=key, case_id=case_id, before=lambda ctx: check_signoff(ctx.case, condition),
               body=lambda ctx: _sign_off(ctx.session, ctx.case, condition, reason, actor=ctx.actor))


def reopen_case(case_id: int, reason: str, *, admin_keys: list, db: str | None = None) -> dict:
    """Reopen a rejected, unrecoverable or failed case: an admin-quorum decision with a reason that
    re-attests the case's newest valid signed claim.  Returns ``{"id", "status", "statement"}`` where
    ``statement`` is the body the admins signed."""
    from recover.casework.reopen import check_reason
    from recover.casework.reopen import reopen_case as _reopen

    def body(ctx):
        case, statement = _reopen(ctx.session, ctx.case, reason, root=ctx.root, admin_keys=ctx.admin_keys)
        return {"id": case.id, "status": case.status, "statement": statement}

    return run("reopen", db=db, admin_keys=admin_keys, case_id=case_id, before=lambda ctx: check_reason(reason),
               body=body)


def preview_reopen(case_id: int, reason: str, *, db: str | None = None) -> dict:
    """What a reopen of the case would have the admins sign (nothing is signed or written)."""
    from recover.casework.cases import get_case
    from recover.casework.reopen import reopen_body

    with session_scope(db) as s:
        require_schema(s)
        target, body = reopen_body(s, get_case(s, case_id), reason)
        s.rollback()
        return {"id": case_id, "status": target.value, "statement": body}


def close_case(case_id: int, as_status: str, reason: str, *, admin_keys: list | None = None,
               db: str | None = None, key=None):
    """End a case that is not final with a reason: by a reviewer before approval, by an admin quorum
    (``admin_keys``) at any point before its transactions are sent.  Returns the ``Case``."""
    from recover.casework.closing import check_close
    from recover.casework.closing import close_case as _close

    by_admins = bool(admin_keys)
    return run("close-by-admins" if by_admins else "close", db=db, key=key, admin_keys=admin_keys, case_id=case_id,
               before=lambda ctx: check_close(ctx.case, as_status, reason, by_admins=by_admins),
               body=lambda ctx: _close(ctx.session, ctx.case, as_status, reason, actor=ctx.actor, root=ctx.root,
                                       admin_keys=ctx.admin_keys))


# -- sign, broadcast, track -----------------------------------------------------------------------------
def sign_case(case_id: int, *, db: str | None = None, key=None, signer=None):
    from recover.casework.execution import refuse_unapproved
    from recover.casework.execution import sign_case as _sign
    from recover.casework.signing import signer_from_env

    return run("sign", db=db, key=key, case_id=case_id,
               before=lambda ctx: refuse_unapproved(ctx.session, ctx.case),  # "not approved" before "no signer"
               body=lambda ctx: _sign(ctx.session, ctx.case, actor=ctx.actor, signer=signer or signer_from_env()))


def broadcast_case(case_id: int, *, db: str | None = None, key=None, wait_seconds: float = 0.0):
    """Send the signed transactions in order; a prerequisite not confirmed within ``wait_seconds``
    raises ``Waiting`` (exit 9) after sending what could be sent: run it again later."""
    from recover.casework.execution import broadcast_case as _broadcast

    return run("broadcast", db=db, key=key, case_id=case_id, own_units=True,
               body=lambda ctx: _broadcast(ctx.sessions, case_id, actor=ctx.actor, wait_seconds=wait_seconds))


def track_case(case_id: int, *, db: str | None = None, key=None):
    from recover.casework.execution import track_case as _track

    return run("track", db=db, key=key, case_id=case_id,
               body=lambda ctx: _track(ctx.session, ctx.case, actor=ctx.actor))


def export_credits(out: str | Path, *, db: str | None = None, key=None) -> int:
    """Write credits not yet exported to ``out`` (CSV), each exactly once, after checking each one
    against its case's signed statements."""
    import os

    from recover.casework.execution import export_credits as _export

    out = Path(out)
    written = []
    try:
        count = run("credits-export", db=db, key=key,
                    body=lambda ctx: _record(written, _export(ctx.session, out, actor=ctx.actor)))
    except BaseException:
        for tmp in written:
            Path(tmp).unlink(missing_ok=True)
        raise
    os.replace(written[0], out)  # only after the commit: an export is never marked done without its file
    return count


def _record(into: list, result: tuple):
    """``(count, file)``: keep the file's name (to rename or remove after the unit of work), return the count."""
    count, tmp = result
    into.append(tmp)
    return count


def export_case(case_id: int, out: str | Path, *, db: str | None = None, key=None) -> dict:
    """Write an approved plan for an offline signer (PSBT for UTXO, unsigned JSON for EVM)."""
    from recover.casework.execution import refuse_unapproved
    from recover.casework.offline import export_case as _export

    return run("export", db=db, key=key, case_id=case_id, before=lambda ctx: refuse_unapproved(ctx.session, ctx.case),
               body=lambda ctx: _export(ctx.session, ctx.case, Path(out), actor=ctx.actor))


def import_signed(case_id: int, path: str | Path, *, db: str | None = None, key=None):
    """Accept offline-signed transactions only if they are exactly the approved plan."""
    from recover.casework.execution import refuse_unapproved
    from recover.casework.offline import import_signed as _import
    from recover.casework.offline import read_signed

    def before(ctx):
        doc = read_signed(Path(path))  # a file that is no signed plan says so first, as it always did
        refuse_unapproved(ctx.session, ctx.case)
        return doc

    return run("import-signed", db=db, key=key, case_id=case_id, before=before,
               body=lambda ctx: _import(ctx.session, ctx.case, Path(path), ctx.checked, actor=ctx.actor))


# -- trust root and operators ----------------------------------------------------------------------
def trust_init(admins: int, quorum: int, out_dir: str | Path, *, checkpoint_key: str | None = None) -> dict:
    """Write a new trust root (a new deployment id) and ``admins`` admin key files (sealed with the
    key-file passphrase).  ``checkpoint_key``: the signer host's checkpoint public key (``recover
    audit checkpoint-key`` prints it there); default: the one of ``RECOVER_SEED`` when it is set here."""
    import json

    from recover.authority.trust import init_trust

    if checkpoint_key is None:
        checkpoint_key = _checkpoint_public_key()
    root, keys = init_trust(Path(out_dir), admins, quorum, checkpoint_key=checkpoint_key)
    doc = json.loads(Path(root).read_text())
    return {"trust_root": str(root), "admin_keys": [str(k) for k in keys], "quorum": quorum,
            "deployment": doc["deployment"], "checkpoint_key": doc["checkpoint_key"]}


def operators_keygen(name: str, out: str | Path) -> str:
    """A new operator key pair: the private key sealed in ``out``; returns the public key to enroll."""
    from recover.authority.operators import keygen

    return keygen(name, Path(out))


def operators_enroll(name: str, public_key: str | None, roles: str, person: str, admin_keys: list, *,
                     db: str | None = None, passkey_file: str | Path | None = None):
    """Enroll an operator: a statement signed by a quorum of the trust root's admins.  The key is an
    Ed25519 ``public_key`` or the passkey of ``passkey_file`` (the web queue's enrolment page), one of both."""
    from recover.authority.operators import enroll, parse_roles
    from recover.authority.trust import load_trust_root
    from recover.errors import InvalidInput

    if (public_key is None) == (passkey_file is None):
        raise InvalidInput("give the operator's key: --public-key HEX or --passkey FILE (one of both)",
                           code="key_required")
    passkey = None
    if passkey_file is not None:
        from recover.authority.passkeys import load_passkey_file

        passkey = load_passkey_file(passkey_file)
    load_trust_root()  # a missing or broken trust root is named before the roles are
    parsed = parse_roles(roles)
    return run("enroll", db=db, admin_keys=admin_keys,
               body=lambda ctx: enroll(ctx.session, ctx.root, name, public_key, parsed, person, ctx.admin_keys,
                                       passkey=passkey))


def operators_revoke(name: str, admin_keys: list, *, db: str | None = None):
    from recover.authority.operators import revoke

    return run("revoke", db=db, admin_keys=admin_keys,
               body=lambda ctx: revoke(ctx.session, ctx.root, name, ctx.admin_keys))


def operators_list(*, db: str | None = None):
    from sqlmodel import select

    from recover.storage.models import Operator

    with session_scope(db) as s:
        require_schema(s)
        return list(s.exec(select(Operator).order_by(Operator.name)))
