# The two commands of the README: `make demo` and `make test`. Both create .venv if missing and are idempotent.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: setup setup-test demo test bench clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	# torch first: 2.13.0 is the CPU build the machines have on disk; a plain `torch` would pull a CUDA build.
	$(BIN)/pip install -q torch==2.13.0

$(STAMP): $(BIN)/python pyproject.toml
	# scale: Ray Tune, for `neuralign sweep`, `bench --workers` and the tests marked `ray` (each under 60 s)
	$(BIN)/pip install -q -e ".[test,scale]"
	# nlb-tools, the reference of tests/metrics/test_cosmoothing.py, without its dependencies: 0.0.4 declares
	# pandas<=1.3.4, which has no wheel for Python 3.11 and does not build against NumPy 2, while the module the
	# tests use (nlb_tools.evaluation) imports only numpy, h5py, scipy and scikit-learn, all installed above.
	$(BIN)/pip install -q --no-deps nlb-tools
	# torchcfm, the couplings and interpolants of neuralign.snapshots.OTCFM, without its dependencies: 1.0.7 declares
	# torchvision and a torch that pip resolves to a CUDA build replacing the installed one, while the modules used
	# (torchcfm.conditional_flow_matching, torchcfm.optimal_transport) import only torch, numpy, scipy and POT.
	$(BIN)/pip install -q --no-deps torchcfm
	touch $(STAMP)

setup: $(STAMP)

demo: $(STAMP)
	$(BIN)/neuralign demo --out reports/demo

test: $(STAMP)
	$(BIN)/python -m pytest -q -m "not slow" tests

bench: $(STAMP)
	$(BIN)/neuralign bench vae --out benchmarks/vae.json

clean:
	rm -rf $(VENV) reports
