# The two commands: `make run` (app + worker on the embedded default) and `make test` (whole suite).
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
PIP := $(PY) -m pip --disable-pip-version-check
TORCH_VERSION := 2.13.0

.PHONY: run test screenshots install install-test chromium lint bench clean

$(PY):
	$(PYTHON) -m venv $(VENV)
	$(PIP) install --quiet --upgrade pip wheel setuptools

$(VENV)/.installed-run: pyproject.toml | $(PY)
	$(PIP) install --quiet -e .
	touch $@

# torch first and pinned: an unpinned torch pulls gigabytes of CUDA packages.
$(VENV)/.installed-test: pyproject.toml | $(PY)
	$(PIP) install --quiet torch==$(TORCH_VERSION)
	$(PIP) install --quiet -e ".[scoring,dev]"
	touch $@ $(VENV)/.installed-run

install: $(VENV)/.installed-run
install-test: $(VENV)/.installed-test chromium

run: $(VENV)/.installed-run
	$(PY) -m config.launch

# Debian's Chromium for the Playwright tests (Playwright's own browser download is not used).
chromium:
	@if [ ! -x /usr/bin/chromium ]; then \
	  if command -v apt-get >/dev/null 2>&1; then \
	    SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
	    $$SUDO apt-get update -qq && $$SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium fonts-dejavu-core >/dev/null; \
	  else echo "Install Chromium at /usr/bin/chromium for the browser tests." >&2; exit 1; fi; \
	fi

test: install-test
	$(PY) -m pytest

# The browser tests write their screenshots to var/screenshots (ignored); this refreshes the tracked
# ones in docs/screenshots that the README and docs show.
screenshots: install-test
	SCREENSHOTS_DIR=docs/screenshots $(PY) -m pytest tests/e2e

# ruff, then vulture for dead code (its settings and entry points: pyproject.toml, vulture_whitelist.py).
lint:
	$(VENV)/bin/ruff check .
	$(VENV)/bin/vulture

bench:
	@echo "See bench/README.md: each script prints its figures."

clean:
	rm -rf var/test var/screenshots .pytest_cache
