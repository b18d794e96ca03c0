# LossLens: `make run` installs and starts the app on the offline demo;
# `make test` installs the test dependencies and runs the whole suite.
PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
PORT   ?= 8501

.PHONY: run test install install-test system-packages oidc-provider bench clean

$(PY):
	$(PYTHON) -m venv $(VENV)

# Each install step runs again only when its requirements change (a stamp file in the venv).
APP_STAMP  := $(VENV)/.installed-app
TEST_STAMP := $(VENV)/.installed-test

install: $(APP_STAMP)

$(APP_STAMP): requirements/app.txt pyproject.toml | $(PY)
	@echo "installing the app's pinned requirements into $(VENV) (first time: a few minutes, about 2 GB)"
	$(PY) -m pip install --progress-bar on -r requirements/app.txt
	$(PY) -m pip install -q --no-deps -e .
	@touch $@

install-test: $(TEST_STAMP)

$(TEST_STAMP): requirements/test.txt $(APP_STAMP)
	@echo "installing the test requirements (pytest, playwright, ray, ...) into $(VENV)"
	$(PY) -m pip install --progress-bar on -r requirements/test.txt
	@touch $@

# Debian packages the tests drive: chromium-headless-shell (browser tests), postgresql (the team store's tests),
# node + npm (the OpenID Connect provider of the sign-in test).
system-packages:
	@MISSING=""; \
	  [ -x /usr/bin/chromium-headless-shell ] || MISSING="chromium-headless-shell"; \
	  { command -v initdb >/dev/null 2>&1 || ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1; } || \
	    MISSING="$$MISSING postgresql"; \
	  command -v npm >/dev/null 2>&1 || MISSING="$$MISSING nodejs npm"; \
	  [ -z "$$MISSING" ] || { echo "installing Debian's$$MISSING for the tests"; \
	    SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
	    $$SUDO apt-get update -qq && $$SUDO apt-get install -y -qq $$MISSING; }

# The real OpenID Connect provider of the sign-in browser test (npm oidc-provider, pinned by its lock file).
oidc-provider:
	@[ -d tests/oidc/node_modules/oidc-provider ] || npm ci --prefix tests/oidc --no-audit --no-fund --loglevel=error

run: install
	HF_HUB_OFFLINE=1 $(VENV)/bin/losslens app --port $(PORT)

# Two workers (pytest-xdist), one test file each at a time: most tests wait on a browser, a server
# or a subprocess, so two keep both cores of the reference machine busy.
test: install-test system-packages oidc-provider
	HF_HUB_OFFLINE=1 HF_DATASETS_OFFLINE=1 $(PY) -m pytest -q -n 2 --dist loadfile

bench: install
	$(PY) bench/inference.py
	$(PY) bench/review_scale.py
	$(PY) bench/score_scale.py
	$(PY) bench/activelab_politeness.py

clean:
	rm -rf $(VENV) .pytest_cache
