# sentinel-vip: build and test entry points (GNU make). This file decides every build output;
# scripts and packaging call its targets instead of repeating paths.
#
# Extension points for included .mk files (see the end of this file):
#   TEST_TARGETS += name   -- run by `make test`, in order, after the ones below
#   CLEAN_PATHS  += path   -- removed by `make clean`
#   $(call run_pytest,NAME,ARGS) -- pytest with a JUnit report for scripts/test's summary;
#                                   "no tests collected" fails instead of passing silently
# `make print-VAR` prints a variable (e.g. make -s print-VERSION).

SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := pyz
.DELETE_ON_ERROR:

VERSION := $(shell sed -n 's/^version *= *"\([^"]*\)".*/\1/p' pyproject.toml | head -n1)
# Debian's interpreter, not whatever pyenv puts first on PATH: the pyz runs under it.
SYSTEM_PYTHON := $(or $(wildcard /usr/bin/python3),python3)
VENV := .venv
PYTHON := $(VENV)/bin/python
PYZ := dist/sentinel-vip.pyz
VENDOR_FILE := packaging/vendor.txt
VENDOR_CACHE := .cache/vendor
PYTHON_FLOOR := 3.9
# Names vermin flags in vendored code that a version guard protects (none today).
VERMIN_VENDOR_EXCLUDES :=
# Our own code marks a version-guarded import with `# novm` on that line instead; list a name
# here only when a comment cannot do.
VERMIN_SRC_EXCLUDES :=
LINT_PATHS := src tests packaging tools
FLOOR_DIR := build/floor
TEST_RESULTS := build/test-results
UNIT_MARKERS := not integration and not e2e and not packaging and not hardening and not realenv
TEST_TARGETS := lint floor unit integration
CLEAN_PATHS := dist build .pytest_cache .ruff_cache

# The venv gets the same tomli version the pyz vendors.
VENDOR_PINS := $(shell sed -n 's/^\([A-Za-z0-9._-]*==[^ ]*\) .*/\1/p' $(VENDOR_FILE))
# ruff and vermin pinned: their verdicts (lint, floor) must not change under us.
VENV_REQUIREMENTS := $(VENDOR_PINS) pytest hypothesis ruff==0.17.6 vermin==1.9.2
VENV_STAMP := $(VENV)/.installed-$(firstword $(shell echo '$(VENV_REQUIREMENTS)' | md5sum))
# Targets need our venv only when PYTHON is ours: `make test PYTHON=/other/python` skips it.
PYTHON_DEP := $(if $(filter $(VENV)/bin/python,$(PYTHON)),$(VENV_STAMP))
VERMIN := $(dir $(PYTHON))vermin

ifndef SOURCE_DATE_EPOCH
SOURCE_DATE_EPOCH := $(shell git log -1 --format=%ct 2>/dev/null || echo 315532800)
endif
export SOURCE_DATE_EPOCH
# Tests use the pyz this make run built instead of building their own.
export SENTINEL_VIP_PYZ := $(abspath $(PYZ))

.PHONY: help venv pyz docs lint floor unit integration test clean distclean FORCE

# Every target an admin or developer runs, from this file and the included ones.
# tests/unit/test_makefile.py checks that each one listed here exists.
define HELP
Start here (on Debian 12, as root; no make needed for these two):
  scripts/demo      install what is missing, build the .deb, demo a failover (~1 min)
  scripts/test      install what is missing, then make test (every suite below; ~9 min)

Build
  pyz               dist/sentinel-vip.pyz, the program (reproducible zipapp)
  deb | rpm         $(DEMO_DEB) | the .rpm in dist/ (nfpm)
  packages          both of the above
  native-deb | native-rpm   with debian/ and rpm/ -> dist/native/
  install           lay the files out under DESTDIR (what every package format calls)
  docs              regenerate the exit-code tables and the man page's SYNOPSIS/OPTIONS

Run (root)
  demo              bootstrap, build the .deb, install it, kill a master on 3 namespaced
                    nodes, show the VIP follow, remove the package (KEEP=1 keeps it)
  e2e-clean         remove namespaces and processes left by a crashed run

Test
  test              every suite: $(TEST_TARGETS)
  lint | floor      ruff; vermin proves the Python 3.9 floor
  unit | integration   fast tests | real redis-server/redis-sentinel on loopback
  e2e               fault scenarios on a 3-node namespace cluster with keepalived (root)
  hardening         fuzzing, hostile servers, least privilege, TLS/ACL, secrets audit
  package-test      build every package, install and test them on this host (root)

Measure (bench-failover needs root)
  bench             every benchmark: bench-failover (classic vs sentinel-vip), bench-check,
                    bench-check-scale (the check's cost); results in bench/results/
  bench-switchover  sentinel-vip switchover on the namespace cluster: VIP after the switch,
                    writes held and lost, 3 rounds (root)
  bench-election    kill -9 of the master: VIP following the election vs HAProxy (root)

Housekeeping
  venv | clean | distclean | print-VAR
endef
export HELP

help:
	@echo "$$HELP"

# The exit-code tables (README, man page) and the man page's SYNOPSIS/OPTIONS come from
# errors.py and cli.py; tests/unit/test_docs.py fails while they are stale.
docs:
	$(SYSTEM_PYTHON) tools/gen_docs.py

venv: $(VENV_STAMP)

$(VENV_STAMP): $(VENDOR_FILE)
	test -x $(VENV)/bin/python || $(SYSTEM_PYTHON) -m venv $(VENV)
	$(VENV)/bin/python -m pip install --quiet --disable-pip-version-check $(VENV_REQUIREMENTS)
	rm -f $(VENV)/.installed-* && touch $@

pyz: $(PYZ)

# Always run the builder: it leaves the file untouched when the bytes would not change.
$(PYZ): FORCE $(PYTHON_DEP)
	$(PYTHON) packaging/build_pyz.py --output $@ --vendor-file $(VENDOR_FILE) --cache $(VENDOR_CACHE)

lint: $(PYTHON_DEP)
	$(PYTHON) -m ruff check $(LINT_PATHS)
	$(PYTHON) -m ruff format --check $(LINT_PATHS)

floor: $(PYZ) $(PYTHON_DEP)
	rm -rf $(FLOOR_DIR) && $(PYTHON) -m zipfile -e $(PYZ) $(FLOOR_DIR)
	$(VERMIN) -t=$(PYTHON_FLOOR)- --no-tips --violations $(addprefix --exclude ,$(VERMIN_SRC_EXCLUDES)) src
	$(VERMIN) -t=$(PYTHON_FLOOR)- --no-tips --violations \
	  $(addprefix --exclude ,$(VERMIN_VENDOR_EXCLUDES)) \
	  $$(find $(FLOOR_DIR) -mindepth 1 -maxdepth 1 ! -name sentinel_vip ! -name _vendor_licenses)

define run_pytest
	mkdir -p $(TEST_RESULTS)
	rc=0; $(PYTHON) -m pytest --junitxml=$(TEST_RESULTS)/$(1).xml $(2) || rc=$$?; \
	if [ $$rc -eq 5 ]; then echo "error: make $(1): pytest collected no tests (exit 5), which fails the run" >&2; fi; \
	exit $$rc
endef

unit: $(PYZ) $(PYTHON_DEP)
	$(call run_pytest,unit,-m "$(UNIT_MARKERS)" tests)

integration: $(PYZ) $(PYTHON_DEP)
	$(call run_pytest,integration,-m integration tests)

clean:
	rm -rf $(CLEAN_PATHS)
	find src tests packaging -name __pycache__ -type d -prune -exec rm -rf {} +

distclean: clean
	rm -rf $(VENV) .cache

print-%:
	@echo '$($*)'

FORCE:

# Hooks for other parts of the project; they may not exist yet.
-include packaging/packaging.mk
-include tests/e2e/e2e.mk
-include tests/hardening/hardening.mk
-include bench/bench.mk
-include tests/realenv/realenv.mk

# Declared after the includes so their TEST_TARGETS += ... are part of it.
test: $(TEST_TARGETS)
