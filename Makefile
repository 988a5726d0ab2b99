# The two commands of the README's quick start: `make serve` and `make test`.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: serve test bench sslyze tlsfuzzer clean

$(STAMP): setup.cfg setup.py
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[test]'
	touch $(STAMP)

serve: $(STAMP)
	$(PY) -m greentls serve --self-signed --port $${PORT:-8443}

test: $(STAMP)
	$(PY) -m pytest -q -p no:cacheprovider $(PYTEST_ARGS)

bench: $(STAMP)
	$(PY) benchmarks/run.py $(BENCH_ARGS)

# sslyze pins an older cryptography: tests/test_sslyze.py makes its own venv (.venv-sslyze) on
# first use; this target runs just that scan.
sslyze: $(STAMP)
	$(PY) -m pytest -q -p no:cacheprovider tests/test_sslyze.py

# tlsfuzzer against greentls and Node side by side; needs a tlsfuzzer checkout outside the repo:
# make tlsfuzzer TLSFUZZER_ARGS='--tlsfuzzer /tmp/tlsfuzzer' (or set TLSFUZZER_DIR).
tlsfuzzer: $(STAMP)
	$(PY) benchmarks/tlsfuzzer.py $(TLSFUZZER_ARGS)

clean:
	rm -rf $(VENV) .venv-sslyze build dist *.egg-info .pytest_cache .hypothesis
