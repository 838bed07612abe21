/*
 * Unit tests for agent/cycle.c, the check cycle state machine (DESIGN.md
 * section 4), driven through fake cycle_ops: the fake test answers a scripted
 * status per call, the fake repair a fixed status, and both count their calls.
 * The wall clock is moved with clock_set_wall_override.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "clock.h"
#include "crypto.h"
#include "cycle.h"
#include "manifest.h"
#include "mem.h"
#include "run.h"

#define T0            1795528800000LL /* 2026-11-24T14:00:00Z */
#define FAKE_MAX_CALL 8
#define EXPLICIT_TS   1700000000000LL /* a metric that carries its own time */

struct fake {
    int test_status[FAKE_MAX_CALL]; /* status of the n-th test call; the last repeats */
    int nscript;
    int test_calls;
    int repair_calls;
    int repair_status;         /* enum repair_status the repair reports */
    int seen_test_status;      /* status of the test step handed to the repair */
    int seen_test_present;
    int64_t repair_advance_ms; /* the repair moves the wall clock on by this much */
    int metrics;               /* each test call appends two metrics */
};

static void fake_test(void *ctx, const struct manifest *pkg, const struct manifest_check *c,
                      struct run_step *step, struct metric **metrics, size_t *nmetrics)
{
    struct fake *f = ctx;
    int i = f->test_calls < f->nscript ? f->test_calls : f->nscript - 1;
    struct metric *m;

    (void)pkg;
    (void)c;
    assert_true(f->nscript > 0);
    step->present = 1;
    step->status = f->test_status[i];
    step->has_exit_code = 1;
    step->exit_code = f->test_status[i];
    step->output = xasprintf("test call %d", f->test_calls);
    step->duration_ms = 3;
    if (f->metrics) {
        *metrics = xrealloc(*metrics, (*nmetrics + 2) * sizeof(**metrics));
        m = &(*metrics)[*nmetrics];
        memset(m, 0, 2 * sizeof(*m));
        m[0].name = xasprintf("call%d.value", f->test_calls);
        m[0].value = f->test_calls;
        m[0].ts_ms = 0; /* the cycle stamps it */
        m[1].name = xasprintf("call%d.stamped", f->test_calls);
        m[1].value = 100 + f->test_calls;
        m[1].ts_ms = EXPLICIT_TS;
        *nmetrics += 2;
    }
    f->test_calls++;
}

static void fake_repair(void *ctx, const struct manifest *pkg, const struct manifest_check *c,
                        const struct run_step *test, struct run_step *step)
{
    struct fake *f = ctx;

    (void)pkg;
    (void)c;
    f->repair_calls++;
    f->seen_test_status = test->status;
    f->seen_test_present = test->present;
    step->present = 1;
    step->status = f->repair_status;
    step->has_exit_code = 1;
    step->exit_code = f->repair_status == REPAIR_STATUS_SUCCEEDED ? 0 : 1;
    step->output = xstrdup("restarted");
    step->duration_ms = 20;
    if (f->repair_advance_ms != 0)
        clock_set_wall_override(clock_wall_ms() + f->repair_advance_ms);
}

/* Everything one test needs: a package with one check, the fake, its ops. */
struct fixture {
    struct manifest pkg;
    struct manifest_check check;
    struct fake fake;
    struct cycle_ops ops;
    struct cycle_opts opts;
    struct cycle_guard guard;
    struct run run;
};

static int setup(void **state)
{
    struct fixture *fx = xcalloc(1, sizeof(*fx));

    fx->pkg.name = "nginx";
    fx->pkg.version = "1.4.0";
    fx->check.name = "nginx.running";
    fx->check.interval_s = 60;
    fx->check.timeout_s = 10;
    fx->check.test.kind = PROBE_EXEC;
    fx->check.has_repair = 1;
    fx->check.repair_on = 1u << TEST_STATUS_CRITICAL; /* the manifest default */
    fx->check.max_repairs = 0;
    fx->check.max_repairs_window_s = 3600;
    fx->pkg.checks = &fx->check;
    fx->pkg.nchecks = 1;
    fx->fake.repair_status = REPAIR_STATUS_SUCCEEDED;
    fx->ops.test = fake_test;
    fx->ops.repair = fake_repair;
    fx->ops.ctx = &fx->fake;
    clock_set_wall_override(T0);
    *state = fx;
    return 0;
}

static int teardown(void **state)
{
    struct fixture *fx = *state;

    run_cleanup(&fx->run);
    cycle_guard_cleanup(&fx->guard);
    free(fx);
    clock_set_wall_override(0);
    return 0;
}

/* Sets the fake's script (statuses of successive test calls) and clears its counters. */
static void script(struct fixture *fx, int n, ...)
{
    va_list ap;
    int i;

    assert_true(n > 0 && n <= FAKE_MAX_CALL);
    va_start(ap, n);
    for (i = 0; i < n; i++)
        fx->fake.test_status[i] = va_arg(ap, int);
    va_end(ap);
    fx->fake.nscript = n;
    fx->fake.test_calls = 0;
    fx->fake.repair_calls = 0;
    fx->fake.seen_test_status = -1;
    fx->fake.seen_test_present = 0;
}

/* Runs one cycle into fx->run (freeing the previous one) with the loop guard. */
static void cycle(struct fixture *fx)
{
    run_cleanup(&fx->run);
    assert_int_equal(cycle_run(&fx->ops, &fx->pkg, &fx->check, &fx->guard, &fx->opts, &fx->run),
                     HO_OK);
}

static void test_cycle_ok_test_no_repair(void **state)
{
    struct fixture *fx = *state;

    script(fx, 1, TEST_STATUS_OK);
    cycle(fx);
    assert_int_equal(fx->run.outcome, RUN_OUTCOME_OK);
    assert_int_equal(fx->fake.test_calls, 1);
    assert_int_equal(fx->fake.repair_calls, 0);
    assert_true(fx->run.test.present);
    assert_int_equal(fx->run.test.status, TEST_STATUS_OK);
    assert_string_equal(fx->run.test.output, "test call 0");
    assert_false(fx->run.repair.present);
    assert_false(fx->run.retest.present);
    assert_int_equal(cycle_exit_code(&fx->run), 0);
}

static void test_cycle_critical_repair_retest_ok_repaired(void **state)
{
    struct fixture *fx = *state;

    script(fx, 2, TEST_STATUS_CRITICAL, TEST_STATUS_OK);
    cycle(fx);
    assert_int_equal(fx->run.outcome, RUN_OUTCOME_REPAIRED);
    assert_int_equal(fx->fake.test_calls, 2);
    assert_int_equal(fx->fake.repair_calls, 1);
    /* the repair is handed the failed test */
    assert_int_equal(fx->fake.seen_test_status, TEST_STATUS_CRITICAL);
    assert_true(fx->fake.seen_test_present);
    assert_int_equal(fx->run.test.status, TEST_STATUS_CRITICAL);
    assert_true(fx->run.repair.present);
    assert_int_equal(fx->run.repair.status, REPAIR_STATUS_SUCCEEDED);
    assert_string_equal(fx->run.repair.output, "restarted");
    assert_true(fx->run.retest.present);
    assert_int_equal(fx->run.retest.status, TEST_STATUS_OK);
    assert_string_equal(fx->run.retest.output, "test call 1");
    assert_int_equal(cycle_exit_code(&fx->run), 0);
}

static void test_cycle_repair_then_retest_critical_failed(void **state)
{
    struct fixture *fx = *state;

    script(fx, 2, TEST_STATUS_CRITICAL, TEST_STATUS_CRITICAL);
    cycle(fx);
    assert_int_equal(fx->run.outcome, RUN_OUTCOME_FAILED);
    assert_int_equal(fx->fake.test_calls, 2);
    assert_int_equal(fx->fake.repair_calls, 1);
    assert_true(fx->run.retest.present);
    assert_int_equal(fx->run.retest.status, TEST_STATUS_CRITICAL);
    assert_int_equal(cycle_exit_code(&fx->run), 2);
}

static void test_cycle_retest_decides_not_repair_status(void **state)
{
    struct fixture *fx = *state;

    /* a repair that says it failed, yet the re-test passes: repaired */
    fx->fake.repair_status = REPAIR_STATUS_FAILED;
    script(fx, 2, TEST_STATUS_CRITICAL, TEST_STATUS_OK);
    cycle(fx);
    assert_int_equal(fx->run.outcome, RUN_OUTCOME_REPAIRED);
    assert_int_equal(fx->run.repair.status, REPAIR_STATUS_FAILED);
    /* a repair that timed out and the re-test still critical: failed */
    fx->fake.repair_status = REPAIR_STATUS_TIMEOUT;
    script(fx, 2, TEST_STATUS_CRITICAL, TEST_STATUS_CRITICAL);
    cycle(fx);
    assert_int_equal(fx->run.outcome, RUN_OUTCOME_FAILED);
    assert_int_equal(fx->run.repair.status, REPAIR_STATUS_TIMEOUT);
}

static void test_cycle_unknown_is_error_without_repair(void **state)
{
    struct fixture *fx = *state;

    script(fx, 1, TEST_STATUS_UNKNOWN);
    cycle(fx);
    assert_int_equal(fx->run.outcome, RUN_OUTCOME_ERROR);
    assert_int_equal(fx->fake.test_calls, 1);
    assert_int_equal(fx->fake.repair_calls, 0);
    assert_false(fx->run.repair.present);
    assert_false(fx->run.retest.present);
    assert_int_equal(cycle_exit_code(&fx->run), 3);
}

static void test_cycle_unknown_repaired_when_in_repair_on(void **state)
{
    struct fixture *fx = *state;

    fx->check.repair_on = (1u << TEST_STATUS_CRITICAL) | (1u << TEST_STATUS_UNKNOWN);
    script(fx, 2, TEST_STATUS_UNKNOWN, TEST_STATUS_OK);
    cycle(fx);
    assert_int_equal(fx->fake.repair_calls, 1);
    assert_int_equal(fx->fake.seen_test_status, TEST_STATUS_UNKNOWN);
    assert_int_equal(fx->run.outcome, RUN_OUTCOME_REPAIRED);
    /* re-test still unknown: the test cannot run, so error */
    script(fx, 2, TEST_STATUS_UNKNOWN, TEST_STATUS_UNKNOWN);
    cycle(fx);
    assert_int_equal(fx->fake.repair_calls, 1);
    assert_int_equal(fx->run.outcome, RUN_OUTCOME_ERROR);
}

static void test_cycle_warning_not_in_default_repair_on(void **state)
{
    struct fixture *fx = *state;

    script(fx, 1, TEST_STATUS_WARNING);
    cycle(fx);
    assert_int_equal(fx->run.outcome, RUN_OUTCOME_FAILED);
    assert_int_equal(fx->fake.repair_calls, 0);
    assert_int_equal(fx->fake.test_calls, 1);
    assert_false(fx->run.repair.present);
    assert_false(fx->run.retest.present);
    assert_int_equal(cycle_exit_code(&fx->run), 1);
}

static void test_cycle_warning_repaired_when_in_repair_on(void **state)
{
    struct fixture *fx = *state;

    fx->check.repair_on = (1u << TEST_STATUS_WARNING) | (1u << TEST_STATUS_CRITICAL);
    script(fx, 2, TEST_STATUS_WARNING, TEST_STATUS_OK);
    cycle(fx);
    assert_int_equal(fx->fake.repair_calls, 1);
    assert_int_equal(fx->run.outcome, RUN_OUTCOME_REPAIRED);
    /* critical is not in repair_on any more once only warning is listed */
    fx->check.repair_on = 1u << TEST_STATUS_WARNING;
    script(fx, 1, TEST_STATUS_CRITICAL);
    cycle(fx);
    assert_int_equal(fx->fake.repair_calls, 0);
    assert_int_equal(fx->run.outcome, RUN_OUTCOME_FAILED);
}

static void test_cycle_report_only_manifest_no_repair(void **state)
{
    struct fixture *fx = *state;

    fx->check.report_only = 1;
    script(fx, 2, TEST_STATUS_CRITICAL, TEST_STATUS_OK);
    cycle(fx);
    assert_int_equal(fx->fake.repair_calls, 0);
    assert_int_equal(fx->fake.test_calls, 1);
    assert_false(fx->run.repair.present);
    assert_false(fx->run.retest.present);
    assert_int_equal(fx->run.outcome, RUN_OUTCOME_FAILED);
    assert_int_equal(cycle_exit_code(&fx->run), 2);
}

static void test_cycle_report_only_option_no_repair(void **state)
{
    struct fixture *fx = *state;

    fx->opts.report_only = 1;
    script(fx, 2, TEST_STATUS_CRITICAL, TEST_STATUS_OK);
    cycle(fx);
    assert_int_equal(fx->fake.repair_calls, 0);
    assert_int_equal(fx->fake.test_calls, 1);
    assert_false(fx->run.repair.present);
    assert_int_equal(fx->run.outcome, RUN_OUTCOME_FAILED);
    /* report-only never feeds the loop guard */
    assert_int_equal(fx->guard.n, 0);
}

static void test_cycle_no_repair_defined_failed(void **state)
{
    struct fixture *fx = *state;

    fx->check.has_repair = 0;
    script(fx, 2, TEST_STATUS_CRITICAL, TEST_STATUS_OK);
    cycle(fx);
    assert_int_equal(fx->fake.repair_calls, 0);
    assert_int_equal(fx->fake.test_calls, 1);
    assert_false(fx->run.repair.present);
    assert_int_equal(fx->run.outcome, RUN_OUTCOME_FAILED);
}

/* One broken cycle at wall time t: the test critical, the re-test (if any) critical. */
static void broken_cycle_at(struct fixture *fx, int64_t t)
{
    clock_set_wall_override(t);
    script(fx, 2, TEST_STATUS_CRITICAL, TEST_STATUS_CRITICAL);
    cycle(fx);
}

static void assert_suppressed(struct fixture *fx)
{
    assert_int_equal(fx->fake.repair_calls, 0);
    assert_int_equal(fx->fake.test_calls, 1); /* no re-test */
    assert_true(fx->run.repair.present);
    assert_int_equal(fx->run.repair.status, REPAIR_STATUS_SUPPRESSED);
    assert_non_null(fx->run.repair.output);
    assert_non_null(strstr(fx->run.repair.output, "suppressed"));
    assert_false(fx->run.retest.present);
    assert_int_equal(fx->run.outcome, RUN_OUTCOME_FAILED);
    assert_int_equal(cycle_exit_code(&fx->run), 2);
}

static void assert_repaired_once(struct fixture *fx)
{
    assert_int_equal(fx->fake.repair_calls, 1);
    assert_int_equal(fx->fake.test_calls, 2);
    assert_int_equal(fx->run.repair.status, REPAIR_STATUS_SUCCEEDED);
    assert_true(fx->run.retest.present);
}

static void test_cycle_loop_guard_suppresses_third_repair(void **state)
{
    struct fixture *fx = *state;

    fx->check.max_repairs = 2;
    fx->check.max_repairs_window_s = 3600;
    broken_cycle_at(fx, T0);
    assert_repaired_once(fx);
    broken_cycle_at(fx, T0 + 60000);
    assert_repaired_once(fx);
    broken_cycle_at(fx, T0 + 120000);
    assert_suppressed(fx);
    /* still within the window of the first repair */
    broken_cycle_at(fx, T0 + 3599000);
    assert_suppressed(fx);
    /* the first repair left the window: one repair is allowed again */
    broken_cycle_at(fx, T0 + 3601000);
    assert_repaired_once(fx);
    /* now the second (T0+60 s) and the new one are in the window again */
    broken_cycle_at(fx, T0 + 3602000);
    assert_suppressed(fx);
    /* long after everything: allowed */
    broken_cycle_at(fx, T0 + 3 * 3600000LL);
    assert_repaired_once(fx);
}

static void test_cycle_loop_guard_counts_whatever_state_in_between(void **state)
{
    struct fixture *fx = *state;

    fx->check.max_repairs = 2;
    broken_cycle_at(fx, T0);
    assert_repaired_once(fx);
    /* the check is fine for a while */
    clock_set_wall_override(T0 + 60000);
    script(fx, 1, TEST_STATUS_OK);
    cycle(fx);
    assert_int_equal(fx->run.outcome, RUN_OUTCOME_OK);
    clock_set_wall_override(T0 + 120000);
    script(fx, 2, TEST_STATUS_CRITICAL, TEST_STATUS_OK);
    cycle(fx);
    assert_int_equal(fx->run.outcome, RUN_OUTCOME_REPAIRED);
    /* flapping does not reset the guard */
    broken_cycle_at(fx, T0 + 180000);
    assert_suppressed(fx);
}

static void test_cycle_loop_guard_zero_is_unlimited(void **state)
{
    struct fixture *fx = *state;
    int i;

    fx->check.max_repairs = 0;
    for (i = 0; i < 10; i++) {
        broken_cycle_at(fx, T0 + i * 1000);
        assert_repaired_once(fx);
    }
    assert_false(cycle_guard_exhausted(&fx->guard, &fx->check, T0 + 10000));
}

static void test_cycle_loop_guard_null_guard_always_repairs(void **state)
{
    struct fixture *fx = *state;
    int i;

    fx->check.max_repairs = 1;
    for (i = 0; i < 3; i++) {
        run_cleanup(&fx->run);
        script(fx, 2, TEST_STATUS_CRITICAL, TEST_STATUS_CRITICAL);
        assert_int_equal(cycle_run(&fx->ops, &fx->pkg, &fx->check, NULL, &fx->opts, &fx->run),
                         HO_OK);
        assert_int_equal(fx->fake.repair_calls, 1);
    }
}

static void test_cycle_guard_exhausted_window(void **state)
{
    struct fixture *fx = *state;

    fx->check.max_repairs = 2;
    fx->check.max_repairs_window_s = 600;
    assert_false(cycle_guard_exhausted(&fx->guard, &fx->check, T0));
    broken_cycle_at(fx, T0);
    broken_cycle_at(fx, T0 + 1000);
    assert_int_equal(fx->guard.n, 2);
    assert_true(cycle_guard_exhausted(&fx->guard, &fx->check, T0 + 2000));
    assert_true(cycle_guard_exhausted(&fx->guard, &fx->check, T0 + 599000));
    assert_false(cycle_guard_exhausted(&fx->guard, &fx->check, T0 + 600500));
    cycle_guard_cleanup(&fx->guard);
    assert_null(fx->guard.times);
    assert_int_equal(fx->guard.n, 0);
}

static void test_cycle_manual_and_operator_copied(void **state)
{
    struct fixture *fx = *state;
    char who[] = "alice";

    fx->opts.manual = 1;
    fx->opts.operator_name = who;
    script(fx, 1, TEST_STATUS_OK);
    cycle(fx);
    assert_true(fx->run.manual);
    assert_non_null(fx->run.operator_name);
    assert_string_equal(fx->run.operator_name, "alice");
    assert_ptr_not_equal(fx->run.operator_name, who); /* a copy the run owns */
    who[0] = 'X';
    assert_string_equal(fx->run.operator_name, "alice");

    /* manual without a known operator */
    fx->opts.operator_name = NULL;
    cycle(fx);
    assert_true(fx->run.manual);
    assert_null(fx->run.operator_name);

    /* scheduled runs are not manual */
    fx->opts.manual = 0;
    fx->opts.operator_name = "bob";
    cycle(fx);
    assert_false(fx->run.manual);
    assert_null(fx->run.operator_name);
}

static void test_cycle_run_id_is_uuid_v7_and_unique(void **state)
{
    struct fixture *fx = *state;
    char first[CRYPTO_UUID_LEN], prefix[CRYPTO_UUID_LEN];

    script(fx, 1, TEST_STATUS_OK);
    cycle(fx);
    assert_true(crypto_uuid_valid(fx->run.id));
    assert_int_equal(fx->run.id[14], '7');
    memcpy(first, fx->run.id, sizeof(first));
    /* the id's time prefix is started_at */
    assert_int_equal(crypto_uuid_v7(T0, prefix), HO_OK);
    assert_memory_equal(fx->run.id, prefix, 13);
    cycle(fx); /* same millisecond: still a different id */
    assert_true(crypto_uuid_valid(fx->run.id));
    assert_string_not_equal(fx->run.id, first);
}

static void test_cycle_started_at_and_identity_fields(void **state)
{
    struct fixture *fx = *state;

    clock_set_wall_override(T0 + 4321);
    script(fx, 1, TEST_STATUS_OK);
    cycle(fx);
    assert_int_equal(fx->run.started_at_ms, T0 + 4321);
    assert_string_equal(fx->run.package, "nginx");
    assert_string_equal(fx->run.version, "1.4.0");
    assert_string_equal(fx->run.check, "nginx.running");
    assert_ptr_not_equal(fx->run.check, fx->check.name);
    assert_int_equal(fx->run.interval_s, 60);
    assert_true(fx->run.duration_ms >= 0);
    assert_true(fx->run.duration_ms < 10000);
}

static void test_cycle_metrics_of_test_and_retest_kept(void **state)
{
    struct fixture *fx = *state;

    fx->fake.metrics = 1;
    fx->fake.repair_advance_ms = 5000; /* the repair takes 5 s of wall time */
    script(fx, 2, TEST_STATUS_CRITICAL, TEST_STATUS_OK);
    cycle(fx);
    assert_int_equal(fx->run.outcome, RUN_OUTCOME_REPAIRED);
    assert_int_equal(fx->run.nmetrics, 4);
    assert_string_equal(fx->run.metrics[0].name, "call0.value");
    assert_true(fx->run.metrics[0].value == 0.0);
    assert_int_equal(fx->run.metrics[0].ts_ms, T0); /* stamped with the test's time */
    assert_string_equal(fx->run.metrics[1].name, "call0.stamped");
    assert_int_equal(fx->run.metrics[1].ts_ms, EXPLICIT_TS); /* kept */
    assert_string_equal(fx->run.metrics[2].name, "call1.value");
    assert_true(fx->run.metrics[2].value == 1.0);
    assert_int_equal(fx->run.metrics[2].ts_ms, T0 + 5000); /* the re-test's time */
    assert_string_equal(fx->run.metrics[3].name, "call1.stamped");
    assert_int_equal(fx->run.metrics[3].ts_ms, EXPLICIT_TS);
    assert_int_equal(fx->run.started_at_ms, T0);
}

static void test_cycle_exit_code_uses_retest(void **state)
{
    struct run r;

    (void)state;
    memset(&r, 0, sizeof(r));
    r.test.present = 1;
    r.test.status = TEST_STATUS_CRITICAL;
    assert_int_equal(cycle_exit_code(&r), 2);
    r.retest.present = 1;
    r.retest.status = TEST_STATUS_OK;
    assert_int_equal(cycle_exit_code(&r), 0);
    r.retest.status = TEST_STATUS_WARNING;
    assert_int_equal(cycle_exit_code(&r), 1);
    /* a retest that did not happen does not count, whatever its fields say */
    r.retest.present = 0;
    r.test.status = TEST_STATUS_WARNING;
    r.retest.status = TEST_STATUS_OK;
    assert_int_equal(cycle_exit_code(&r), 1);
    /* out-of-range statuses map to UNKNOWN */
    r.test.status = 7;
    assert_int_equal(cycle_exit_code(&r), 3);
    r.test.status = -1;
    assert_int_equal(cycle_exit_code(&r), 3);
}

#define T(f) cmocka_unit_test_setup_teardown(f, setup, teardown)

int main(void)
{
    const struct CMUnitTest tests[] = {
        T(test_cycle_ok_test_no_repair),
        T(test_cycle_critical_repair_retest_ok_repaired),
        T(test_cycle_repair_then_retest_critical_failed),
        T(test_cycle_retest_decides_not_repair_status),
        T(test_cycle_unknown_is_error_without_repair),
        T(test_cycle_unknown_repaired_when_in_repair_on),
        T(test_cycle_warning_not_in_default_repair_on),
        T(test_cycle_warning_repaired_when_in_repair_on),
        T(test_cycle_report_only_manifest_no_repair),
        T(test_cycle_report_only_option_no_repair),
        T(test_cycle_no_repair_defined_failed),
        T(test_cycle_loop_guard_suppresses_third_repair),
        T(test_cycle_loop_guard_counts_whatever_state_in_between),
        T(test_cycle_loop_guard_zero_is_unlimited),
        T(test_cycle_loop_guard_null_guard_always_repairs),
        T(test_cycle_guard_exhausted_window),
        T(test_cycle_manual_and_operator_copied),
        T(test_cycle_run_id_is_uuid_v7_and_unique),
        T(test_cycle_started_at_and_identity_fields),
        T(test_cycle_metrics_of_test_and_retest_kept),
        T(test_cycle_exit_code_uses_retest),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
