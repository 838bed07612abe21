# HealOps top-level build (GNU make).
#   make            build healops-server, healops-agent (with healops-agent-unpack), healopsctl into build/
#   make test       unit tests (normal and ASan+UBSan builds) and integration tests
#   make run        dependencies, build, dev certificates, server + agent on 127.0.0.1
#   make clean

CC       ?= cc
BUILD    ?= build
PKGS     := libmicrohttpd libcurl sqlite3 libcjson openssl libarchive
SERVER_PKGS := cairo gnutls
PKG_CFLAGS := $(shell pkg-config --cflags $(PKGS) $(SERVER_PKGS) 2>/dev/null)
PKG_LIBS   := $(shell pkg-config --libs $(PKGS) 2>/dev/null)
SERVER_LIBS := $(shell pkg-config --libs $(SERVER_PKGS) 2>/dev/null)
CMOCKA_LIBS := $(shell pkg-config --libs cmocka 2>/dev/null)

WARN     := -Wall -Wextra -Werror -Wshadow -Wstrict-prototypes -Wmissing-prototypes \
            -Wmissing-declarations -Wpointer-arith -Wcast-qual -Wformat=2 -Wundef -Wvla \
            $(shell $(CC) -Werror -Wno-format-truncation -E -x c /dev/null >/dev/null 2>&1 && echo -Wno-format-truncation)
BASE_CFLAGS := -std=c11 -D_GNU_SOURCE -g $(WARN) $(PKG_CFLAGS)
OPT_CFLAGS  := -O2 -fstack-protector-strong -D_FORTIFY_SOURCE=2
SAN_CFLAGS  := -O1 -fsanitize=address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer
CFLAGS   ?= $(OPT_CFLAGS)
LDLIBS   := $(PKG_LIBS) -lpthread -lm

VERSION  := $(shell cat VERSION 2>/dev/null || echo 0.0.0)
COMMIT   := $(shell git rev-parse --short HEAD 2>/dev/null || echo unknown)
DEFS     := -DHO_VERSION=\"$(VERSION)\" -DHO_COMMIT=\"$(COMMIT)\"

COMMON_SRCS := $(sort $(wildcard common/*.c))
SERVER_SRCS := $(sort $(filter-out server/main.c,$(wildcard server/*.c)))
AGENT_SRCS  := $(sort $(filter-out agent/main.c agent/ctl_main.c agent/unpack_main.c,$(wildcard agent/*.c)))
SCHEMA_SQL  := $(sort $(wildcard schema/*.sql))
WEB_FILES   := $(sort $(wildcard web/*.html web/*.css web/*.js web/*.svg))
UNIT_SRCS   := $(sort $(wildcard tests/unit/*_test.c))

# $(call objs,BUILDDIR,SRCS)
objs = $(patsubst %.c,$(1)/obj/%.o,$(2))

.PHONY: all test unit unit-asan valgrind integration run clean bench fuzz fuzz-smoke install
CTL_BIN := $(if $(wildcard agent/ctl_main.c),$(BUILD)/healopsctl)
all: $(BUILD)/healops-server $(BUILD)/healops-agent $(BUILD)/healops-agent-unpack $(CTL_BIN)

# --- generated sources: schema migrations and web assets built into the server ---
# The file lists are prerequisites too (rewritten only when they change), so a file
# added with an old modification time is still built in.
$(BUILD)/gen/%.list: FORCE
	@mkdir -p $(@D)
	@echo '$(if $(filter schema,$*),$(SCHEMA_SQL),$(WEB_FILES))' | cmp -s - $@ || \
	    echo '$(if $(filter schema,$*),$(SCHEMA_SQL),$(WEB_FILES))' > $@

$(BUILD)/gen/schema_gen.c: $(SCHEMA_SQL) deploy/embed.sh $(BUILD)/gen/schema.list
	@mkdir -p $(@D)
	sh deploy/embed.sh schema $(SCHEMA_SQL) > $@.tmp && mv $@.tmp $@

$(BUILD)/gen/assets_gen.c: $(WEB_FILES) deploy/embed.sh $(BUILD)/gen/assets.list
	@mkdir -p $(@D)
	sh deploy/embed.sh assets $(WEB_FILES) > $@.tmp && mv $@.tmp $@

.PHONY: FORCE
FORCE:

# --- one set of rules per build flavour (normal in build/, sanitizers in build/asan) ---
define flavour
$(1)/obj/common/%.o: common/%.c $(wildcard common/*.h)
	@mkdir -p $$(@D)
	$$(CC) $(2) $$(BASE_CFLAGS) $$(DEFS) -Icommon -c $$< -o $$@
$(1)/obj/server/%.o: server/%.c $(wildcard server/*.h common/*.h)
	@mkdir -p $$(@D)
	$$(CC) $(2) $$(BASE_CFLAGS) $$(DEFS) -Iserver -Icommon -c $$< -o $$@
$(1)/obj/agent/%.o: agent/%.c $(wildcard agent/*.h common/*.h)
	@mkdir -p $$(@D)
	$$(CC) $(2) $$(BASE_CFLAGS) $$(DEFS) -Iagent -Icommon -c $$< -o $$@
$(1)/obj/gen/%.o: $(BUILD)/gen/%.c
	@mkdir -p $$(@D)
	$$(CC) $(2) -std=c11 -Wall -Wextra -Werror -c $$< -o $$@
$(1)/libcommon.a: $(call objs,$(1),$(COMMON_SRCS))
	@rm -f $$@
	ar rcs $$@ $$^
$(1)/libserver.a: $(call objs,$(1),$(SERVER_SRCS)) $(1)/obj/gen/schema_gen.o $(1)/obj/gen/assets_gen.o
	@rm -f $$@
	ar rcs $$@ $$^
$(1)/libagent.a: $(call objs,$(1),$(AGENT_SRCS))
	@rm -f $$@
	ar rcs $$@ $$^
$(1)/healops-server: $(1)/obj/server/main.o $(1)/libserver.a $(1)/libcommon.a
	$$(CC) $(2) -o $$@ $$^ $$(SERVER_LIBS) $$(LDLIBS)
$(1)/healops-agent: $(1)/obj/agent/main.o $(1)/libagent.a $(1)/libcommon.a
	$$(CC) $(2) -o $$@ $$^ $$(LDLIBS)
$(1)/healopsctl: $(1)/obj/agent/ctl_main.o $(1)/libagent.a $(1)/libcommon.a
	$$(CC) $(2) -o $$@ $$^ $$(LDLIBS)
# the agent's bundle unpacker (agent/unpack.h): the only agent program that loads libarchive
$(1)/healops-agent-unpack: $(1)/obj/agent/unpack_main.o $(1)/libcommon.a
	$$(CC) $(2) -o $$@ $$^ $$(LDLIBS)
# the suites that install packages run the unpacker of their own build (../healops-agent-unpack)
$(1)/tests/%_test: tests/unit/%_test.c $(1)/libserver.a $(1)/libagent.a $(1)/libcommon.a $(wildcard tests/unit/*.h) | $(1)/healops-agent-unpack
	@mkdir -p $$(@D)
	$$(CC) $(2) $$(BASE_CFLAGS) $$(DEFS) -Wno-missing-prototypes -Wno-missing-declarations \
	    -Iserver -Iagent -Icommon -Itests/unit -o $$@ $$< \
	    $(1)/libserver.a $(1)/libagent.a $(1)/libcommon.a $$(CMOCKA_LIBS) $$(SERVER_LIBS) $$(LDLIBS)
endef

$(eval $(call flavour,$(BUILD),$(CFLAGS)))
$(eval $(call flavour,$(BUILD)/asan,$(SAN_CFLAGS)))

UNIT_BINS      := $(patsubst tests/unit/%_test.c,$(BUILD)/tests/%_test,$(UNIT_SRCS))
UNIT_ASAN_BINS := $(patsubst tests/unit/%_test.c,$(BUILD)/asan/tests/%_test,$(UNIT_SRCS))

# --- fuzzing (clang libFuzzer + ASan/UBSan): one driver per parser in tests/fuzz ---
FUZZ_CC      ?= clang
FUZZ_SECONDS ?= 60
FUZZ_SRCS    := $(sort $(wildcard tests/fuzz/fuzz_*.c))
FUZZ_NAMES   := $(patsubst tests/fuzz/%.c,%,$(FUZZ_SRCS))
FUZZ_CFLAGS  := -std=c11 -D_GNU_SOURCE -g -O1 -Wall -Wextra -Werror $(PKG_CFLAGS) $(DEFS) \
                -fsanitize=address,undefined -fno-sanitize-recover=undefined -fno-omit-frame-pointer
FUZZ_LIB_OBJS := $(patsubst %.c,$(BUILD)/fuzz/obj/%.o,$(COMMON_SRCS) $(AGENT_SRCS) $(SERVER_SRCS)) \
                 $(BUILD)/fuzz/obj/gen/schema_gen.o $(BUILD)/fuzz/obj/gen/assets_gen.o

$(BUILD)/fuzz/obj/%.o: %.c $(wildcard common/*.h agent/*.h server/*.h)
	@mkdir -p $(@D)
	$(FUZZ_CC) $(FUZZ_CFLAGS) -fsanitize=fuzzer-no-link -Iserver -Iagent -Icommon -c $< -o $@
$(BUILD)/fuzz/obj/gen/%.o: $(BUILD)/gen/%.c
	@mkdir -p $(@D)
	$(FUZZ_CC) -std=c11 -g -O1 -Wall -Wextra -Werror -c $< -o $@
$(BUILD)/fuzz/fuzz_%: tests/fuzz/fuzz_%.c $(FUZZ_LIB_OBJS)
	@mkdir -p $(@D)
	$(FUZZ_CC) $(FUZZ_CFLAGS) -fsanitize=fuzzer -Iserver -Iagent -Icommon -o $@ $^ \
	    $(SERVER_LIBS) $(LDLIBS)

.SECONDARY: $(FUZZ_LIB_OBJS)

# make fuzz FUZZ_SECONDS=3600 for long runs; findings land in build/fuzz/crashes-NAME
fuzz: $(addprefix $(BUILD)/fuzz/,$(FUZZ_NAMES))
	sh tests/fuzz/run.sh $(BUILD)/fuzz $(FUZZ_SECONDS) $(FUZZ_NAMES)

fuzz-smoke:
	$(MAKE) --no-print-directory fuzz FUZZ_SECONDS=10

unit: $(UNIT_BINS)
	sh tests/unit/run.sh $(UNIT_BINS)

unit-asan: $(UNIT_ASAN_BINS)
	ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1 \
	    sh tests/unit/run.sh $(UNIT_ASAN_BINS)

# Valgrind memcheck over the unit suites (normal build): any error or definite/indirect
# leak fails the suite. Not part of make test (slow); run before a release.
VALGRIND := valgrind --quiet --leak-check=full --errors-for-leak-kinds=definite,indirect \
            --error-exitcode=99 --suppressions=tests/unit/valgrind.supp
valgrind: $(UNIT_BINS)
	UNIT_WRAPPER="$(VALGRIND)" sh tests/unit/run.sh $(UNIT_BINS)

integration: all
	python3 tests/integration/run.py --build $(BUILD)

# Every suite runs even when an earlier one fails; the target fails if any did.
test: all
	@rc=0; \
	$(MAKE) --no-print-directory unit || rc=1; \
	$(MAKE) --no-print-directory unit-asan || rc=1; \
	$(MAKE) --no-print-directory integration || rc=1; \
	$(MAKE) --no-print-directory fuzz-smoke || rc=1; \
	$(MAKE) --no-print-directory test-install || rc=1; \
	$(MAKE) --no-print-directory test-examples || rc=1; \
	$(MAKE) --no-print-directory test-browser || rc=1; \
	if [ $$rc -ne 0 ]; then echo "make test: FAILED"; else echo "make test: all suites passed"; fi; \
	exit $$rc

run:
	sh deploy/install-deps.sh
	$(MAKE) all
	sh deploy/run-dev.sh $(BUILD)

clean:
	rm -rf $(BUILD)

# Benchmarks (make bench) and installation (make install) live in their own files.
-include tests/bench/bench.mk
-include deploy/install.mk
-include deploy/examples/examples.mk
-include tests/browser/browser.mk
