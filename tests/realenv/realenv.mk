# Whole-system tests, included by the Makefile (`-include tests/realenv/realenv.mk`). Opt-in:
# root, debootstrap and systemd-nspawn (systemd-container); the first run builds the cached
# Debian roots in /var/tmp/sentinel-vip-chroots (minutes, from Debian's mirror). They hold
# the shared heavy lock themselves (or run under `flock /tmp/svip-heavy.lock make ...`).
#
#   make real-systemd   the .deb on a booted Debian 12: watcher, keepalived, VIP, remove, purge
#   make real-rpm       both .rpm with Debian's rpm on a booted Debian 12: $1, .rpmnew, erase
#   make real-matrix    Debian 11/12/13 and Valkey: check, failover, notify, watch, fence, ACLs
#   make bare-test      the README's first command on a fresh Debian 12 (issue 12);
#                       SENTINEL_VIP_BARE_TEST_ALL=1 also its test command (~10 min more)
#   make realenv        all of the above
#   make roots          build (or refresh) every cached root

ROOTS := $(SYSTEM_PYTHON) tests/realenv/roots.py
REALENV_ROOTS := bookworm:systemd bullseye:redis bookworm:redis trixie:redis trixie:valkey \
    bookworm-backports:valkey bookworm:server

.PHONY: roots real-systemd real-rpm real-matrix bare-test realenv realenv-preflight

realenv-preflight:
	@if [ "$$(id -u)" -ne 0 ]; then \
	    echo "error: the realenv tests need root (debootstrap, chroot, systemd-nspawn)" >&2; \
	    exit 1; fi
	@for t in debootstrap systemd-nspawn nsenter unshare rpm; do command -v $$t >/dev/null || { \
	    echo "error: $$t not found: run scripts/bootstrap" >&2; exit 1; }; done

roots: realenv-preflight
	for r in $(REALENV_ROOTS); do $(ROOTS) build $${r%%:*} $${r##*:}; done

# The packages are built first (make's own targets); the tests then use dist/ as built.
real-systemd real-rpm real-matrix: export SENTINEL_VIP_PACKAGES_BUILT := 1
real-systemd: realenv-preflight packages native-rpm $(PYTHON_DEP)
	$(call run_pytest,real-systemd,-s tests/realenv/test_systemd.py)

real-rpm: realenv-preflight packages native-rpm $(PYTHON_DEP)
	$(call run_pytest,real-rpm,-s tests/realenv/test_rpm.py)

real-matrix: realenv-preflight packages native-rpm $(PYTHON_DEP)
	$(call run_pytest,real-matrix,-s tests/realenv/test_matrix.py)

bare-test: realenv-preflight $(PYTHON_DEP)
	$(call run_pytest,bare-test,-s tests/realenv/test_bare.py)

realenv: real-systemd real-rpm real-matrix bare-test

