"""The approval policy: value tiers in USD -> distinct approvers and roles required.

Pure once loaded: ``tier_for(value_usd)`` picks the tier; unpriced recoveries take the top tier.
Plain dataclasses checked by hand (the messages name the key as the rest of the configuration
does), so that the read path (``case show``, ``queue list``) derives the policy in force without
loading pydantic.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from importlib import resources

from recover.errors import ConfigError
from recover.text import plural

# Imports inside functions: the ORM, the audit log and the admin-statement writer load only to put a
# policy in force: the read path checks the policy in force without them.

_SEQUENCES = (list, tuple, set, frozenset)


def _usd_bound(v) -> Decimal | None:
    """A tier's ``below_usd``: a positive number written as text (or an int), never a float."""
    if v is None or isinstance(v, Decimal) and v.is_finite() and v > 0:
        return v
    if isinstance(v, float) or isinstance(v, bool):
        raise ValueError("write USD amounts as strings, e.g. \"1000\"")
    try:
        d = Decimal(str(v))
    except InvalidOperation:
        raise ValueError(f"{v!r} is not a number") from None
    if not d.is_finite() or d <= 0:
        raise ValueError("must be a positive number")
    return d


@dataclass(frozen=True)
class Tier:
    below_usd: Decimal | None = None
    approvers: int = 1
    roles: tuple[str, ...] = ()

    def __post_init__(self):
        object.__setattr__(self, "below_usd", _usd_bound(self.below_usd))
        object.__setattr__(self, "roles", tuple(self.roles))

    def describe(self) -> str:
        roles = f" incl. {', '.join(self.roles)}" if self.roles else ""
        bound = f"below {self.below_usd} USD" if self.below_usd is not None else "top tier"
        return f"{plural(self.approvers, 'approver')}{roles} ({bound})"


@dataclass(frozen=True)
class ApprovalPolicy:
    tiers: tuple[Tier, ...]
    source: str = field(default="", compare=True)

    def tier_for(self, value_usd: Decimal | None) -> Tier:
        ordered = sorted((t for t in self.tiers if t.below_usd is not None), key=lambda t: t.below_usd)
        top = next((t for t in self.tiers if t.below_usd is None), None) or max(self.tiers, key=lambda t: t.approvers)
        if value_usd is None:
            return top
        for t in ordered:
            if value_usd < t.below_usd:
                return t
        return top


def _tier_errors(i: int, doc, errors: list) -> Tier | None:
    """The tier of ``doc`` (the ``i``-th), or None after adding ``(key, message)`` to ``errors``."""
    if isinstance(doc, Tier):
        return doc
    if not isinstance(doc, dict):
        errors.append((f"tiers.{i}", "Input should be a valid dictionary or instance of Tier"))
        return None
    before = len(errors)
    try:
        below = _usd_bound(doc.get("below_usd"))
    except ValueError as exc:
        errors.append((f"tiers.{i}.below_usd", f"Value error, {exc}"))
    approvers = doc.get("approvers")
    if "approvers" not in doc:
        errors.append((f"tiers.{i}.approvers", "Field required"))
    elif isinstance(approvers, bool) or not isinstance(approvers, int):  # `approvers = true` is not 1
        errors.append((f"tiers.{i}.approvers", "Input should be a valid integer"))
    elif approvers < 1:
        errors.append((f"tiers.{i}.approvers", "Input should be greater than or equal to 1"))
    elif approvers > 20:
        errors.append((f"tiers.{i}.approvers", "Input should be less than or equal to 20"))
    roles = doc.get("roles", ())
    if not isinstance(roles, _SEQUENCES):
        errors.append((f"tiers.{i}.roles", "Input should be a valid tuple"))
    else:
        errors += [(f"tiers.{i}.roles.{j}", "Input should be a valid string") for j, r in enumerate(roles)
                   if not isinstance(r, str)]
    errors += [(f"tiers.{i}.{k}", "Extra inputs are not permitted") for k in doc
               if k not in ("below_usd", "approvers", "roles")]
    return Tier(below, approvers, tuple(roles)) if len(errors) == before else None


def _policy(data: dict, source: str) -> ApprovalPolicy:
    """``data`` checked key by key; ``ConfigError`` naming ``source`` and every key that is wrong."""
    if "source" in data:
        raise ConfigError(f"{source}: recover.authority.policy.ApprovalPolicy() got multiple values for keyword argument "
                          "'source'")
    errors: list[tuple[str, str]] = []
    tiers = data.get("tiers")
    if "tiers" not in data:
        errors.append(("tiers", "Field required"))
    elif not isinstance(tiers, _SEQUENCES):
        errors.append(("tiers", "Input should be a valid tuple"))
    else:
        valid = [t for t in (_tier_errors(i, doc, errors) for i, doc in enumerate(tiers)) if t is not None]
        if not valid:
            errors.append(("tiers", "Tuple should have at least 1 item after validation, not 0"))
    errors += [(k, "Extra inputs are not permitted") for k in data if k != "tiers"]
    if errors:
        raise ConfigError(f"{source}: " + "; ".join(f"key '{k}': {m}" for k, m in errors))
    return ApprovalPolicy(tuple(valid), source)


BUNDLED = "chain_configs/policies/approvals.toml"


def parse_policy(text: str, source: str) -> ApprovalPolicy:
    """An approval policy from TOML text (exit 4 naming ``source`` and the key when it is not one)."""
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{source}: not valid TOML: {exc}") from None
    return policy_from_dict(data, source)


def policy_from_dict(data: dict, source: str) -> ApprovalPolicy:
    policy = _policy(data, source)
    bounded = [t.below_usd for t in policy.tiers if t.below_usd is not None]
    if len(bounded) != len(set(bounded)) or sum(t.below_usd is None for t in policy.tiers) > 1:
        raise ConfigError(f"{source}: tiers overlap (two with the same below_usd, or two top tiers)")
    return policy


def policy_doc(policy: ApprovalPolicy) -> dict:
    """The policy as the JSON an admin statement signs (USD bounds as text)."""
    return {"tiers": [{"below_usd": None if t.below_usd is None else format(t.below_usd, "f"),
                       "approvers": t.approvers, "roles": list(t.roles)} for t in policy.tiers]}


def bundled_policy() -> ApprovalPolicy:
    """The policy shipped with the code: in force until an admin quorum signs another."""
    res = resources.files("chains.configs") / "policies" / "approvals.toml"
    return parse_policy(res.read_text(encoding="utf-8"), BUNDLED)


def load_policy() -> ApprovalPolicy:
    """The bundled policy (no file or variable of a machine can lower it: see :func:`policy_in_force`)."""
    return bundled_policy()


def policy_in_force(verifier) -> ApprovalPolicy:
    """The policy of the admin statement with the highest admin number (the log's ``admin_seq``, signed
    by the admins), never the newest row; the bundled one only while no policy was ever set.  When that
    newest statement does not check out, or its policy does not parse, nothing falls back to an older
    policy: the decision is refused (exit 7, ``policy_invalid``)."""
    from recover.errors import PolicyRefused
    from recover.authority.statement_checks import POLICY_SUBJECT

    newest = verifier.store.newest_policy()
    if newest is None:
        return bundled_policy()
    signed, why = verifier.check(newest)
    if signed is None or newest.subject != POLICY_SUBJECT:
        raise PolicyRefused(f"the newest approval policy (statement {newest.hash[:16]}…) does not check out"
                            f"{': ' + why if why else ''}; no older policy is used instead", code="policy_invalid")
    try:
        return policy_from_dict(signed.body.get("policy") or {}, f"policy statement {signed.hash[:16]}…")
    except ConfigError as exc:
        raise PolicyRefused(f"the newest approval policy does not parse ({exc}); no older policy is used instead",
                            code="policy_invalid") from None


def put_in_force(session, policy: ApprovalPolicy, *, root, admin_keys: list) -> dict:
    """``policy set``: the policy as a statement signed by an admin quorum (the newest by the admins'
    numbering is in force), audited.  Returns ``{"statement", **policy_doc(policy)}``."""
    from recover.storage.audit import append_event
    from recover.authority.admin_statements import admin_attest, admin_names
    from recover.authority.acting import POLICY_SUBJECT

    record, signers = admin_attest(session, root, "policy", POLICY_SUBJECT, {"policy": policy_doc(policy)},
                                   admin_keys)
    append_event(session, actor=admin_names(root, signers), action="policy_set",
                 details={"statement": record.hash, **policy_doc(policy)})
    return {"statement": record.hash, **policy_doc(policy)}


def policy_shown(verifier) -> dict:
    """What ``policy show`` prints: the policy in force, where it comes from and the statement that
    set it (``verifier``: a :class:`recover.authority.statement_checks.StatementChecker`, over the session or
    plain rows)."""
    from recover.authority.statement_checks import POLICY_SUBJECT

    policy = policy_in_force(verifier)
    good, _ = verifier.statements(POLICY_SUBJECT, ("policy",))
    newest = max(good, key=lambda g: g.body.get("log", {}).get("admin_seq", 0), default=None)
    return {"source": policy.source, "statement": newest.hash if newest and policy.source.startswith("policy ")
            else None, **policy_doc(policy)}
