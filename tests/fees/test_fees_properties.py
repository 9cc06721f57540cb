"""Property tests: conservation, non-negativity, clamps and monotonicity over wide inputs."""

import decimal
from datetime import datetime, timedelta, timezone
from decimal import Decimal

from hypothesis import given, settings
from hypothesis import strategies as st

from fees import FeePolicy, Price, compute_quote

NOW = datetime(2025, 6, 1, tzinfo=timezone.utc)
SETTINGS = settings(max_examples=300, deadline=None)


def decimals_(lo_exp=-12, hi_exp=6, max_mantissa=10**12):
    return st.builds(lambda m, e: Decimal(m).scaleb(e), st.integers(1, max_mantissa), st.integers(lo_exp, hi_exp))


money = st.one_of(st.none(), st.just(Decimal(0)), decimals_(-6, 5, 10**6))
base_units = st.one_of(st.just(0), st.integers(0, 10**6), st.integers(0, 10**25))
multiples = st.one_of(st.just(Decimal(0)), st.just(Decimal(5)), decimals_(-3, 1, 10**4))


@st.composite
def policies(draw):
    pct = draw(st.one_of(st.none(), st.builds(lambda m, e: min(Decimal(m).scaleb(e), Decimal(100)),
                                              st.integers(0, 10000), st.integers(-3, 0))))
    lo, hi = draw(money), draw(money)
    refund = draw(st.booleans())  # withdrawal_fee and its multiple come together
    if lo is not None and hi is not None and lo > hi:
        lo, hi = hi, lo
    return FeePolicy(
        percent=pct,
        percent_above_usd=draw(money) if pct is not None else None,
        flat_usd=draw(money),
        min_usd=lo,
        max_usd=hi,
        min_value_usd=draw(money),
        network_cost=draw(st.sampled_from(["deduct", "absorb"])),
        unpriced=draw(st.sampled_from(["refuse", "percent_only"])),
        max_age_days=draw(st.one_of(st.none(), st.integers(0, 400))),
        withdrawal_fee=draw(base_units) if refund else None,
        withdrawal_fee_multiple=draw(multiples) if refund else None,
        min_withdrawal=draw(st.one_of(st.none(), base_units)),
    )


@st.composite
def scenarios(draw):
    decimals = draw(st.integers(0, 24))
    is_native = draw(st.booleans())
    native_decimals = decimals if is_native else draw(st.integers(0, 24))
    age = st.timedeltas(min_value=timedelta(0), max_value=timedelta(hours=2))
    price = draw(st.one_of(st.none(), st.builds(lambda u, a: Price("A", u, NOW - a), decimals_(), age)))
    native = draw(st.one_of(st.none(), st.builds(lambda u, a: Price("N", u, NOW - a), decimals_(-4, 5), age)))
    return dict(
        decimals=decimals,
        price=price,
        is_native=is_native,
        native_price=native,
        native_decimals=native_decimals,
        network_cost_native=draw(st.one_of(st.just(0), st.integers(0, 10**25))),
        policy=draw(policies()),
        deposit_time=NOW - timedelta(days=draw(st.integers(0, 500))),
        now=NOW,
    )


gross_ = st.integers(1, 10**30)


def check_invariants(q):
    assert q.net + q.fee + q.network_cost_in_asset == q.gross
    assert q.fee >= 0 and q.net >= 0 and q.network_cost_in_asset >= 0
    assert q.economical is (q.refusal is None)
    if q.refusal is None:
        assert q.net > 0


@SETTINGS
@given(gross=gross_, sc=scenarios())
def test_conservation_and_clamps(gross, sc):
    q = compute_quote(gross=gross, **sc)
    check_invariants(q)
    pol, price = sc["policy"], sc["price"]
    if q.value_usd is not None and q.fee < q.gross:
        # Priced and not clamped by the gross: the fee's USD value respects the clamps,
        # over-charging by less than one base unit (the fee rounds up).
        with decimal.localcontext(decimal.Context(prec=200)):
            unit = price.usd.scaleb(-sc["decimals"])
            fee_value = q.fee * unit
            assert fee_value >= q.fee_usd > fee_value - unit
            if pol.min_usd is not None:
                assert fee_value >= pol.min_usd
            if pol.max_usd is not None:
                # max_usd caps the USD part only: the withdrawal fee comes on top.
                assert fee_value - unit < pol.max_usd + withdrawal_fee_usd(q, sc)


def withdrawal_fee_usd(q, sc):
    """USD value of the policy's withdrawal-fee part, at the native price the quote used."""
    wd = sc["policy"].withdrawal_fee_native
    if not wd:
        return Decimal(0)
    native_price, decimals = (sc["price"], sc["decimals"]) if sc["is_native"] else (sc["native_price"], sc["native_decimals"])
    with decimal.localcontext(decimal.Context(prec=200)):
        return wd * native_price.usd.scaleb(-decimals)


@SETTINGS
@given(gross=gross_, sc=scenarios())
def test_withdrawal_fee_and_minimum(gross, sc):
    q = compute_quote(gross=gross, **sc)
    check_invariants(q)
    pol, computed = sc["policy"], not any("no fee computed" in line for line in q.lines)
    wd = pol.withdrawal_fee_native
    if sc["is_native"] and computed and wd is not None:
        # In kind, on top of the rest: the fee holds it in full unless clamped to the deposit.
        assert q.fee >= min(wd, gross)
    if q.refusal is not None and q.refusal.code == "below_min_withdrawal":
        assert pol.min_withdrawal is not None and (not sc["is_native"] or gross < pol.min_withdrawal)
    if sc["is_native"] and computed and pol.min_withdrawal is not None and gross < pol.min_withdrawal:
        assert q.refusal is not None


@SETTINGS
@given(g1=gross_, extra=st.one_of(st.integers(1, 1000), gross_), sc=scenarios())
def test_monotonic_net(g1, extra, sc):
    g2 = min(g1 + extra, 10**30 + 1000)
    q1 = compute_quote(gross=g1, **sc)
    q2 = compute_quote(gross=g2, **sc)
    check_invariants(q2)
    assert q2.net >= q1.net


@SETTINGS
@given(gross=gross_, decimals=st.integers(0, 24), pct=st.integers(0, 100), fee=base_units, mult=multiples)
def test_unpriced_native_pays_the_withdrawal_fee_in_kind(gross, decimals, pct, fee, mult):
    pol = FeePolicy(percent=Decimal(pct), withdrawal_fee=fee, withdrawal_fee_multiple=mult)
    q = compute_quote(gross=gross, decimals=decimals, price=None, is_native=True, native_price=None,
                      native_decimals=decimals, network_cost_native=0, policy=pol, now=NOW)
    check_invariants(q)
    wd = -((-fee * mult.as_integer_ratio()[0]) // mult.as_integer_ratio()[1])  # ceil(mult x fee)
    assert q.fee == min(-(-gross * pct // 100) + wd, gross)


@SETTINGS
@given(gross=gross_, decimals=st.integers(0, 24), pct=st.integers(0, 100))
def test_unpriced_percent_in_kind(gross, decimals, pct):
    pol = FeePolicy(percent=Decimal(pct))
    q = compute_quote(gross=gross, decimals=decimals, price=None, is_native=False, native_price=None,
                      native_decimals=18, network_cost_native=10**18, policy=pol, now=NOW)
    check_invariants(q)
    assert q.network_cost_in_asset == 0
    # fee = ceil(gross * pct / 100), clamped to gross
    assert q.fee == min(-(-gross * pct // 100), gross)
