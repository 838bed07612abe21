/*
 * The "forwarders" config array (forward.h), validated strictly: unknown keys
 * and keys that do not apply to a type are errors, every error names its JSON
 * path (forwarders[1].url), and no message ever carries a secret (a token
 * file is named, never quoted). Secrets are read here, once, at start:
 * token (inline), token_file or token_env for InfluxDB's "Authorization:
 * Token"; username + password_file for InfluxDB 1.x Basic auth. Secrets in a
 * URL (user:password@, u=/p=/token= parameters) are refused, so the URL can be
 * shown as the forwarder's target.
 */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <cjson/cJSON.h>

#include "crypto.h"
#include "forward_impl.h"
#include "mem.h"
#include "parse.h"

#define FWD_URL_MAX     2048
#define FWD_SECRET_MAX  4096
#define FWD_BATCH_MAX   10000
#define FWD_BACKOFF_MAX 86400

/* Which keys apply to which type (bit per enum forward_type). */
#define T_TSDB (1u << FORWARD_OPENTSDB)
#define T_INFL (1u << FORWARD_INFLUXDB)
#define T_GRAP (1u << FORWARD_GRAPHITE)
#define T_ALL  (T_TSDB | T_INFL | T_GRAP)

static const struct {
    const char *key;
    unsigned types;
} fwd_keys[] = {
    {"name", T_ALL},          {"type", T_ALL},          {"batch_size", T_ALL},
    {"max_backoff", T_ALL},   {"url", T_TSDB | T_INFL}, {"token", T_INFL},
    {"token_file", T_INFL},   {"token_env", T_INFL},    {"username", T_INFL},
    {"password_file", T_INFL}, {"address", T_GRAP},     {"format", T_GRAP},
};

const char *forward_type_str(enum forward_type t)
{
    switch (t) {
    case FORWARD_OPENTSDB:
        return "opentsdb";
    case FORWARD_INFLUXDB:
        return "influxdb";
    case FORWARD_GRAPHITE:
        return "graphite";
    }
    return "unknown";
}

static void fwd_target_cleanup(struct fwd_target *t)
{
    if (t->secret != NULL)
        crypto_wipe(t->secret, strlen(t->secret));
    free(t->secret);
    free(t->url);
    free(t->target);
    free(t->auth_scheme);
    free(t->host);
    memset(t, 0, sizeof(*t));
}

void forward_config_free(struct forward_config *cfg)
{
    size_t i;

    if (cfg == NULL)
        return;
    for (i = 0; i < cfg->n; i++)
        fwd_target_cleanup(&cfg->v[i]);
    free(cfg->v);
    free(cfg);
}

size_t forward_config_count(const struct forward_config *cfg)
{
    return cfg != NULL ? cfg->n : 0;
}

/* Error at forwarders[i].key (key may be NULL for the element itself). */
static enum ho_code fwd_err(struct ho_error *err, size_t i, const char *key, const char *msg)
{
    char field[HO_ERROR_FIELD_MAX];

    if (key != NULL)
        snprintf(field, sizeof(field), "forwarders[%zu].%s", i, key);
    else
        snprintf(field, sizeof(field), "forwarders[%zu]", i);
    return ho_error_set(err, HO_EINVAL, field, "%s", msg);
}

static int fwd_printable(const char *s, size_t max)
{
    size_t i, n = strlen(s);

    if (n == 0 || n > max)
        return 0;
    for (i = 0; i < n; i++) {
        if ((unsigned char)s[i] <= 0x20 || s[i] == 0x7f)
            return 0;
    }
    return 1;
}

/* The string member key of o, NULL when absent; an error when present but not a string. */
static enum ho_code fwd_string(const cJSON *o, size_t i, const char *key, size_t max,
                               const char **out, struct ho_error *err)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);

    *out = NULL;
    if (v == NULL)
        return HO_OK;
    if (!cJSON_IsString(v) || !fwd_printable(v->valuestring, max)) {
        char msg[128];

        snprintf(msg, sizeof(msg), "must be a string of 1 to %zu printable characters, no spaces",
                 max);
        return fwd_err(err, i, key, msg);
    }
    *out = v->valuestring;
    return HO_OK;
}

static enum ho_code fwd_int(const cJSON *o, size_t i, const char *key, long min, long max,
                            long *out, struct ho_error *err)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
    char msg[96];

    if (v == NULL)
        return HO_OK;
    if (!cJSON_IsNumber(v) || v->valuedouble < (double)min || v->valuedouble > (double)max ||
        v->valuedouble != (double)(long)v->valuedouble) {
        snprintf(msg, sizeof(msg), "must be an integer between %ld and %ld", min, max);
        return fwd_err(err, i, key, msg);
    }
    *out = (long)v->valuedouble;
    return HO_OK;
}

/* Refuses keys that are unknown or do not apply to type. */
static enum ho_code fwd_keys_check(const cJSON *o, size_t i, enum forward_type type,
                                   struct ho_error *err)
{
    const cJSON *it;
    char msg[96];
    size_t k;

    cJSON_ArrayForEach(it, o)
    {
        for (k = 0; k < sizeof(fwd_keys) / sizeof(fwd_keys[0]); k++) {
            if (strcmp(fwd_keys[k].key, it->string) == 0)
                break;
        }
        if (k == sizeof(fwd_keys) / sizeof(fwd_keys[0]))
            return fwd_err(err, i, it->string, "unknown key");
        if ((fwd_keys[k].types & (1u << type)) == 0) {
            snprintf(msg, sizeof(msg), "does not apply to type %s", forward_type_str(type));
            return fwd_err(err, i, it->string, msg);
        }
    }
    return HO_OK;
}

/* ---- secrets ---- */

/* Reads a one-line secret from path (trailing newline and spaces trimmed) into *out. */
static enum ho_code fwd_secret_file(const char *path, size_t i, const char *key, char **out,
                                    struct ho_error *err)
{
    char buf[FWD_SECRET_MAX + 2], msg[HO_ERROR_MSG_MAX - 64];
    FILE *fp = fopen(path, "re");
    struct stat sb;
    size_t n = 0, k;

    if (fp == NULL || fstat(fileno(fp), &sb) != 0 || !S_ISREG(sb.st_mode)) {
        snprintf(msg, sizeof(msg), "cannot read the file %.200s: %m", path);
        if (fp != NULL)
            fclose(fp);
        return fwd_err(err, i, key, msg);
    }
    n = fread(buf, 1, sizeof(buf) - 1, fp);
    fclose(fp);
    buf[n] = '\0';
    while (n > 0 && isspace((unsigned char)buf[n - 1]))
        buf[--n] = '\0';
    for (k = 0; k < n && (unsigned char)buf[k] >= 0x20 && buf[k] != 0x7f; k++)
        ;
    if (n == 0 || n > FWD_SECRET_MAX || k != n) {
        crypto_wipe(buf, sizeof(buf));
        snprintf(msg, sizeof(msg),
                 "the file %.200s must hold one line of 1 to %d printable characters", path,
                 FWD_SECRET_MAX);
        return fwd_err(err, i, key, msg);
    }
    *out = xstrdup(buf);
    crypto_wipe(buf, sizeof(buf));
    return HO_OK;
}

static void base64(const unsigned char *in, size_t n, char *out)
{
    static const char tab[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    size_t i, o = 0;
    uint32_t v;

    for (i = 0; i < n; i += 3) {
        v = (uint32_t)in[i] << 16;
        if (i + 1 < n)
            v |= (uint32_t)in[i + 1] << 8;
        if (i + 2 < n)
            v |= in[i + 2];
        out[o++] = tab[(v >> 18) & 63];
        out[o++] = tab[(v >> 12) & 63];
        out[o++] = i + 1 < n ? tab[(v >> 6) & 63] : '=';
        out[o++] = i + 2 < n ? tab[v & 63] : '=';
    }
    out[o] = '\0';
}

/* The token of an InfluxDB forwarder from one of token, token_file, token_env (checked). */
static enum ho_code fwd_influx_token(size_t i, const char *token, const char *file,
                                     const char *env, struct fwd_target *t, struct ho_error *err)
{
    const char *val;
    enum ho_code rc = HO_OK;

    if (env != NULL) {
        val = getenv(env);
        if (val == NULL || !fwd_printable(val, FWD_SECRET_MAX))
            return fwd_err(err, i, "token_env",
                           "names an environment variable that is unset, empty or not one "
                           "printable word");
        t->secret = xstrdup(val);
    } else if (token != NULL) {
        t->secret = xstrdup(token);
    } else {
        rc = fwd_secret_file(file, i, "token_file", &t->secret, err);
    }
    if (rc == HO_OK)
        t->auth_scheme = xstrdup("Token");
    return rc;
}

/* Basic credentials: base64 of user:password (password from pwfile). */
static enum ho_code fwd_influx_basic(size_t i, const char *user, const char *pwfile,
                                     struct fwd_target *t, struct ho_error *err)
{
    char *pw = NULL, *pair;
    enum ho_code rc;
    size_t n;

    if (strchr(user, ':') != NULL)
        return fwd_err(err, i, "username", "must not contain ':'");
    rc = fwd_secret_file(pwfile, i, "password_file", &pw, err);
    if (rc != HO_OK)
        return rc;
    pair = xasprintf("%s:%s", user, pw);
    n = strlen(pair);
    t->secret = xmalloc(4 * ((n + 2) / 3) + 1);
    base64((const unsigned char *)pair, n, t->secret);
    t->auth_scheme = xstrdup("Basic");
    crypto_wipe(pair, n);
    crypto_wipe(pw, strlen(pw));
    free(pair);
    free(pw);
    return HO_OK;
}

/* Token (inline, file or environment) or Basic credentials of an InfluxDB forwarder. */
static enum ho_code fwd_influx_auth(const cJSON *o, size_t i, int v2, struct fwd_target *t,
                                    struct ho_error *err)
{
    const char *token = NULL, *file = NULL, *env = NULL, *user = NULL, *pwfile = NULL;
    int ntoken;

    if (fwd_string(o, i, "token", FWD_SECRET_MAX, &token, err) != HO_OK ||
        fwd_string(o, i, "token_file", 4096, &file, err) != HO_OK ||
        fwd_string(o, i, "token_env", 256, &env, err) != HO_OK ||
        fwd_string(o, i, "username", 256, &user, err) != HO_OK ||
        fwd_string(o, i, "password_file", 4096, &pwfile, err) != HO_OK)
        return HO_EINVAL;
    ntoken = (token != NULL) + (file != NULL) + (env != NULL);
    if (ntoken > 1)
        return fwd_err(err, i, token != NULL ? "token" : "token_file",
                       "give at most one of token, token_file, token_env");
    if ((user != NULL) != (pwfile != NULL))
        return fwd_err(err, i, user != NULL ? "password_file" : "username",
                       "username and password_file go together");
    if (user != NULL && ntoken > 0)
        return fwd_err(err, i, "username", "give either a token or username and password_file");
    if (user != NULL && v2)
        return fwd_err(err, i, "username",
                       "the v2 endpoint (/api/v2/write) takes a token, not a username");
    if (v2 && ntoken == 0)
        return fwd_err(err, i, "token", "the v2 endpoint (/api/v2/write) needs a token, "
                                        "token_file or token_env");
    if (ntoken > 0)
        return fwd_influx_token(i, token, file, env, t, err);
    if (user != NULL)
        return fwd_influx_basic(i, user, pwfile, t, err);
    return HO_OK;
}

/* ---- URLs ---- */

/* The parts of an http(s) URL we check; pointers into the URL text. */
struct fwd_url {
    const char *path;  /* from the first '/' after the host, "" when none */
    size_t path_len;
    const char *query; /* after '?', NULL when none */
};

static enum ho_code fwd_url_split(const char *url, size_t i, struct fwd_url *u,
                                  struct ho_error *err)
{
    const char *auth, *end, *q;
    size_t k;

    memset(u, 0, sizeof(*u));
    if (strncmp(url, "http://", 7) == 0)
        auth = url + 7;
    else if (strncmp(url, "https://", 8) == 0)
        auth = url + 8;
    else
        return fwd_err(err, i, "url", "must start with http:// or https://");
    for (k = 0; url[k] != '\0'; k++) {
        if ((unsigned char)url[k] <= 0x20 || url[k] == 0x7f || url[k] == '#')
            return fwd_err(err, i, "url", "must not contain spaces, control characters or '#'");
    }
    end = auth + strcspn(auth, "/?");
    if (end == auth)
        return fwd_err(err, i, "url", "has no host");
    if (memchr(auth, '@', (size_t)(end - auth)) != NULL)
        return fwd_err(err, i, "url", "must not hold credentials (user:password@): use "
                                      "token_file or username and password_file");
    q = strchr(end, '?');
    u->path = end;
    u->path_len = q != NULL ? (size_t)(q - end) : strlen(end);
    u->query = q != NULL ? q + 1 : NULL;
    return HO_OK;
}

/* The value of query parameter key in q (len in *len), NULL when absent. */
static const char *fwd_query_param(const char *q, const char *key, size_t *len)
{
    size_t klen = strlen(key), plen;
    const char *p = q;

    while (p != NULL && *p != '\0') {
        plen = strcspn(p, "&");
        if (plen > klen && strncmp(p, key, klen) == 0 && p[klen] == '=') {
            *len = plen - klen - 1;
            return p + klen + 1;
        }
        if (plen == klen && strncmp(p, key, klen) == 0) {
            *len = 0;
            return p + klen;
        }
        p = p[plen] == '&' ? p + plen + 1 : NULL;
    }
    return NULL;
}

static int path_ends(const struct fwd_url *u, const char *suffix)
{
    size_t n = strlen(suffix);

    return u->path_len >= n && strncmp(u->path + u->path_len - n, suffix, n) == 0;
}

static enum ho_code fwd_opentsdb_url(const char *url, size_t i, struct fwd_target *t,
                                     struct ho_error *err)
{
    struct fwd_url u;
    size_t n;

    if (fwd_url_split(url, i, &u, err) != HO_OK)
        return HO_EINVAL;
    if (u.query != NULL)
        return fwd_err(err, i, "url", "is the base URL of OpenTSDB, without a query");
    t->target = xstrdup(url);
    if (path_ends(&u, "/api/put")) {
        t->url = xstrdup(url);
        return HO_OK;
    }
    n = strlen(url);
    while (n > 0 && url[n - 1] == '/')
        n--;
    t->url = xasprintf("%.*s/api/put", (int)n, url);
    return HO_OK;
}

/* Checks an InfluxDB write URL; *v2 tells the endpoint; adds precision=ms when absent. */
static enum ho_code fwd_influx_url(const char *url, size_t i, struct fwd_target *t, int *v2,
                                   struct ho_error *err)
{
    static const char *const secret_params[] = {"u", "p", "password", "token", "authorization"};
    struct fwd_url u;
    const char *v;
    size_t len, k;

    if (fwd_url_split(url, i, &u, err) != HO_OK)
        return HO_EINVAL;
    *v2 = path_ends(&u, "/api/v2/write");
    if (!*v2 && !path_ends(&u, "/write"))
        return fwd_err(err, i, "url",
                       "must be a write URL: .../write?db=DB (v1) or "
                       ".../api/v2/write?org=ORG&bucket=BUCKET (v2)");
    for (k = 0; k < sizeof(secret_params) / sizeof(secret_params[0]); k++) {
        if (u.query != NULL && fwd_query_param(u.query, secret_params[k], &len) != NULL)
            return fwd_err(err, i, "url", "must not hold credentials (u=, p=, token=): use "
                                          "token_file or username and password_file");
    }
    if (!*v2 && (u.query == NULL || fwd_query_param(u.query, "db", &len) == NULL || len == 0))
        return fwd_err(err, i, "url", "needs ?db=DATABASE (InfluxDB 1.x /write)");
    if (*v2 && (u.query == NULL || fwd_query_param(u.query, "org", &len) == NULL || len == 0 ||
                fwd_query_param(u.query, "bucket", &len) == NULL || len == 0))
        return fwd_err(err, i, "url", "needs ?org=ORG&bucket=BUCKET (InfluxDB 2.x /api/v2/write)");
    v = u.query != NULL ? fwd_query_param(u.query, "precision", &len) : NULL;
    if (v != NULL && (len != 2 || strncmp(v, "ms", 2) != 0))
        return fwd_err(err, i, "url", "precision must be ms (or left out: ms is added)");
    t->target = xstrdup(url);
    t->url = v != NULL ? xstrdup(url) : xasprintf("%s%sprecision=ms", url, u.query != NULL ? "&" : "?");
    return HO_OK;
}

/* ---- one forwarder ---- */

static enum ho_code fwd_type(const cJSON *o, size_t i, enum forward_type *type,
                             struct ho_error *err)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, "type");
    static const enum forward_type all[] = {FORWARD_OPENTSDB, FORWARD_INFLUXDB, FORWARD_GRAPHITE};
    size_t k;

    for (k = 0; cJSON_IsString(v) && k < sizeof(all) / sizeof(all[0]); k++) {
        if (strcmp(v->valuestring, forward_type_str(all[k])) == 0) {
            *type = all[k];
            return HO_OK;
        }
    }
    return fwd_err(err, i, "type", "must be one of opentsdb, influxdb, graphite");
}

static enum ho_code fwd_name(const cJSON *o, size_t i, struct fwd_target *t,
                             const struct forward_config *cfg, struct ho_error *err)
{
    const char *name = NULL;
    size_t k;

    if (fwd_string(o, i, "name", FORWARD_NAME_MAX - 1, &name, err) != HO_OK)
        return HO_EINVAL;
    if (name != NULL) {
        for (k = 0; name[k] != '\0'; k++) {
            if (!isalnum((unsigned char)name[k]) && strchr("._-", name[k]) == NULL)
                return fwd_err(err, i, "name", "must be 1-63 of [A-Za-z0-9._-]");
        }
        snprintf(t->name, sizeof(t->name), "%s", name);
    } else {
        snprintf(t->name, sizeof(t->name), "%s-%zu", forward_type_str(t->type), i);
    }
    for (k = 0; k < cfg->n; k++) {
        if (strcmp(cfg->v[k].name, t->name) == 0)
            return fwd_err(err, i, "name", "is the name of another forwarder (names are unique)");
    }
    return HO_OK;
}

static enum ho_code fwd_graphite(const cJSON *o, size_t i, struct fwd_target *t,
                                 struct ho_error *err)
{
    const char *addr = NULL, *format = NULL;
    char host[256];

    if (fwd_string(o, i, "address", 300, &addr, err) != HO_OK ||
        fwd_string(o, i, "format", 16, &format, err) != HO_OK)
        return HO_EINVAL;
    if (addr == NULL)
        return fwd_err(err, i, "address", "is required (HOST:PORT of carbon, e.g. carbon:2003)");
    if (parse_host_port(addr, host, sizeof(host), &t->port) != HO_OK)
        return fwd_err(err, i, "address", "must be HOST:PORT");
    if (format != NULL && strcmp(format, "tagged") != 0 && strcmp(format, "plain") != 0)
        return fwd_err(err, i, "format", "must be tagged or plain");
    t->plain = format != NULL && strcmp(format, "plain") == 0;
    t->host = xstrdup(host);
    t->target = xstrdup(addr);
    return HO_OK;
}

static enum ho_code fwd_http(const cJSON *o, size_t i, struct fwd_target *t,
                             struct ho_error *err)
{
    const char *url = NULL;
    int v2 = 0;

    if (fwd_string(o, i, "url", FWD_URL_MAX, &url, err) != HO_OK)
        return HO_EINVAL;
    if (url == NULL)
        return fwd_err(err, i, "url", "is required");
    if (t->type == FORWARD_OPENTSDB)
        return fwd_opentsdb_url(url, i, t, err);
    if (fwd_influx_url(url, i, t, &v2, err) != HO_OK)
        return HO_EINVAL;
    return fwd_influx_auth(o, i, v2, t, err);
}

static enum ho_code fwd_one(const cJSON *o, size_t i, const struct forward_config *cfg,
                            struct fwd_target *t, struct ho_error *err)
{
    long batch = FORWARD_BATCH_DEFAULT, backoff = FORWARD_BACKOFF_DEFAULT;

    if (!cJSON_IsObject(o))
        return fwd_err(err, i, NULL, "must be an object");
    if (fwd_type(o, i, &t->type, err) != HO_OK || fwd_keys_check(o, i, t->type, err) != HO_OK ||
        fwd_name(o, i, t, cfg, err) != HO_OK ||
        fwd_int(o, i, "batch_size", 1, FWD_BATCH_MAX, &batch, err) != HO_OK ||
        fwd_int(o, i, "max_backoff", 1, FWD_BACKOFF_MAX, &backoff, err) != HO_OK)
        return HO_EINVAL;
    t->batch_size = (size_t)batch;
    t->max_backoff_s = (int)backoff;
    if (t->type == FORWARD_GRAPHITE)
        return fwd_graphite(o, i, t, err);
    return fwd_http(o, i, t, err);
}

enum ho_code forward_config_parse(const char *json, size_t len, struct forward_config **out,
                                  struct ho_error *err)
{
    struct forward_config *cfg = xcalloc(1, sizeof(*cfg));
    cJSON *root = NULL;
    const cJSON *it;
    enum ho_code rc = HO_OK;
    size_t i = 0;

    *out = NULL;
    if (json == NULL)
        goto done;
    root = cJSON_ParseWithLength(json, len);
    if (root == NULL || !cJSON_IsArray(root) || cJSON_GetArraySize(root) > FORWARD_MAX) {
        rc = ho_error_set(err, HO_EINVAL, "forwarders", "must be an array of at most %d objects",
                          FORWARD_MAX);
        goto done;
    }
    cfg->v = xcalloc((size_t)cJSON_GetArraySize(root) + 1, sizeof(*cfg->v));
    cJSON_ArrayForEach(it, root)
    {
        rc = fwd_one(it, i, cfg, &cfg->v[i], err);
        if (rc != HO_OK) {
            fwd_target_cleanup(&cfg->v[i]);
            goto done;
        }
        cfg->n = ++i;
    }
done:
    cJSON_Delete(root);
    if (rc != HO_OK) {
        forward_config_free(cfg);
        return rc;
    }
    *out = cfg;
    return HO_OK;
}
