# Two entry points for a fresh machine; each creates the environment first, and both run again
# and again (the demo replaces its own run folder).
#   make demo   installs the runtime only (zoo and its dependencies, TensorFlow CPU), trains a
#               ResNet-20 on the embedded scikit-learn digits, prints its accuracy
#   make test   adds the test tools, JAX and PyTorch, runs the test suite (set ZOO_DATA_DIR
#               for the real-data tests)
PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python

.PHONY: demo test lint clean notebooks readme

# PyTorch for the tests that run Keras on it: 2.13.0 is a CPU build on the CI machines (pip
# takes it from their local wheel; elsewhere on Linux PyPI's torch is a CUDA build of several
# GB). `make test TORCH=` leaves torch out, and those tests skip.
TORCH  ?= torch==2.13.0

$(VENV)/.runtime: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e .
	touch $@

$(VENV)/.installed: $(VENV)/.runtime
	$(PY) -m pip install -q -e ".[dev,jax]" $(TORCH)
	touch $@

demo: $(VENV)/.runtime
	$(VENV)/bin/zoo train resnet20 --dataset digits --recipe quick --epochs 5 --seed 0 \
	  --overwrite --out runs/demo

# One session for the notebooks (nbval) and the tests, so neither waits for the other's last
# item; a notebook runs cell by cell in one kernel, so it is one xdist group (notebooks/
# conftest.py). tests/ comes last: its modules `import conftest`, and pytest loads every
# conftest.py under that one name, so the last loaded must be tests/conftest.py.
test: $(VENV)/.installed
	$(PY) -m pytest -n 2 --dist loadgroup -rs --nbval notebooks tests

notebooks: $(VENV)/.installed  # re-run every notebook in full mode and store the outputs
	cd notebooks && for nb in *.ipynb; do \
	  TF_CPP_MIN_LOG_LEVEL=3 ../$(VENV)/bin/jupyter nbconvert --to notebook --execute --inplace \
	    --ExecutePreprocessor.timeout=3600 "$$nb" || exit 1; done

readme: $(VENV)/.installed  # regenerate the README tables from the cards and results
	$(PY) -m zoo.pretrained.table --update README.md
	$(PY) -m benchmarks.report --update README.md
	$(PY) -m zoo.studies --update README.md

lint: $(VENV)/.installed
	$(VENV)/bin/ruff check zoo tests benchmarks

clean:
	rm -rf $(VENV) runs .pytest_cache
