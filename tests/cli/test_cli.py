"""The CLI contract through the installed ``recover`` command: JSON on stdout, JSON errors on stderr,
DESIGN.md's exit codes, and a database left unchanged by every refusal."""

from __future__ import annotations

import pytest

from clihelp import run, snapshot
from team import team

TX = "0x" + "1f" * 32
RET = "0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAed"
DEP = "0xfB6916095ca1df60bB79Ce92cE3Ea74c37c5d359"
LTC_TX = "ab" * 32


@pytest.fixture
def cli_db(db_url, tmp_path):
    csv = tmp_path / "addrs.csv"
    csv.write_text("network,address,derivation_path,account,status\n"
                   f"ethereum,{DEP},m/44'/60'/0'/0/7,user-7,active\n"
                   "ethereum,0xdbF03B407c01E7cD3CBea99509d93f8DDDC8C6FB,m/44'/60'/0'/0/8,user-8,retired\n")
    r = run("addresses", "import", str(csv), "--json", db=db_url)
    assert r.code == 0, r.err
    assert r.json == {"added": 2, "updated": 0, "unchanged": 0}
    return db_url


def test_open_show_list_json(cli_db):
    r = run("case", "open", "--network", "ethereum", "--tx", TX, "--deposit-address", DEP,
            "--return-address", RET, "--claimant", "ticket-42", "--key", team().key("alice"), "--json", db=cli_db)
    assert r.code == 0, r.err
    doc = r.json
    assert doc["status"] == "open" and doc["txid"] == TX and doc["destination"] == {"return_address": RET}
    assert doc["audit"][0]["actor"] == "alice" and doc["audit"][0]["action"] == "case_opened"
    assert doc["opened_by"] == "alice"
    show = run("case", "show", str(doc["id"]), "--json", db=cli_db)
    assert show.code == 0 and show.json["id"] == doc["id"] and show.json["facts"] is None
    lst = run("case", "list", "--status", "open", "--json", db=cli_db)
    assert [c["id"] for c in lst.json] == [doc["id"]]
    assert run("case", "list", "--status", "completed", "--json", db=cli_db).json == []
    human = run("case", "show", str(doc["id"]), db=cli_db)
    assert human.code == 0 and TX[:40] in human.out and "case_opened" in human.out


BAD = [
    ("unknown network", ["--network", "nope", "--tx", TX, "--return-address", RET], 4, "unknown_network"),
    ("malformed txid", ["--network", "ethereum", "--tx", "0x1234", "--return-address", RET], 4, "invalid_txid"),
    ("utxo txid on evm", ["--network", "ethereum", "--tx", LTC_TX, "--return-address", RET], 4, "invalid_txid"),
    ("bad checksum", ["--network", "ethereum", "--tx", TX, "--return-address", RET.replace("5aAeb", "5aaeb")], 4, "invalid_address"),
    ("no checksum", ["--network", "ethereum", "--tx", TX, "--return-address", RET.lower()], 4, "invalid_address"),
    ("both destinations", ["--network", "ethereum", "--tx", TX, "--return-address", RET, "--credit-account", "u1"], 2,
     "usage"),
    ("no destination", ["--network", "ethereum", "--tx", TX], 2, "usage"),
    ("return to ourselves", ["--network", "ethereum", "--tx", TX, "--return-address", DEP], 7, "destination_ours"),
    ("return to the zero address", ["--network", "ethereum", "--tx", TX, "--return-address",
                                    "0x0000000000000000000000000000000000000000"], 7, "destination_burn"),
    ("return to a precompile", ["--network", "ethereum", "--tx", TX, "--return-address",
                                "0x0000000000000000000000000000000000000004"], 7, "destination_burn"),
    ("return to the token itself", ["--network", "ethereum", "--tx", TX, "--return-address", RET, "--asset", RET], 7,
     "destination_token_contract"),
    ("bad deposit address", ["--network", "ethereum", "--tx", TX, "--return-address", RET,
                             "--deposit-address", "0x123"], 4, "invalid_address"),
    ("btc address on litecoin", ["--network", "litecoin", "--tx", LTC_TX,
                                 "--return-address", "1BoatSLRHtKNngkdXEeobR76b53LETtpyT"], 4, "invalid_address"),
    ("bad base58 checksum", ["--network", "bitcoin", "--tx", LTC_TX,
                             "--return-address", "1BoatSLRHtKNngkdXEeobR76b53LETtpyU"], 4, "invalid_address"),
    ("bad solana address", ["--network", "solana", "--tx", "5" * 88, "--return-address", "0OIl"], 4, None),
    ("missing option", ["--tx", TX, "--return-address", RET], 2, "usage"),
]


@pytest.mark.parametrize("label,args,code,err_code", BAD, ids=[b[0] for b in BAD])
def test_bad_input_exit_codes_and_nothing_changes(cli_db, label, args, code, err_code):
    before = snapshot(cli_db)
    r = run("case", "open", *args, "--json", db=cli_db)
    assert r.code == code, (r.code, r.out, r.err)
    assert r.out == ""
    if err_code:
        assert r.error["code"] == err_code, r.err
    assert r.error["message"]
    assert snapshot(cli_db) == before


def test_duplicate_deposit_refused_naming_case(cli_db):
    first = run("case", "open", "--network", "ethereum", "--tx", TX, "--credit-account", "acct-1", "--json", db=cli_db)
    assert first.code == 0, first.err
    before = snapshot(cli_db)
    again = run("case", "open", "--network", "ethereum", "--tx", TX.upper().replace("0X", "0x"),
                "--return-address", RET, "--json", db=cli_db)
    assert again.code == 5
    assert again.error["code"] == "duplicate" and f"case {first.json['id']}" in again.error["message"]
    assert snapshot(cli_db) == before
    human = run("case", "open", "--network", "ethereum", "--tx", TX, "--return-address", RET, db=cli_db)
    assert human.code == 5 and "already claimed by case" in human.err and human.out == ""


def test_not_found_and_uninitialised(cli_db, tmp_path):
    r = run("case", "show", "999", "--json", db=cli_db)
    assert r.code == 3 and r.error["code"] == "case_not_found"
    fresh = f"sqlite:///{tmp_path / 'never-initialised.db'}"
    r = run("case", "list", "--json", db=fresh)
    assert r.code == 3 and "recover init" in r.error["message"]
    r = run("case", "list", "--status", "bogus", "--json", db=cli_db)
    assert r.code == 4


def test_address_import_is_all_or_nothing(cli_db, tmp_path):
    before = snapshot(cli_db)
    bad = tmp_path / "bad.csv"
    bad.write_text("network,address,derivation_path,account\n"
                   "ethereum,0x6813Eb9362372EEF6200f3b1dbC3f819671cBA69,m/44'/60'/0'/0/9,u9\n"
                   "ethereum,0x6813eb9362372eef6200f3b1dbc3f819671cba6X,m/44'/60'/0'/0/10,u10\n")
    r = run("addresses", "import", str(bad), "--json", db=cli_db)
    assert r.code == 4 and "bad.csv:3" in r.error["message"]
    assert snapshot(cli_db) == before
    changed_path = tmp_path / "conflict.csv"
    changed_path.write_text(f"network,address,derivation_path,account\nethereum,{DEP},m/44'/60'/0'/0/99,user-7\n")
    r = run("addresses", "import", str(changed_path), "--json", db=cli_db)
    assert r.code == 4 and r.error["code"] == "address_conflict"
    assert snapshot(cli_db) == before
    retire = tmp_path / "retire.csv"
    retire.write_text(f"network,address,derivation_path,account,status\nethereum,{DEP},m/44'/60'/0'/0/7,user-7,retired\n")
    # deposit addresses are registered only strictly below the network's deposit_path_prefix, never at
    # the gas station's path (chain_configs/ethereum.toml), and only by an admin quorum
    for path in ("m/44'/60'/1'/0/0", "m/44'/60'/0'/1/9", "m/44'/60'/0'/0", "m/44'/60'/0'/00/9", "m/44'/60'/0'/0'/9",
                 "m/44'/60'/1'/0/9"):
        outside = tmp_path / "outside.csv"
        outside.write_text(f"network,address,derivation_path,account\n"
                           f"ethereum,0x6813Eb9362372EEF6200f3b1dbC3f819671cBA69,{path},u9\n")
        r = run("addresses", "import", str(outside), "--json", db=cli_db)
        assert r.code == 4 and r.error["code"] == "path_outside_deposit_prefix", (path, r.err)
        assert "outside.csv:2" in r.error["message"] and "m/44'/60'/0'/0" in r.error["message"]
    ok = tmp_path / "ok.csv"
    ok.write_text("network,address,derivation_path,account\n"
                  "ethereum,0x6813Eb9362372EEF6200f3b1dbC3f819671cBA69,m/44'/60'/0'/0/9,u9\n")
    one = run("addresses", "import", str(ok), "--admin-key", str(team().admin_paths[0]), "--json", db=cli_db)
    assert one.code == 7 and one.error["code"] == "admin_quorum_missing"
    nobody = run("addresses", "import", str(ok), "--json", db=cli_db, default_keys=False)
    assert nobody.code == 2 and "--admin-key" in nobody.error["message"]
    assert snapshot(cli_db) == before
    r = run("addresses", "import", str(retire), "--json", db=cli_db)
    assert r.code == 0 and r.json == {"added": 0, "updated": 1, "unchanged": 0}


def test_init_twice_and_networks_json(tmp_path):
    url = f"sqlite:///{tmp_path / 'x.db'}"
    a = run("init", "--json", db=url)
    b = run("init", "--json", db=url)
    assert a.code == b.code == 0 and a.json == b.json
    nets = run("networks", "--json").json
    real = [n for n in nets if not n["devnet"]]
    assert sum(n["recovery_class"] == "direct" for n in real) >= 16
    assert sum(n["recovery_class"] == "conditional" for n in real) >= 16
    only = run("networks", "--class", "conditional", "--json").json
    assert only and all(n["recovery_class"] == "conditional" and n["conditions"] for n in only)
    assert run("networks", "--class", "weird", "--json").code == 4


def test_audit_verify_cli(cli_db):
    r = run("audit", "verify", "--json", db=cli_db)
    # the test team's enrollments (one event each) and the address import
    assert r.code == 0 and r.json["ok"] and r.json["events"] == len(team().keys) + 1, r.out
    assert r.json["problems"] == [] and r.json["first_bad_seq"] is None


def test_case_show_lists_approval_rows_but_counts_only_signed_decisions(cli_db):
    """``case show`` (JSON and text) shows each approvals row with its operator and person; a row
    written in the database without a signed decision statement is shown, never counted."""
    import json

    import sqlalchemy as sa

    from recover.storage.db import session_scope

    opened = run("case", "open", "--network", "ethereum", "--tx", TX, "--return-address", RET, "--json", db=cli_db)
    assert opened.code == 0, opened.err
    cid = opened.json["id"]
    plan = {"network": "ethereum", "family": "evm", "case_id": cid, "asset": "native", "gross": "10", "net": "9",
            "fee_total": "1", "native_cost": "0", "destination": RET, "fee_collector": DEP, "steps": []}
    with session_scope(cli_db) as s:
        s.execute(sa.text("INSERT INTO sweep_plans (case_id, plan_json, plan_hash, created_by, created_at) "
                          "VALUES (:c, :j, :h, 'spec', '2026-12-01 00:00:00')"),
                  {"c": cid, "j": json.dumps(plan), "h": "ab" * 32})
        s.execute(sa.text("INSERT INTO approvals (case_id, plan_hash, operator, person, decision, reason, statement, "
                          "created_at) VALUES (:c, :h, 'bob', 'bob', 'approve', 'looks fine', :st, "
                          "'2026-12-01 00:00:01')"), {"c": cid, "h": "ab" * 32, "st": "cd" * 32})
    doc = run("case", "show", str(cid), "--json", db=cli_db).json
    assert doc["approvals"]["so_far"] == [{"approver": "bob", "person": "bob", "decision": "approve",
                                           "reason": "looks fine", "statement": "cd" * 32,
                                           "at": doc["approvals"]["so_far"][0]["at"]}]
    assert doc["approvals"]["plan_hash"] == "ab" * 32
    assert doc["approvals"]["counted"] == [] and doc["approvals"]["satisfied"] is False
    human = run("case", "show", str(cid), db=cli_db)
    assert human.code == 0, human.err
    assert "bob (person bob): approve" in human.out and "approvals" in human.out
