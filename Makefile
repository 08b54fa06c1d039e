# The README's quick start: each target sets everything up first (tools/setup.sh).
PY := .venv/bin/python

.PHONY: setup test bench
setup:
	bash tools/setup.sh

test: setup
	$(PY) -m pytest tests -q

bench: setup
	$(PY) benchmarks/bench.py
