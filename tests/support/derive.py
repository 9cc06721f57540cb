"""The test wallets' keys by derivation path, per family: what an adapter's ``sign`` asks for."""

from __future__ import annotations


def key_for_path(family: str, mnemonic: str, network: str | None = None):
    """A ``path -> key`` function over ``mnemonic`` in ``family``'s derivation (``network``: UTXO)."""
    if family == "evm":
        from chains.evm.keys import derive_evm_account

        return lambda path: derive_evm_account(mnemonic, path)
    if family == "utxo":
        from chains.utxo.keys import derive_utxo_key

        return lambda path: derive_utxo_key(mnemonic, path, network)[0]
    if family == "solana":
        from chains.solana.keys import derive_solana_keypair

        return lambda path: derive_solana_keypair(mnemonic, path)
    raise ValueError(family)
