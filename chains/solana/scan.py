"""Holding scans on Solana: token accounts of our wallets holding the mints the caller wants.

Per wallet, ``getTokenAccountsByOwner`` under each token program (Token, Token-2022), all in one
batch, parsed with ``spl.token``'s layouts (:mod:`chains.solana.spl`).  For each token account with a
nonzero balance, its history (``getSignaturesForAddress``, newest first, a page at a time) is read
until the credits found cover the balance held now: each crediting transaction (the wallet's balance
of that mint went up, by the same balance deltas ``observe`` uses) is one finding, its signature the
txid.  Only finalized history is read, so every finding is final.  SOL held by a wallet is not looked
at here (token accounts only).
"""

from __future__ import annotations

from typing import Callable, Sequence

from chains.base import FoundDeposit
from chains.solana import node as rq
from chains.solana import spl
from chains.solana.common import TOKEN_PROGRAMS, reads_node
from chains.solana.observe import observation

SIGNATURES_PER_PAGE = 100
MAX_PAGES = 20  # per token account: older credits than this are not looked for


def _by_program(owner: str, program: str) -> rq.Request:
    return ("getTokenAccountsByOwner", [owner, {"programId": program}, {"encoding": "base64",
                                                                        "commitment": rq.FINALIZED}])


def _signatures(address: str, before: str | None) -> rq.Request:
    cfg = {"limit": SIGNATURES_PER_PAGE, "commitment": rq.FINALIZED}
    if before:
        cfg["before"] = before
    return ("getSignaturesForAddress", [address, cfg])


class HoldingsScanMixin:
    """``scan_holdings`` / ``latest_block`` of :class:`chains.solana.adapter.SolanaAdapter`."""

    @reads_node
    def latest_block(self) -> int:
        self.check_cluster()
        return int(self.node.call(rq.get_slot()))

    @reads_node
    def scan_holdings(self, addresses: Sequence[str], *, wanted: Callable[[str, str], bool],
                      progress: Callable[[int], None] | None = None) -> list[FoundDeposit]:
        self.check_cluster()
        wallets = list(dict.fromkeys(addresses))
        answers = self.node.batch([_by_program(w, p) for w in wallets for p in TOKEN_PROGRAMS])
        held: dict[str, list] = {}  # token account -> [wallet, mint, amount still to explain, before]
        for i, w in enumerate(wallets):
            for ans in answers[i * len(TOKEN_PROGRAMS):(i + 1) * len(TOKEN_PROGRAMS)]:
                for item in rq.value(rq.must(ans)) or ():
                    info = spl.token_account(item.get("account"))
                    if info and info["owner"] == w and info["amount"] > 0 and wanted(w, info["mint"]):
                        held[item["pubkey"]] = [w, info["mint"], info["amount"], None]
            if progress:
                progress(1)
        found: dict[tuple[str, str, str], FoundDeposit] = {}
        for _page in range(MAX_PAGES):
            open_ = [a for a, h in held.items() if h[2] > 0]
            if not open_:
                break
            pages = self.node.batch([_signatures(a, held[a][3]) for a in open_])
            sigs = {}
            last: list[str] = []
            for a, page in zip(open_, pages):
                raw = list(rq.must(page) or ())
                sigs[a] = [p for p in raw if p.get("err") is None]  # a failed transaction credited nothing
                if raw:
                    held[a][3] = raw[-1]["signature"]
                if len(raw) < SIGNATURES_PER_PAGE:
                    last.append(a)  # history exhausted after this page
            need = sorted({p["signature"] for ps in sigs.values() for p in ps} - set(self._tx_cache))
            for t, tx in zip(need, self.node.batch([rq.get_transaction(t) for t in need]) if need else []):
                if isinstance(tx, dict):
                    self._tx_cache[t] = tx
            for a, ps in sigs.items():
                wallet, mint = held[a][0], held[a][1]
                for p in ps:
                    tx = self._tx_cache.get(p["signature"])
                    if tx is None or held[a][2] <= 0:
                        continue
                    obs = observation(p["signature"], tx, int(tx["slot"]))
                    for tr in obs.transfers:
                        if tr.recipient == wallet and tr.asset == mint and tr.amount > 0:
                            found.setdefault((obs.txid, wallet, mint), FoundDeposit(
                                txid=obs.txid, recipient=wallet, asset=mint, amount=tr.amount,
                                block_number=int(obs.block_number), index=tr.index))
                            held[a][2] -= tr.amount
            for a in last:
                held[a][2] = 0
        return sorted(found.values(), key=lambda f: (f.block_number, f.txid))
