"""The tests' name for the injectived devnet, which lives in the package (``chains/cosmos/devnet.py``) so
that ``recover demo --memo`` can run it too: every name the tests import stays importable from here."""

from chains.cosmos.devnet import *  # noqa: F401,F403
from chains.cosmos.devnet import (ACCOUNTS, CHAIN_ID, DECIMALS, DENOM, GAS_PRICE, GENESIS_COINS,  # noqa: F401
                                  IBC_DENOM, OUT_OF_GAS_SHORTFALL, SEND_GAS, CosmosNode, CosmosTxError,
                                  DevnetUnavailable, coins, injectived_env, injectived_path, start_injectived)
