"""The approval policy: value tiers in USD -> distinct approvers and roles required.

Pure once loaded: ``tier_for(value_usd)`` picks the tier; unpriced recoveries take the top tier.
"""

from __future__ import annotations

import tomllib
from decimal import Decimal, InvalidOperation
from importlib import resources

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from recover.errors import ConfigError
from recover.text import plural


class Tier(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    below_usd: Decimal | None = None
    approvers: int = Field(ge=1, le=20, strict=True)  # `approvers = true` is refused, not read as 1
    roles: tuple[str, ...] = ()

    @field_validator("below_usd", mode="before")
    @classmethod
    def _text(cls, v):
        if v is None:
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

    def describe(self) -> str:
        roles = f" incl. {', '.join(self.roles)}" if self.roles else ""
        bound = f"below {self.below_usd} USD" if self.below_usd is not None else "top tier"
        return f"{plural(self.approvers, 'approver')}{roles} ({bound})"


class ApprovalPolicy(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    tiers: tuple[Tier, ...] = Field(min_length=1)
    source: str = Field(default="", exclude=True)

    def tier_for(self, value_usd: Decimal | None) -> Tier:
        ordered = sorted((t for t in self.tiers if t.below_usd is not None), key=lambda t: t.below_usd)
        top = next((t for t in self.tiers if t.below_usd is None), None) or max(self.tiers, key=lambda t: t.approvers)
        if value_usd is None:
            return top
        for t in ordered:
            if value_usd < t.below_usd:
                return t
        return top


BUNDLED = "chain_configs/policies/approvals.toml"


def parse_policy(text: str, source: str) -> ApprovalPolicy:
    """An approval policy from TOML text (exit 4 naming ``source`` and the key when it is not one)."""
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{source}: not valid TOML: {exc}") from None
    return policy_from_dict(data, source)


def policy_from_dict(data: dict, source: str) -> ApprovalPolicy:
    try:
        policy = ApprovalPolicy(**data, source=source)
    except (ValidationError, TypeError) as exc:
        msgs = ("; ".join(f"key '{'.'.join(map(str, e['loc']))}': {e['msg']}" for e in exc.errors())
                if isinstance(exc, ValidationError) else str(exc))
        raise ConfigError(f"{source}: {msgs}") from None
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
    from sqlmodel import select

    from recover.authority import POLICY_SUBJECT
    from recover.errors import PolicyRefused
    from recover.models import StatementRecord

    session = verifier.session
    newest = session.exec(select(StatementRecord).where(StatementRecord.kind == "policy")
                          .order_by(StatementRecord.admin_seq.desc(), StatementRecord.seq.desc()).limit(1)).first()
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
    from recover.audit import append_event
    from recover.authority import POLICY_SUBJECT, admin_attest, admin_names

    record, signers = admin_attest(session, root, "policy", POLICY_SUBJECT, {"policy": policy_doc(policy)},
                                   admin_keys)
    append_event(session, actor=admin_names(root, signers), action="policy_set",
                 details={"statement": record.hash, **policy_doc(policy)})
    return {"statement": record.hash, **policy_doc(policy)}
