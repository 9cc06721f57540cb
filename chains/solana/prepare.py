"""Gathering what a sweep plan needs (one batch per round of reads), then building it purely
(:mod:`chains.solana.plan`) and simulating it (:mod:`chains.solana.sign`)."""

from __future__ import annotations

from chains.base import NATIVE, CostEstimate, SweepPlan, SweepRequest
from chains.solana import node as rq
from chains.solana import plan as build
from chains.solana import spl
from chains.solana.common import ATA_SIZE, pubkey, reads_node


class PrepareMixin:
    """estimate_cost / prepare of :class:`chains.solana.adapter.SolanaAdapter`."""

    def _cost_facts(self, request: SweepRequest) -> dict:
        """Mint program and decimals, which ATAs exist, rent figures; for a *nested* deposit
        (``deposit_address`` is itself a token account) also the facts RecoverNested needs
        (``facts["nested"]``, else None).  Two rounds of batched reads for a token, one for SOL."""
        mint, deposit = request.asset, request.deposit_address
        if request.asset == NATIVE:
            return {"rent0": int(self.node.call(rq.get_minimum_balance_for_rent_exemption(0))), "nested": None}
        mint_acc, dep_acc = self._accounts([mint, deposit])
        program = mint_acc.get("owner") if mint_acc else None
        decimals = spl.mint_decimals(mint_acc)
        if decimals is None:
            raise spl.unknown_mint(mint, self.network.key)
        atas = {"destination": spl.ata(request.destination, mint, program)}
        if request.fee_total > 0:
            atas["fee_collector"] = spl.ata(request.fee_collector, mint, program)
        nested = build.nested_facts(request, dep_acc, program)
        addresses = list(atas.values()) + ([nested["token_account"], nested["wallet_ata"]] if nested else [])
        acc_reqs = self.node.accounts_requests(addresses)
        answers = self.node.batch(acc_reqs + [rq.get_minimum_balance_for_rent_exemption(ATA_SIZE[program]),
                                              rq.get_minimum_balance_for_rent_exemption(0)])
        accs = self.node.accounts_from(answers[:len(acc_reqs)], len(addresses))
        rent_ata, rent0 = int(rq.must(answers[-2])), int(rq.must(answers[-1]))
        if nested:
            accs, (nested_acc, wallet_ata_acc) = accs[:len(atas)], accs[len(atas):]
            build.nested_accounts(request, nested, nested_acc, wallet_ata_acc, rent_ata)
        return {"rent0": rent0, "program": program, "decimals": decimals, "atas": atas,
                "missing": [role for role, acc in zip(atas, accs) if acc is None],
                "ata_accounts": dict(zip(atas.values(), accs)), "rent_ata": rent_ata, "nested": nested}

    @reads_node
    def estimate_cost(self, request: SweepRequest) -> CostEstimate:
        self.check_cluster()
        pubkey(request.deposit_address, "deposit address")
        pubkey(request.destination, "destination")
        pubkey(request.fee_collector, "fee collector")
        return build.cost_estimate(request, self._cost_facts(request))

    @reads_node
    def prepare(self, request: SweepRequest, cost: CostEstimate) -> SweepPlan:
        self.check_cluster()
        build.check_quote(request, cost)
        facts = self._cost_facts(request)
        deposit, station = request.deposit_address, request.gas_station_address
        is_native = request.asset == NATIVE
        second = rq.get_balance(deposit) if is_native else rq.get_token_accounts_by_owner(deposit, request.asset)
        st_bal, answer = self.node.batch([rq.get_balance(station), second])
        station_lamports, answer = int(rq.value(rq.must(st_bal))), rq.value(rq.must(answer))
        plan = build.build_plan(self.network.key, request, cost, facts,
                                deposit_lamports=int(answer) if is_native else None,
                                station_lamports=station_lamports,
                                holdings=[] if is_native else spl.holdings(answer, deposit, request.asset))
        return self.simulate(plan)
