/*
 * JSON codec for the run record of DESIGN.md section 5. Reading uses cJSON:
 * each public parser builds its tree and deletes it in the same function,
 * converts it at once into struct run / struct metric, and checks types,
 * limits and consistency, naming the field at fault ("test.status",
 * "metrics[1].tags"). Unknown keys are ignored for forward compatibility;
 * known keys are strictly typed; JSON null counts as absent. Limits
 * (RUN_MAX_*) fail with HO_ETOOBIG, every other fault with HO_EINVAL.
 * Writing does not use cJSON: it is on the server's query path, so it appends
 * straight into a capped struct buf with the writer of jw.h, which makes any
 * script's output valid JSON text, and rolls back on HO_ETOOBIG.
 */
#include <ctype.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "clock.h"
#include "json_arena.h"
#include "jw.h"
#include "mem.h"
#include "run.h"
#include "utf8.h"

#define JR_NELEM(a) (sizeof(a) / sizeof((a)[0]))

/* Flags of the field readers. */
#define JR_REQUIRED 0x1 /* absent or null is an error */
#define JR_NONEMPTY 0x2 /* "" is an error */
#define JR_NOCTL    0x4 /* control characters are an error */
#define JR_NAME     (JR_REQUIRED | JR_NONEMPTY | JR_NOCTL)

#define JR_MAX_INTERVAL 86400 /* seconds */

static const char *const test_status_names[] = {"ok", "warning", "critical", "unknown"};
static const char *const repair_status_names[] = {"succeeded", "failed", "timeout", "suppressed"};
static const char *const run_outcome_names[] = {"ok", "repaired", "failed", "error"};

static const char *jr_name(const char *const *names, size_t n, int v)
{
    if (v < 0 || (size_t)v >= n)
        return "invalid";
    return names[v];
}

static enum ho_code jr_lookup(const char *const *names, size_t n, const char *s, int *out)
{
    size_t i;

    if (s == NULL)
        return HO_EINVAL;
    for (i = 0; i < n; i++) {
        if (strcmp(s, names[i]) == 0) {
            *out = (int)i;
            return HO_OK;
        }
    }
    return HO_EINVAL;
}

const char *test_status_str(enum test_status s)
{
    return jr_name(test_status_names, JR_NELEM(test_status_names), (int)s);
}

const char *repair_status_str(enum repair_status s)
{
    return jr_name(repair_status_names, JR_NELEM(repair_status_names), (int)s);
}

const char *run_outcome_str(enum run_outcome o)
{
    return jr_name(run_outcome_names, JR_NELEM(run_outcome_names), (int)o);
}

enum ho_code test_status_parse(const char *s, enum test_status *out)
{
    int v;
    enum ho_code rc;

    rc = jr_lookup(test_status_names, JR_NELEM(test_status_names), s, &v);
    if (rc == HO_OK)
        *out = (enum test_status)v;
    return rc;
}

enum ho_code repair_status_parse(const char *s, enum repair_status *out)
{
    int v;
    enum ho_code rc;

    rc = jr_lookup(repair_status_names, JR_NELEM(repair_status_names), s, &v);
    if (rc == HO_OK)
        *out = (enum repair_status)v;
    return rc;
}

enum ho_code run_outcome_parse(const char *s, enum run_outcome *out)
{
    int v;
    enum ho_code rc;

    rc = jr_lookup(run_outcome_names, JR_NELEM(run_outcome_names), s, &v);
    if (rc == HO_OK)
        *out = (enum run_outcome)v;
    return rc;
}

/* --- cleanup --- */

void metric_cleanup(struct metric *m)
{
    size_t i;

    if (m == NULL)
        return;
    free(m->name);
    for (i = 0; i < m->ntags; i++) {
        free(m->tags[i].key);
        free(m->tags[i].value);
    }
    free(m->tags);
    memset(m, 0, sizeof(*m));
}

static void jr_metrics_free(struct metric *m, size_t n)
{
    size_t i;

    for (i = 0; i < n; i++)
        metric_cleanup(&m[i]);
    free(m);
}

void run_cleanup(struct run *r)
{
    size_t i;

    if (r == NULL)
        return;
    free(r->package);
    free(r->version);
    free(r->check);
    free(r->operator_name);
    free(r->environment);
    for (i = 0; i < r->ntags; i++) {
        free(r->tags[i].key);
        free(r->tags[i].value);
    }
    free(r->tags);
    free(r->test.output);
    free(r->repair.output);
    free(r->retest.output);
    jr_metrics_free(r->metrics, r->nmetrics);
    run_alert_free(r->alert);
    free(r->agent_id);
    free(r->agent_name);
    memset(r, 0, sizeof(*r));
}

void run_alert_free(struct run_alert *a)
{
    size_t i;

    if (a == NULL)
        return;
    free(a->severity);
    free(a->runbook);
    for (i = 0; i < a->ndocs; i++)
        free(a->docs[i]);
    free(a->docs);
    free(a->advice);
    free(a->changelog);
    free(a->login);
    free(a);
}

static char *jr_dup_or_null(const char *s)
{
    return s != NULL ? xstrdup(s) : NULL;
}

struct run_alert *run_alert_dup(const struct run_alert *a)
{
    struct run_alert *c;
    size_t i;

    if (a == NULL)
        return NULL;
    c = xcalloc(1, sizeof(*c));
    c->severity = jr_dup_or_null(a->severity);
    c->runbook = jr_dup_or_null(a->runbook);
    if (a->ndocs > 0) {
        c->docs = xcalloc(a->ndocs, sizeof(*c->docs));
        for (i = 0; i < a->ndocs; i++)
            c->docs[i] = xstrdup(a->docs[i]);
        c->ndocs = a->ndocs;
    }
    c->advice = jr_dup_or_null(a->advice);
    c->changelog = jr_dup_or_null(a->changelog);
    c->login = jr_dup_or_null(a->login);
    return c;
}

void run_batch_cleanup(struct run_batch *b)
{
    size_t i;

    if (b == NULL)
        return;
    for (i = 0; i < b->n; i++)
        run_cleanup(&b->items[i].run);
    free(b->items);
    b->items = NULL;
    b->n = 0;
}

/* --- reading: field readers over a cJSON object --- */

/* Member key of o, or NULL when it is absent or JSON null (both mean "not given"). */
static const cJSON *jr_get(const cJSON *o, const char *key)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);

    if (cJSON_IsNull(v))
        return NULL;
    return v;
}

static size_t jr_count(const cJSON *a)
{
    const cJSON *it;
    size_t n = 0;

    cJSON_ArrayForEach(it, a)
    {
        n++;
    }
    return n;
}

static int jr_has_ctl(const char *s)
{
    for (; *s != '\0'; s++) {
        if ((unsigned char)*s < 0x20 || *s == 0x7f)
            return 1;
    }
    return 0;
}

/* 1 when s is well-formed UTF-8 (what the encoder writes; anything else is refused). */
static int jr_utf8_valid(const char *s)
{
    const unsigned char *p = (const unsigned char *)s;
    size_t n;

    while (*p != '\0') {
        if (*p < 0x80) {
            p++;
            continue;
        }
        n = utf8_seq_len(p, strnlen((const char *)p, 4));
        if (n < 2)
            return 0;
        p += n;
    }
    return 1;
}

/* Checks text s of field against flags and max bytes; what prefixes the message. */
static enum ho_code jr_check_text(const char *s, const char *field, const char *what,
                                  unsigned flags, size_t max, struct ho_error *err)
{
    size_t n = strlen(s);

    if (n == 0 && (flags & JR_NONEMPTY))
        return ho_error_set(err, HO_EINVAL, field, "%smust not be empty", what);
    if (n > max)
        return ho_error_set(err, HO_ETOOBIG, field, "%smust be at most %zu bytes", what, max);
    if ((flags & JR_NOCTL) && jr_has_ctl(s))
        return ho_error_set(err, HO_EINVAL, field, "%smust not contain control characters", what);
    if (!jr_utf8_valid(s))
        return ho_error_set(err, HO_EINVAL, field, "%smust be valid UTF-8", what);
    return HO_OK;
}

/* Borrows string key of o into *out (NULL when absent and not JR_REQUIRED). */
static enum ho_code jr_string_ref(const cJSON *o, const char *key, unsigned flags, const char **out,
                                  struct ho_error *err)
{
    const cJSON *v = jr_get(o, key);

    *out = NULL;
    if (v == NULL) {
        if (flags & JR_REQUIRED)
            return ho_error_set(err, HO_EINVAL, key, "is required");
        return HO_OK;
    }
    if (!cJSON_IsString(v) || v->valuestring == NULL)
        return ho_error_set(err, HO_EINVAL, key, "must be a string");
    *out = v->valuestring;
    return HO_OK;
}

/* Copies string key of o, checked against flags and max bytes, into *out (new string). */
static enum ho_code jr_string(const cJSON *o, const char *key, unsigned flags, size_t max,
                              char **out, struct ho_error *err)
{
    const char *s;
    enum ho_code rc;

    rc = jr_string_ref(o, key, flags, &s, err);
    if (rc != HO_OK || s == NULL)
        return rc;
    rc = jr_check_text(s, key, "", flags, max, err);
    if (rc != HO_OK)
        return rc;
    *out = xstrdup(s);
    return HO_OK;
}

/* Reads integer key of o in [min, max] into *out; left alone when absent. */
static enum ho_code jr_int(const cJSON *o, const char *key, unsigned flags, int64_t min,
                           int64_t max, int64_t *out, struct ho_error *err)
{
    const cJSON *v = jr_get(o, key);
    double d;

    if (v == NULL) {
        if (flags & JR_REQUIRED)
            return ho_error_set(err, HO_EINVAL, key, "is required");
        return HO_OK;
    }
    d = v->valuedouble;
    if (!cJSON_IsNumber(v) || !isfinite(d) || floor(d) != d || d < (double)min || d > (double)max)
        return ho_error_set(err, HO_EINVAL, key, "must be an integer from %" PRId64 " to %" PRId64,
                            min, max);
    *out = (int64_t)d;
    return HO_OK;
}

static enum ho_code jr_bool(const cJSON *o, const char *key, int *out, struct ho_error *err)
{
    const cJSON *v = jr_get(o, key);

    if (v == NULL)
        return HO_OK;
    if (!cJSON_IsBool(v))
        return ho_error_set(err, HO_EINVAL, key, "must be true or false");
    *out = cJSON_IsTrue(v) ? 1 : 0;
    return HO_OK;
}

/* Reads RFC 3339 time key of o into *out (ms); left alone when absent. */
static enum ho_code jr_time(const cJSON *o, const char *key, unsigned flags, int64_t *out,
                            struct ho_error *err)
{
    const char *s;
    enum ho_code rc;

    rc = jr_string_ref(o, key, flags, &s, err);
    if (rc != HO_OK || s == NULL)
        return rc;
    if (clock_parse_rfc3339(s, out) != HO_OK)
        return ho_error_set(err, HO_EINVAL, key,
                            "must be an RFC 3339 time like 2026-11-24T14:00:00.123Z");
    return HO_OK;
}

/* Reads required enum name key of o (one of names[n]) into *out. */
static enum ho_code jr_enum(const cJSON *o, const char *key, const char *const *names, size_t n,
                            int *out, struct ho_error *err)
{
    char list[128] = "";
    const char *s;
    enum ho_code rc;
    size_t i;

    rc = jr_string_ref(o, key, JR_REQUIRED, &s, err);
    if (rc != HO_OK || jr_lookup(names, n, s, out) == HO_OK)
        return rc;
    for (i = 0; i < n; i++) {
        strncat(list, i > 0 ? ", " : "", sizeof(list) - strlen(list) - 1);
        strncat(list, names[i], sizeof(list) - strlen(list) - 1);
    }
    return ho_error_set(err, HO_EINVAL, key, "must be one of %s", list);
}

/* --- reading: metrics --- */

static enum ho_code jr_tag(const cJSON *it, struct metric *m, size_t i, struct ho_error *err)
{
    enum ho_code rc;
    size_t j;

    if (it->string == NULL || !cJSON_IsString(it) || it->valuestring == NULL)
        return ho_error_set(err, HO_EINVAL, "tags", "tag values must be strings");
    rc = jr_check_text(it->string, "tags", "tag keys ", JR_NONEMPTY | JR_NOCTL, RUN_MAX_NAME, err);
    if (rc == HO_OK)
        rc = jr_check_text(it->valuestring, "tags", "tag values ", JR_NONEMPTY | JR_NOCTL,
                           RUN_MAX_NAME, err);
    if (rc != HO_OK)
        return rc;
    for (j = 0; j < i; j++) {
        if (strcmp(m->tags[j].key, it->string) == 0)
            return ho_error_set(err, HO_EINVAL, "tags", "tag keys must be unique");
    }
    m->tags[i].key = xstrdup(it->string);
    m->tags[i].value = xstrdup(it->valuestring);
    return HO_OK;
}

static enum ho_code jr_tags(const cJSON *t, struct metric *m, struct ho_error *err)
{
    const cJSON *it;
    enum ho_code rc;
    size_t i = 0, n;

    if (t == NULL)
        return HO_OK;
    if (!cJSON_IsObject(t))
        return ho_error_set(err, HO_EINVAL, "tags", "must be an object of strings");
    n = jr_count(t);
    if (n > RUN_MAX_TAGS)
        return ho_error_set(err, HO_ETOOBIG, "tags", "must have at most %d tags", RUN_MAX_TAGS);
    if (n == 0)
        return HO_OK;
    m->tags = xcalloc(n, sizeof(*m->tags));
    m->ntags = n;
    cJSON_ArrayForEach(it, t)
    {
        rc = jr_tag(it, m, i++, err);
        if (rc != HO_OK)
            return rc;
    }
    return HO_OK;
}

/* Fills m from metric object o; on error m may hold part (metric_cleanup frees it). */
static enum ho_code jr_metric(const cJSON *o, struct metric *m, struct ho_error *err)
{
    const cJSON *v;
    enum ho_code rc;

    if (!cJSON_IsObject(o))
        return ho_error_set(err, HO_EINVAL, NULL, "must be an object");
    rc = jr_string(o, "name", JR_NAME, RUN_MAX_NAME, &m->name, err);
    if (rc != HO_OK)
        return rc;
    v = jr_get(o, "value");
    if (v == NULL)
        return ho_error_set(err, HO_EINVAL, "value", "is required");
    if (!cJSON_IsNumber(v) || !isfinite(v->valuedouble))
        return ho_error_set(err, HO_EINVAL, "value", "must be a finite number");
    m->value = v->valuedouble;
    rc = jr_time(o, "timestamp", 0, &m->ts_ms, err);
    if (rc == HO_OK)
        rc = jr_tags(jr_get(o, "tags"), m, err);
    return rc;
}

/*
 * Reads metrics array a into a new array *out of *n (set before the items are
 * read, so the caller frees them on error too). err->field is relative to the
 * array: "" or "[2].value".
 */
static enum ho_code jr_metrics(const cJSON *a, struct metric **out, size_t *n, struct ho_error *err)
{
    const cJSON *it;
    char idx[32];
    enum ho_code rc;
    size_t i = 0, count;

    if (!cJSON_IsArray(a))
        return ho_error_set(err, HO_EINVAL, NULL, "must be an array");
    count = jr_count(a);
    if (count > RUN_MAX_METRICS)
        return ho_error_set(err, HO_ETOOBIG, NULL, "must have at most %d metrics", RUN_MAX_METRICS);
    if (count == 0)
        return HO_OK;
    *out = xcalloc(count, sizeof(**out));
    *n = count;
    cJSON_ArrayForEach(it, a)
    {
        rc = jr_metric(it, &(*out)[i], err);
        if (rc != HO_OK) {
            snprintf(idx, sizeof(idx), "[%zu]", i);
            ho_error_prefix_field(err, idx);
            return rc;
        }
        i++;
    }
    return HO_OK;
}

/* --- reading: a run --- */

static enum ho_code jr_id(const cJSON *o, char *id, struct ho_error *err)
{
    const char *s;
    enum ho_code rc;
    size_t i;

    rc = jr_string_ref(o, "id", JR_REQUIRED, &s, err);
    if (rc != HO_OK)
        return rc;
    if (!crypto_uuid_valid(s))
        return ho_error_set(err, HO_EINVAL, "id", "must be a UUID");
    /* Lowercase, so one run sent twice in two spellings is still one run. */
    for (i = 0; i < CRYPTO_UUID_LEN - 1; i++)
        id[i] = (char)tolower((unsigned char)s[i]);
    id[CRYPTO_UUID_LEN - 1] = '\0';
    return HO_OK;
}

/* The package's tags on a run: parsed as a metric's tags are, then moved over. */
static enum ho_code jr_run_tags(const cJSON *o, struct run *r, struct ho_error *err)
{
    struct metric m;
    enum ho_code rc;

    memset(&m, 0, sizeof(m));
    rc = jr_tags(jr_get(o, "tags"), &m, err);
    r->tags = m.tags;
    r->ntags = m.ntags;
    return rc;
}

static enum ho_code jr_run_head(const cJSON *o, struct run *r, struct ho_error *err)
{
    int64_t interval = 0;
    enum ho_code rc;

    rc = jr_id(o, r->id, err);
    if (rc == HO_OK)
        rc = jr_string(o, "package", JR_NAME, RUN_MAX_NAME, &r->package, err);
    if (rc == HO_OK)
        rc = jr_string(o, "version", JR_NOCTL, RUN_MAX_NAME, &r->version, err);
    if (rc == HO_OK)
        rc = jr_string(o, "check", JR_NAME, RUN_MAX_NAME, &r->check, err);
    if (rc == HO_OK)
        rc = jr_time(o, "started_at", JR_REQUIRED, &r->started_at_ms, err);
    if (rc == HO_OK)
        rc = jr_int(o, "duration_ms", JR_REQUIRED, 0, RUN_MAX_DURATION, &r->duration_ms, err);
    if (rc == HO_OK)
        rc = jr_bool(o, "manual", &r->manual, err);
    if (rc == HO_OK)
        rc = jr_string(o, "operator", JR_NOCTL, RUN_MAX_NAME, &r->operator_name, err);
    if (rc == HO_OK)
        rc = jr_int(o, "interval", 0, 0, JR_MAX_INTERVAL, &interval, err);
    r->interval_s = (int)interval;
    if (rc == HO_OK)
        rc = jr_string(o, "environment", JR_NOCTL, 64, &r->environment, err);
    if (rc == HO_OK)
        rc = jr_run_tags(o, r, err);
    if (!r->manual) {
        /* The operator means something only for a run by hand. */
        free(r->operator_name);
        r->operator_name = NULL;
    }
    return rc;
}

/* Reads step key of o into s when present; err->field is prefixed with key. */
static enum ho_code jr_step(const cJSON *o, const char *key, int is_repair, struct run_step *s,
                            struct ho_error *err)
{
    const cJSON *v = jr_get(o, key);
    int64_t code = 0;
    enum ho_code rc;

    if (v == NULL)
        return HO_OK;
    s->present = 1;
    if (!cJSON_IsObject(v))
        rc = ho_error_set(err, HO_EINVAL, NULL, "must be an object");
    else if (is_repair)
        rc = jr_enum(v, "status", repair_status_names, JR_NELEM(repair_status_names), &s->status,
                     err);
    else
        rc = jr_enum(v, "status", test_status_names, JR_NELEM(test_status_names), &s->status, err);
    s->has_exit_code = rc == HO_OK && jr_get(v, "exit_code") != NULL;
    if (rc == HO_OK)
        rc = jr_int(v, "exit_code", 0, -1, 255, &code, err);
    s->exit_code = (int)code;
    if (rc == HO_OK)
        rc = jr_string(v, "output", 0, RUN_MAX_OUTPUT, &s->output, err);
    if (rc == HO_OK)
        rc = jr_int(v, "duration_ms", JR_REQUIRED, 0, RUN_MAX_DURATION, &s->duration_ms, err);
    if (rc != HO_OK)
        ho_error_prefix_field(err, key);
    return rc;
}

/* The rules of DESIGN.md section 4 on which steps a run may have. */
static enum ho_code jr_consistent(const struct run *r, struct ho_error *err)
{
    if (!r->test.present)
        return ho_error_set(err, HO_EINVAL, "test", "is required");
    if (r->retest.present && !r->repair.present)
        return ho_error_set(err, HO_EINVAL, "retest", "a retest needs a repair before it");
    if (r->retest.present && r->repair.status == REPAIR_STATUS_SUPPRESSED)
        return ho_error_set(err, HO_EINVAL, "retest", "a suppressed repair has no retest");
    if (r->outcome == RUN_OUTCOME_REPAIRED &&
        (!r->repair.present || !r->retest.present || r->retest.status != TEST_STATUS_OK))
        return ho_error_set(err, HO_EINVAL, "outcome",
                            "\"repaired\" needs a repair and a retest with status \"ok\"");
    return HO_OK;
}

static const char *const jr_severity_names[] = {"critical", "warning", "info"};

/* The "docs" array of an alert block: at most RUN_ALERT_MAX_DOCS strings. */
static enum ho_code jr_alert_docs(const cJSON *d, struct run_alert *a, struct ho_error *err)
{
    const cJSON *it;
    size_t n;
    enum ho_code rc;

    if (d == NULL)
        return HO_OK;
    if (!cJSON_IsArray(d))
        return ho_error_set(err, HO_EINVAL, "docs", "must be an array of strings");
    n = jr_count(d);
    if (n > RUN_ALERT_MAX_DOCS)
        return ho_error_set(err, HO_ETOOBIG, "docs", "must have at most %d links",
                            RUN_ALERT_MAX_DOCS);
    if (n == 0)
        return HO_OK;
    a->docs = xcalloc(n, sizeof(*a->docs));
    cJSON_ArrayForEach(it, d)
    {
        if (!cJSON_IsString(it) || it->valuestring == NULL)
            return ho_error_set(err, HO_EINVAL, "docs", "must be an array of strings");
        rc = jr_check_text(it->valuestring, "docs", "links ", JR_NONEMPTY | JR_NOCTL,
                           RUN_ALERT_MAX_TEXT, err);
        if (rc != HO_OK)
            return rc;
        a->docs[a->ndocs++] = xstrdup(it->valuestring);
    }
    return HO_OK;
}

/* The optional "alert" object (the manifest alert block) into a new r->alert. */
static enum ho_code jr_alert(const cJSON *o, struct run *r, struct ho_error *err)
{
    const cJSON *v = jr_get(o, "alert");
    struct run_alert *a;
    int sev = 0;
    enum ho_code rc;

    if (v == NULL)
        return HO_OK;
    if (!cJSON_IsObject(v))
        return ho_error_set(err, HO_EINVAL, "alert", "must be an object");
    a = r->alert = xcalloc(1, sizeof(*a));
    rc = jr_get(v, "severity") != NULL ? jr_enum(v, "severity", jr_severity_names,
                                                 JR_NELEM(jr_severity_names), &sev, err)
                                       : HO_OK;
    if (rc == HO_OK && jr_get(v, "severity") != NULL)
        a->severity = xstrdup(jr_severity_names[sev]);
    if (rc == HO_OK)
        rc = jr_string(v, "runbook", JR_NOCTL, RUN_ALERT_MAX_TEXT, &a->runbook, err);
    if (rc == HO_OK)
        rc = jr_alert_docs(jr_get(v, "docs"), a, err);
    if (rc == HO_OK)
        rc = jr_string(v, "advice", 0, RUN_ALERT_MAX_TEXT, &a->advice, err);
    if (rc == HO_OK)
        rc = jr_string(v, "changelog", JR_NOCTL, RUN_ALERT_MAX_TEXT, &a->changelog, err);
    if (rc == HO_OK)
        rc = jr_string(v, "login", JR_NOCTL, RUN_ALERT_MAX_TEXT, &a->login, err);
    if (rc != HO_OK)
        ho_error_prefix_field(err, "alert");
    return rc;
}

static enum ho_code jr_run_body(const cJSON *o, struct run *r, struct ho_error *err)
{
    const cJSON *m;
    int outcome = 0;
    enum ho_code rc;

    rc = jr_step(o, "test", 0, &r->test, err);
    if (rc == HO_OK)
        rc = jr_step(o, "repair", 1, &r->repair, err);
    if (rc == HO_OK)
        rc = jr_step(o, "retest", 0, &r->retest, err);
    if (rc == HO_OK)
        rc = jr_enum(o, "outcome", run_outcome_names, JR_NELEM(run_outcome_names), &outcome, err);
    r->outcome = (enum run_outcome)outcome;
    if (rc == HO_OK)
        rc = jr_consistent(r, err);
    m = jr_get(o, "metrics");
    if (rc == HO_OK && m != NULL) {
        rc = jr_metrics(m, &r->metrics, &r->nmetrics, err);
        if (rc != HO_OK)
            ho_error_prefix_field(err, "metrics");
    }
    if (rc == HO_OK)
        rc = jr_alert(o, r, err);
    return rc;
}

/* Fills r (zeroed first) from run object o; on error r is left zeroed. */
static enum ho_code jr_run(const cJSON *o, struct run *r, struct ho_error *err)
{
    enum ho_code rc;

    memset(r, 0, sizeof(*r));
    ho_error_clear(err);
    if (!cJSON_IsObject(o))
        return ho_error_set(err, HO_EINVAL, NULL, "a run must be a JSON object");
    rc = jr_run_head(o, r, err);
    if (rc == HO_OK)
        rc = jr_run_body(o, r, err);
    if (rc != HO_OK)
        run_cleanup(r);
    return rc;
}

/*
 * Checks what cJSON_ParseWithLengthOpts made of json[0..len): a value, and
 * nothing after it but white space (cJSON alone would accept "{} junk").
 */
static enum ho_code jr_parsed(const cJSON *root, const char *json, size_t len, const char *end,
                              struct ho_error *err)
{
    const char *p, *lim;

    if (root == NULL && json != NULL && end != NULL && end >= json && end <= json + len)
        return ho_error_set(err, HO_EINVAL, NULL, "not valid JSON (at byte %zu)",
                            (size_t)(end - json));
    if (root == NULL || end == NULL)
        return ho_error_set(err, HO_EINVAL, NULL, "not valid JSON");
    lim = json + len;
    for (p = end; p < lim && (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r'); p++)
        continue;
    if (p != lim)
        return ho_error_set(err, HO_EINVAL, NULL,
                            "not valid JSON: data after the value (at byte %zu)",
                            (size_t)(p - json));
    return HO_OK;
}

enum ho_code run_parse(const char *json, size_t len, struct run *out, struct ho_error *err)
{
    cJSON *root = NULL;
    const char *end = NULL;
    enum ho_code rc;

    memset(out, 0, sizeof(*out));
    if (json != NULL)
        root = cJSON_ParseWithLengthOpts(json, len, &end, 0);
    rc = jr_parsed(root, json, len, end, err);
    if (rc == HO_OK)
        rc = jr_run(root, out, err);
    cJSON_Delete(root);
    return rc;
}

/* Finds the "runs" array of a batch envelope, within max_runs. */
static enum ho_code jr_envelope(const cJSON *root, size_t max_runs, const cJSON **runs,
                                struct ho_error *err)
{
    size_t n;

    if (!cJSON_IsObject(root))
        return ho_error_set(err, HO_EINVAL, NULL, "must be a JSON object {\"runs\": [...]}");
    *runs = jr_get(root, "runs");
    if (*runs == NULL)
        return ho_error_set(err, HO_EINVAL, "runs", "is required");
    if (!cJSON_IsArray(*runs))
        return ho_error_set(err, HO_EINVAL, "runs", "must be an array");
    n = jr_count(*runs);
    if (n > max_runs)
        return ho_error_set(err, HO_ETOOBIG, "runs", "at most %zu runs per batch, got %zu",
                            max_runs, n);
    return HO_OK;
}

enum ho_code run_batch_parse(const char *json, size_t len, size_t max_runs, struct run_batch *out,
                             struct ho_error *err)
{
    cJSON *root = NULL;
    const cJSON *runs = NULL, *it;
    const char *end = NULL;
    enum ho_code rc;
    size_t i = 0;

    out->items = NULL;
    out->n = 0;
    json_arena_begin(len); /* the tree is deleted below, before anything else is done */
    if (json != NULL)
        root = cJSON_ParseWithLengthOpts(json, len, &end, 0);
    rc = jr_parsed(root, json, len, end, err);
    if (rc == HO_OK)
        rc = jr_envelope(root, max_runs, &runs, err);
    if (rc != HO_OK)
        goto out;
    out->n = jr_count(runs);
    out->items = out->n > 0 ? xcalloc(out->n, sizeof(*out->items)) : NULL;
    cJSON_ArrayForEach(it, runs)
    {
        out->items[i].rc = jr_run(it, &out->items[i].run, &out->items[i].err);
        i++;
    }
out:
    cJSON_Delete(root);
    json_arena_end();
    return rc;
}

enum ho_code run_metrics_parse(const char *json, size_t len, struct metric **out, size_t *n,
                               struct ho_error *err)
{
    cJSON *root = NULL;
    const char *end = NULL;
    struct metric *m = NULL;
    size_t count = 0;
    enum ho_code rc;

    *out = NULL;
    *n = 0;
    json_arena_begin(len);
    if (json != NULL)
        root = cJSON_ParseWithLengthOpts(json, len, &end, 0);
    rc = jr_parsed(root, json, len, end, err);
    if (rc != HO_OK)
        goto out;
    rc = jr_metrics(root, &m, &count, err);
    if (rc != HO_OK) {
        ho_error_prefix_field(err, "metrics");
        jr_metrics_free(m, count);
        goto out;
    }
    *out = m;
    *n = count;
out:
    cJSON_Delete(root);
    json_arena_end();
    return rc;
}

/* --- writing: JSON text straight into a buf (jw.h) --- */

static void jw_metric(struct jw *w, const struct metric *m)
{
    size_t i;

    jw_sep(w);
    jw_open(w, "{");
    jw_kstr(w, "name", m->name);
    jw_key(w, "value");
    jw_double(w, m->value);
    if (m->ts_ms != 0)
        jw_ktime(w, "timestamp", m->ts_ms);
    jw_key(w, "tags");
    jw_open(w, "{");
    for (i = 0; i < m->ntags; i++)
        jw_kstr(w, m->tags[i].key, m->tags[i].value);
    jw_close(w, "}");
    jw_close(w, "}");
}

static void jw_metrics(struct jw *w, const struct metric *m, size_t n)
{
    size_t i;

    jw_open(w, "[");
    for (i = 0; i < n; i++)
        jw_metric(w, &m[i]);
    jw_close(w, "]");
}

enum ho_code run_metrics_to_json(const struct metric *m, size_t n, struct buf *out)
{
    struct jw w;

    jw_init(&w, out);
    jw_metrics(&w, m, n);
    return jw_end(&w);
}

static void jw_step(struct jw *w, const char *key, const struct run_step *s, const char *status)
{
    if (!s->present)
        return;
    jw_key(w, key);
    jw_open(w, "{");
    jw_kstr(w, "status", status);
    if (s->has_exit_code)
        jw_kint(w, "exit_code", s->exit_code);
    if (s->output != NULL)
        jw_kstr(w, "output", s->output);
    jw_kint(w, "duration_ms", s->duration_ms);
    jw_close(w, "}");
}

static void jw_run_head(struct jw *w, const struct run *r)
{
    char id[CRYPTO_UUID_LEN];

    memcpy(id, r->id, sizeof(id));
    id[sizeof(id) - 1] = '\0';
    jw_kstr(w, "id", id);
    jw_kstr(w, "package", r->package);
    if (r->version != NULL)
        jw_kstr(w, "version", r->version);
    jw_kstr(w, "check", r->check);
    jw_ktime(w, "started_at", r->started_at_ms);
    jw_kint(w, "duration_ms", r->duration_ms);
    jw_kbool(w, "manual", r->manual);
    if (r->manual && r->operator_name != NULL)
        jw_kstr(w, "operator", r->operator_name);
    if (r->interval_s != 0)
        jw_kint(w, "interval", r->interval_s);
    if (r->environment != NULL)
        jw_kstr(w, "environment", r->environment);
    if (r->ntags > 0) {
        size_t i;

        jw_key(w, "tags");
        jw_open(w, "{");
        for (i = 0; i < r->ntags; i++)
            jw_kstr(w, r->tags[i].key, r->tags[i].value);
        jw_close(w, "}");
    }
}

static void jw_kstr_opt(struct jw *w, const char *k, const char *v)
{
    if (v != NULL)
        jw_kstr(w, k, v);
}

static void jw_alert(struct jw *w, const struct run_alert *a)
{
    size_t i;

    jw_key(w, "alert");
    jw_open(w, "{");
    jw_kstr_opt(w, "severity", a->severity);
    jw_kstr_opt(w, "runbook", a->runbook);
    if (a->ndocs > 0) {
        jw_key(w, "docs");
        jw_open(w, "[");
        for (i = 0; i < a->ndocs; i++) {
            jw_sep(w);
            jw_str(w, a->docs[i]);
        }
        jw_close(w, "]");
    }
    jw_kstr_opt(w, "advice", a->advice);
    jw_kstr_opt(w, "changelog", a->changelog);
    jw_kstr_opt(w, "login", a->login);
    jw_close(w, "}");
}

enum ho_code run_to_json(const struct run *r, struct buf *out)
{
    struct jw w;

    jw_init(&w, out);
    jw_open(&w, "{");
    jw_run_head(&w, r);
    jw_step(&w, "test", &r->test, test_status_str((enum test_status)r->test.status));
    jw_step(&w, "repair", &r->repair, repair_status_str((enum repair_status)r->repair.status));
    jw_step(&w, "retest", &r->retest, test_status_str((enum test_status)r->retest.status));
    jw_kstr(&w, "outcome", run_outcome_str(r->outcome));
    jw_key(&w, "metrics");
    jw_metrics(&w, r->metrics, r->nmetrics);
    if (r->alert != NULL)
        jw_alert(&w, r->alert);
    if (r->agent_id != NULL)
        jw_kstr(&w, "agent_id", r->agent_id);
    if (r->agent_name != NULL)
        jw_kstr(&w, "agent", r->agent_name);
    if (r->received_at_ms != 0)
        jw_ktime(&w, "received_at", r->received_at_ms);
    jw_close(&w, "}");
    return jw_end(&w);
}
