# Two commands on a fresh machine:  `make demo`  and  `make test`.
PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed

.PHONY: demo test setup system-deps bench lint clean

$(STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[test]'
	touch $(STAMP)

setup: $(STAMP)

# Debian chromium drives the browser tests; graphviz's `dot` renders SVG/PNG exports.
system-deps:
	@if command -v chromium >/dev/null && command -v dot >/dev/null; then :; \
	elif [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium graphviz >/dev/null; \
	else echo "note: install chromium and graphviz (apt-get install chromium graphviz) for the browser tests and SVG/PNG export"; fi

demo: setup
	$(VENV)/bin/saga demo

test: setup system-deps
	$(PY) -m pytest $(PYTEST_ARGS)

# The benchmark peers (DBOS, saga-py, py-spy) live in a venv of their own: bench/setup.sh.
PEERS_STAMP := bench/.venv-peers/.installed

$(PEERS_STAMP): bench/requirements.txt bench/setup.sh | $(STAMP)
	bash bench/setup.sh
	touch $(PEERS_STAMP)

bench: setup $(PEERS_STAMP)
	$(PY) bench/run_all.py

lint: setup
	$(VENV)/bin/ruff check runtime designer dashboard sample_sagas tests
	$(VENV)/bin/mypy

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache artifacts saga-demo
