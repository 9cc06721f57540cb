"""Issue 27: ``verify --all``'s table is written directly when it is plain text, and it is rich's table.

Rich drew the table of a 1,000-case batch a cell at a time (a quarter of a second); ``cli._print_table``
writes the same characters itself when the output has no colours, every cell is one line of printable
ASCII and the table fits the width.  Here both draw the same tables (random cells, titles and widths,
the ones it hands to rich too) and must print the same text.
"""

from __future__ import annotations

import io

from hypothesis import given, settings
from hypothesis import strategies as st

import cli

_CELL = st.text(alphabet=st.characters(min_codepoint=0x20, max_codepoint=0x7E), max_size=30)
_ODD = st.sampled_from(["", " lead", "trail ", "two\nlines", "wide 界", "tab\there", "  ", "é"])


def _rich(title, columns, rows, width) -> str:
    from rich.console import Console
    from rich.table import Table

    out = io.StringIO()
    table = Table(title=title)
    for col in columns:
        table.add_column(col, overflow="fold")
    for r in rows:
        table.add_row(*r)
    Console(highlight=False, markup=False, width=width, file=out).print(table)
    return out.getvalue()


def _ours(title, columns, rows, width) -> str:
    from rich.console import Console

    out = io.StringIO()
    cli._print_table(title, columns, rows, Console(highlight=False, markup=False, width=width, file=out))
    return out.getvalue()


@settings(max_examples=300, deadline=None)
@given(ncols=st.integers(1, 5), nrows=st.integers(0, 6), data=st.data(), width=st.integers(20, 200),
       title=st.one_of(_CELL, _ODD))
def test_the_plain_table_is_rich_table(ncols, nrows, data, width, title):
    cell = st.one_of(_CELL, _CELL, _CELL, _ODD)
    columns = tuple(data.draw(st.lists(cell, min_size=ncols, max_size=ncols)))
    rows = [tuple(data.draw(st.lists(cell, min_size=ncols, max_size=ncols))) for _ in range(nrows)]
    assert _ours(title, columns, rows, width) == _rich(title, columns, rows, width)


def test_a_verify_all_table_of_a_thousand_cases_is_rich_table():
    columns = ("case", "outcome", "code", "classification", "message")
    rows = [(str(i), "verified", "verified", "unlisted_token", f"unlisted_token: {10**6 + i} base units proven")
            for i in range(1, 1001)]
    rows[7] = ("8", "retry", "not_ours", "", "0xAb is not one of our deposit addresses (the case stays open)")
    title = "verify --all: 1000 cases: 999 verified, 1 to retry later (not_ours)"
    for width in (200, 120, 80):  # 80: too narrow, rich folds the messages
        assert _ours(title, columns, rows, width) == _rich(title, columns, rows, width)


def test_a_plain_table_does_not_go_through_rich():
    """The point of it: the 1,000-case table is written directly (rich's ``print`` is not called)."""
    from rich.console import Console

    class NoRich(Console):
        def print(self, *args, **kwargs):
            raise AssertionError("drawn by rich")

    out = io.StringIO()
    rows = [(str(i), "verified", "verified", "unlisted_token", f"{i} base units proven") for i in range(1, 1001)]
    cli._print_table("verify --all: 1000 cases: 1000 verified", ("case", "outcome", "code", "classification",
                                                                  "message"), rows,
                     NoRich(highlight=False, markup=False, width=200, file=out))
    assert out.getvalue().count("\n") == 1000 + 5
