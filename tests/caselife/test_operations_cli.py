"""Issue 22, items 2 and 3, through the installed CLI on anvil (SQLite and PostgreSQL).

Every way out of the case life before signing is taken by an operation of the table (``case close``:
a reviewer before approval, an admin quorum after it): one case brought to each status, closed, and
the move audited from that status.  Each close runs through the one runner (the case's row locked,
its status checked against the table), and a move the closing operation does not list is refused.
"""

from __future__ import annotations

import pytest

from clihelp import snapshot
from evm_devnet import deploy, fund_token, token_transfer
from evmflow import cli, derive, key, register, world_both  # noqa: F401
from team import team

STAGES = ("open", "verified", "quoted", "awaiting_approval", "approved", "signed")


def _case_at(w, stage: str, index: int) -> int:
    """An unlisted-token deposit of 2,500 UNL, its case brought to ``stage`` through the CLI."""
    deposit = derive(index)
    register(w, [("anvil", deposit, f"m/44'/60'/0'/0/{index}", "active")])
    token = deploy(w.a.w3, "StandardToken", "Unlisted", "UNL", 6)
    fund_token(w.a.w3, token, w.user, 10**12)
    tx = token_transfer(w.a.w3, token, w.user, deposit, 2_500 * 10**6)["transactionHash"].to_0x_hex()
    cid = cli(w, "case", "open", "--network", "anvil", "--tx", tx, "--return-address", w.ret)["id"]
    steps = [("case", "verify", str(cid)), ("prices", "set", f"anvil:{token.address}", "1"), ("prices", "set", "ETH", "3000"),
             ("case", "quote", str(cid)), ("case", "prepare", str(cid)),
             ("queue", "approve", str(cid), "--key", key("bob")), ("queue", "approve", str(cid), "--key", key("carol")),
             ("case", "sign", str(cid))]
    upto = {"open": 0, "verified": 1, "quoted": 4, "awaiting_approval": 5, "approved": 7, "signed": 8}[stage]
    for args in steps[:upto]:
        cli(w, *args)
    assert cli(w, "case", "show", str(cid))["status"] == stage
    return cid


@pytest.mark.parametrize("stage", STAGES)
def test_close_takes_the_way_out_of_every_status_before_signing(world_both, stage):
    w = world_both
    index = 60 + STAGES.index(stage)
    cid = _case_at(w, stage, index)
    end = "rejected" if STAGES.index(stage) % 2 == 0 else "unrecoverable"
    after_approval = stage in ("approved", "signed")
    if after_approval:  # the reviewer's close does not list this move: refused, nothing written
        before = snapshot(w.db)
        err = cli(w, "case", "close", str(cid), "--as", end, "--reason", "stuck", "--key", key("rita"), expect=7)
        assert err["code"] == "admin_quorum_required"
        assert snapshot(w.db) == before
    who = [*team().admin_args] if after_approval else ["--key", key("rita")]
    doc = cli(w, "case", "close", str(cid), "--as", end, "--reason", "stuck for good", *who)
    assert doc["status"] == end and doc["refusal"]["code"] == "closed"
    closed = [e for e in doc["audit"] if e["action"] == "closed"]
    assert [(e["from"], e["to"]) for e in closed] == [(stage, end)]
    # an end: nothing moves it but a reopen, and closing again is refused by the table's status check
    assert cli(w, "case", "close", str(cid), "--as", end, "--reason", "again", *who, expect=5)["code"] == "not_closable"
    assert cli(w, "audit", "verify")["ok"]
