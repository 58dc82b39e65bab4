# End-to-end targets, included by the Makefile (`-include tests/e2e/e2e.mk`).
#
#   make e2e    every scenario on a three-node namespace cluster (root; fails without it)
#   make demo   bootstrap what is missing, build the .deb, install it, start a cluster with
#               sentinel-vip, kill the master, print the timeline and the notify history,
#               tear down, remove the package again (root; KEEP=1 keeps it installed)
#   make e2e-clean   remove namespaces/processes left by a crashed run

E2E_TOOLS := ip keepalived redis-server redis-sentinel redis-cli
# The .deb `make deb` writes: nfpm names it NAME_VERSION-RELEASE_ARCH.deb (release: nfpm.yaml).
# A fixed name, not a wildcard: a wildcard is expanded before `make deb` has made the file,
# and would pick up whatever older build lies in dist/.
DEB_RELEASE := $(shell sed -n 's/^release: *"*\([^"]*\)"*$$/\1/p' packaging/nfpm.yaml)
DEMO_DEB := dist/sentinel-vip_$(VERSION)-$(DEB_RELEASE)_all.deb
# scripts/demo has bootstrapped already and sets this to `:`.
DEMO_BOOTSTRAP ?= scripts/bootstrap --demo

.PHONY: e2e demo e2e-clean e2e-preflight e2e-root

e2e-root:
	@if [ "$$(id -u)" -ne 0 ]; then \
	    echo "error: make $(MAKECMDGOALS) needs root (network namespaces, keepalived): run it as root" >&2; \
	    exit 1; fi

# A skipped e2e run must never count as a pass: refuse instead of letting pytest skip.
e2e-preflight: e2e-root
	@for t in $(E2E_TOOLS); do command -v $$t >/dev/null || { \
	    echo "error: $$t not found: run scripts/bootstrap" >&2; exit 1; }; done

# The scenarios run the pyz this make built (SENTINEL_VIP_PYZ, exported by the Makefile),
# copied to a root-owned path and run by keepalived as the package's /usr/sbin/sentinel-vip.
# The .deb installs this same file (packaging/layout); `make demo` runs the installed .deb.
e2e: e2e-preflight $(PYZ) $(PYTHON_DEP)
	$(call run_pytest,e2e,-m e2e tests/e2e)

# In this order: install the tools, build the package, then demo the package just built.
demo: e2e-root
	@$(DEMO_BOOTSTRAP)
	$(MAKE) --no-print-directory deb
	$(SYSTEM_PYTHON) tools/demo --install-deb $(DEMO_DEB)$(if $(KEEP), --keep)

e2e-clean: e2e-preflight
	$(SYSTEM_PYTHON) tools/cluster clean

TEST_TARGETS += e2e

# Opt-in (root, not part of `make test`): the watcher under Debian 11's Python 3.9 and Redis
# 6.0, in the debootstrap root packaging/chroot-test.sh caches: three watchers started at
# once (WATCH_ROUNDS times) must all hear every Sentinel without a traceback; on a server
# without CLIENT PAUSE WRITE the fence says so once, still fails the track file of an
# isolated master, and the tripwire still arms; doctor WARNs. WATCH_CHROOT_BASELINE=other.pyz
# runs the start test on that build too, for comparison. Hold the shared lock.
WATCH_CHROOT_SUITE ?= bullseye
WATCH_CHROOT_BASELINE ?=

.PHONY: watch-chroot-test

watch-chroot-test: e2e-preflight $(PYZ)
	tests/chroot/watch-chroot-test.sh $(WATCH_CHROOT_SUITE) $(PYZ) $(WATCH_CHROOT_BASELINE)
