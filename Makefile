# note_compute: `make demo` runs the main job, `make test` runs the suite.
# Both create .venv and install what a fresh machine lacks.

PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-stamp

.PHONY: demo test lint fuzz bench contracts clean system-deps browser-deps

demo: $(STAMP)
	$(BIN)/python -m examples.demo

test: lint browser-deps
	$(BIN)/python -m pytest -q

# Property tests with fresh random examples (the suite's are fixed): slow, for hunting new cases.
fuzz: $(STAMP)
	HYPOTHESIS_PROFILE=fuzz $(BIN)/python -m pytest -q -m "not slow" -p no:cacheprovider

# ruff (pyflakes, pycodestyle, isort, bugbear, pyupgrade) and strict mypy; config in pyproject.toml.
lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/mypy

bench: $(STAMP)
	@for f in benchmarks/bench_*.py; do echo "== $$f"; $(BIN)/python $$f || exit 1; done

contracts: $(STAMP)
	$(BIN)/pip install -q -e '.[contracts]'
	$(BIN)/python contracts/build.py

# fastecdsa (a libp2p dependency) compiles against GMP.
system-deps:
	@if ! [ -e /usr/include/gmp.h ] && ! [ -e /usr/include/x86_64-linux-gnu/gmp.h ] && ! [ -e /usr/include/aarch64-linux-gnu/gmp.h ]; then \
		echo "installing libgmp-dev (needed to build fastecdsa)"; \
		SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
		$$SUDO apt-get update -qq && $$SUDO apt-get install -y -qq libgmp-dev; \
	fi
	@# PSI (note_compute.psi) uses libsodium's ristretto255 (1.0.18+), which PyNaCl does not expose.
	@if ! ldconfig -p 2>/dev/null | grep -q 'libsodium\.so\.2[3-9]'; then \
		echo "installing libsodium23 (ristretto255 for private set intersection)"; \
		SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
		$$SUDO apt-get update -qq && $$SUDO apt-get install -y -qq libsodium23; \
	fi

# The gateway's browser tests drive Debian's Chromium through Playwright.
browser-deps:
	@if ! command -v chromium >/dev/null 2>&1; then \
		echo "installing chromium (for the gateway's browser tests)"; \
		SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
		$$SUDO apt-get update -qq && $$SUDO apt-get install -y -qq chromium >/dev/null; \
	fi

$(STAMP): pyproject.toml | system-deps
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e '.[test,contracts]'
	touch $(STAMP)

clean:
	rm -rf $(VENV) .pytest_cache .hypothesis build *.egg-info
