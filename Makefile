# The two commands a newcomer needs: `make demo` and `make test`. Each sets up ./.venv first
# (a no-op when already set up; the first time builds mmcv, ~20-25 min on 2 cores).
PY := .venv/bin/python

.PHONY: setup demo test test-all

setup:
	@bash tools/install/setup_env.sh

demo: setup
	$(PY) tools/demo.py $(ARGS)

test: setup
	$(PY) -m pytest tests -m "not slow" $(ARGS)

test-all: setup
	$(PY) -m pytest tests $(ARGS)
