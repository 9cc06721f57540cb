"""The deposit-address registry: which addresses the exchange holds keys for, on which network.

An import is all or nothing: every row is checked (network, address checksum, derivation path,
status, kind) before anything is written, and a bad row names its line.

``kind``: ``deposit`` (a user's own deposit address: per-address networks) or ``shared`` (the exchange's
shared deposit wallet of a ``shared_memo`` network, told apart by memo; it also pays that network's
refunds).  A shared wallet's key may live on an HSM: its ``derivation_path`` is then ``hsm:<label>``, a
key the network file's ``[hsm.keys]`` lists with that address (never for a user's deposit address).  A network takes only the kind its ``deposit_model`` says, and a registered address's kind
never changes.
"""

from __future__ import annotations

import csv
import io
import re
from dataclasses import dataclass
from pathlib import Path

from sqlmodel import Session, select

from chains.addresses import address_key
from chains.config import hsm_label
from chains.errors import InvalidAddress
from recover.authority.acting import address_subject
from recover.authority.admin_statements import admin_attest, admin_names
from recover.authority.statements import Statement, require_quorum
from recover.errors import InvalidInput
from recover.networks.hsm_wallets import hsm_wallet_problem
from recover.networks.registry import networks as all_networks
from recover.storage.audit import append_event
from recover.storage.models import DepositAddress

REQUIRED = ("network", "address", "derivation_path", "account")
_PATH = re.compile(r"^m(/[0-9]{1,10}'?)+$")
_ACCOUNT = re.compile(r"^[^\x00-\x1f]{1,128}$")
KINDS = ("deposit", "shared")


@dataclass(frozen=True)
class ImportResult:
    added: int
    updated: int
    unchanged: int

    def to_dict(self) -> dict:
        return {"added": self.added, "updated": self.updated, "unchanged": self.unchanged}


def csv_rows(path: Path, required: tuple[str, ...], optional: tuple[str, ...], what: str) -> list[tuple[int, dict]]:
    """The rows of a registry CSV as ``(line number, stripped row)``: the header exactly ``required`` plus
    any of ``optional``, no row longer than the header, blank rows skipped, at least one row (else exit 4,
    naming the file)."""
    try:
        text = path.read_text(encoding="utf-8-sig")
    except OSError as exc:
        raise InvalidInput(f"cannot read {path}: {exc.strerror}", code="bad_file") from None
    except UnicodeDecodeError:
        raise InvalidInput(f"{path} is not UTF-8 text", code="bad_file") from None
    reader = csv.DictReader(io.StringIO(text))
    header = [h.strip() for h in (reader.fieldnames or [])]
    missing = [c for c in required if c not in header]
    extra = [c for c in header if c not in required + optional]
    if missing or extra:
        raise InvalidInput(
            f"{path}: header must be {','.join(required)}" + "".join(f"[,{c}]" for c in optional)
            + (f"; missing {', '.join(missing)}" if missing else "")
            + (f"; unknown {', '.join(extra)}" if extra else ""),
            code="bad_csv",
        )
    out = []
    for row in reader:
        if None in row:
            raise InvalidInput(f"{path}:{reader.line_num}: more fields than the header has", code="bad_csv")
        clean = {(k or "").strip(): (v or "").strip() for k, v in row.items() if k is not None}
        if any(clean.values()):
            out.append((reader.line_num, clean))
    if not out:
        raise InvalidInput(f"{path}: no {what} rows", code="bad_csv")
    return out


def import_addresses(session: Session, path: Path, *, root, admin_keys: list) -> ImportResult:
    """Register deposit addresses: every row checked first (derivation paths inside the network's
    ``deposit_path_prefix``), then each new or changed row stored with its admin-quorum statement."""
    # the quorum is checked before anything is read or written
    require_quorum(_signed_probe(admin_keys), root.admin_keys, root.quorum)
    nets = all_networks()
    seen: dict[tuple[str, str], int] = {}
    checked: list[tuple[int, dict, str]] = []
    for line, row in csv_rows(path, REQUIRED, ("status", "kind"), "address"):
        where = f"{path}:{line}"
        net = nets.get(row["network"])
        if net is None:
            raise InvalidInput(f"{where}: unknown network {row['network']!r}", code="unknown_network")
        try:
            net.validate_address(row["address"])
        except InvalidAddress as exc:
            raise InvalidInput(f"{where}: {exc}", code="invalid_address") from None
        if not _ACCOUNT.match(row["account"]):
            raise InvalidInput(f"{where}: account is empty or has control characters", code="bad_csv")
        status = row.get("status") or "active"
        if status not in ("active", "retired"):
            raise InvalidInput(f"{where}: status {status!r} must be active or retired", code="bad_csv")
        kind = row.get("kind") or ("shared" if net.deposit_model == "shared_memo" else "deposit")
        if kind not in KINDS:
            raise InvalidInput(f"{where}: kind {kind!r} must be deposit or shared", code="bad_csv")
        if hsm_label(row["derivation_path"]) is not None and kind != "shared":
            raise InvalidInput(f"{where}: derivation_path {row['derivation_path']} names an HSM key, which may hold "
                               f"only a shared wallet (kind = shared), not a {kind!r} address", code="hsm_key_not_shared")
        wanted = "shared" if net.deposit_model == "shared_memo" else "deposit"
        if kind != wanted:
            raise InvalidInput(f"{where}: {net.key} takes deposits at {'shared (memo) addresses' if wanted == 'shared' else 'per-user addresses'} "
                               f"(deposit_model = {net.deposit_model!r}), so its addresses are of kind {wanted!r}, not "
                               f"{kind!r}", code="wrong_address_kind")
        row["kind"] = kind
        if hsm_label(row["derivation_path"]) is not None:
            _check_hsm_row(where, net, row)
        else:
            _check_hd_row(where, net, row)
        key = (net.key, address_key(net.family, row["address"]))
        if key in seen:
            raise InvalidInput(f"{where}: {row['address']} on {net.key} is already on line {seen[key]}", code="bad_csv")
        seen[key] = line
        row["status"] = status
        checked.append((line, row, key[1]))

    added = updated = unchanged = 0
    signers: list[str] = []

    def registration(row: dict, akey: str) -> str:
        body = {"network": row["network"], "address": row["address"], "address_key": akey,
                "derivation_path": row["derivation_path"], "account": row["account"], "status": row["status"]}
        if row["kind"] != "deposit":  # a shared wallet says so in its signed registration (the signer reads it)
            body["kind"] = row["kind"]
        record, who = admin_attest(session, root, "address", address_subject(nets[row["network"]].family, akey),
                                   body, admin_keys)
        signers[:] = who
        return record.hash

    for line, row, akey in checked:
        existing = session.exec(
            select(DepositAddress).where(DepositAddress.network == row["network"], DepositAddress.address_key == akey)
        ).first()
        if existing is None:
            session.add(DepositAddress(network=row["network"], address=row["address"], address_key=akey,
                                       derivation_path=row["derivation_path"], account=row["account"],
                                       status=row["status"], kind=row["kind"], statement=registration(row, akey)))
            added += 1
            continue
        if (existing.derivation_path, existing.account, existing.kind) != (row["derivation_path"], row["account"],
                                                                           row["kind"]):
            raise InvalidInput(
                f"{path}:{line}: {row['address']} on {row['network']} is registered with path "
                f"{existing.derivation_path}, account {existing.account} and kind {existing.kind}; a registered "
                "address's key path, account and kind never change",
                code="address_conflict",
            )
        if existing.status != row["status"]:
            existing.status = row["status"]
            existing.statement = registration(row, akey)
            session.add(existing)
            updated += 1
        else:
            unchanged += 1
    session.flush()
    result = ImportResult(added, updated, unchanged)
    append_event(session, actor=admin_names(root, signers) if signers else "admins", action="addresses_imported",
                 details={"file": path.name, **result.to_dict()})
    return result


def _check_hd_row(where: str, net, row: dict) -> None:
    """An HD path strictly below the network's deposit subtree, never the gas station's."""
    if not _PATH.match(row["derivation_path"]):
        raise InvalidInput(f"{where}: derivation_path {row['derivation_path']!r} is not like m/44'/60'/0'/0/7 "
                           "(or hsm:<label> for a shared wallet kept on an HSM)", code="bad_csv")
    if not net.deposit_prefixes:
        raise InvalidInput(f"{where}: network {net.key} has no deposit_path_prefix in {net.source}: deposit "
                           "addresses cannot be registered until it names the deposit subtree",
                           code="no_deposit_path_prefix")
    if not net.deposit_path_allowed(row["derivation_path"]):
        raise InvalidInput(f"{where}: derivation_path {row['derivation_path']} is outside the deposit subtree of "
                           f"{net.key} ({', '.join(net.deposit_prefixes)}) or is the gas station's path",
                           code="path_outside_deposit_prefix")


def _check_hsm_row(where: str, net, row: dict) -> None:
    """``hsm:<label>`` (of a shared wallet: the caller checked the kind, an HSM derives no per-user keys):
    only a key the network file lists with this very address (:mod:`recover.networks.hsm_wallets`)."""
    problem = hsm_wallet_problem(net, row["derivation_path"], row["address"])
    if problem:
        raise InvalidInput(f"{where}: {problem}", code="hsm_key_not_listed")


def _signed_probe(admin_keys: list):
    """A throw-away statement signed by every key given: to check the quorum before any work."""
    probe = Statement("address_import_probe", {})
    for key in admin_keys:
        probe = probe.signed_by(key)
    return probe


def find_address(session: Session, network: str, family: str, address: str) -> DepositAddress | None:
    return session.exec(
        select(DepositAddress).where(DepositAddress.network == network,
                                     DepositAddress.address_key == address_key(family, address))
    ).first()


def find_address_any_network(session: Session, family: str, address: str) -> list[DepositAddress]:
    """Every registration of this address (for ``wrong_network``: ours, but on another network)."""
    return list(session.exec(select(DepositAddress).where(DepositAddress.address_key == address_key(family, address))))
