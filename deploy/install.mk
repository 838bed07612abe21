# make install: binaries, systemd units, man pages, docs and example configs.
# Included by the top-level Makefile (-include deploy/install.mk).
#
#   make install                          under /usr/local, units in /usr/local/lib/systemd/system
#   make install PREFIX=/usr              units in /lib/systemd/system (Debian 12)
#   make install DESTDIR=/tmp/root        stage into a folder (packaging, tests)
#   make test-install                     tests/install/test_install.sh and tests/docs/check_config_docs.sh
#
# Every directory can be overridden: BINDIR SBINDIR MANDIR DOCDIR SYSCONFDIR UNITDIR.
# Configuration files are never installed or overwritten: /etc/healops gets only
# *.json.example; deploy/install.sh copies an example to server.json / agent.json
# when there is none.

PREFIX     ?= /usr/local
DESTDIR    ?=
BINDIR     ?= $(PREFIX)/bin
SBINDIR    ?= $(PREFIX)/sbin
MANDIR     ?= $(PREFIX)/share/man
DOCDIR     ?= $(PREFIX)/share/doc/healops
SYSCONFDIR ?= /etc/healops
# Debian 12 keeps packaged units in /lib/systemd/system; systemd also reads
# /usr/local/lib/systemd/system, so other prefixes keep theirs under PREFIX.
UNITDIR    ?= $(if $(filter /usr,$(patsubst %/,%,$(PREFIX))),/lib/systemd/system,$(PREFIX)/lib/systemd/system)
INSTALL    ?= install

INSTALL_UNITS   := deploy/systemd/healops-server.service deploy/systemd/healops-agent.service
INSTALL_MAN8    := deploy/man/healops-server.8 deploy/man/healops-agent.8
INSTALL_MAN1    := deploy/man/healopsctl.1
INSTALL_CONFIGS := deploy/config/server.json.example deploy/config/agent.json.example
INSTALL_DOCS    := $(wildcard docs/*.md) README.md

.PHONY: install install-bin install-units install-man install-doc install-config test-install

install: install-bin install-units install-man install-doc install-config
	@echo "installed under $(DESTDIR)$(PREFIX); units in $(DESTDIR)$(UNITDIR)"

install-bin: all
	$(INSTALL) -d -m 0755 $(DESTDIR)$(BINDIR) $(DESTDIR)$(SBINDIR)
	$(INSTALL) -m 0755 $(BUILD)/healops-server $(BUILD)/healops-agent $(BUILD)/healops-agent-unpack \
	    $(DESTDIR)$(SBINDIR)/
	$(INSTALL) -m 0755 $(BUILD)/healopsctl $(DESTDIR)$(BINDIR)/

# The units name /usr/local/sbin and /etc/healops; they are rewritten to the
# directories of this installation.
install-units: $(INSTALL_UNITS)
	$(INSTALL) -d -m 0755 $(DESTDIR)$(UNITDIR)
	for u in $(INSTALL_UNITS); do \
	    sed -e 's|/usr/local/sbin/|$(SBINDIR)/|g' -e 's|/etc/healops/|$(SYSCONFDIR)/|g' \
	        "$$u" > "$(DESTDIR)$(UNITDIR)/$$(basename "$$u").tmp" && \
	    chmod 0644 "$(DESTDIR)$(UNITDIR)/$$(basename "$$u").tmp" && \
	    mv -f "$(DESTDIR)$(UNITDIR)/$$(basename "$$u").tmp" "$(DESTDIR)$(UNITDIR)/$$(basename "$$u")" || exit 1; \
	done

install-man: $(INSTALL_MAN8) $(INSTALL_MAN1)
	$(INSTALL) -d -m 0755 $(DESTDIR)$(MANDIR)/man8 $(DESTDIR)$(MANDIR)/man1
	$(INSTALL) -m 0644 $(INSTALL_MAN8) $(DESTDIR)$(MANDIR)/man8/
	$(INSTALL) -m 0644 $(INSTALL_MAN1) $(DESTDIR)$(MANDIR)/man1/

# Docs, example configs and the example packages (scripts keep their x bit).
install-doc: $(INSTALL_DOCS) $(INSTALL_CONFIGS)
	$(INSTALL) -d -m 0755 $(DESTDIR)$(DOCDIR)/examples/packages
	$(INSTALL) -m 0644 $(INSTALL_DOCS) $(DESTDIR)$(DOCDIR)/
	$(INSTALL) -m 0644 $(INSTALL_CONFIGS) $(DESTDIR)$(DOCDIR)/examples/
	cd deploy/examples && find . -type d | while read -r d; do \
	    $(INSTALL) -d -m 0755 "$(DESTDIR)$(DOCDIR)/examples/packages/$$d" || exit 1; done
	cd deploy/examples && find . -type f | while read -r f; do \
	    if [ -x "$$f" ]; then m=0755; else m=0644; fi; \
	    $(INSTALL) -m $$m "$$f" "$(DESTDIR)$(DOCDIR)/examples/packages/$$f" || exit 1; done

# Only the examples land in SYSCONFDIR; a real server.json / agent.json is never touched.
install-config: $(INSTALL_CONFIGS)
	$(INSTALL) -d -m 0750 $(DESTDIR)$(SYSCONFDIR)
	$(INSTALL) -m 0644 $(INSTALL_CONFIGS) $(DESTDIR)$(SYSCONFDIR)/

test-install: all
	@rc=0; \
	sh tests/install/test_install.sh --build $(BUILD) || rc=1; \
	sh tests/docs/check_config_docs.sh --build $(BUILD) || rc=1; \
	exit $$rc
