# Two commands for a fresh machine: `make demo` and `make test`.
VENV ?= .venv
PYTHON ?= python3
BIN := $(VENV)/bin
DEMO_CLIP ?= tests/data/demo-1089.flac

.PHONY: demo test protos bench debian-deps clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip

# Stamps re-run the install whenever pyproject.toml changes.
$(VENV)/.installed-demo: pyproject.toml | $(BIN)/python
	$(BIN)/pip install -q -e ".[asr]"
	touch $@

# resemblyzer requires webrtcvad 2.0.10, which shares its module file with webrtcvad-wheels and
# fails to import without pkg_resources: reinstalling the wheels' copy makes it win.
$(VENV)/.installed-test: pyproject.toml | $(BIN)/python
	$(BIN)/pip install -q -e ".[all,dev]"
	$(BIN)/pip install -q --force-reinstall --no-deps "webrtcvad-wheels>=2.0.14"
	touch $@ $(VENV)/.installed-demo

# Starts a real sidecar, captions a bundled LibriSpeech clip with the embedded tiny.en, prints SRT.
demo: $(VENV)/.installed-demo
	@HF_HUB_OFFLINE=1 $(BIN)/python -m sidecar.cli.demo $(DEMO_CLIP)

debian-deps:
	@bash .ci/debian-deps tests/debian-packages.txt

test: debian-deps $(VENV)/.installed-test
	HF_HUB_OFFLINE=1 $(BIN)/python -m pytest -q -ra

protos: $(VENV)/.installed-test
	$(BIN)/python protos/generate.py

bench: $(VENV)/.installed-test
	HF_HUB_OFFLINE=1 $(BIN)/python bench/transcribe_overhead.py

clean:
	rm -rf $(VENV) .pytest_cache
