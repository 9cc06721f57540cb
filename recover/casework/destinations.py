"""Destinations that lose money are refused; destinations that look like someone else's are flagged.

Checked at ``case open`` (what needs no node), again at ``prepare`` and at ``sign`` (with the node:
is there code at the address?), so a claim cannot be steered into a burn address, the token
contract itself, a contract that cannot move the funds on, or one of the exchange's own wallets
(fee collector, hot wallet, gas station, any deposit address): each of those is money sent to
nobody or to ourselves while the user is told it was returned.

Address poisoning: attackers send dust from addresses that share the first and last characters of
one the victim uses, hoping the victim copies the wrong one.  A return address that looks like one
of ours or like the deposit's sender (same first and last four or more characters, different
address) is flagged on the case (``lookalike_destination``) and needs a ``manual_review`` sign-off
before the plan can be approved.
"""

from __future__ import annotations

import os

import sqlalchemy as sa
from sqlmodel import Session, select

from chains.base import NATIVE
from chains.registry import adapter_class
from recover.authority.acting import Verifier
from recover.authority.signed_case import load_signed_case
from recover.errors import ConfigError, PolicyRefused
from recover.life.operations import counts_as_condition
from recover.networks.chainio import resolved
from recover.storage.models import DepositAddress

LOOKALIKE_CHARS = 4
LOOKALIKE_FLAG = "lookalike_destination"
CONTRACT_ALLOWED = "contract_destination"  # a sign-off that allows a contract destination


def _body(address: str) -> str:
    return address[2:] if address.lower().startswith("0x") else address


def looks_alike(a: str, b: str, key) -> bool:
    """Same first and last ``LOOKALIKE_CHARS`` characters of the address body, but not the same address."""
    if not a or not b or key(a) == key(b):
        return False
    x, y = key(_body(a)), key(_body(b))
    n = LOOKALIKE_CHARS
    return len(x) > 2 * n and len(y) > 2 * n and x[:n] == y[:n] and x[-n:] == y[-n:]


_OURS: dict[tuple, list[tuple[str, str]]] = {}


def _ours(net) -> list[tuple[str, str]]:
    """The exchange's own wallets on this network, where the configuration says (resolved if it can be).
    Kept per network file and environment: ``verify --all`` asks once per case."""
    key = (id(net), net.key, net.fee_collector, net.hot_wallet,
           tuple(os.environ.get(v, "") for v in sorted(net.placeholders())))
    if key not in _OURS:
        try:
            r = resolved(net)
        except ConfigError:  # placeholders not set here (a specialist's machine): the signer checks again
            r = net
        _OURS[key] = [(what, value) for what, value in (("fee collector", r.fee_collector),
                                                        ("hot wallet", r.hot_wallet)) if value and "${" not in value]
    return _OURS[key]

# built once: ``case import`` checks a destination per line
_ADDRESSES = DepositAddress.__table__
_REGISTERED_ON = (sa.select(_ADDRESSES.c.network).where(_ADDRESSES.c.address_key == sa.bindparam("key")).limit(1))
_NEAR = (sa.select(_ADDRESSES.c.address).where(_ADDRESSES.c.address_key >= sa.bindparam("low"),
                                               _ADDRESSES.c.address_key < sa.bindparam("high")).limit(1000))


def check_destination(session: Session, net, destination: str, *, asset: str | None = None,
                      gas_station: str | None = None, chain=None, allowed: set[str] = frozenset(),
                      registered: dict[str, str] | None = None) -> None:
    """Refuse (exit 7) a destination that would lose the money.  ``chain``: an adapter, to ask the node
    whether the address holds code (prepare, sign); without it only what needs no node is checked.
    ``registered``: what :func:`registered_many` read for a batch of claims (an address key it did not
    ask about is still asked here)."""
    cls = adapter_class(net.family)
    key = cls.address_key
    where = f"destination {destination}"
    burn = cls.burn_reason(net, destination)
    if burn:
        raise PolicyRefused(f"{where} is {burn}: funds sent there are lost", code="destination_burn")
    if asset and asset != NATIVE and key(asset) == key(destination):
        raise PolicyRefused(f"{where} is the token contract itself: tokens sent to it are stuck",
                            code="destination_token_contract")
    for what, value in _ours(net) + ([("gas station", gas_station)] if gas_station else []):
        if key(value) == key(destination):
            raise PolicyRefused(f"{where} is our own {what}: the user would be paid nothing", code="destination_ours")
    if registered is not None and key(destination) in registered:
        mine = registered[key(destination)]
    else:
        mine = session.connection().execute(_REGISTERED_ON, {"key": key(destination)}).scalar()
    if mine is not None:
        raise PolicyRefused(f"{where} is one of our own deposit addresses (registered on {mine})",
                            code="destination_ours")
    if chain is not None and CONTRACT_ALLOWED not in allowed:
        if chain.is_contract(destination):
            raise PolicyRefused(f"{where} is a contract: it may not be able to move the funds on; a reviewer "
                                f"can allow it with `recover case signoff ID --condition {CONTRACT_ALLOWED} "
                                "--reason ...`", code="destination_contract")


def recorded_conditions(session: Session, case) -> set[str]:
    """The conditions of the case that a valid signed statement by a reviewer records (rows alone do
    not count)."""
    sc = load_signed_case(Verifier(session), case.id)
    return {c for c, s in sc.conditions.items() if counts_as_condition(c, s.roles)}


def registered_many(session: Session, keys: set[str]) -> dict[str, str | None]:
    """``address key -> a network it is registered on as our deposit address, or None`` for every key
    asked, in one query per 500 keys: the database read of :func:`check_destination` for a batch of
    claims (``case import`` checks a chunk's destinations at once, not one query each)."""
    found: dict[str, str | None] = dict.fromkeys(keys)
    wanted = sorted(keys)
    for i in range(0, len(wanted), 500):
        for address_key, network in session.connection().execute(
                sa.select(_ADDRESSES.c.address_key, sa.func.min(_ADDRESSES.c.network))
                .where(_ADDRESSES.c.address_key.in_(wanted[i:i + 500])).group_by(_ADDRESSES.c.address_key)):
            found[address_key] = network
    return found


def lookalike_flags(session: Session, net, destination: str, *, sender: str | None = None,
                    deposit: str | None = None, near: dict[str, list[str]] | None = None) -> list[str]:
    """``[LOOKALIKE_FLAG]`` when the destination looks like the sender, the deposit address, or one
    of our wallets without being it (address poisoning), else ``[]``.  ``near``: what
    :func:`near_many` read for a batch (a prefix it did not ask about is still asked here)."""
    cls = adapter_class(net.family)
    key = cls.address_key
    others = [v for _, v in _ours(net)] + [a for a in (sender, deposit) if a]
    body = key(_body(destination))
    n = LOOKALIKE_CHARS
    if len(body) > 2 * n:  # registered deposit addresses sharing the first characters (indexed prefix)
        prefix = key(("0x" + body[:n]) if destination.lower().startswith("0x") else body[:n])
        if near is not None and prefix in near:
            others += near[prefix]
        else:
            upper = prefix[:-1] + chr(ord(prefix[-1]) + 1)  # a range, so the index on address_key serves it
            others += list(session.connection().execute(_NEAR, {"low": prefix, "high": upper}).scalars())
    return [LOOKALIKE_FLAG] if any(looks_alike(destination, o, key) for o in others) else []


def lookalike_flags_many(session: Session, net, items: list[tuple[str, str | None, str | None]]) -> list[list[str]]:
    """:func:`lookalike_flags` of many ``(destination, sender, deposit)`` at once: the registered
    addresses sharing each destination's prefix come from one query per 200 prefixes, not one each."""
    key = adapter_class(net.family).address_key
    ours = [v for _, v in _ours(net)]
    prefixes = {d: p for d in {d for d, _s, _d in items} if (p := lookalike_prefix(net, d)) is not None}
    near = near_many(session, set(prefixes.values()))
    out = []
    for destination, sender, deposit in items:
        others = ours + [a for a in (sender, deposit) if a] + near.get(prefixes.get(destination, ""), [])
        out.append([LOOKALIKE_FLAG] if any(looks_alike(destination, o, key) for o in others) else [])
    return out


def lookalike_prefix(net, destination: str) -> str | None:
    """The registered-address prefix :func:`lookalike_flags` looks up for ``destination`` (None: too short)."""
    key = adapter_class(net.family).address_key
    body = key(_body(destination))
    n = LOOKALIKE_CHARS
    if len(body) <= 2 * n:
        return None
    return key(("0x" + body[:n]) if destination.lower().startswith("0x") else body[:n])


def near_many(session: Session, prefixes: set[str]) -> dict[str, list[str]]:
    """``prefix -> registered deposit addresses whose key starts with it`` (at most 1000 each, as one
    lookup of :func:`lookalike_flags` reads) for every prefix asked, in one query per 200 prefixes."""
    near: dict[str, list[str]] = {p: [] for p in prefixes}
    wanted = sorted(prefixes)
    for i in range(0, len(wanted), 200):
        chunk = set(wanted[i:i + 200])
        lengths = {len(p) for p in chunk}
        ranges = [sa.and_(DepositAddress.address_key >= p, DepositAddress.address_key < p[:-1] + chr(ord(p[-1]) + 1))
                  for p in wanted[i:i + 200]]
        for address, address_key in session.exec(select(DepositAddress.address, DepositAddress.address_key)
                                                 .where(sa.or_(*ranges))):
            for p in {address_key[:k] for k in lengths} & chunk:
                if len(near.setdefault(p, [])) < 1000:
                    near[p].append(address)
    return near
