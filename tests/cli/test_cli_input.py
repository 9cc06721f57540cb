"""Bad input through the installed CLI: a clear error and a documented exit code, never exit 1, and
the database left as it was (issue 11, item 12)."""

from __future__ import annotations

import pytest

from clihelp import run, snapshot
from team import DEFAULT_FOR, team

TX = "0x" + "2e" * 32
RET = "0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAed"
DEP = "0xfB6916095ca1df60bB79Ce92cE3Ea74c37c5d359"


@pytest.fixture
def cli_db(db_url, tmp_path):
    csv = tmp_path / "addrs.csv"
    csv.write_text(f"network,address,derivation_path,account\nethereum,{DEP},m/44'/60'/0'/0/7,user-7\n")
    assert run("addresses", "import", str(csv), db=db_url).code == 0
    return db_url


@pytest.mark.parametrize("command,case_id", [(["case", "show"], str(2**63)), (["case", "verify"], str(10**30)),
                                             (["case", "broadcast"], "0"), (["case", "track"], "-3")])
def test_case_ids_out_of_range_are_not_found(cli_db, command, case_id):
    before = snapshot(cli_db)
    # the operator's key is named before "--" (after it, it would be an argument); verify is spec's
    key = ["--key", team().key(DEFAULT_FOR[tuple(command)])] if tuple(command) in DEFAULT_FOR else []
    r = run(*command, "--json", *key, "--", case_id, db=cli_db)
    assert r.code == 3, (r.code, r.err)
    assert r.error["code"] == "case_not_found"
    assert snapshot(cli_db) == before


def test_out_into_a_missing_folder_is_invalid_input(cli_db, tmp_path):
    before = snapshot(cli_db)
    r = run("credits", "export", "--out", str(tmp_path / "no" / "such" / "credits.csv"), "--json", db=cli_db)
    assert r.code == 4 and r.error["code"] == "bad_file" and "does not exist" in r.error["message"]
    assert snapshot(cli_db) == before
    assert not (tmp_path / "no").exists()


def test_markup_in_claimant_is_printed_literally(cli_db):
    claimant = "[/bold]evil [red]user[/red]"
    opened = run("case", "open", "--network", "ethereum", "--tx", TX, "--deposit-address", DEP,
                 "--return-address", RET, "--claimant", claimant, "--json", db=cli_db)
    assert opened.code == 0, opened.err
    shown = run("case", "show", str(opened.json["id"]), db=cli_db)
    assert shown.code == 0, shown.err
    assert claimant in shown.out


def _case_in(db_url, path: list[str], with_fact: bool) -> int:
    """A case moved along ``path`` with the real transition function (no chain needed), with the
    specialist's signed claim (and verification of its fact) that a reopen re-attests."""
    from recover.authority.acting import acting, case_subject
    from recover.authority.signed_case import claim_body, facts_body
    from recover.casework.transitions import move
    from recover.storage.db import session_scope
    from recover.storage.models import Case, DepositFact
    from team import team

    with session_scope(db_url) as s:
        spec = acting(s, team().key("spec"), ("specialist",), doing="open cases")
        case = Case(network="ethereum", chain="eip155:1", txid="0x" + "3c" * 32, claim_scope="*|*", status="open",
                    opened_by=spec.name, return_address=RET)
        s.add(case)
        s.flush()
        claim = spec.attest(s, "claim", case_subject(case.id), claim_body(case)).hash
        if with_fact:
            fact = DepositFact(case_id=case.id, network="ethereum", chain="eip155:1", txid=case.txid, deposit_index=0,
                               sender=RET, receiving_address=DEP, asset="native", decimals=18, amount=10**18,
                               classification="retired_address")
            s.add(fact)
            s.flush()
            spec.attest(s, "verification", case_subject(case.id),
                        {"case": case.id, "claim": claim, "facts": facts_body([fact]), "flags": []})
        for status in path:
            move(s, case, status, actor="tester", action=f"to_{status}")
        return case.id


@pytest.mark.parametrize("path,with_fact,expected", [
    (["verified", "rejected"], True, "verified"),
    (["unrecoverable"], False, "open"),
])
def test_reopen_a_rejected_or_unrecoverable_case(cli_db, path, with_fact, expected):
    cid = _case_in(cli_db, path, with_fact)
    before = snapshot(cli_db)
    no_reason = run("case", "reopen", str(cid), "--reason", "  ", "--json", db=cli_db)
    assert no_reason.code == 4 and no_reason.error["code"] == "reason_required"
    assert snapshot(cli_db) == before
    r = run("case", "reopen", str(cid), "--reason", "the address was imported late", "--json", db=cli_db)
    assert r.code == 0, r.err
    assert r.json["status"] == expected and r.json["refusal"] is None
    event = r.json["audit"][-1]
    assert event["action"] == "reopened" and event["from"] == path[-1] and event["to"] == expected
    assert event["details"]["reason"] == "the address was imported late"


def test_a_completed_or_open_case_cannot_be_reopened(cli_db):
    cid = _case_in(cli_db, [], False)
    before = snapshot(cli_db)
    r = run("case", "reopen", str(cid), "--reason", "why not", "--json", db=cli_db)
    assert r.code == 5 and r.error["code"] == "not_reopenable"
    assert snapshot(cli_db) == before


def test_verify_all_with_the_node_down_exits_8_and_leaves_cases_open(cli_db, tmp_path):
    csv = tmp_path / "anvil.csv"
    csv.write_text(f"network,address,derivation_path,account\nanvil,{DEP},m/44'/60'/0'/0/7,user-7\n")
    assert run("addresses", "import", str(csv), db=cli_db).code == 0
    env = {"ANVIL_URL": "http://127.0.0.1:9"}  # nothing listens there
    opened = run("case", "open", "--network", "anvil", "--tx", TX, "--return-address", RET, "--json", db=cli_db,
                 env=env)
    assert opened.code == 0, opened.err
    before = snapshot(cli_db)
    r = run("case", "verify", "--all", "--json", db=cli_db, env=env)
    assert r.code == 8, (r.code, r.err)
    assert r.json["verified"] == 0 and r.json["cases"][0]["code"] == "node_unreachable"
    assert "127.0.0.1:9" in r.json["cases"][0]["message"]
    after = snapshot(cli_db)
    assert after["cases"] == before["cases"]  # still open, nothing recorded as a refusal


def test_usage_errors_and_version(cli_db):
    before = snapshot(cli_db)
    neither = run("case", "verify", "--json", db=cli_db)
    assert neither.code == 2 and neither.error["code"] == "usage" and "--all" in neither.error["message"]
    both = run("case", "verify", "1", "--all", "--json", db=cli_db)
    assert both.code == 2 and both.error["code"] == "usage"
    no_dest = run("case", "open", "--network", "ethereum", "--tx", TX, "--json", db=cli_db)
    assert no_dest.code == 2 and "--return-address" in no_dest.error["message"]
    assert snapshot(cli_db) == before
    version = run("--version")
    assert version.code == 0 and version.out.strip() == "recover 0.1.0"


def test_addresses_and_prices_are_listed(cli_db):
    r = run("addresses", "list", "--json", db=cli_db)
    assert r.code == 0 and r.json == [{"network": "ethereum", "address": DEP, "derivation_path": "m/44'/60'/0'/0/7",
                                       "account": "user-7", "status": "active"}]
    assert run("addresses", "list", "--network", "bitcoin", "--json", db=cli_db).json == []
    assert run("addresses", "list", "--network", "nope", "--json", db=cli_db).code == 4
    pete = team().key("pete")  # the pricer
    assert run("prices", "set", "ETH", "3000.5", "--at", "2026-11-01T00:00:00Z", "--key", pete, db=cli_db).code == 0
    assert run("prices", "set", "ETH", "3100", "--key", pete, db=cli_db).code == 0
    prices = run("prices", "list", "--json", db=cli_db).json
    assert [(p["asset"], p["usd"], p["set_by"]) for p in prices] == [("ETH", "3100", "pete"), ("ETH", "3000.5", "pete")]
    table = run("prices", "list", db=cli_db)
    assert "2 prices" in table.out and "3000.5" in table.out


def test_read_only_commands_never_create_an_empty_database(tmp_path):
    db = tmp_path / "none.db"
    for args in (["case", "list"], ["case", "show", "1"], ["queue", "list"], ["audit", "verify"],
                 ["addresses", "list"]):
        r = run(*args, "--json", db=f"sqlite:///{db}")
        assert r.code == 3 and r.error["code"] == "db_not_initialised", (args, r.err)
        assert "recover init" in r.error["message"]
    assert not db.exists()
    assert run("init", db=f"sqlite:///{db}").code == 0 and db.exists()


def test_an_unreachable_postgresql_is_exit_8_in_one_line():
    url = "postgresql://recover:s3cret-pw@127.0.0.1:9/cases"  # nothing listens on port 9
    for args in (["case", "list"], ["init"]):
        r = run(*args, "--json", db=url)
        assert r.code == 8, (args, r.code, r.err)
        assert r.error["code"] == "database_unreachable" and "127.0.0.1:9" in r.error["message"]
        assert "s3cret-pw" not in r.err and "Traceback" not in r.err and len(r.err.strip().splitlines()) == 1
