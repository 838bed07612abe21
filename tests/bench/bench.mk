# Benchmarks: `make bench` builds the tools into $(BUILD)/bench and runs
# tests/bench/run.sh, which prints every figure. Benchmarks measure and report; they
# never fail because a target was missed. Knobs: BENCH_ROUNDS, BENCH_SECONDS,
# BENCH_AGENTS, BENCH_PREFILL, BENCH_PREFILL_AGENTS, BENCH_AGENT_SECONDS, BENCH_FWD,
# BENCH_FWD_TYPE (see run.sh).

BENCH_DIR    := $(BUILD)/bench
BENCH_CFLAGS := -std=c11 -D_GNU_SOURCE -g $(WARN) $(OPT_CFLAGS) $(PKG_CFLAGS) -Itests/bench
BENCH_COMMON := tests/bench/bench.c tests/bench/bench_net.c
BENCH_HDRS   := tests/bench/bench.h tests/bench/bench_net.h
BENCH_TOOLS  := $(BENCH_DIR)/loadgen $(BENCH_DIR)/query $(BENCH_DIR)/ref_sqlite $(BENCH_DIR)/ref_mhd \
                $(BENCH_DIR)/ref_agent

$(BENCH_DIR)/%: tests/bench/%.c $(BENCH_COMMON) $(BENCH_HDRS)
	@mkdir -p $(@D)
	$(CC) $(BENCH_CFLAGS) -o $@ $< $(BENCH_COMMON) $(LDLIBS)

# ref_sqlite can write through the server's VFS (--server-vfs)
$(BENCH_DIR)/ref_sqlite: tests/bench/ref_sqlite.c server/store_vfs.c server/store_vfs.h $(BENCH_COMMON) $(BENCH_HDRS)
	@mkdir -p $(@D)
	$(CC) $(BENCH_CFLAGS) -Iserver -o $@ $< server/store_vfs.c $(BENCH_COMMON) $(LDLIBS)

# ref_agent is the agent's footprint reference: libcurl (with its OpenSSL) and libc only,
# so that its RSS is what that client stack takes, not what the other tools link
$(BENCH_DIR)/ref_agent: tests/bench/ref_agent.c tests/bench/bench.c tests/bench/bench.h
	@mkdir -p $(@D)
	$(CC) $(BENCH_CFLAGS) -o $@ $< tests/bench/bench.c $(shell pkg-config --libs libcurl)

bench-tools: $(BENCH_TOOLS)

bench: all bench-tools
	sh tests/bench/run.sh $(BUILD)

.PHONY: bench-tools
