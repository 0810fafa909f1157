# The README's two commands: `make run` (the main job) and `make test` (the tests).
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
PIP    := $(VENV)/bin/pip -q --disable-pip-version-check
STAMP  := $(VENV)/.installed

.PHONY: run test install clean

$(STAMP): pyproject.toml constraints.txt
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	@# The distribution was called "crosscheck" before (a name the package index gives another project).
	$(VENV)/bin/pip uninstall -y -q crosscheck 2>/dev/null || true
	$(PIP) install -c constraints.txt -e '.[test,dask]'
	touch $(STAMP)

install: $(STAMP)

run: $(STAMP)
	$(VENV)/bin/crosscheck fuzz --examples 500 --report reports
	$(VENV)/bin/crosscheck train --report reports
	@# The tutorials hold bugs on purpose, so findings (exit 1) are expected; usage errors (2),
	@# internal errors (3) and a crash that leaves no fresh audit.json fail the job.
	rm -f reports/audit.json
	$(VENV)/bin/crosscheck audit examples/tutorials --report reports; status=$$?; \
	  if [ $$status -gt 1 ] || [ ! -s reports/audit.json ]; then \
	    echo "crosscheck audit failed (exit $$status)" >&2; exit 1; fi

test: $(STAMP)
	$(PY) -m pytest -q

clean:
	rm -rf $(VENV) reports/*.csv reports/*.md reports/*.json reports/*.html
