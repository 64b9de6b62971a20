# radprep: every target bootstraps what it needs (a .venv, pip packages, Debian tools).
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
# Debian packages the test suite uses as independent references: dcmtk (dcmj2pnm, dcmdump),
# dicom3tools (dciodvfy) and chromium (the report checked in a real browser); Tesseract's
# English model for reading burned-in text (`radprep deid`, the ocr extra).
SUDO := $(shell [ "$$(id -u)" -eq 0 ] || echo sudo)

.PHONY: demo test bench lint sysdeps venv clean

$(STAMP): pyproject.toml
	@[ -x $(BIN)/python ] || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[test,dask,ocr]'
	@touch $(STAMP)

venv: $(STAMP)

sysdeps:
	@missing=""; \
	command -v dcmj2pnm >/dev/null 2>&1 || missing="$$missing dcmtk"; \
	command -v dciodvfy >/dev/null 2>&1 || missing="$$missing dicom3tools"; \
	command -v chromium >/dev/null 2>&1 || missing="$$missing chromium"; \
	ls /usr/share/tesseract-ocr/*/tessdata/eng.traineddata >/dev/null 2>&1 \
	  || missing="$$missing tesseract-ocr tesseract-ocr-eng"; \
	if [ -n "$$missing" ]; then \
	  echo "installing Debian packages:$$missing"; \
	  $(SUDO) apt-get update -qq && DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq $$missing >/dev/null; \
	fi

demo: $(STAMP)
	$(BIN)/radprep demo

test: $(STAMP) sysdeps
	$(BIN)/python -m pytest -n 2 -q

# MONAI is compared in its own environment (torch==2.13.0 is the CPU wheel this machine
# serves; any other torch pulls GPU packages), never in the project's.
MONAI_VENV := benchmarks/.venv-monai
$(MONAI_VENV)/.installed:
	-$(PYTHON) -m venv $(MONAI_VENV) && $(MONAI_VENV)/bin/python -m pip install -q torch==2.13.0 \
	  && $(MONAI_VENV)/bin/python -m pip install -q monai pydicom pillow pylibjpeg pylibjpeg-openjpeg \
	  && touch $@

bench: $(STAMP) $(MONAI_VENV)/.installed
	$(BIN)/python benchmarks/decode.py
	$(BIN)/python benchmarks/ops.py
	$(BIN)/python benchmarks/runner.py
	$(BIN)/python benchmarks/deid.py
	$(BIN)/python benchmarks/report.py
	RADPREP_MONAI_PYTHON=$(MONAI_VENV)/bin/python $(BIN)/python benchmarks/reference.py

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache .hypothesis
