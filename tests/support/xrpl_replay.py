"""A loopback rippled JSON-RPC server answering from recorded real ledger answers
(``tests/chains/xrpl/fixtures``, see its README) and from a small ledger of its own: the shared wallet's
account, and the refunds submitted to it.

``submit`` decodes the blob with xrpl-py, verifies its signature, and applies rippled's checks in the
order rippled does: ``tefMAX_LEDGER`` past its LastLedgerSequence, ``tefPAST_SEQ``/``terPRE_SEQ`` by the
account's Sequence, ``tecDST_TAG_NEEDED``, ``tecUNFUNDED_PAYMENT`` below the reserve.  An applied refund is
found by ``tx`` unvalidated until :meth:`XrplReplay.close` validates the ledger.
"""

from __future__ import annotations

import copy
import hashlib
import json
import threading
from decimal import Decimal
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

FIXTURES = Path(__file__).resolve().parents[1] / "chains" / "xrpl" / "fixtures"
PARTIAL_LEDGER = 22420600  # the partial payment's recording has no ledger index (its nodes' are below)
REQUIRE_DEST = "r9cZA1mLK5R5Am25ArfXFmqgNwjZgnfk59"  # accountInfo.json: lsfRequireDestTag set
TAGGED_TXID = "3F437BAAC9E713F24DF2954EADB7BE80F608D8B758116298B999BA252DF4816C"
PARTIAL_TXID = "A0A074D10355223CBE2520A42F93A52E3CC8B4D692570EB4841084F9BBB39F7A"
OLD_TXID = "F4AB442A6D4CBB935D66E1DA7309A5FC71C7143ED4049053EC14E3875B0CF9BF"
FAILED_TXID = "F0F263E6D4A91E43AFCAD5A33AE620CE849CA9FB2D119D92A2F6D5242CC10982"


def load(name: str) -> dict:
    return json.loads((FIXTURES / name).read_text())


def recorded_txs() -> dict[str, dict]:
    """The recorded transactions as ``tx`` answers (API v2 shape: ``tx_json``, ``meta``)."""
    out = {}
    entry = load("transactionEntry.json")["result"]
    out[TAGGED_TXID] = {"tx_json": entry["tx_json"], "meta": entry["metadata"], "hash": TAGGED_TXID,
                        "ledger_index": entry["ledger_index"], "ledger_hash": entry["ledger_hash"], "validated": True}
    partial = load("partialPaymentXRP.json")
    out[PARTIAL_TXID] = {"tx_json": {k: v for k, v in partial["tx_json"].items() if k != "hash"},
                         "meta": partial["meta"], "hash": PARTIAL_TXID, "ledger_index": PARTIAL_LEDGER,
                         "validated": True}
    old = load("payment.json")["result"]
    out[OLD_TXID] = {"tx_json": old["tx_json"], "meta": old["meta"], "hash": OLD_TXID,
                     "ledger_index": old["tx_json"]["ledger_index"], "validated": True}
    failed = load("ledger7501326_tecPATH_DRY.json")
    tx = dict(failed["transaction"])
    meta = tx.pop("metaData")
    out[FAILED_TXID] = {"tx_json": tx, "meta": meta, "hash": FAILED_TXID, "ledger_index": failed["ledger_index"],
                        "ledger_hash": failed["ledger_hash"], "validated": True}
    return out


def blob_txid(blob: str) -> str:
    return hashlib.sha512(bytes.fromhex("54584E00" + blob)).digest()[:32].hex().upper()


class XrplReplay:
    """The server; ``accounts`` maps address -> account root fields, ``pending`` holds unvalidated txids."""

    BASE_FEE = 10

    def __init__(self, server_info: str = "serverInfo.json"):
        info = load(server_info)["result"]["info"]
        self.info = info
        self.validated = int(info["validated_ledger"]["seq"])
        self.reserve_base = int(Decimal(str(info["validated_ledger"]["reserve_base_xrp"])) * 10**6)
        self.reserve_inc = int(Decimal(str(info["validated_ledger"]["reserve_inc_xrp"])) * 10**6)
        self.txs = recorded_txs()
        self.pending: set[str] = set()
        acc = load("accountInfo.json")["result"]["account_data"]
        self.accounts = {acc["Account"]: {k: acc[k] for k in ("Account", "Balance", "Flags", "OwnerCount", "Sequence")}}
        self.requests: list[dict] = []
        self.lock = threading.Lock()
        replay = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):  # noqa: N802
                req = json.loads(self.rfile.read(int(self.headers.get("Content-Length") or 0)))
                with replay.lock:
                    replay.requests.append(req)
                    result = replay.answer(req["method"], (req.get("params") or [{}])[0])
                data = json.dumps({"result": result}).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()

    # -- the ledger ------------------------------------------------------------------------------
    def fund(self, address: str, drops: int, *, flags: int = 0, sequence: int = 1) -> None:
        self.accounts[address] = {"Account": address, "Balance": str(drops), "Flags": flags, "OwnerCount": 0,
                                  "Sequence": sequence}

    def balance(self, address: str) -> int:
        return int(self.accounts[address]["Balance"]) if address in self.accounts else 0

    def drop(self, txid: str) -> None:
        """Forget an unvalidated transaction as a node that evicted it would, undoing what it applied."""
        tx = self.txs.pop(txid)
        self.pending.discard(txid)
        for address, fields in tx.pop("undo", {}).items():
            self.accounts[address].update(fields)

    def close(self) -> None:
        """Validate a new ledger holding the pending transactions."""
        self.validated += 1
        for h in self.pending:
            self.txs[h]["validated"] = True
            self.txs[h]["ledger_index"] = self.validated
        self.pending.clear()

    # -- answers ---------------------------------------------------------------------------------
    def answer(self, method: str, p: dict) -> dict:
        if method == "server_info":
            info = copy.deepcopy(self.info)
            info["validated_ledger"]["seq"] = self.validated
            return {"info": info, "status": "success"}
        if method == "fee":
            fee = str(self.BASE_FEE)
            return {"drops": {"base_fee": fee, "minimum_fee": fee, "median_fee": "5000", "open_ledger_fee": fee},
                    "ledger_current_index": self.validated + 1, "status": "success"}
        if method == "tx":
            tx = self.txs.get(str(p.get("transaction", "")).upper())
            if tx is None:
                return {"error": "txnNotFound", "error_message": "Transaction not found.", "status": "error"}
            return {**{k: copy.deepcopy(v) for k, v in tx.items() if k != "undo"}, "status": "success"}
        if method == "account_info":
            acc = self.accounts.get(p.get("account"))
            if acc is None:
                return {"error": "actNotFound", "error_message": "Account not found.", "status": "error"}
            return {"account_data": dict(acc), "ledger_index": self.validated, "validated": True, "status": "success"}
        if method == "account_lines":
            return {"account": p.get("account"), "lines": [], "status": "success"}
        if method == "account_tx":
            lo, hi = int(p.get("ledger_index_min", -1)), int(p.get("ledger_index_max", -1))
            own = [{"tx_json": t["tx_json"], "meta": t.get("meta"), "hash": h, "validated": t["validated"],
                    "ledger_index": t["ledger_index"]}
                   for h, t in self.txs.items() if p.get("account") in (t["tx_json"].get("Account"),
                                                                          t["tx_json"].get("Destination"))
                   and (t["ledger_index"] is None or ((lo < 0 or int(t["ledger_index"]) >= lo)
                                                      and (hi < 0 or int(t["ledger_index"]) <= hi)))]
            return {"account": p.get("account"), "transactions": own, "status": "success"}
        if method == "submit":
            return self.submit(p["tx_blob"])
        return {"error": "unknownCmd", "status": "error"}

    def submit(self, blob: str) -> dict:
        from xrpl.core import binarycodec, keypairs

        tx = binarycodec.decode(blob)
        h = blob_txid(blob)

        def result(code: str, message: str) -> dict:
            return {"engine_result": code, "engine_result_message": message, "tx_blob": blob,
                    "tx_json": {**tx, "hash": h}, "accepted": code == "tesSUCCESS", "status": "success"}

        unsigned = {k: v for k, v in tx.items() if k != "TxnSignature"}
        if not keypairs.is_valid_message(bytes.fromhex(binarycodec.encode_for_signing(unsigned)),
                                         bytes.fromhex(tx.get("TxnSignature", "")), tx["SigningPubKey"]) or \
                keypairs.derive_classic_address(tx["SigningPubKey"]) != tx["Account"]:
            return {"error": "invalidTransaction", "error_exception": "fails local checks: Invalid signature.",
                    "status": "error"}
        if h in self.txs:
            return result("tefALREADY", "The exact transaction was already in this ledger.")
        if int(tx.get("LastLedgerSequence", 1 << 40)) <= self.validated:
            return result("tefMAX_LEDGER", "Ledger sequence too high.")
        acc = self.accounts.get(tx["Account"])
        if acc is None:
            return result("terNO_ACCOUNT", "The source account does not exist.")
        if int(tx["Sequence"]) < int(acc["Sequence"]):
            return result("tefPAST_SEQ", "This sequence number has already passed.")
        if int(tx["Sequence"]) > int(acc["Sequence"]):
            return result("terPRE_SEQ", "Missing/inapplicable prior transaction.")
        if int(tx["Fee"]) < self.BASE_FEE:
            return result("telINSUF_FEE_P", "Fee insufficient.")
        dest = self.accounts.get(tx["Destination"])
        undo = {a: {"Balance": self.accounts[a]["Balance"], "Sequence": self.accounts[a]["Sequence"]}
                for a in (tx["Account"], tx["Destination"]) if a in self.accounts}
        acc["Sequence"] = int(acc["Sequence"]) + 1
        acc["Balance"] = str(int(acc["Balance"]) - int(tx["Fee"]))
        code = "tesSUCCESS"
        amount = int(tx["Amount"])
        if dest is not None and int(dest["Flags"]) & 0x00020000 and "DestinationTag" not in tx:
            code = "tecDST_TAG_NEEDED"
        elif int(acc["Balance"]) - amount < self.reserve_base + int(acc["OwnerCount"]) * self.reserve_inc:
            code = "tecUNFUNDED_PAYMENT"
        if code == "tesSUCCESS":
            acc["Balance"] = str(int(acc["Balance"]) - amount)
            if dest is None:
                self.fund(tx["Destination"], 0)
                dest = self.accounts[tx["Destination"]]
            dest["Balance"] = str(int(dest["Balance"]) + amount)
        meta = {"TransactionIndex": 0, "TransactionResult": code, "AffectedNodes": []}
        if code == "tesSUCCESS":
            meta["delivered_amount"] = str(amount)
        self.txs[h] = {"tx_json": {k: v for k, v in tx.items()}, "meta": meta, "hash": h,
                       "ledger_index": None, "validated": False, "undo": undo}
        self.pending.add(h)
        return result(code, "The transaction was applied. Only final in a validated ledger." if code == "tesSUCCESS"
                      else "Applied with a claimed fee.")
