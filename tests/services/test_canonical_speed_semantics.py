"""Canonical JSON after its speed-up (issue 13): byte for byte what it was, and it still refuses
what it refused (a float anywhere, a key that is not text), with the same message.

``_reference`` is the implementation before the change (its check, ``_check``, is unchanged and
kept in ``recover.storage.canonical`` to name refusals; then ``json.dumps``): every value, generated or
hand-picked, must give the same text or the same error from both.
"""

from __future__ import annotations

import hashlib
import json
from collections import OrderedDict, namedtuple
from datetime import datetime, timezone
from decimal import Decimal
from enum import IntEnum

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from recover.storage.canonical import _check, canonical_json, sha256_hex


def _reference(value) -> str:
    _check(value)  # the check as it was: canonical_json now runs it only to name a refusal
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def _outcome(fn, value):
    try:
        return ("ok", fn(value))
    except Exception as exc:  # noqa: BLE001 - the type and message are what is compared
        return ("error", type(exc).__name__, str(exc))


class Text(str):
    pass


class Number(int):
    pass


class Money(float):
    pass


class Mapping(dict):
    pass


class Items(list):
    pass


class Level(IntEnum):
    LOW = 1


Pair = namedtuple("Pair", "a b")

scalars = st.one_of(
    st.none(), st.booleans(), st.integers(min_value=-(2**300), max_value=2**300), st.text(max_size=8),
    st.floats(allow_nan=True, allow_infinity=True), st.builds(Money, st.floats(allow_nan=False)),
    st.builds(Text, st.text(max_size=4)), st.builds(Number, st.integers()), st.just(Level.LOW),
    st.builds(Decimal, st.integers()), st.just(datetime(2026, 1, 2, tzinfo=timezone.utc)), st.binary(max_size=3))
keys = st.one_of(st.text(max_size=6), st.builds(Text, st.text(max_size=3)), st.integers(), st.none(),
                 st.booleans(), st.floats(allow_nan=False), st.tuples(st.integers()))
trees = st.recursive(
    scalars,
    lambda inner: st.one_of(
        st.lists(inner, max_size=4), st.lists(inner, max_size=3).map(tuple),
        st.lists(inner, max_size=3).map(Items), st.builds(Pair, inner, inner),
        st.dictionaries(keys, inner, max_size=4), st.dictionaries(st.text(max_size=5), inner, max_size=4),
        st.dictionaries(st.text(max_size=5), inner, max_size=3).map(Mapping),
        st.dictionaries(st.text(max_size=5), inner, max_size=3).map(OrderedDict)),
    max_leaves=25)
# mostly well-formed documents (no float, text keys): the bytes must then be identical
clean_trees = st.recursive(
    st.one_of(st.none(), st.booleans(), st.integers(), st.text(max_size=10)),
    lambda inner: st.one_of(st.lists(inner, max_size=5), st.dictionaries(st.text(max_size=8), inner, max_size=5)),
    max_leaves=40)


@settings(max_examples=250, deadline=None)
@given(trees)
def test_same_text_or_same_refusal_as_the_reference(value):
    assert _outcome(canonical_json, value) == _outcome(_reference, value)


@settings(max_examples=120, deadline=None)
@given(clean_trees)
def test_well_formed_documents_give_identical_bytes_and_hashes(value):
    assert canonical_json(value) == _reference(value)
    assert sha256_hex(value) == hashlib.sha256(_reference(value).encode("utf-8")).hexdigest()


@pytest.mark.parametrize("value, where", [
    (1.5, "$"),
    ({"amount": 1.0}, "$.amount"),
    ({"a": {"b": [1, "x", {"c": 0.1}]}}, "$.a.b[2].c"),
    ([0, (1, 2.0)], "$[1][1]"),
    ({"deposits": [{"amount": Money(1)}]}, "$.deposits[0].amount"),
    (Mapping(x=Items([float("nan")])), "$.x[0]"),
    (Pair(1, {"p": float("inf")}), "$[1].p"),
])
def test_a_float_anywhere_is_refused_and_named(value, where):
    with pytest.raises(TypeError) as err:
        canonical_json(value)
    assert str(err.value) == f"float at {where}: canonical JSON carries money as int or text, never float"
    with pytest.raises(TypeError):
        sha256_hex(value)


@pytest.mark.parametrize("value, message", [
    ({1: "a"}, "non-text key 1 at $"),
    ({"a": {None: 1}}, "non-text key None at $.a"),
    ({"a": [{"ok": 1}, {(1,): 2}]}, "non-text key (1,) at $.a[1]"),
    ({"a": {1.5: 1}}, "non-text key 1.5 at $.a"),
])
def test_a_key_that_is_not_text_is_refused_and_named(value, message):
    with pytest.raises(TypeError) as err:
        canonical_json(value)
    assert str(err.value) == message


def test_the_first_offence_in_order_is_the_one_named():
    value = {"a": [1, {"b": 2.5}], "c": 0.5, 3: "x"}
    with pytest.raises(TypeError) as err:
        canonical_json(value)
    assert str(err.value).startswith("float at $.a[1].b:")


def test_known_bytes():
    event = {"seq": 2, "case_id": 7, "actor": "spec", "action": "verified", "from_status": "open",
             "to_status": "verified", "details": {"deposits": [{"amount": "1000000", "asset": "0xAb", "index": 0}],
                                                  "block": 12, "classification": "token"},
             "created_at": "2026-01-02T03:04:05.000006Z", "prev_hash": "0" * 64}
    text = canonical_json(event)
    assert text == ('{"action":"verified","actor":"spec","case_id":7,"created_at":"2026-01-02T03:04:05.000006Z",'
                    '"details":{"block":12,"classification":"token","deposits":[{"amount":"1000000","asset":"0xAb",'
                    '"index":0}]},"from_status":"open","prev_hash":"' + "0" * 64 + '","seq":2,"to_status":"verified"}')
    assert canonical_json({"ü": "é", "n": None, "t": True, "l": (1, [2])}) == '{"l":[1,[2]],"n":null,"t":true,"ü":"é"}'
    assert sha256_hex(event) == hashlib.sha256(text.encode("utf-8")).hexdigest()


def test_what_json_cannot_write_is_still_an_error():
    for value in ({"d": Decimal("1.5")}, [datetime(2026, 1, 1)], {"b": b"x"}, {1, 2}):
        assert _outcome(canonical_json, value) == _outcome(_reference, value)
        assert _outcome(canonical_json, value)[0] == "error"
