# The README's two commands: `make serve` runs golive, `make test` runs the whole suite.
# Each installs what it needs: a virtualenv with the package, the built web player and,
# when run as root, Debian packages (chromium for browser tests).

PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
PLAYER := src/golive/web/static/dist/player.js
PYTEST_ARGS ?= -n 2

.PHONY: serve test test-lowest install web system-deps lint bench bench-deps bench-check clean docs-layers fuzz

serve: install web
	$(BIN)/golive serve

# Three runs: the oldest dependency versions allowed (smoke), then everything but the browser
# tests two at a time, then the browser tests one at a time. A player's stalls and latency are
# what the tests assert, and on a 2-core machine a browser beside another test's publisher and
# encoders is starved of CPU (the dash.js test saw 20 stalls that way, none alone).
test: install web system-deps lint test-lowest
	$(BIN)/pytest $(PYTEST_ARGS) -m "not browser"
	$(BIN)/pytest -n 0 -m browser

install: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[test,bench]'
	touch $@

# The lowest versions pyproject.toml allows, in a venv of their own: a lower bound the code has
# outgrown (an option, an API) fails the end-to-end smoke test here. Rebuilt on every run so
# nothing newer lingers from an earlier resolution; uv's cache keeps it quick.
LOWEST := .venv-lowest

test-lowest: install web
	rm -rf $(LOWEST)
	$(BIN)/uv venv --quiet --python $(BIN)/python $(LOWEST)
	VIRTUAL_ENV=$(CURDIR)/$(LOWEST) $(BIN)/uv pip install --quiet --resolution lowest-direct -e '.[test]'
	$(LOWEST)/bin/python -m pytest -p no:cacheprovider -n 0 tests/e2e/test_smoke.py

web: $(PLAYER)

$(PLAYER): web/package.json web/package-lock.json web/build.mjs $(wildcard web/src/*.ts)
	cd web && npm ci --no-audit --no-fund --loglevel=error && npm run --silent build

# The servers the tests start on loopback, installed when we can (root) and one is missing:
# chromium (browser tests), redis-server and PostgreSQL (scale-out), nginx and Varnish (edge
# caches). The tests start their own throwaway instances; the packages' services stay off.
# SRT ingest: libsrt (loaded with ctypes); its e2e tests also publish with GStreamer.
SYSTEM_BINARIES := chromium redis-server varnishd nginx /usr/lib/postgresql/*/bin/initdb \
	/usr/lib/x86_64-linux-gnu/libsrt.so.1.5 gst-launch-1.0
SYSTEM_PACKAGES := chromium redis-server varnish nginx postgresql libsrt1.5-openssl \
	gstreamer1.0-tools gstreamer1.0-plugins-base gstreamer1.0-plugins-good \
	gstreamer1.0-plugins-bad gstreamer1.0-plugins-ugly gstreamer1.0-libav

system-deps:
	@missing=0; for b in $(SYSTEM_BINARIES); do command -v $$b >/dev/null 2>&1 || [ -e $$b ] || missing=1; done; \
	if [ $$missing = 1 ] && [ "$$(id -u)" = 0 ]; then \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $(SYSTEM_PACKAGES) >/dev/null; \
	fi

LINT_DIRS := src tests $(wildcard bench)

lint: install
	$(BIN)/ruff check $(LINT_DIRS)
	$(BIN)/ruff format --check $(LINT_DIRS)
	$(BIN)/mypy

bench-deps: install web
	@if ! [ -e /usr/lib/nginx/modules/ngx_rtmp_module.so ] && [ "$$(id -u)" = 0 ]; then \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq nginx libnginx-mod-rtmp chromium >/dev/null; \
	fi

bench: bench-deps
	$(BIN)/python bench/latency.py
	$(BIN)/python bench/ingest.py

# A fresh run against bench/recorded.json: exits non-zero on a regression over 10% in CPU per
# stream or 20% in latency p50 (minutes long; not part of `make test`).
bench-check: bench-deps
	$(BIN)/python bench/check.py

clean:
	rm -rf $(VENV) $(LOWEST) web/node_modules src/golive/web/static/dist

# docs/architecture.md's import table and layer exceptions, generated from the code
# (tests/contract/test_layers.py fails when they differ).
docs-layers: install
	PYTHONPATH=src $(BIN)/python -m tests.contract.layers

# The fuzz campaign at length (CI runs the same properties briefly as part of `make test`).
FUZZ_PROFILE ?= fuzz
fuzz: install
	HYPOTHESIS_PROFILE=$(FUZZ_PROFILE) $(BIN)/pytest -p no:cacheprovider -n 0 --timeout=0 tests/fuzz
