# `make run` and `make test` each create .venv and install the project as needed (idempotent).
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: run test lint bench samples clean bytecode

$(STAMP): pyproject.toml Makefile
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check --upgrade pip
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -e '.[test]'
	# Bytecode now, as pip does for a regular install: where PYTHONDONTWRITEBYTECODE is set,
	# every run would compile the package again (~30 ms of start-up).
	$(BIN)/python -m compileall -q ce_cli
	touch $(STAMP)

# Modules added or changed since the install get their bytecode too (only those are compiled).
bytecode: $(STAMP)
	$(BIN)/python -m compileall -q ce_cli

run: bytecode
	$(BIN)/ce-eval sample_data/multiclass.parquet --weight-col weight --id-col id
	$(BIN)/ce-eval sample_data/binary.csv --loss focal --gamma 2 --alpha 0.25 --base bits
	$(BIN)/ce-eval sample_data/multilabel.parquet --target-cols 'y_*' --task multilabel --format json

test: $(STAMP)
	$(BIN)/python -m pytest -q

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check ce_cli tests benchmarks
	$(BIN)/mypy

bench: bytecode
	$(BIN)/python benchmarks/bench.py

samples: $(STAMP)
	$(BIN)/python sample_data/make_samples.py

clean:
	rm -rf $(VENV) build *.egg-info .pytest_cache .ruff_cache .mypy_cache
