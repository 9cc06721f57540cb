"""Issue 13, item 2: `broadcast` does not block on a prerequisite; it exits 9 ("waiting") after sending
what it could, and a later run sends the rest (anvil, through the installed CLI)."""

from __future__ import annotations

from evmflow import _override_config, approve, balances, cli, token_case, world  # noqa: F401


def test_broadcast_sends_the_top_up_then_waits_with_exit_9(world):
    w = world
    env = _override_config(w, confirmations=3)  # the top-up needs 3 confirmations before the sweep goes
    cid, token, deposit = token_case(w, env=env, confirm_blocks=2)
    approve(w, cid, "bob", "carol", env=env)
    cli(w, "case", "sign", str(cid), env=env)
    err = cli(w, "case", "broadcast", str(cid), env=env, expect=9)
    assert err["code"] == "prerequisite_unconfirmed" and "1 of 3" in err["message"]
    shown = cli(w, "case", "show", str(cid), env=env)
    assert shown["status"] == "signed"
    assert [t["status"] for t in shown["transactions"]] == ["sent", "signed", "signed"]
    assert balances(w, token, deposit) == [2_500 * 10**6]  # the sweep itself was not sent
    again = cli(w, "case", "broadcast", str(cid), env=env, expect=9)  # still waiting: nothing sent twice
    assert again["code"] == "prerequisite_unconfirmed"
    actions = [e["action"] for e in cli(w, "case", "show", str(cid), env=env)["audit"]]
    assert actions.count("tx_sent") == 1
    w.a.mine(2)
    done = cli(w, "case", "broadcast", str(cid), env=env)
    assert done["status"] == "broadcast" and len(done["sent"]) == 3  # the top-up again (idempotent), then both
    actions = [e["action"] for e in cli(w, "case", "show", str(cid), env=env)["audit"]]
    assert actions.count("tx_sent") == 3
    assert balances(w, token, deposit) == [0]
