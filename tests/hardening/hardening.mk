# Hardening suite (issue 7): fuzzing, hostile servers, least privilege, TLS/ACL, secrets audit.
# Needs root for the keepalived_script tests (they skip otherwise).
.PHONY: hardening
TEST_TARGETS += hardening

hardening: $(PYZ) $(PYTHON_DEP)
	$(call run_pytest,hardening,-m hardening tests/hardening)
