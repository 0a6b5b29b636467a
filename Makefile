# Two commands do everything: `make reproduce` and `make test`. Both create .venv/ on first use and install the
# system packages they need (tools/setup_system.sh: Coq, and Chromium for the tests) where they can.
SHELL := /bin/bash
PY    := .venv/bin/python
STAMP := .venv/.installed

.PHONY: reproduce test docs pages lab clean-cache

# (Re)install when the pins or the package metadata change; pip reuses what is already there.
$(STAMP): requirements.lock pyproject.toml
	test -x $(PY) || python3 -m venv .venv
	$(PY) -m pip install -qq --disable-pip-version-check -r requirements.lock
	$(PY) -m pip install -qq --disable-pip-version-check --no-deps -e .
	touch $@

reproduce: $(STAMP)
	bash tools/setup_system.sh
	.venv/bin/lmpapers reproduce all --scale tiny --out results

test: $(STAMP)
	bash tools/setup_system.sh --tests
	bash tools/test.sh

docs: $(STAMP)
	$(PY) tools/build_docs.py

# The tiny quick runs the experiment pages show (nbs/_results/): one paper at a time, then commit nbs/_results.
pages: $(STAMP)
	$(PY) tools/record_pages.py

lab: $(STAMP)
	.venv/bin/jupyter lab

clean-cache:
	rm -rf "$${LMPAPERS_CACHE:-$$HOME/.cache/lmpapers}"
