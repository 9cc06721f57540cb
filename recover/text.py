"""Small wording helpers for messages people read (no imports: the CLI uses them at start-up)."""

# Imports inside functions: decimal only when an amount is formatted (the CLI imports this module at
# start-up).


def plural(n: int, noun: str, nouns: str | None = None) -> str:
    """``1 case``, ``2 cases``, ``0 cases`` (``nouns`` for irregular plurals)."""
    return f"{n} {noun if n == 1 else (nouns or noun + 's')}"


def units_decimal(base, decimals: int | None):
    """Base units as an exact ``Decimal`` of units (None when either is unknown): the one conversion
    that the CLI's text and the web pages' figures both use; never a float."""
    from decimal import Decimal

    if base is None or decimals is None:
        return None
    return Decimal(int(base)).scaleb(-int(decimals))


def units(base, decimals: int | None, symbol: str | None = None) -> str:
    """Base units as units, exactly (``1000000000000000000``, 18, ``ETH`` -> ``1.0 ETH``); no float."""
    if decimals is None:
        return f"{base} {symbol}".strip() if symbol else str(base)
    text = format(units_decimal(base, decimals), "f")
    if "." in text:
        text = text.rstrip("0")
        text = text + "0" if text.endswith(".") else text
    else:
        text += ".0"
    return f"{text} {symbol}" if symbol else text


def asset_name(symbol: str | None, asset: str | None, *, contract: bool = False) -> str:
    """How people read an asset: its symbol (``UNL``), with its contract or mint when asked
    (``UNL (0x5FbD...)``); the contract alone when the chain gave no symbol.  ``asset`` is
    ``"native"`` for the network's own coin, which has no contract."""
    if not symbol:
        return asset or ""
    if contract and asset and asset != "native":
        return f"{symbol} ({asset})"
    return symbol
