"""A small Solana JSON-RPC server on 127.0.0.1 that answers from LiteSVM state.

LiteSVM (``solders.litesvm``, SPL Token / Token-2022 / associated-token programs preloaded) executes
every transaction for real; this module adds what a validator's RPC would say about it, so that the
adapter's real JSON-RPC client (``chains.transport.JsonRpcClient``, batched) runs against it:

* every executed transaction is recorded with the account keys of its message, lamport balances
  before and after, token balances before and after (``accountIndex``, ``mint``, ``owner``,
  ``uiTokenAmount``) of every token account among its keys, fee, ``err``, logs, slot and block time;
* JSON-RPC batches (a JSON array of requests) are answered with an array, each request on its own;
* methods: getTransaction, getBalance, getAccountInfo, getMultipleAccounts, getTokenAccountsByOwner,
  getSignaturesForAddress, getLatestBlockhash, getSlot, getBlockHeight, sendTransaction, simulateTransaction,
  getSignatureStatuses, getMinimumBalanceForRentExemption, getGenesisHash, getHealth.

Finality: there is one fork and no voting, so everything executed is *finalized* at once; each
executed transaction gets its own slot (the slot counter advances by one per transaction), and
``getSlot`` answers the latest one at every commitment (tests may advance ``slot`` by hand to
age a transaction).

Signatures: LiteSVM runs with sigverify off so that ``simulateTransaction`` with ``sigVerify: false``
works on unsigned transactions; ``sendTransaction`` verifies every signature itself first.
LiteSVM accepts only its *latest* blockhash, and it changes only when a helper here expires it
(``expire_blockhash``), never on its own.
"""

from __future__ import annotations

import base64
import json
import struct
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import solders.transaction_status as ts
from solders.hash import Hash
from solders.keypair import Keypair
from solders.litesvm import LiteSVM
from solders.message import MessageV0
from solders.pubkey import Pubkey
from solders.signature import Signature
from solders.system_program import CreateAccountParams, TransferParams, create_account, transfer
from solders.transaction import VersionedTransaction
from solders.transaction_metadata import FailedTransactionMetadata
from spl.token.constants import ASSOCIATED_TOKEN_PROGRAM_ID, TOKEN_2022_PROGRAM_ID, TOKEN_PROGRAM_ID
from spl.token.instructions import (
    create_idempotent_associated_token_account,
    get_associated_token_address,
    initialize_mint2,
    mint_to_checked,
    transfer_checked,
)
from spl.token.models import InitializeMint2Params, MintToCheckedParams, TransferCheckedParams

TOKEN_PROGRAMS = (TOKEN_PROGRAM_ID, TOKEN_2022_PROGRAM_ID)
MINT_SIZE = 82
TOKEN_ACCOUNT_SIZE = 165
GENESIS = "LiteSVM1111111111111111111111111111111111111"
BASE_TIME = 1_700_000_000
# errors raised before execution: the transaction is rejected, not recorded, no fee charged
_EXECUTED_ERRORS = (ts.TransactionErrorInstructionError, ts.TransactionErrorInsufficientFundsForRent,
                    ts.TransactionErrorDuplicateInstruction)


def err_json(err: Any) -> Any:
    """A solders TransactionError as the RPC's JSON (``{"InstructionError": [0, {"Custom": 1}]}``...)."""
    if err is None:
        return None
    if isinstance(err, ts.TransactionErrorFieldless):
        return str(err).split(".")[-1]
    if isinstance(err, ts.TransactionErrorInstructionError):
        inner = err.err
        if isinstance(inner, ts.InstructionErrorCustom):
            inner_json: Any = {"Custom": inner.code}
        elif isinstance(inner, ts.InstructionErrorBorshIO):
            inner_json = {"BorshIoError": inner.value}
        else:
            inner_json = str(inner).split(".")[-1]
        return {"InstructionError": [err.index, inner_json]}
    if isinstance(err, ts.TransactionErrorInsufficientFundsForRent):
        return {"InsufficientFundsForRent": {"account_index": err.account_index}}
    if isinstance(err, ts.TransactionErrorDuplicateInstruction):
        return {"DuplicateInstruction": err.index}
    return {"InstructionError": [0, "GenericError"]}  # pragma: no cover - unknown shape


def _ui_amount(amount: int, decimals: int) -> dict:
    text = str(amount).rjust(decimals + 1, "0")
    whole, frac = (text[:-decimals], text[-decimals:]) if decimals else (text, "")
    frac = frac.rstrip("0")
    ui = f"{whole}.{frac}" if frac else whole
    return {"amount": str(amount), "decimals": decimals, "uiAmount": float(ui) if amount else None,
            "uiAmountString": ui}


class SolanaDevnet:
    """LiteSVM plus the recorded history and the JSON-RPC server (``url``); ``close()`` stops it."""

    def __init__(self) -> None:
        self.svm = LiteSVM().with_sigverify(False)
        self.lock = threading.RLock()
        self.slot = 1
        self.records: dict[str, dict] = {}
        self.known: set[str] = set()  # addresses seen (token accounts are found among them)
        self.requests: list[str] = []  # RPC method names, in order (tests may look)
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    # -- state reading ---------------------------------------------------------------------------
    def balance(self, address: Pubkey | str) -> int:
        with self.lock:
            return self.svm.get_balance(_pk(address)) or 0

    def account(self, address: Pubkey | str):
        with self.lock:
            return self.svm.get_account(_pk(address))

    def token_account(self, address: Pubkey | str) -> dict | None:
        """``{"mint", "owner", "amount", "program"}`` of an initialised token account, else None."""
        acc = self.account(address)
        return _token_account(acc)

    def decimals(self, mint: Pubkey | str) -> int:
        acc = self.account(mint)
        return acc.data[44]

    def _token_balances(self, keys: list[Pubkey]) -> list[dict]:
        out = []
        for i, key in enumerate(keys):
            info = _token_account(self.svm.get_account(key))
            if info is None:
                continue
            mint = self.svm.get_account(Pubkey.from_string(info["mint"]))
            decimals = mint.data[44] if mint is not None and len(mint.data) >= MINT_SIZE else 0
            out.append({"accountIndex": i, "mint": info["mint"], "owner": info["owner"],
                        "programId": info["program"], "uiTokenAmount": _ui_amount(info["amount"], decimals)})
        return out

    # -- executing -------------------------------------------------------------------------------
    def execute(self, tx: VersionedTransaction, *, verify: bool = True) -> tuple[str, Any]:
        """Run ``tx``; returns ``(signature, err)`` (err None: success).  A transaction rejected
        before execution raises ``Rejected`` and is not recorded."""
        with self.lock:
            sig = str(tx.signatures[0])
            if sig in self.records:
                raise Rejected("AlreadyProcessed", "This transaction has already been processed")
            if verify and not all(tx.verify_with_results()):
                raise Rejected("SignatureFailure", "Transaction did not pass signature verification")
            msg = tx.message
            keys = list(msg.account_keys)
            self.known.update(str(k) for k in keys)
            pre = [self.svm.get_balance(k) or 0 for k in keys]
            pre_tok = self._token_balances(keys)
            res = self.svm.send_transaction(tx)
            err = res.err() if isinstance(res, FailedTransactionMetadata) else None
            meta = res.meta() if isinstance(res, FailedTransactionMetadata) else res
            if err is not None and not isinstance(err, _EXECUTED_ERRORS):
                raise Rejected(err_json(err), f"Transaction failed: {err}")
            self.slot += 1
            post = [self.svm.get_balance(k) or 0 for k in keys]
            post_tok = self._token_balances(keys)
            header = msg.header
            n_signed = header.num_required_signatures
            n_ro_signed = header.num_readonly_signed_accounts
            n_ro_unsigned = header.num_readonly_unsigned_accounts
            account_keys = []
            for i, k in enumerate(keys):
                signer = i < n_signed
                writable = (i < n_signed - n_ro_signed) if signer else (i < len(keys) - n_ro_unsigned)
                account_keys.append({"pubkey": str(k), "writable": writable, "signer": signer, "source": "transaction"})
            instructions = [{"programId": str(keys[ix.program_id_index]),
                             "accounts": [str(keys[a]) for a in bytes(ix.accounts)],
                             "data": _b58encode(bytes(ix.data)), "stackHeight": None}
                            for ix in msg.instructions]
            self.records[sig] = {
                "slot": self.slot,
                "blockTime": BASE_TIME + self.slot,
                "version": 0 if isinstance(msg, MessageV0) else "legacy",
                "transaction": {
                    "signatures": [str(s) for s in tx.signatures],
                    "message": {"accountKeys": account_keys, "recentBlockhash": str(msg.recent_blockhash),
                                "instructions": instructions, "addressTableLookups": []},
                },
                "meta": {
                    "err": err_json(err),
                    "status": {"Ok": None} if err is None else {"Err": err_json(err)},
                    "fee": pre[0] - post[0] if err is not None else meta.fee(),
                    "preBalances": pre, "postBalances": post,
                    "innerInstructions": [], "logMessages": list(meta.logs()),
                    "preTokenBalances": pre_tok, "postTokenBalances": post_tok,
                    "rewards": [], "loadedAddresses": {"writable": [], "readonly": []},
                    "computeUnitsConsumed": meta.compute_units_consumed(),
                },
            }
            return sig, err

    def simulate(self, tx: VersionedTransaction, *, replace_blockhash: bool) -> dict:
        with self.lock:
            if replace_blockhash:
                m = tx.message
                msg = MessageV0(m.header, list(m.account_keys), self.svm.latest_blockhash(), list(m.instructions),
                                list(m.address_table_lookups))
                tx = VersionedTransaction.populate(msg, list(tx.signatures))
            res = self.svm.simulate_transaction(tx)
            if isinstance(res, FailedTransactionMetadata):
                err, meta = res.err(), res.meta()
            else:
                err, meta = None, res.meta()
            return {"err": err_json(err), "logs": list(meta.logs()), "accounts": None,
                    "unitsConsumed": meta.compute_units_consumed(), "returnData": None,
                    "innerInstructions": None,
                    "replacementBlockhash": ({"blockhash": str(self.svm.latest_blockhash()),
                                              "lastValidBlockHeight": self.slot + 150} if replace_blockhash else None)}

    # -- helpers for tests -----------------------------------------------------------------------
    def airdrop(self, address: Pubkey | str, lamports: int) -> None:
        with self.lock:
            self.known.add(str(address))
            res = self.svm.airdrop(_pk(address), lamports)
            if isinstance(res, FailedTransactionMetadata):
                raise RuntimeError(f"airdrop failed: {res}")

    def send(self, payer: Keypair, instructions: list, signers: list[Keypair] | None = None, *,
             expect_ok: bool = True) -> str:
        """Build, sign and execute a transaction with the latest blockhash (a fresh one when the
        same bytes were executed before)."""
        signers = signers or [payer]
        with self.lock:
            for _ in range(2):
                msg = MessageV0.try_compile(payer.pubkey(), instructions, [], self.svm.latest_blockhash())
                tx = VersionedTransaction(msg, signers)
                if str(tx.signatures[0]) not in self.records:
                    break
                self.svm.expire_blockhash()
            sig, err = self.execute(tx)
            if expect_ok and err is not None:
                raise RuntimeError(f"transaction failed: {err}")
            return sig

    def create_mint(self, authority: Keypair, decimals: int, *, program: Pubkey = TOKEN_PROGRAM_ID) -> Pubkey:
        mint = Keypair()
        rent = self.svm.minimum_balance_for_rent_exemption(MINT_SIZE)
        self.send(authority, [
            create_account(CreateAccountParams(from_pubkey=authority.pubkey(), to_pubkey=mint.pubkey(), lamports=rent,
                                               space=MINT_SIZE, owner=program)),
            initialize_mint2(InitializeMint2Params(decimals=decimals, mint=mint.pubkey(),
                                                   mint_authority=authority.pubkey(), program_id=program)),
        ], [authority, mint])
        self.known.add(str(mint.pubkey()))
        return mint.pubkey()

    def program_of(self, mint: Pubkey) -> Pubkey:
        return self.account(mint).owner

    def ata(self, owner: Pubkey | str, mint: Pubkey) -> Pubkey:
        return get_associated_token_address(_pk(owner), mint, self.program_of(mint))

    def mint_to(self, authority: Keypair, mint: Pubkey, owner: Pubkey | str, amount: int) -> Pubkey:
        """Mint ``amount`` to ``owner``'s associated token account (created when missing)."""
        program = self.program_of(mint)
        ata = get_associated_token_address(_pk(owner), mint, program)
        self.send(authority, [
            create_idempotent_associated_token_account(authority.pubkey(), _pk(owner), mint, program),
            mint_to_checked(MintToCheckedParams(program_id=program, mint=mint, dest=ata, mint_authority=authority.pubkey(),
                                                amount=amount, decimals=self.decimals(mint))),
        ])
        return ata

    def transfer_sol(self, sender: Keypair, to: Pubkey | str, lamports: int, *, expect_ok: bool = True) -> str:
        return self.send(sender, [transfer(TransferParams(from_pubkey=sender.pubkey(), to_pubkey=_pk(to),
                                                          lamports=lamports))], expect_ok=expect_ok)

    def transfer_spl(self, sender: Keypair, mint: Pubkey, to_owner: Pubkey | str, amount: int, *,
                     expect_ok: bool = True) -> str:
        """``sender`` sends ``amount`` of ``mint`` to ``to_owner``'s associated token account,
        creating it (rent paid by the sender) when missing, as wallets do."""
        program = self.program_of(mint)
        src = get_associated_token_address(sender.pubkey(), mint, program)
        dst = get_associated_token_address(_pk(to_owner), mint, program)
        return self.send(sender, [
            create_idempotent_associated_token_account(sender.pubkey(), _pk(to_owner), mint, program),
            transfer_checked(TransferCheckedParams(program_id=program, source=src, mint=mint, dest=dst,
                                                   owner=sender.pubkey(), amount=amount,
                                                   decimals=self.decimals(mint))),
        ], expect_ok=expect_ok)

    # -- JSON-RPC ----------------------------------------------------------------------------------
    def _ctx(self) -> dict:
        return {"slot": self.slot, "apiVersion": "2.1.0"}

    def _account_json(self, acc) -> dict | None:
        if acc is None:
            return None
        return {"data": [base64.b64encode(bytes(acc.data)).decode(), "base64"], "executable": acc.executable,
                "lamports": acc.lamports, "owner": str(acc.owner), "rentEpoch": 18446744073709551615,
                "space": len(acc.data)}

    def rpc(self, method: str, params: list) -> Any:
        """Answer one call; raises ``RpcFault`` for a JSON-RPC error."""
        self.requests.append(method)
        with self.lock:
            if method == "getHealth":
                return "ok"
            if method == "getGenesisHash":
                return GENESIS
            if method in ("getSlot", "getBlockHeight"):
                return self.slot
            if method == "getLatestBlockhash":
                return {"context": self._ctx(), "value": {"blockhash": str(self.svm.latest_blockhash()),
                                                          "lastValidBlockHeight": self.slot + 150}}
            if method == "getMinimumBalanceForRentExemption":
                return self.svm.minimum_balance_for_rent_exemption(int(params[0]))
            if method == "getBalance":
                return {"context": self._ctx(), "value": self.svm.get_balance(_pk(params[0])) or 0}
            if method == "getAccountInfo":
                return {"context": self._ctx(), "value": self._account_json(self.svm.get_account(_pk(params[0])))}
            if method == "getMultipleAccounts":
                return {"context": self._ctx(),
                        "value": [self._account_json(self.svm.get_account(_pk(a))) for a in params[0]]}
            if method == "getTokenAccountsByOwner":
                owner, flt = params[0], params[1]
                out = []
                for program in TOKEN_PROGRAMS:
                    if "programId" in flt and flt["programId"] != str(program):
                        continue
                    for addr, acc in self.svm.get_program_accounts(program):
                        info = _token_account(acc)
                        if info is None or info["owner"] != owner:
                            continue
                        if "mint" in flt and info["mint"] != flt["mint"]:
                            continue
                        out.append({"pubkey": str(addr), "account": self._account_json(acc)})
                return {"context": self._ctx(), "value": out}
            if method == "getTransaction":
                return self.records.get(params[0])
            if method == "getSignaturesForAddress":  # newest first, as a validator answers
                cfg = params[1] if len(params) > 1 else {}
                hits = [(sig, rec) for sig, rec in self.records.items()
                        if any(k["pubkey"] == params[0] for k in rec["transaction"]["message"]["accountKeys"])]
                hits.reverse()
                if cfg.get("before") in self.records:
                    hits = hits[[s for s, _ in hits].index(cfg["before"]) + 1:]
                return [{"signature": sig, "slot": rec["slot"], "err": rec["meta"]["err"], "memo": None,
                         "blockTime": rec["blockTime"], "confirmationStatus": "finalized"}
                        for sig, rec in hits[:int(cfg.get("limit") or 1000)]]
            if method == "getSignatureStatuses":
                value = []
                for sig in params[0]:
                    rec = self.records.get(sig)
                    value.append(None if rec is None else {
                        "slot": rec["slot"], "confirmations": None, "err": rec["meta"]["err"],
                        "status": rec["meta"]["status"], "confirmationStatus": "finalized"})
                return {"context": self._ctx(), "value": value}
            if method == "simulateTransaction":
                cfg = params[1] if len(params) > 1 else {}
                tx = _decode_tx(params[0], cfg.get("encoding", "base58"))
                if cfg.get("sigVerify") and not all(tx.verify_with_results()):
                    raise RpcFault(-32003, "Transaction signature verification failure")
                return {"context": self._ctx(),
                        "value": self.simulate(tx, replace_blockhash=bool(cfg.get("replaceRecentBlockhash")))}
            if method == "sendTransaction":
                cfg = params[1] if len(params) > 1 else {}
                tx = _decode_tx(params[0], cfg.get("encoding", "base58"))
                sig = str(tx.signatures[0])
                if not cfg.get("skipPreflight"):
                    if sig in self.records:
                        raise _preflight("AlreadyProcessed", "This transaction has already been processed")
                    if not all(tx.verify_with_results()):
                        raise RpcFault(-32003, "Transaction signature verification failure")
                    sim = self.simulate(tx, replace_blockhash=False)
                    if sim["err"] is not None:
                        raise _preflight(sim["err"], f"Error processing Instruction: {sim['err']}", sim["logs"])
                try:
                    self.execute(tx)
                except Rejected as exc:
                    raise _preflight(exc.err, exc.message) from None
                return sig
        raise RpcFault(-32601, "Method not found")

    def _handler(self):
        devnet = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):  # quiet
                pass

            def do_POST(self):  # noqa: N802
                length = int(self.headers.get("Content-Length") or 0)
                body = json.loads(self.rfile.read(length) or b"null")
                reqs = body if isinstance(body, list) else [body]
                out = []
                for req in reqs:
                    try:
                        result = devnet.rpc(req["method"], req.get("params") or [])
                        out.append({"jsonrpc": "2.0", "result": result, "id": req.get("id")})
                    except RpcFault as f:
                        err = {"code": f.code, "message": f.message}
                        if f.data is not None:
                            err["data"] = f.data
                        out.append({"jsonrpc": "2.0", "error": err, "id": req.get("id")})
                    except Exception as exc:  # a bug here must not look like a node answer
                        out.append({"jsonrpc": "2.0", "error": {"code": -32603, "message": f"internal: {exc!r}"},
                                    "id": req.get("id")})
                    except BaseException as exc:  # pyo3 panics
                        out.append({"jsonrpc": "2.0", "error": {"code": -32603, "message": f"panic: {exc!r}"},
                                    "id": req.get("id")})
                data = json.dumps(out if isinstance(body, list) else out[0]).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

        return Handler


class RpcFault(Exception):
    def __init__(self, code: int, message: str, data: Any = None):
        super().__init__(message)
        self.code, self.message, self.data = code, message, data


class Rejected(Exception):
    def __init__(self, err: Any, message: str):
        super().__init__(message)
        self.err, self.message = err, message


def _preflight(err: Any, message: str, logs: list[str] | None = None) -> RpcFault:
    return RpcFault(-32002, f"Transaction simulation failed: {message}",
                    {"err": err, "logs": logs or [], "accounts": None, "unitsConsumed": 0, "returnData": None,
                     "innerInstructions": None, "replacementBlockhash": None})


_B58 = "123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz"


def _b58encode(raw: bytes) -> str:
    n = int.from_bytes(raw, "big")
    out = ""
    while n:
        n, r = divmod(n, 58)
        out = _B58[r] + out
    return "1" * (len(raw) - len(raw.lstrip(b"\0"))) + out


def _b58decode(text: str) -> bytes:
    n = 0
    for ch in text:
        n = n * 58 + _B58.index(ch)
    body = n.to_bytes((n.bit_length() + 7) // 8, "big") if n else b""
    return b"\0" * (len(text) - len(text.lstrip("1"))) + body


def _pk(value: Pubkey | str) -> Pubkey:
    return value if isinstance(value, Pubkey) else Pubkey.from_string(value)


def _decode_tx(data: str, encoding: str) -> VersionedTransaction:
    raw = base64.b64decode(data) if encoding == "base64" else _b58decode(data)
    return VersionedTransaction.from_bytes(raw)


# The SPL token account as the token program lays it out (its own reading here, independent of the
# adapter's parser, so that a parser bug cannot hide itself): mint, owner, amount (u64 LE),
# delegate (COption<Pubkey>: u32 tag + 32 bytes), state (u8: 0 uninitialised, 1 initialised, 2 frozen).
_ACCOUNT_HEAD = struct.Struct("<32s32sQI32sB")
_ACCOUNT_TYPE_OFFSET = 165  # Token-2022: the AccountType byte after the base layout (2 = account)


def _token_account(acc) -> dict | None:
    if acc is None or acc.owner not in TOKEN_PROGRAMS:
        return None
    data = bytes(acc.data)
    if len(data) < TOKEN_ACCOUNT_SIZE or (len(data) > TOKEN_ACCOUNT_SIZE and data[_ACCOUNT_TYPE_OFFSET] != 2):
        return None
    mint, owner, amount, _delegate_tag, _delegate, state = _ACCOUNT_HEAD.unpack_from(data, 0)
    if state == 0:  # uninitialised
        return None
    return {"mint": str(Pubkey(mint)), "owner": str(Pubkey(owner)), "amount": amount, "program": str(acc.owner)}


__all__ = ["SolanaDevnet", "ASSOCIATED_TOKEN_PROGRAM_ID", "TOKEN_PROGRAM_ID", "TOKEN_2022_PROGRAM_ID", "Hash",
           "Signature"]
