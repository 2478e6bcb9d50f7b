# `make demo` and `make test` each create .venv when missing, install everything, then run.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.spdsegment-installed
# The torch build this project is tested with; pip takes it from the local wheel store when present.
TORCH_PINS := torch==2.14.1 torchvision==0.29.1

.PHONY: install demo test mutants clean

$(STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q $(TORCH_PINS)
	$(PY) -m pip install -q -e '.[test]'
	touch $(STAMP)

install: $(STAMP)

demo: install
	$(PY) -m SPDSegmentLib.tools.demo --out demo_output

test: install
	$(PY) -m pytest -q -p no:cacheprovider Testing

# mutation testing of the geometry, CPD, prior, metric and loss modules: hours of CPU, not part of `make test`
mutants: install
	$(PY) -m pip install -q cosmic-ray==8.7.0
	bash docs/mutation_testing.sh runs/mutants

clean:
	rm -rf $(VENV) demo_output
