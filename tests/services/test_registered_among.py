"""Issue 27: a chunk's recipients are looked up in the registry in one query, on both databases, with
more keys than SQLite binds in one statement (32,766), and only the network asked about."""

from __future__ import annotations

import os

from recover.networks.registered import has_retired, registered_among
from recover.storage.db import session_scope
from recover.storage.models import DepositAddress


def _row(network: str, key: str, status: str, account: str) -> DepositAddress:
    return DepositAddress(network=network, address=key, address_key=key, derivation_path="m/0", account=account,
                          status=status)


def test_registered_among_finds_exactly_the_registered_keys_of_the_network(db_url):
    mine = {"0x" + os.urandom(20).hex(): ("active", f"acct-{i}") for i in range(5)}
    retired = "0x" + os.urandom(20).hex()
    elsewhere = "0x" + os.urandom(20).hex()
    with session_scope(db_url) as s:
        assert not has_retired(s, "anvil")
        s.add_all([_row("anvil", k, st, a) for k, (st, a) in mine.items()])
        s.add(_row("anvil", retired, "retired", "acct-r"))
        s.add(_row("anvil-b", elsewhere, "retired", "acct-b"))  # registered on another network only
    chunk = {"0x" + os.urandom(20).hex() for _ in range(40_000)} | set(mine) | {retired, elsewhere}
    with session_scope(db_url) as s:
        found = registered_among(s, "anvil", chunk)
        assert has_retired(s, "anvil") and has_retired(s, "anvil-b") and not has_retired(s, "solana-litesvm")
        assert registered_among(s, "anvil", set()) == {}
        again = registered_among(s, "anvil", list(chunk)[:10] + [retired])  # a second chunk, the same connection
    assert found == mine | {retired: ("retired", "acct-r")}
    assert again == {retired: ("retired", "acct-r")} | {k: v for k, v in mine.items() if k in list(chunk)[:10]}
