/*
 * The alert delivery thread: sends the due rows of the alert outbox with
 * common/httpc, one client per receiver (its timeout, connections kept
 * alive), and records each answer as the receiver module classifies it
 * (receiver.h): delivered; retried after an exponential backoff with jitter
 * (1 s doubling to 5 min, at least Retry-After), kept in the row so it holds
 * across restarts; or refused for good (other 4xx): the row is marked failed
 * with the reason, counted against the receiver, and the alert is encoded
 * for the receiver's fallback (one level: a fallback's own refusal is final,
 * and periodic Alertmanager re-sends do not fall back).
 *
 * Rows of one alert reach one receiver in order (store_outbox_due). Logs name
 * the receiver, the alert and the HTTP status only: never a URL (a Slack URL
 * is itself the secret), a header or a body.
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
#include "httpc.h"
#include "log.h"
#include "mem.h"
#include "receiver.h"
#include "store_alerts.h"
#include "utf8.h"

#define DELIVER_BATCH       16
#define DELIVER_POLL_MS     1000
#define DELIVER_ANSWER_MAX  (64u * 1024)
#define DELIVER_ERROR_BODY  200 /* bytes of an answer kept in last_error */
#define DELIVER_MAX_HEADERS 64
#define DELIVER_CONNECT_MS  5000

static uint32_t deliver_random(struct alerts *a)
{
    uint32_t x = a->rnd;

    x ^= x << 13;
    x ^= x >> 17;
    x ^= x << 5;
    a->rnd = x != 0 ? x : 0x9e3779b9u;
    return a->rnd;
}

/* The client of receiver i, made on first use. */
static struct httpc *deliver_client(struct alerts *a, size_t i)
{
    struct httpc_opts o;
    long t;

    if (a->http == NULL)
        a->http = xcalloc(receivers_count(a->rs), sizeof(*a->http));
    if (a->http[i] == NULL) {
        memset(&o, 0, sizeof(o));
        t = (long)receiver_timeout_s(a->rs, i) * 1000;
        o.timeout_ms = t > 0 ? t : RECEIVER_TIMEOUT_DEF * 1000L;
        o.connect_timeout_ms =
            o.timeout_ms < DELIVER_CONNECT_MS ? o.timeout_ms : DELIVER_CONNECT_MS;
        if (httpc_new(&o, &a->http[i]) != HO_OK)
            a->http[i] = NULL;
    }
    return a->http[i];
}

void alerts_deliver_cleanup(struct alerts *a)
{
    size_t i;

    if (a->http == NULL)
        return;
    for (i = 0; i < receivers_count(a->rs); i++)
        httpc_free(a->http[i]);
    free(a->http);
    a->http = NULL;
}

/* "HTTP 400: first bytes of the answer" with control characters as spaces (a new string). */
static char *deliver_http_error(long status, const char *body, size_t len)
{
    char excerpt[DELIVER_ERROR_BODY + 1];
    size_t i, n = utf8_cut(body, len, DELIVER_ERROR_BODY);
    for (i = 0; i < n; i++)
        excerpt[i] = (unsigned char)body[i] < 0x20 || body[i] == 0x7f ? ' ' : body[i];
    excerpt[n] = '\0';
    while (n > 0 && excerpt[n - 1] == ' ')
        excerpt[--n] = '\0';
    return n > 0 ? xasprintf("HTTP %ld: %s", status, excerpt) : xasprintf("HTTP %ld", status);
}

/* Splits the stored "\n"-joined header lines (modified in place) into lines. */
static size_t deliver_split_headers(char *h, const char *lines[DELIVER_MAX_HEADERS])
{
    size_t n = 0;
    char *p = h, *nl;

    while (p != NULL && *p != '\0' && n < DELIVER_MAX_HEADERS) {
        nl = strchr(p, '\n');
        if (nl != NULL)
            *nl = '\0';
        lines[n++] = p;
        p = nl != NULL ? nl + 1 : NULL;
    }
    return n;
}

/*
 * Encodes the alert of row for receiver j (the fallback) into a one-message
 * batch; everything it points to lives in enc, hdr and errbuf until the caller
 * cleans up.
 */
static void deliver_fallback(struct alerts *a, const struct store_outbox_row *row, size_t j,
                             int64_t now_ms, struct store_outbox_msg *m, struct receiver_msg *enc,
                             char **errbuf, char **hdr)
{
    struct store_alert s;
    struct alert_view v;
    struct ho_error err;

    memset(m, 0, sizeof(*m));
    m->receiver = receiver_name(a->rs, j);
    if (store_alert_get(a->store, row->alert_id, &s) != HO_OK) {
        *errbuf = xstrdup("could not read the alert");
        m->error = *errbuf;
        return;
    }
    alerts_view_make(a, &s,
                     strcmp(row->event, "resolve") == 0 ? ALERT_EVENT_RESOLVE : ALERT_EVENT_TRIGGER,
                     now_ms, &v);
    ho_error_clear(&err);
    if (receiver_encode(a->rs, j, &v.a, enc, &err) != HO_OK) {
        *errbuf = xasprintf("could not encode the alert: %s%s%s", err.field,
                            err.field[0] != '\0' ? ": " : "", err.msg);
        m->error = *errbuf;
    } else {
        *hdr = alerts_join_headers(enc);
        m->url = enc->url;
        m->content_type = enc->content_type;
        m->headers = *hdr;
        m->body = enc->body;
        m->body_len = enc->body_len;
    }
    alert_view_cleanup(&v);
    store_alert_cleanup(&s);
}

/* Records a refusal of row by receiver i, queuing its fallback when it has one. */
static void deliver_rejected(struct alerts *a, const struct store_outbox_row *row, int i,
                             long status, const char *error, int64_t now_ms)
{
    struct store_outbox_batch fb;
    struct store_outbox_msg m;
    struct receiver_msg enc;
    char *errbuf = NULL, *hdr = NULL;
    int j = i >= 0 ? receiver_fallback(a->rs, (size_t)i) : -1;
    int use = j >= 0 && row->fallback_of == 0 && strcmp(row->event, "resend") != 0;
    enum ho_code rc;

    memset(&enc, 0, sizeof(enc));
    memset(&fb, 0, sizeof(fb));
    if (use) {
        deliver_fallback(a, row, (size_t)j, now_ms, &m, &enc, &errbuf, &hdr);
        fb.event = row->event;
        fb.v = &m;
        fb.n = 1;
    }
    rc = store_outbox_record(a->store, row->id, row->receiver, STORE_OUTBOX_FAILED, status, error,
                             0, now_ms, row->alert_id, use ? &fb : NULL);
    if (rc != HO_OK)
        log_warnx("alerts: cannot record delivery %lld: %s", (long long)row->id, ho_code_str(rc));
    log_warnx("alerts: receiver %s refused alert %lld %s (status %ld)%s%s", row->receiver,
              (long long)row->alert_id, row->event, status, use ? "; sending to fallback " : "",
              use ? receiver_name(a->rs, (size_t)j) : "");
    receiver_msg_cleanup(&enc);
    if (hdr != NULL)
        crypto_wipe(hdr, strlen(hdr));
    free(hdr);
    free(errbuf);
    if (use)
        alerts_deliver_wake(a);
}

/* Sends one row and records what came of it. */
static void deliver_row(struct alerts *a, struct store_outbox_row *row, int64_t now_ms)
{
    const char *lines[DELIVER_MAX_HEADERS];
    struct httpc_response resp;
    struct ho_error err;
    enum receiver_verdict v;
    struct httpc *c = NULL;
    char *error = NULL;
    size_t nl = 0;
    int i = a->rs != NULL ? receiver_index(a->rs, row->receiver) : -1;
    long status = 0;
    int64_t delay;
    enum ho_code rc;

    memset(&resp, 0, sizeof(resp));
    if (i < 0) {
        deliver_rejected(a, row, -1, 0, "the receiver is no longer configured", now_ms);
        return;
    }
    c = deliver_client(a, (size_t)i);
    nl = row->headers != NULL ? deliver_split_headers(row->headers, lines) : 0;
    if (c == NULL || row->url == NULL || httpc_set_headers(c, lines, nl) != HO_OK) {
        deliver_rejected(a, row, i, 0,
                         c == NULL ? "no HTTP client" : "the message has an invalid header",
                         now_ms);
        return;
    }
    ho_error_clear(&err);
    rc = httpc_request(c, "POST", row->url, NULL, row->content_type, row->body, row->body_len, NULL,
                       DELIVER_ANSWER_MAX, &resp, &err);
    if (httpc_set_headers(c, NULL, 0) != HO_OK)
        log_warnx("alerts: cannot clear the request headers");
    if (rc == HO_OK) {
        status = resp.status;
        v = receiver_classify(a->rs, (size_t)i, status, resp.body, resp.body_len);
        error =
            v == RECEIVER_DELIVERED ? NULL : deliver_http_error(status, resp.body, resp.body_len);
    } else {
        v = RECEIVER_RETRY;
        error = xstrdup(rc == HO_ETIMEOUT  ? "no answer: timed out"
                        : rc == HO_ETOOBIG ? "answer too large"
                                           : "no answer: connection failed");
    }
    switch (v) {
    case RECEIVER_DELIVERED:
        rc = store_outbox_record(a->store, row->id, row->receiver, STORE_OUTBOX_DELIVERED, status,
                                 NULL, 0, now_ms, row->alert_id, NULL);
        log_info("alerts: alert %lld %s delivered to %s (status %ld)", (long long)row->alert_id,
                 row->event, row->receiver, status);
        break;
    case RECEIVER_RETRY:
        delay = alert_backoff_ms(row->attempts + 1, rc == HO_OK ? resp.retry_after_s : -1,
                                 deliver_random(a));
        rc = store_outbox_record(a->store, row->id, row->receiver, STORE_OUTBOX_RETRY, status,
                                 error, now_ms + delay, now_ms, row->alert_id, NULL);
        log_warnx("alerts: receiver %s: alert %lld %s not delivered (%s); retry in %lld ms",
                  row->receiver, (long long)row->alert_id, row->event,
                  status > 0 ? "error status" : "no answer", (long long)delay);
        break;
    case RECEIVER_REJECTED:
        deliver_rejected(a, row, i, status, error, now_ms);
        rc = HO_OK;
        break;
    }
    if (rc != HO_OK)
        log_warnx("alerts: cannot record delivery %lld: %s", (long long)row->id, ho_code_str(rc));
    free(error);
    httpc_response_cleanup(&resp);
}

static size_t deliver_batch(struct alerts *a, int64_t now_ms, size_t limit, int64_t *next_due)
{
    struct store_outbox_row *rows = NULL;
    size_t n = 0, i;

    *next_due = 0;
    if (store_outbox_due(a->store, now_ms, limit, &rows, &n, next_due) != HO_OK) {
        log_warnx("alerts: cannot read the outbox");
        return 0;
    }
    for (i = 0; i < n; i++)
        deliver_row(a, &rows[i], now_ms);
    store_outbox_rows_free(rows, n);
    return n;
}

size_t alerts_deliver_once(struct alerts *a, int64_t now_ms, size_t limit)
{
    int64_t next;

    return deliver_batch(a, now_ms, limit, &next);
}

static void deliver_deadline(struct timespec *ts, int64_t ms)
{
    clock_gettime(CLOCK_MONOTONIC, ts);
    ts->tv_sec += (time_t)(ms / 1000);
    ts->tv_nsec += (long)(ms % 1000) * 1000000L;
    if (ts->tv_nsec >= 1000000000L) {
        ts->tv_sec++;
        ts->tv_nsec -= 1000000000L;
    }
}

void *alerts_deliver_main(void *arg)
{
    struct alerts *a = arg;
    struct timespec until;
    uint64_t seen;
    int64_t next, wait, now;
    size_t n;

    for (;;) {
        pthread_mutex_lock(&a->mu);
        seen = a->dgen;
        if (a->stopping) {
            pthread_mutex_unlock(&a->mu);
            break;
        }
        pthread_mutex_unlock(&a->mu);
        now = clock_wall_ms();
        n = deliver_batch(a, now, DELIVER_BATCH, &next);
        if (n > 0)
            continue;
        wait = next > now && next - now < DELIVER_POLL_MS ? next - now : DELIVER_POLL_MS;
        deliver_deadline(&until, wait);
        pthread_mutex_lock(&a->mu);
        while (!a->stopping && a->dgen == seen) {
            if (pthread_cond_timedwait(&a->dcv, &a->mu, &until) == ETIMEDOUT)
                break;
        }
        pthread_mutex_unlock(&a->mu);
    }
    return NULL;
}
