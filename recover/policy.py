"""The approval policy: value tiers in USD -> distinct approvers and roles required.

Pure once loaded: ``tier_for(value_usd)`` picks the tier; unpriced recoveries take the top tier.
"""

from __future__ import annotations

import os
import tomllib
from decimal import Decimal, InvalidOperation
from importlib import resources
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from recover.errors import ConfigError


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
        return f"{self.approvers} approver(s){roles} ({bound})"


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


def _policy_path() -> tuple[str, str]:
    explicit = os.environ.get("RECOVER_APPROVAL_POLICY")
    if explicit:
        p = Path(explicit)
        try:
            return str(p), p.read_text(encoding="utf-8")
        except OSError as exc:
            raise ConfigError(f"RECOVER_APPROVAL_POLICY {p}: cannot read ({exc.strerror})") from None
    override = os.environ.get("RECOVER_CONFIG_DIR")
    if override and (Path(override) / "policies" / "approvals.toml").is_file():
        p = Path(override) / "policies" / "approvals.toml"
        return str(p), p.read_text(encoding="utf-8")
    res = resources.files("chains.configs") / "policies" / "approvals.toml"
    return "chain_configs/policies/approvals.toml", res.read_text(encoding="utf-8")


def load_policy() -> ApprovalPolicy:
    source, text = _policy_path()
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{source}: not valid TOML: {exc}") from None
    try:
        policy = ApprovalPolicy(**data, source=source)
    except ValidationError as exc:
        msgs = "; ".join(f"key '{'.'.join(map(str, e['loc']))}': {e['msg']}" for e in exc.errors())
        raise ConfigError(f"{source}: {msgs}") from None
    bounded = [t.below_usd for t in policy.tiers if t.below_usd is not None]
    if len(bounded) != len(set(bounded)) or sum(t.below_usd is None for t in policy.tiers) > 1:
        raise ConfigError(f"{source}: tiers overlap (two with the same below_usd, or two top tiers)")
    return policy
