# `make book` and `make test` work on a fresh clone: they create .venv on first use.
PY := .venv/bin/python

.venv/.installed: requirements.txt pyproject.toml
	python3 -m venv .venv
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements.txt -e .
	touch $@

.PHONY: install book test lint clean
install: .venv/.installed

book: .venv/.installed
	.venv/bin/jupyter-book build --all --warningiserror --keep-going .

test: .venv/.installed
	$(PY) -m pytest -q

lint: .venv/.installed
	$(PY) -m ruff check inctrl tests benchmarks

clean:
	rm -rf _build
