"""Solana chain adapter: SOL and SPL (Token, Token-2022) deposits proven by balance deltas, swept in
one transaction whose fee (and any rent) the gas station pays.

Node access is ``solana.rpc.async_api.AsyncClient`` (solana 0.41 has no sync client): every public
method runs its reads with ``asyncio.run`` and ``asyncio.gather``, over ``rpc_urls`` in order with
retries (transport errors fail over to the next URL; an RPC error is the node's answer).

Verification
------------
``observe`` reads ``getTransaction`` (``jsonParsed``, ``finalized``, ``maxSupportedTransactionVersion``
0).  Transfers are the *balance deltas* of the transaction, never its instructions:

* SOL: ``Transfer(index=i, asset=NATIVE, recipient=accountKeys[i], amount=post[i] - pre[i])`` for
  every account index ``i`` whose lamports rose (decreases, e.g. the fee payer's, are skipped);
* SPL: token balances summed per ``(owner, mint)``: ``Transfer(index=TOKEN_INDEX_BASE + i, asset=mint,
  recipient=owner)`` where ``i`` is the lowest ``accountIndex`` of that owner's token accounts for the
  mint in the transaction and ``amount`` the rise of the sum.  ``recipient`` is the wallet, not the
  token account.
* ``sender``: the fee payer for SOL; for SPL the single owner whose balance of the mint fell (else
  the fee payer).  ``block_number`` is the slot; ``block_hash`` is None (``getTransaction`` does not
  give it; ``recheck_deposit`` re-reads the transaction at the same slot instead).
* Finality: a transaction found at ``finalized`` commitment is rooted, so its confirmations are
  ``max(FINALIZED_CONFIRMATIONS, finalized_slot - slot + 1)`` (32 = the lockout depth of a root).
  ``tx_status`` falls back to ``getSignatureStatuses`` for a transaction not yet finalized
  (found, ``block_number`` None: pending).

``prove`` takes ``before``/``after`` from the transaction's own pre/post balances (the proof is the
delta), ``now`` from ``getBalance`` (SOL) or the sum of the owner's token accounts for the mint
(``getTokenAccountsByOwner``), decimals from the mint account (a missing mint or one not owned by
a token program: ``PermanentChainError`` ``unknown_mint``).

Nested token accounts: tokens sent to an associated token account's *address* as if it were a
wallet land in the ATA whose owner is that ATA; the transfer's ``recipient`` is then the parent ATA.
``prove`` returns a proof with ``details`` ``{"nested": True, "token_account": <nested ATA>,
"wallet": <owner of the parent ATA>, "parent_token_account", "parent_mint", "nested_mint",
"token_program"}`` and ``now`` = the nested ATA's balance (the only recoverable one); the service
classifies it ``nested_token_account`` and registers it under the *wallet*
(:meth:`SolanaAdapter.nested_parents`).  Refused: ``nested_not_recoverable`` when RecoverNested cannot
move the tokens (parent not the wallet's canonical ATA, nested account not the canonical ATA of the
parent, or the two mints under different token programs); ``lamports_to_token_account`` for SOL sent
to a token account's address.

Sweep
-----
One transaction, two signatures: the gas station is the fee payer (and pays any rent), the deposit
owner signs for its funds.  The plan stores the *instructions* (JSON-safe, see ``encode_ix``), not a
blockhash: the plan hash covers the instructions; ``sign`` fetches a fresh blockhash.

* SPL: create-idempotent the destination's ATA (payer: gas station), ``transfer_checked`` ``net``;
  if ``fee_total`` > 0 create-idempotent the fee collector's ATA and ``transfer_checked`` the fee;
  when the source token account holds exactly ``gross``, close it with its rent to the gas station.
* SOL: system transfers of ``net`` to the destination and ``fee_total`` to the fee collector, and in
  ``deduct`` mode ``native_cost`` back to the gas station (which paid the fee), so that
  ``net + fee_total (+ native_cost) == gross``.  When the deposit holds exactly ``gross`` it ends with
  0 lamports (the account closes).  When it holds more, only ``gross`` is moved, and a remainder that
  is above 0 but below the rent-exempt minimum is refused (``SweepRefused`` ``rent_residue``: the
  runtime would reject the transaction).
* Nested (``request.deposit_address`` is a token account, the parent ATA; ``deposit_path`` is the key
  of the wallet that owns it): create-idempotent the wallet's ATA for the mint (payer: gas station),
  ATA ``RecoverNested`` (data ``[2]``; moves the nested ATA's tokens to the wallet's ATA and closes the
  nested ATA with its rent to the wallet), a system transfer of exactly that rent from the wallet to
  the gas station (the wallet ends with the lamports it had, usually 0: never a balance below rent),
  then the SPL sweep above from the wallet's ATA, closed (rent to the gas station) when it ends empty.
  The step's ``signer_address`` is the *wallet*.  The wallet's ATA created and closed in the same
  transaction is not a cost (``params["nested"]["temporary_rent"]``, checked against the gas station's
  balance); when it would be left holding other tokens its rent is (``kept_rent``).
* cost: ``LAMPORTS_PER_SIGNATURE`` x 2 signatures (no priority fee), plus, for SPL, the rent of each
  ATA the sweep creates (``getMinimumBalanceForRentExemption``; 165 bytes for Token, 170 for
  Token-2022 with its ImmutableOwner extension).  The rent returned by closing the deposit's token
  account is not netted off (``native_cost`` is the gas station's outlay).

The plan's single step: ``signer_address``/``signer_path`` = the deposit; ``tx`` =
``{"format": "solana-v0-instructions", "fee_payer": ..., "fee_payer_path": ..., "instructions": [...]}``.
``sign`` calls ``key_for_path`` for both paths and wants a solders ``Keypair`` (or its 64 bytes);
it returns base64 of the signed wire transaction, whose txid is its first signature (base58).
"""

from __future__ import annotations

import asyncio
import base64
import json
import time
from dataclasses import replace
from datetime import datetime, timezone
from typing import Any, Awaitable, Callable, Sequence

from chains.base import (
    NATIVE,
    BalanceProof,
    Capability,
    ChainAdapter,
    CostEstimate,
    PlanStep,
    SweepPlan,
    SweepRequest,
    Transfer,
    TxObservation,
)
from chains.config import NetworkConfig
from chains.errors import ChainError, PermanentChainError, RetryableChainError, SignerMismatch, SweepRefused

__all__ = ["SolanaAdapter", "TOKEN_INDEX_BASE", "LAMPORTS_PER_SIGNATURE", "encode_ix", "decode_ix",
           "FINALIZED_CONFIRMATIONS"]

TOKEN_INDEX_BASE = 1000
LAMPORTS_PER_SIGNATURE = 5000
FINALIZED_CONFIRMATIONS = 32
PARAMS_VERSION = 1
TX_FORMAT = "solana-v0-instructions"
TOKEN_PROGRAM = "TokenkegQfeZyiNwAJbNbGKPFXCWuBvf9Ss623VQ5DA"
TOKEN_2022_PROGRAM = "TokenzQdBNbLqP5VEhdkAS6EPFLC1PHnBqCXEpPxuEb"
TOKEN_PROGRAMS = (TOKEN_PROGRAM, TOKEN_2022_PROGRAM)
SYSTEM_PROGRAM = "11111111111111111111111111111111"
TOKEN_ACCOUNT_SIZE = 165
ATA_SIZE = {TOKEN_PROGRAM: 165, TOKEN_2022_PROGRAM: 170}
MINT_SIZE = 82
GENESIS = {
    "mainnet-beta": "5eykt4UsFv8P8NJdTREpY1vzqKqZKvdpKuc147dw2N9d",
    "devnet": "EtWTRABZaYq6iMfeYKouRu166VU2xqa1wcaWoxPkrZBG",
    "testnet": "4uhcVJyU9pJkvQyS88uRDiswHXSCkY3zQawwpjk2NsNY",
}
RETRIES_PER_URL = 2
RECOVER_NESTED = 2  # the associated-token program's RecoverNested instruction


# -- panics and small helpers -----------------------------------------------------------------------
def _fatal(exc: BaseException) -> bool:
    return isinstance(exc, (KeyboardInterrupt, SystemExit, GeneratorExit))


def _guard(what: str, fn: Callable[[], Any], *, code: str = "solana_error", exc_type=PermanentChainError) -> Any:
    """Run a solders call; a ``ValueError`` or a pyo3 panic (a ``BaseException``) becomes a clear
    ``ChainError`` instead of a crash."""
    try:
        return fn()
    except ChainError:
        raise
    except BaseException as exc:  # noqa: BLE001 - pyo3_runtime.PanicException is a BaseException
        if _fatal(exc):
            raise
        kind = "panic in solders" if type(exc).__name__ == "PanicException" else type(exc).__name__
        raise exc_type(f"{what}: {kind}: {exc}", code=code, details={"what": what}) from None


def _pubkey(value: str, what: str = "address"):
    from solders.pubkey import Pubkey

    return _guard(f"{what} {value!r} is not a Solana address", lambda: Pubkey.from_string(value),
                  code="invalid_address")


def _signature(value: str):
    from solders.signature import Signature

    return _guard(f"{value!r} is not a Solana transaction signature", lambda: Signature.from_string(value),
                  code="invalid_txid")


def _result(resp: Any) -> Any:
    """A solders RPC response as plain JSON (the ``result`` member)."""
    return json.loads(resp.to_json())["result"]


def _value(resp: Any) -> Any:
    res = _result(resp)
    return res["value"] if isinstance(res, dict) and "value" in res and "context" in res else res


def _account_data(acc: dict | None) -> bytes | None:
    if acc is None:
        return None
    data = acc.get("data")
    if isinstance(data, list) and len(data) == 2 and data[1] == "base64":
        return base64.b64decode(data[0])
    if isinstance(data, str):
        return base64.b64decode(data)
    return None


def _token_account(acc: dict | None) -> dict | None:
    """``{"mint", "owner", "amount", "program"}`` of an initialised token account (raw JSON account)."""
    if acc is None or acc.get("owner") not in TOKEN_PROGRAMS:
        return None
    data = _account_data(acc)
    if data is None or len(data) < TOKEN_ACCOUNT_SIZE:
        return None
    if len(data) > TOKEN_ACCOUNT_SIZE and data[TOKEN_ACCOUNT_SIZE] != 2:  # Token-2022: 2 = account
        return None
    if data[108] == 0:
        return None
    from solders.pubkey import Pubkey

    return {"mint": str(Pubkey.from_bytes(data[0:32])), "owner": str(Pubkey.from_bytes(data[32:64])),
            "amount": int.from_bytes(data[64:72], "little"), "program": acc["owner"]}


def _mint_decimals(acc: dict | None) -> int | None:
    if acc is None or acc.get("owner") not in TOKEN_PROGRAMS:
        return None
    data = _account_data(acc)
    if data is None or len(data) < MINT_SIZE or (len(data) > MINT_SIZE and len(data) <= TOKEN_ACCOUNT_SIZE):
        return None
    if len(data) > TOKEN_ACCOUNT_SIZE and data[TOKEN_ACCOUNT_SIZE] != 1:  # Token-2022: 1 = mint
        return None
    if data[45] == 0:  # is_initialized
        return None
    return data[44]


def encode_ix(ix: Any) -> dict:
    """A solders ``Instruction`` as JSON-safe data (the plan stores these)."""
    return {"program_id": str(ix.program_id),
            "accounts": [{"pubkey": str(a.pubkey), "is_signer": bool(a.is_signer), "is_writable": bool(a.is_writable)}
                         for a in ix.accounts],
            "data": base64.b64encode(bytes(ix.data)).decode()}


def decode_ix(d: dict) -> Any:
    from solders.instruction import AccountMeta, Instruction

    def build():
        return Instruction(_pubkey(d["program_id"], "program id"), base64.b64decode(d["data"]),
                           [AccountMeta(_pubkey(a["pubkey"]), bool(a["is_signer"]), bool(a["is_writable"]))
                            for a in d["accounts"]])

    return _guard("malformed instruction in the plan", build, code="plan_malformed")


def _account_keys(tx: dict) -> list[str]:
    msg = tx["transaction"]["message"]
    keys = [k["pubkey"] if isinstance(k, dict) else k for k in msg["accountKeys"]]
    loaded = (tx.get("meta") or {}).get("loadedAddresses") or {}
    if not msg["accountKeys"] or not isinstance(msg["accountKeys"][0], dict):
        keys += list(loaded.get("writable") or []) + list(loaded.get("readonly") or [])
    return keys


def _token_sums(entries: list[dict] | None) -> dict[tuple[str, str], tuple[int, int, list[int]]]:
    """(owner, mint) -> (sum of amounts, decimals, account indexes)."""
    out: dict[tuple[str, str], tuple[int, int, list[int]]] = {}
    for e in entries or ():
        owner = e.get("owner")
        if not owner:
            continue
        key = (owner, e["mint"])
        amount = int(e["uiTokenAmount"]["amount"])
        decimals = int(e["uiTokenAmount"]["decimals"])
        total, _, idx = out.get(key, (0, decimals, []))
        out[key] = (total + amount, decimals, idx + [int(e["accountIndex"])])
    return out


def _reason(err: Any, logs: list[str] | None) -> str:
    text = json.dumps(err) if not isinstance(err, str) else err
    if isinstance(err, dict) and "InsufficientFundsForRent" in err:
        return (f"{text}: an account would be left with lamports below the rent-exempt minimum "
                "(a new recipient must receive at least the rent-exempt minimum)")
    interesting = [line for line in (logs or []) if "rror" in line or "failed" in line or "insufficient" in line]
    return f"{text}" + (f" ({interesting[-1]})" if interesting else "")


class _Rpc:
    """Runs one coroutine against the configured URLs: failover on transport errors, retries."""

    def __init__(self, urls: Sequence[str], timeout: float = 20.0):
        self.urls = list(urls)
        self.timeout = timeout

    def run(self, fn: Callable[[Any], Awaitable[Any]], what: str) -> Any:
        import httpx2
        from solana.exceptions import SolanaRpcException
        from solana.rpc.async_api import AsyncClient
        from solana.rpc.core import RPCException

        async def with_client(url: str):
            client = AsyncClient(url, timeout=self.timeout, http2=False)
            try:
                return await fn(client)
            finally:
                await client.close()

        last: str = "no RPC URL configured"
        for url in self.urls:
            for attempt in range(RETRIES_PER_URL):
                try:
                    return asyncio.run(with_client(url))
                except ChainError:
                    raise
                except RPCException as exc:
                    raise RetryableChainError(f"node error on {what}: {exc}", code="node_error",
                                              details={"method": what}) from None
                except (SolanaRpcException, httpx2.HTTPError, OSError, asyncio.TimeoutError) as exc:
                    last = f"{type(exc).__name__}: {exc}"
                    time.sleep(0.2 * (attempt + 1))
                except BaseException as exc:  # malformed answers (SerdeJSONError) and pyo3 panics
                    if _fatal(exc):
                        raise
                    if type(exc).__name__ == "PanicException":
                        raise PermanentChainError(f"{what}: panic in solders: {exc}", code="solana_panic") from None
                    last = f"{type(exc).__name__}: {exc}"
                    break  # a node that answers garbage: try the next URL
        raise RetryableChainError(f"no Solana node answered {what} ({last})", code="node_unreachable",
                                  details={"method": what})


# -- the adapter ----------------------------------------------------------------------------------------
class SolanaAdapter(ChainAdapter):
    family = "solana"
    capabilities = frozenset({
        Capability.NATIVE_SWEEP,
        Capability.TOKEN_SWEEP,
        Capability.SIMULATION,
        Capability.HISTORIC_BALANCES,  # before/after come from the transaction's pre/post balances
        Capability.BATCH_VERIFY,
    })

    def __init__(self, network: NetworkConfig, *, timeout: float = 20.0):
        super().__init__(network)
        self.rpc = _Rpc(network.rpc_urls, timeout=timeout)
        self._cluster_checked = False
        self._tx_cache: dict[str, dict] = {}

    # -- plumbing --------------------------------------------------------------------------------
    def check_cluster(self) -> None:
        """Refuse (``wrong_chain``) a node of another cluster (genesis hash); checked once."""
        if self._cluster_checked:
            return
        cluster = (self.network.solana.cluster if self.network.solana else "mainnet-beta")
        want = GENESIS.get(cluster)
        if want is not None:
            async def fn(c):
                return _result(await c.get_genesis_hash())

            got = self.rpc.run(fn, "getGenesisHash")
            if got != want:
                raise PermanentChainError(f"{self.network.key}: the node serves genesis {got}, not {cluster}'s {want}",
                                          code="wrong_chain", details={"expected": want, "got": got})
        self._cluster_checked = True

    async def _get_tx(self, c, txid: str) -> dict | None:
        from solana.rpc.commitment import Finalized

        resp = await c.get_transaction(_signature(txid), encoding="jsonParsed", commitment=Finalized,
                                       max_supported_transaction_version=0)
        return _result(resp)

    async def _accounts(self, c, addresses: list[str]) -> list[dict | None]:
        from solana.rpc.commitment import Finalized

        if not addresses:
            return []
        out: list[dict | None] = []
        for i in range(0, len(addresses), 100):
            chunk = addresses[i:i + 100]
            resp = await c.get_multiple_accounts([_pubkey(a) for a in chunk], commitment=Finalized,
                                                 encoding="base64")
            out.extend(_value(resp))
        return out

    async def _token_holdings(self, c, owner: str, mint: str, commitment=None) -> list[tuple[str, dict]]:
        """The owner's token accounts for ``mint``: ``[(address, token_account_info)]``."""
        from solana.rpc.commitment import Finalized
        from solana.rpc.models import TokenAccountOpts

        resp = await c.get_token_accounts_by_owner(_pubkey(owner), TokenAccountOpts(mint=_pubkey(mint, "mint"),
                                                                                    encoding="base64"),
                                                   commitment=commitment or Finalized)
        out = []
        for item in _value(resp):
            info = _token_account(item["account"])
            if info is not None and info["owner"] == owner and info["mint"] == mint:
                out.append((item["pubkey"], info))
        return out

    # -- observe ---------------------------------------------------------------------------------
    def observe(self, txids: Sequence[str], *, native_value: bool = True) -> dict[str, TxObservation]:
        self.check_cluster()
        from solana.rpc.commitment import Finalized

        out: dict[str, TxObservation] = {}
        valid = []
        for t in dict.fromkeys(txids):
            try:
                _signature(t)
                valid.append(t)
            except ChainError:
                out[t] = TxObservation(txid=t, found=False, failure_reason="malformed txid")

        async def fn(c):
            from solana.rpc.core import RPCException

            slot = c.get_slot(commitment=Finalized)
            txs = [self._get_tx(c, t) for t in valid]
            res = await asyncio.gather(slot, *txs, return_exceptions=True)
            if isinstance(res[0], BaseException):
                raise res[0]
            for r in res[1:]:
                if isinstance(r, BaseException) and not isinstance(r, RPCException):
                    raise r
            return _result(res[0]), res[1:]

        slot, txs = self.rpc.run(fn, "getTransaction")
        for t, tx in zip(valid, txs):
            if isinstance(tx, BaseException):
                out[t] = TxObservation(txid=t, found=False, failure_reason=f"node_error: {tx}")
            elif tx is None:
                out[t] = TxObservation(txid=t, found=False)
            else:
                self._tx_cache[t] = tx
                out[t] = self._observation(t, tx, slot)
        return {t: out[t] for t in txids}

    def _observation(self, txid: str, tx: dict, finalized_slot: int) -> TxObservation:
        meta = tx.get("meta") or {}
        keys = _account_keys(tx)
        fee_payer = keys[0] if keys else None
        err = meta.get("err")
        transfers: list[Transfer] = []
        if err is None:
            pre, post = meta.get("preBalances") or [], meta.get("postBalances") or []
            for i, (a, b) in enumerate(zip(pre, post)):
                if b > a and i < len(keys):
                    transfers.append(Transfer(index=i, asset=NATIVE, sender=fee_payer, recipient=keys[i], amount=b - a))
            pre_t, post_t = _token_sums(meta.get("preTokenBalances")), _token_sums(meta.get("postTokenBalances"))
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
            failure_reason=None if err is None else _reason(err, meta.get("logMessages")),
            block_number=slot, block_hash=None,
            block_time=datetime.fromtimestamp(bt, tz=timezone.utc) if bt is not None else None,
            confirmations=max(FINALIZED_CONFIRMATIONS, finalized_slot - slot + 1),
            sender=fee_payer, to=None, transfers=tuple(transfers))

    def tx_status(self, txid: str) -> TxObservation:
        obs = self.observe([txid])[txid]
        if obs.found or obs.failure_reason == "malformed txid":
            return obs

        async def fn(c):
            return _value(await c.get_signature_statuses([_signature(txid)], search_transaction_history=True))

        st = self.rpc.run(fn, "getSignatureStatuses")[0]
        if st is None:
            return obs
        err = st.get("err")
        return TxObservation(txid=txid, found=True, success=None if err is None else False,
                             failure_reason=None if err is None else _reason(err, None),
                             block_number=None if err is None else st.get("slot"), confirmations=0)

    # -- prove -----------------------------------------------------------------------------------
    def prove(self, items: Sequence[tuple[TxObservation, Transfer]]) -> list[BalanceProof]:
        results = self.prove_each(items)
        for r in results:
            if isinstance(r, ChainError):
                raise r
        return results  # type: ignore[return-value]

    def prove_each(self, items: Sequence[tuple[TxObservation, Transfer]]) -> list[BalanceProof | ChainError]:
        self.check_cluster()
        from solana.rpc.commitment import Finalized

        need_tx = sorted({obs.txid for obs, _ in items if obs.txid not in self._tx_cache})
        recipients = sorted({tr.recipient for _, tr in items})
        mints = sorted({tr.asset for _, tr in items if tr.asset != NATIVE})
        native = sorted({tr.recipient for _, tr in items if tr.asset == NATIVE})
        holdings_keys = sorted({(tr.recipient, tr.asset) for _, tr in items if tr.asset != NATIVE})
        for a in recipients + mints:
            _pubkey(a)

        async def fn(c):
            from solana.rpc.core import RPCException

            txs = asyncio.gather(*[self._get_tx(c, t) for t in need_tx], return_exceptions=True)
            accounts = self._accounts(c, recipients + mints)
            balances = asyncio.gather(*[c.get_balance(_pubkey(a), commitment=Finalized) for a in native],
                                      return_exceptions=True)
            holdings = asyncio.gather(*[self._token_holdings(c, o, m) for o, m in holdings_keys],
                                      return_exceptions=True)
            t, acc, bal, hold = await asyncio.gather(txs, accounts, balances, holdings)
            for r in list(t) + list(bal) + list(hold):
                if isinstance(r, BaseException) and not isinstance(r, RPCException):
                    raise r
            return t, acc, bal, hold

        t_res, acc_res, bal_res, hold_res = self.rpc.run(fn, "prove")
        for txid, tx in zip(need_tx, t_res):
            if isinstance(tx, dict):
                self._tx_cache[txid] = tx
        accounts = dict(zip(recipients + mints, acc_res))
        balances = {a: (None if isinstance(b, BaseException) else _value(b)) for a, b in zip(native, bal_res)}
        holdings = {k: h for k, h in zip(holdings_keys, hold_res)}
        out: list[BalanceProof | ChainError] = []
        for obs, tr in items:
            try:
                out.append(self._proof(obs, tr, accounts, balances, holdings))
            except ChainError as exc:
                out.append(exc)
        return out

    def _proof(self, obs: TxObservation, tr: Transfer, accounts: dict, balances: dict, holdings: dict) -> BalanceProof:
        tx = self._tx_cache.get(obs.txid)
        if tx is None:
            raise RetryableChainError(f"the node did not return transaction {obs.txid}", code="node_error")
        meta = tx.get("meta") or {}
        keys = _account_keys(tx)
        recipient_acc = accounts.get(tr.recipient)
        parent = _token_account(recipient_acc)
        if parent is not None:
            return self._nested_proof(tr, keys, meta, parent, accounts, holdings)
        has_code = bool(recipient_acc and recipient_acc.get("executable"))
        if tr.asset == NATIVE:
            idx = tr.index if 0 <= tr.index < len(keys) and keys[tr.index] == tr.recipient else (
                keys.index(tr.recipient) if tr.recipient in keys else None)
            before = after = None
            if idx is not None:
                before, after = int(meta["preBalances"][idx]), int(meta["postBalances"][idx])
            else:
                before = after = 0  # not in the transaction: it received nothing
            now = balances.get(tr.recipient)
            if now is None:
                raise RetryableChainError(f"the node did not answer getBalance({tr.recipient})", code="node_error")
            return BalanceProof(transfer=tr, before=before, after=after, now=int(now),
                                decimals=self.network.native_decimals, symbol=self.network.native_symbol,
                                recipient_has_code=has_code)
        decimals = _mint_decimals(accounts.get(tr.asset))
        if decimals is None:
            raise PermanentChainError(f"{tr.asset} is not an SPL Token or Token-2022 mint on {self.network.key}",
                                      code="unknown_mint", details={"asset": tr.asset})
        pre = _token_sums(meta.get("preTokenBalances")).get((tr.recipient, tr.asset), (0, decimals, []))[0]
        post = _token_sums(meta.get("postTokenBalances")).get((tr.recipient, tr.asset), (0, decimals, []))[0]
        held = holdings.get((tr.recipient, tr.asset))
        if isinstance(held, BaseException) or held is None:
            raise RetryableChainError(f"the node did not answer getTokenAccountsByOwner({tr.recipient})",
                                      code="node_error")
        token = self.network.listed_token(tr.asset)
        return BalanceProof(transfer=tr, before=pre, after=post, now=sum(i["amount"] for _, i in held),
                            decimals=decimals, symbol=token.symbol if token else None, recipient_has_code=has_code)

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
                code="lamports_to_token_account",
                details=base)
        mint_acc = accounts.get(tr.asset)
        decimals = _mint_decimals(mint_acc)
        if decimals is None:
            raise PermanentChainError(f"{tr.asset} is not an SPL Token or Token-2022 mint on {self.network.key}",
                                      code="unknown_mint", details={"asset": tr.asset})
        nested = self._ata(tr.recipient, tr.asset, program)
        moved = {keys[int(e["accountIndex"])] for e in (meta.get("postTokenBalances") or [])
                 if e.get("owner") == tr.recipient and e.get("mint") == tr.asset and int(e["accountIndex"]) < len(keys)}
        base["token_account"] = nested
        problem = None
        if self._ata(wallet, parent_mint, program) != tr.recipient:
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
        pre = _token_sums(meta.get("preTokenBalances")).get((tr.recipient, tr.asset), (0, decimals, []))[0]
        post = _token_sums(meta.get("postTokenBalances")).get((tr.recipient, tr.asset), (0, decimals, []))[0]
        held = holdings.get((tr.recipient, tr.asset))
        if isinstance(held, BaseException) or held is None:
            raise RetryableChainError(f"the node did not answer getTokenAccountsByOwner({tr.recipient})",
                                      code="node_error")
        now = sum(i["amount"] for a, i in held if a == nested)  # only the nested ATA is recoverable
        token = self.network.listed_token(tr.asset)
        return BalanceProof(transfer=tr, before=pre, after=post, now=now, decimals=decimals,
                            symbol=token.symbol if token else None, recipient_has_code=False,
                            details={"nested": True, **base})

    def nested_parent(self, address: str) -> dict | None:
        """``{"wallet", "mint", "token_account", "program"}`` when ``address`` is a token account (tokens
        sent to it are in a *nested* token account owned by it), else None."""
        return self.nested_parents([address]).get(address)

    def nested_parents(self, addresses: Sequence[str]) -> dict[str, dict]:
        """:meth:`nested_parent` for many addresses in one batched read; only token accounts are keys."""
        valid = []
        for a in dict.fromkeys(addresses):
            try:
                _pubkey(a)
                valid.append(a)
            except ChainError:
                continue
        if not valid:
            return {}

        async def fn(c):
            return await self._accounts(c, valid)

        out = {}
        for address, acc in zip(valid, self.rpc.run(fn, "getMultipleAccounts")):
            info = _token_account(acc)
            if info is not None:
                out[address] = {"wallet": info["owner"], "mint": info["mint"], "token_account": address,
                                "program": info["program"]}
        return out

    # -- cost ------------------------------------------------------------------------------------
    def _ata(self, owner: str, mint: str, program: str) -> str:
        from spl.token.instructions import get_associated_token_address

        return str(_guard("associated token address", lambda: get_associated_token_address(
            _pubkey(owner), _pubkey(mint, "mint"), _pubkey(program)), code="invalid_address"))

    def _cost_facts(self, request: SweepRequest) -> dict:
        """Mint program and decimals, which ATAs exist, rent figures (one round of reads); for a
        *nested* deposit (``deposit_address`` is itself a token account) also the facts RecoverNested
        needs (``facts["nested"]``, else None)."""
        is_native = request.asset == NATIVE
        mint = request.asset
        deposit = request.deposit_address

        async def fn(c):
            rent0 = c.get_minimum_balance_for_rent_exemption(0)
            if is_native:
                return {"rent0": _result(await rent0), "nested": None}
            mint_acc, dep_acc = await self._accounts(c, [mint, deposit])
            program = mint_acc.get("owner") if mint_acc else None
            if _mint_decimals(mint_acc) is None:
                raise PermanentChainError(f"{mint} is not an SPL Token or Token-2022 mint on {self.network.key}",
                                          code="unknown_mint", details={"asset": mint})
            atas = {"destination": self._ata(request.destination, mint, program)}
            if request.fee_total > 0:
                atas["fee_collector"] = self._ata(request.fee_collector, mint, program)
            nested = self._nested_facts(request, dep_acc, program)
            extra = [nested["token_account"], nested["wallet_ata"]] if nested else []
            accs, rent_ata, r0 = await asyncio.gather(
                self._accounts(c, list(atas.values()) + extra),
                c.get_minimum_balance_for_rent_exemption(ATA_SIZE[program]), rent0)
            if nested:
                accs, (nested_acc, wallet_ata_acc) = accs[:len(atas)], accs[len(atas):]
                self._nested_accounts(request, nested, nested_acc, wallet_ata_acc, _result(rent_ata))
            return {"rent0": _result(r0), "program": program, "decimals": _mint_decimals(mint_acc), "atas": atas,
                    "missing": [role for role, acc in zip(atas, accs) if acc is None],
                    "ata_accounts": dict(zip(atas.values(), accs)), "rent_ata": _result(rent_ata), "nested": nested}

        return self.rpc.run(fn, "cost facts")

    def _nested_facts(self, request: SweepRequest, dep_acc: dict | None, program: str) -> dict | None:
        """None for an ordinary deposit; for a deposit address that is a token account (tokens sent to an
        ATA's address as if it were a wallet) the accounts of RecoverNested, checked to be recoverable."""
        parent = _token_account(dep_acc)
        if parent is None:
            return None
        deposit, wallet = request.deposit_address, parent["owner"]
        details = {"parent_token_account": deposit, "wallet": wallet, "parent_mint": parent["mint"],
                   "nested_mint": request.asset}
        if parent["program"] != program:
            raise PermanentChainError(f"the nested mint {request.asset} belongs to {program}, the parent token account "
                                      f"{deposit} to {parent['program']}: RecoverNested needs one token program",
                                      code="nested_not_recoverable", details=details)
        if self._ata(wallet, parent["mint"], program) != deposit:
            raise PermanentChainError(f"{deposit} is a token account of {wallet} but not its associated token account "
                                      f"for {parent['mint']}: RecoverNested cannot sign for it",
                                      code="nested_not_recoverable", details=details)
        if wallet in (request.gas_station_address, request.destination, request.fee_collector):
            raise SweepRefused(f"the nested deposit's wallet {wallet} is also the gas station, destination or fee "
                               "collector", code="destination_unusable", details=details)
        return {**details, "token_program": program, "token_account": self._ata(deposit, request.asset, program),
                "wallet_ata": self._ata(wallet, request.asset, program)}

    def _nested_accounts(self, request: SweepRequest, nested: dict, nested_acc: dict | None,
                         wallet_ata_acc: dict | None, rent_ata: int) -> None:
        """Fill ``nested`` with the balances that decide the plan: what RecoverNested moves, whether the
        wallet's ATA for the mint must be created (and closes again), the rent returned to the wallet."""
        info = _token_account(nested_acc)
        if info is None or info["mint"] != request.asset or info["owner"] != request.deposit_address:
            raise PermanentChainError(f"there is no nested token account {nested['token_account']} of "
                                      f"{request.deposit_address} for {request.asset} any more",
                                      code="funds_missing", details={"token_account": nested["token_account"]})
        wallet_ata = _token_account(wallet_ata_acc)
        if wallet_ata_acc is not None and (wallet_ata is None or wallet_ata["mint"] != request.asset
                                           or wallet_ata["owner"] != nested["wallet"]):
            raise SweepRefused(f"the wallet's associated token account {nested['wallet_ata']} exists but is not a "
                               f"token account of {nested['wallet']} for {request.asset}",
                               code="destination_unusable")
        held_before = wallet_ata["amount"] if wallet_ata else 0
        # closed at the end when it is left empty: it then ends as it began (absent, or never holding more)
        close = held_before + info["amount"] == request.gross
        create = wallet_ata_acc is None
        nested.update({"nested_amount": info["amount"], "nested_lamports": int(nested_acc["lamports"]),
                       "wallet_ata_amount": held_before, "create_wallet_ata": create, "close_wallet_ata": close,
                       # created and closed in the same transaction: the gas station gets its rent back
                       "temporary_rent": rent_ata if create and close else 0,
                       "kept_rent": rent_ata if create and not close else 0})

    def estimate_cost(self, request: SweepRequest) -> CostEstimate:
        self.check_cluster()
        _pubkey(request.deposit_address, "deposit address")
        _pubkey(request.destination, "destination")
        _pubkey(request.fee_collector, "fee collector")
        facts = self._cost_facts(request)
        is_native = request.asset == NATIVE
        nested = facts.get("nested")
        signatures = 2
        fee = signatures * LAMPORTS_PER_SIGNATURE
        rent = 0 if is_native else len(facts["missing"]) * facts["rent_ata"] + (nested["kept_rent"] if nested else 0)
        params = {
            "version": PARAMS_VERSION,
            "kind": "native" if is_native else "token",
            "signatures": signatures,
            "lamports_per_signature": str(LAMPORTS_PER_SIGNATURE),
            "fee": str(fee),
            "rent": str(rent),
            "create_atas": [] if is_native else list(facts["missing"]),
            "token_program": None if is_native else facts["program"],
            "cost_mode": request.cost_mode,
        }
        if nested:
            params["nested"] = {"wallet": nested["wallet"], "token_account": nested["token_account"],
                                "create_wallet_ata": nested["create_wallet_ata"],
                                "close_wallet_ata": nested["close_wallet_ata"],
                                "temporary_rent": str(nested["temporary_rent"]),
                                "kept_rent": str(nested["kept_rent"])}
        return CostEstimate(native_cost=fee + rent, params=params)

    # -- prepare ---------------------------------------------------------------------------------
    def prepare(self, request: SweepRequest, cost: CostEstimate) -> SweepPlan:
        self.check_cluster()
        from solana.rpc.commitment import Finalized

        params = cost.params
        if int(params.get("version", 0)) != PARAMS_VERSION or params.get("kind") != (
                "native" if request.asset == NATIVE else "token"):
            raise SweepRefused("the quote's cost parameters are from another version or asset kind: re-quote",
                               code="requote")
        if int(params["fee"]) + int(params["rent"]) != cost.native_cost:
            raise SweepRefused("the quote's native cost does not match its parameters: re-quote", code="requote")
        if not request.gas_station_address or not request.gas_station_path:
            raise SweepRefused("the gas station pays every Solana sweep's fee: its address and path must be known "
                               "(configure gas_station_path and the signer, or RECOVER_GAS_STATION_ADDRESS)",
                               code="gas_station_unknown")
        deposit = request.deposit_address
        station = request.gas_station_address
        for addr, what in ((deposit, "deposit address"), (station, "gas station"),
                           (request.destination, "destination"), (request.fee_collector, "fee collector")):
            _pubkey(addr, what)
        if station == deposit:
            raise SweepRefused("the gas station cannot be the deposit address", code="gas_station_unknown")
        facts = self._cost_facts(request)
        is_native = request.asset == NATIVE

        async def balances(c):
            st = c.get_balance(_pubkey(station), commitment=Finalized)
            if is_native:
                dep, st_bal = await asyncio.gather(c.get_balance(_pubkey(deposit), commitment=Finalized), st)
                return _value(dep), _value(st_bal), []
            hold, st_bal = await asyncio.gather(self._token_holdings(c, deposit, request.asset), st)
            return None, _value(st_bal), hold

        dep_lamports, station_lamports, holdings = self.rpc.run(balances, "balances")
        instructions: list[dict]
        signer, temporary = deposit, 0
        meta: dict[str, Any] = {"lamports_per_signature": str(LAMPORTS_PER_SIGNATURE), "signatures": 2,
                                "blockhash": "fetched at signing"}
        if is_native:
            reimburse = cost.native_cost if request.cost_mode == "deduct" else 0
            if (request.net < 0 or request.fee_total < 0
                    or request.net + request.fee_total + reimburse != request.gross):
                raise SweepRefused(
                    f"amounts do not add up: net {request.net} + fee {request.fee_total} + network cost paid by the "
                    f"deposit {reimburse} != gross {request.gross}", code="amounts_mismatch")
            if dep_lamports < request.gross:
                raise PermanentChainError(f"the deposit address {deposit} holds {dep_lamports} lamports, less than "
                                          f"the {request.gross} to sweep", code="funds_missing",
                                          details={"held": str(dep_lamports), "gross": str(request.gross)})
            residue = dep_lamports - request.gross
            if 0 < residue < facts["rent0"]:
                raise SweepRefused(
                    f"the deposit address holds {dep_lamports} lamports; moving {request.gross} would leave {residue}, "
                    f"above 0 but below the rent-exempt minimum {facts['rent0']}, which the runtime refuses: sweep "
                    "the whole balance (re-verify/re-quote) or decide by hand", code="rent_residue",
                    details={"held": str(dep_lamports), "gross": str(request.gross), "rent_min": str(facts["rent0"])})
            instructions = self._native_instructions(deposit, request, station, reimburse)
            meta.update({"deposit_lamports_before": str(dep_lamports), "closes_deposit": residue == 0,
                         "reimburse_gas_station": str(reimburse)})
        else:
            if request.net < 0 or request.fee_total < 0 or request.net + request.fee_total != request.gross:
                raise SweepRefused(f"amounts do not add up: net {request.net} + fee {request.fee_total} != gross "
                                   f"{request.gross}", code="amounts_mismatch")
            if facts["decimals"] != request.decimals:
                raise PermanentChainError(f"mint {request.asset} has {facts['decimals']} decimals, not the "
                                          f"{request.decimals} verified", code="decimals_mismatch")
            if params.get("token_program") != facts["program"]:
                raise SweepRefused("the mint's token program differs from the quote's: re-quote", code="requote")
            more = [r for r in facts["missing"] if r not in params.get("create_atas", [])]
            if more:
                raise SweepRefused(f"the sweep now has to create {', '.join(more)} token account(s) the quote did not "
                                   "pay rent for: re-quote", code="requote")
            for role, addr in facts["atas"].items():
                acc = facts["ata_accounts"][addr]
                info = _token_account(acc)
                if acc is not None and (info is None or info["mint"] != request.asset):
                    raise SweepRefused(f"the {role}'s associated token account {addr} exists but is not a token "
                                       f"account of {request.asset}", code="destination_unusable")
            nested = facts.get("nested")
            quoted = params.get("nested")
            if bool(nested) != bool(quoted) or (nested and (
                    quoted.get("wallet") != nested["wallet"] or quoted.get("kept_rent") != str(nested["kept_rent"]))):
                raise SweepRefused("the deposit's nested token account (or the wallet's associated token account) "
                                   "changed since the quote: re-quote", code="requote")
        if not is_native and nested:
            if nested["nested_amount"] < request.gross:
                raise PermanentChainError(
                    f"the nested token account {nested['token_account']} holds {nested['nested_amount']} of "
                    f"{request.asset}, less than the {request.gross} to sweep", code="funds_missing",
                    details={"held": str(nested["nested_amount"]), "gross": str(request.gross)})
            signer = nested["wallet"]
            instructions = self._nested_instructions(request, station, nested, facts["atas"])
            temporary = nested["temporary_rent"]
            meta.update({"token_program": facts["program"], "source_token_account": nested["wallet_ata"],
                         "close_source": nested["close_wallet_ata"], "create_atas": list(facts["missing"]),
                         "nested": {k: (str(v) if isinstance(v, int) and not isinstance(v, bool) else v)
                                    for k, v in nested.items()}})
        elif not is_native:
            ata = self._ata(deposit, request.asset, facts["program"])
            by_addr = dict(holdings)
            source = ata if by_addr.get(ata, {}).get("amount", 0) >= request.gross else next(
                (a for a, i in holdings if i["amount"] >= request.gross), None)
            held = sum(i["amount"] for _, i in holdings)
            if source is None:
                raise PermanentChainError(
                    f"no token account of {deposit} for {request.asset} holds {request.gross} "
                    f"(total held {held} in {len(holdings)} account(s))", code="funds_missing",
                    details={"held": str(held), "gross": str(request.gross)})
            close = by_addr[source]["amount"] == request.gross
            instructions = self._token_instructions(deposit, request, station, facts["program"], source,
                                                    facts["atas"], close)
            meta.update({"token_program": facts["program"], "source_token_account": source, "close_source": close,
                         "create_atas": list(facts["missing"])})
        needed = cost.native_cost + temporary
        if station_lamports < needed:
            raise SweepRefused(f"the gas station {station} holds {station_lamports} lamports, less than the "
                               f"{needed} the sweep needs: fund it", code="gas_station_underfunded",
                               details={"address": station, "balance": str(station_lamports),
                                        "needed": str(needed)})
        step = PlanStep(seq=0, role="sweep", signer_address=signer, signer_path=request.deposit_path,
                        tx={"format": TX_FORMAT, "fee_payer": station, "fee_payer_path": request.gas_station_path,
                            "instructions": instructions})
        plan = SweepPlan(network=self.network.key, family="solana", case_id=request.case_id, asset=request.asset,
                         gross=request.gross, net=request.net, fee_total=request.fee_total,
                         native_cost=cost.native_cost, destination=request.destination,
                         fee_collector=request.fee_collector, steps=(step,), meta=meta)
        return self.simulate(plan)

    def _native_instructions(self, deposit: str, request: SweepRequest, station: str, reimburse: int) -> list[dict]:
        from solders.system_program import TransferParams, transfer

        legs = [(request.destination, request.net), (request.fee_collector, request.fee_total), (station, reimburse)]
        out = []
        for to, lamports in legs:
            if lamports > 0:
                out.append(encode_ix(transfer(TransferParams(from_pubkey=_pubkey(deposit), to_pubkey=_pubkey(to),
                                                             lamports=lamports))))
        return out

    def _nested_instructions(self, request: SweepRequest, station: str, nested: dict, atas: dict) -> list[dict]:
        """RecoverNested into the wallet's ATA for the mint (created idempotently by the gas station),
        the nested account's rent (closed to the wallet) on to the gas station, then the usual SPL
        sweep from the wallet's ATA, signed by the wallet."""
        from solders.instruction import AccountMeta, Instruction
        from solders.system_program import TransferParams, transfer
        from spl.token.constants import ASSOCIATED_TOKEN_PROGRAM_ID
        from spl.token.instructions import create_idempotent_associated_token_account

        program, mint, wallet = _pubkey(nested["token_program"]), _pubkey(request.asset), _pubkey(nested["wallet"])
        out = [encode_ix(create_idempotent_associated_token_account(_pubkey(station), wallet, mint, program))]
        recover = Instruction(ASSOCIATED_TOKEN_PROGRAM_ID, bytes([RECOVER_NESTED]), [
            AccountMeta(_pubkey(nested["token_account"]), False, True),         # nested ATA (closed)
            AccountMeta(mint, False, False),                                    # nested mint
            AccountMeta(_pubkey(nested["wallet_ata"]), False, True),            # destination: wallet's ATA
            AccountMeta(_pubkey(nested["parent_token_account"]), False, False),  # owner ATA (the deposit address)
            AccountMeta(_pubkey(nested["parent_mint"]), False, False),          # owner ATA's mint
            AccountMeta(wallet, True, True),                                    # wallet: signs, gets the rent
            AccountMeta(program, False, False),                                 # token program
        ])
        out.append(encode_ix(recover))
        if nested["nested_lamports"] > 0:  # the wallet ends with what it had: no lamports stranded there
            out.append(encode_ix(transfer(TransferParams(from_pubkey=wallet, to_pubkey=_pubkey(station),
                                                         lamports=nested["nested_lamports"]))))
        out += self._token_instructions(nested["wallet"], request, station, nested["token_program"],
                                        nested["wallet_ata"], atas, nested["close_wallet_ata"])
        return out

    def _token_instructions(self, deposit: str, request: SweepRequest, station: str, program: str, source: str,
                            atas: dict, close: bool) -> list[dict]:
        from spl.token.instructions import close_account, create_idempotent_associated_token_account, transfer_checked
        from spl.token.models import CloseAccountParams, TransferCheckedParams

        prog, mint, owner, payer = _pubkey(program), _pubkey(request.asset), _pubkey(deposit), _pubkey(station)
        out = []
        legs = [(request.destination, atas["destination"], request.net)]
        if request.fee_total > 0:
            legs.append((request.fee_collector, atas["fee_collector"], request.fee_total))
        for wallet, ata, amount in legs:
            out.append(encode_ix(create_idempotent_associated_token_account(payer, _pubkey(wallet), mint, prog)))
            if amount > 0:
                out.append(encode_ix(transfer_checked(TransferCheckedParams(
                    program_id=prog, source=_pubkey(source), mint=mint, dest=_pubkey(ata), owner=owner,
                    amount=amount, decimals=request.decimals))))
        if close:
            out.append(encode_ix(close_account(CloseAccountParams(program_id=prog, account=_pubkey(source),
                                                                   dest=payer, owner=owner))))
        return out

    # -- build / simulate ------------------------------------------------------------------------
    def _message(self, step: PlanStep, blockhash):
        from solders.message import MessageV0

        if step.tx.get("format") != TX_FORMAT:
            raise SweepRefused(f"step {step.seq} is not a Solana instruction list", code="plan_malformed")
        ixs = [decode_ix(d) for d in step.tx["instructions"]]
        payer = _pubkey(step.tx["fee_payer"], "fee payer")
        return _guard("cannot compile the sweep message", lambda: MessageV0.try_compile(payer, ixs, [], blockhash),
                      code="plan_malformed")

    def simulate(self, plan: SweepPlan) -> SweepPlan:
        """``simulateTransaction`` of every step (``sigVerify`` false, ``replaceRecentBlockhash`` true);
        returns the plan with ``simulation`` filled, or raises ``PermanentChainError`` ``simulation_failed``."""
        from solders.hash import Hash
        from solders.signature import Signature
        from solders.transaction import VersionedTransaction
        from solana.rpc.commitment import Confirmed

        if plan.family != "solana":
            raise SweepRefused("this plan is not for a Solana network", code="wrong_chain")
        txs = []
        for step in plan.steps:
            msg = self._message(step, Hash.default())
            n = msg.header.num_required_signatures
            txs.append(_guard("cannot build the transaction to simulate",
                              lambda m=msg, n=n: VersionedTransaction.populate(m, [Signature.default()] * n),
                              code="plan_malformed"))

        async def fn(c):
            return await asyncio.gather(*[c.simulate_transaction(t, sig_verify=False, commitment=Confirmed,
                                                                 replace_recent_blockhash=True) for t in txs])

        results = self.rpc.run(fn, "simulateTransaction")
        steps = []
        for step, resp in zip(plan.steps, results):
            value = _value(resp)
            if value.get("err") is not None:
                reason = _reason(value["err"], value.get("logs"))
                raise PermanentChainError(f"{step.role} would fail: {reason}", code="simulation_failed",
                                          details={"role": step.role, "reason": reason, "err": value["err"],
                                                   "logs": (value.get("logs") or [])[-8:], "asset": plan.asset})
            steps.append(replace(step, simulation={"ok": True, "units_consumed": value.get("unitsConsumed")}))
        return replace(plan, steps=tuple(steps))

    # -- sign / send -----------------------------------------------------------------------------
    def sign(self, plan: SweepPlan, key_for_path: Callable[[str], Any]) -> list[str]:
        """Signed transactions (base64 of the wire bytes), one per step, with a fresh blockhash."""
        from solders.keypair import Keypair
        from solders.transaction import VersionedTransaction
        from solana.rpc.commitment import Confirmed

        if plan.family != "solana" or plan.network != self.network.key:
            raise SweepRefused("this plan is not for this Solana network", code="wrong_chain")

        def keypair(path: str, expected: str, what: str):
            key = key_for_path(path)
            if not isinstance(key, Keypair):
                key = _guard(f"the key for {path} is not a Solana keypair", lambda: Keypair.from_bytes(bytes(key)),
                             code="signer_key")
            if str(key.pubkey()) != expected:
                raise SignerMismatch(f"the key derived at {path} controls {key.pubkey()}, not {expected} ({what})",
                                     details={"path": path, "expected": expected, "derived": str(key.pubkey())})
            return key

        async def fn(c):
            return _value(await c.get_latest_blockhash(commitment=Confirmed))["blockhash"]

        blockhash_text = self.rpc.run(fn, "getLatestBlockhash")
        from solders.hash import Hash

        blockhash = _guard("bad blockhash from the node", lambda: Hash.from_string(blockhash_text), code="node_error")
        raws = []
        for step in plan.steps:
            payer = keypair(step.tx["fee_payer_path"], step.tx["fee_payer"], "fee payer / gas station")
            owner = keypair(step.signer_path, step.signer_address, f"step {step.seq}, {step.role}")
            msg = self._message(step, blockhash)
            signers = {str(payer.pubkey()): payer, str(owner.pubkey()): owner}
            needed = [str(k) for k in msg.account_keys[:msg.header.num_required_signatures]]
            if set(needed) - set(signers):
                raise SweepRefused(f"step {step.seq} needs signatures of {needed}, not only the deposit and the gas "
                                   "station", code="plan_malformed")
            tx = _guard("cannot sign the sweep", lambda: VersionedTransaction(msg, [signers[k] for k in needed]),
                        code="sign_failed")
            raws.append(base64.b64encode(bytes(tx)).decode())
        return raws

    def _decode_raw(self, raw: str):
        from solders.transaction import VersionedTransaction

        return _guard("not a signed Solana transaction (base64)",
                      lambda: VersionedTransaction.from_bytes(base64.b64decode(raw, validate=True)), code="invalid_raw")

    def txid_of(self, raw: str) -> str:
        return str(self._decode_raw(raw).signatures[0])

    def broadcast(self, raw: str) -> str:
        from solana.rpc.commitment import Confirmed
        from solana.rpc.core import RPCException
        from solana.rpc.models import TxOpts

        tx = self._decode_raw(raw)
        txid = str(tx.signatures[0])
        wire = bytes(tx)

        async def fn(c):
            try:
                await c.send_raw_transaction(wire, TxOpts(skip_preflight=False, preflight_commitment=Confirmed))
                return None
            except RPCException as exc:
                status = _value(await c.get_signature_statuses([tx.signatures[0]], search_transaction_history=True))
                return str(exc), status[0]

        res = self.rpc.run(fn, "sendTransaction")
        if res is None:
            return txid
        message, status = res
        low = message.lower()
        if "already been processed" in low or "alreadyprocessed" in low or status is not None:
            return txid
        code = "blockhash_expired" if "blockhashnotfound" in low or "blockhash not found" in low else "broadcast_rejected"
        raise PermanentChainError(f"the node rejected transaction {txid}: {message}"
                                  + ("; the blockhash expired: sign again" if code == "blockhash_expired" else ""),
                                  code=code, details={"txid": txid})

    def recheck_deposit(self, *, txid: str, block_number: int | None, block_hash: str | None, recipient: str,
                        asset: str, amount: int, index: int | None = None) -> str | None:
        """None when the transaction is still finalized at ``block_number``, successful, and the
        address still holds at least ``amount``; else the reason."""
        self.check_cluster()
        from solana.rpc.commitment import Finalized

        _pubkey(recipient)

        async def fn(c):
            tx = self._get_tx(c, txid)
            if asset == NATIVE:
                bal = c.get_balance(_pubkey(recipient), commitment=Finalized)
                t, b = await asyncio.gather(tx, bal)
                return t, _value(b)
            t, h = await asyncio.gather(tx, self._token_holdings(c, recipient, asset))
            return t, sum(i["amount"] for _, i in h)

        tx, balance = self.rpc.run(fn, "recheck")
        if tx is None:
            return f"transaction {txid} is no longer known at finalized commitment"
        if block_number is not None and int(tx["slot"]) != block_number:
            return f"transaction {txid} is now in slot {tx['slot']}, not {block_number}"
        if (tx.get("meta") or {}).get("err") is not None:
            return f"transaction {txid} failed on-chain"
        if balance < amount:
            return f"{recipient} now holds {balance} base units, less than the {amount} deposited"
        return None
