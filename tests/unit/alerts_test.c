/*
 * Tests of the alert engine: the pure rules (N failures in a row, resolve,
 * guard before failed, first kind wins, flapping window with its hysteresis,
 * silent, stale, repeat timing), the delivery backoff, the texts an alert
 * carries, the run's "alert" block codec, and the engine over a real SQLite
 * store with the test clock (one open alert per key, repeat, resolve, silent
 * agents, the outbox rows, a delivery retried after a refused connection, and the
 * periodic Alertmanager re-send kept to one row).
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "alerts.h"
#include "alerts_impl.h"
#include "app.h"
#include "buf.h"
#include "clock.h"
#include "cycle.h"
#include "mem.h"
#include "receiver.h"
#include "run.h"
#include "store.h"
#include "store_alerts.h"
#include "test_db.h"

#define T0 1795533600000LL

static const struct alert_rules_cfg cfg3 = {
    .after_failures = 3,
    .repeat_every_ms = 3600 * 1000LL,
    .silent_after_ms = 180 * 1000LL,
    .flap_repairs = 5,
    .flap_window_ms = 3600 * 1000LL,
    .stale = 1,
};

static struct alert_facts facts(int outcome, int cf)
{
    struct alert_facts f;

    memset(&f, 0, sizeof(f));
    f.has_state = 1;
    f.outcome = outcome;
    f.repair_status = -1;
    f.consecutive_failures = cf;
    f.last_run_at_ms = T0;
    f.interval_s = 60;
    f.agent_alive = 1;
    f.repairs_in_window = -1;
    return f;
}

/* ---- rules ---- */

static void test_alerts_rules_n_in_a_row(void **state)
{
    struct alert_facts f = facts(RUN_OUTCOME_FAILED, 2);
    struct alert_decision d;

    (void)state;
    alert_rules_check(&cfg3, &f, T0 + 1000, &d);
    assert_false(d.open);
    assert_false(d.resolve);
    f.consecutive_failures = 3;
    alert_rules_check(&cfg3, &f, T0 + 1000, &d);
    assert_true(d.open);
    assert_int_equal(d.kind, ALERT_KIND_FAILED);
    f.outcome = RUN_OUTCOME_ERROR;
    alert_rules_check(&cfg3, &f, T0 + 1000, &d);
    assert_true(d.open);
    assert_int_equal(d.kind, ALERT_KIND_FAILED);
}

static void test_alerts_rules_resolve_when_ok_or_repaired(void **state)
{
    struct alert_facts f = facts(RUN_OUTCOME_OK, 0);
    struct alert_decision d;

    (void)state;
    f.has_open = 1;
    f.open_kind = ALERT_KIND_FAILED;
    alert_rules_check(&cfg3, &f, T0 + 1000, &d);
    assert_true(d.resolve);
    assert_false(d.open);
    f.outcome = RUN_OUTCOME_REPAIRED;
    f.open_kind = ALERT_KIND_GUARD;
    alert_rules_check(&cfg3, &f, T0 + 1000, &d);
    assert_true(d.resolve);
    /* still failing: the open alert stays, nothing new opens */
    f = facts(RUN_OUTCOME_FAILED, 7);
    f.has_open = 1;
    f.open_kind = ALERT_KIND_FAILED;
    alert_rules_check(&cfg3, &f, T0 + 1000, &d);
    assert_false(d.resolve);
    assert_false(d.open);
}

static void test_alerts_rules_guard_first_and_first_kind_wins(void **state)
{
    struct alert_facts f = facts(RUN_OUTCOME_FAILED, 5);
    struct alert_decision d;

    (void)state;
    f.repair_status = REPAIR_STATUS_SUPPRESSED;
    alert_rules_check(&cfg3, &f, T0 + 1000, &d);
    assert_true(d.open);
    assert_int_equal(d.kind, ALERT_KIND_GUARD);
    /* suppressed even before N failures */
    f.consecutive_failures = 1;
    alert_rules_check(&cfg3, &f, T0 + 1000, &d);
    assert_true(d.open);
    assert_int_equal(d.kind, ALERT_KIND_GUARD);
    /* a failed alert open: a suppressed repair does not replace it */
    f.has_open = 1;
    f.open_kind = ALERT_KIND_FAILED;
    alert_rules_check(&cfg3, &f, T0 + 1000, &d);
    assert_false(d.open);
    assert_false(d.resolve);
}

static void test_alerts_rules_flapping_window(void **state)
{
    struct alert_facts f = facts(RUN_OUTCOME_REPAIRED, 0);
    struct alert_decision d;

    (void)state;
    f.repairs_in_window = 5; /* not more than 5 */
    alert_rules_check(&cfg3, &f, T0, &d);
    assert_false(d.open);
    f.repairs_in_window = 6;
    alert_rules_check(&cfg3, &f, T0, &d);
    assert_true(d.open);
    assert_int_equal(d.kind, ALERT_KIND_FLAPPING);
    f.has_open = 1;
    f.open_kind = ALERT_KIND_FLAPPING;
    f.repairs_in_window = 5; /* at the limit: stays */
    alert_rules_check(&cfg3, &f, T0, &d);
    assert_false(d.resolve);
    f.repairs_in_window = 4; /* below: resolves */
    alert_rules_check(&cfg3, &f, T0, &d);
    assert_true(d.resolve);
    assert_false(d.open);
    f.repairs_in_window = -1; /* not counted: never resolves on that */
    alert_rules_check(&cfg3, &f, T0, &d);
    assert_false(d.resolve);
}

static void test_alerts_rules_stale(void **state)
{
    struct alert_facts f = facts(RUN_OUTCOME_OK, 0);
    struct alert_decision d;
    struct alert_rules_cfg off = cfg3;

    (void)state;
    alert_rules_check(&cfg3, &f, T0 + 120 * 1000, &d); /* exactly 2 x interval */
    assert_false(d.open);
    alert_rules_check(&cfg3, &f, T0 + 121 * 1000, &d);
    assert_true(d.open);
    assert_int_equal(d.kind, ALERT_KIND_STALE);
    f.agent_alive = 0; /* a silent agent's checks are not stale */
    alert_rules_check(&cfg3, &f, T0 + 121 * 1000, &d);
    assert_false(d.open);
    f.agent_alive = 1;
    off.stale = 0;
    alert_rules_check(&off, &f, T0 + 121 * 1000, &d);
    assert_false(d.open);
    f.interval_s = 0; /* unknown interval: never stale */
    alert_rules_check(&cfg3, &f, T0 + 10000 * 1000LL, &d);
    assert_false(d.open);
    /* open stale alert, then a run arrives in time: resolves */
    f = facts(RUN_OUTCOME_OK, 0);
    f.has_open = 1;
    f.open_kind = ALERT_KIND_STALE;
    alert_rules_check(&cfg3, &f, T0 + 1000, &d);
    assert_true(d.resolve);
    assert_false(d.open);
    /* the late run failed: stale resolves and failed opens in its place */
    f = facts(RUN_OUTCOME_FAILED, 3);
    f.has_open = 1;
    f.open_kind = ALERT_KIND_STALE;
    alert_rules_check(&cfg3, &f, T0 + 1000, &d);
    assert_true(d.resolve);
    assert_true(d.open);
    assert_int_equal(d.kind, ALERT_KIND_FAILED);
}

static void test_alerts_rules_silent_and_repeat(void **state)
{
    (void)state;
    assert_false(alert_rules_silent(&cfg3, 0, T0)); /* never heard from */
    assert_false(alert_rules_silent(&cfg3, T0, T0 + 180 * 1000));
    assert_true(alert_rules_silent(&cfg3, T0, T0 + 181 * 1000));
    assert_false(alert_rules_repeat_due(&cfg3, T0, T0 + 3599 * 1000));
    assert_true(alert_rules_repeat_due(&cfg3, T0, T0 + 3600 * 1000));
    {
        struct alert_rules_cfg never = cfg3;

        never.repeat_every_ms = 0;
        assert_false(alert_rules_repeat_due(&never, T0, T0 + 100000000));
    }
}

static void test_alerts_backoff(void **state)
{
    int64_t d;
    uint32_t r;

    (void)state;
    for (r = 0; r < 2000; r += 7) {
        d = alert_backoff_ms(1, -1, r);
        assert_true(d >= 500 && d <= 1000);
        d = alert_backoff_ms(4, -1, r);
        assert_true(d >= 4000 && d <= 8000);
        d = alert_backoff_ms(30, -1, r);
        assert_true(d >= 150000 && d <= 300000);
    }
    assert_int_equal(alert_backoff_ms(1, 20, 0), 20000);           /* Retry-After wins */
    assert_int_equal(alert_backoff_ms(1, 999999, 0), 3600 * 1000); /* capped */
}

/* ---- texts ---- */

static void test_alerts_texts(void **state)
{
    char *s;

    (void)state;
    s = alert_login_expand("ssh ops@web-{node} # {node}", "n1");
    assert_string_equal(s, "ssh ops@web-n1 # n1");
    free(s);
    assert_null(alert_login_expand(NULL, "n1"));
    s = alert_first_line("  2 workers, want >= 4\t\nmore", 100);
    assert_string_equal(s, "2 workers, want >= 4");
    free(s);
    s = alert_excerpt("h\xc3\xa9llo", 2); /* does not cut the two-byte character */
    assert_string_equal(s, "h");
    free(s);
    s = alert_summary(ALERT_KIND_FAILED, "web-1", "nginx.running", "2 workers, want >= 4", 1, 0);
    assert_string_equal(s, "web-1 nginx.running failed: 2 workers, want >= 4");
    free(s);
    s = alert_summary(ALERT_KIND_FAILED, "web-1", "c", "x", 3, 0);
    assert_string_equal(s, "web-1 c failed 3 times in a row: x");
    free(s);
    s = alert_summary(ALERT_KIND_SILENT, "web-1", NULL, NULL, 200, 0);
    assert_string_equal(s, "web-1 silent: not heard from for 200 s");
    free(s);
    s = alert_dashboard_url("https://h:8443/", "web 1", "a/b");
    assert_string_equal(s, "https://h:8443/#/check/web%201/a%2Fb");
    free(s);
    assert_null(alert_dashboard_url(NULL, "a", "b"));
}

/* ---- the run's alert block ---- */

static const char run_head[] =
    "{\"id\":\"019a8f3e-0000-7000-8000-000000000001\",\"package\":\"p\",\"check\":\"c\","
    "\"started_at\":\"2026-11-24T14:00:00Z\",\"duration_ms\":1,"
    "\"test\":{\"status\":\"critical\",\"duration_ms\":1},\"outcome\":\"failed\"";

static enum ho_code parse_with_alert(const char *alert, struct run *r, struct ho_error *err)
{
    char *json = xasprintf("%s,\"alert\":%s}", run_head, alert);
    enum ho_code rc = run_parse(json, strlen(json), r, err);

    free(json);
    return rc;
}

static void test_alerts_run_block_codec(void **state)
{
    struct run r;
    struct ho_error err;
    struct buf b;
    char *big, *docs;
    size_t i;

    (void)state;
    assert_int_equal(parse_with_alert("{\"severity\":\"warning\",\"runbook\":\"https://w/x\","
                                      "\"docs\":[\"https://d/1\",\"https://d/2\"],"
                                      "\"advice\":\"look\\nthere\",\"login\":\"ssh {node}\"}",
                                      &r, &err),
                     HO_OK);
    assert_non_null(r.alert);
    assert_string_equal(r.alert->severity, "warning");
    assert_int_equal(r.alert->ndocs, 2);
    buf_init(&b, 1 << 20);
    assert_int_equal(run_to_json(&r, &b), HO_OK);
    assert_non_null(strstr(b.data,
                           "\"alert\":{\"severity\":\"warning\",\"runbook\":\"https://w/x\","
                           "\"docs\":[\"https://d/1\",\"https://d/2\"]"));
    assert_non_null(strstr(b.data, "\"login\":\"ssh {node}\"}"));
    buf_cleanup(&b);
    run_cleanup(&r);
    /* bounds, each refused naming the field */
    assert_int_equal(parse_with_alert("{\"severity\":\"loud\"}", &r, &err), HO_EINVAL);
    assert_string_equal(err.field, "alert.severity");
    big = xmalloc(2100 + 32);
    memset(big, 'a', 2100);
    big[0] = '"';
    memcpy(big + 2099, "\"", 2);
    docs = xasprintf("{\"advice\":%s}", big);
    assert_int_equal(parse_with_alert(docs, &r, &err), HO_ETOOBIG);
    assert_string_equal(err.field, "alert.advice");
    free(docs);
    free(big);
    docs = xstrdup("{\"docs\":[");
    for (i = 0; i < 17; i++) {
        char *n = xasprintf("%s%s\"https://d/%zu\"", docs, i ? "," : "", i);

        free(docs);
        docs = n;
    }
    big = xasprintf("%s]}", docs);
    assert_int_equal(parse_with_alert(big, &r, &err), HO_ETOOBIG);
    assert_string_equal(err.field, "alert.docs");
    free(big);
    free(docs);
    assert_int_equal(parse_with_alert("[]", &r, &err), HO_EINVAL);
    assert_string_equal(err.field, "alert");
}

/* ---- the agent attaches the manifest block to failed and error runs ---- */

static int fake_status;

static void fake_test(void *ctx, const struct manifest *pkg, const struct manifest_check *c,
                      struct run_step *step, struct metric **metrics, size_t *nmetrics)
{
    (void)ctx;
    (void)pkg;
    (void)c;
    (void)metrics;
    (void)nmetrics;
    step->present = 1;
    step->status = fake_status;
}

static void fake_repair(void *ctx, const struct manifest *pkg, const struct manifest_check *c,
                        const struct run_step *test, struct run_step *step)
{
    (void)ctx;
    (void)pkg;
    (void)c;
    (void)test;
    step->present = 1;
}

static void test_alerts_cycle_attaches_block(void **state)
{
    static char *docs[] = {(char *)(uintptr_t) "https://d/1", NULL};
    struct cycle_ops ops = {fake_test, fake_repair, NULL};
    struct cycle_opts opts = {0, 0, NULL};
    struct manifest pkg;
    struct manifest_check c;
    struct run r;
    char *advice = xmalloc(3001);

    (void)state;
    memset(&pkg, 0, sizeof(pkg));
    memset(&c, 0, sizeof(c));
    pkg.name = (char *)(uintptr_t) "nginx";
    pkg.version = (char *)(uintptr_t) "1.0.0";
    c.name = (char *)(uintptr_t) "nginx.running";
    c.interval_s = 60;
    memset(advice, 'a', 3000); /* the manifest allows 4096: cut to what a run carries */
    advice[3000] = '\0';
    c.alert.severity = (char *)(uintptr_t) "info";
    c.alert.login = (char *)(uintptr_t) "ssh {node}";
    c.alert.docs = docs;
    c.alert.advice = advice;
    fake_status = TEST_STATUS_CRITICAL;
    assert_int_equal(cycle_run(&ops, &pkg, &c, NULL, &opts, &r), HO_OK);
    assert_int_equal(r.outcome, RUN_OUTCOME_FAILED);
    assert_non_null(r.alert);
    assert_string_equal(r.alert->severity, "info");
    assert_string_equal(r.alert->login, "ssh {node}");
    assert_int_equal(r.alert->ndocs, 1);
    assert_int_equal(strlen(r.alert->advice), RUN_ALERT_MAX_TEXT);
    run_cleanup(&r);
    fake_status = TEST_STATUS_OK;
    assert_int_equal(cycle_run(&ops, &pkg, &c, NULL, &opts, &r), HO_OK);
    assert_null(r.alert); /* ok runs stay small */
    run_cleanup(&r);
    free(advice);
}

/* ---- the engine over a real store ---- */

struct eng {
    struct app app;
    struct alerts *a;
    char agent[CRYPTO_UUID_LEN];
    int seq;
};

/* An engine over the database at db (":memory:" or a file). */
static void eng_open_db(struct eng *e, const char *receivers_json, const char *db)
{
    struct receivers *rs = NULL;
    struct ho_error err;
    char hash[CRYPTO_SHA256_HEX_LEN];

    memset(e, 0, sizeof(*e));
    clock_set_wall_override(T0);
    assert_int_equal(store_open(db, &e->app.store, &err), HO_OK);
    e->app.cfg.alert_after_failures = 2;
    e->app.cfg.alert_repeat_every = 600;
    e->app.cfg.agent_silent_after = 180;
    e->app.cfg.alert_flap_repairs = 2;
    e->app.cfg.alert_flap_window = 3600;
    e->app.cfg.alert_stale = 1;
    e->app.cfg.alert_evaluate_every = 5;
    e->app.cfg.alert_am_resend = 60;
    e->app.started_at_ms = T0 - 3600 * 1000LL; /* past the start-up grace */
    if (receivers_json != NULL)
        assert_int_equal(receivers_parse(receivers_json, strlen(receivers_json), &rs, &err), HO_OK);
    crypto_sha256_hex("t", 1, hash);
    assert_int_equal(
        store_agent_enroll(e->app.store, "web-1", "{\"role\":\"web\"}", hash, T0, e->agent), HO_OK);
    e->a = alerts_new(&e->app, rs);
}

static void eng_open(struct eng *e, const char *receivers_json)
{
    eng_open_db(e, receivers_json, ":memory:");
}

static void eng_close(struct eng *e)
{
    alerts_free(e->a);
    store_close(e->app.store);
    clock_set_wall_override(0);
}

/* Stores one run of check c at now with outcome o and hands it to the engine. */
static void eng_run(struct eng *e, const char *c, enum run_outcome o, int64_t now, int with_block)
{
    struct run r;
    const struct run *rp = &r;
    enum store_insert res;
    char id[CRYPTO_UUID_LEN];

    memset(&r, 0, sizeof(r));
    clock_set_wall_override(now);
    assert_int_equal(crypto_uuid_v7(now + e->seq++, id), HO_OK);
    memcpy(r.id, id, sizeof(r.id));
    r.package = xstrdup("nginx");
    r.check = xstrdup(c);
    r.started_at_ms = now;
    r.interval_s = 60;
    r.test.present = 1;
    r.test.status = o == RUN_OUTCOME_OK ? TEST_STATUS_OK : TEST_STATUS_CRITICAL;
    r.test.output = xstrdup(o == RUN_OUTCOME_OK ? "4 workers" : "2 workers, want >= 4");
    if (o == RUN_OUTCOME_REPAIRED) {
        r.repair.present = 1;
        r.retest.present = 1;
        r.retest.status = TEST_STATUS_OK;
    }
    r.outcome = o;
    if (with_block) {
        r.alert = xcalloc(1, sizeof(*r.alert));
        r.alert->severity = xstrdup("warning");
        r.alert->login = xstrdup("ssh ops@{node}");
    }
    assert_int_equal(store_runs_insert(e->app.store, e->agent, &rp, 1, now, &res), HO_OK);
    alerts_runs_stored(e->a, e->agent, &rp, &res, 1);
    run_cleanup(&r);
}

/* The alerts of the store, newest first (at most 10), into v. */
static size_t eng_alerts(struct eng *e, struct store_alert **v, int state)
{
    struct alert_query q;
    struct ho_error err;
    char next[STORE_CURSOR_LEN];
    size_t n = 0;

    memset(&q, 0, sizeof(q));
    q.state = state;
    q.limit = 10;
    assert_int_equal(store_alerts_query(e->app.store, &q, v, &n, next, &err), HO_OK);
    return n;
}

static void test_alerts_engine_open_dedup_resolve(void **state)
{
    struct eng e;
    struct store_alert *v = NULL;
    struct alert_context ctx;
    size_t n;

    (void)state;
    eng_open(&e, NULL);
    eng_run(&e, "nginx.running", RUN_OUTCOME_FAILED, T0 + 1000, 1);
    alerts_tick(e.a, T0 + 1000, 0);
    assert_int_equal(eng_alerts(&e, &v, -1), 0); /* 1 of 2 failures */
    store_alerts_free(v, 0);
    eng_run(&e, "nginx.running", RUN_OUTCOME_FAILED, T0 + 2000, 1);
    eng_run(&e, "nginx.running", RUN_OUTCOME_FAILED, T0 + 3000, 1);
    alerts_tick(e.a, T0 + 3000, 0);
    eng_run(&e, "nginx.running", RUN_OUTCOME_ERROR, T0 + 4000, 1);
    alerts_tick(e.a, T0 + 4000, 0);
    n = eng_alerts(&e, &v, -1);
    assert_int_equal(n, 1); /* one open alert per key however many runs fail */
    assert_string_equal(v[0].kind, "failed");
    assert_string_equal(v[0].severity, "warning"); /* from the run's alert block */
    assert_int_equal(v[0].resolved_at_ms, 0);
    assert_non_null(strstr(v[0].summary, "web-1 nginx.running failed"));
    alert_context_parse(v[0].context_json, &ctx);
    assert_string_equal(ctx.login, "ssh ops@web-1");
    assert_string_equal(ctx.test_output, "2 workers, want >= 4");
    alert_context_cleanup(&ctx);
    store_alerts_free(v, n);
    /* recovers: resolved, and a new failure opens a new alert */
    eng_run(&e, "nginx.running", RUN_OUTCOME_OK, T0 + 5000, 0);
    alerts_tick(e.a, T0 + 5000, 0);
    n = eng_alerts(&e, &v, 1);
    assert_int_equal(n, 1);
    assert_int_equal(v[0].resolved_at_ms, T0 + 5000);
    alert_context_parse(v[0].context_json, &ctx); /* the run that ended it, the block kept */
    assert_string_equal(ctx.outcome, "ok");
    assert_string_equal(ctx.test_output, "4 workers");
    assert_string_equal(ctx.login, "ssh ops@web-1");
    alert_context_cleanup(&ctx);
    store_alerts_free(v, n);
    n = eng_alerts(&e, &v, 0);
    assert_int_equal(n, 0);
    store_alerts_free(v, n);
    eng_close(&e);
}

/*
 * The engine reads on a connection of its own when the server gives it one,
 * not on the read endpoints' (its many short reads made queries wait). Here
 * the endpoints' reader is a database of its own with no agent at all: had the
 * engine read there, it would find no state and open nothing.
 */
static void test_alerts_engine_reads_on_its_own_connection(void **state)
{
    char dir[] = "/tmp/healops-alerts-XXXXXX", db[256], other[256];
    struct ho_error err;
    struct store_alert *v = NULL;
    struct eng e;
    size_t n;

    (void)state;
    assert_non_null(mkdtemp(dir));
    snprintf(db, sizeof(db), "%s/healops.db", dir);
    snprintf(other, sizeof(other), "%s/other.db", dir);
    eng_open_db(&e, NULL, db);
    assert_int_equal(store_open(other, &e.app.reader, &err), HO_OK);
    assert_int_equal(store_open_reader(db, &e.app.alerts_reader, &err), HO_OK);
    assert_ptr_not_equal(app_alerts_reads(&e.app), app_reads(&e.app));
    eng_run(&e, "nginx.running", RUN_OUTCOME_FAILED, T0 + 1000, 0);
    eng_run(&e, "nginx.running", RUN_OUTCOME_FAILED, T0 + 2000, 0);
    alerts_tick(e.a, T0 + 2000, 0);
    n = eng_alerts(&e, &v, 0);
    assert_int_equal(n, 1);
    assert_string_equal(v[0].kind, "failed");
    store_alerts_free(v, n);
    store_close(e.app.alerts_reader);
    store_close(e.app.reader);
    eng_close(&e);
    test_db_unlink(other);
    test_db_remove(db, dir);
}

static void test_alerts_engine_repeat_and_outbox(void **state)
{
    static const char rj[] = "[{\"name\":\"hook\",\"type\":\"webhook\","
                             "\"url\":\"http://127.0.0.1:9/hook\",\"timeout\":1}]";
    struct eng e;
    struct store_alert *v = NULL;
    struct store_alert_delivery *d = NULL;
    size_t n, nd;
    int64_t id;

    (void)state;
    eng_open(&e, rj);
    eng_run(&e, "c1", RUN_OUTCOME_FAILED, T0 + 1000, 0);
    eng_run(&e, "c1", RUN_OUTCOME_FAILED, T0 + 2000, 0);
    alerts_tick(e.a, T0 + 2000, 0);
    n = eng_alerts(&e, &v, 0);
    assert_int_equal(n, 1);
    id = v[0].id;
    assert_string_equal(v[0].severity, "critical"); /* the default without a block */
    store_alerts_free(v, n);
    alerts_tick(e.a, T0 + 2000 + 599 * 1000, 1); /* not yet */
    alerts_tick(e.a, T0 + 2000 + 600 * 1000, 1); /* repeat_every */
    alerts_tick(e.a, T0 + 2000 + 601 * 1000, 1); /* no second repeat */
    n = eng_alerts(&e, &v, 0);
    assert_int_equal(n, 2); /* and the agent, unheard of for 10 min, is silent */
    assert_int_equal(v[1].id, id);
    assert_int_equal(v[1].count, 2);
    assert_string_equal(v[0].kind, "silent");
    store_alerts_free(v, n);
    assert_int_equal(store_alert_deliveries(e.app.store, &id, 1, &d, &nd), HO_OK);
    assert_int_equal(nd, 2);
    assert_string_equal(d[0].event, "trigger");
    assert_string_equal(d[1].event, "repeat");
    assert_string_equal(d[0].state, "pending");
    store_alert_deliveries_free(d, nd);
    /* nothing listens on port 9: retried later, with the reason kept */
    /* the trigger of each alert; the repeat waits behind its trigger */
    assert_int_equal(alerts_deliver_once(e.a, T0 + 700 * 1000, 16), 2);
    assert_int_equal(store_alert_deliveries(e.app.store, &id, 1, &d, &nd), HO_OK);
    assert_string_equal(d[0].state, "pending");
    assert_int_equal(d[0].attempts, 1);
    assert_non_null(d[0].last_error);
    assert_non_null(strstr(d[0].last_error, "no answer"));
    assert_true(d[0].next_attempt_at_ms > T0 + 700 * 1000);
    store_alert_deliveries_free(d, nd);
    assert_int_equal(alerts_deliver_once(e.a, T0 + 700 * 1000, 16), 0); /* backing off */
    eng_close(&e);
}

static void test_alerts_engine_alertmanager_resend(void **state)
{
    static const char rj[] = "[{\"name\":\"am\",\"type\":\"alertmanager\","
                             "\"url\":\"http://127.0.0.1:9\"},"
                             "{\"name\":\"hook\",\"type\":\"webhook\","
                             "\"url\":\"http://127.0.0.1:9/hook\"}]";
    struct eng e;
    struct store_alert *v = NULL;
    struct store_alert_delivery *d = NULL;
    struct receivers *rs = NULL;
    struct ho_error err;
    size_t n, nd, i, resends = 0;
    int64_t id, t;

    (void)state;
    eng_open(&e, NULL);
    alerts_free(e.a); /* again, with no silent alert in the way */
    e.app.cfg.agent_silent_after = 3600;
    assert_int_equal(receivers_parse(rj, strlen(rj), &rs, &err), HO_OK);
    e.a = alerts_new(&e.app, rs);
    eng_run(&e, "c1", RUN_OUTCOME_FAILED, T0 + 500, 0);
    eng_run(&e, "c1", RUN_OUTCOME_FAILED, T0 + 1000, 0);
    alerts_tick(e.a, T0 + 1000, 0);
    n = eng_alerts(&e, &v, 0);
    assert_int_equal(n, 1);
    id = v[0].id;
    store_alerts_free(v, n);
    for (t = 30; t <= 200; t += 30) /* every 30 s for 200 s: re-sends due at 60 s */
        alerts_tick(e.a, T0 + 1000 + t * 1000, 1);
    assert_int_equal(store_alert_deliveries(e.app.store, &id, 1, &d, &nd), HO_OK);
    for (i = 0; i < nd; i++) {
        if (strcmp(d[i].event, "resend") == 0) {
            resends++;
            assert_string_equal(d[i].receiver, "am"); /* only Alertmanager gets re-sends */
        }
    }
    /* the pending trigger is rewritten while nothing was delivered: no pile-up */
    assert_int_equal(resends, 0);
    assert_int_equal(nd, 2); /* trigger to am and to hook */
    for (i = 0; i < nd; i++) /* both delivered now */
        assert_int_equal(store_outbox_record(e.app.store, d[i].id, d[i].receiver,
                                             STORE_OUTBOX_DELIVERED, 200, NULL, 0, T0 + 201 * 1000,
                                             id, NULL),
                         HO_OK);
    store_alert_deliveries_free(d, nd);
    for (t = 230; t <= 500; t += 30)
        alerts_tick(e.a, T0 + 1000 + t * 1000, 1);
    assert_int_equal(store_alert_deliveries(e.app.store, &id, 1, &d, &nd), HO_OK);
    assert_int_equal(nd, 3); /* one re-send row, rewritten each time */
    assert_string_equal(d[2].event, "resend");
    assert_string_equal(d[2].receiver, "am");
    assert_string_equal(d[2].state, "pending");
    store_alert_deliveries_free(d, nd);
    eng_close(&e);
}

static void test_alerts_engine_silent_agent(void **state)
{
    struct eng e;
    struct store_alert *v = NULL;
    struct store_heartbeat hb;
    size_t n;

    (void)state;
    eng_open(&e, NULL);
    eng_run(&e, "c1", RUN_OUTCOME_OK, T0, 0); /* heard from at T0 */
    alerts_tick(e.a, T0 + 100 * 1000, 1);
    n = eng_alerts(&e, &v, 0);
    assert_int_equal(n, 0);
    store_alerts_free(v, n);
    alerts_tick(e.a, T0 + 200 * 1000, 1);
    alerts_tick(e.a, T0 + 205 * 1000, 1);
    n = eng_alerts(&e, &v, 0);
    assert_int_equal(n, 1); /* one silent alert, and the check is not stale on top */
    assert_string_equal(v[0].kind, "silent");
    assert_string_equal(v[0].check, "-");
    store_alerts_free(v, n);
    memset(&hb, 0, sizeof(hb));
    assert_int_equal(store_agent_heartbeat(e.app.store, e.agent, &hb, T0 + 210 * 1000), HO_OK);
    alerts_tick(e.a, T0 + 211 * 1000, 1);
    n = eng_alerts(&e, &v, 1);
    assert_int_equal(n, 1);
    assert_string_equal(v[0].kind, "silent");
    assert_int_equal(v[0].resolved_at_ms, T0 + 211 * 1000);
    store_alerts_free(v, n);
    eng_close(&e);
}

static void test_alerts_engine_flapping_and_stale(void **state)
{
    struct eng e;
    struct store_alert *v = NULL;
    size_t n;

    (void)state;
    eng_open(&e, NULL);
    eng_run(&e, "c1", RUN_OUTCOME_REPAIRED, T0 + 1000, 0);
    eng_run(&e, "c1", RUN_OUTCOME_REPAIRED, T0 + 2000, 0);
    alerts_tick(e.a, T0 + 2000, 0);
    n = eng_alerts(&e, &v, 0);
    assert_int_equal(n, 0); /* 2 repairs: not more than 2 */
    store_alerts_free(v, n);
    eng_run(&e, "c1", RUN_OUTCOME_REPAIRED, T0 + 3000, 0);
    alerts_tick(e.a, T0 + 3000, 0);
    n = eng_alerts(&e, &v, 0);
    assert_int_equal(n, 1);
    assert_string_equal(v[0].kind, "flapping");
    store_alerts_free(v, n);
    /* an hour later the window holds none: resolved by the sweep */
    eng_run(&e, "c2", RUN_OUTCOME_OK, T0 + 3602 * 1000LL, 0); /* the agent stays alive */
    alerts_tick(e.a, T0 + 3603 * 1000LL, 1);
    n = eng_alerts(&e, &v, 1);
    assert_int_equal(n, 1);
    assert_string_equal(v[0].kind, "flapping");
    store_alerts_free(v, n);
    /* c1 has had no run for an hour while its agent is alive: stale */
    n = eng_alerts(&e, &v, 0);
    assert_int_equal(n, 1);
    assert_string_equal(v[0].kind, "stale");
    assert_string_equal(v[0].check, "c1");
    store_alerts_free(v, n);
    eng_run(&e, "c1", RUN_OUTCOME_OK, T0 + 3604 * 1000LL, 0);
    alerts_tick(e.a, T0 + 3604 * 1000LL, 0);
    n = eng_alerts(&e, &v, 0);
    assert_int_equal(n, 0);
    store_alerts_free(v, n);
    eng_close(&e);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_alerts_rules_n_in_a_row),
        cmocka_unit_test(test_alerts_rules_resolve_when_ok_or_repaired),
        cmocka_unit_test(test_alerts_rules_guard_first_and_first_kind_wins),
        cmocka_unit_test(test_alerts_rules_flapping_window),
        cmocka_unit_test(test_alerts_rules_stale),
        cmocka_unit_test(test_alerts_rules_silent_and_repeat),
        cmocka_unit_test(test_alerts_backoff),
        cmocka_unit_test(test_alerts_texts),
        cmocka_unit_test(test_alerts_run_block_codec),
        cmocka_unit_test(test_alerts_cycle_attaches_block),
        cmocka_unit_test(test_alerts_engine_open_dedup_resolve),
        cmocka_unit_test(test_alerts_engine_reads_on_its_own_connection),
        cmocka_unit_test(test_alerts_engine_repeat_and_outbox),
        cmocka_unit_test(test_alerts_engine_alertmanager_resend),
        cmocka_unit_test(test_alerts_engine_silent_agent),
        cmocka_unit_test(test_alerts_engine_flapping_and_stale),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
