"""`recover demo`: the flow on a temporary database, as far as the toolkit goes today.

It runs only what exists (init, the network registry, the address registry, opening a case and
showing it) and says plainly which steps are not built yet, rather than pretending.
"""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Callable

from recover import api

DEMO_DEPOSIT = "0xfB6916095ca1df60bB79Ce92cE3Ea74c37c5d359"
DEMO_RETURN = "0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAed"
DEMO_TX = "0x" + "5d" * 32


def run_demo(say: Callable[[str], None] = print) -> dict:
    with tempfile.TemporaryDirectory(prefix="recover-demo-") as tmp:
        db = f"sqlite:///{Path(tmp) / 'demo.db'}"
        say(f"1. init: case database at {db} (schema {api.init(db)})")
        nets = api.list_networks(include_devnets=False)
        direct = sum(n.recovery_class == "direct" for n in nets)
        say(f"2. networks: {direct} direct and {len(nets) - direct} conditional real networks")
        csv = Path(tmp) / "addresses.csv"
        csv.write_text(f"network,address,derivation_path,account\nethereum,{DEMO_DEPOSIT},m/44'/60'/0'/0/7,user-7\n")
        res = api.import_addresses(csv, db=db, actor="demo")
        say(f"3. addresses import: {res.added} deposit address registered")
        case = api.open_case("ethereum", DEMO_TX, deposit_address=DEMO_DEPOSIT, return_address=DEMO_RETURN,
                             claimant="demo-user", db=db, actor="demo")
        say(f"4. case open: case {case.id} is '{case.status}'")
        doc = api.show_case(case.id, db=db)
        say(f"5. case show: {len(doc['audit'])} audit event(s); audit chain intact: {api.verify_audit(db=db).ok}")
        say("not built yet: on-chain verification, quote, sweep plan, approvals, signing, broadcast "
            "(the demo stops here instead of pretending)")
        return doc
