"""Small rules that both the write side and the read path (``recover.queries``) apply, here in a
module that imports nothing heavy, so a read need not load the services that first defined them.

``recover.casework.quoting``, ``recover.casework.conditions`` and ``recover.casework.cases`` import these from here (one home
for each rule).
"""

from __future__ import annotations

from chains.assets import NATIVE
from recover.errors import NotFound

MAX_CASE_ID = 2**63 - 1  # a BIGINT / SQLite INTEGER: larger ids cannot exist


def check_case_id(case_id: int) -> int:
    """Refuse an id no case can have (0, negative, beyond 64 bits) before it reaches SQL."""
    if isinstance(case_id, bool) or not isinstance(case_id, int) or not 1 <= case_id <= MAX_CASE_ID:
        raise NotFound(f"no case {case_id} (case ids are whole numbers from 1 to {MAX_CASE_ID})",
                       code="case_not_found")
    return case_id


def price_key(net, asset: str) -> str:
    """The asset a price is set for: the native symbol, or ``network:contract`` for a token."""
    return net.native_symbol.upper() if asset == NATIVE else f"{net.key}:{asset}"


def ownership_message(case) -> str:
    """The exact message the sender signs to prove ownership (``case prove``)."""
    dest = f"return address {case.return_address}" if case.return_address else f"credit account {case.credit_account}"
    return (f"Misdeposit recovery case {case.id}: I sent transaction {case.txid} on {case.network} "
            f"and ask that it be recovered to {dest}.")


#: the case flag of an unlisted token that names itself like the network's coin or a listed token
#: (``recover.casework.classify.symbol_lookalike``): reads show its contract next to its symbol
SYMBOL_LOOKALIKE_FLAG = "symbol_lookalike"
