# The README's two commands: `make run` (the main job) and `make test` (the tests).
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
PIP    := $(VENV)/bin/pip -q --disable-pip-version-check
STAMP  := $(VENV)/.installed

.PHONY: run test install clean

$(STAMP): pyproject.toml constraints.txt
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PIP) install -c constraints.txt -e '.[test,dask]'
	touch $(STAMP)

install: $(STAMP)

run: $(STAMP)
	$(VENV)/bin/crosscheck fuzz --examples 500 --report reports

test: $(STAMP)
	$(PY) -m pytest -q

clean:
	rm -rf $(VENV) reports/*.csv reports/*.md reports/*.json reports/*.html
