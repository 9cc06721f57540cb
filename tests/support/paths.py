"""Where things are, for tests and the helpers they share (tests/support is on ``sys.path``)."""

from pathlib import Path

SUPPORT = Path(__file__).resolve().parent
TESTS = SUPPORT.parent
REPO = TESTS.parent
CHAIN_CONFIGS = REPO / "chain_configs"
