"""The built-in price source: a table of USD price observations in the case database.

ASSET is a native symbol (``ETH``) or ``network:contract`` for a token (``ethereum:0xA0b8...``),
checked like any address.  The quote uses the newest observation by its time; staleness is the fee
engine's call (``fees.Price.is_stale``).
"""

from __future__ import annotations

import csv
import io
import re
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from decimal import Decimal
from pathlib import Path

from sqlmodel import Session, select

from chains.errors import InvalidAddress
from fees import Price, parse_usd_price
from recover.authority.acting import Verifier, attest, price_subject
from recover.errors import InvalidInput, PolicyRefused
from recover.networks.registry import get_network
from recover.storage.audit import append_event
from recover.storage.models import Price as PriceRow
from recover.storage.models import StatementRecord

_SYMBOL = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,19}$")
FUTURE_LIMIT = timedelta(minutes=5)


def normalize_asset(asset: str) -> str:
    asset = (asset or "").strip()
    if ":" in asset:
        network, _, contract = asset.partition(":")
        net = get_network(network)
        try:
            contract = net.validate_address(contract, what=f"token of {network}")
        except InvalidAddress as exc:
            raise InvalidInput(str(exc), code="invalid_asset") from None
        return f"{net.key}:{contract}"
    if not _SYMBOL.match(asset):
        raise InvalidInput(f"asset {asset!r} is neither a native symbol (ETH) nor network:contract",
                           code="invalid_asset")
    return asset.upper()


def parse_time(text: str | None, *, now: datetime | None = None) -> datetime:
    now = now or datetime.now(timezone.utc)
    if text is None or text == "":
        return now
    try:
        at = datetime.fromisoformat(text.strip().replace("Z", "+00:00").replace("z", "+00:00"))
    except ValueError:
        raise InvalidInput(f"time {text!r} is not ISO-8601 (e.g. 2026-11-23T10:00:00Z)", code="invalid_time") from None
    if at.tzinfo is None:
        raise InvalidInput(f"time {text!r} has no timezone; add Z for UTC", code="invalid_time")
    at = at.astimezone(timezone.utc)
    if at > now + FUTURE_LIMIT:
        raise InvalidInput(f"time {text!r} is in the future", code="invalid_time")
    return at


@dataclass(frozen=True)
class PriceSet:
    asset: str
    usd: str
    at: datetime

    def to_dict(self) -> dict:
        return {"asset": self.asset, "usd": self.usd, "at": self.at.strftime("%Y-%m-%dT%H:%M:%SZ")}


def _parse(asset: str, usd: str, at: str | None) -> PriceSet:
    key = normalize_asset(asset)
    try:
        value = parse_usd_price(usd, key)
    except Exception as exc:  # fees.InvalidPrice carries exit 4 already; keep its message
        raise InvalidInput(str(exc), code="invalid_price") from None
    return PriceSet(key, format(value, "f"), parse_time(at))


def _add(session: Session, p: PriceSet, actor) -> None:
    """A price row and the pricer's signed statement of it."""
    record = attest(actor, session, "price", price_subject(p.asset), p.to_dict())
    session.add(PriceRow(asset=p.asset, usd=p.usd, at=p.at, created_by=actor, statement=record.hash))


def set_price(session: Session, asset: str, usd: str, at: str | None, *, actor: str) -> PriceSet:
    p = _parse(asset, usd, at)
    _add(session, p, actor)
    append_event(session, actor=actor, action="price_set", details=p.to_dict())
    return p


def import_prices(session: Session, path: Path, *, actor: str) -> list[PriceSet]:
    """CSV ``asset,usd[,at]``: every row checked before any is written."""
    try:
        text = path.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as exc:
        raise InvalidInput(f"cannot read {path}: {exc}", code="bad_file") from None
    reader = csv.DictReader(io.StringIO(text))
    header = [h.strip() for h in reader.fieldnames or []]
    if header[:2] != ["asset", "usd"] or any(h not in ("asset", "usd", "at") for h in header):
        raise InvalidInput(f"{path}: header must be asset,usd[,at]", code="bad_csv")
    rows = []
    for row in reader:
        clean = {(k or "").strip(): (v or "").strip() for k, v in row.items() if k is not None}
        if not any(clean.values()):
            continue
        try:
            rows.append(_parse(clean.get("asset", ""), clean.get("usd", ""), clean.get("at") or None))
        except InvalidInput as exc:
            raise InvalidInput(f"{path}:{reader.line_num}: {exc}", code=exc.code) from None
    if not rows:
        raise InvalidInput(f"{path}: no price rows", code="bad_csv")
    for p in rows:
        _add(session, p, actor)
    append_event(session, actor=actor, action="prices_imported", details={"file": path.name, "rows": len(rows)})
    return rows


class DbPriceSource:
    """``fees.PriceSource`` over the price table: the newest observation of an asset by its time,
    and only as its pricer signed it.  A row edited or inserted in the database (a price nobody signed,
    or not the one the statement says) is refused, never skipped for an older one: the fee in the
    asset is computed from this price, so a forged one would take the user's money as a fee."""

    def __init__(self, session: Session):
        self.session = session
        self._checked: dict[str, tuple[Price, str] | None] = {}

    def _newest(self, asset: str) -> tuple[Price, str] | None:
        if asset in self._checked:
            return self._checked[asset]
        row = self.session.exec(
            select(PriceRow).where(PriceRow.asset == asset).order_by(PriceRow.at.desc(), PriceRow.id.desc()).limit(1)
        ).first()
        found = None
        if row is not None:
            found = (Price(asset=row.asset, usd=Decimal(row.usd), at=row.at), self._signed(row))
        self._checked[asset] = found
        return found

    def _signed(self, row: PriceRow) -> str:
        """The hash of the pricer's statement the row is a view of; ``PolicyRefused`` when it is not one."""
        record = self.session.exec(select(StatementRecord).where(StatementRecord.hash == row.statement)).first() \
            if row.statement else None
        signed, why = Verifier(self.session).check(record) if record is not None else (None, "no signed statement")
        expected = {"asset": row.asset, "usd": row.usd, "at": row.at.strftime("%Y-%m-%dT%H:%M:%SZ")}
        if signed is None or signed.kind != "price" or {k: signed.body.get(k) for k in expected} != expected:
            raise PolicyRefused(f"the newest price of {row.asset} ({row.usd} USD at {expected['at']}) is not a price a "
                                f"pricer signed ({why or 'its statement says otherwise'}): nothing is quoted on it",
                                code="price_tampered", details={"asset": row.asset, "price": row.id})
        return signed.hash

    def get(self, asset: str) -> Price | None:
        found = self._newest(asset)
        return found[0] if found else None

    def statement_of(self, asset: str) -> str | None:
        """The signed statement of the price :meth:`get` returns."""
        found = self._newest(asset)
        return found[1] if found else None
