"""`recover demo` runs the main job end to end on the in-process chain, honestly."""

import json
import os
import subprocess

from clihelp import RECOVER, run
from paths import REPO


def test_demo_completes_with_exact_balances():
    r = run("demo", "--json", timeout=120)
    assert r.code == 0, r.err
    doc = r.json
    assert doc["status"] == "completed"
    quote = doc["quote"]
    balances = {k: int(v) for k, v in doc["demo_balances"].items()}
    assert balances["user (return address)"] == int(quote["net"])
    assert balances["fee collector"] == int(quote["fee"]) + int(quote["network_cost_in_asset"])
    assert balances["deposit address"] == 0
    # the 2,500 UDT the demo deposits, all accounted for on chain (an amount the quote did not compute)
    assert int(quote["gross"]) == sum(balances.values()) == 2_500 * 10**6
    assert [t["status"] for t in doc["transactions"]] == ["confirmed"] * 3
    said = " ".join(r.err.split())
    assert "13. track: case 1 is completed" in said
    # the trust set-up and the refused self-approval happen before the real approvals
    assert "3. trust: a trust root with 2 admins (quorum 2)" in said
    assert "9. self-approval refused (self_approval): sam (person sam) prepared case 1" in said
    assert said.index("9. self-approval refused") < said.index("10. approvals: ana, ben")
    assert [a["approver"] for a in doc["approvals"]["so_far"]] == ["ana", "ben"]
    assert doc["approvals"]["satisfied"] is True


def test_demo_token_is_the_compiled_artifact():
    shipped = json.loads((REPO / "recover" / "data" / "StandardToken.json").read_text())
    built = json.loads((REPO / "tests" / "support" / "contracts" / "artifacts" / "StandardToken.json").read_text())
    assert shipped == built


def test_memo_demo_credits_one_case_and_refunds_the_other_to_the_base_unit():
    r = run("demo", "--memo", "--json", timeout=240)
    assert r.code == 0, r.err
    doc = r.json
    credit, refund = doc["credit"], doc["refund"]
    assert (credit["classification"], refund["classification"]) == ("missing_memo", "unknown_memo")
    assert (credit["status"], refund["status"]) == ("completed", "completed")
    # the credit: no transaction, the sender's proof recorded, one CSV row of the quote's net, nothing moved
    assert credit["plan"]["plan"]["steps"] == [] and not credit["transactions"]
    assert [c["condition"] for c in credit["conditions"]["recorded"]] == ["ownership_proof"]
    row = doc["credit_export"]
    assert (row["case_id"], row["account"], row["amount"], row["txids"]) == \
        (str(credit["id"]), "acct-100001", credit["quote"]["net"], "")
    assert int(credit["quote"]["net"]) + int(credit["quote"]["fee"]) == int(credit["quote"]["gross"])
    balances = {case: {k: int(v) for k, v in deltas.items()} for case, deltas in doc["demo_balances"].items()}
    assert balances["credit"] == {"shared_wallet": 0}
    # the refund: the user got the plan's net, the shared wallet paid it and the network fee the plan quoted
    plan = refund["plan"]["plan"]
    refund_net, network_fee = int(plan["net"]), int(plan["native_cost"])
    assert refund_net == int(refund["quote"]["gross"]) - int(refund["quote"]["fee"]) > 0
    assert balances["refund"] == {"shared_wallet": -(refund_net + network_fee), "user": refund_net,
                                  "network_fee": network_fee}
    assert plan["meta"]["memo"] == doc["refund_memo_on_chain"] == "note-42"
    assert [t["status"] for t in refund["transactions"]] == ["confirmed"]
    said = " ".join(r.err.split())
    assert "12. sign: case 1 is completed, 0 transactions signed" in said
    assert "20. sign, broadcast, track: case 2 is completed" in said


def test_memo_demo_without_injective_core_says_how_to_get_it(tmp_path):
    """A machine without the PyPI package (here: hidden by a package of that name that will not import)."""
    stub = tmp_path / "injective_core"
    stub.mkdir()
    (stub / "__init__.py").write_text('raise ImportError("hidden by the test")\n')
    env = {**os.environ, "PYTHONPATH": str(tmp_path)}
    proc = subprocess.run([RECOVER, "demo", "--memo", "--json"], capture_output=True, text=True, env=env, timeout=60)
    assert proc.returncode == 4, proc.stderr
    error = json.loads(proc.stderr.strip().splitlines()[-1])["error"]
    assert error["code"] == "devnet_unavailable" and "pip install injective-core" in error["message"]
    assert proc.stdout == ""
