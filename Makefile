# Two commands for a fresh machine: `make demo` and `make test`. Both install from uv.lock.
VENV ?= .venv
PYTHON ?= python3
BIN := $(VENV)/bin
DEMO_CLIP ?= tests/data/demo-1089.flac
# Extras `make install` syncs; `make install EXTRAS="all gpu"` on an NVIDIA machine.
EXTRAS ?= all dev
UV_TOOL := .uv
UV := $(UV_TOOL)/bin/uv
# uv installs into our venv, never downloads a Python of its own, and never re-resolves: --locked
# fails when uv.lock does not match pyproject.toml instead of quietly updating it.
UV_SYNC := UV_PROJECT_ENVIRONMENT=$(VENV) UV_PYTHON_DOWNLOADS=never $(UV) sync --locked --python $(PYTHON)
LATEST := build/latest

.PHONY: demo test install lock lock-upgrade test-latest protos bench debian-deps clean

$(UV): requirements/uv.txt
	$(PYTHON) -m venv $(UV_TOOL)
	$(UV_TOOL)/bin/pip install -q --require-hashes --no-deps -r requirements/uv.txt
	touch $@

# Adds what captioning needs and removes nothing, so a demo after `make test` keeps the test extras.
$(VENV)/.synced-demo: uv.lock pyproject.toml | $(UV)
	$(UV_SYNC) --inexact --extra asr
	touch $@

# Exactly the lock's packages for every extra: anything else in the venv is removed.
install: | $(UV)
	$(UV_SYNC) $(foreach extra,$(EXTRAS),--extra $(extra))

# Starts a real sidecar, captions a bundled LibriSpeech clip with the embedded tiny.en, prints SRT.
demo: $(VENV)/.synced-demo
	@HF_HUB_OFFLINE=1 $(BIN)/python -m sidecar.cli.demo $(DEMO_CLIP)

debian-deps:
	@bash .ci/debian-deps tests/debian-packages.txt

test: debian-deps install
	HF_HUB_OFFLINE=1 $(BIN)/python -m pytest -q -ra --durations=20

# After editing pyproject.toml: re-resolve, keeping every pin the edit does not touch.
lock: | $(UV)
	$(UV) lock

# The newest versions pyproject allows. Only after `make test-latest` passed.
lock-upgrade: | $(UV)
	$(UV) lock --upgrade

# Not part of CI: a copy of the tree resolved to the newest versions pyproject allows, in a venv of
# its own, running the whole suite; prints how that resolution differs from uv.lock first.
test-latest: debian-deps | $(UV)
	rm -rf $(LATEST)
	mkdir -p $(LATEST)
	git ls-files -z | xargs -0 cp --parents -t $(LATEST)
	cd $(LATEST) && ../../$(UV) lock --upgrade -q
	$(PYTHON) tools/lock_diff.py uv.lock $(LATEST)/uv.lock
	cd $(LATEST) && UV_PYTHON_DOWNLOADS=never ../../$(UV) sync --locked --python $(PYTHON) --extra all --extra dev
	cd $(LATEST) && HF_HUB_OFFLINE=1 .venv/bin/python -m pytest -q -ra

protos: install
	$(BIN)/python protos/generate.py

bench: install
	HF_HUB_OFFLINE=1 $(BIN)/python bench/transcribe_overhead.py

clean:
	rm -rf $(VENV) $(UV_TOOL) build .pytest_cache
