/*
 * Unit tests for common/json_run.c (the run record of DESIGN.md section 5):
 * decoding with the field at fault for every rejection, batches with per-run
 * rejection and whole-envelope errors, encoding of hostile strings into valid
 * JSON, number printing, the buffer cap, and the limits. Bad inputs are made
 * by editing one field of a good run (a path like "metrics[1].tags" and the
 * raw JSON text to put there). The suite also runs under ASan+LSan, which
 * checks that every error path frees what it made.
 */
#include <float.h>
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <cjson/cJSON.h>

#include "buf.h"
#include "mem.h"
#include "json_arena.h"
#include "run.h"

#define BIG_CAP  (64u * 1024 * 1024)
#define GOOD_ID  "019a8f3e-6b2c-7d4e-8f00-123456789abc"
#define GOOD_ID2 "019a8f3e-6b2c-7d4e-8f00-123456789abd"
#define T_START  1795528800123LL /* 2026-11-24T14:00:00.123Z */
#define T_METRIC 1795528800150LL /* 2026-11-24T14:00:00.150Z */
#define RAW_MARK "@@raw@@"
#define WALK_KEY 512 /* size of walk's key buffer */

static const char good_run[] =
    "{\"id\":\"" GOOD_ID "\",\"package\":\"nginx\",\"version\":\"1.4.0\","
    "\"check\":\"nginx.running\",\"started_at\":\"2026-11-24T14:00:00.123Z\","
    "\"duration_ms\":2140,\"manual\":false,\"interval\":60,"
    "\"test\":{\"status\":\"critical\",\"exit_code\":2,\"output\":\"2 workers, want >= 4\","
    "\"duration_ms\":31},"
    "\"repair\":{\"status\":\"succeeded\",\"exit_code\":0,\"output\":\"restarted\","
    "\"duration_ms\":2050},"
    "\"retest\":{\"status\":\"ok\",\"exit_code\":0,\"output\":\"4 workers\",\"duration_ms\":28},"
    "\"outcome\":\"repaired\","
    "\"metrics\":[{\"name\":\"nginx.workers\",\"value\":4,\"tags\":{}},"
    "{\"name\":\"nginx.rss\",\"value\":12.5,\"timestamp\":\"2026-11-24T14:00:00.150Z\","
    "\"tags\":{\"host\":\"web1\",\"role\":\"edge\"}}]}";

/* --- helpers --- */

static int is_zero(const void *p, size_t n)
{
    const unsigned char *c = p;
    size_t i;

    for (i = 0; i < n; i++) {
        if (c[i] != 0)
            return 0;
    }
    return 1;
}

/* Strict UTF-8 check (RFC 3629), independent of the encoder's own. */
static int valid_utf8(const unsigned char *s, size_t n)
{
    size_t i = 0, k, len;
    uint32_t cp;

    while (i < n) {
        if (s[i] < 0x80) {
            i++;
            continue;
        }
        if ((s[i] & 0xe0) == 0xc0)
            len = 2, cp = s[i] & 0x1f;
        else if ((s[i] & 0xf0) == 0xe0)
            len = 3, cp = s[i] & 0x0f;
        else if ((s[i] & 0xf8) == 0xf0)
            len = 4, cp = s[i] & 0x07;
        else
            return 0;
        if (i + len > n)
            return 0;
        for (k = 1; k < len; k++) {
            if ((s[i + k] & 0xc0) != 0x80)
                return 0;
            cp = (cp << 6) | (s[i + k] & 0x3f);
        }
        if ((len == 2 && cp < 0x80) || (len == 3 && cp < 0x800) || (len == 4 && cp < 0x10000) ||
            cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
            return 0;
        i += len;
    }
    return 1;
}

/* The text is one JSON value (per cJSON), valid UTF-8, with no raw control character. */
static void assert_valid_json(const char *s, size_t n)
{
    const char *end = NULL;
    cJSON *root;
    size_t i;

    assert_true(valid_utf8((const unsigned char *)s, n));
    for (i = 0; i < n; i++)
        assert_true((unsigned char)s[i] >= 0x20);
    root = cJSON_ParseWithLengthOpts(s, n, &end, 0);
    assert_non_null(root);
    assert_ptr_equal(end, s + n);
    cJSON_Delete(root);
}

/* Finds the node at "a.b[1].c" in root; parent, key and idx say where it hangs. */
static cJSON *walk(cJSON *root, const char *path, cJSON **parent, char *key, int *idx)
{
    char tmp[1024], *tok, *save = NULL, *br;
    cJSON *node = root;

    snprintf(tmp, sizeof(tmp), "%s", path);
    for (tok = strtok_r(tmp, ".", &save); tok != NULL; tok = strtok_r(NULL, ".", &save)) {
        br = strchr(tok, '[');
        *idx = -1;
        if (br != NULL) {
            *br = '\0';
            *idx = atoi(br + 1);
        }
        snprintf(key, WALK_KEY, "%s", tok);
        *parent = node;
        node = cJSON_GetObjectItemCaseSensitive(node, key);
        if (*idx >= 0) {
            *parent = node;
            node = cJSON_GetArrayItem(node, *idx);
        }
    }
    return node;
}

static char *replace_mark(const char *text, const char *raw)
{
    const char *m = strstr(text, "\"" RAW_MARK "\"");
    struct buf b;

    assert_non_null(m);
    buf_init(&b, BIG_CAP);
    assert_int_equal(buf_append(&b, text, (size_t)(m - text)), HO_OK);
    assert_int_equal(buf_appends(&b, raw), HO_OK);
    assert_int_equal(buf_appends(&b, m + strlen(RAW_MARK) + 2), HO_OK);
    return buf_take(&b);
}

/*
 * Returns a copy of base JSON with the value at path replaced by raw JSON
 * text (added when missing), or deleted when raw is NULL. Caller frees.
 */
static char *mutate(const char *base, const char *path, const char *raw)
{
    cJSON *root = cJSON_Parse(base), *parent = NULL, *mark;
    char key[WALK_KEY], *printed, *out;
    int idx = -1;

    assert_non_null(root);
    (void)walk(root, path, &parent, key, &idx);
    assert_non_null(parent);
    mark = raw != NULL ? cJSON_CreateString(RAW_MARK) : NULL;
    if (idx >= 0 && mark == NULL)
        cJSON_DeleteItemFromArray(parent, idx);
    else if (idx >= 0)
        assert_true(cJSON_ReplaceItemInArray(parent, idx, mark));
    else if (mark == NULL)
        cJSON_DeleteItemFromObjectCaseSensitive(parent, key);
    else if (cJSON_GetObjectItemCaseSensitive(parent, key) != NULL)
        assert_true(cJSON_ReplaceItemInObjectCaseSensitive(parent, key, mark));
    else
        cJSON_AddItemToObject(parent, key, mark);
    printed = cJSON_PrintUnformatted(root);
    cJSON_Delete(root);
    out = raw != NULL ? replace_mark(printed, raw) : xstrdup(printed);
    cJSON_free(printed);
    return out;
}

/* Returns the JSON text of the value at path in json ("metrics"); caller frees. */
static char *extract(const char *json, const char *path)
{
    cJSON *root = cJSON_Parse(json), *parent = NULL, *node;
    char key[WALK_KEY], *printed, *out;
    int idx;

    assert_non_null(root);
    node = walk(root, path, &parent, key, &idx);
    assert_non_null(node);
    printed = cJSON_PrintUnformatted(node);
    out = xstrdup(printed);
    cJSON_free(printed);
    cJSON_Delete(root);
    return out;
}

/* A JSON string literal of n copies of c; caller frees. */
static char *long_string(size_t n, char c)
{
    char *s = xmalloc(n + 3);

    s[0] = '"';
    memset(s + 1, c, n);
    s[n + 1] = '"';
    s[n + 2] = '\0';
    return s;
}

/* Checks that run_parse rejects json with rc and field and leaves the run zeroed. */
static void expect_reject(const char *json, enum ho_code rc, const char *field, const char *what)
{
    struct run r;
    struct ho_error err;
    enum ho_code got;

    memset(&r, 0xa5, sizeof(r));
    ho_error_clear(&err);
    got = run_parse(json, strlen(json), &r, &err);
    if (got != rc || strcmp(err.field, field) != 0 || err.msg[0] == '\0') {
        print_error("%s: want %s at \"%s\", got %s at \"%s\" (%s)\n", what, ho_code_str(rc), field,
                    ho_code_str(got), err.field, err.msg);
        fail();
    }
    assert_true(is_zero(&r, sizeof(r)));
}

static void expect_accept(const char *json, const char *what)
{
    struct run r;
    struct ho_error err;
    enum ho_code rc;

    ho_error_clear(&err);
    rc = run_parse(json, strlen(json), &r, &err);
    if (rc != HO_OK) {
        print_error("%s: rejected at \"%s\": %s\n", what, err.field, err.msg);
        fail();
    }
    run_cleanup(&r);
}

static void parse_ok(const char *json, struct run *r)
{
    struct ho_error err;
    enum ho_code rc;

    ho_error_clear(&err);
    rc = run_parse(json, strlen(json), r, &err);
    if (rc != HO_OK)
        print_error("rejected at \"%s\": %s\n", err.field, err.msg);
    assert_int_equal(rc, HO_OK);
}

/* Encodes r into a new string (checked to be valid JSON); caller frees. */
static char *encode(const struct run *r)
{
    struct buf b;

    buf_init(&b, BIG_CAP);
    assert_int_equal(run_to_json(r, &b), HO_OK);
    assert_valid_json(b.data, b.len);
    return buf_take(&b);
}

static void set_step(struct run_step *s, int status, int exit_code, const char *output, int64_t ms)
{
    s->present = 1;
    s->status = status;
    s->has_exit_code = exit_code != INT32_MIN;
    s->exit_code = exit_code != INT32_MIN ? exit_code : 0;
    s->output = xstrdup(output);
    s->duration_ms = ms;
}

/* A run built in C with every field the agent sets. */
static void make_run(struct run *r)
{
    memset(r, 0, sizeof(*r));
    snprintf(r->id, sizeof(r->id), "%s", GOOD_ID);
    r->package = xstrdup("nginx");
    r->version = xstrdup("1.4.0");
    r->check = xstrdup("nginx.running");
    r->started_at_ms = T_START;
    r->duration_ms = 2140;
    r->manual = 1;
    r->operator_name = xstrdup("alice");
    r->interval_s = 60;
    set_step(&r->test, TEST_STATUS_CRITICAL, 2, "2 workers, want >= 4", 31);
    set_step(&r->repair, REPAIR_STATUS_SUCCEEDED, INT32_MIN, NULL, 2050);
    set_step(&r->retest, TEST_STATUS_OK, -1, "", 28);
    r->outcome = RUN_OUTCOME_REPAIRED;
    r->nmetrics = 2;
    r->metrics = xcalloc(2, sizeof(*r->metrics));
    r->metrics[0].name = xstrdup("nginx.workers");
    r->metrics[0].value = 4;
    r->metrics[1].name = xstrdup("nginx.rss");
    r->metrics[1].value = 0.1;
    r->metrics[1].ts_ms = T_METRIC;
    r->metrics[1].ntags = 2;
    r->metrics[1].tags = xcalloc(2, sizeof(struct tag));
    r->metrics[1].tags[0].key = xstrdup("host");
    r->metrics[1].tags[0].value = xstrdup("web1");
    r->metrics[1].tags[1].key = xstrdup("role");
    r->metrics[1].tags[1].value = xstrdup("edge");
}

static void assert_str_or_null(const char *a, const char *b)
{
    if (a == NULL || b == NULL)
        assert_ptr_equal(a, b);
    else
        assert_string_equal(a, b);
}

static void assert_step_equal(const struct run_step *a, const struct run_step *b)
{
    assert_int_equal(a->present, b->present);
    assert_int_equal(a->status, b->status);
    assert_int_equal(a->has_exit_code, b->has_exit_code);
    assert_int_equal(a->exit_code, b->exit_code);
    assert_str_or_null(a->output, b->output);
    assert_int_equal(a->duration_ms, b->duration_ms);
}

static void assert_metric_equal(const struct metric *a, const struct metric *b)
{
    size_t i;

    assert_string_equal(a->name, b->name);
    assert_true(a->value == b->value);
    assert_int_equal(signbit(a->value), signbit(b->value));
    assert_int_equal(a->ts_ms, b->ts_ms);
    assert_int_equal(a->ntags, b->ntags);
    for (i = 0; i < a->ntags; i++) {
        assert_string_equal(a->tags[i].key, b->tags[i].key);
        assert_string_equal(a->tags[i].value, b->tags[i].value);
    }
}

/* Compares what a run carries on the wire (not the server-side fields). */
static void assert_run_equal(const struct run *a, const struct run *b)
{
    size_t i;

    assert_string_equal(a->id, b->id);
    assert_string_equal(a->package, b->package);
    assert_str_or_null(a->version, b->version);
    assert_string_equal(a->check, b->check);
    assert_int_equal(a->started_at_ms, b->started_at_ms);
    assert_int_equal(a->duration_ms, b->duration_ms);
    assert_int_equal(a->manual, b->manual);
    assert_str_or_null(a->operator_name, b->operator_name);
    assert_int_equal(a->interval_s, b->interval_s);
    assert_step_equal(&a->test, &b->test);
    assert_step_equal(&a->repair, &b->repair);
    assert_step_equal(&a->retest, &b->retest);
    assert_int_equal(a->outcome, b->outcome);
    assert_int_equal(a->nmetrics, b->nmetrics);
    for (i = 0; i < a->nmetrics; i++)
        assert_metric_equal(&a->metrics[i], &b->metrics[i]);
}

/* Encodes r, decodes it, compares, and checks that re-encoding gives the same text. */
static void assert_round_trip(const struct run *r)
{
    struct run back;
    char *json, *again;

    json = encode(r);
    parse_ok(json, &back);
    assert_run_equal(r, &back);
    again = encode(&back);
    assert_string_equal(json, again);
    free(json);
    free(again);
    run_cleanup(&back);
}

/* --- enums --- */

static void test_run_enum_names(void **state)
{
    enum test_status ts;
    enum repair_status rs;
    enum run_outcome o;
    int i;

    (void)state;
    for (i = TEST_STATUS_OK; i <= TEST_STATUS_UNKNOWN; i++) {
        assert_int_equal(test_status_parse(test_status_str((enum test_status)i), &ts), HO_OK);
        assert_int_equal(ts, i);
    }
    for (i = REPAIR_STATUS_SUCCEEDED; i <= REPAIR_STATUS_SUPPRESSED; i++) {
        assert_int_equal(repair_status_parse(repair_status_str((enum repair_status)i), &rs), HO_OK);
        assert_int_equal(rs, i);
    }
    for (i = RUN_OUTCOME_OK; i <= RUN_OUTCOME_ERROR; i++) {
        assert_int_equal(run_outcome_parse(run_outcome_str((enum run_outcome)i), &o), HO_OK);
        assert_int_equal(o, i);
    }
    assert_string_equal(test_status_str(TEST_STATUS_CRITICAL), "critical");
    assert_string_equal(repair_status_str(REPAIR_STATUS_SUPPRESSED), "suppressed");
    assert_string_equal(run_outcome_str(RUN_OUTCOME_REPAIRED), "repaired");
    assert_non_null(test_status_str((enum test_status)42));
    assert_non_null(repair_status_str((enum repair_status)99));
    assert_non_null(run_outcome_str((enum run_outcome)4));
}

static void test_run_enum_parse_rejects(void **state)
{
    static const char *const bad[] = {"", "OK", "ok ", " ok", "Critical", "succeeded\n", "x"};
    enum test_status ts = TEST_STATUS_WARNING;
    enum repair_status rs;
    enum run_outcome o;
    size_t i;

    (void)state;
    for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        assert_int_equal(test_status_parse(bad[i], &ts), HO_EINVAL);
        assert_int_equal(repair_status_parse(bad[i], &rs), HO_EINVAL);
        assert_int_equal(run_outcome_parse(bad[i], &o), HO_EINVAL);
    }
    assert_int_equal(ts, TEST_STATUS_WARNING); /* untouched on failure */
    assert_int_equal(test_status_parse(NULL, &ts), HO_EINVAL);
    assert_int_equal(repair_status_parse("ok", &rs), HO_EINVAL);
    assert_int_equal(test_status_parse("succeeded", &ts), HO_EINVAL);
    assert_int_equal(run_outcome_parse("warning", &o), HO_EINVAL);
}

/* --- decoding --- */

static void test_run_parse_full(void **state)
{
    struct run r;

    (void)state;
    parse_ok(good_run, &r);
    assert_string_equal(r.id, GOOD_ID);
    assert_string_equal(r.package, "nginx");
    assert_string_equal(r.version, "1.4.0");
    assert_string_equal(r.check, "nginx.running");
    assert_int_equal(r.started_at_ms, T_START);
    assert_int_equal(r.duration_ms, 2140);
    assert_int_equal(r.manual, 0);
    assert_null(r.operator_name);
    assert_int_equal(r.interval_s, 60);
    assert_true(r.test.present);
    assert_int_equal(r.test.status, TEST_STATUS_CRITICAL);
    assert_true(r.test.has_exit_code);
    assert_int_equal(r.test.exit_code, 2);
    assert_string_equal(r.test.output, "2 workers, want >= 4");
    assert_int_equal(r.test.duration_ms, 31);
    assert_true(r.repair.present);
    assert_int_equal(r.repair.status, REPAIR_STATUS_SUCCEEDED);
    assert_string_equal(r.repair.output, "restarted");
    assert_int_equal(r.repair.duration_ms, 2050);
    assert_true(r.retest.present);
    assert_int_equal(r.retest.status, TEST_STATUS_OK);
    assert_int_equal(r.retest.duration_ms, 28);
    assert_int_equal(r.outcome, RUN_OUTCOME_REPAIRED);
    assert_int_equal(r.nmetrics, 2);
    assert_string_equal(r.metrics[0].name, "nginx.workers");
    assert_true(r.metrics[0].value == 4.0);
    assert_int_equal(r.metrics[0].ts_ms, 0);
    assert_int_equal(r.metrics[0].ntags, 0);
    assert_true(r.metrics[1].value == 12.5);
    assert_int_equal(r.metrics[1].ts_ms, T_METRIC);
    assert_int_equal(r.metrics[1].ntags, 2);
    assert_string_equal(r.metrics[1].tags[0].key, "host");
    assert_string_equal(r.metrics[1].tags[0].value, "web1");
    assert_string_equal(r.metrics[1].tags[1].key, "role");
    assert_string_equal(r.metrics[1].tags[1].value, "edge");
    assert_null(r.agent_id);
    run_cleanup(&r);
    assert_true(is_zero(&r, sizeof(r)));
}

static void test_run_parse_minimal(void **state)
{
    static const char json[] = "{\"id\":\"" GOOD_ID "\",\"package\":\"p\",\"check\":\"c\","
                               "\"started_at\":\"2026-11-24T14:00:00Z\",\"duration_ms\":0,"
                               "\"test\":{\"status\":\"unknown\",\"duration_ms\":0},"
                               "\"outcome\":\"error\"}";
    struct run r;

    (void)state;
    parse_ok(json, &r);
    assert_null(r.version);
    assert_int_equal(r.manual, 0);
    assert_int_equal(r.interval_s, 0);
    assert_int_equal(r.test.status, TEST_STATUS_UNKNOWN);
    assert_false(r.test.has_exit_code);
    assert_null(r.test.output);
    assert_false(r.repair.present);
    assert_false(r.retest.present);
    assert_int_equal(r.outcome, RUN_OUTCOME_ERROR);
    assert_int_equal(r.nmetrics, 0);
    assert_null(r.metrics);
    assert_int_equal(r.started_at_ms, T_START - 123);
    run_cleanup(&r);
}

static void test_run_parse_null_means_absent(void **state)
{
    struct run r;
    char *a, *b, *c;

    (void)state;
    a = mutate(good_run, "test.exit_code", "null");
    b = mutate(a, "version", "null");
    c = mutate(b, "metrics", "null");
    parse_ok(c, &r);
    assert_false(r.test.has_exit_code);
    assert_null(r.version);
    assert_int_equal(r.nmetrics, 0);
    run_cleanup(&r);
    free(c);
    free(b);
    free(a);
    a = mutate(good_run, "test.exit_code", NULL);
    parse_ok(a, &r);
    assert_false(r.test.has_exit_code);
    run_cleanup(&r);
    free(a);
}

struct edit {
    const char *path;
    const char *raw; /* JSON text to put there; NULL deletes */
    enum ho_code rc;
    const char *field;
};

static const struct edit bad_edits[] = {
    {"id", NULL, HO_EINVAL, "id"},
    {"id", "42", HO_EINVAL, "id"},
    {"id", "\"\"", HO_EINVAL, "id"},
    {"id", "\"not-a-uuid\"", HO_EINVAL, "id"},
    {"id", "\"019a8f3e-6b2c-7d4e-8f00-123456789abg\"", HO_EINVAL, "id"},
    {"id", "\"019a8f3e6b2c7d4e8f00123456789abc\"", HO_EINVAL, "id"},
    {"id", "\"019a8f3e-6b2c-7d4e-8f00-123456789abcd\"", HO_EINVAL, "id"},
    {"package", NULL, HO_EINVAL, "package"},
    {"package", "\"\"", HO_EINVAL, "package"},
    {"package", "7", HO_EINVAL, "package"},
    {"package", "[\"nginx\"]", HO_EINVAL, "package"},
    {"package", "true", HO_EINVAL, "package"},
    {"package", "\"ng\\u0001inx\"", HO_EINVAL, "package"},
    {"package", "\"ng\\ninx\"", HO_EINVAL, "package"},
    {"package", "\"ng\\u007finx\"", HO_EINVAL, "package"},
    {"version", "1.4", HO_EINVAL, "version"},
    {"version", "\"1.4\\t0\"", HO_EINVAL, "version"},
    {"check", NULL, HO_EINVAL, "check"},
    {"check", "\"\"", HO_EINVAL, "check"},
    {"check", "{}", HO_EINVAL, "check"},
    {"check", "\"a\\rb\"", HO_EINVAL, "check"},
    {"started_at", NULL, HO_EINVAL, "started_at"},
    {"started_at", "\"yesterday\"", HO_EINVAL, "started_at"},
    {"started_at", "\"2026-11-24T14:00:00\"", HO_EINVAL, "started_at"},
    {"started_at", "\"2026-02-30T00:00:00Z\"", HO_EINVAL, "started_at"},
    {"started_at", "\"1969-12-31T23:59:59Z\"", HO_EINVAL, "started_at"},
    {"started_at", "\"\"", HO_EINVAL, "started_at"},
    {"started_at", "1795528800123", HO_EINVAL, "started_at"},
    {"duration_ms", NULL, HO_EINVAL, "duration_ms"},
    {"duration_ms", "-1", HO_EINVAL, "duration_ms"},
    {"duration_ms", "1.5", HO_EINVAL, "duration_ms"},
    {"duration_ms", "\"2140\"", HO_EINVAL, "duration_ms"},
    {"duration_ms", "604800001", HO_EINVAL, "duration_ms"},
    {"duration_ms", "1e300", HO_EINVAL, "duration_ms"},
    {"duration_ms", "1e400", HO_EINVAL, "duration_ms"},
    {"duration_ms", "true", HO_EINVAL, "duration_ms"},
    {"manual", "\"yes\"", HO_EINVAL, "manual"},
    {"manual", "1", HO_EINVAL, "manual"},
    {"operator", "5", HO_EINVAL, "operator"},
    {"operator", "\"ali\\u001bce\"", HO_EINVAL, "operator"},
    {"interval", "-1", HO_EINVAL, "interval"},
    {"interval", "86401", HO_EINVAL, "interval"},
    {"interval", "1.5", HO_EINVAL, "interval"},
    {"interval", "\"60\"", HO_EINVAL, "interval"},
    {"test", NULL, HO_EINVAL, "test"},
    {"test", "[]", HO_EINVAL, "test"},
    {"test", "\"critical\"", HO_EINVAL, "test"},
    {"test.status", NULL, HO_EINVAL, "test.status"},
    {"test.status", "\"bad\"", HO_EINVAL, "test.status"},
    {"test.status", "\"OK\"", HO_EINVAL, "test.status"},
    {"test.status", "2", HO_EINVAL, "test.status"},
    {"test.status", "\"succeeded\"", HO_EINVAL, "test.status"},
    {"test.exit_code", "256", HO_EINVAL, "test.exit_code"},
    {"test.exit_code", "-2", HO_EINVAL, "test.exit_code"},
    {"test.exit_code", "1.5", HO_EINVAL, "test.exit_code"},
    {"test.exit_code", "\"2\"", HO_EINVAL, "test.exit_code"},
    {"test.exit_code", "false", HO_EINVAL, "test.exit_code"},
    {"test.output", "5", HO_EINVAL, "test.output"},
    {"test.output", "[\"a\"]", HO_EINVAL, "test.output"},
    {"test.duration_ms", NULL, HO_EINVAL, "test.duration_ms"},
    {"test.duration_ms", "-5", HO_EINVAL, "test.duration_ms"},
    {"test.duration_ms", "\"31\"", HO_EINVAL, "test.duration_ms"},
    {"repair", "5", HO_EINVAL, "repair"},
    {"repair.status", "\"ok\"", HO_EINVAL, "repair.status"},
    {"repair.status", NULL, HO_EINVAL, "repair.status"},
    {"repair.exit_code", "300", HO_EINVAL, "repair.exit_code"},
    {"repair.output", "{}", HO_EINVAL, "repair.output"},
    {"repair.duration_ms", NULL, HO_EINVAL, "repair.duration_ms"},
    {"retest", "true", HO_EINVAL, "retest"},
    {"retest.status", "\"succeeded\"", HO_EINVAL, "retest.status"},
    {"retest.exit_code", "-1.0001", HO_EINVAL, "retest.exit_code"},
    {"retest.duration_ms", "604800001", HO_EINVAL, "retest.duration_ms"},
    {"outcome", NULL, HO_EINVAL, "outcome"},
    {"outcome", "\"fixed\"", HO_EINVAL, "outcome"},
    {"outcome", "\"REPAIRED\"", HO_EINVAL, "outcome"},
    {"outcome", "1", HO_EINVAL, "outcome"},
    /* Consistency (DESIGN.md section 4). */
    {"repair", NULL, HO_EINVAL, "retest"},
    {"repair.status", "\"suppressed\"", HO_EINVAL, "retest"},
    {"retest.status", "\"critical\"", HO_EINVAL, "outcome"},
    {"retest", NULL, HO_EINVAL, "outcome"},
    /* Metrics. */
    {"metrics", "\"x\"", HO_EINVAL, "metrics"},
    {"metrics", "{}", HO_EINVAL, "metrics"},
    {"metrics", "5", HO_EINVAL, "metrics"},
    {"metrics[0]", "5", HO_EINVAL, "metrics[0]"},
    {"metrics[1]", "[]", HO_EINVAL, "metrics[1]"},
    {"metrics[1]", "null", HO_EINVAL, "metrics[1]"},
    {"metrics[1].name", NULL, HO_EINVAL, "metrics[1].name"},
    {"metrics[1].name", "\"\"", HO_EINVAL, "metrics[1].name"},
    {"metrics[1].name", "5", HO_EINVAL, "metrics[1].name"},
    {"metrics[1].name", "\"a\\u001fb\"", HO_EINVAL, "metrics[1].name"},
    {"metrics[1].value", NULL, HO_EINVAL, "metrics[1].value"},
    {"metrics[1].value", "\"4\"", HO_EINVAL, "metrics[1].value"},
    {"metrics[1].value", "true", HO_EINVAL, "metrics[1].value"},
    {"metrics[1].value", "[4]", HO_EINVAL, "metrics[1].value"},
    {"metrics[1].value", "1e400", HO_EINVAL, "metrics[1].value"},
    {"metrics[1].value", "-1e400", HO_EINVAL, "metrics[1].value"},
    {"metrics[1].timestamp", "\"soon\"", HO_EINVAL, "metrics[1].timestamp"},
    {"metrics[1].timestamp", "1795528800150", HO_EINVAL, "metrics[1].timestamp"},
    {"metrics[1].tags", "[]", HO_EINVAL, "metrics[1].tags"},
    {"metrics[1].tags", "\"host=web1\"", HO_EINVAL, "metrics[1].tags"},
    {"metrics[1].tags.host", "5", HO_EINVAL, "metrics[1].tags"},
    {"metrics[1].tags.host", "null", HO_EINVAL, "metrics[1].tags"},
    {"metrics[1].tags.host", "\"\"", HO_EINVAL, "metrics[1].tags"},
    {"metrics[1].tags.host", "\"a\\nb\"", HO_EINVAL, "metrics[1].tags"},
    {"metrics[1].tags.host", "{\"a\":\"b\"}", HO_EINVAL, "metrics[1].tags"},
    {"metrics[1].tags.a\tb", "\"x\"", HO_EINVAL, "metrics[1].tags"},
};

/* Every rejection, alone and inside a batch between two good runs. */
static void test_run_rejects_each_bad_field(void **state)
{
    struct run_batch b;
    struct ho_error err;
    struct buf batch;
    char *json, label[160];
    size_t i;

    (void)state;
    for (i = 0; i < sizeof(bad_edits) / sizeof(bad_edits[0]); i++) {
        snprintf(label, sizeof(label), "case %zu (%s = %s)", i, bad_edits[i].path,
                 bad_edits[i].raw != NULL ? bad_edits[i].raw : "deleted");
        json = mutate(good_run, bad_edits[i].path, bad_edits[i].raw);
        expect_reject(json, bad_edits[i].rc, bad_edits[i].field, label);
        buf_init(&batch, BIG_CAP);
        assert_int_equal(buf_printf(&batch, "{\"runs\":[%s,%s,%s]}", good_run, json, good_run),
                         HO_OK);
        assert_int_equal(run_batch_parse(batch.data, batch.len, 10, &b, &err), HO_OK);
        assert_int_equal(b.n, 3);
        assert_int_equal(b.items[0].rc, HO_OK);
        assert_int_equal(b.items[1].rc, bad_edits[i].rc);
        assert_string_equal(b.items[1].err.field, bad_edits[i].field);
        assert_true(is_zero(&b.items[1].run, sizeof(b.items[1].run)));
        assert_int_equal(b.items[2].rc, HO_OK);
        run_batch_cleanup(&b);
        buf_cleanup(&batch);
        free(json);
    }
}

/* The metric rejections, through run_metrics_parse on the metrics array alone. */
static void test_run_metrics_parse_rejects_each_bad_field(void **state)
{
    struct metric *m;
    struct ho_error err;
    char *json, *arr;
    size_t i, n;

    (void)state;
    for (i = 0; i < sizeof(bad_edits) / sizeof(bad_edits[0]); i++) {
        if (strncmp(bad_edits[i].path, "metrics", 7) != 0)
            continue;
        json = mutate(good_run, bad_edits[i].path, bad_edits[i].raw);
        arr = extract(json, "metrics");
        m = (struct metric *)&err; /* must be reset to NULL */
        n = 99;
        assert_int_equal(run_metrics_parse(arr, strlen(arr), &m, &n, &err), bad_edits[i].rc);
        assert_string_equal(err.field, bad_edits[i].field);
        assert_null(m);
        assert_int_equal(n, 0);
        free(arr);
        free(json);
    }
}

static const struct edit good_edits[] = {
    {"id", "\"019A8F3E-6B2C-7D4E-8F00-123456789ABC\"", HO_OK, NULL},
    {"version", "\"\"", HO_OK, NULL},
    {"version", NULL, HO_OK, NULL},
    {"manual", NULL, HO_OK, NULL},
    {"interval", NULL, HO_OK, NULL},
    {"interval", "0", HO_OK, NULL},
    {"interval", "86400", HO_OK, NULL},
    {"duration_ms", "0", HO_OK, NULL},
    {"duration_ms", "604800000", HO_OK, NULL},
    {"duration_ms", "2140.0", HO_OK, NULL},
    {"duration_ms", "2.14e3", HO_OK, NULL},
    {"started_at", "\"2026-11-24T15:00:00.123+01:00\"", HO_OK, NULL},
    {"started_at", "\"2026-11-24t14:00:00z\"", HO_OK, NULL},
    {"test.exit_code", "-1", HO_OK, NULL},
    {"test.exit_code", "255", HO_OK, NULL},
    {"test.output", "\"\"", HO_OK, NULL},
    {"test.output", "\"line1\\nline2\\u0000\\t\\u001b[31m\"", HO_OK, NULL},
    {"test.output", "null", HO_OK, NULL},
    {"metrics", "[]", HO_OK, NULL},
    {"metrics[1].tags", NULL, HO_OK, NULL},
    {"metrics[1].tags", "null", HO_OK, NULL},
    {"metrics[1].timestamp", "null", HO_OK, NULL},
    {"metrics[1].value", "-0", HO_OK, NULL},
    {"metrics[1].value", "1.7976931348623157e308", HO_OK, NULL},
    {"metrics[1].tags.na me", "\"v a l\"", HO_OK, NULL},
    /* Unknown keys are ignored (forward compatibility). */
    {"future", "{\"a\":[1,2,{\"b\":null}]}", HO_OK, NULL},
    {"test.signal", "9", HO_OK, NULL},
    {"metrics[0].unit", "\"ms\"", HO_OK, NULL},
    /* Server-side fields are neither required nor checked on the way in. */
    {"agent_id", "5", HO_OK, NULL},
    {"agent", "[]", HO_OK, NULL},
    {"received_at", "\"garbage\"", HO_OK, NULL},
};

static void test_run_accepts_edge_values(void **state)
{
    char *json, label[160];
    size_t i;

    (void)state;
    for (i = 0; i < sizeof(good_edits) / sizeof(good_edits[0]); i++) {
        snprintf(label, sizeof(label), "case %zu (%s = %s)", i, good_edits[i].path,
                 good_edits[i].raw != NULL ? good_edits[i].raw : "deleted");
        json = mutate(good_run, good_edits[i].path, good_edits[i].raw);
        expect_accept(json, label);
        free(json);
    }
}

static void test_run_consistent_step_sets(void **state)
{
    char *a, *b, *c;

    (void)state;
    /* Test passed: nothing else happened. */
    a = mutate(good_run, "repair", NULL);
    b = mutate(a, "retest", NULL);
    c = mutate(b, "outcome", "\"ok\"");
    expect_accept(c, "ok without repair");
    free(a);
    free(b);
    free(c);
    /* A suppressed repair and no retest: failed. */
    a = mutate(good_run, "retest", NULL);
    b = mutate(a, "repair.status", "\"suppressed\"");
    c = mutate(b, "outcome", "\"failed\"");
    expect_accept(c, "suppressed repair");
    free(a);
    free(b);
    free(c);
    /* A repair that did not help. */
    a = mutate(good_run, "retest.status", "\"critical\"");
    b = mutate(a, "outcome", "\"failed\"");
    expect_accept(b, "failed repair");
    free(a);
    free(b);
    /* A repair that timed out, no retest. */
    a = mutate(good_run, "retest", NULL);
    b = mutate(a, "repair.status", "\"timeout\"");
    c = mutate(b, "outcome", "\"failed\"");
    expect_accept(c, "repair timeout");
    free(a);
    free(b);
    free(c);
}

static void test_run_id_is_lowercased(void **state)
{
    struct run r;
    char *json;

    (void)state;
    json = mutate(good_run, "id", "\"019A8F3E-6B2C-7D4E-8F00-123456789ABC\"");
    parse_ok(json, &r);
    assert_string_equal(r.id, GOOD_ID);
    run_cleanup(&r);
    free(json);
}

static void test_run_started_at_zones_agree(void **state)
{
    struct run r;
    char *json;

    (void)state;
    json = mutate(good_run, "started_at", "\"2026-11-24T09:30:00.123-04:30\"");
    parse_ok(json, &r);
    assert_int_equal(r.started_at_ms, T_START);
    run_cleanup(&r);
    free(json);
}

static void test_run_integral_doubles_accepted(void **state)
{
    struct run r;
    char *a, *b;

    (void)state;
    a = mutate(good_run, "duration_ms", "2.14e3");
    b = mutate(a, "test.exit_code", "2.0");
    parse_ok(b, &r);
    assert_int_equal(r.duration_ms, 2140);
    assert_int_equal(r.test.exit_code, 2);
    run_cleanup(&r);
    free(a);
    free(b);
}

static void test_run_operator_only_when_manual(void **state)
{
    struct run r;
    char *a, *b;

    (void)state;
    a = mutate(good_run, "operator", "\"alice\"");
    parse_ok(a, &r);
    assert_int_equal(r.manual, 0);
    assert_null(r.operator_name);
    run_cleanup(&r);
    b = mutate(a, "manual", "true");
    parse_ok(b, &r);
    assert_int_equal(r.manual, 1);
    assert_string_equal(r.operator_name, "alice");
    run_cleanup(&r);
    free(a);
    free(b);
}

static void test_run_server_fields_not_filled(void **state)
{
    struct run r;
    char *a, *b, *c;

    (void)state;
    a = mutate(good_run, "agent_id", "\"ag-1\"");
    b = mutate(a, "agent", "\"web1\"");
    c = mutate(b, "received_at", "\"2026-11-24T14:00:01Z\"");
    parse_ok(c, &r);
    assert_null(r.agent_id);
    assert_null(r.agent_name);
    assert_int_equal(r.received_at_ms, 0);
    run_cleanup(&r);
    free(a);
    free(b);
    free(c);
}

static void test_run_duplicate_and_empty_tag_keys(void **state)
{
    char *json;

    (void)state;
    json = mutate(good_run, "metrics[0].tags", "{\"a\":\"1\",\"b\":\"2\",\"a\":\"3\"}");
    expect_reject(json, HO_EINVAL, "metrics[0].tags", "duplicate tag key");
    free(json);
    json = mutate(good_run, "metrics[0].tags", "{\"\":\"v\"}");
    expect_reject(json, HO_EINVAL, "metrics[0].tags", "empty tag key");
    free(json);
}

static void test_run_parse_not_an_object(void **state)
{
    static const char *const bad[] = {"[]", "5", "\"run\"", "null", "true", "[{}]"};
    size_t i;

    (void)state;
    for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        expect_reject(bad[i], HO_EINVAL, "", bad[i]);
}

static void test_run_parse_not_json(void **state)
{
    static const char *const bad[] = {"",      "   ",  "{", "{\"id\":}", "nope",
                                      "{} {}", "{} x", "]", "{'a':1}",   "{\"a\":1,}"};
    struct run r;
    struct ho_error err;
    char *json;
    size_t i;

    (void)state;
    for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        expect_reject(bad[i], HO_EINVAL, "", bad[i]);
    /* A NUL counted in len is data after the value. */
    assert_int_equal(run_parse("{}", 3, &r, &err), HO_EINVAL);
    assert_true(is_zero(&r, sizeof(r)));
    assert_int_equal(run_parse(NULL, 0, &r, &err), HO_EINVAL);
    assert_true(is_zero(&r, sizeof(r)));
    /* White space around the value is fine. */
    json = xasprintf(" \n%s\r\n\t ", good_run);
    expect_accept(json, "white space around");
    free(json);
}

/* run_parse reads exactly len bytes: no NUL needed, and what follows is not read. */
static void test_run_parse_respects_len(void **state)
{
    struct run r;
    struct ho_error err;
    size_t n = strlen(good_run);
    char *exact = xmalloc(n), *longer;

    (void)state;
    memcpy(exact, good_run, n);
    assert_int_equal(run_parse(exact, n, &r, &err), HO_OK);
    run_cleanup(&r);
    assert_int_equal(run_parse(exact, n - 1, &r, &err), HO_EINVAL);
    assert_int_equal(run_parse(exact, n / 2, &r, &err), HO_EINVAL);
    assert_true(is_zero(&r, sizeof(r)));
    free(exact);
    longer = xasprintf("%s GARBAGE", good_run);
    assert_int_equal(run_parse(longer, n, &r, &err), HO_OK);
    run_cleanup(&r);
    free(longer);
}

/* --- limits --- */

static void expect_len_limit(const char *path, size_t max, const char *field)
{
    char *ok_val = long_string(max, 'x'), *bad_val = long_string(max + 1, 'x');
    char *base, *ok_json, *bad_json;

    /* The operator is read only for a run by hand. */
    base = mutate(good_run, "manual", "true");
    ok_json = mutate(base, path, ok_val);
    bad_json = mutate(base, path, bad_val);
    expect_accept(ok_json, path);
    expect_reject(bad_json, HO_ETOOBIG, field, path);
    free(base);
    free(ok_json);
    free(bad_json);
    free(ok_val);
    free(bad_val);
}

static void test_run_limit_string_lengths(void **state)
{
    (void)state;
    expect_len_limit("package", RUN_MAX_NAME, "package");
    expect_len_limit("version", RUN_MAX_NAME, "version");
    expect_len_limit("check", RUN_MAX_NAME, "check");
    expect_len_limit("operator", RUN_MAX_NAME, "operator");
    expect_len_limit("test.output", RUN_MAX_OUTPUT, "test.output");
    expect_len_limit("repair.output", RUN_MAX_OUTPUT, "repair.output");
    expect_len_limit("retest.output", RUN_MAX_OUTPUT, "retest.output");
    expect_len_limit("metrics[1].name", RUN_MAX_NAME, "metrics[1].name");
    expect_len_limit("metrics[1].tags.host", RUN_MAX_NAME, "metrics[1].tags");
}

static void test_run_limit_tag_key_length(void **state)
{
    char *key = xmalloc(RUN_MAX_NAME + 2), *path, *json;

    (void)state;
    memset(key, 'k', RUN_MAX_NAME + 1);
    key[RUN_MAX_NAME] = '\0';
    path = xasprintf("metrics[1].tags.%s", key);
    json = mutate(good_run, path, "\"v\"");
    expect_accept(json, "tag key at the limit");
    free(json);
    free(path);
    key[RUN_MAX_NAME] = 'k';
    key[RUN_MAX_NAME + 1] = '\0';
    path = xasprintf("metrics[1].tags.%s", key);
    json = mutate(good_run, path, "\"v\"");
    expect_reject(json, HO_ETOOBIG, "metrics[1].tags", "tag key over the limit");
    free(json);
    free(path);
    free(key);
}

/* A JSON metrics array of n metrics with ntags tags each; caller frees. */
static char *metrics_json(size_t n, size_t ntags)
{
    struct buf b;
    size_t i, j;

    buf_init(&b, BIG_CAP);
    assert_int_equal(buf_appends(&b, "["), HO_OK);
    for (i = 0; i < n; i++) {
        assert_int_equal(
            buf_printf(&b, "%s{\"name\":\"m%zu\",\"value\":%zu,\"tags\":{", i > 0 ? "," : "", i, i),
            HO_OK);
        for (j = 0; j < ntags; j++)
            assert_int_equal(buf_printf(&b, "%s\"k%zu\":\"v%zu\"", j > 0 ? "," : "", j, j), HO_OK);
        assert_int_equal(buf_appends(&b, "}}"), HO_OK);
    }
    assert_int_equal(buf_appends(&b, "]"), HO_OK);
    return buf_take(&b);
}

static void test_run_limit_metric_count(void **state)
{
    char *arr, *json;
    struct run r;

    (void)state;
    arr = metrics_json(RUN_MAX_METRICS, 1);
    json = mutate(good_run, "metrics", arr);
    parse_ok(json, &r);
    assert_int_equal(r.nmetrics, RUN_MAX_METRICS);
    assert_string_equal(r.metrics[RUN_MAX_METRICS - 1].name, "m511");
    run_cleanup(&r);
    free(json);
    free(arr);
    arr = metrics_json(RUN_MAX_METRICS + 1, 1);
    json = mutate(good_run, "metrics", arr);
    expect_reject(json, HO_ETOOBIG, "metrics", "too many metrics");
    free(json);
    free(arr);
}

static void test_run_limit_tag_count(void **state)
{
    char *arr, *json;
    struct run r;

    (void)state;
    arr = metrics_json(2, RUN_MAX_TAGS);
    json = mutate(good_run, "metrics", arr);
    parse_ok(json, &r);
    assert_int_equal(r.metrics[1].ntags, RUN_MAX_TAGS);
    run_cleanup(&r);
    free(json);
    free(arr);
    arr = metrics_json(2, RUN_MAX_TAGS + 1);
    json = mutate(good_run, "metrics", arr);
    expect_reject(json, HO_ETOOBIG, "metrics[0].tags", "too many tags");
    free(json);
    free(arr);
}

/* The biggest legal run survives a round trip. */
static void test_run_limit_biggest_run_round_trips(void **state)
{
    char *arr, *out, *a, *b, *c;
    struct run r;

    (void)state;
    out = long_string(RUN_MAX_OUTPUT, 'y');
    arr = metrics_json(RUN_MAX_METRICS, RUN_MAX_TAGS);
    a = mutate(good_run, "metrics", arr);
    b = mutate(a, "test.output", out);
    c = mutate(b, "retest.output", out);
    parse_ok(c, &r);
    assert_int_equal(strlen(r.test.output), RUN_MAX_OUTPUT);
    assert_round_trip(&r);
    run_cleanup(&r);
    free(arr);
    free(out);
    free(a);
    free(b);
    free(c);
}

/* --- encoding --- */

static void test_run_round_trip(void **state)
{
    struct run r;

    (void)state;
    make_run(&r);
    assert_round_trip(&r);
    r.manual = 0;
    free(r.operator_name);
    r.operator_name = NULL;
    r.interval_s = 0;
    free(r.version);
    r.version = NULL;
    assert_round_trip(&r);
    run_cleanup(&r);
}

static void test_run_round_trip_from_wire(void **state)
{
    struct run r;
    char *json;

    (void)state;
    parse_ok(good_run, &r);
    json = encode(&r);
    assert_string_equal(json, good_run);
    free(json);
    run_cleanup(&r);
}

static void test_run_to_json_omits_unset(void **state)
{
    static const char *const absent[] = {"\"version\"", "\"operator\"",    "\"interval\"",
                                         "\"repair\"",  "\"retest\"",      "\"agent_id\"",
                                         "\"agent\"",   "\"received_at\"", "\"exit_code\"",
                                         "\"output\"",  "\"timestamp\""};
    struct run r;
    char *json;
    size_t i;

    (void)state;
    memset(&r, 0, sizeof(r));
    snprintf(r.id, sizeof(r.id), "%s", GOOD_ID);
    r.package = xstrdup("p");
    r.check = xstrdup("c");
    r.started_at_ms = T_START;
    r.operator_name = xstrdup("alice"); /* not manual: not sent */
    r.test.present = 1;
    r.test.status = TEST_STATUS_UNKNOWN;
    r.outcome = RUN_OUTCOME_ERROR;
    r.nmetrics = 1;
    r.metrics = xcalloc(1, sizeof(*r.metrics));
    r.metrics[0].name = xstrdup("m");
    json = encode(&r);
    for (i = 0; i < sizeof(absent) / sizeof(absent[0]); i++) {
        if (strstr(json, absent[i]) != NULL) {
            print_error("%s in %s\n", absent[i], json);
            fail();
        }
    }
    assert_non_null(strstr(json, "\"manual\":false"));
    assert_non_null(strstr(json, "\"tags\":{}"));
    free(json);
    run_cleanup(&r);
}

static void test_run_to_json_server_fields(void **state)
{
    struct run r, back;
    char *json;

    (void)state;
    make_run(&r);
    r.agent_id = xstrdup("ag-7");
    r.agent_name = xstrdup("web\"1\n");
    r.received_at_ms = T_START + 1000;
    json = encode(&r);
    assert_non_null(strstr(json, "\"agent_id\":\"ag-7\""));
    assert_non_null(strstr(json, "\"agent\":\"web\\\"1\\n\""));
    assert_non_null(strstr(json, "\"received_at\":\"2026-11-24T14:00:01.123Z\""));
    parse_ok(json, &back);
    assert_run_equal(&r, &back);
    assert_null(back.agent_id);
    run_cleanup(&back);
    free(json);
    run_cleanup(&r);
}

static void test_run_to_json_integers_stay_integers(void **state)
{
    struct run r;
    char *json;

    (void)state;
    make_run(&r);
    r.duration_ms = RUN_MAX_DURATION;
    r.metrics[0].value = 123456789012.0;
    json = encode(&r);
    assert_non_null(strstr(json, "\"duration_ms\":604800000,"));
    assert_non_null(strstr(json, "\"exit_code\":2,"));
    assert_non_null(strstr(json, "\"exit_code\":-1,"));
    assert_non_null(strstr(json, "\"interval\":60,"));
    assert_non_null(strstr(json, "\"value\":123456789012,"));
    assert_non_null(strstr(json, "\"value\":0.1,"));
    assert_null(strstr(json, ".0,"));
    free(json);
    run_cleanup(&r);
}

static void test_run_to_json_doubles_round_trip(void **state)
{
    const double vals[] = {0.1,
                           1.0 / 3,
                           -2.5e-300,
                           1e300,
                           DBL_MAX,
                           -DBL_MAX,
                           DBL_MIN,
                           5e-324,
                           -0.0,
                           0.0,
                           1e21,
                           123456789012345678.0,
                           M_PI,
                           -1e-7,
                           9007199254740993.0,
                           0.30000000000000004};
    size_t i, n = sizeof(vals) / sizeof(vals[0]);
    struct run r;

    (void)state;
    make_run(&r);
    metric_cleanup(&r.metrics[0]);
    metric_cleanup(&r.metrics[1]);
    free(r.metrics);
    r.metrics = xcalloc(n, sizeof(*r.metrics));
    r.nmetrics = n;
    for (i = 0; i < n; i++) {
        r.metrics[i].name = xasprintf("m%zu", i);
        r.metrics[i].value = vals[i];
    }
    assert_round_trip(&r);
    run_cleanup(&r);
}

/* A non-finite value in a struct still gives valid JSON, which run_parse refuses. */
static void test_run_to_json_non_finite_value(void **state)
{
    struct run r;
    char *json;

    (void)state;
    make_run(&r);
    r.metrics[1].value = NAN;
    json = encode(&r);
    assert_non_null(strstr(json, "\"value\":null"));
    expect_reject(json, HO_EINVAL, "metrics[1].value", "NaN");
    free(json);
    r.metrics[1].value = -INFINITY;
    json = encode(&r);
    expect_reject(json, HO_EINVAL, "metrics[1].value", "-inf");
    free(json);
    run_cleanup(&r);
}

struct sanitize_case {
    const char *in;
    const char *out; /* after encode + decode */
};

static const struct sanitize_case sanitize_cases[] = {
    {"say \"hi\" \\o/ </script>", "say \"hi\" \\o/ </script>"},
    {"\n\r\t\b\f\x01\x1f\x7f", "\n\r\t\b\f\x01\x1f\x7f"},
    {"caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80", "caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80"},
    {"\xe2\x80\xa8|\xe2\x80\xa9", "\xe2\x80\xa8|\xe2\x80\xa9"},
    {"\xff", "?"},
    {"a\x80z", "a?z"},
    {"a\xc0\xafz", "a??z"},             /* overlong '/' */
    {"\xe0\x80\xaf", "???"}, /* overlong, 3 bytes */
    {"\xed\xa0\x80", "???"}, /* surrogate D800 */
    {"\xf4\x90\x80\x80", "????"}, /* > U+10FFFF */
    {"\xf8\x88", "??"},
    {"x\xe2\x82", "x??"}, /* cut at the end */
    {"\xe2\x82x", "??x"},
    {"\xc3", "?"},
    {"\xf0\x9f\x98", "???"},
    {"\xc3\xa9\xc3", "\xc3\xa9?"},
};

static void test_run_to_json_sanitizes_output(void **state)
{
    struct run r, back;
    char *json;
    size_t i;

    (void)state;
    make_run(&r);
    for (i = 0; i < sizeof(sanitize_cases) / sizeof(sanitize_cases[0]); i++) {
        free(r.test.output);
        r.test.output = xstrdup(sanitize_cases[i].in);
        json = encode(&r);
        parse_ok(json, &back);
        if (strcmp(back.test.output, sanitize_cases[i].out) != 0) {
            print_error("case %zu: got %s\n", i, json);
            fail();
        }
        run_cleanup(&back);
        free(json);
    }
    free(r.test.output);
    r.test.output = xstrdup("\x01\xe2\x80\xa8");
    json = encode(&r);
    assert_non_null(strstr(json, "\"output\":\"\\u0001\\u2028\""));
    free(json);
    run_cleanup(&r);
}

/* Every byte value, in every string the encoder writes, still gives valid JSON. */
static void test_run_to_json_hostile_strings_everywhere(void **state)
{
    char all[256];
    struct run r;
    char *json;
    int i;

    (void)state;
    for (i = 1; i < 256; i++)
        all[i - 1] = (char)(256 - i);
    all[255] = '\0';
    make_run(&r);
#define HOSTILE(field)                                                                             \
    do {                                                                                           \
        free(field);                                                                               \
        (field) = xstrdup(all);                                                                    \
    } while (0)
    HOSTILE(r.package);
    HOSTILE(r.version);
    HOSTILE(r.check);
    HOSTILE(r.operator_name);
    HOSTILE(r.test.output);
    HOSTILE(r.repair.output);
    HOSTILE(r.metrics[1].name);
    HOSTILE(r.metrics[1].tags[0].key);
    HOSTILE(r.metrics[1].tags[1].value);
    r.agent_id = xstrdup(all);
    r.agent_name = xstrdup(all);
#undef HOSTILE
    r.id[0] = '"';
    json = encode(&r); /* checks validity */
    free(json);
    run_cleanup(&r);
}

/* Random bytes: valid JSON; decoding and encoding again gives the same text. */
static void test_run_to_json_random_bytes(void **state)
{
    struct run r, back;
    char *json, *again;
    unsigned seed = 12345;
    size_t i, j, n;

    (void)state;
    make_run(&r);
    for (i = 0; i < 300; i++) {
        n = (size_t)(rand_r(&seed) % 64);
        free(r.test.output);
        r.test.output = xmalloc(n + 1);
        for (j = 0; j < n; j++)
            r.test.output[j] = (char)(1 + rand_r(&seed) % 255);
        r.test.output[n] = '\0';
        json = encode(&r);
        parse_ok(json, &back);
        again = encode(&back);
        assert_string_equal(json, again);
        run_cleanup(&back);
        free(json);
        free(again);
    }
    run_cleanup(&r);
}

/* Past the cap: HO_ETOOBIG and the buffer exactly as it was, at every cut. */
static void test_run_to_json_cap(void **state)
{
    struct run r;
    struct buf b;
    char *full;
    size_t len, cap;

    (void)state;
    make_run(&r);
    full = encode(&r);
    len = strlen(full);
    for (cap = 0; cap < len; cap++) {
        buf_init(&b, cap + 7);
        assert_int_equal(buf_appends(&b, "prefix,"), HO_OK);
        assert_int_equal(run_to_json(&r, &b), HO_ETOOBIG);
        assert_int_equal(b.len, 7);
        assert_string_equal(b.data, "prefix,");
        buf_cleanup(&b);
    }
    buf_init(&b, len + 7);
    assert_int_equal(buf_appends(&b, "prefix,"), HO_OK);
    assert_int_equal(run_to_json(&r, &b), HO_OK);
    assert_string_equal(b.data + 7, full);
    buf_cleanup(&b);
    buf_init(&b, 0);
    assert_int_equal(run_to_json(&r, &b), HO_ETOOBIG);
    assert_int_equal(b.len, 0);
    buf_cleanup(&b);
    free(full);
    run_cleanup(&r);
}

static void test_run_to_json_appends(void **state)
{
    struct run r;
    struct buf b;

    (void)state;
    make_run(&r);
    buf_init(&b, BIG_CAP);
    assert_int_equal(buf_appends(&b, "{\"runs\":["), HO_OK);
    assert_int_equal(run_to_json(&r, &b), HO_OK);
    assert_int_equal(buf_appends(&b, ","), HO_OK);
    assert_int_equal(run_to_json(&r, &b), HO_OK);
    assert_int_equal(buf_appends(&b, "]}"), HO_OK);
    assert_valid_json(b.data, b.len);
    buf_cleanup(&b);
    run_cleanup(&r);
}

/* --- metrics alone --- */

static void test_run_metrics_round_trip(void **state)
{
    struct run r;
    struct buf b;
    struct metric *m = NULL;
    struct ho_error err;
    size_t n = 0, i;

    (void)state;
    make_run(&r);
    buf_init(&b, BIG_CAP);
    assert_int_equal(run_metrics_to_json(r.metrics, r.nmetrics, &b), HO_OK);
    assert_valid_json(b.data, b.len);
    assert_int_equal(run_metrics_parse(b.data, b.len, &m, &n, &err), HO_OK);
    assert_int_equal(n, r.nmetrics);
    for (i = 0; i < n; i++) {
        assert_metric_equal(&r.metrics[i], &m[i]);
        metric_cleanup(&m[i]);
    }
    free(m);
    buf_reset(&b);
    assert_int_equal(run_metrics_to_json(NULL, 0, &b), HO_OK);
    assert_string_equal(b.data, "[]");
    assert_int_equal(run_metrics_parse(b.data, b.len, &m, &n, &err), HO_OK);
    assert_null(m);
    assert_int_equal(n, 0);
    buf_cleanup(&b);
    run_cleanup(&r);
}

static void test_run_metrics_parse_envelope(void **state)
{
    static const struct {
        const char *json;
        enum ho_code rc;
        const char *field;
    } cases[] = {
        {"", HO_EINVAL, ""},
        {"[", HO_EINVAL, ""},
        {"[] x", HO_EINVAL, ""},
        {"{}", HO_EINVAL, "metrics"},
        {"null", HO_EINVAL, "metrics"},
        {"[{\"name\":\"a\",\"value\":1},{\"name\":\"b\",\"value\":2},{\"name\":\"c\"}]", HO_EINVAL,
         "metrics[2].value"},
    };
    struct metric *m;
    struct ho_error err;
    char *big;
    size_t i, n;

    (void)state;
    for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        ho_error_clear(&err);
        assert_int_equal(run_metrics_parse(cases[i].json, strlen(cases[i].json), &m, &n, &err),
                         cases[i].rc);
        assert_string_equal(err.field, cases[i].field);
        assert_true(err.msg[0] != '\0');
        assert_null(m);
        assert_int_equal(n, 0);
    }
    big = metrics_json(RUN_MAX_METRICS + 1, 0);
    assert_int_equal(run_metrics_parse(big, strlen(big), &m, &n, &err), HO_ETOOBIG);
    assert_string_equal(err.field, "metrics");
    free(big);
}

static void test_run_metrics_to_json_cap(void **state)
{
    struct run r;
    struct buf b;
    size_t cap;

    (void)state;
    make_run(&r);
    for (cap = 0; cap < 40; cap++) {
        buf_init(&b, cap);
        assert_int_equal(run_metrics_to_json(r.metrics, r.nmetrics, &b), HO_ETOOBIG);
        assert_int_equal(b.len, 0);
        assert_true(b.data == NULL || b.data[0] == '\0');
        buf_cleanup(&b);
    }
    run_cleanup(&r);
}

/* --- batches --- */

static void test_run_batch_mixed(void **state)
{
    struct run_batch b;
    struct ho_error err;
    char *bad, *good2, *json;

    (void)state;
    bad = mutate(good_run, "test.status", "\"fine\"");
    good2 = mutate(good_run, "id", "\"" GOOD_ID2 "\"");
    json = xasprintf("{\"runs\":[%s,%s,5,%s,{\"id\":\"" GOOD_ID "\"},[]],\"extra\":1}", good_run,
                     bad, good2);
    ho_error_clear(&err);
    assert_int_equal(run_batch_parse(json, strlen(json), RUN_MAX_BATCH, &b, &err), HO_OK);
    assert_int_equal(b.n, 6);
    assert_int_equal(b.items[0].rc, HO_OK);
    assert_string_equal(b.items[0].err.field, "");
    assert_string_equal(b.items[0].err.msg, "");
    assert_string_equal(b.items[0].run.id, GOOD_ID);
    assert_int_equal(b.items[0].run.nmetrics, 2);
    assert_int_equal(b.items[1].rc, HO_EINVAL);
    assert_string_equal(b.items[1].err.field, "test.status");
    assert_non_null(strstr(b.items[1].err.msg, "critical"));
    assert_int_equal(b.items[2].rc, HO_EINVAL);
    assert_string_equal(b.items[2].err.field, "");
    assert_int_equal(b.items[3].rc, HO_OK);
    assert_string_equal(b.items[3].run.id, GOOD_ID2);
    assert_int_equal(b.items[4].rc, HO_EINVAL);
    assert_string_equal(b.items[4].err.field, "package");
    assert_int_equal(b.items[5].rc, HO_EINVAL);
    run_batch_cleanup(&b);
    assert_null(b.items);
    assert_int_equal(b.n, 0);
    free(json);
    free(bad);
    free(good2);
}

static void test_run_batch_envelope_errors(void **state)
{
    static const struct {
        const char *json;
        enum ho_code rc;
        const char *field;
    } cases[] = {
        {"", HO_EINVAL, ""},
        {"not json", HO_EINVAL, ""},
        {"{\"runs\":[", HO_EINVAL, ""},
        {"{\"runs\":[]} x", HO_EINVAL, ""},
        {"{\"runs\":[]}{}", HO_EINVAL, ""},
        {"[]", HO_EINVAL, ""},
        {"\"runs\"", HO_EINVAL, ""},
        {"{}", HO_EINVAL, "runs"},
        {"{\"Runs\":[]}", HO_EINVAL, "runs"},
        {"{\"runs\":null}", HO_EINVAL, "runs"},
        {"{\"runs\":{}}", HO_EINVAL, "runs"},
        {"{\"runs\":\"x\"}", HO_EINVAL, "runs"},
        {"{\"runs\":[{},{},{}]}", HO_ETOOBIG, "runs"},
    };
    struct run_batch b;
    struct ho_error err;
    size_t i;

    (void)state;
    for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        b.items = (struct run_batch_item *)&err;
        b.n = 42;
        ho_error_clear(&err);
        if (run_batch_parse(cases[i].json, strlen(cases[i].json), 2, &b, &err) != cases[i].rc ||
            strcmp(err.field, cases[i].field) != 0 || err.msg[0] == '\0') {
            print_error("case %zu (%s): field \"%s\" %s\n", i, cases[i].json, err.field, err.msg);
            fail();
        }
        assert_null(b.items);
        assert_int_equal(b.n, 0);
        run_batch_cleanup(&b);
    }
    assert_int_equal(run_batch_parse(NULL, 0, 2, &b, &err), HO_EINVAL);
}

static void test_run_batch_count_limit(void **state)
{
    struct run_batch b;
    struct ho_error err;
    struct buf j;
    size_t i;

    (void)state;
    buf_init(&j, BIG_CAP);
    assert_int_equal(buf_appends(&j, "{\"runs\":["), HO_OK);
    for (i = 0; i < RUN_MAX_BATCH; i++)
        assert_int_equal(buf_appends(&j, i > 0 ? ",{}" : "{}"), HO_OK);
    assert_int_equal(buf_appends(&j, "]}"), HO_OK);
    assert_int_equal(run_batch_parse(j.data, j.len, RUN_MAX_BATCH, &b, &err), HO_OK);
    assert_int_equal(b.n, RUN_MAX_BATCH);
    assert_int_equal(b.items[RUN_MAX_BATCH - 1].rc, HO_EINVAL);
    run_batch_cleanup(&b);
    assert_int_equal(run_batch_parse(j.data, j.len, RUN_MAX_BATCH - 1, &b, &err), HO_ETOOBIG);
    assert_string_equal(err.field, "runs");
    assert_null(b.items);
    buf_cleanup(&j);
}

static void test_run_batch_empty_and_exact(void **state)
{
    struct run_batch b;
    struct ho_error err;
    char *json;

    (void)state;
    assert_int_equal(run_batch_parse("{\"runs\":[]}", 11, 0, &b, &err), HO_OK);
    assert_int_equal(b.n, 0);
    run_batch_cleanup(&b);
    json = xasprintf(" {\"runs\" : [ %s , %s ] }\n", good_run, good_run);
    assert_int_equal(run_batch_parse(json, strlen(json), 2, &b, &err), HO_OK);
    assert_int_equal(b.n, 2);
    assert_int_equal(b.items[0].rc, HO_OK);
    assert_int_equal(b.items[1].rc, HO_OK);
    run_batch_cleanup(&b);
    free(json);
}

/* --- cleanup --- */

static void test_run_cleanup_accepts_null_and_zeroes(void **state)
{
    struct run r;
    struct metric m;
    struct run_batch b = {NULL, 0};

    (void)state;
    run_cleanup(NULL);
    metric_cleanup(NULL);
    run_batch_cleanup(NULL);
    run_batch_cleanup(&b);
    make_run(&r);
    run_cleanup(&r);
    assert_true(is_zero(&r, sizeof(r)));
    run_cleanup(&r);
    memset(&m, 0, sizeof(m));
    m.name = xstrdup("x");
    m.ntags = 1;
    m.tags = xcalloc(1, sizeof(*m.tags));
    m.tags[0].key = xstrdup("k");
    metric_cleanup(&m);
    assert_true(is_zero(&m, sizeof(m)));
}

/* The package's environment and tags travel with the run, for the metric tags. */
static void test_run_environment_and_tags_round_trip(void **state)
{
    static const char json[] =
        "{\"id\":\"019a8f3e-0000-7000-8000-000000000001\",\"package\":\"nginx\","
        "\"check\":\"nginx.running\",\"started_at\":\"2026-11-24T14:00:00Z\","
        "\"duration_ms\":1,\"environment\":\"prod\",\"tags\":{\"team\":\"web\"},"
        "\"test\":{\"status\":\"ok\",\"duration_ms\":1},\"outcome\":\"ok\"}";
    struct run r, back;
    struct ho_error err;
    struct buf b;

    (void)state;
    assert_int_equal(run_parse(json, strlen(json), &r, &err), HO_OK);
    assert_string_equal(r.environment, "prod");
    assert_int_equal(r.ntags, 1);
    assert_string_equal(r.tags[0].key, "team");
    assert_string_equal(r.tags[0].value, "web");
    buf_init(&b, 1 << 20);
    assert_int_equal(run_to_json(&r, &b), HO_OK);
    assert_int_equal(run_parse(b.data, b.len, &back, &err), HO_OK);
    assert_string_equal(back.environment, "prod");
    assert_string_equal(back.tags[0].value, "web");
    run_cleanup(&back);
    buf_cleanup(&b);
    run_cleanup(&r);
    {
        static const char bad[] =
            "{\"id\":\"019a8f3e-0000-7000-8000-000000000001\",\"package\":\"p\","
            "\"check\":\"c\",\"started_at\":\"2026-11-24T14:00:00Z\",\"duration_ms\":1,"
            "\"tags\":{\"team\":5},\"test\":{\"status\":\"ok\",\"duration_ms\":1},"
            "\"outcome\":\"ok\"}";
        assert_int_equal(run_parse(bad, strlen(bad), &r, &err), HO_EINVAL);
        assert_string_equal(err.field, "tags");
    }
}

/* The server stores text only: a string that is not UTF-8 is refused, naming the field. */
static void test_run_parse_refuses_invalid_utf8(void **state)
{
    static const char json[] =
        "{\"id\":\"019a8f3e-0000-7000-8000-000000000001\",\"package\":\"p\","
        "\"check\":\"c\",\"started_at\":\"2026-11-24T14:00:00Z\",\"duration_ms\":1,"
        "\"test\":{\"status\":\"ok\",\"output\":\"a\xff\xfe\",\"duration_ms\":1},"
        "\"outcome\":\"ok\"}";
    struct run r;
    struct ho_error err;

    (void)state;
    assert_int_equal(run_parse(json, strlen(json), &r, &err), HO_EINVAL);
    assert_string_equal(err.field, "test.output");
    assert_non_null(strstr(err.msg, "UTF-8"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_run_environment_and_tags_round_trip),
        cmocka_unit_test(test_run_parse_refuses_invalid_utf8),
        cmocka_unit_test(test_run_enum_names),
        cmocka_unit_test(test_run_enum_parse_rejects),
        cmocka_unit_test(test_run_parse_full),
        cmocka_unit_test(test_run_parse_minimal),
        cmocka_unit_test(test_run_parse_null_means_absent),
        cmocka_unit_test(test_run_rejects_each_bad_field),
        cmocka_unit_test(test_run_metrics_parse_rejects_each_bad_field),
        cmocka_unit_test(test_run_accepts_edge_values),
        cmocka_unit_test(test_run_consistent_step_sets),
        cmocka_unit_test(test_run_id_is_lowercased),
        cmocka_unit_test(test_run_started_at_zones_agree),
        cmocka_unit_test(test_run_integral_doubles_accepted),
        cmocka_unit_test(test_run_operator_only_when_manual),
        cmocka_unit_test(test_run_server_fields_not_filled),
        cmocka_unit_test(test_run_duplicate_and_empty_tag_keys),
        cmocka_unit_test(test_run_parse_not_an_object),
        cmocka_unit_test(test_run_parse_not_json),
        cmocka_unit_test(test_run_parse_respects_len),
        cmocka_unit_test(test_run_limit_string_lengths),
        cmocka_unit_test(test_run_limit_tag_key_length),
        cmocka_unit_test(test_run_limit_metric_count),
        cmocka_unit_test(test_run_limit_tag_count),
        cmocka_unit_test(test_run_limit_biggest_run_round_trips),
        cmocka_unit_test(test_run_round_trip),
        cmocka_unit_test(test_run_round_trip_from_wire),
        cmocka_unit_test(test_run_to_json_omits_unset),
        cmocka_unit_test(test_run_to_json_server_fields),
        cmocka_unit_test(test_run_to_json_integers_stay_integers),
        cmocka_unit_test(test_run_to_json_doubles_round_trip),
        cmocka_unit_test(test_run_to_json_non_finite_value),
        cmocka_unit_test(test_run_to_json_sanitizes_output),
        cmocka_unit_test(test_run_to_json_hostile_strings_everywhere),
        cmocka_unit_test(test_run_to_json_random_bytes),
        cmocka_unit_test(test_run_to_json_cap),
        cmocka_unit_test(test_run_to_json_appends),
        cmocka_unit_test(test_run_metrics_round_trip),
        cmocka_unit_test(test_run_metrics_parse_envelope),
        cmocka_unit_test(test_run_metrics_to_json_cap),
        cmocka_unit_test(test_run_batch_mixed),
        cmocka_unit_test(test_run_batch_envelope_errors),
        cmocka_unit_test(test_run_batch_count_limit),
        cmocka_unit_test(test_run_batch_empty_and_exact),
        cmocka_unit_test(test_run_cleanup_accepts_null_and_zeroes),
    };

    /* as the server parses: batches with cJSON's nodes from the arena (json_arena.h) */
    json_arena_install();
    return cmocka_run_group_tests(tests, NULL, NULL);
}
