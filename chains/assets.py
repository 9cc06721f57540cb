"""The ``asset`` name of a native-value transfer, light enough for readers that never load the
adapter contract (``chains.base`` re-exports it)."""

NATIVE = "native"
