# Two commands do all the set-up: `make demo` (ponder's main job) and `make test`.
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: demo test lint fmt clean browser

$(STAMP): pyproject.toml
	test -x $(PY) || python3 -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet torch==2.13.0
	$(PY) -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

demo: $(STAMP)
	$(VENV)/bin/ponder demo

# the web page's end-to-end test drives Debian's headless Chromium
browser:
	@if ! command -v chromium >/dev/null || ! command -v chromedriver >/dev/null; then \
	  if [ "$$(id -u)" = 0 ]; then \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq \
	      chromium chromium-driver >/dev/null; \
	  else \
	    echo "install Debian's chromium and chromium-driver for the web page test"; \
	  fi; \
	fi

test: $(STAMP) browser
	$(VENV)/bin/ruff check src tests benchmarks recipes
	$(VENV)/bin/pytest -n 2 --dist loadfile

lint: $(STAMP)
	$(VENV)/bin/ruff check src tests benchmarks recipes

fmt: $(STAMP)
	$(VENV)/bin/ruff format src tests benchmarks recipes

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache
