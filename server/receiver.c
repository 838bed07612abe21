/*
 * Alert receivers: the server config's "receivers" array (DESIGN.md sections 8
 * and 10a), routing and the reading of answers (INTEGRATIONS.md section 0).
 * Parsing is strict like the forwarders' (forward_config.c): unknown keys and
 * keys that do not apply to a type are errors naming their JSON path, and no
 * message ever quotes a secret (a file or variable is named, never its value).
 * Secrets (PagerDuty routing key, Opsgenie API key, a Slack webhook URL,
 * webhook headers) are read once here and live in memory only, wiped at free.
 * The encoders are in receiver_encode.c.
 */
#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>

#include <cjson/cJSON.h>

#include "alert.h"
#include "crypto.h"
#include "log.h"
#include "mem.h"
#include "receiver_impl.h"
#include "run.h"

#define RCV_HEADERS_MAX  32
#define RCV_MATCH_MAX    64  /* values per match list / labels */
#define RCV_TEXT_MAX     255 /* a match value, label key or value */
#define RCV_PATH_MAX     4096
#define RCV_ENV_NAME_MAX 256
#define RCV_TIMEOUT_MAX  300
#define RCV_JSON_MAX     (1024 * 1024)

/* Which keys apply to which type (bit per enum receiver_type). */
#define T_HOOK  (1u << RECEIVER_WEBHOOK)
#define T_PD    (1u << RECEIVER_PAGERDUTY)
#define T_OG    (1u << RECEIVER_OPSGENIE)
#define T_SLACK (1u << RECEIVER_SLACK)
#define T_AM    (1u << RECEIVER_ALERTMANAGER)
#define T_ALL   (T_HOOK | T_PD | T_OG | T_SLACK | T_AM)

static const struct {
    const char *key;
    unsigned types;
} rcv_keys[] = {
    {"name", T_ALL},           {"type", T_ALL},       {"url", T_ALL},
    {"match", T_ALL},          {"fallback", T_ALL},   {"timeout", T_ALL},
    {"headers", T_HOOK},       {"routing_key", T_PD}, {"routing_key_file", T_PD},
    {"routing_key_env", T_PD}, {"api_key", T_OG},     {"api_key_file", T_OG},
    {"api_key_env", T_OG},     {"url_file", T_SLACK}, {"url_env", T_SLACK},
};

/* Headers a webhook may not set: HealOps or libcurl own them. */
static const char *const rcv_reserved_headers[] = {"content-type",      "content-length", "host",
                                                   "transfer-encoding", "connection",     NULL};

const char *receiver_type_str(enum receiver_type t)
{
    switch (t) {
    case RECEIVER_WEBHOOK:
        return "webhook";
    case RECEIVER_PAGERDUTY:
        return "pagerduty";
    case RECEIVER_OPSGENIE:
        return "opsgenie";
    case RECEIVER_SLACK:
        return "slack";
    case RECEIVER_ALERTMANAGER:
        return "alertmanager";
    }
    return "unknown";
}

const char *receiver_verdict_str(enum receiver_verdict v)
{
    switch (v) {
    case RECEIVER_DELIVERED:
        return "delivered";
    case RECEIVER_RETRY:
        return "retry";
    case RECEIVER_REJECTED:
        return "rejected";
    }
    return "unknown";
}

static int receiver_type_parse(const char *s, enum receiver_type *out)
{
    enum receiver_type t;

    for (t = RECEIVER_WEBHOOK; t <= RECEIVER_ALERTMANAGER; t++) {
        if (strcmp(s, receiver_type_str(t)) == 0) {
            *out = t;
            return 0;
        }
    }
    return -1;
}

/* ---- freeing ---- */

static void rcv_wipe_free(char *s)
{
    if (s != NULL)
        crypto_wipe(s, strlen(s));
    free(s);
}

static void rcv_list_free(struct receiver_list *l)
{
    size_t i;

    for (i = 0; i < l->n; i++)
        free(l->v[i]);
    free(l->v);
    memset(l, 0, sizeof(*l));
}

static void rcv_list_add(struct receiver_list *l, const char *s)
{
    l->v = xrealloc(l->v, (l->n + 1) * sizeof(*l->v));
    l->v[l->n++] = xstrdup(s);
}

static void receiver_cleanup(struct receiver *r)
{
    size_t i;

    free(r->name);
    rcv_wipe_free(r->url);
    rcv_wipe_free(r->secret);
    for (i = 0; i < r->nheaders; i++)
        rcv_wipe_free(r->headers[i]);
    free(r->headers);
    rcv_list_free(&r->match_severity);
    rcv_list_free(&r->match_package);
    rcv_list_free(&r->match_label_keys);
    rcv_list_free(&r->match_label_values);
    memset(r, 0, sizeof(*r));
}

void receivers_free(struct receivers *rs)
{
    size_t i;

    if (rs == NULL)
        return;
    for (i = 0; i < rs->n; i++)
        receiver_cleanup(&rs->v[i]);
    free(rs->v);
    free(rs);
}

/* ---- accessors ---- */

size_t receivers_count(const struct receivers *rs)
{
    return rs != NULL ? rs->n : 0;
}

const char *receiver_name(const struct receivers *rs, size_t i)
{
    return i < receivers_count(rs) ? rs->v[i].name : NULL;
}

enum receiver_type receiver_type(const struct receivers *rs, size_t i)
{
    return i < receivers_count(rs) ? rs->v[i].type : RECEIVER_WEBHOOK;
}

int receiver_index(const struct receivers *rs, const char *name)
{
    size_t i;

    for (i = 0; name != NULL && i < receivers_count(rs); i++) {
        if (strcmp(rs->v[i].name, name) == 0)
            return (int)i;
    }
    return -1;
}

int receiver_fallback(const struct receivers *rs, size_t i)
{
    return i < receivers_count(rs) ? rs->v[i].fallback : -1;
}

int receiver_timeout_s(const struct receivers *rs, size_t i)
{
    return i < receivers_count(rs) ? rs->v[i].timeout_s : RECEIVER_TIMEOUT_DEF;
}

void receivers_set_alertmanager_resend(struct receivers *rs, int64_t ms)
{
    if (rs != NULL && ms > 0)
        rs->am_resend_ms = ms;
}

/* ---- parsing helpers ---- */

/* Fills err for receivers[i].key (key NULL: the element) with a printf message. */
static enum ho_code __attribute__((format(printf, 4, 5)))
rcv_err(struct ho_error *err, size_t i, const char *key, const char *fmt, ...)
{
    char field[HO_ERROR_FIELD_MAX], msg[HO_ERROR_MSG_MAX];
    va_list ap;

    if (key != NULL)
        snprintf(field, sizeof(field), "receivers[%zu].%s", i, key);
    else
        snprintf(field, sizeof(field), "receivers[%zu]", i);
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    return ho_error_set(err, HO_EINVAL, field, "%s", msg);
}

/* 1 when s is 1..max bytes with no control characters (and no spaces unless spaces). */
static int rcv_text_ok(const char *s, size_t max, int spaces)
{
    size_t i, n = strlen(s);

    if (n == 0 || n > max)
        return 0;
    for (i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];

        if (c < 0x20 || c == 0x7f || (c == ' ' && !spaces))
            return 0;
    }
    return 1;
}

/* The string member key of o (NULL when absent); an error when present but not fit. */
static enum ho_code rcv_string(const cJSON *o, size_t i, const char *key, size_t max,
                               const char **out, struct ho_error *err)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);

    *out = NULL;
    if (v == NULL)
        return HO_OK;
    if (!cJSON_IsString(v) || !rcv_text_ok(v->valuestring, max, 0))
        return rcv_err(err, i, key, "must be a string of 1 to %zu printable characters, no spaces",
                       max);
    *out = v->valuestring;
    return HO_OK;
}

static int rcv_name_ok(const char *s)
{
    size_t i, n = strlen(s);

    if (n == 0 || n > RECEIVER_NAME_MAX)
        return 0;
    for (i = 0; i < n; i++) {
        if (!(islower((unsigned char)s[i]) || isdigit((unsigned char)s[i]) || s[i] == '_' ||
              s[i] == '-'))
            return 0;
    }
    return 1;
}

/* An http(s) URL with a host, no spaces or control characters. */
static int rcv_url_ok(const char *u)
{
    const char *host;

    if (!rcv_text_ok(u, RECEIVER_URL_MAX, 0))
        return 0;
    if (strncmp(u, "https://", 8) == 0)
        host = u + 8;
    else if (strncmp(u, "http://", 7) == 0)
        host = u + 7;
    else
        return 0;
    return host[0] != '\0' && host[0] != '/' && host[0] != '?' && host[0] != '#';
}

/* Refuses keys that are unknown or do not apply to type. */
static enum ho_code rcv_keys_check(const cJSON *o, size_t i, enum receiver_type type,
                                   struct ho_error *err)
{
    const cJSON *it;
    size_t k;

    cJSON_ArrayForEach (it, o) {
        for (k = 0; k < sizeof(rcv_keys) / sizeof(rcv_keys[0]); k++) {
            if (strcmp(rcv_keys[k].key, it->string) == 0)
                break;
        }
        if (k == sizeof(rcv_keys) / sizeof(rcv_keys[0]))
            return rcv_err(err, i, it->string, "unknown key");
        if ((rcv_keys[k].types & (1u << type)) == 0)
            return rcv_err(err, i, it->string, "does not apply to type %s",
                           receiver_type_str(type));
    }
    return HO_OK;
}

/* ---- secrets ---- */

/* Trims s (NUL-terminated, n bytes) in place: leading and trailing white space. */
static size_t rcv_trim(char *s, size_t n)
{
    size_t start = 0;

    while (n > 0 && isspace((unsigned char)s[n - 1]))
        s[--n] = '\0';
    while (start < n && isspace((unsigned char)s[start]))
        start++;
    if (start > 0) {
        memmove(s, s + start, n - start + 1);
        n -= start;
    }
    return n;
}

/* Reads a one-line secret (<= RECEIVER_SECRET_MAX bytes, trimmed) from path into *out. */
static enum ho_code rcv_secret_file(const char *path, size_t i, const char *key, int spaces,
                                    char **out, struct ho_error *err)
{
    char buf[RECEIVER_SECRET_MAX + 2];
    FILE *fp = fopen(path, "re");
    struct stat sb;
    size_t n;

    if (fp == NULL)
        return rcv_err(err, i, key, "cannot read: %s (%.200s)", strerror(errno), path);
    if (fstat(fileno(fp), &sb) != 0 || !S_ISREG(sb.st_mode)) {
        fclose(fp);
        return rcv_err(err, i, key, "cannot read: not a regular file (%.200s)", path);
    }
    if ((sb.st_mode & 0077) != 0)
        log_warnx("receivers[%zu].%s: %s is readable by group or others; chmod 600 it", i, key,
                  path);
    n = fread(buf, 1, sizeof(buf) - 1, fp);
    fclose(fp);
    buf[n] = '\0';
    if (n > RECEIVER_SECRET_MAX) {
        crypto_wipe(buf, sizeof(buf));
        return rcv_err(err, i, key, "the file %.200s is larger than %d bytes", path,
                       RECEIVER_SECRET_MAX);
    }
    n = rcv_trim(buf, n);
    if (!rcv_text_ok(buf, RECEIVER_SECRET_MAX, spaces)) {
        crypto_wipe(buf, sizeof(buf));
        return rcv_err(err, i, key, "the file %.200s must hold one line of printable characters",
                       path);
    }
    *out = xstrdup(buf);
    crypto_wipe(buf, sizeof(buf));
    return HO_OK;
}

/*
 * The secret of receiver i from exactly one of the keys base, base_file, base_env
 * ("routing_key", "routing_key_file", "routing_key_env"); required when need.
 */
static enum ho_code rcv_secret(const cJSON *o, size_t i, const char *base, int need, char **out,
                               struct ho_error *err)
{
    char kfile[64], kenv[64];
    const char *inl = NULL, *file = NULL, *env = NULL, *val;
    enum ho_code rc;

    snprintf(kfile, sizeof(kfile), "%s_file", base);
    snprintf(kenv, sizeof(kenv), "%s_env", base);
    *out = NULL;
    rc = rcv_string(o, i, base, RECEIVER_SECRET_MAX, &inl, err);
    if (rc == HO_OK)
        rc = rcv_string(o, i, kfile, RCV_PATH_MAX, &file, err);
    if (rc == HO_OK)
        rc = rcv_string(o, i, kenv, RCV_ENV_NAME_MAX, &env, err);
    if (rc != HO_OK)
        return rc;
    if ((inl != NULL) + (file != NULL) + (env != NULL) > 1)
        return rcv_err(err, i, file != NULL ? kfile : kenv, "give only one of %s, %s, %s", base,
                       kfile, kenv);
    if (inl != NULL) {
        *out = xstrdup(inl);
    } else if (file != NULL) {
        return rcv_secret_file(file, i, kfile, 0, out, err);
    } else if (env != NULL) {
        val = getenv(env);
        if (val == NULL || !rcv_text_ok(val, RECEIVER_SECRET_MAX, 0))
            return rcv_err(err, i, kenv,
                           "the environment variable %.100s is unset, empty or not one "
                           "printable word",
                           env);
        *out = xstrdup(val);
    } else if (need) {
        return rcv_err(err, i, base, "required: give %s, %s or %s", base, kfile, kenv);
    }
    return HO_OK;
}

/* ---- url, headers, match ---- */

/* Drops trailing slashes of a base URL (Opsgenie, Alertmanager). */
static void rcv_url_trim(char *u)
{
    size_t n = strlen(u);

    while (n > 8 && u[n - 1] == '/')
        u[--n] = '\0';
}

/* The endpoint of receiver r: "url", or for Slack "url_file"/"url_env", or the default. */
static enum ho_code rcv_url(const cJSON *o, size_t i, struct receiver *r, struct ho_error *err)
{
    const char *url = NULL, *file = NULL, *env = NULL, *bad = NULL;
    char *secret = NULL;
    enum ho_code rc;

    rc = rcv_string(o, i, "url", RECEIVER_URL_MAX, &url, err);
    if (rc != HO_OK)
        return rc;
    if (url != NULL && !rcv_url_ok(url))
        return rcv_err(err, i, "url", "must be an http:// or https:// URL");
    if (r->type == RECEIVER_SLACK) {
        rc = rcv_string(o, i, "url_file", RCV_PATH_MAX, &file, err);
        if (rc == HO_OK)
            rc = rcv_string(o, i, "url_env", RCV_ENV_NAME_MAX, &env, err);
        if (rc != HO_OK)
            return rc;
        if ((url != NULL) + (file != NULL) + (env != NULL) > 1)
            return rcv_err(err, i, file != NULL ? "url_file" : "url_env",
                           "give only one of url, url_file, url_env");
        if (file != NULL) {
            rc = rcv_secret_file(file, i, "url_file", 0, &secret, err);
            bad = "url_file";
        } else if (env != NULL) {
            const char *val = getenv(env);

            if (val == NULL || val[0] == '\0')
                return rcv_err(err, i, "url_env",
                               "the environment variable %.100s is unset "
                               "or empty",
                               env);
            secret = xstrdup(val);
            bad = "url_env";
        }
        if (rc != HO_OK)
            return rc;
        if (secret != NULL && !rcv_url_ok(secret)) {
            rcv_wipe_free(secret);
            return rcv_err(err, i, bad, "must hold an http:// or https:// URL");
        }
        if (secret != NULL) {
            r->url = secret;
            return HO_OK;
        }
    }
    if (url != NULL) {
        r->url = xstrdup(url);
    } else if (r->type == RECEIVER_PAGERDUTY) {
        r->url = xstrdup(RECEIVER_PD_URL);
    } else if (r->type == RECEIVER_OPSGENIE) {
        r->url = xstrdup(RECEIVER_OPSGENIE_URL);
    } else {
        return rcv_err(err, i, "url", "required for type %s%s", receiver_type_str(r->type),
                       r->type == RECEIVER_SLACK ? " (or url_file, url_env)" : "");
    }
    if (r->type == RECEIVER_OPSGENIE || r->type == RECEIVER_ALERTMANAGER)
        rcv_url_trim(r->url);
    return HO_OK;
}

static int rcv_header_name_ok(const char *s)
{
    size_t i, n = strlen(s);

    if (n == 0 || n > 128)
        return 0;
    for (i = 0; i < n; i++) {
        if (!isalnum((unsigned char)s[i]) && strchr("!#$%&'*+-.^_`|~", s[i]) == NULL)
            return 0;
    }
    return 1;
}

/* Webhook "headers": {"Name": "value"} -> "Name: value" lines. */
static enum ho_code rcv_headers(const cJSON *o, size_t i, struct receiver *r, struct ho_error *err)
{
    const cJSON *h = cJSON_GetObjectItemCaseSensitive(o, "headers"), *it;
    char key[160];
    size_t k;

    if (h == NULL)
        return HO_OK;
    if (!cJSON_IsObject(h) || cJSON_GetArraySize(h) > RCV_HEADERS_MAX)
        return rcv_err(err, i, "headers", "must be an object of at most %d \"Name\": \"value\"",
                       RCV_HEADERS_MAX);
    cJSON_ArrayForEach (it, h) {
        snprintf(key, sizeof(key), "headers.%.128s", it->string);
        if (!rcv_header_name_ok(it->string))
            return rcv_err(err, i, key, "not a valid header name");
        for (k = 0; rcv_reserved_headers[k] != NULL; k++) {
            if (strcasecmp(it->string, rcv_reserved_headers[k]) == 0)
                return rcv_err(err, i, key, "set by HealOps; cannot be configured");
        }
        if (!cJSON_IsString(it) || !rcv_text_ok(it->valuestring, RECEIVER_SECRET_MAX, 1))
            return rcv_err(err, i, key,
                           "must be a string of 1 to %d characters, no control "
                           "characters",
                           RECEIVER_SECRET_MAX);
        r->headers = xrealloc(r->headers, (r->nheaders + 1) * sizeof(*r->headers));
        r->headers[r->nheaders++] = xasprintf("%s: %s", it->string, it->valuestring);
    }
    return HO_OK;
}

/* An array of 1..RCV_MATCH_MAX strings at match.<key> into l. */
static enum ho_code rcv_match_list(const cJSON *m, size_t i, const char *key,
                                   struct receiver_list *l, struct ho_error *err)
{
    const cJSON *a = cJSON_GetObjectItemCaseSensitive(m, key), *it;
    char field[32];

    snprintf(field, sizeof(field), "match.%s", key);
    if (a == NULL)
        return HO_OK;
    if (!cJSON_IsArray(a) || cJSON_GetArraySize(a) < 1 || cJSON_GetArraySize(a) > RCV_MATCH_MAX)
        return rcv_err(err, i, field, "must be an array of 1 to %d strings", RCV_MATCH_MAX);
    cJSON_ArrayForEach (it, a) {
        if (!cJSON_IsString(it) || !rcv_text_ok(it->valuestring, RCV_TEXT_MAX, 1))
            return rcv_err(err, i, field, "must be an array of strings of 1 to %d characters",
                           RCV_TEXT_MAX);
        rcv_list_add(l, it->valuestring);
    }
    return HO_OK;
}

static enum ho_code rcv_match(const cJSON *o, size_t i, struct receiver *r, struct ho_error *err)
{
    const cJSON *m = cJSON_GetObjectItemCaseSensitive(o, "match"), *it, *labels;
    enum ho_code rc;

    if (m == NULL)
        return HO_OK;
    if (!cJSON_IsObject(m))
        return rcv_err(err, i, "match", "must be an object with severity, package or labels");
    cJSON_ArrayForEach (it, m) {
        if (strcmp(it->string, "severity") != 0 && strcmp(it->string, "package") != 0 &&
            strcmp(it->string, "labels") != 0) {
            char field[160];

            snprintf(field, sizeof(field), "match.%.128s", it->string);
            return rcv_err(err, i, field, "unknown key (severity, package or labels)");
        }
    }
    r->has_match = 1;
    rc = rcv_match_list(m, i, "severity", &r->match_severity, err);
    if (rc == HO_OK)
        rc = rcv_match_list(m, i, "package", &r->match_package, err);
    if (rc != HO_OK)
        return rc;
    labels = cJSON_GetObjectItemCaseSensitive(m, "labels");
    if (labels == NULL)
        return HO_OK;
    if (!cJSON_IsObject(labels) || cJSON_GetArraySize(labels) > RCV_MATCH_MAX)
        return rcv_err(err, i, "match.labels",
                       "must be an object of at most %d \"key\": "
                       "\"value\"",
                       RCV_MATCH_MAX);
    cJSON_ArrayForEach (it, labels) {
        if (!rcv_text_ok(it->string, RCV_TEXT_MAX, 0) || !cJSON_IsString(it) ||
            strlen(it->valuestring) > RCV_TEXT_MAX) {
            char field[300];

            snprintf(field, sizeof(field), "match.labels.%.128s", it->string);
            return rcv_err(err, i, field, "must be a string of at most %d characters",
                           RCV_TEXT_MAX);
        }
        rcv_list_add(&r->match_label_keys, it->string);
        rcv_list_add(&r->match_label_values, it->valuestring);
    }
    return HO_OK;
}

/* ---- one receiver ---- */

static enum ho_code rcv_parse_one(const cJSON *o, size_t i, struct receiver *r,
                                  const char **fallback, struct ho_error *err)
{
    const cJSON *v;
    const char *name = NULL, *type = NULL;
    enum ho_code rc;

    r->fallback = -1;
    r->timeout_s = RECEIVER_TIMEOUT_DEF;
    if (!cJSON_IsObject(o))
        return rcv_err(err, i, NULL, "must be an object");
    rc = rcv_string(o, i, "type", 32, &type, err);
    if (rc != HO_OK)
        return rc;
    if (type == NULL || receiver_type_parse(type, &r->type) != 0)
        return rcv_err(err, i, "type",
                       "must be webhook, pagerduty, opsgenie, slack or "
                       "alertmanager");
    rc = rcv_keys_check(o, i, r->type, err);
    if (rc != HO_OK)
        return rc;
    v = cJSON_GetObjectItemCaseSensitive(o, "name");
    name = cJSON_IsString(v) ? v->valuestring : NULL;
    if (name == NULL || !rcv_name_ok(name))
        return rcv_err(err, i, "name", "required: 1 to %d characters of a-z, 0-9, _ and -",
                       RECEIVER_NAME_MAX);
    r->name = xstrdup(name);
    rc = rcv_string(o, i, "fallback", RECEIVER_NAME_MAX, fallback, err);
    if (rc != HO_OK)
        return rc;
    v = cJSON_GetObjectItemCaseSensitive(o, "timeout");
    if (v != NULL) {
        if (!cJSON_IsNumber(v) || v->valuedouble < 1 || v->valuedouble > RCV_TIMEOUT_MAX ||
            v->valuedouble != (double)(int)v->valuedouble)
            return rcv_err(err, i, "timeout", "must be an integer between 1 and %d (seconds)",
                           RCV_TIMEOUT_MAX);
        r->timeout_s = (int)v->valuedouble;
    }
    rc = rcv_url(o, i, r, err);
    if (rc == HO_OK && r->type == RECEIVER_PAGERDUTY)
        rc = rcv_secret(o, i, "routing_key", 1, &r->secret, err);
    if (rc == HO_OK && r->type == RECEIVER_OPSGENIE)
        rc = rcv_secret(o, i, "api_key", 1, &r->secret, err);
    if (rc == HO_OK)
        rc = rcv_headers(o, i, r, err);
    if (rc == HO_OK)
        rc = rcv_match(o, i, r, err);
    return rc;
}

/* Names unique, fallbacks known, not self, no loops. */
static enum ho_code rcv_link(struct receivers *rs, const char **fallbacks, struct ho_error *err)
{
    size_t i, j, steps;
    int k;

    for (i = 0; i < rs->n; i++) {
        for (j = 0; j < i; j++) {
            if (strcmp(rs->v[i].name, rs->v[j].name) == 0)
                return rcv_err(err, i, "name", "duplicate: receivers[%zu] has the name %s too", j,
                               rs->v[i].name);
        }
    }
    for (i = 0; i < rs->n; i++) {
        if (fallbacks[i] == NULL)
            continue;
        k = receiver_index(rs, fallbacks[i]);
        if (k < 0)
            return rcv_err(err, i, "fallback", "no receiver is called %.64s", fallbacks[i]);
        if ((size_t)k == i)
            return rcv_err(err, i, "fallback", "must name another receiver, not itself");
        rs->v[i].fallback = k;
    }
    for (i = 0; i < rs->n; i++) {
        k = rs->v[i].fallback;
        for (steps = 0; k >= 0 && steps <= rs->n; steps++) {
            if ((size_t)k == i)
                return rcv_err(err, i, "fallback", "the fallback chain loops back to %s",
                               rs->v[i].name);
            k = rs->v[k].fallback;
        }
    }
    return HO_OK;
}

enum ho_code receivers_parse(const char *json_array, size_t len, struct receivers **out,
                             struct ho_error *err)
{
    struct receivers *rs = xcalloc(1, sizeof(*rs));
    const char **fallbacks = NULL;
    cJSON *root = NULL;
    const cJSON *it;
    enum ho_code rc = HO_OK;
    size_t i = 0, n;

    *out = NULL;
    rs->am_resend_ms = RECEIVER_AM_RESEND_MS;
    if (json_array == NULL || len == 0) {
        *out = rs;
        return HO_OK;
    }
    if (len > RCV_JSON_MAX) {
        rc = ho_error_set(err, HO_ETOOBIG, "receivers", "larger than %d bytes", RCV_JSON_MAX);
        goto out;
    }
    root = cJSON_ParseWithLength(json_array, len);
    if (root == NULL || !cJSON_IsArray(root)) {
        rc = ho_error_set(err, HO_EINVAL, "receivers", "must be an array of receiver objects");
        goto out;
    }
    n = (size_t)cJSON_GetArraySize(root);
    if (n > RECEIVERS_MAX) {
        rc = ho_error_set(err, HO_EINVAL, "receivers", "at most %d receivers", RECEIVERS_MAX);
        goto out;
    }
    rs->v = xcalloc(n > 0 ? n : 1, sizeof(*rs->v));
    fallbacks = xcalloc(n > 0 ? n : 1, sizeof(*fallbacks));
    cJSON_ArrayForEach (it, root) {
        rs->n = i + 1;
        rc = rcv_parse_one(it, i, &rs->v[i], &fallbacks[i], err);
        if (rc != HO_OK)
            goto out;
        i++;
    }
    rc = rcv_link(rs, fallbacks, err);
out:
    free(fallbacks); /* strings borrowed from root */
    cJSON_Delete(root);
    if (rc != HO_OK) {
        receivers_free(rs);
        return rc;
    }
    *out = rs;
    return HO_OK;
}

/* ---- routing ---- */

static int rcv_list_has(const struct receiver_list *l, const char *s)
{
    size_t i;

    for (i = 0; s != NULL && i < l->n; i++) {
        if (strcmp(l->v[i], s) == 0)
            return 1;
    }
    return 0;
}

static const char *rcv_label(const struct alert *a, const char *key)
{
    size_t i;

    for (i = 0; i < a->nlabels; i++) {
        if (a->labels[i].key != NULL && strcmp(a->labels[i].key, key) == 0)
            return a->labels[i].value;
    }
    return NULL;
}

int receiver_matches(const struct receivers *rs, size_t i, const struct alert *a)
{
    const struct receiver *r;
    const char *v;
    size_t k;

    if (i >= receivers_count(rs) || a == NULL)
        return 0;
    r = &rs->v[i];
    if (!r->has_match)
        return 1;
    if (r->match_severity.n > 0 && !rcv_list_has(&r->match_severity, a->severity))
        return 0;
    if (r->match_package.n > 0 && !rcv_list_has(&r->match_package, a->package))
        return 0;
    for (k = 0; k < r->match_label_keys.n; k++) {
        v = rcv_label(a, r->match_label_keys.v[k]);
        if (v == NULL || strcmp(v, r->match_label_values.v[k]) != 0)
            return 0;
    }
    return 1;
}

/* ---- answers ---- */

static enum receiver_verdict rcv_classify_slack(long st, const char *body, size_t len)
{
    if (st == 200)
        return RECEIVER_DELIVERED;
    if (st == 429 || st >= 500)
        return RECEIVER_RETRY;
    /* invalid_payload, no_text, invalid_blocks (400), action_prohibited (403),
       channel_not_found (404), channel_is_archived (410), no_service: none gets
       better by sending the same message again */
    (void)body;
    (void)len;
    return RECEIVER_REJECTED;
}

enum receiver_verdict receiver_classify(const struct receivers *rs, size_t i, long http_status,
                                        const char *body, size_t body_len)
{
    enum receiver_type t = receiver_type(rs, i);

    if (http_status <= 0 || http_status == 429 || http_status >= 500)
        return RECEIVER_RETRY;
    if (t == RECEIVER_SLACK)
        return rcv_classify_slack(http_status, body, body_len);
    if (http_status >= 200 && http_status < 300)
        return RECEIVER_DELIVERED;
    /* 408: the service timed out reading us; worth another try */
    if (http_status == 408 && t == RECEIVER_WEBHOOK)
        return RECEIVER_RETRY;
    /* 1xx/3xx (a redirect is not followed) and other 4xx: sending again changes nothing */
    return RECEIVER_REJECTED;
}
