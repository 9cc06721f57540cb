"""Reading the chain: transactions and the transfers they claim (balance deltas), balance proofs,
nested token accounts, transaction status and the pre-sign re-check.  Every read is a batch of
JSON-RPC requests (:mod:`chains.solana.node`)."""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Sequence

from chains.base import NATIVE, BalanceProof, Transfer, TxObservation
from chains.errors import ChainError, NetworkConfigError, NotFoundOnChain, PermanentChainError, RetryableChainError
from chains.solana import node as rq
from chains.solana import spl
from chains.solana.common import (
    FINALIZED_CONFIRMATIONS,
    GENESIS,
    TOKEN_INDEX_BASE,
    pubkey,
    reads_node,
    reason,
    signature,
)


def account_keys(tx: dict) -> list[str]:
    """The account keys of a ``getTransaction`` answer (with loaded addresses, in order)."""
    msg = tx["transaction"]["message"]
    keys = [k["pubkey"] if isinstance(k, dict) else k for k in msg["accountKeys"]]
    loaded = (tx.get("meta") or {}).get("loadedAddresses") or {}
    if not msg["accountKeys"] or not isinstance(msg["accountKeys"][0], dict):
        keys += list(loaded.get("writable") or []) + list(loaded.get("readonly") or [])
    return keys


def observation(txid: str, tx: dict, finalized_slot: int) -> TxObservation:
    """What a finalized transaction moved: SOL and token balance deltas (pure)."""
    meta = tx.get("meta") or {}
    keys = account_keys(tx)
    fee_payer = keys[0] if keys else None
    err = meta.get("err")
    transfers: list[Transfer] = []
    if err is None:
        pre, post = meta.get("preBalances") or [], meta.get("postBalances") or []
        for i, (a, b) in enumerate(zip(pre, post)):
            if b > a and i < len(keys):
                transfers.append(Transfer(index=i, asset=NATIVE, sender=fee_payer, recipient=keys[i], amount=b - a))
        pre_t, post_t = spl.token_sums(meta.get("preTokenBalances")), spl.token_sums(meta.get("postTokenBalances"))
        for (owner, mint), (after, _dec, idx) in sorted(post_t.items(), key=lambda kv: min(kv[1][2])):
            before = pre_t.get((owner, mint), (0, 0, []))[0]
            if after > before:
                losers = [o for (o, m), (amt, _, _) in pre_t.items()
                          if m == mint and amt > post_t.get((o, m), (0, 0, []))[0]]
                sender = losers[0] if len(losers) == 1 else fee_payer
                transfers.append(Transfer(index=TOKEN_INDEX_BASE + min(idx), asset=mint, sender=sender,
                                          recipient=owner, amount=after - before))
    slot = int(tx["slot"])
    bt = tx.get("blockTime")
    return TxObservation(
        txid=txid, found=True, success=err is None,
        failure_reason=None if err is None else reason(err, meta.get("logMessages")),
        block_number=slot, block_hash=None,
        block_time=datetime.fromtimestamp(bt, tz=timezone.utc) if bt is not None else None,
        confirmations=max(FINALIZED_CONFIRMATIONS, finalized_slot - slot + 1),
        sender=fee_payer, to=None, transfers=tuple(transfers))


class ObserveMixin:
    """observe / prove / nested accounts / status / re-check of :class:`chains.solana.adapter.SolanaAdapter`."""

    # -- cluster ---------------------------------------------------------------------------------
    @reads_node
    def check_cluster(self) -> None:
        """Refuse (``wrong_chain``) a node of another cluster (genesis hash); checked once."""
        if self._cluster_checked:
            return
        cluster = (self.network.solana.cluster if self.network.solana else "mainnet-beta")
        want = GENESIS.get(cluster)
        if want is not None:
            got = self.node.call(rq.get_genesis_hash())
            if got != want:
                raise NetworkConfigError(f"{self.network.key}: the node in rpc_urls serves genesis {got}, not "
                                         f"{cluster}'s {want}: check rpc_urls and [solana] cluster",
                                         code="wrong_chain", details={"network": self.network.key,
                                                                      "key": "rpc_urls", "expected": want,
                                                                      "got": got})
        self._cluster_checked = True

    # -- observe ---------------------------------------------------------------------------------
    @reads_node
    def observe(self, txids: Sequence[str], *, native_value: bool = True) -> dict[str, TxObservation]:
        self.check_cluster()
        out: dict[str, TxObservation] = {}
        valid = []
        for t in dict.fromkeys(txids):
            try:
                signature(t)
                valid.append(t)
            except ChainError:
                out[t] = TxObservation(txid=t, found=False, failure_reason="malformed txid")
        answers = self.node.batch([rq.get_slot()] + [rq.get_transaction(t) for t in valid])
        slot = int(rq.must(answers[0]))
        for t, tx in zip(valid, answers[1:]):
            if isinstance(tx, NotFoundOnChain) or tx is None:
                out[t] = TxObservation(txid=t, found=False)
            elif isinstance(tx, ChainError):
                out[t] = TxObservation(txid=t, found=False, failure_reason=f"node_error: {tx}")
            else:
                self._tx_cache[t] = tx
                out[t] = observation(t, tx, slot)
        return {t: out[t] for t in txids}

    @reads_node
    def tx_status(self, txid: str) -> TxObservation:
        obs = self.observe([txid])[txid]
        if obs.found or obs.failure_reason == "malformed txid":
            return obs
        st = rq.value(self.node.call(rq.get_signature_statuses([txid])))[0]
        if st is None:
            return obs
        err = st.get("err")
        return TxObservation(txid=txid, found=True, success=None if err is None else False,
                             failure_reason=None if err is None else reason(err, None),
                             block_number=None if err is None else st.get("slot"), confirmations=0)

    # -- prove -----------------------------------------------------------------------------------
    @reads_node
    def prove_each(self, items: Sequence[tuple[TxObservation, Transfer]]) -> list[BalanceProof | ChainError]:
        """One batch: the transactions not cached, the recipients' and mints' accounts, the SOL
        balances now and the token accounts now; then each proof (or its error) in order."""
        self.check_cluster()
        need_tx = sorted({obs.txid for obs, _ in items if obs.txid not in self._tx_cache})
        recipients = sorted({tr.recipient for _, tr in items})
        mints = sorted({tr.asset for _, tr in items if tr.asset != NATIVE})
        native = sorted({tr.recipient for _, tr in items if tr.asset == NATIVE})
        holdings_keys = sorted({(tr.recipient, tr.asset) for _, tr in items if tr.asset != NATIVE})
        for a in recipients + mints:
            pubkey(a)
        acc_reqs = self.node.accounts_requests(recipients + mints)
        reqs = ([rq.get_transaction(t) for t in need_tx] + acc_reqs + [rq.get_balance(a) for a in native]
                + [rq.get_token_accounts_by_owner(o, m) for o, m in holdings_keys])
        answers = self.node.batch(reqs)
        n_tx, n_acc, n_bal = len(need_tx), len(acc_reqs), len(native)
        t_res = answers[:n_tx]
        acc_res = self.node.accounts_from(answers[n_tx:n_tx + n_acc], len(recipients) + len(mints))
        bal_res = answers[n_tx + n_acc:n_tx + n_acc + n_bal]
        hold_res = answers[n_tx + n_acc + n_bal:]
        tx_errors: dict[str, ChainError] = {}
        for txid, tx in zip(need_tx, t_res):
            if isinstance(tx, dict):
                self._tx_cache[txid] = tx
            elif isinstance(tx, ChainError):
                tx_errors[txid] = tx
        accounts = dict(zip(recipients + mints, acc_res))
        balances = {a: (b if isinstance(b, ChainError) else rq.value(b)) for a, b in zip(native, bal_res)}
        holdings = {k: (h if isinstance(h, ChainError) else spl.holdings(rq.value(h), *k))
                    for k, h in zip(holdings_keys, hold_res)}
        out: list[BalanceProof | ChainError] = []
        for obs, tr in items:
            try:
                if obs.txid in tx_errors:
                    raise tx_errors[obs.txid]
                out.append(self._proof(obs, tr, accounts, balances, holdings))
            except ChainError as exc:
                out.append(exc)
        return out

    def _proof(self, obs: TxObservation, tr: Transfer, accounts: dict, balances: dict, holdings: dict) -> BalanceProof:
        tx = self._tx_cache.get(obs.txid)
        if tx is None:
            raise RetryableChainError(f"the node did not return transaction {obs.txid}", code="node_error")
        meta = tx.get("meta") or {}
        keys = account_keys(tx)
        recipient_acc = accounts.get(tr.recipient)
        parent = spl.token_account(recipient_acc)
        if parent is not None:
            return self._nested_proof(tr, keys, meta, parent, accounts, holdings)
        has_code = bool(recipient_acc and recipient_acc.get("executable"))
        if tr.asset == NATIVE:
            idx = tr.index if 0 <= tr.index < len(keys) and keys[tr.index] == tr.recipient else (
                keys.index(tr.recipient) if tr.recipient in keys else None)
            if idx is not None:
                before, after = int(meta["preBalances"][idx]), int(meta["postBalances"][idx])
            else:
                before = after = 0  # not in the transaction: it received nothing
            now = balances.get(tr.recipient)
            if isinstance(now, ChainError):
                raise now
            if now is None:
                raise RetryableChainError(f"the node did not answer getBalance({tr.recipient})", code="node_error")
            return BalanceProof(transfer=tr, before=before, after=after, now=int(now),
                                decimals=self.network.native_decimals, symbol=self.network.native_symbol,
                                recipient_has_code=has_code)
        decimals = spl.mint_decimals(accounts.get(tr.asset))
        if decimals is None:
            raise spl.unknown_mint(tr.asset, self.network.key)
        pre = spl.token_sums(meta.get("preTokenBalances")).get((tr.recipient, tr.asset), (0, decimals, []))[0]
        post = spl.token_sums(meta.get("postTokenBalances")).get((tr.recipient, tr.asset), (0, decimals, []))[0]
        held = self._held(holdings, tr)
        token = self.network.listed_token(tr.asset)
        return BalanceProof(transfer=tr, before=pre, after=post, now=sum(i["amount"] for _, i in held),
                            decimals=decimals, symbol=token.symbol if token else None, recipient_has_code=has_code)

    @staticmethod
    def _held(holdings: dict, tr: Transfer) -> list[tuple[str, dict]]:
        held = holdings.get((tr.recipient, tr.asset))
        if isinstance(held, ChainError):
            raise held
        if held is None:
            raise RetryableChainError(f"the node did not answer getTokenAccountsByOwner({tr.recipient})",
                                      code="node_error")
        return held

    def _nested_proof(self, tr: Transfer, keys: list[str], meta: dict, parent: dict, accounts: dict,
                      holdings: dict) -> BalanceProof:
        """The proof of tokens held by a *nested* token account: ``tr.recipient`` is itself a token
        account (of ``parent["owner"]`` for ``parent["mint"]``), and the tokens sit in the associated
        token account whose owner is that token account.  Only the associated-token program's
        RecoverNested can move them, so both accounts must be the canonical ATAs of one token program."""
        wallet, parent_mint, program = parent["owner"], parent["mint"], parent["program"]
        base = {"token_account": None, "wallet": wallet, "parent_token_account": tr.recipient,
                "parent_mint": parent_mint, "nested_mint": tr.asset, "token_program": program}
        if tr.asset == NATIVE:
            raise PermanentChainError(
                f"{tr.recipient} is a token account (of {wallet} for mint {parent_mint}): lamports sent to it are "
                "not a nested token deposit and cannot be recovered with RecoverNested",
                code="lamports_to_token_account", details=base)
        mint_acc = accounts.get(tr.asset)
        decimals = spl.mint_decimals(mint_acc)
        if decimals is None:
            raise spl.unknown_mint(tr.asset, self.network.key)
        nested = spl.ata(tr.recipient, tr.asset, program)
        moved = {keys[int(e["accountIndex"])] for e in (meta.get("postTokenBalances") or [])
                 if e.get("owner") == tr.recipient and e.get("mint") == tr.asset and int(e["accountIndex"]) < len(keys)}
        base["token_account"] = nested
        problem = None
        if spl.ata(wallet, parent_mint, program) != tr.recipient:
            problem = (f"{tr.recipient} is a token account of {wallet} but not its associated token account for "
                       f"{parent_mint}")
        elif mint_acc.get("owner") != program:
            problem = (f"the nested mint {tr.asset} belongs to {mint_acc.get('owner')}, the parent token account to "
                       f"{program}: RecoverNested needs one token program")
        elif nested not in moved:
            problem = (f"the tokens went to {', '.join(sorted(moved)) or 'an unknown account'}, not to the associated "
                       f"token account {nested} of {tr.recipient}")
        if problem:
            raise PermanentChainError(f"nested token account not recoverable: {problem}; only the associated-token "
                                      "program can sign for the parent account, and only through RecoverNested",
                                      code="nested_not_recoverable", details=base)
        pre = spl.token_sums(meta.get("preTokenBalances")).get((tr.recipient, tr.asset), (0, decimals, []))[0]
        post = spl.token_sums(meta.get("postTokenBalances")).get((tr.recipient, tr.asset), (0, decimals, []))[0]
        held = self._held(holdings, tr)
        now = sum(i["amount"] for a, i in held if a == nested)  # only the nested ATA is recoverable
        token = self.network.listed_token(tr.asset)
        return BalanceProof(transfer=tr, before=pre, after=post, now=now, decimals=decimals,
                            symbol=token.symbol if token else None, recipient_has_code=False,
                            details={"nested": True, **base})

    # -- nested accounts -------------------------------------------------------------------------
    def nested_parent(self, address: str) -> dict | None:
        """``{"wallet", "mint", "token_account", "program"}`` when ``address`` is a token account (tokens
        sent to it are in a *nested* token account owned by it), else None."""
        return self.nested_parents([address]).get(address)

    @reads_node
    def nested_parents(self, addresses: Sequence[str]) -> dict[str, dict]:
        """:meth:`nested_parent` for many addresses in one batched read; only token accounts are keys."""
        valid = []
        for a in dict.fromkeys(addresses):
            try:
                pubkey(a)
                valid.append(a)
            except ChainError:
                continue
        if not valid:
            return {}
        out = {}
        for address, acc in zip(valid, self._accounts(valid)):
            info = spl.token_account(acc)
            if info is not None:
                out[address] = {"wallet": info["owner"], "mint": info["mint"], "token_account": address,
                                "program": info["program"]}
        return out

    def _accounts(self, addresses: list[str]) -> list[dict | None]:
        if not addresses:
            return []
        return self.node.accounts_from(self.node.batch(self.node.accounts_requests(addresses)), len(addresses))

    # -- re-check --------------------------------------------------------------------------------
    @reads_node
    def recheck_deposit(self, *, txid: str, block_number: int | None, block_hash: str | None, recipient: str,
                        asset: str, amount: int, index: int | None = None) -> str | None:
        """None when the transaction is still finalized at ``block_number``, successful, and the
        address still holds at least ``amount``; else the reason."""
        self.check_cluster()
        signature(txid)
        pubkey(recipient)
        second = rq.get_balance(recipient) if asset == NATIVE else rq.get_token_accounts_by_owner(recipient, asset)
        tx, answer = self.node.batch([rq.get_transaction(txid), second])
        if isinstance(tx, NotFoundOnChain):
            tx = None
        tx, answer = rq.must(tx), rq.value(rq.must(answer))
        balance = int(answer) if asset == NATIVE else sum(i["amount"] for _, i in spl.holdings(answer, recipient, asset))
        if tx is None:
            return f"transaction {txid} is no longer known at finalized commitment"
        if block_number is not None and int(tx["slot"]) != block_number:
            return f"transaction {txid} is now in slot {tx['slot']}, not {block_number}"
        if (tx.get("meta") or {}).get("err") is not None:
            return f"transaction {txid} failed on-chain"
        if balance < amount:
            return f"{recipient} now holds {balance} base units, less than the {amount} deposited"
        return None
