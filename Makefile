# The two commands of the README: `make demo` and `make test`.
# Both work on a fresh Debian 12 machine with Python 3.11+.

PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-$(shell cksum pyproject.toml | cut -d' ' -f1)
VIEWERS ?= 10000

.PHONY: demo test bench system-deps clean

demo: $(STAMP)
	$(BIN)/live demo --data-dir .demo-data

test: $(STAMP) system-deps
	$(BIN)/python -m pytest $(PYTEST_ARGS)

bench: $(STAMP)
	$(BIN)/live bench fanout --viewers $(VIEWERS)
	$(BIN)/live bench fanout --viewers $(VIEWERS) --stalled 0.05
	$(BIN)/live bench links

$(STAMP): pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit(sys.version_info < (3, 11))' || \
		{ echo "live needs Python 3.11 or newer; $(PYTHON) is $$($(PYTHON) --version)."; exit 1; }
	@$(PYTHON) -c 'import venv, ensurepip' 2>/dev/null || $(MAKE) --no-print-directory APT_PKGS=python3-venv apt-install
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[test]'
	rm -f $(VENV)/.installed-*
	touch $@

# redis-server for the Redis store's tests, chromium for the browser tests.
system-deps:
	@missing=""; \
	command -v redis-server >/dev/null || missing="$$missing redis-server"; \
	test -x /usr/bin/chromium || missing="$$missing chromium"; \
	if [ -n "$$missing" ]; then $(MAKE) --no-print-directory APT_PKGS="$$missing" apt-install; fi

apt-install:
	@if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
		echo "installing$(APT_PKGS) with apt-get"; \
		DEBIAN_FRONTEND=noninteractive apt-get update -qq && \
		DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $(APT_PKGS) >/dev/null; \
	else \
		echo "Please install these Debian packages first:$(APT_PKGS)  (sudo apt-get install$(APT_PKGS))"; exit 1; \
	fi

clean:
	rm -rf $(VENV) .pytest_cache .hypothesis
