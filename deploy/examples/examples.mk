# Example packages: `make test-examples` lints every package in
# deploy/examples/{nginx,postgresql,disk-space,systemd-unit,tls-cert-expiry} and
# runs its checks against stand-ins (tests/examples/test_examples.sh, < 60 s).
# Include from the Makefile with: -include deploy/examples/examples.mk
.PHONY: test-examples
test-examples: $(BUILD)/healops-agent
	bash tests/examples/test_examples.sh $(BUILD)
