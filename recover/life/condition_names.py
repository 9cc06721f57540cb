"""The names of conditions satisfied by a sign-off (``recover case signoff --condition``).

Its own module, free of imports, so the CLI can list them in ``--help`` without loading the database
layer (``recover --help`` stays instant).
"""

SIGNED_OFF = ("contract_deployment", "contract_destination", "fork_signing", "gas_topup", "manual_review",
              "min_value", "shared_address_memo")
