# LossLens: `make run` installs and starts the app on the offline demo;
# `make test` installs the test dependencies and runs the whole suite.
PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
PORT   ?= 8501

.PHONY: run test install install-test chromium bench clean

$(PY):
	$(PYTHON) -m venv $(VENV)

install: $(PY)
	$(PY) -m pip install -q -r requirements/app.txt
	$(PY) -m pip install -q --no-deps -e .

install-test: install
	$(PY) -m pip install -q -r requirements/test.txt

chromium:
	@command -v chromium >/dev/null 2>&1 || [ -x /usr/bin/chromium ] || \
	  { echo "installing Debian's chromium for the browser tests"; \
	    SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
	    $$SUDO apt-get update -qq && $$SUDO apt-get install -y -qq chromium; }

run: install
	HF_HUB_OFFLINE=1 $(VENV)/bin/losslens app --port $(PORT)

test: install-test chromium
	HF_HUB_OFFLINE=1 HF_DATASETS_OFFLINE=1 $(PY) -m pytest -q

bench: install
	$(PY) bench/inference.py
	$(PY) bench/review_scale.py
	$(PY) bench/activelab_politeness.py

clean:
	rm -rf $(VENV) .pytest_cache
