"""A loopback Horizon for the Stellar family's tests (no Stellar node runs here): a tiny ``http.server`` in a
thread answering the Horizon endpoints the adapter reads, in Horizon's own record shapes.

It serves recorded real Horizon answers verbatim (``tests/chains/stellar/fixtures/``: a testnet create_account
transaction; a transaction of 2019 with its ``path_payment`` operation record as ``/operations?join=transactions``
answered it, served as that transaction's ``/operations`` page) and ledger state of its own: accounts (shaped
on a recorded account record, SEP-29 data included),
transactions and their operations.  ``POST /transactions`` does what Horizon and stellar-core do for the
one kind of transaction the family sends: decodes the envelope with stellar-sdk for the network passphrase,
checks the sequence (``tx_bad_seq``), the time bounds (``tx_too_late``) and the source's signature
(``tx_bad_auth``), applies its payments and answers the transaction record; a transaction it already has is
answered as is.  Deposits are planted the same way (:meth:`HorizonReplay.submit`), a failed one or a path
payment with the amount its path delivered by :meth:`HorizonReplay.record`.  ``/accounts/{id}/payments``
answers its own operations into or out of the account, ``order=asc``, after ``cursor``, at most ``limit``,
failed ones only with ``include_failed=true``, each with its ``transaction`` under ``join=transactions``.
"""

from __future__ import annotations

import base64
import copy
import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

FIXTURES = Path(__file__).resolve().parents[1] / "chains" / "stellar" / "fixtures"
BASE_RESERVE = 5_000_000  # stroops (0.5 XLM), the public network's since protocol 10
NATIVE = "native"


def fixture(name: str) -> dict:
    return json.loads((FIXTURES / name).read_text())


def _amount(stroops: int) -> str:
    return f"{stroops // 10**7}.{stroops % 10**7:07d}"


def _asset_fields(asset, prefix: str = "") -> dict:
    if asset.is_native():
        return {f"{prefix}asset_type": "native"}
    kind = "credit_alphanum4" if len(asset.code) <= 4 else "credit_alphanum12"
    return {f"{prefix}asset_type": kind, f"{prefix}asset_code": asset.code, f"{prefix}asset_issuer": asset.issuer}


def _asset_key(asset) -> str:
    return NATIVE if asset.is_native() else f"{asset.code}:{asset.issuer}"


class HorizonReplay:
    """State and HTTP front of the loopback Horizon; ``url`` once started."""

    def __init__(self, passphrase: str = "Test SDF Network ; September 2015"):
        self.passphrase = passphrase
        self.ledger = 121_900
        self.now = None  # unix time the server checks time bounds against (None: the clock)
        self.accounts: dict[str, dict] = {}
        self.transactions: dict[str, dict] = {}
        self.operations: dict[str, list[dict]] = {}
        self.submitted: list[str] = []
        self.lock = threading.Lock()
        recorded = fixture("testnet_tx_6bbd8cbd.json")
        self.transactions[recorded["hash"]] = recorded
        self.operations[recorded["hash"]] = []
        self.operation_pages: dict[str, dict] = {}  # recorded /operations answers, served verbatim
        live = fixture("live_tx_de8ca055.json")
        self.transactions[live["hash"]] = live
        self.operation_pages[live["hash"]] = fixture("live_ops_de8ca055.json")
        self.payment_queries: list[dict] = []
        self._server = None

    # -- state ----------------------------------------------------------------------------------
    def fund(self, account: str, stroops: int, *, assets: dict[str, int] | None = None, sequence: int = 1000,
             memo_required: bool = False, subentries: int = 0) -> None:
        self.accounts[account] = {"sequence": sequence, "balances": {NATIVE: int(stroops), **(assets or {})},
                                  "memo_required": memo_required, "subentries": subentries}

    def balance(self, account: str, asset: str = NATIVE) -> int:
        return self.accounts[account]["balances"].get(asset, 0)

    def account_record(self, account: str) -> dict:
        acc = self.accounts[account]
        rec = json.loads(json.dumps(fixture("account_template.json")).replace("{id}", account))
        rec["sequence"] = str(acc["sequence"])
        rec["subentry_count"] = acc["subentries"]
        rec["balances"] = [{"balance": _amount(v), "buying_liabilities": "0.0000000",
                            "selling_liabilities": "0.0000000", **self._asset_record(k)}
                           for k, v in sorted(acc["balances"].items(), key=lambda kv: kv[0] != NATIVE)]
        rec["data"] = {"config.memo_required": "MQ=="} if acc["memo_required"] else {}
        return rec

    @staticmethod
    def _asset_record(key: str) -> dict:
        if key == NATIVE:
            return {"asset_type": "native"}
        code, _, issuer = key.partition(":")
        return {"asset_type": "credit_alphanum4" if len(code) <= 4 else "credit_alphanum12", "asset_code": code,
                "asset_issuer": issuer}

    # -- transactions ---------------------------------------------------------------------------
    def submit(self, xdr: str) -> tuple[int, dict]:
        """What Horizon answers ``POST /transactions tx=xdr``: ``(200, record)`` or ``(400, problem)``."""
        from stellar_sdk import Keypair, TransactionEnvelope
        from stellar_sdk.exceptions import BadSignatureError

        with self.lock:
            try:
                env = TransactionEnvelope.from_xdr(xdr, self.passphrase)
            except Exception:
                return 400, self._problem("tx_malformed")
            h = env.hash_hex()
            if h in self.transactions:
                return 200, self.transactions[h]
            tx = env.transaction
            source = tx.source.account_id
            acc = self.accounts.get(source)
            if acc is None:
                return 400, self._problem("tx_no_source_account")
            if tx.sequence != acc["sequence"] + 1:
                return 400, self._problem("tx_bad_seq")
            bounds = tx.preconditions.time_bounds if tx.preconditions else None
            now = int(time.time() if self.now is None else self.now)
            if bounds and bounds.max_time and now > bounds.max_time:
                return 400, self._problem("tx_too_late")
            key = Keypair.from_public_key(source)
            good = False
            for sig in env.signatures:
                try:
                    key.verify(env.hash(), sig.signature)
                    good = True
                except BadSignatureError:
                    pass
            if not good:
                return 400, self._problem("tx_bad_auth")
            return 200, self._apply(env, xdr, delivered=None, successful=True)

    def record(self, env, *, successful: bool = True, delivered: dict[int, int] | None = None) -> str:
        """Put a signed envelope in a new ledger as its test needs it: failed (balances unchanged but the fee),
        or a path payment whose path delivered ``delivered[index]`` stroops.  Returns its hash."""
        with self.lock:
            self._apply(env, env.to_xdr(), delivered=delivered or {}, successful=successful)
        return env.hash_hex()

    def _apply(self, env, xdr: str, *, delivered, successful: bool) -> dict:
        from stellar_sdk import Payment, PathPaymentStrictReceive, PathPaymentStrictSend

        tx = env.transaction
        source = tx.source.account_id
        h = env.hash_hex()
        self.ledger += 1
        created = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
        acc = self.accounts[source]
        acc["sequence"] = tx.sequence
        acc["balances"][NATIVE] -= tx.fee
        ops = []
        for i, op in enumerate(tx.operations):
            dest = op.destination
            rec = {"id": f"{self.ledger << 32 | 1 << 12 | (i + 1)}", "paging_token": "", "transaction_successful":
                   successful, "source_account": source, "created_at": created, "transaction_hash": h,
                   "from": source, "to": dest.account_id}
            if dest.account_muxed_id is not None:
                rec.update({"to_muxed": dest.universal_account_id, "to_muxed_id": str(dest.account_muxed_id)})
            if isinstance(op, Payment):
                amount = int(op.to_xdr_object().body.payment_op.amount.int64)
                rec.update({"type": "payment", "type_i": 1, **_asset_fields(op.asset), "amount": _amount(amount)})
                src_asset, src_amount, dst_asset = op.asset, amount, op.asset
            elif isinstance(op, PathPaymentStrictSend):
                body = op.to_xdr_object().body.path_payment_strict_send_op
                src_amount, amount = int(body.send_amount.int64), delivered[i]
                rec.update({"type": "path_payment_strict_send", "type_i": 13, **_asset_fields(op.dest_asset),
                            "amount": _amount(amount), "source_amount": _amount(src_amount),
                            "destination_min": _amount(int(body.dest_min.int64)), **_asset_fields(op.send_asset, "source_"), "path": []})
                src_asset, dst_asset = op.send_asset, op.dest_asset
            elif isinstance(op, PathPaymentStrictReceive):
                body = op.to_xdr_object().body.path_payment_strict_receive_op
                amount, src_amount = int(body.dest_amount.int64), delivered[i]
                rec.update({"type": "path_payment_strict_receive", "type_i": 2, **_asset_fields(op.dest_asset),
                            "amount": _amount(amount), "source_amount": _amount(src_amount),
                            "source_max": _amount(int(body.send_max.int64)), **_asset_fields(op.send_asset, "source_"), "path": []})
                src_asset, dst_asset = op.send_asset, op.dest_asset
            else:
                raise ValueError(f"the replay applies payments only, not {type(op).__name__}")
            rec["paging_token"] = rec["id"]
            ops.append(rec)
            if successful:
                acc["balances"][_asset_key(src_asset)] -= src_amount
                dst = self.accounts.setdefault(dest.account_id, {"sequence": 0, "balances": {NATIVE: 0},
                                                                 "memo_required": False, "subentries": 0})
                k = _asset_key(dst_asset)
                dst["balances"][k] = dst["balances"].get(k, 0) + amount
        memo = tx.memo
        mt, mv = self._memo(memo)
        record = copy.deepcopy(fixture("testnet_tx_6bbd8cbd.json"))
        bounds = tx.preconditions.time_bounds if tx.preconditions else None
        record.update({"id": h, "hash": h, "paging_token": str(self.ledger << 32), "successful": successful,
                       "ledger": self.ledger, "created_at": created, "source_account": source,
                       "source_account_sequence": str(tx.sequence), "fee_account": source, "fee_charged": tx.fee,
                       "max_fee": tx.fee, "operation_count": len(ops), "envelope_xdr": xdr, "memo_type": mt,
                       "signatures": [base64.b64encode(s.signature).decode() for s in env.signatures]})
        record.pop("_links", None)
        record.pop("memo", None)
        if mv is not None:
            record["memo"] = mv
        if bounds:
            record["valid_after"] = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(bounds.min_time))
            record["valid_before"] = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(bounds.max_time))
        self.transactions[h] = record
        self.operations[h] = ops
        self.submitted.append(h)
        return record

    def payments_page(self, account: str, query: dict) -> dict:
        """``GET /accounts/{account}/payments`` over the replay's own operations (ascending only)."""
        self.payment_queries.append(dict(query))
        assert query.get("order", "asc") == "asc", "the replay pages payments in ascending order only"
        cursor = int(query.get("cursor") or 0)
        limit = int(query.get("limit") or 10)
        failed_too = query.get("include_failed") == "true"
        with self.lock:
            ops = [(h, op) for h, records in self.operations.items() for op in records
                   if account in (op.get("to"), op.get("from")) and int(op["id"]) > cursor
                   and (failed_too or op["transaction_successful"])]
            ops.sort(key=lambda ho: int(ho[1]["id"]))
            records = []
            for h, op in ops[:limit]:
                rec = dict(op)
                if query.get("join") == "transactions":
                    rec["transaction"] = self.transactions[h]
                records.append(rec)
        return {"_embedded": {"records": records}}

    @staticmethod
    def _memo(memo) -> tuple[str, str | None]:
        from stellar_sdk import HashMemo, IdMemo, NoneMemo, ReturnHashMemo, TextMemo

        if isinstance(memo, TextMemo):
            return "text", memo.memo_text.decode() if isinstance(memo.memo_text, bytes) else memo.memo_text
        if isinstance(memo, IdMemo):
            return "id", str(memo.memo_id)
        if isinstance(memo, HashMemo):
            return "hash", base64.b64encode(memo.memo_hash).decode()
        if isinstance(memo, ReturnHashMemo):
            return "return", base64.b64encode(memo.memo_return).decode()
        assert isinstance(memo, NoneMemo)
        return "none", None

    @staticmethod
    def _problem(code: str) -> dict:
        return {"type": "https://stellar.org/horizon-errors/transaction_failed", "title": "Transaction Failed",
                "status": 400, "detail": "The transaction failed when submitted to the stellar network.",
                "extras": {"result_codes": {"transaction": code}}}

    # -- HTTP -----------------------------------------------------------------------------------
    def answer(self, method: str, path: str, query: dict, form: dict) -> tuple[int, dict]:
        parts = [p for p in path.split("/") if p]
        if method == "POST" and parts == ["transactions"]:
            return self.submit(form.get("tx", [""])[0])
        if parts == []:
            return 200, {"horizon_version": "replay", "core_latest_ledger": self.ledger,
                         "history_latest_ledger": self.ledger,
                         "history_latest_ledger_closed_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
                         "network_passphrase": self.passphrase}
        if parts == ["ledgers"]:
            return 200, {"_embedded": {"records": [{"sequence": self.ledger, "base_fee_in_stroops": 100,
                                                    "base_reserve_in_stroops": BASE_RESERVE}]}}
        if len(parts) == 2 and parts[0] == "accounts" and parts[1] in self.accounts:
            return 200, self.account_record(parts[1])
        if len(parts) == 3 and parts[0] == "accounts" and parts[2] == "payments" and parts[1] in self.accounts:
            return 200, self.payments_page(parts[1], {k: v[0] for k, v in query.items()})
        if len(parts) >= 2 and parts[0] == "transactions" and parts[1] in self.transactions:
            if len(parts) == 2:
                return 200, self.transactions[parts[1]]
            if parts[2:] == ["operations"]:
                if parts[1] in self.operation_pages:
                    return 200, self.operation_pages[parts[1]]
                return 200, {"_embedded": {"records": self.operations[parts[1]]}}
        return 404, {"type": "https://stellar.org/horizon-errors/not_found", "title": "Resource Missing",
                     "status": 404, "detail": "The resource at the url requested was not found."}

    def start(self) -> "HorizonReplay":
        replay = self

        class Handler(BaseHTTPRequestHandler):
            def _reply(self, method):
                url = urlsplit(self.path)
                length = int(self.headers.get("Content-Length") or 0)
                form = parse_qs(self.rfile.read(length).decode()) if length else {}
                status, body = replay.answer(method, url.path, parse_qs(url.query), form)
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/hal+json" if status < 400 else "application/problem+json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def do_GET(self):  # noqa: N802
                self._reply("GET")

            def do_POST(self):  # noqa: N802
                self._reply("POST")

            def log_message(self, *args):
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}"
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
