"""The quote: what a recovery costs and what the user gets, with one line per rule applied.

Pure: every input is a parameter (amounts in base units, prices with their times, the policy,
``now``). Rounding always favours conservation and the exchange: the fee and the deducted
network cost round UP to the asset's base unit, so the payout rounds DOWN, and
``net + fee + network_cost_in_asset == gross`` holds exactly in every quote, refused or not.

Shared-wallet refunds charge "N x the withdrawal fee" (``withdrawal_fee`` x ``withdrawal_fee_multiple``
native base units) on top of the other rules: in priced mode it is added AFTER min_usd/max_usd, which
bound the USD part only, and the total is rounded up once; a native deposit pays it in kind even
unpriced; an unpriced token cannot convert it and it is not applied. ``min_withdrawal`` (native base
units) refuses smaller deposits the same way: base units for the native coin, USD for a priced token.

Refusals are data, not exceptions: ``compute_quote`` returns a Quote whose ``refusal`` is set
(so the service can store the refused quote for the audit trail) and ``Quote.raise_if_refused()``
turns it into the matching PolicyRefused subclass (exit 7). Only impossible inputs raise.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from decimal import Decimal
from typing import Any

from .amounts import (
    MAX_DECIMALS,
    ceil_ratio,
    exact_context,
    format_units,
    format_usd,
    plain,
    to_usd,
    usd_to_units_ceil,
)
from .errors import InvalidQuoteInput, PolicyRefused, refusal_error
from .policy import FeePolicy
from .prices import DEFAULT_MAX_PRICE_AGE, Price, PriceSource

MAX_GROSS = 10**40

# Refusal codes, in the order they are checked (the first that applies is the quote's refusal).
TOO_OLD = "too_old"
UNPRICED = "unpriced"
STALE_PRICE = "stale_price"
MISSING_NATIVE_PRICE = "missing_native_price"
BELOW_MIN_VALUE = "below_min_value"
BELOW_MIN_WITHDRAWAL = "below_min_withdrawal"
UNECONOMICAL = "uneconomical"


@dataclass(frozen=True)
class Refusal:
    """Why the policy refuses the recovery: a stable code and a message for people."""

    code: str
    message: str

    def to_dict(self) -> dict[str, str]:
        return {"code": self.code, "message": self.message}

    def error(self) -> PolicyRefused:
        """The exception to raise for this refusal (exit code 7, ``code`` = this refusal's code)."""
        return refusal_error(self.code, self.message, refusal=self)


@dataclass(frozen=True)
class Quote:
    """Result of ``compute_quote``. Amounts are ints in base units; USD values are exact Decimals.

    When ``refusal`` is set the amounts are informational: for price problems (unpriced with
    ``refuse``, stale price, missing native price) nothing could be computed, so fee and cost are 0
    and net = gross; for other refusals they show what the policy would charge, clamped so the
    conservation equality holds and net >= 0. ``fee_usd`` includes the withdrawal fee's USD value.
    """

    gross: int
    decimals: int
    value_usd: Decimal | None
    fee: int
    fee_usd: Decimal | None
    network_cost_native: int
    native_decimals: int
    network_cost_usd: Decimal | None
    network_cost_in_asset: int
    network_cost_mode: str  # effective: "deduct" or "absorb" (an unpriced token absorbs)
    net: int
    economical: bool
    refusal: Refusal | None
    lines: tuple[str, ...]
    prices_used: tuple[Price, ...]
    policy: FeePolicy = field(repr=False)
    asset: str | None = None

    @property
    def refused(self) -> bool:
        return self.refusal is not None

    def raise_if_refused(self) -> None:
        """Raise the PolicyRefused subclass matching ``refusal`` (exit code 7), if any."""
        if self.refusal is not None:
            raise self.refusal.error()

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe: base-unit amounts and Decimals as strings, never floats."""

        def usd(value: Decimal | None) -> str | None:
            return None if value is None else plain(value)

        return {
            "asset": self.asset,
            "gross": str(self.gross),
            "decimals": self.decimals,
            "value_usd": usd(self.value_usd),
            "fee": str(self.fee),
            "fee_usd": usd(self.fee_usd),
            "network_cost_native": str(self.network_cost_native),
            "native_decimals": self.native_decimals,
            "network_cost_usd": usd(self.network_cost_usd),
            "network_cost_in_asset": str(self.network_cost_in_asset),
            "network_cost_mode": self.network_cost_mode,
            "net": str(self.net),
            "economical": self.economical,
            "refusal": None if self.refusal is None else self.refusal.to_dict(),
            "lines": list(self.lines),
            "prices_used": [p.to_dict() for p in self.prices_used],
            "policy": self.policy.to_dict(),
        }


    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "Quote":
        """Rebuild a Quote stored with ``to_dict`` (e.g. from the case database)."""

        def usd(value: str | None) -> Decimal | None:
            return None if value is None else Decimal(value)

        refusal = data.get("refusal")
        return cls(
            gross=int(data["gross"]),
            decimals=int(data["decimals"]),
            value_usd=usd(data["value_usd"]),
            fee=int(data["fee"]),
            fee_usd=usd(data["fee_usd"]),
            network_cost_native=int(data["network_cost_native"]),
            native_decimals=int(data["native_decimals"]),
            network_cost_usd=usd(data["network_cost_usd"]),
            network_cost_in_asset=int(data["network_cost_in_asset"]),
            network_cost_mode=data["network_cost_mode"],
            net=int(data["net"]),
            economical=bool(data["economical"]),
            refusal=None if refusal is None else Refusal(refusal["code"], refusal["message"]),
            lines=tuple(data["lines"]),
            prices_used=tuple(
                Price(p["asset"], Decimal(p["usd"]), datetime.fromisoformat(p["at"])) for p in data["prices_used"]
            ),
            policy=FeePolicy.model_validate(data["policy"]),
            asset=data.get("asset"),
        )


def _check_int(value: object, name: str, upper: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise InvalidQuoteInput(f"{name} must be an int, not {type(value).__name__} {value!r}")
    if value < 0 or value > upper:
        raise InvalidQuoteInput(f"{name} must be between 0 and {upper}, got {value}")
    return value


def _check_time(value: object, name: str) -> datetime:
    if not isinstance(value, datetime):
        raise InvalidQuoteInput(f"{name} must be a datetime, not {type(value).__name__}")
    if value.tzinfo is None or value.utcoffset() is None:
        raise InvalidQuoteInput(f"{name} must be timezone-aware (UTC), got naive {value.isoformat()}")
    return value.astimezone(timezone.utc)


def _stale_message(price: Price, now: datetime, max_age: timedelta, role: str) -> str:
    age = now - price.at
    if age < timedelta(0):
        return f"{role} price of {price.asset} ({plain(price.usd)} USD at {price.at.isoformat()}) is dated in the future"
    return (
        f"{role} price of {price.asset} ({plain(price.usd)} USD at {price.at.isoformat()}) is stale: "
        f"{age} old, more than the allowed {max_age}"
    )


def _withdrawal_fee_text(policy: FeePolicy, units: str) -> str:
    """'withdrawal fee: 5 x 1000 base units = 5000 base units': the rule's arithmetic, for a line."""
    wd = policy.withdrawal_fee_native
    assert wd is not None and policy.withdrawal_fee is not None and policy.withdrawal_fee_multiple is not None
    with exact_context():
        exact = policy.withdrawal_fee_multiple * policy.withdrawal_fee == wd
    return (
        f"withdrawal fee: {plain(policy.withdrawal_fee_multiple)} x {policy.withdrawal_fee} {units}"
        f" = {wd} {units}" + ("" if exact else " (rounded up)")
    )


def compute_quote(
    *,
    gross: int,
    decimals: int,
    price: Price | None,
    is_native: bool,
    native_price: Price | None,
    native_decimals: int,
    network_cost_native: int,
    policy: FeePolicy,
    now: datetime,
    deposit_time: datetime | None = None,
    max_price_age: timedelta = DEFAULT_MAX_PRICE_AGE,
    asset: str | None = None,
    native_asset: str | None = None,
    label: str | None = None,
    net_to: str = "net to user",
) -> Quote:
    """Quote a recovery of ``gross`` base units under ``policy``.

    ``asset`` is the asset's price key; ``label`` is how the lines name it for people (its symbol:
    a token's price key is its network and contract); ``net_to`` says where the net goes.

    ``price`` is the asset's USD price (None: unpriced); for the native asset it is also the
    native price and ``native_price`` is ignored. ``network_cost_native`` is the sweep's cost
    estimate in native base units. ``deposit_time`` is required when the policy sets
    ``max_age_days``. ``withdrawal_fee`` and ``min_withdrawal`` of the policy are native base units:
    a token converts them through USD, so it then needs the native price like its network cost.
    Returns a Quote (refusals included); raises InvalidQuoteInput on impossible
    inputs only.
    """
    gross = _check_int(gross, "gross", MAX_GROSS)
    decimals = _check_int(decimals, "decimals", MAX_DECIMALS)
    native_decimals = _check_int(native_decimals, "native_decimals", MAX_DECIMALS)
    network_cost_native = _check_int(network_cost_native, "network_cost_native", MAX_GROSS)
    if not isinstance(policy, FeePolicy):
        raise InvalidQuoteInput(f"policy must be a FeePolicy, not {type(policy).__name__}")
    for name, p in (("price", price), ("native_price", native_price)):
        if p is not None and not isinstance(p, Price):
            raise InvalidQuoteInput(f"{name} must be a Price or None, not {type(p).__name__}")
    if not isinstance(max_price_age, timedelta) or max_price_age < timedelta(0):
        raise InvalidQuoteInput(f"max_price_age must be a non-negative timedelta, got {max_price_age!r}")
    now = _check_time(now, "now")
    if is_native:
        if decimals != native_decimals:
            raise InvalidQuoteInput(
                f"native asset with decimals {decimals} but native_decimals {native_decimals}"
            )
        native_price = price
    key = asset or (price.asset if price else "asset")
    sym = label or key
    priced_as = f" (price key {key})" if sym != key else ""
    nsym = native_asset or (native_price.asset if native_price else ("native" if not is_native else sym))
    if is_native:
        nsym = sym

    lines: list[str] = [f"deposit: {format_units(gross, decimals)} {sym} ({gross} base units, {decimals} decimals)"]
    refusals: list[Refusal] = []
    prices_used: list[Price] = []

    # Age of the deposit (Bybit-style memo recovery window).
    if policy.max_age_days is not None:
        if deposit_time is None:
            raise InvalidQuoteInput("deposit_time is required: the fee policy sets max_age_days")
        deposit_time = _check_time(deposit_time, "deposit_time")
        age = now - deposit_time
        limit = timedelta(days=policy.max_age_days)
        if age > limit:
            msg = f"deposit of {deposit_time.isoformat()} is {age.days} days old; the policy accepts at most {policy.max_age_days} days"
            refusals.append(Refusal(TOO_OLD, msg))
            lines.append(f"age: {msg}: refused")
        else:
            lines.append(f"age: {age.days} days, within the {policy.max_age_days}-day limit")

    # Which prices are usable decides the mode: priced, unpriced (percent in kind), or not computable.
    mode = "priced"
    if price is not None:
        prices_used.append(price)
        if price.is_stale(now, max_price_age):
            refusals.append(Refusal(STALE_PRICE, _stale_message(price, now, max_price_age, "asset")))
            mode = "none"
    elif policy.unpriced == "refuse":
        refusals.append(Refusal(UNPRICED, f"{sym}{priced_as} has no USD price and the fee policy refuses unpriced assets"))
        mode = "none"
    else:
        mode = "unpriced"
    wd_native = policy.withdrawal_fee_native
    min_wd = policy.min_withdrawal
    # What a priced token must value at the native price (zero amounts need no price).
    native_needs = [
        f"{what} of {units} base units"
        for what, units in (("network cost", network_cost_native), ("withdrawal fee", wd_native),
                            ("minimum withdrawal", min_wd))
        if units
    ]
    if mode == "priced" and not is_native and native_needs:
        if native_price is None:
            refusals.append(
                Refusal(
                    MISSING_NATIVE_PRICE,
                    f"no USD price for the native asset {nsym}: cannot value the {' and the '.join(native_needs)}",
                )
            )
            mode = "none"
        else:
            prices_used.append(native_price)
            if native_price.is_stale(now, max_price_age):
                refusals.append(Refusal(STALE_PRICE, _stale_message(native_price, now, max_price_age, "native")))
                mode = "none"

    value_usd = fee_usd = cost_usd = None
    cost_mode = policy.network_cost
    if mode == "none":
        fee_raw = cost_raw = cost_equiv = 0
        lines.append(f"no fee computed: {refusals[-1].message}")
    elif mode == "unpriced":
        # A token without a price cannot pay its gas in kind (no exchange rate): the exchange absorbs
        # it.  The native asset can: its cost is in its own base units, deducted as the policy says.
        cost_mode = policy.network_cost if is_native else "absorb"
        pct = policy.percent or Decimal(0)
        with exact_context():
            fee_raw = ceil_ratio(Decimal(gross) * pct, Decimal(100))
        lines.append(f"{sym}{priced_as} has no USD price: policy unpriced = percent_only (fee in kind, no USD rules)")
        lines.append(
            f"fee: {plain(pct)}% of {gross} base units = {fee_raw} base units (rounded up)"
        )
        if is_native and wd_native is not None:
            # The native coin needs no price for a fee stated in its own base units.
            lines.append(f"{_withdrawal_fee_text(policy, 'base units')}, added in kind: "
                         f"fee {fee_raw} + {wd_native} = {fee_raw + wd_native} base units")
            fee_raw += wd_native
        skipped = [k for k in ("percent_above_usd", "flat_usd", "min_usd", "max_usd", "min_value_usd") if getattr(policy, k) is not None]
        if not is_native:
            skipped += [k for k in ("withdrawal_fee", "min_withdrawal") if getattr(policy, k) is not None]
        if skipped:
            lines.append(f"not applied without a price: {', '.join(skipped)}")
        if cost_mode == "deduct":
            cost_raw = cost_equiv = network_cost_native
            lines.append(f"network cost: {network_cost_native} {nsym} base units, deducted in kind from the deposit "
                         "(no price is needed: it is the network's own asset)")
        else:
            lines.append(f"network cost: {network_cost_native} {nsym} base units, absorbed by the exchange "
                         + ("(asset unpriced)" if not is_native else "(policy network_cost = absorb)"))
            cost_raw = cost_equiv = 0
    else:
        assert price is not None
        p = price.usd
        with exact_context():
            value_usd = to_usd(gross, decimals, p)
            lines.append(
                f"value: {format_units(gross, decimals)} {sym} x {plain(p)} USD (price at {price.at.isoformat()}) = {format_usd(value_usd)} USD"
            )
            fee_usd = Decimal(0)
            if policy.percent is not None:
                above = policy.percent_above_usd or Decimal(0)
                base = max(value_usd - above, Decimal(0))
                part = base * policy.percent / 100
                fee_usd += part
                if policy.percent_above_usd is not None:
                    lines.append(
                        f"percent: {plain(policy.percent)}% of the value above {plain(above)} USD "
                        f"= {plain(policy.percent)}% x {format_usd(base)} = {format_usd(part)} USD"
                    )
                else:
                    lines.append(f"percent: {plain(policy.percent)}% x {format_usd(value_usd)} = {format_usd(part)} USD")
            if policy.flat_usd is not None:
                fee_usd += policy.flat_usd
                lines.append(f"flat fee: + {plain(policy.flat_usd)} USD = {format_usd(fee_usd)} USD")
            if policy.min_usd is not None and fee_usd < policy.min_usd:
                lines.append(f"minimum: fee {format_usd(fee_usd)} USD raised to min_usd {plain(policy.min_usd)} USD")
                fee_usd = policy.min_usd
            if policy.max_usd is not None and fee_usd > policy.max_usd:
                lines.append(f"maximum: fee {format_usd(fee_usd)} USD capped at max_usd {plain(policy.max_usd)} USD")
                fee_usd = policy.max_usd
            if wd_native is not None:
                # "N x the withdrawal fee" comes on top of everything else: after the USD clamps.
                after = ", added after min_usd/max_usd (they bound the USD part only)"
                if is_native:
                    wd_usd = to_usd(wd_native, decimals, p)
                    lines.append(f"{_withdrawal_fee_text(policy, 'base units')} ({format_units(wd_native, decimals)} {sym}"
                                 f" = {format_usd(wd_usd)} USD){after}")
                elif wd_native == 0:
                    wd_usd = Decimal(0)
                    lines.append(f"{_withdrawal_fee_text(policy, f'{nsym} base units')}{after}")
                else:
                    assert native_price is not None
                    wd_usd = to_usd(wd_native, native_decimals, native_price.usd)
                    lines.append(
                        f"{_withdrawal_fee_text(policy, f'{nsym} base units')} = {format_units(wd_native, native_decimals)}"
                        f" {nsym} x {plain(native_price.usd)} USD (price at {native_price.at.isoformat()})"
                        f" = {format_usd(wd_usd)} USD{after}"
                    )
                fee_usd += wd_usd
            # One rounding up for the whole fee (a native withdrawal fee is whole units already).
            fee_raw = usd_to_units_ceil(fee_usd, decimals, p)
            lines.append(
                f"fee: {format_usd(fee_usd)} USD / {plain(p)} USD per {sym} = {fee_raw} base units "
                f"({format_units(fee_raw, decimals)} {sym}, rounded up)"
            )
            if network_cost_native == 0:
                cost_usd, cost_equiv = Decimal(0), 0
                lines.append("network cost: 0")
            elif is_native:
                cost_equiv = network_cost_native
                cost_usd = to_usd(network_cost_native, decimals, p)
                lines.append(
                    f"network cost: {network_cost_native} base units ({format_units(network_cost_native, decimals)} {sym}"
                    f" = {format_usd(cost_usd)} USD)"
                )
            else:
                assert native_price is not None
                cost_usd = to_usd(network_cost_native, native_decimals, native_price.usd)
                cost_equiv = usd_to_units_ceil(cost_usd, decimals, p)
                lines.append(
                    f"network cost: {network_cost_native} {nsym} base units = {format_units(network_cost_native, native_decimals)} {nsym}"
                    f" x {plain(native_price.usd)} USD (price at {native_price.at.isoformat()}) = {format_usd(cost_usd)} USD"
                    f" = {cost_equiv} {sym} base units (rounded up)"
                )
        if cost_mode == "deduct":
            cost_raw = cost_equiv
            lines.append("network cost: deducted from the deposit (policy network_cost = deduct)")
        else:
            cost_raw = 0
            lines.append("network cost: absorbed by the exchange (policy network_cost = absorb)")
        if policy.min_value_usd is not None:
            if value_usd < policy.min_value_usd:
                refusals.append(
                    Refusal(
                        BELOW_MIN_VALUE,
                        f"value {format_usd(value_usd)} USD is below the policy minimum of {plain(policy.min_value_usd)} USD",
                    )
                )
                lines.append(f"minimum value: {format_usd(value_usd)} USD < {plain(policy.min_value_usd)} USD: refused")
            else:
                lines.append(f"minimum value: {format_usd(value_usd)} USD >= {plain(policy.min_value_usd)} USD: ok")

    # Minimum withdrawal, checked right after the minimum value (the documented refusal order).
    if min_wd is not None and mode != "none" and (is_native or mode == "priced"):
        if is_native:
            short = gross < min_wd
            shown = f"{gross} base units {'<' if short else '>='} {min_wd} base units"
            msg = f"deposit of {gross} base units is below the minimum withdrawal of {min_wd} base units"
        else:
            assert value_usd is not None
            min_wd_usd = Decimal(0) if min_wd == 0 else to_usd(min_wd, native_decimals, native_price.usd)  # type: ignore[union-attr]
            short = value_usd < min_wd_usd
            worth = f"{min_wd} {nsym} base units ({format_units(min_wd, native_decimals)} {nsym} = {format_usd(min_wd_usd)} USD)"
            shown = f"value {format_usd(value_usd)} USD {'<' if short else '>='} {worth}"
            msg = f"value {format_usd(value_usd)} USD is below the minimum withdrawal of {worth}"
        if short:
            refusals.append(Refusal(BELOW_MIN_WITHDRAWAL, msg))
        lines.append(f"minimum withdrawal: {shown}: {'refused' if short else 'ok'}")

    if mode != "none" and fee_raw + cost_equiv >= gross:
        what = "fee plus network cost" if cost_equiv else "fee"
        msg = (
            f"{what} ({fee_raw} + {cost_equiv} base units) reaches the deposit of {gross} base units"
            if cost_equiv
            else f"fee of {fee_raw} base units reaches the deposit of {gross} base units"
        )
        refusals.append(Refusal(UNECONOMICAL, msg))
        lines.append(f"economics: {msg}: refused")

    # Clamp so that conservation holds and nothing goes negative.
    fee = min(fee_raw, gross)
    if fee < fee_raw:
        lines.append(f"fee clamped to the deposit: {fee} base units")
    cost_in_asset = min(cost_raw, gross - fee)
    if cost_in_asset < cost_raw:
        lines.append(f"network cost clamped to what remains: {cost_in_asset} base units")
    net = gross - fee - cost_in_asset
    refusal = refusals[0] if refusals else None
    net_line = net_to if refusal is None else f"{net_to} (informational: refused)"
    lines.append(
        f"{net_line}: {gross} - {fee} - {cost_in_asset} = {net} base units ({format_units(net, decimals)} {sym}, rounded down)"
    )
    if refusal is not None:
        lines.append(f"refused ({refusal.code}): {refusal.message}")
    return Quote(
        gross=gross,
        decimals=decimals,
        value_usd=value_usd,
        fee=fee,
        fee_usd=fee_usd,
        network_cost_native=network_cost_native,
        native_decimals=native_decimals,
        network_cost_usd=cost_usd,
        network_cost_in_asset=cost_in_asset,
        network_cost_mode=cost_mode,
        net=net,
        economical=refusal is None,
        refusal=refusal,
        lines=tuple(lines),
        prices_used=tuple(prices_used),
        policy=policy,
        asset=asset or (price.asset if price else None),
    )


def quote_from_source(
    source: PriceSource,
    *,
    asset: str,
    native_asset: str,
    is_native: bool,
    **kwargs: Any,
) -> Quote:
    """``compute_quote`` with prices looked up in ``source`` (asset and, unless native, the native asset)."""
    price = source.get(asset)
    native_price = price if is_native else source.get(native_asset)
    return compute_quote(
        price=price,
        native_price=native_price,
        is_native=is_native,
        asset=asset,
        native_asset=native_asset,
        **kwargs,
    )
