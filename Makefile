# Landscape: `make serve` serves the dashboard, `make test` runs every test.
# Both set up what they need on a fresh Debian machine (venv, torch CPU wheel, the project,
# and for tests redis-server and Chromium from Debian's packages).
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
HOST ?= 127.0.0.1
PORT ?= 8050

.PHONY: serve test install system-test-deps bench clean

install: $(STAMP)

# torch==2.13.0 first: it is the CPU wheel on these machines; any other spec pulls CUDA builds.
$(STAMP): pyproject.toml
	@echo "first start: installing into $(VENV) torch 2.13 (CPU wheel, ~200 MB) and Dash, Celery, redis-py,"
	@echo "safetensors and the test tools: about 2-4 minutes, once (later starts skip this)"
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --progress-bar on torch==2.13.0
	$(PY) -m pip install --progress-bar on -e '.[test,serve]'
	touch $(STAMP)

system-test-deps:
	@missing=""; \
	command -v redis-server >/dev/null || missing="$$missing redis-server"; \
	[ -x /usr/bin/chromium ] || missing="$$missing chromium"; \
	[ -x /usr/bin/chromedriver ] || missing="$$missing chromium-driver"; \
	if [ -n "$$missing" ]; then \
	  echo "installing from Debian:$$missing"; \
	  $(SUDO) apt-get update -qq && DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq $$missing >/dev/null; \
	fi

serve: $(STAMP)
	$(VENV)/bin/landscape serve --demo --host $(HOST) --port $(PORT)

test: $(STAMP) system-test-deps
	$(PY) -m pytest

# The benchmarks print medians and ratios side by side; loss-landscapes, PyHessian and
# hessian-eigenthings are only references (never imported by the product).
bench: $(STAMP)
	$(PY) -m pip install --quiet --no-deps loss-landscapes==3.0.6 pyhessian==0.1 hessian-eigenthings==1.0.0a5
	$(PY) benchmarks/line.py
	$(PY) benchmarks/surface.py
	$(PY) benchmarks/workers.py
	$(PY) benchmarks/dashboard.py
	$(PY) benchmarks/hessian.py
	$(PY) benchmarks/curve.py

clean:
	rm -rf $(VENV) .test-artifacts
