"""The chain-adapter interface, one for three families (EVM, UTXO, Solana).

Layering follows BitGoJS: this base, one adapter per family (``chains.evm``, later ``chains.utxo``
and ``chains.solana``), thin per-network TOML.  Capabilities are data (ccxt style), so the service
asks "can this network do X" instead of testing the family.  Work splits as in Electrum: I/O
methods *gather* facts (observe transactions, prove balances, read nonces and fee rates); pure
functions *build* plans from those facts; I/O again *simulates* them.  Errors split into permanent
(``PermanentChainError``: the chain answered and the answer refuses the claim) and retryable
(``RetryableChainError``: the node did not answer after retries and failover).

All amounts are ``int`` base units.  Nothing here imports a chain SDK.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import asdict, dataclass, field
from datetime import datetime
from enum import Enum
from typing import Any, ClassVar, Iterator, Sequence

from chains.assets import NATIVE  # noqa: F401 - the ``asset`` of a native-value transfer, re-exported
from chains.config import NetworkConfig
from chains.errors import ChainError, InvalidRequest, Unsupported
from chains.registry import adapter_class


class Capability(str, Enum):
    """What a family can do beyond the core contract (read by the domain with ``can()``)."""

    NATIVE_SWEEP = "native_sweep"          # move the native asset out of a deposit address
    TOKEN_SWEEP = "token_sweep"            # move a token (ERC-20, SPL) out of a deposit address
    GAS_TOPUP = "gas_topup"                # fund a deposit address with native gas first
    GAS_STATION = "gas_station"            # plans need the gas station's address (top-up, fee payer)
    SIMULATION = "simulation"              # dry-run every transaction of a plan before storing it
    HISTORIC_BALANCES = "historic_balances"  # prove a deposit by balances before/after its block
    BATCH_VERIFY = "batch_verify"          # verify many cases with batched node reads
    OFFLINE_EXPORT = "offline_export"      # export the unsigned plan for an offline signer, import it signed
    FORK_SIGNING = "fork_signing"          # sign with another chain's sighash rules (FORKID)
    OWNERSHIP_PROOF = "ownership_proof"    # check a message signed by the deposit's sender
    NESTED_ACCOUNTS = "nested_accounts"    # deposits into accounts owned by one of our accounts (Solana)
    INTERNAL_TRANSFERS = "internal_transfers"  # native value moved by contract calls, not the tx's own value
    TOKENS = "tokens"                      # the network has tokens at all (assets other than native)
    SCAN = "scan"                          # find deposits to our addresses over a block range (scan_deposits)
    SCAN_HOLDINGS = "scan_holdings"        # find what our addresses hold now (scan_holdings): UTXO, Solana
    SHARED_MEMO = "shared_memo"            # deposits at shared addresses told apart by memo; refunds carry a memo
    SCAN_INCOMING = "scan_incoming"        # every transfer into given addresses over a block range, with memos


@dataclass(frozen=True)
class FoundDeposit:
    """A deposit a scan found: ``asset`` is a token contract, or ``NATIVE``; ``amount`` in base units."""

    txid: str
    recipient: str
    asset: str
    amount: int
    block_number: int
    index: int
    sender: str | None = None   # SCAN_INCOMING: who paid
    memo: str | None = None     # SCAN_INCOMING: the memo / tag the ledger recorded (None: none at all)


@dataclass
class ScanChunk:
    """What a block scan found in blocks ``first_block..last_block`` (``SCAN``): the caller acts on it
    and records ``last_block`` as scanned before asking for the next chunk."""

    first_block: int
    last_block: int
    found: list[FoundDeposit]


@dataclass(frozen=True)
class DerivedKey:
    """A private key held in memory for one signing, and the address it controls.  ``key`` is what
    the family's :meth:`ChainAdapter.sign` takes; it is never printed, stored or logged."""

    key: Any = field(repr=False)
    address: str


@dataclass(frozen=True)
class OwnershipCheck:
    """The outcome of checking a claimant's signed message (``scheme``: EIP-191, signmessage, ed25519)."""

    ok: bool
    scheme: str
    signer: str | None = None


#: Where a plan's net goes (``SweepRequest.destination_role``, kept in ``SweepPlan.meta``): the user's
#: own return address, or our hot wallet for a credit to the user's exchange account.
RETURN_ADDRESS = "return_address"
HOT_WALLET = "hot_wallet"
_NET_LABELS = {RETURN_ADDRESS: "net to the user's return address",
               HOT_WALLET: "net to our hot wallet, for the account credit"}


def net_label(role: str | None) -> str:
    """The words every family's plan rows (and the quote's lines) use for the net leg: a credit's net
    goes to our hot wallet, and saying "to the user" there would mislead the approver.  A plan made
    before plans said their role reads "net to the destination"."""
    return _NET_LABELS.get(role or "", "net to the destination")


def plan_net_label(plan: "SweepPlan") -> str:
    """:func:`net_label` of the role ``plan`` was built for."""
    return net_label(plan.meta.get("destination_role"))


@dataclass(frozen=True)
class StepView:
    """One plan step as people read it (``case show``, the approval queue): no family field names.

    ``moves`` lists what the step moves: ``{"to", "amount", "asset", "what"}`` (amount in base units as
    text, ``what`` a short label such as "net to the user's return address" (:func:`net_label`) or
    "network fee").
    """

    seq: int
    role: str
    signer: str
    summary: str
    moves: tuple[dict, ...] = ()
    after: tuple[int, ...] = ()
    detail: dict = field(default_factory=dict)

    def to_dict(self) -> dict:
        return {"seq": self.seq, "role": self.role, "signer": self.signer, "summary": self.summary,
                "moves": [dict(m) for m in self.moves], "after": list(self.after), "detail": dict(self.detail)}


@dataclass(frozen=True)
class Transfer:
    """One movement of value in a transaction as the chain *claims* it (event, output, tx value).

    ``index`` identifies the deposit inside the transaction: the log index of a token Transfer,
    the output index of a UTXO, or -1 for an EVM transaction's own value.
    """

    index: int
    asset: str            # NATIVE, or the token contract / mint / denomination
    sender: str | None
    recipient: str
    amount: int
    memo: str | None = None  # SHARED_MEMO families: the memo / tag the ledger recorded (None: none, or empty)


@dataclass(frozen=True)
class TxObservation:
    """What the node says about one transaction (``found`` False: the node does not know it)."""

    txid: str
    found: bool
    success: bool | None = None
    failure_reason: str | None = None
    block_number: int | None = None
    block_hash: str | None = None
    block_time: datetime | None = None
    confirmations: int = 0
    sender: str | None = None
    to: str | None = None
    transfers: tuple[Transfer, ...] = ()


@dataclass(frozen=True)
class BalanceProof:
    """Balances of ``transfer.recipient`` in ``transfer.asset`` around the deposit's block.

    ``before`` is at block-1 and ``after`` at the block (``None`` when the node cannot answer
    historic state); ``now`` is the latest balance.  The proven amount is ``after - before``: an
    event alone proves nothing (fake-event and fee-on-transfer tokens exist).
    """

    transfer: Transfer
    before: int | None
    after: int | None
    now: int
    decimals: int
    symbol: str | None
    recipient_has_code: bool
    details: dict = field(default_factory=dict)  # family facts worth keeping (UTXO: script type)

    @property
    def received(self) -> int | None:
        if self.before is None or self.after is None:
            return None
        return self.after - self.before


@dataclass(frozen=True)
class SweepRequest:
    """Everything a plan needs, in base units; ``net + fee_total + gas paid by the deposit`` == gross.

    ``fee_total`` goes to the fee collector: the recovery fee plus a network cost deducted in the
    asset (for token sweeps the exchange pays the gas and is reimbursed in kind).

    Each deposit's money is its own: a plan moves ``gross`` of its asset and never spends other value
    at the deposit address, which may belong to another deposit (claimed or not).  The only native
    there a plan may burn for gas beyond what it tops up is ``own_native``: what the exchange itself
    left there (the unused part of its earlier gas top-ups, from the case database's book).  Families
    where this cannot arise say so: UTXO spends exactly the proven ``outputs``; Solana's fee payer
    (and rent payer) is the gas station.  ``station_reserved``: gas-station nonces other live plans
    hold; a top-up takes the lowest nonce at or above the station's pending one that is not among
    them (families with account nonces).
    """

    case_id: int
    deposit_address: str
    deposit_path: str
    asset: str              # NATIVE or token contract / mint
    decimals: int
    gross: int
    net: int
    fee_total: int
    destination: str        # return address, or the network's hot wallet for credit cases
    fee_collector: str
    gas_station_path: str | None
    cost_mode: str          # "deduct": the deposit pays its own gas; "absorb": the gas station does
    outputs: tuple[dict, ...] = ()  # UTXO: the exact outputs to spend; empty elsewhere
    gas_station_address: str | None = None  # EVM: the address of ``gas_station_path`` (for its nonce)
    own_native: int = 0     # native at the deposit address that is ours to burn for gas (a known leftover)
    station_reserved: tuple[int, ...] = ()  # gas-station nonces held by other live plans
    destination_role: str | None = None  # RETURN_ADDRESS or HOT_WALLET: kept in the plan's meta for its rows
    memo: str | None = None  # SHARED_MEMO refunds: the memo / tag the payment must carry (the claimant's)

    def role_meta(self) -> dict:
        """What every family's plan puts in its ``meta`` from the request: the destination's role,
        which its rows read (:func:`plan_net_label`)."""
        return {"destination_role": self.destination_role} if self.destination_role else {}


@dataclass(frozen=True)
class NonceAhead:
    """A step that cannot be sent yet: its nonce is above its signer's pending nonce (an earlier
    transaction of that account, such as another plan's gas top-up, has not been sent).  Nothing is
    wrong: it is sent once the account reaches ``nonce``."""

    seq: int
    role: str
    signer: str
    nonce: int
    pending: int

    @property
    def message(self) -> str:
        return (f"step {self.seq} ({self.role}) uses nonce {self.nonce} of {self.signer}, which is at nonce "
                f"{self.pending}: nonces {self.pending}..{self.nonce - 1} must be used first")


@dataclass(frozen=True)
class NodeStatus:
    """What a node says about itself, read by ``networks check --live``: the chain it serves (already
    compared with the network file: a node of another chain raises ``wrong_chain`` instead), its newest
    block, and how old that block may be before the node counts as stuck or still syncing."""

    chain: str                   # what was compared, in words: "chain id 31337", "regtest", "mainnet-beta"
    latest_block: int            # block number, height or slot
    latest_time: datetime | None  # the newest block's time (None: the node does not say)
    stale_after: int             # seconds


@dataclass(frozen=True)
class GasHint:
    """What the gas station spends on one sweep at today's fee rates, in native base units, and how
    that was reckoned (for people).  A lower bound to keep the station above, not a quote."""

    native: int
    basis: str


@dataclass(frozen=True)
class CostEstimate:
    """The network cost of a sweep in native base units, and the parameters that make it exact.

    ``params`` is family-specific (EVM: gas price fields and gas per step) and is stored with the
    quote, so that the plan prepared later costs exactly what the quote said.
    """

    native_cost: int
    params: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict:
        return {"native_cost": str(self.native_cost), "params": self.params}

    @classmethod
    def from_dict(cls, data: dict) -> "CostEstimate":
        return cls(int(data["native_cost"]), dict(data.get("params") or {}))


@dataclass(frozen=True)
class PlanStep:
    """One unsigned transaction of a plan.  ``after`` lists steps that must be confirmed first."""

    seq: int
    role: str               # gas_topup | sweep_net | sweep_fee | sweep (UTXO: one tx, two outputs)
    signer_address: str
    signer_path: str
    tx: dict[str, Any]      # family-specific unsigned transaction, JSON-safe (amounts as text)
    after: tuple[int, ...] = ()
    simulation: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class SweepPlan:
    """The plan that approvals sign (by its hash over canonical JSON of ``to_dict()``)."""

    network: str
    family: str
    case_id: int
    asset: str
    gross: int
    net: int
    fee_total: int
    native_cost: int
    destination: str
    fee_collector: str
    steps: tuple[PlanStep, ...]
    meta: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict:
        d = asdict(self)
        for k in ("gross", "net", "fee_total", "native_cost"):
            d[k] = str(d[k])
        d["steps"] = [{**asdict(s), "after": list(s.after)} for s in self.steps]
        d["version"] = 1
        return d

    @classmethod
    def from_dict(cls, d: dict) -> "SweepPlan":
        """Rebuild a stored plan (extra top-level keys such as ``quote_id`` are ignored)."""
        steps = tuple(PlanStep(seq=int(s["seq"]), role=s["role"], signer_address=s["signer_address"],
                               signer_path=s["signer_path"], tx=dict(s["tx"]), after=tuple(s.get("after") or ()),
                               simulation=dict(s.get("simulation") or {})) for s in d["steps"])
        return cls(network=d["network"], family=d["family"], case_id=int(d["case_id"]), asset=d["asset"],
                   gross=int(d["gross"]), net=int(d["net"]), fee_total=int(d["fee_total"]),
                   native_cost=int(d["native_cost"]), destination=d["destination"],
                   fee_collector=d["fee_collector"], steps=steps, meta=dict(d.get("meta") or {}))


class ChainAdapter(ABC):
    """One family's access to its networks.  Construct with a *resolved* ``NetworkConfig``.

    The domain (``recover/``) only ever talks to this interface: every operation it needs is a
    method here, the optional ones declared as :class:`Capability` values and checked with
    :meth:`can`.  Constructing an adapter never contacts the node; the class-level helpers
    (addresses, txids, keys, ownership messages, plan descriptions) never do.

    A new family is a package ``chains/<family>/`` whose adapter subclasses this, registered in
    :mod:`chains.registry`.
    """

    family: ClassVar[str]
    capabilities: ClassVar[frozenset[Capability]]

    def __init__(self, network: NetworkConfig):
        if network.family != self.family:
            raise ValueError(f"{type(self).__name__} serves {self.family} networks, not {network.family}")
        self.network = network

    def scan_deposits(self, from_block: int, to_block: int, *, match, native: bool = True,
                      progress=None) -> Iterator[ScanChunk]:
        """``SCAN``: the deposits of blocks ``from_block..to_block``, as :class:`ScanChunk` s in block
        order.  The adapter reads what the chain shows, chunk by chunk, and asks ``match(keys)`` (a set
        of recipients' address keys, see :meth:`address_key`; one call per chunk) which are ours: it
        never holds the registry.  Token transfers and, with ``native``, native payments to those
        addresses are findings; the caller decides which are stranded.  ``progress(n)`` counts blocks."""
        raise NotImplementedError(f"{self.family} networks cannot be scanned yet")

    def scan_holdings(self, addresses: Sequence[str], *, wanted, progress=None) -> list[FoundDeposit]:
        """``SCAN_HOLDINGS``: what ``addresses`` hold *now*, as the deposits that put it there.

        ``wanted(address, asset)`` (asset ``NATIVE`` or a token) says which holdings the caller
        wants; the adapter asks the node only about those it can see in its family's way and returns
        one ``FoundDeposit`` per crediting output / transfer still held (``txid`` the crediting
        transaction, ``block_number`` its block or slot, ``index`` the output / transfer index), with
        the network's confirmations reached.  ``progress(n)`` counts addresses looked at."""
        raise NotImplementedError(f"{self.family} holdings cannot be scanned yet")

    def scan_incoming(self, addresses: Sequence[str], from_block: int, to_block: int, *,
                      progress=None) -> list[FoundDeposit]:
        """``SCAN_INCOMING``: every successful transfer into one of ``addresses`` in blocks
        ``from_block..to_block``, with its ``sender`` and ``memo`` (shared deposit wallets: the domain
        decides which memos name nobody).  ``index`` is the transfer's index as :meth:`observe` gives it."""
        raise NotImplementedError(f"{self.family} incoming transfers cannot be scanned yet")

    def latest_block(self) -> int:
        """The newest block number (``SCAN`` and ``SCAN_HOLDINGS`` capabilities)."""
        raise NotImplementedError(f"{self.family} networks cannot be scanned yet")

    def can(self, capability: Capability) -> bool:
        return capability in self.capabilities

    # -- the node's health (I/O; ``networks check --live``) --------------------------------------------
    def node_status(self) -> NodeStatus:
        """Ask the node which chain it serves (refusing another, ``wrong_chain``, exit 4) and for its newest
        block.  An unreachable node raises ``RetryableChainError`` (exit 8) after retries and failover."""
        raise Unsupported(f"{self.family} nodes cannot be checked yet")

    def native_balance(self, address: str) -> int:
        """The native balance of ``address`` now, in base units."""
        raise Unsupported(f"{self.family} balances of an address are not read here")

    def sweep_gas_hint(self) -> GasHint | None:
        """What one sweep may take from the gas station at today's fees (I/O: reads fee rates), or None
        when the family's sweeps never spend from it (UTXO: fees come out of the inputs)."""
        return None

    # -- identity of things (pure) --------------------------------------------------------------
    @classmethod
    def address_key(cls, address: str) -> str:
        """The form addresses are compared and stored in (EVM: lowercase; base58/bech32: as is)."""
        return address

    def same_address(self, a: str | None, b: str | None) -> bool:
        return a is not None and b is not None and self.address_key(a) == self.address_key(b)

    @classmethod
    def burn_reason(cls, network: NetworkConfig, address: str) -> str | None:
        """Why funds sent to ``address`` are lost for good ("the zero address", "a precompile"...), or
        None.  Pure: a destination check at ``case open`` needs no node."""
        return None

    def memo_required(self, address: str) -> bool:
        """``SHARED_MEMO``: whether the ledger itself says payments to ``address`` must carry a memo / tag
        (XRPL ``lsfRequireDestTag``, Stellar SEP-29) (I/O).  Families without such a flag: False; the
        network file's ``memo_required_addresses`` list is checked by the domain either way."""
        return False

    def is_contract(self, address: str) -> bool:
        """Whether ``address`` holds code (I/O); families without contracts at addresses: False."""
        return False

    @classmethod
    def dust_limit_for(cls, network: NetworkConfig) -> int:
        """The smallest output worth creating on ``network``, in native base units (0: no such rule).
        A class method: quoting needs it without a node (or a resolved RPC URL)."""
        return 0

    @property
    def dust_limit(self) -> int:
        return type(self).dust_limit_for(self.network)

    # -- gather facts (I/O) -------------------------------------------------------------------
    @abstractmethod
    def observe(self, txids: Sequence[str], *, native_value: bool = True) -> dict[str, TxObservation]:
        """Transactions with status, block, confirmations and the transfers they claim (batched).

        ``native_value=False`` lets an adapter skip a slow read that only native-value transfers
        need (EVM: the transaction body); callers re-observe with True where they need it.
        """

    def prove(self, items: Sequence[tuple[TxObservation, Transfer]]) -> list[BalanceProof]:
        """Balance proofs for the given transfers (batched); same order as ``items``; the first
        item that cannot be proven raises its error."""
        results = self.prove_each(items)
        for r in results:
            if isinstance(r, ChainError):
                raise r
        return results  # type: ignore[return-value]

    @abstractmethod
    def prove_each(self, items: Sequence[tuple[TxObservation, Transfer]]) -> list["BalanceProof | ChainError"]:
        """Like :meth:`prove`, batched, but one bad item gives its error in its place instead of raising."""

    def internal_transfer(self, obs: TxObservation, recipient: str) -> Transfer | None:
        """``INTERNAL_TRANSFERS``: the native value ``obs`` moved to ``recipient`` by contract calls, as
        a transfer to prove (None: it moved none).  Families without contracts never move value so."""
        return None

    def nested_parents(self, addresses: Sequence[str]) -> dict[str, dict]:
        """``NESTED_ACCOUNTS``: for each address that is itself an account owned by another (Solana: a
        token account), ``{"wallet": owner, ...}``; other addresses are left out.  Default: none."""
        return {}

    @abstractmethod
    def tx_status(self, txid: str) -> TxObservation:
        """One transaction's current status (pending ones: found, ``block_number`` None)."""

    @abstractmethod
    def recheck_deposit(self, *, txid: str, block_number: int | None, block_hash: str | None, recipient: str,
                        asset: str, amount: int, index: int | None = None) -> str | None:
        """Before signing and sending: ``None`` if the deposit is still there (its block canonical, the
        funds at the address), else the reason it is not."""

    # -- plan (I/O to gather, pure to build) --------------------------------------------------
    @abstractmethod
    def estimate_cost(self, request: SweepRequest) -> CostEstimate:
        """The network cost of sweeping ``request`` at current fee rates (amounts may be provisional)."""

    def gas_station_use(self, cost: CostEstimate) -> str | None:
        """Why a plan at ``cost`` (a stored quote's estimate) needs the gas station's address, in words
        ("it tops up the deposit address with gas"), or None when it does not (pure).  The domain asks
        before building the plan, so a host that does not know the address is told which setting to
        give instead of the adapter refusing halfway.  Default: families without a gas station."""
        return None

    @abstractmethod
    def prepare(self, request: SweepRequest, cost: CostEstimate) -> SweepPlan:
        """Gather nonces/balances, build the plan purely (costing exactly ``cost``), and simulate it.

        Raises ``PermanentChainError`` (code ``simulation_failed``, ``funds_missing``...) when a
        step would fail, with the decoded reason.
        """

    @abstractmethod
    def simulate(self, plan: SweepPlan) -> SweepPlan:
        """Dry-run every step again (before signing); raises ``PermanentChainError`` on failure."""

    def nonce_conflict(self, plan: SweepPlan) -> str | None:
        """Why ``plan``'s steps can no longer be mined as signed because something else used their
        sequence numbers (EVM: an account nonce below the account's pending nonce), or None.  Steps the
        node already knows by txid are the plan's own and are not a conflict; callers pass the unsent
        steps.  Families without account nonces: None."""
        return None

    def nonce_ahead(self, plan: SweepPlan) -> NonceAhead | None:
        """The first of ``plan``'s steps whose nonce is *above* its signer's pending nonce, or None.  Such
        a step must wait rather than be sent: a node would only queue it, and a queued transaction of a
        plan voided meanwhile could still land once the gap fills.  Families without account nonces:
        None."""
        return None

    @classmethod
    def station_nonce_of(cls, plan: SweepPlan) -> tuple[str, int] | None:
        """``(gas station address, nonce)`` of the plan's gas top-up, the nonce it reserves; None when
        the plan tops up nothing or the family has no account nonces (pure)."""
        return None

    def own_gas_left(self, plan: SweepPlan, txids: Sequence[str]) -> int:
        """After ``plan``'s transactions (``txids``, in step order) are confirmed: the native base units
        of the exchange's own gas (its top-ups and the leftover it counted on,
        ``plan.meta["own_native_used"]``) that they did not burn and that stay at the deposit address
        (I/O: reads what they paid).  Default 0: families whose plans leave none of our gas at a
        deposit address (UTXO fees come out of the inputs; Solana's fee payer is the gas station)."""
        return 0

    @abstractmethod
    def describe_plan(self, plan: SweepPlan) -> list[StepView]:
        """Every step of ``plan`` as people read it (pure)."""

    def signing_keys(self, plan: SweepPlan) -> dict[str, str]:
        """Every key the plan needs: derivation path -> the address that key must control (pure).
        Default: each step's signer; families with extra signers (a fee payer) add theirs."""
        return {s.signer_path: s.signer_address for s in plan.steps}

    # -- keys (pure) ----------------------------------------------------------------------------
    @abstractmethod
    def derive_key(self, seed: bytes, path: str) -> DerivedKey:
        """The key at HD ``path`` of a BIP-39 ``seed`` (64 bytes, :func:`chains.keys.mnemonic_seed`) and
        the address it controls on this network.  Errors never contain key material."""

    def key_from_secret(self, secret: bytes) -> DerivedKey:
        """A key from raw private-key bytes (a decrypted keystore); families that cannot: refuse."""
        raise Unsupported(f"{self.family} keys cannot be loaded from raw key bytes", code="signer_backend")

    def address_of_public_key(self, curve: str, public_key: bytes) -> str:
        """The address a public key read from an HSM token controls on this network (``curve``:
        :data:`chains.hsm.SECP256K1` with 33 compressed bytes, or :data:`chains.hsm.ED25519` with 32).
        Families whose wallets cannot be HSM keys (UTXO: no gas station, no shared wallet) refuse."""
        raise Unsupported(f"{self.family} wallets cannot be kept on an HSM", code="signer_backend")

    # -- sign / send / track (I/O) --------------------------------------------------------------
    @abstractmethod
    def sign(self, plan: SweepPlan, key_for_path) -> list[str]:
        """Signed raw transactions, one per step, in order.  ``key_for_path(path) -> DerivedKey.key``."""

    @abstractmethod
    def txid_of(self, raw: str) -> str:
        """The transaction id of signed bytes (pure)."""

    @abstractmethod
    def broadcast(self, raw: str) -> str:
        """Send one signed transaction; "already known" counts as success.  Returns its txid."""

    # -- offline signing (``OFFLINE_EXPORT``) ---------------------------------------------------
    def export_unsigned(self, plan: SweepPlan) -> dict:
        """The plan for an offline signer, as a JSON-safe document with a ``format`` key."""
        raise Unsupported(f"{self.family} plans cannot be exported for offline signing", code="no_offline")

    def signed_from_document(self, doc: dict) -> list[str]:
        """The signed raw transactions an offline signer returned (``doc["signed"]``, or the family's
        own form such as a finalized PSBT), not yet checked."""
        raws = doc.get("signed")
        if not isinstance(raws, list) or not all(isinstance(r, str) for r in raws):
            raise InvalidRequest("the file has no list of signed transactions", code="bad_file")
        return raws

    def check_signed(self, plan: SweepPlan, raws: Sequence[str]) -> list[str]:
        """Each imported raw transaction must be exactly the plan's step, signed by its signer.
        Returns the txids; raises ``SweepRefused`` ``signed_differs`` naming the first difference."""
        raise Unsupported(f"{self.family} plans cannot be signed offline", code="no_offline")

    def signed_step_problem(self, step: PlanStep, raw: str) -> str | None:
        """What differs between signed bytes and the plan step they claim to be (pure: no node), or
        None.  Completion and credits rest on it: a transaction copied from another case's rows is
        not this plan's step.  Families whose signed bytes cannot be matched purely (a Solana
        transaction carries a recent blockhash the plan does not fix) return None and the caller relies
        on the wallet team's signed record of the txids."""
        return None

    # -- ownership proofs (``OWNERSHIP_PROOF``, pure) -------------------------------------------
    def verify_ownership(self, message: str, signature: str, sender: str) -> OwnershipCheck:
        """Whether ``signature`` is the family's signed-message format of ``message`` by ``sender``."""
        return OwnershipCheck(False, "none")


def adapter_for(network: NetworkConfig) -> ChainAdapter:
    """The adapter of the network's family (see :mod:`chains.registry`)."""
    return adapter_class(network.family)(network)
