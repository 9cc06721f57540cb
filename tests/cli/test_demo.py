"""`recover demo` runs the main job end to end on the in-process chain, honestly."""

import json

from clihelp import run
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
