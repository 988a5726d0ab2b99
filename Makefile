# The two commands of the README's quick start: `make serve` and `make test`.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: serve test lint types docs peers bench sslyze tlsfuzzer clean

$(STAMP): setup.cfg setup.py
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[test]'
	touch $(STAMP)

serve: $(STAMP)
	$(PY) -m greentls serve --self-signed --port $${PORT:-8443}

# Lint, types, the documentation (built warning-free, its examples run), then the tests: CI
# runs `make test`, so all four are enforced (pyproject.toml configures the first two).
test: $(STAMP) lint types docs peers
	$(PY) -m pytest -q -p no:cacheprovider $(PYTEST_ARGS)

# The real peers some tests talk to that Debian packages (HAProxy, headless Chromium), installed
# when missing where apt-get runs as root (PEERS_APT=0 skips that); a test whose peer is still
# missing skips with the reason.  Node, openssl and curl are the machine's own.
PEER_PACKAGES := haproxy chromium
PEERS_APT ?= 1

peers:
	@bash .ci/apt-install peers "$(PEERS_APT)" "the tests that need them skip" $(PEER_PACKAGES)

lint: $(STAMP)
	$(PY) -m ruff check greentls tests benchmarks examples

types: $(STAMP)
	$(PY) -m mypy greentls

# The documentation in docs/: the HTML site with warnings as errors (-E: every page is read
# again, so a warning is never hidden by an earlier build), then every example on its pages
# run by sphinx.ext.doctest.  Links into the Python, gevent, cryptography, pyOpenSSL and blinker
# docs use the objects.inv files of Debian's doc packages (never the network, docs/conf.py):
# they are installed first when missing, where apt-get runs as root (DOCS_APT=0 skips that);
# without them those links render as plain text and the build is as clean.
DOC_PACKAGES := python3-doc python-gevent-doc python-cryptography-doc python-openssl-doc python-blinker-doc
DOCS_APT ?= 1

docs: $(STAMP)
	@bash .ci/apt-install docs "$(DOCS_APT)" "links into those projects render as plain text" $(DOC_PACKAGES)
	$(PY) -m sphinx -E -W --keep-going -b html docs docs/_build/html
	$(PY) -m sphinx -E -W --keep-going -b doctest docs docs/_build/doctest

# The TLS echo matrix (benchmarks/run.py), then HTTPS hello world beside gunicorn, pywsgi,
# uvicorn and Node (benchmarks/wsgi.py: wrk, requests per server CPU-second).
bench: $(STAMP)
	$(PY) benchmarks/run.py $(BENCH_ARGS)
	$(PY) benchmarks/wsgi.py $(WSGI_BENCH_ARGS)

# sslyze pins an older cryptography: tests/test_sslyze.py makes its own venv (.venv-sslyze) on
# first use; this target runs just that scan.
sslyze: $(STAMP)
	$(PY) -m pytest -q -p no:cacheprovider tests/test_sslyze.py

# tlsfuzzer against greentls and Node side by side; needs a tlsfuzzer checkout outside the repo:
# make tlsfuzzer TLSFUZZER_ARGS='--tlsfuzzer /tmp/tlsfuzzer' (or set TLSFUZZER_DIR).
tlsfuzzer: $(STAMP)
	$(PY) benchmarks/tlsfuzzer.py $(TLSFUZZER_ARGS)

clean:
	rm -rf $(VENV) .venv-sslyze build dist *.egg-info .pytest_cache .hypothesis .mypy_cache .ruff_cache
