/*
 * The alert engine (alerts.h; DESIGN.md section 8): the queue ingest feeds,
 * the evaluation thread, the sweep, and the writing of each alert change with
 * its outbox rows (one transaction, store_alert_apply).
 *
 * Evaluation reads the current state of an agent x check (not the run that
 * was queued), so runs arriving late or out of order cannot reopen or resolve
 * an alert against the newest state. The engine is the only writer of the
 * alerts table; the unique index on open keys guards it anyway.
 *
 * The sweep (every alerting.evaluate_every seconds) re-checks the open
 * alerts (silent agents heard from again, flapping windows draining, repeats
 * due, Alertmanager re-sends due) and looks for new silent agents and stale
 * checks. For agent_silent_after after the server starts it opens no silent
 * or stale alert: agents need that long to be heard from again after the
 * server itself was down. When the queue overflowed the sweep also re-reads
 * every failing check and re-evaluates every open alert.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "alerts.h"
#include "alerts_impl.h"
#include "app.h"
#include "clock.h"
#include "log.h"
#include "mem.h"
#include "receiver.h"
#include "run.h"
#include "store_alerts.h"
#include "urlsign.h"

#define ALERTS_DRAIN_MS 100 /* least time between two drains of the queue */

/* ---- keys and the queue ---- */

/* GET /api/v1/state finds a check's open alert by this key (state_head in store_sqlite.c). */
static void alerts_key(char *out, size_t size, const char *agent_id, const char *check)
{
    snprintf(out, size, "healops:%s:%s", agent_id, check);
}

static void item_cleanup(struct alerts_item *it)
{
    free(it->check);
    free(it->environment);
    run_alert_free(it->block);
    memset(it, 0, sizeof(*it));
}

void alerts_runs_stored(struct alerts *a, const char *agent_id, const struct run *const *runs,
                        const enum store_insert *res, size_t n)
{
    char key[STORE_ALERTS_KEY_MAX];
    struct alerts_item *it;
    const struct run *r;
    size_t i, added = 0;

    if (a == NULL)
        return;
    pthread_mutex_lock(&a->mu);
    for (i = 0; i < n; i++) {
        r = runs[i];
        if (res[i] != STORE_INSERT_ACCEPTED || strcmp(r->check, ALERTS_AGENT_CHECK) == 0)
            continue;
        if (r->outcome == RUN_OUTCOME_OK) {
            if (a->open.n == 0)
                continue;
            alerts_key(key, sizeof(key), agent_id, r->check);
            if (!alerts_oset_has(&a->open, key))
                continue;
        }
        if (a->qlen == ALERTS_QUEUE_MAX) {
            a->overflow = 1;
            continue;
        }
        it = &a->q[(a->qhead + a->qlen++) % ALERTS_QUEUE_MAX];
        snprintf(it->agent_id, sizeof(it->agent_id), "%s", agent_id);
        it->check = xstrdup(r->check);
        it->environment = r->environment != NULL ? xstrdup(r->environment) : NULL;
        it->block = run_alert_dup(r->alert);
        added++;
    }
    if (added > 0)
        pthread_cond_signal(&a->cv);
    pthread_mutex_unlock(&a->mu);
}

/* ---- encoding the outbox rows of one change (called inside the store transaction) ---- */

struct alerts_encode {
    struct alerts *a;
    struct store_alert *row; /* the alert as it will read after the change */
    enum alert_event ev;
    const char *event; /* outbox event name */
    int am_only;       /* only Alertmanager receivers (re-sends) */
    int64_t now_ms;
    struct store_outbox_msg *msgs;
    struct receiver_msg *enc; /* one per receiver */
    char **headers;           /* joined header lines per receiver */
    char **errors;
    size_t n;
    size_t nrecv;
};

char *alerts_join_headers(const struct receiver_msg *m)
{
    size_t i, len = 0;
    char *out;

    if (m->nheaders == 0)
        return NULL;
    for (i = 0; i < m->nheaders; i++)
        len += strlen(m->headers[i]) + 1;
    out = xmalloc(len + 1);
    out[0] = '\0';
    len = 0;
    for (i = 0; i < m->nheaders; i++) {
        size_t l = strlen(m->headers[i]);

        memcpy(out + len, m->headers[i], l);
        len += l;
        out[len++] = '\n';
    }
    out[len - 1] = '\0';
    return out;
}

void alerts_view_make(struct alerts *a, const struct store_alert *row, enum alert_event ev,
                      int64_t now_ms, struct alert_view *v)
{
    alert_view_init(v, row, ev, a->app->cfg.public_url);
    if (v->a.check != NULL && a->app->urlsign != NULL)
        v->graph_url = urlsign_graph_url(a->app->urlsign, a->app->cfg.public_url, row->agent_name,
                                         row->check, NULL, now_ms);
    v->a.graph_url = v->graph_url;
}

/* Encodes alert view v for receiver i into message slot k of e. */
static void alerts_encode_one(struct alerts_encode *e, const struct alert_view *v, size_t i)
{
    struct ho_error err;
    struct store_outbox_msg *m = &e->msgs[e->n];
    struct receiver_msg *r = &e->enc[e->n];

    ho_error_clear(&err);
    m->receiver = receiver_name(e->a->rs, i);
    if (receiver_encode(e->a->rs, i, &v->a, r, &err) != HO_OK) {
        e->errors[e->n] = xasprintf("could not encode the alert: %s%s%s", err.field,
                                    err.field[0] != '\0' ? ": " : "", err.msg);
        m->error = e->errors[e->n];
        log_warnx("alerts: alert %lld receiver %s: %s", (long long)v->a.id, m->receiver, m->error);
    } else {
        e->headers[e->n] = alerts_join_headers(r);
        m->url = r->url;
        m->content_type = r->content_type;
        m->headers = e->headers[e->n];
        m->body = r->body;
        m->body_len = r->body_len;
    }
    e->n++;
}

static enum ho_code alerts_encode_cb(void *ctx, int64_t alert_id, struct store_outbox_batch *out)
{
    struct alerts_encode *e = ctx;
    struct alert_view v;
    size_t i, nr = e->a->rs != NULL ? receivers_count(e->a->rs) : 0;

    e->row->id = alert_id;
    out->event = e->event;
    out->refresh = e->am_only;
    if (nr == 0)
        return HO_OK;
    e->msgs = xcalloc(nr, sizeof(*e->msgs));
    e->enc = xcalloc(nr, sizeof(*e->enc));
    e->headers = xcalloc(nr, sizeof(*e->headers));
    e->errors = xcalloc(nr, sizeof(*e->errors));
    e->nrecv = nr;
    alerts_view_make(e->a, e->row, e->ev, e->now_ms, &v);
    for (i = 0; i < nr; i++) {
        if (e->am_only && receiver_type(e->a->rs, i) != RECEIVER_ALERTMANAGER)
            continue;
        if (!receiver_matches(e->a->rs, i, &v.a))
            continue;
        alerts_encode_one(e, &v, i);
    }
    alert_view_cleanup(&v);
    out->v = e->msgs;
    out->n = e->n;
    return HO_OK;
}

static void alerts_encode_cleanup(struct alerts_encode *e)
{
    size_t i;

    for (i = 0; i < e->nrecv; i++) {
        receiver_msg_cleanup(&e->enc[i]);
        if (e->headers[i] != NULL)
            crypto_wipe(e->headers[i], strlen(e->headers[i]));
        free(e->headers[i]);
        free(e->errors[i]);
    }
    free(e->msgs);
    free(e->enc);
    free(e->headers);
    free(e->errors);
}

/*
 * Applies op to row (opening, resolving, repeating, re-sending) with the outbox
 * rows of event for every matching receiver, in one transaction.
 */
static enum ho_code alerts_apply(struct alerts *a, enum store_alert_op op, struct store_alert *row,
                                 const char *event, int64_t now_ms)
{
    struct alerts_encode e;
    int64_t id = 0;
    enum ho_code rc;

    memset(&e, 0, sizeof(e));
    e.a = a;
    e.row = row;
    e.ev = op == STORE_ALERT_RESOLVE ? ALERT_EVENT_RESOLVE : ALERT_EVENT_TRIGGER;
    e.event = event;
    e.am_only = op == STORE_ALERT_RESEND;
    e.now_ms = now_ms;
    rc = store_alert_apply(a->store, op, row, now_ms, event != NULL ? alerts_encode_cb : NULL, &e,
                           &id);
    alerts_encode_cleanup(&e);
    if (rc == HO_OK && e.n > 0)
        alerts_deliver_wake(a);
    if (rc == HO_OK)
        row->id = id;
    return rc;
}

/* ---- evaluating one agent x check ---- */

static char *alerts_dup(const char *s)
{
    return s != NULL ? xstrdup(s) : NULL;
}

/* Copies a manifest block's links and texts into c (login as given). */
static void alerts_context_block(struct alert_context *c, const char *runbook, const char *advice,
                                 const char *changelog, char *login, char *const *docs,
                                 size_t ndocs)
{
    size_t i;

    c->runbook = alerts_dup(runbook);
    c->advice = alerts_dup(advice);
    c->changelog = alerts_dup(changelog);
    c->login = login;
    if (ndocs > 0) {
        c->docs = xcalloc(ndocs, sizeof(*c->docs));
        for (i = 0; i < ndocs; i++)
            c->docs[i] = xstrdup(docs[i]);
        c->ndocs = ndocs;
    }
}

/*
 * The context of an alert on subject s: the newest run, plus the manifest block
 * of the queued run (it) or else the one the alert held (prev).
 */
static char *alerts_context(const struct store_alert_subject *s, const struct alerts_item *it,
                            const struct alert_context *prev, int repairs)
{
    struct alert_context c;
    const struct run_alert *b = it != NULL ? it->block : NULL;
    char t[CLOCK_RFC3339_LEN];
    char *json;

    memset(&c, 0, sizeof(c));
    c.consecutive_failures = -1;
    c.repairs_in_window = repairs;
    if (s->has_state) {
        c.version = alerts_dup(s->version);
        c.outcome = xstrdup(run_outcome_str((enum run_outcome)s->outcome));
        c.test_output = alert_excerpt(s->test_output, ALERTS_EXCERPT_MAX);
        c.repair_output = alert_excerpt(s->repair_output, ALERTS_EXCERPT_MAX);
        c.retest_output = alert_excerpt(s->retest_output, ALERTS_EXCERPT_MAX);
        clock_format_rfc3339(s->last_run_at_ms, t);
        c.last_run_at = xstrdup(t);
        c.consecutive_failures = s->consecutive_failures;
        c.interval_s = s->interval_s;
    }
    c.environment = alerts_dup(it != NULL && it->environment != NULL ? it->environment
                               : prev != NULL                        ? prev->environment
                                                                     : NULL);
    if (b != NULL)
        alerts_context_block(&c, b->runbook, b->advice, b->changelog,
                             alert_login_expand(b->login, s->agent_name), b->docs, b->ndocs);
    else if (prev != NULL)
        alerts_context_block(&c, prev->runbook, prev->advice, prev->changelog,
                             alerts_dup(prev->login), prev->docs, prev->ndocs);
    json = alert_context_to_json(&c);
    alert_context_cleanup(&c);
    return json;
}

static char *alerts_subject_summary(const struct alerts *a, enum alert_kind kind,
                                    const struct store_alert_subject *s, const char *check,
                                    int repairs, int64_t now_ms)
{
    const char *out = s->retest_output != NULL ? s->retest_output : s->test_output;
    char *detail = alert_first_line(out, 512), *sum;
    int64_t n = 0, w = 0;

    switch (kind) {
    case ALERT_KIND_FAILED:
        n = s->consecutive_failures;
        break;
    case ALERT_KIND_FLAPPING:
        n = repairs;
        w = a->rules.flap_window_ms / 1000;
        break;
    case ALERT_KIND_STALE:
        n = (now_ms - s->last_run_at_ms) / 1000;
        w = s->interval_s;
        break;
    case ALERT_KIND_SILENT:
        n = (now_ms - s->last_seen_ms) / 1000;
        break;
    case ALERT_KIND_GUARD:
        break;
    }
    sum = alert_summary(kind, s->agent_name, check, detail, n, w);
    free(detail);
    return sum;
}

/* A new alert row for subject s: key, agent, check and what the kind says. */
static void alerts_row_new(struct store_alert *row, const struct store_alert_subject *s,
                           const char *check, const char *key)
{
    int agent_level = strcmp(check, ALERTS_AGENT_CHECK) == 0;

    memset(row, 0, sizeof(*row));
    row->key = xstrdup(key);
    memcpy(row->agent_id, s->agent_id, sizeof(row->agent_id));
    row->agent_name = xstrdup(s->agent_name != NULL ? s->agent_name : s->agent_id);
    row->labels_json = s->labels_json != NULL ? xstrdup(s->labels_json) : NULL;
    row->check = xstrdup(check);
    row->package = !agent_level && s->package != NULL ? xstrdup(s->package) : NULL;
    row->last_run_id = s->has_state ? xstrdup(s->last_run_id) : NULL;
    row->count = 1;
}

static void alerts_open(struct alerts *a, const struct store_alert_subject *s, const char *check,
                        const char *key, enum alert_kind kind, const struct alerts_item *it,
                        int repairs, int64_t now_ms)
{
    const struct run_alert *b = it != NULL ? it->block : NULL;
    struct store_alert row;
    enum ho_code rc;

    alerts_row_new(&row, s, check, key);
    row.kind = xstrdup(alert_kind_str(kind));
    row.severity = xstrdup((kind == ALERT_KIND_FAILED || kind == ALERT_KIND_GUARD) && b != NULL &&
                                   b->severity != NULL
                               ? b->severity
                               : alert_default_severity(kind));
    row.summary = alerts_subject_summary(a, kind, s, check, repairs, now_ms);
    row.context_json = alerts_context(s, it, NULL, repairs);
    row.opened_at_ms = row.last_sent_at_ms = row.last_resend_at_ms = now_ms;
    rc = alerts_apply(a, STORE_ALERT_OPEN, &row, "trigger", now_ms);
    if (rc == HO_OK) {
        pthread_mutex_lock(&a->mu);
        alerts_oset_add(&a->open, key);
        pthread_mutex_unlock(&a->mu);
        log_info("alerts: alert %lld opened: %s %s %s/%s", (long long)row.id, row.kind,
                 row.severity, row.agent_name, check);
    } else if (rc != HO_EEXIST && rc != HO_ENOENT) {
        log_warnx("alerts: %s/%s: could not open a %s alert: %s", row.agent_name, check, row.kind,
                  ho_code_str(rc));
    }
    store_alert_cleanup(&row);
}

static void alerts_resolve(struct alerts *a, struct store_alert *open, int64_t now_ms)
{
    enum ho_code rc;

    open->resolved_at_ms = now_ms;
    rc = alerts_apply(a, STORE_ALERT_RESOLVE, open, "resolve", now_ms);
    if (rc != HO_OK && rc != HO_ENOENT) {
        log_warnx("alerts: alert %lld: could not resolve: %s", (long long)open->id,
                  ho_code_str(rc));
        return;
    }
    pthread_mutex_lock(&a->mu);
    alerts_oset_del(&a->open, open->key);
    pthread_mutex_unlock(&a->mu);
    log_info("alerts: alert %lld resolved: %s %s/%s", (long long)open->id, open->kind,
             open->agent_name, open->check);
}

/*
 * Keeps the newest run and manifest block in the open alert (nothing is sent),
 * at most once per evaluate_every per alert: a check failing every second must
 * not cost a write per run.
 */
static void alerts_refresh(struct alerts *a, struct store_alert_subject *s, const char *check,
                           enum alert_kind kind, const struct alerts_item *it, int repairs,
                           int64_t now_ms)
{
    struct alert_context prev;
    struct store_alert row;
    enum ho_code rc;
    int due;

    if (it == NULL || !s->has_state)
        return;
    if (s->open.last_run_id != NULL && strcmp(s->open.last_run_id, s->last_run_id) == 0)
        return;
    pthread_mutex_lock(&a->mu);
    due = alerts_oset_refresh_due(&a->open, s->open.key, now_ms, a->evaluate_every_ms);
    pthread_mutex_unlock(&a->mu);
    if (!due)
        return;
    alert_context_parse(s->open.context_json, &prev);
    memset(&row, 0, sizeof(row));
    row.id = s->open.id;
    row.summary = alerts_subject_summary(a, kind, s, check, repairs, now_ms);
    row.context_json = alerts_context(s, it, &prev, repairs);
    row.last_run_id = xstrdup(s->last_run_id);
    if ((kind == ALERT_KIND_FAILED || kind == ALERT_KIND_GUARD) && it->block != NULL &&
        it->block->severity != NULL)
        row.severity = xstrdup(it->block->severity);
    rc = store_alert_apply(a->store, STORE_ALERT_UPDATE, &row, now_ms, NULL, NULL, NULL);
    if (rc != HO_OK && rc != HO_ENOENT)
        log_warnx("alerts: alert %lld: could not update: %s", (long long)row.id, ho_code_str(rc));
    alert_context_cleanup(&prev);
    store_alert_cleanup(&row);
}

static int alerts_in_grace(const struct alerts *a, int64_t now_ms)
{
    return now_ms - a->started_at_ms < a->rules.silent_after_ms;
}

/* The silent rule of one agent (check "-"); 1 when it resolved the open alert. */
static int alerts_eval_agent(struct alerts *a, struct store_alert_subject *s, const char *key,
                             int64_t now_ms)
{
    int silent = alert_rules_silent(&a->rules, s->last_seen_ms, now_ms);

    if (s->has_open && !silent) {
        alerts_resolve(a, &s->open, now_ms);
        return 1;
    }
    if (!s->has_open && silent && !alerts_in_grace(a, now_ms))
        alerts_open(a, s, ALERTS_AGENT_CHECK, key, ALERT_KIND_SILENT, NULL, -1, now_ms);
    return 0;
}

/* What the rules need from subject s of check (the repairs counted only when they matter). */
static void alerts_facts(struct alerts *a, const struct store_alert_subject *s, const char *check,
                         enum alert_kind open_kind, int64_t now_ms, struct alert_facts *f)
{
    memset(f, 0, sizeof(*f));
    f->has_state = s->has_state;
    f->outcome = s->outcome;
    f->repair_status = s->repair_status;
    f->consecutive_failures = s->consecutive_failures;
    f->last_run_at_ms = s->last_run_at_ms;
    f->interval_s = s->interval_s;
    f->agent_alive = s->last_seen_ms > 0 &&
                     !alert_rules_silent(&a->rules, s->last_seen_ms, now_ms) &&
                     !alerts_in_grace(a, now_ms);
    f->repairs_in_window = -1;
    f->has_open = s->has_open;
    f->open_kind = open_kind;
    if (s->has_state &&
        (s->outcome == RUN_OUTCOME_REPAIRED || (s->has_open && open_kind == ALERT_KIND_FLAPPING)) &&
        store_alert_repairs_count(app_alerts_reads(a->app), s->agent_rowid, check,
                                  now_ms - a->rules.flap_window_ms, &f->repairs_in_window) != HO_OK)
        f->repairs_in_window = -1;
}

/* Puts the run that ends the open alert of s into its context, so the resolve carries it. */
static void alerts_resolve_context(struct store_alert_subject *s, const struct alerts_item *it,
                                   int repairs)
{
    struct alert_context prev;

    if (!s->has_state)
        return;
    alert_context_parse(s->open.context_json, &prev);
    free(s->open.context_json);
    s->open.context_json = alerts_context(s, it, &prev, repairs);
    free(s->open.last_run_id);
    s->open.last_run_id = xstrdup(s->last_run_id);
    alert_context_cleanup(&prev);
}

/*
 * Evaluates agent_id x check (it: what the queue knew, may be NULL). Returns 1
 * when an alert was open for the key and still is.
 */
static int alerts_eval(struct alerts *a, const char *agent_id, const char *check,
                       const struct alerts_item *it, int64_t now_ms)
{
    char key[STORE_ALERTS_KEY_MAX];
    struct store_alert_subject s;
    struct alert_facts f;
    struct alert_decision d;
    enum alert_kind open_kind = ALERT_KIND_FAILED;
    int resolved = 0, had;
    enum ho_code rc;

    alerts_key(key, sizeof(key), agent_id, check);
    rc = store_alert_subject_get(app_alerts_reads(a->app), agent_id, check, key, &s);
    if (rc != HO_OK) {
        if (rc != HO_ENOENT)
            log_warnx("alerts: %s/%s: cannot read the state: %s", agent_id, check, ho_code_str(rc));
        return 0;
    }
    if (s.has_open && alert_kind_parse(s.open.kind, &open_kind) != HO_OK)
        open_kind = ALERT_KIND_FAILED;
    if (strcmp(check, ALERTS_AGENT_CHECK) == 0) {
        resolved = alerts_eval_agent(a, &s, key, now_ms);
        goto out;
    }
    alerts_facts(a, &s, check, open_kind, now_ms, &f);
    alert_rules_check(&a->rules, &f, now_ms, &d);
    resolved = d.resolve;
    if (d.resolve) {
        alerts_resolve_context(&s, it, f.repairs_in_window);
        alerts_resolve(a, &s.open, now_ms);
    }
    if (d.open)
        alerts_open(a, &s, check, key, d.kind, it, f.repairs_in_window, now_ms);
    else if (s.has_open && !d.resolve)
        alerts_refresh(a, &s, check, open_kind, it, f.repairs_in_window, now_ms);
out:
    had = s.has_open;
    store_alert_subject_cleanup(&s);
    return had && !resolved;
}

/* Repeats or re-sends open alert o when due. */
static void alerts_send_again(struct alerts *a, struct store_alert *o, int64_t now_ms)
{
    enum ho_code rc = HO_OK;

    if (alert_rules_repeat_due(&a->rules, o->last_sent_at_ms, now_ms)) {
        o->count++;
        o->last_sent_at_ms = o->last_resend_at_ms = now_ms;
        rc = alerts_apply(a, STORE_ALERT_REPEAT, o, "repeat", now_ms);
        if (rc == HO_OK)
            log_info("alerts: alert %lld repeated (%d)", (long long)o->id, o->count);
    } else if (a->am_resend_ms > 0 && now_ms - o->last_resend_at_ms >= a->am_resend_ms) {
        o->last_resend_at_ms = now_ms;
        rc = alerts_apply(a, STORE_ALERT_RESEND, o, "resend", now_ms);
    }
    if (rc != HO_OK && rc != HO_ENOENT)
        log_warnx("alerts: alert %lld: could not queue it again: %s", (long long)o->id,
                  ho_code_str(rc));
}

/* Rebuilds the set of open keys from the store. */
static void alerts_load_open(struct alerts *a)
{
    struct store_alert *v = NULL;
    size_t n = 0, i;

    if (store_alerts_open_list(a->store, &v, &n) != HO_OK) {
        log_warnx("alerts: cannot read the open alerts");
        return;
    }
    pthread_mutex_lock(&a->mu);
    alerts_oset_clear(&a->open);
    for (i = 0; i < n; i++)
        alerts_oset_add(&a->open, v[i].key);
    pthread_mutex_unlock(&a->mu);
    store_alerts_free(v, n);
}

typedef enum ho_code (*alerts_scan_fn)(struct alerts *a, int64_t now_ms,
                                       struct store_alert_key **out, size_t *n);

static enum ho_code alerts_scan_silent(struct alerts *a, int64_t now_ms,
                                       struct store_alert_key **out, size_t *n)
{
    return store_alerts_silent_candidates(a->store, now_ms - a->rules.silent_after_ms, out, n);
}

static enum ho_code alerts_scan_stale(struct alerts *a, int64_t now_ms,
                                      struct store_alert_key **out, size_t *n)
{
    return store_alerts_stale_candidates(a->store, now_ms, now_ms - a->rules.silent_after_ms, out,
                                         n);
}

static enum ho_code alerts_scan_failing(struct alerts *a, int64_t now_ms,
                                        struct store_alert_key **out, size_t *n)
{
    (void)now_ms;
    return store_alerts_failing_candidates(a->store, a->rules.after_failures, out, n);
}

/* Evaluates every candidate scan finds. */
static void alerts_scan(struct alerts *a, alerts_scan_fn scan, const char *what, int64_t now_ms)
{
    struct store_alert_key *v = NULL;
    size_t n = 0, i;

    if (scan(a, now_ms, &v, &n) != HO_OK) {
        log_warnx("alerts: sweep: cannot list %s", what);
        return;
    }
    for (i = 0; i < n; i++)
        (void)alerts_eval(a, v[i].agent_id, v[i].check, NULL, now_ms);
    store_alert_keys_free(v, n);
}

static void alerts_sweep(struct alerts *a, int64_t now_ms, int reconcile)
{
    struct store_alert *open = NULL;
    enum alert_kind kind;
    size_t n = 0, i;

    if (store_alerts_open_list(a->store, &open, &n) != HO_OK) {
        log_warnx("alerts: sweep: cannot read the open alerts");
        return;
    }
    for (i = 0; i < n; i++) {
        if (alert_kind_parse(open[i].kind, &kind) != HO_OK)
            kind = ALERT_KIND_FAILED;
        if ((reconcile || kind == ALERT_KIND_SILENT || kind == ALERT_KIND_FLAPPING ||
             kind == ALERT_KIND_STALE) &&
            !alerts_eval(a, open[i].agent_id, open[i].check, NULL, now_ms))
            continue;
        alerts_send_again(a, &open[i], now_ms);
    }
    store_alerts_free(open, n);
    if (!alerts_in_grace(a, now_ms)) {
        alerts_scan(a, alerts_scan_silent, "silent agents", now_ms);
        if (a->rules.stale)
            alerts_scan(a, alerts_scan_stale, "stale checks", now_ms);
    }
    if (reconcile) {
        log_warnx("alerts: the evaluation queue overflowed; re-reading every failing check");
        alerts_scan(a, alerts_scan_failing, "failing checks", now_ms);
        alerts_load_open(a);
    }
}

/* Orders queued items by agent, check, then arrival, so the newest of each key comes last. */
struct alerts_pos {
    const struct alerts_item *it;
    size_t idx;
};

static int alerts_pos_cmp(const void *x, const void *y)
{
    const struct alerts_pos *p = x, *q = y;
    int c = strcmp(p->it->agent_id, q->it->agent_id);

    if (c == 0)
        c = strcmp(p->it->check, q->it->check);
    if (c == 0)
        c = p->idx < q->idx ? -1 : p->idx > q->idx;
    return c;
}

/* Evaluates each distinct check of items once, with the newest run's block and environment. */
static void alerts_drain(struct alerts *a, struct alerts_item *items, size_t n, int64_t now_ms)
{
    struct alerts_pos *pos = xcalloc(n + 1, sizeof(*pos));
    struct alerts_item merged;
    size_t i, j;

    for (i = 0; i < n; i++) {
        pos[i].it = &items[i];
        pos[i].idx = i;
    }
    qsort(pos, n, sizeof(*pos), alerts_pos_cmp);
    for (i = 0; i < n; i = j) {
        merged = *pos[i].it;
        for (j = i + 1; j < n && strcmp(pos[j].it->agent_id, pos[i].it->agent_id) == 0 &&
                        strcmp(pos[j].it->check, pos[i].it->check) == 0;
             j++) {
            if (pos[j].it->block != NULL)
                merged.block = pos[j].it->block;
            if (pos[j].it->environment != NULL)
                merged.environment = pos[j].it->environment;
        }
        (void)alerts_eval(a, merged.agent_id, merged.check, &merged, now_ms);
    }
    free(pos);
}

void alerts_tick(struct alerts *a, int64_t now_ms, int force_sweep)
{
    struct alerts_item *items;
    size_t n, i;
    int overflow;

    pthread_mutex_lock(&a->mu);
    n = a->qlen;
    items = xcalloc(n + 1, sizeof(*items));
    for (i = 0; i < n; i++) {
        items[i] = a->q[(a->qhead + i) % ALERTS_QUEUE_MAX];
        memset(&a->q[(a->qhead + i) % ALERTS_QUEUE_MAX], 0, sizeof(items[i]));
    }
    a->qhead = (a->qhead + n) % ALERTS_QUEUE_MAX;
    a->qlen = 0;
    overflow = a->overflow;
    a->overflow = 0;
    pthread_mutex_unlock(&a->mu);
    if (n > 0)
        alerts_drain(a, items, n, now_ms);
    for (i = 0; i < n; i++)
        item_cleanup(&items[i]);
    free(items);
    if (force_sweep || overflow || now_ms >= a->next_sweep_ms) {
        alerts_sweep(a, now_ms, overflow);
        a->next_sweep_ms = now_ms + a->evaluate_every_ms;
    }
}

/* ---- threads and lifecycle ---- */

static void alerts_deadline(struct timespec *ts, int64_t ms)
{
    clock_gettime(CLOCK_MONOTONIC, ts);
    ts->tv_sec += (time_t)(ms / 1000);
    ts->tv_nsec += (long)(ms % 1000) * 1000000L;
    if (ts->tv_nsec >= 1000000000L) {
        ts->tv_sec++;
        ts->tv_nsec -= 1000000000L;
    }
}

/*
 * Drains the queue at most every ALERTS_DRAIN_MS, so the runs of one check that
 * arrive together are evaluated once, and sweeps when due.
 */
static void *alerts_eval_main(void *arg)
{
    struct alerts *a = arg;
    struct timespec until;
    int64_t wait, last_drain = 0;

    pthread_mutex_lock(&a->mu);
    while (!a->stopping) {
        wait = a->qlen == 0 ? a->next_sweep_ms - clock_wall_ms()
                            : last_drain + ALERTS_DRAIN_MS - clock_mono_ms();
        if (wait > 0) {
            alerts_deadline(&until, wait < 1000 ? wait : 1000);
            (void)pthread_cond_timedwait(&a->cv, &a->mu, &until);
            continue;
        }
        pthread_mutex_unlock(&a->mu);
        last_drain = clock_mono_ms();
        alerts_tick(a, clock_wall_ms(), 0);
        pthread_mutex_lock(&a->mu);
    }
    pthread_mutex_unlock(&a->mu);
    return NULL;
}

void alerts_deliver_wake(struct alerts *a)
{
    pthread_mutex_lock(&a->mu);
    a->dgen++;
    pthread_cond_signal(&a->dcv);
    pthread_mutex_unlock(&a->mu);
}

struct alerts *alerts_new(struct app *app, struct receivers *rs)
{
    struct alerts *a = xcalloc(1, sizeof(*a));
    const struct server_config *c = &app->cfg;
    pthread_condattr_t ca;
    size_t i;

    a->app = app;
    a->store = app->store;
    a->rs = rs;
    a->rules.after_failures = (int)c->alert_after_failures;
    a->rules.repeat_every_ms = c->alert_repeat_every * 1000;
    a->rules.silent_after_ms = c->agent_silent_after * 1000;
    a->rules.flap_repairs = (int)c->alert_flap_repairs;
    a->rules.flap_window_ms = c->alert_flap_window * 1000;
    a->rules.stale = c->alert_stale;
    a->evaluate_every_ms = c->alert_evaluate_every * 1000;
    for (i = 0; rs != NULL && i < receivers_count(rs); i++) {
        if (receiver_type(rs, i) == RECEIVER_ALERTMANAGER)
            a->am_resend_ms = c->alert_am_resend * 1000;
    }
    if (rs != NULL && a->am_resend_ms > 0)
        receivers_set_alertmanager_resend(rs, a->am_resend_ms);
    a->started_at_ms = app->started_at_ms != 0 ? app->started_at_ms : clock_wall_ms();
    a->rnd = (uint32_t)clock_mono_ms() | 1u;
    a->q = xcalloc(ALERTS_QUEUE_MAX, sizeof(*a->q));
    pthread_mutex_init(&a->mu, NULL);
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&a->cv, &ca);
    pthread_cond_init(&a->dcv, &ca);
    pthread_condattr_destroy(&ca);
    alerts_load_open(a);
    return a;
}

enum ho_code alerts_start(struct alerts *a, struct ho_error *err)
{
    if (pthread_create(&a->eval_thread, NULL, alerts_eval_main, a) != 0)
        return ho_error_set(err, HO_EIO, NULL, "alerts: cannot start the evaluation thread");
    a->eval_started = 1;
    if (pthread_create(&a->deliver_thread, NULL, alerts_deliver_main, a) != 0)
        return ho_error_set(err, HO_EIO, NULL, "alerts: cannot start the delivery thread");
    a->deliver_started = 1;
    log_info("alerts: %zu receivers, evaluated every %lld s", a->rs ? receivers_count(a->rs) : 0,
             (long long)(a->evaluate_every_ms / 1000));
    return HO_OK;
}

void alerts_free(struct alerts *a)
{
    size_t i;

    if (a == NULL)
        return;
    pthread_mutex_lock(&a->mu);
    a->stopping = 1;
    pthread_cond_broadcast(&a->cv);
    pthread_cond_broadcast(&a->dcv);
    pthread_mutex_unlock(&a->mu);
    if (a->eval_started)
        pthread_join(a->eval_thread, NULL);
    if (a->deliver_started)
        pthread_join(a->deliver_thread, NULL);
    alerts_deliver_cleanup(a);
    for (i = 0; i < a->qlen; i++)
        item_cleanup(&a->q[(a->qhead + i) % ALERTS_QUEUE_MAX]);
    free(a->q);
    alerts_oset_clear(&a->open);
    receivers_free(a->rs);
    pthread_cond_destroy(&a->cv);
    pthread_cond_destroy(&a->dcv);
    pthread_mutex_destroy(&a->mu);
    free(a);
}

const struct receivers *alerts_receivers(const struct alerts *a)
{
    return a != NULL ? a->rs : NULL;
}
