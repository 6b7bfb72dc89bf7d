# Two entry points for a fresh machine; each creates the environment first.
#   make demo   train a ResNet-20 on the embedded scikit-learn digits, print test accuracy
#   make test   run the test suite (set ZOO_DATA_DIR for the real-data tests)
PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python

.PHONY: demo test lint clean

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e ".[dev,jax]"
	touch $@

demo: $(VENV)/.installed
	$(VENV)/bin/zoo train resnet20 --dataset digits --recipe quick --epochs 5 --seed 0 --out runs/demo

test: $(VENV)/.installed
	$(PY) -m pytest -n 2 -rs tests

lint: $(VENV)/.installed
	$(VENV)/bin/ruff check zoo tests

clean:
	rm -rf $(VENV) runs .pytest_cache
