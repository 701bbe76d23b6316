# dlsuite: `make demo` and `make test` work on a fresh machine with only Python 3.11.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp
PYTEST_ARGS ?=
# test processes (pytest-xdist; whole modules per process, so module fixtures are built once)
TEST_WORKERS ?= 2

.PHONY: install demo test test-quality lint clean

install: $(STAMP)

$(STAMP): setup.py setup.cfg pyproject.toml constraints.txt constraints-sign.txt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -c constraints.txt -e '.[test,rl]'
	# second step: the signing stack, CodeCarbon (pydantic 2) and KerasHub need a newer typing-extensions than
	# tf-agents pins (see constraints-sign.txt); pip warns about tf-agents' pin, which is expected
	$(BIN)/python -m pip install --quiet -c constraints-sign.txt -e '.[sign,energy,hub]'
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/python -m dlsuite.cli.demo

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

# everything but the quality bars (real training to a target metric), which test-quality runs;
# CI (.ci/run) runs both
test: $(STAMP)
	$(BIN)/python -m pytest -n $(TEST_WORKERS) --dist loadscope -m "not quality" $(PYTEST_ARGS)

test-quality: $(STAMP)
	$(BIN)/python -m pytest -n $(TEST_WORKERS) --dist loadscope -m quality $(PYTEST_ARGS)

clean:
	rm -rf $(VENV) runs build *.egg-info
