# One task runner for people and CI. `make demo` and `make test` set themselves up on a fresh machine.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp

.PHONY: demo test lint bench lock clean

$(STAMP): requirements.lock pyproject.toml
	$(PY) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -r requirements.lock
	$(BIN)/python -m pip install -q --no-deps -e .
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/gpcluster demo

lint: $(STAMP)
	$(BIN)/ruff check src tests benchmarks

test: lint
	$(BIN)/pytest

bench: $(STAMP)
	for b in benchmarks/bench_*.py; do echo "== $$b"; $(BIN)/python $$b || exit 1; done

# Re-pin every dependency (runtime and test) after changing pyproject.toml.
lock:
	rm -rf /tmp/gpcluster-lock && $(PY) -m venv /tmp/gpcluster-lock
	/tmp/gpcluster-lock/bin/python -m pip install -q --upgrade pip
	/tmp/gpcluster-lock/bin/python -m pip install -q -e '.[dev]'
	/tmp/gpcluster-lock/bin/python -m pip freeze --exclude-editable | grep -v '^gpcluster' > requirements.lock

clean:
	rm -rf $(VENV) var .pytest_cache
