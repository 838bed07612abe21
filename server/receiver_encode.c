/*
 * The receiver encoders: one alert (server/alert.h) becomes the HTTP request
 * each service documents (INTEGRATIONS.md): PagerDuty Events API v2 (section
 * 5), Opsgenie / Jira Service Management alerts, create and close by alias
 * (section 6), a Slack incoming-webhook message with Block Kit blocks (section
 * 7), an Alertmanager API v2 postable alert (section 8), and HealOps' own
 * generic webhook JSON. A codec module: cJSON builds the bodies here.
 *
 * Every text is made valid UTF-8 (a bad byte becomes U+FFFD) and cut at the
 * service's documented limit on a character boundary, ending in "…", so a
 * long check output never makes a service refuse the whole alert.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "alert.h"
#include "clock.h"
#include "crypto.h"
#include "log.h"
#include "mem.h"
#include "receiver_impl.h"
#include "run.h"
#include "utf8.h"

#define ENC_ONE_LINE 1u /* newlines and tabs become spaces */
#define ENC_MRKDWN   2u /* Slack mrkdwn: & < > as entities */
#define ENC_NOLIMIT  ((size_t)-1)
#define ENC_ELLIPSIS "\xE2\x80\xA6"

/* Service limits (INTEGRATIONS.md sections 5-7). */
#define PD_SUMMARY_MAX      1024
#define PD_DEDUP_MAX        255
#define OG_MESSAGE_CHARS    130
#define OG_ALIAS_MAX        512
#define OG_DESCRIPTION_MAX  15000
#define OG_DETAILS_MAX      8000
#define OG_DETAIL_VALUE_MAX 1000
#define OG_TAGS_MAX         20
#define OG_TAG_CHARS        50
#define OG_ENTITY_MAX       512
#define SLACK_HEADER_CHARS  150
#define SLACK_TEXT_MAX      3000
#define SLACK_IMAGE_URL_MAX 3000
#define SLACK_ALT_MAX       2000
#define SLACK_CONTEXT_MAX   10

/* ---- text ---- */

/*
 * A new copy of s (NULL is ""), valid UTF-8, at most max_bytes bytes and
 * max_chars characters (each >= 4 or ENC_NOLIMIT); when cut, it ends in "…".
 */
static char *enc_text(const char *s, size_t max_bytes, size_t max_chars, unsigned flags)
{
    const unsigned char *u = (const unsigned char *)(s != NULL ? s : "");
    size_t n = strlen((const char *)u), i = 0, o = 0, chars = 0, cut = 0, len, plen;
    char *out = xmalloc(5 * n + sizeof(ENC_ELLIPSIS));
    const char *piece;

    while (i < n) {
        len = 1;
        piece = (const char *)u + i;
        plen = 1;
        if (u[i] >= 0x80) {
            len = utf8_seq_len(u + i, n - i);
            plen = len;
            if (len == 0) {
                piece = "\xEF\xBF\xBD";
                plen = 3;
                len = 1;
            }
        } else if ((flags & ENC_ONE_LINE) && (u[i] == '\n' || u[i] == '\r' || u[i] == '\t')) {
            piece = " ";
        } else if ((flags & ENC_MRKDWN) && (u[i] == '&' || u[i] == '<' || u[i] == '>')) {
            piece = u[i] == '&' ? "&amp;" : u[i] == '<' ? "&lt;" : "&gt;";
            plen = strlen(piece);
        }
        memcpy(out + o, piece, plen);
        o += plen;
        chars++;
        i += len;
        if (o + 3 <= max_bytes && chars + 1 <= max_chars)
            cut = o;
    }
    if (o > max_bytes || chars > max_chars) {
        memcpy(out + cut, ENC_ELLIPSIS, sizeof(ENC_ELLIPSIS));
        o = cut + 3;
    }
    out[o] = '\0';
    return out;
}

/* Adds key: text of v cut as enc_text says; nothing when v is NULL. */
static void enc_add(cJSON *o, const char *key, const char *v, size_t max_bytes, size_t max_chars,
                    unsigned flags)
{
    char *t;

    if (v == NULL)
        return;
    t = enc_text(v, max_bytes, max_chars, flags);
    cJSON_AddStringToObject(o, key, t);
    free(t);
}

/* Adds key: v (valid UTF-8, whole) or null. */
static void enc_add_or_null(cJSON *o, const char *key, const char *v)
{
    if (v == NULL)
        cJSON_AddNullToObject(o, key);
    else
        enc_add(o, key, v, ENC_NOLIMIT, ENC_NOLIMIT, 0);
}

static void enc_add_time(cJSON *o, const char *key, int64_t ms)
{
    char t[CLOCK_RFC3339_LEN];

    clock_format_rfc3339(ms, t);
    cJSON_AddStringToObject(o, key, t);
}

/* Percent-encodes every byte but the RFC 3986 unreserved ones; a new string. */
static char *enc_urlencode(const char *s)
{
    static const char hex[] = "0123456789ABCDEF";
    size_t i, o = 0, n = strlen(s);
    char *out = xmalloc(3 * n + 1);

    for (i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];

        if ((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
            c == '-' || c == '.' || c == '_' || c == '~') {
            out[o++] = (char)c;
        } else {
            out[o++] = '%';
            out[o++] = hex[c >> 4];
            out[o++] = hex[c & 15];
        }
    }
    out[o] = '\0';
    return out;
}

static int enc_is_url(const char *s)
{
    return s != NULL && (strncmp(s, "https://", 8) == 0 || strncmp(s, "http://", 7) == 0);
}

/* The alert's key as is, or "healops:sha256:HEX" of it when longer than max. */
static char *enc_key(const char *key, size_t max)
{
    char hex[CRYPTO_SHA256_HEX_LEN];

    if (strlen(key) <= max)
        return enc_text(key, ENC_NOLIMIT, ENC_NOLIMIT, 0);
    crypto_sha256_hex(key, strlen(key), hex);
    return xasprintf("healops:sha256:%s", hex);
}

/* The alert's summary, or one made of its parts; a new string. */
static char *enc_summary(const struct alert *a)
{
    if (a->summary != NULL && a->summary[0] != '\0')
        return xstrdup(a->summary);
    return xasprintf("%s %s %s", a->agent_name != NULL ? a->agent_name : "agent",
                     a->check != NULL ? a->check : "-", alert_kind_str(a->kind));
}

/* "PUBLIC_URL/" from the dashboard link "PUBLIC_URL/#/check/...", NULL when none. */
static char *enc_public_url(const struct alert *a)
{
    const char *h;

    if (!enc_is_url(a->dashboard_url))
        return NULL;
    h = strstr(a->dashboard_url, "/#");
    if (h == NULL)
        return NULL;
    return xstrndup(a->dashboard_url, (size_t)(h - a->dashboard_url) + 1);
}

static int enc_resolve(const struct alert *a)
{
    return a->event == ALERT_EVENT_RESOLVE;
}

/* Sets the body of m from tree (deleted) as JSON. */
static void enc_body(struct receiver_msg *m, cJSON *tree)
{
    m->body = cJSON_PrintUnformatted(tree);
    cJSON_Delete(tree);
    if (m->body == NULL) {
        log_error("receiver: out of memory printing JSON");
        abort();
    }
    m->body_len = strlen(m->body);
    m->content_type = xstrdup("application/json");
}

static void enc_header(struct receiver_msg *m, char *line)
{
    m->headers = xrealloc(m->headers, (m->nheaders + 1) * sizeof(*m->headers));
    m->headers[m->nheaders++] = line;
}

/* ---- webhook: HealOps' own JSON ---- */

static cJSON *enc_labels(const struct alert *a)
{
    cJSON *o = cJSON_CreateObject();
    size_t i;

    for (i = 0; i < a->nlabels; i++) {
        char *k;

        if (a->labels[i].key == NULL || a->labels[i].value == NULL)
            continue;
        k = enc_text(a->labels[i].key, ENC_NOLIMIT, ENC_NOLIMIT, 0);
        enc_add(o, k, a->labels[i].value, ENC_NOLIMIT, ENC_NOLIMIT, 0);
        free(k);
    }
    return o;
}

static enum ho_code enc_webhook(const struct receiver *r, const struct alert *a,
                                struct receiver_msg *m)
{
    cJSON *root = cJSON_CreateObject(), *al = cJSON_CreateObject(), *docs;
    size_t i;

    cJSON_AddNumberToObject(root, "version", 1);
    cJSON_AddStringToObject(root, "event", alert_event_str(a->event));
    cJSON_AddItemToObject(root, "alert", al);
    cJSON_AddNumberToObject(al, "id", (double)a->id);
    enc_add_or_null(al, "key", a->key);
    cJSON_AddStringToObject(al, "kind", alert_kind_str(a->kind));
    cJSON_AddStringToObject(al, "event", alert_event_str(a->event));
    enc_add_or_null(al, "severity", a->severity);
    enc_add_or_null(al, "summary", a->summary);
    enc_add_or_null(al, "agent_id", a->agent_id);
    enc_add_or_null(al, "agent", a->agent_name);
    enc_add_or_null(al, "package", a->package);
    enc_add_or_null(al, "version", a->version);
    enc_add_or_null(al, "check", a->check);
    enc_add_or_null(al, "environment", a->environment);
    cJSON_AddItemToObject(al, "labels", enc_labels(a));
    enc_add_or_null(al, "outcome", a->outcome);
    enc_add_or_null(al, "test_output", a->test_output);
    enc_add_or_null(al, "repair_output", a->repair_output);
    enc_add_or_null(al, "retest_output", a->retest_output);
    enc_add_or_null(al, "runbook", a->runbook);
    enc_add_or_null(al, "advice", a->advice);
    enc_add_or_null(al, "changelog", a->changelog);
    enc_add_or_null(al, "login", a->login);
    docs = cJSON_AddArrayToObject(al, "docs");
    for (i = 0; i < a->ndocs; i++) {
        char *t = enc_text(a->docs[i], ENC_NOLIMIT, ENC_NOLIMIT, 0);

        cJSON_AddItemToArray(docs, cJSON_CreateString(t));
        free(t);
    }
    enc_add_or_null(al, "dashboard_url", a->dashboard_url);
    enc_add_or_null(al, "graph_url", a->graph_url);
    enc_add_time(al, "started_at", a->started_at_ms);
    if (a->resolved_at_ms > 0)
        enc_add_time(al, "resolved_at", a->resolved_at_ms);
    else
        cJSON_AddNullToObject(al, "resolved_at");
    cJSON_AddNumberToObject(al, "count", a->count);
    enc_body(m, root);
    m->url = xstrdup(r->url);
    for (i = 0; i < r->nheaders; i++)
        enc_header(m, xstrdup(r->headers[i]));
    return HO_OK;
}

/* ---- PagerDuty Events API v2 ---- */

static const char *enc_pd_severity(const char *s)
{
    static const char *const ok[] = {"critical", "error", "warning", "info"};
    size_t i;

    for (i = 0; s != NULL && i < 4; i++) {
        if (strcmp(s, ok[i]) == 0)
            return ok[i];
    }
    return "error";
}

static void enc_pd_link(cJSON *links, const char *href, const char *text)
{
    cJSON *l;

    if (!enc_is_url(href))
        return;
    l = cJSON_CreateObject();
    enc_add(l, "href", href, ENC_NOLIMIT, ENC_NOLIMIT, 0);
    cJSON_AddStringToObject(l, "text", text);
    cJSON_AddItemToArray(links, l);
}

static cJSON *enc_pd_details(const struct alert *a)
{
    cJSON *d = cJSON_CreateObject();

    cJSON_AddStringToObject(d, "kind", alert_kind_str(a->kind));
    enc_add(d, "agent", a->agent_name, ENC_NOLIMIT, ENC_NOLIMIT, 0);
    enc_add(d, "agent_id", a->agent_id, ENC_NOLIMIT, ENC_NOLIMIT, 0);
    enc_add(d, "package", a->package, ENC_NOLIMIT, ENC_NOLIMIT, 0);
    enc_add(d, "version", a->version, ENC_NOLIMIT, ENC_NOLIMIT, 0);
    enc_add(d, "check", a->check, ENC_NOLIMIT, ENC_NOLIMIT, 0);
    enc_add(d, "environment", a->environment, ENC_NOLIMIT, ENC_NOLIMIT, 0);
    enc_add(d, "outcome", a->outcome, ENC_NOLIMIT, ENC_NOLIMIT, 0);
    enc_add(d, "test", a->test_output, ENC_NOLIMIT, ENC_NOLIMIT, 0);
    enc_add(d, "repair", a->repair_output, ENC_NOLIMIT, ENC_NOLIMIT, 0);
    enc_add(d, "retest", a->retest_output, ENC_NOLIMIT, ENC_NOLIMIT, 0);
    enc_add(d, "advice", a->advice, ENC_NOLIMIT, ENC_NOLIMIT, 0);
    enc_add(d, "login", a->login, ENC_NOLIMIT, ENC_NOLIMIT, 0);
    if (a->runbook != NULL && !enc_is_url(a->runbook))
        enc_add(d, "runbook", a->runbook, ENC_NOLIMIT, ENC_NOLIMIT, 0);
    if (a->changelog != NULL && !enc_is_url(a->changelog))
        enc_add(d, "changelog", a->changelog, ENC_NOLIMIT, ENC_NOLIMIT, 0);
    cJSON_AddNumberToObject(d, "count", a->count);
    if (a->nlabels > 0)
        cJSON_AddItemToObject(d, "labels", enc_labels(a));
    return d;
}

static void enc_pd_links(cJSON *root, const struct alert *a)
{
    cJSON *links = cJSON_CreateArray(), *img;
    size_t i;

    enc_pd_link(links, a->dashboard_url, "Check in HealOps");
    enc_pd_link(links, a->runbook, "Runbook");
    for (i = 0; i < a->ndocs; i++)
        enc_pd_link(links, a->docs[i], "Documentation");
    enc_pd_link(links, a->changelog, "Changelog");
    /* PagerDuty fetches images itself and takes only HTTPS ones */
    if (a->graph_url != NULL && strncmp(a->graph_url, "https://", 8) == 0) {
        cJSON *images = cJSON_AddArrayToObject(root, "images");

        img = cJSON_CreateObject();
        enc_add(img, "src", a->graph_url, ENC_NOLIMIT, ENC_NOLIMIT, 0);
        enc_add(img, "href", enc_is_url(a->dashboard_url) ? a->dashboard_url : a->graph_url,
                ENC_NOLIMIT, ENC_NOLIMIT, 0);
        enc_add(img, "alt", a->check != NULL ? a->check : "graph", 255, ENC_NOLIMIT, 0);
        cJSON_AddItemToArray(images, img);
    } else {
        enc_pd_link(links, a->graph_url, "Graph");
    }
    cJSON_AddItemToObject(root, "links", links);
}

static enum ho_code enc_pagerduty(const struct receiver *r, const struct alert *a,
                                  struct receiver_msg *m)
{
    cJSON *root = cJSON_CreateObject(), *p;
    char *key = enc_key(a->key, PD_DEDUP_MAX), *summary, *client;

    cJSON_AddStringToObject(root, "routing_key", r->secret);
    cJSON_AddStringToObject(root, "event_action", enc_resolve(a) ? "resolve" : "trigger");
    cJSON_AddStringToObject(root, "dedup_key", key);
    free(key);
    if (!enc_resolve(a)) {
        p = cJSON_AddObjectToObject(root, "payload");
        summary = enc_summary(a);
        enc_add(p, "summary", summary, PD_SUMMARY_MAX, ENC_NOLIMIT, ENC_ONE_LINE);
        free(summary);
        enc_add(p, "source",
                a->agent_name != NULL ? a->agent_name
                                      : (a->agent_id != NULL ? a->agent_id : "healops"),
                255, ENC_NOLIMIT, ENC_ONE_LINE);
        cJSON_AddStringToObject(p, "severity", enc_pd_severity(a->severity));
        enc_add_time(p, "timestamp", a->started_at_ms > 0 ? a->started_at_ms : clock_wall_ms());
        enc_add(p, "component", a->package, 255, ENC_NOLIMIT, ENC_ONE_LINE);
        enc_add(p, "group", a->environment, 255, ENC_NOLIMIT, ENC_ONE_LINE);
        enc_add(p, "class", a->check != NULL ? a->check : alert_kind_str(a->kind), 255, ENC_NOLIMIT,
                ENC_ONE_LINE);
        cJSON_AddItemToObject(p, "custom_details", enc_pd_details(a));
        enc_pd_links(root, a);
        cJSON_AddStringToObject(root, "client", "HealOps");
        client = enc_public_url(a);
        if (client != NULL)
            enc_add(root, "client_url", client, ENC_NOLIMIT, ENC_NOLIMIT, 0);
        free(client);
    }
    enc_body(m, root);
    m->url = xstrdup(r->url);
    return HO_OK;
}

/* ---- Opsgenie / Jira Service Management ---- */

static const char *enc_og_priority(const char *s)
{
    if (s == NULL)
        return "P3";
    if (strcmp(s, "critical") == 0)
        return "P1";
    if (strcmp(s, "error") == 0)
        return "P2";
    if (strcmp(s, "warning") == 0)
        return "P3";
    if (strcmp(s, "info") == 0)
        return "P5";
    return "P3";
}

/* Adds a details entry while the total stays within OG_DETAILS_MAX characters. */
static void enc_og_detail(cJSON *d, size_t *used, const char *key, const char *v)
{
    char *k, *t;
    size_t n;

    if (v == NULL)
        return;
    k = enc_text(key, 100, ENC_NOLIMIT, ENC_ONE_LINE);
    t = enc_text(v, OG_DETAIL_VALUE_MAX, ENC_NOLIMIT, 0);
    n = strlen(k) + strlen(t);
    if (*used + n <= OG_DETAILS_MAX && cJSON_GetObjectItemCaseSensitive(d, k) == NULL) {
        cJSON_AddStringToObject(d, k, t);
        *used += n;
    }
    free(k);
    free(t);
}

static cJSON *enc_og_details(const struct alert *a)
{
    cJSON *d = cJSON_CreateObject();
    char count[24];
    size_t used = 0, i;

    snprintf(count, sizeof(count), "%d", a->count);
    enc_og_detail(d, &used, "kind", alert_kind_str(a->kind));
    enc_og_detail(d, &used, "agent", a->agent_name);
    enc_og_detail(d, &used, "agent_id", a->agent_id);
    enc_og_detail(d, &used, "package", a->package);
    enc_og_detail(d, &used, "version", a->version);
    enc_og_detail(d, &used, "check", a->check);
    enc_og_detail(d, &used, "environment", a->environment);
    enc_og_detail(d, &used, "outcome", a->outcome);
    enc_og_detail(d, &used, "severity", a->severity);
    enc_og_detail(d, &used, "count", count);
    enc_og_detail(d, &used, "dashboard", a->dashboard_url);
    enc_og_detail(d, &used, "graph", a->graph_url);
    enc_og_detail(d, &used, "runbook", a->runbook);
    enc_og_detail(d, &used, "changelog", a->changelog);
    enc_og_detail(d, &used, "login", a->login);
    for (i = 0; i < a->nlabels; i++) {
        char *k;

        if (a->labels[i].key == NULL)
            continue;
        k = xasprintf("label.%s", a->labels[i].key);
        enc_og_detail(d, &used, k, a->labels[i].value);
        free(k);
    }
    return d;
}

/* Adds the tag "a" or "a:b" (cut to 50 characters) while there are fewer than 20. */
static void enc_og_tag(cJSON *tags, const char *a, const char *b)
{
    char *raw, *t;

    if (a == NULL || cJSON_GetArraySize(tags) >= OG_TAGS_MAX)
        return;
    raw = b != NULL ? xasprintf("%s:%s", a, b) : xstrdup(a);
    t = enc_text(raw, ENC_NOLIMIT, OG_TAG_CHARS, ENC_ONE_LINE);
    cJSON_AddItemToArray(tags, cJSON_CreateString(t));
    free(t);
    free(raw);
}

static cJSON *enc_og_tags(const struct alert *a)
{
    cJSON *tags = cJSON_CreateArray();
    size_t i;

    enc_og_tag(tags, "healops", NULL);
    enc_og_tag(tags, alert_kind_str(a->kind), NULL);
    enc_og_tag(tags, a->severity, NULL);
    enc_og_tag(tags, a->package, NULL);
    enc_og_tag(tags, a->environment, NULL);
    for (i = 0; i < a->nlabels; i++)
        enc_og_tag(tags, a->labels[i].key, a->labels[i].value);
    return tags;
}

/* The long text: outputs, advice, links. */
static char *enc_og_description(const struct alert *a, const char *summary)
{
    char *raw, *out;

    raw = xasprintf("%s\n\ntest: %s\nrepair: %s\nretest: %s\n\nadvice: %s\nrunbook: %s\n"
                    "login: %s\ndashboard: %s\ngraph: %s",
                    summary, a->test_output ? a->test_output : "-",
                    a->repair_output ? a->repair_output : "-",
                    a->retest_output ? a->retest_output : "-", a->advice ? a->advice : "-",
                    a->runbook ? a->runbook : "-", a->login ? a->login : "-",
                    a->dashboard_url ? a->dashboard_url : "-", a->graph_url ? a->graph_url : "-");
    out = enc_text(raw, OG_DESCRIPTION_MAX, ENC_NOLIMIT, 0);
    free(raw);
    return out;
}

static enum ho_code enc_opsgenie(const struct receiver *r, const struct alert *a,
                                 struct receiver_msg *m)
{
    cJSON *root = cJSON_CreateObject();
    char *alias = enc_key(a->key, OG_ALIAS_MAX), *summary, *desc, *enc;

    if (enc_resolve(a)) {
        enc = enc_urlencode(alias);
        m->url = xasprintf("%s/%s/close?identifierType=alias", r->url, enc);
        free(enc);
        cJSON_AddStringToObject(root, "source", "healops");
        cJSON_AddStringToObject(root, "note", "Resolved by HealOps: the check is ok again");
    } else {
        summary = enc_summary(a);
        enc_add(root, "message", summary, ENC_NOLIMIT, OG_MESSAGE_CHARS, ENC_ONE_LINE);
        cJSON_AddStringToObject(root, "alias", alias);
        desc = enc_og_description(a, summary);
        cJSON_AddStringToObject(root, "description", desc);
        free(desc);
        free(summary);
        cJSON_AddItemToObject(root, "details", enc_og_details(a));
        cJSON_AddItemToObject(root, "tags", enc_og_tags(a));
        cJSON_AddStringToObject(root, "priority", enc_og_priority(a->severity));
        enc_add(root, "entity", a->agent_name != NULL ? a->agent_name : a->agent_id, OG_ENTITY_MAX,
                OG_ENTITY_MAX, ENC_ONE_LINE);
        cJSON_AddStringToObject(root, "source", "healops");
        m->url = xstrdup(r->url);
    }
    free(alias);
    enc_body(m, root);
    enc_header(m, xasprintf("Authorization: GenieKey %s", r->secret));
    return HO_OK;
}

/* ---- Slack ---- */

static cJSON *enc_slack_text(const char *type, const char *text)
{
    cJSON *t = cJSON_CreateObject();

    cJSON_AddStringToObject(t, "type", type);
    cJSON_AddStringToObject(t, "text", text);
    return t;
}

static void enc_slack_block(cJSON *blocks, const char *type, const char *text_type,
                            const char *text)
{
    cJSON *b = cJSON_CreateObject();

    cJSON_AddStringToObject(b, "type", type);
    cJSON_AddItemToObject(b, "text", enc_slack_text(text_type, text));
    cJSON_AddItemToArray(blocks, b);
}

/* A section "*title*\n```text```" (text escaped, cut to fit 3000). */
static void enc_slack_section(cJSON *blocks, const char *title, const char *v, int code)
{
    char *t, *s;

    if (v == NULL || v[0] == '\0')
        return;
    t = enc_text(v, SLACK_TEXT_MAX - 100, ENC_NOLIMIT, ENC_MRKDWN);
    s = code ? xasprintf("*%s*\n```%s```", title, t) : xasprintf("*%s* %s", title, t);
    enc_slack_block(blocks, "section", "mrkdwn", s);
    free(s);
    free(t);
}

/* A link <url|text> for mrkdwn: the URL with < > | and spaces percent-encoded. */
static char *enc_slack_link(const char *url, const char *text)
{
    size_t i, o = 0, n;
    char *u, *l;

    if (!enc_is_url(url) || strlen(url) > SLACK_IMAGE_URL_MAX)
        return NULL;
    n = strlen(url);
    u = xmalloc(3 * n + 1);
    for (i = 0; i < n; i++) {
        unsigned char c = (unsigned char)url[i];

        if (c <= 0x20 || c == '<' || c == '>' || c == '|' || c >= 0x7f) {
            snprintf(u + o, 4, "%%%02X", c);
            o += 3;
        } else {
            u[o++] = (char)c;
        }
    }
    u[o] = '\0';
    l = xasprintf("<%s|%s>", u, text);
    free(u);
    return l;
}

static void enc_slack_context(cJSON *blocks, const struct alert *a, int resolved)
{
    cJSON *b = cJSON_CreateObject(), *els = cJSON_CreateArray();
    const char *urls[4 + SLACK_CONTEXT_MAX], *names[4 + SLACK_CONTEXT_MAX];
    size_t n = 0, i;
    char *l;

    urls[n] = a->dashboard_url;
    names[n++] = "Open in HealOps";
    if (!resolved) {
        urls[n] = a->runbook;
        names[n++] = "Runbook";
        urls[n] = a->changelog;
        names[n++] = "Changelog";
        for (i = 0; i < a->ndocs && n < SLACK_CONTEXT_MAX; i++) {
            urls[n] = a->docs[i];
            names[n++] = "Docs";
        }
    }
    for (i = 0; i < n && cJSON_GetArraySize(els) < SLACK_CONTEXT_MAX; i++) {
        l = enc_slack_link(urls[i], names[i]);
        if (l != NULL)
            cJSON_AddItemToArray(els, enc_slack_text("mrkdwn", l));
        free(l);
    }
    if (cJSON_GetArraySize(els) == 0) {
        cJSON_Delete(els);
        cJSON_Delete(b);
        return;
    }
    cJSON_AddStringToObject(b, "type", "context");
    cJSON_AddItemToObject(b, "elements", els);
    cJSON_AddItemToArray(blocks, b);
}

static void enc_slack_image(cJSON *blocks, const struct alert *a)
{
    cJSON *b;
    char *alt;

    if (!enc_is_url(a->graph_url) || strlen(a->graph_url) > SLACK_IMAGE_URL_MAX)
        return;
    b = cJSON_CreateObject();
    cJSON_AddStringToObject(b, "type", "image");
    cJSON_AddStringToObject(b, "image_url", a->graph_url);
    alt = xasprintf("graph of %s on %s", a->check != NULL ? a->check : "the check",
                    a->agent_name != NULL ? a->agent_name : "the agent");
    enc_add(b, "alt_text", alt, SLACK_ALT_MAX, ENC_NOLIMIT, ENC_ONE_LINE);
    free(alt);
    if (a->check != NULL) {
        cJSON *t = cJSON_CreateObject();

        cJSON_AddStringToObject(t, "type", "plain_text");
        enc_add(t, "text", a->check, ENC_NOLIMIT, 2000, ENC_ONE_LINE);
        cJSON_AddItemToObject(b, "title", t);
    }
    cJSON_AddItemToArray(blocks, b);
}

/* "*Agent:* `web-1`  *Check:* `nginx.running` ..." (every part escaped and bounded). */
static char *enc_slack_facts(const struct alert *a)
{
    char *agent =
        enc_text(a->agent_name ? a->agent_name : a->agent_id, 255, 255, ENC_MRKDWN | ENC_ONE_LINE);
    char *check = enc_text(a->check ? a->check : "-", 300, 255, ENC_MRKDWN | ENC_ONE_LINE);
    char *pkg = enc_text(a->package ? a->package : "-", 300, 255, ENC_MRKDWN | ENC_ONE_LINE);
    char *ver = enc_text(a->version ? a->version : "", 300, 255, ENC_MRKDWN | ENC_ONE_LINE);
    char *env =
        enc_text(a->environment ? a->environment : "-", 300, 255, ENC_MRKDWN | ENC_ONE_LINE);
    char *out = enc_text(a->outcome ? a->outcome : "-", 100, 64, ENC_MRKDWN | ENC_ONE_LINE);
    char *sev = enc_text(a->severity ? a->severity : "-", 100, 32, ENC_MRKDWN | ENC_ONE_LINE);
    char *s;

    s = xasprintf("*Agent:* `%s`   *Check:* `%s`\n*Package:* %s %s   *Environment:* %s\n"
                  "*Alert:* %s, severity %s, outcome %s, %d time%s",
                  agent, check, pkg, ver, env, alert_kind_str(a->kind), sev, out, a->count,
                  a->count == 1 ? "" : "s");
    free(agent);
    free(check);
    free(pkg);
    free(ver);
    free(env);
    free(out);
    free(sev);
    return s;
}

static void enc_slack_trigger(cJSON *root, cJSON *blocks, const struct alert *a,
                              const char *summary)
{
    char *t, *h;

    t = enc_text(summary, SLACK_TEXT_MAX - 20, ENC_NOLIMIT, ENC_MRKDWN | ENC_ONE_LINE);
    h = xasprintf("[%s] %s", a->severity != NULL ? a->severity : "alert", t);
    free(t);
    t = enc_text(h, SLACK_TEXT_MAX, ENC_NOLIMIT, 0);
    cJSON_AddStringToObject(root, "text", t);
    free(t);
    free(h);
    t = enc_text(summary, ENC_NOLIMIT, SLACK_HEADER_CHARS, ENC_ONE_LINE);
    enc_slack_block(blocks, "header", "plain_text", t);
    free(t);
    t = enc_slack_facts(a);
    enc_slack_block(blocks, "section", "mrkdwn", t);
    free(t);
    enc_slack_section(blocks, "Test output", a->test_output, 1);
    enc_slack_section(blocks, "Repair output", a->repair_output, 1);
    enc_slack_section(blocks, "Retest output", a->retest_output, 1);
    enc_slack_section(blocks, "Advice:", a->advice, 0);
    if (a->runbook != NULL && !enc_is_url(a->runbook))
        enc_slack_section(blocks, "Runbook:", a->runbook, 0);
    enc_slack_section(blocks, "Login", a->login, 1);
    enc_slack_image(blocks, a);
    enc_slack_context(blocks, a, 0);
}

static void enc_slack_resolved(cJSON *root, cJSON *blocks, const struct alert *a,
                               const char *summary)
{
    int64_t end = a->resolved_at_ms > 0 ? a->resolved_at_ms : clock_wall_ms();
    int64_t mins =
        a->started_at_ms > 0 && end > a->started_at_ms ? (end - a->started_at_ms) / 60000 : 0;
    char *t, *h, *agent, *check;

    t = enc_text(summary, SLACK_TEXT_MAX - 20, ENC_NOLIMIT, ENC_MRKDWN | ENC_ONE_LINE);
    h = xasprintf("[resolved] %s", t);
    cJSON_AddStringToObject(root, "text", h);
    free(h);
    free(t);
    h = xasprintf("Resolved: %s", summary);
    t = enc_text(h, ENC_NOLIMIT, SLACK_HEADER_CHARS, ENC_ONE_LINE);
    enc_slack_block(blocks, "header", "plain_text", t);
    free(t);
    free(h);
    agent =
        enc_text(a->agent_name ? a->agent_name : a->agent_id, 255, 255, ENC_MRKDWN | ENC_ONE_LINE);
    check = enc_text(a->check ? a->check : alert_kind_str(a->kind), 300, 255,
                     ENC_MRKDWN | ENC_ONE_LINE);
    t = xasprintf("`%s` on `%s` is ok again after %lld min (%s alert, %d time%s).", check, agent,
                  (long long)mins, alert_kind_str(a->kind), a->count, a->count == 1 ? "" : "s");
    enc_slack_block(blocks, "section", "mrkdwn", t);
    free(t);
    free(agent);
    free(check);
    enc_slack_context(blocks, a, 1);
}

static enum ho_code enc_slack(const struct receiver *r, const struct alert *a,
                              struct receiver_msg *m)
{
    cJSON *root = cJSON_CreateObject(), *blocks = cJSON_CreateArray();
    char *summary = enc_summary(a);

    if (enc_resolve(a))
        enc_slack_resolved(root, blocks, a, summary);
    else
        enc_slack_trigger(root, blocks, a, summary);
    free(summary);
    cJSON_AddItemToObject(root, "blocks", blocks);
    enc_body(m, root);
    m->url = xstrdup(r->url);
    return HO_OK;
}

/* ---- Alertmanager API v2 ---- */

static const char *enc_am_alertname(enum alert_kind k)
{
    switch (k) {
    case ALERT_KIND_FAILED:
        return "HealOpsFailed";
    case ALERT_KIND_SILENT:
        return "HealOpsSilent";
    case ALERT_KIND_FLAPPING:
        return "HealOpsFlapping";
    case ALERT_KIND_GUARD:
        return "HealOpsGuardExhausted";
    case ALERT_KIND_STALE:
        return "HealOpsStale";
    }
    return "HealOpsAlert";
}

static char *enc_am_description(const struct alert *a)
{
    char *raw, *out;

    raw = xasprintf("test: %s\nrepair: %s\nretest: %s%s%s", a->test_output ? a->test_output : "-",
                    a->repair_output ? a->repair_output : "-",
                    a->retest_output ? a->retest_output : "-", a->advice ? "\nadvice: " : "",
                    a->advice ? a->advice : "");
    out = enc_text(raw, 16384, ENC_NOLIMIT, 0);
    free(raw);
    return out;
}

static enum ho_code enc_alertmanager(const struct receiver *r, const struct receivers *rs,
                                     const struct alert *a, struct receiver_msg *m)
{
    cJSON *root = cJSON_CreateArray(), *al = cJSON_CreateObject(), *l, *an;
    int64_t now = clock_wall_ms(), start = a->started_at_ms > 0 ? a->started_at_ms : now, end;
    const char *agent = a->agent_name != NULL ? a->agent_name : a->agent_id;
    char *summary = enc_summary(a), *desc = enc_am_description(a);
    size_t n = strlen(r->url);

    cJSON_AddItemToArray(root, al);
    l = cJSON_AddObjectToObject(al, "labels");
    cJSON_AddStringToObject(l, "alertname", enc_am_alertname(a->kind));
    enc_add(l, "agent", agent, ENC_NOLIMIT, ENC_NOLIMIT, 0);
    enc_add(l, "check", a->check, ENC_NOLIMIT, ENC_NOLIMIT, 0);
    enc_add(l, "package", a->package, ENC_NOLIMIT, ENC_NOLIMIT, 0);
    enc_add(l, "severity", a->severity, ENC_NOLIMIT, ENC_NOLIMIT, 0);
    enc_add(l, "instance", agent, ENC_NOLIMIT, ENC_NOLIMIT, 0);
    an = cJSON_AddObjectToObject(al, "annotations");
    enc_add(an, "summary", summary, ENC_NOLIMIT, ENC_NOLIMIT, ENC_ONE_LINE);
    if (enc_is_url(a->runbook))
        enc_add(an, "runbook_url", a->runbook, ENC_NOLIMIT, ENC_NOLIMIT, 0);
    cJSON_AddStringToObject(an, "description", desc);
    enc_add(an, "dashboard", a->dashboard_url, ENC_NOLIMIT, ENC_NOLIMIT, 0);
    enc_add(an, "graph", a->graph_url, ENC_NOLIMIT, ENC_NOLIMIT, 0);
    enc_add_time(al, "startsAt", start);
    if (enc_resolve(a))
        end = a->resolved_at_ms > 0 ? a->resolved_at_ms : now;
    else
        end = now + 4 * rs->am_resend_ms;
    /* Alertmanager refuses an end that is not after the start (400) */
    enc_add_time(al, "endsAt", end > start ? end : start + 1);
    if (enc_is_url(a->dashboard_url))
        enc_add(al, "generatorURL", a->dashboard_url, ENC_NOLIMIT, ENC_NOLIMIT, 0);
    free(summary);
    free(desc);
    enc_body(m, root);
    if (n >= 14 && strcmp(r->url + n - 14, "/api/v2/alerts") == 0)
        m->url = xstrdup(r->url);
    else
        m->url = xasprintf("%s/api/v2/alerts", r->url);
    return HO_OK;
}

/* ---- dispatch ---- */

enum ho_code receiver_encode(const struct receivers *rs, size_t i, const struct alert *a,
                             struct receiver_msg *out, struct ho_error *err)
{
    const struct receiver *r;

    memset(out, 0, sizeof(*out));
    if (i >= receivers_count(rs) || a == NULL)
        return ho_error_set(err, HO_EINVAL, NULL, "no such receiver");
    r = &rs->v[i];
    if ((r->type == RECEIVER_PAGERDUTY || r->type == RECEIVER_OPSGENIE) &&
        (a->key == NULL || a->key[0] == '\0'))
        return ho_error_set(err, HO_EINVAL, "key", "receiver %s: the alert has no key", r->name);
    if (a->agent_name == NULL && a->agent_id == NULL)
        return ho_error_set(err, HO_EINVAL, "agent", "receiver %s: the alert has no agent",
                            r->name);
    switch (r->type) {
    case RECEIVER_WEBHOOK:
        return enc_webhook(r, a, out);
    case RECEIVER_PAGERDUTY:
        return enc_pagerduty(r, a, out);
    case RECEIVER_OPSGENIE:
        return enc_opsgenie(r, a, out);
    case RECEIVER_SLACK:
        return enc_slack(r, a, out);
    case RECEIVER_ALERTMANAGER:
        return enc_alertmanager(r, rs, a, out);
    }
    return ho_error_set(err, HO_EINTERNAL, NULL, "unknown receiver type");
}

void receiver_msg_cleanup(struct receiver_msg *m)
{
    size_t i;

    if (m == NULL)
        return;
    if (m->body != NULL)
        crypto_wipe(m->body, m->body_len);
    if (m->url != NULL)
        crypto_wipe(m->url, strlen(m->url));
    for (i = 0; i < m->nheaders; i++) {
        crypto_wipe(m->headers[i], strlen(m->headers[i]));
        free(m->headers[i]);
    }
    free(m->headers);
    free(m->body);
    free(m->url);
    free(m->content_type);
    memset(m, 0, sizeof(*m));
}
