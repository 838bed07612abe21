/*
 * Package rollouts, the pure part: the name and version rules of the manifest
 * (common/json_manifest.c), SemVer 2.0 precedence (https://semver.org/#spec-item-11),
 * label selectors, the rollout bucket and the halting rule. Everything here is
 * a function of its arguments, so tests/unit/rollout_test.c covers it whole.
 *
 * The bucket is the first 4 bytes of SHA-256("agent_id/package"), big-endian, mod
 * 100: a hash rather than the agent id's own bits, so buckets are uniform whatever
 * the ids look like and independent per package (one agent is not the canary of
 * every rollout). A 50 % rollout gives the new version to the agents in buckets
 * 0..49; raising the percentage only adds agents, it never moves one back.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "crypto.h"
#include "manifest.h"
#include "mem.h"
#include "rollout.h"
#include "run.h"

#define ROLLOUT_EPSILON 1e-9 /* rates equal up to rounding count as equal */

static int is_digit(int c)
{
    return c >= '0' && c <= '9';
}

static int is_alnum(int c)
{
    return is_digit(c) || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

int rollout_name_ok(const char *s)
{
    return s != NULL && strlen(s) <= ROLLOUT_NAME_MAX && manifest_name_ok(s, 1);
}

int rollout_semver_ok(const char *s)
{
    return s != NULL && strlen(s) <= ROLLOUT_VERSION_MAX && manifest_semver_ok(s);
}

/* Compares the digit strings a[0..na) and b[0..nb) (no leading zeros) as numbers. */
static int num_cmp(const char *a, size_t na, const char *b, size_t nb)
{
    int c;

    if (na != nb)
        return na < nb ? -1 : 1;
    c = memcmp(a, b, na);
    return c < 0 ? -1 : c > 0;
}

static int all_digits(const char *s, size_t n)
{
    size_t i;

    for (i = 0; i < n; i++)
        if (!is_digit((unsigned char)s[i]))
            return 0;
    return n > 0;
}

/* Compares one pre-release identifier each (SemVer 2.0 item 11.4). */
static int ident_cmp(const char *a, size_t na, const char *b, size_t nb)
{
    int da = all_digits(a, na), db = all_digits(b, nb), c;

    if (da && db)
        return num_cmp(a, na, b, nb);
    if (da != db)
        return da ? -1 : 1; /* numeric identifiers have lower precedence */
    c = memcmp(a, b, na < nb ? na : nb);
    if (c != 0)
        return c < 0 ? -1 : 1;
    return na == nb ? 0 : (na < nb ? -1 : 1);
}

/* Length of the text up to the first of stops (or the end). */
static size_t span_to(const char *s, const char *stops)
{
    return strcspn(s, stops);
}

/* Compares pre-release parts a and b (each after '-', ended by '+' or NUL). */
static int pre_cmp(const char *a, const char *b)
{
    size_t na, nb;
    int c;

    for (;;) {
        na = span_to(a, ".+");
        nb = span_to(b, ".+");
        c = ident_cmp(a, na, b, nb);
        if (c != 0)
            return c;
        a += na;
        b += nb;
        if (*a != '.' || *b != '.')
            break;
        a++;
        b++;
    }
    if (*a == '.')
        return 1; /* a has more identifiers */
    if (*b == '.')
        return -1;
    return 0;
}

int rollout_semver_cmp(const char *a, const char *b)
{
    const char *pa = a, *pb = b;
    size_t na, nb;
    int i, c, prea, preb;

    for (i = 0; i < 3; i++) {
        na = span_to(pa, ".-+");
        nb = span_to(pb, ".-+");
        c = num_cmp(pa, na, pb, nb);
        if (c != 0)
            return c;
        pa += na;
        pb += nb;
        if (i < 2) {
            pa += *pa == '.';
            pb += *pb == '.';
        }
    }
    prea = *pa == '-';
    preb = *pb == '-';
    if (prea != preb)
        return prea ? -1 : 1; /* a pre-release is below its release */
    if (prea) {
        c = pre_cmp(pa + 1, pb + 1);
        if (c != 0)
            return c;
    }
    c = strcmp(a, b); /* equal precedence: build metadata decides, so the order is total */
    return c < 0 ? -1 : c > 0;
}

size_t rollout_latest(const char *const *versions, size_t n)
{
    size_t i, best = n;
    int rel, best_rel = 0;

    for (i = 0; i < n; i++) {
        rel = versions[i][strcspn(versions[i], "-+")] != '-'; /* '+' starts build metadata */
        if (best == n || rel > best_rel ||
            (rel == best_rel && rollout_semver_cmp(versions[i], versions[best]) > 0)) {
            best = i;
            best_rel = rel;
        }
    }
    return best;
}

/* ---- labels and selectors ---- */

static int label_key_ok(const char *s)
{
    const char *p;

    if (s == NULL || s[0] == '\0' || strlen(s) > ROLLOUT_LABEL_KEY_MAX ||
        !is_alnum((unsigned char)s[0]))
        return 0;
    for (p = s; *p != '\0'; p++)
        if (!is_alnum((unsigned char)*p) && strchr("._-", *p) == NULL)
            return 0;
    return 1;
}

static int label_value_ok(const char *s)
{
    const unsigned char *p;

    if (strlen(s) > ROLLOUT_LABEL_VAL_MAX)
        return 0;
    for (p = (const unsigned char *)s; *p != '\0'; p++)
        if (*p < 0x20 || *p == 0x7f)
            return 0;
    return 1;
}

void rollout_tags_free(struct tag *t, size_t n)
{
    size_t i;

    for (i = 0; t != NULL && i < n; i++) {
        free(t[i].key);
        free(t[i].value);
    }
    free(t);
}

/* Checks one member of the object and appends it to t[*n]. */
static enum ho_code label_take(const cJSON *it, const char *what, struct tag *t, size_t *n,
                               struct ho_error *err)
{
    char field[HO_ERROR_FIELD_MAX];
    size_t i;

    snprintf(field, sizeof(field), "%s.%.64s", what, it->string != NULL ? it->string : "");
    if (!label_key_ok(it->string))
        return ho_error_set(err, HO_EINVAL, field,
                            "keys are 1-64 of [A-Za-z0-9._-], starting alphanumeric");
    if (!cJSON_IsString(it) || !label_value_ok(it->valuestring))
        return ho_error_set(err, HO_EINVAL, field,
                            "must be a string of at most 255 characters, no control characters");
    for (i = 0; i < *n; i++)
        if (strcmp(t[i].key, it->string) == 0)
            return ho_error_set(err, HO_EINVAL, field, "duplicate key");
    t[*n].key = xstrdup(it->string);
    t[*n].value = xstrdup(it->valuestring);
    (*n)++;
    return HO_OK;
}

enum ho_code rollout_labels_parse(const char *json, size_t len, const char *what, struct tag **out,
                                  size_t *n, struct ho_error *err)
{
    cJSON *root = NULL;
    const cJSON *it;
    struct tag *t = NULL;
    size_t k = 0;
    enum ho_code rc = HO_OK;

    *out = NULL;
    *n = 0;
    root = json != NULL ? cJSON_ParseWithLength(json, len) : NULL;
    if (!cJSON_IsObject(root)) {
        rc = ho_error_set(err, HO_EINVAL, what, "must be a JSON object of label = value strings");
        goto out;
    }
    if (cJSON_GetArraySize(root) > ROLLOUT_MAX_LABELS) {
        rc = ho_error_set(err, HO_EINVAL, what, "at most %d labels", ROLLOUT_MAX_LABELS);
        goto out;
    }
    t = xcalloc((size_t)cJSON_GetArraySize(root) + 1, sizeof(*t));
    cJSON_ArrayForEach (it, root) {
        rc = label_take(it, what, t, &k, err);
        if (rc != HO_OK)
            goto out;
    }
    *out = t;
    *n = k;
    t = NULL;
out:
    rollout_tags_free(t, k);
    cJSON_Delete(root);
    return rc;
}

int rollout_selector_match(const struct tag *sel, size_t nsel, const struct tag *labels,
                           size_t nlabels)
{
    size_t i, j;

    for (i = 0; i < nsel; i++) {
        for (j = 0; j < nlabels; j++)
            if (strcmp(sel[i].key, labels[j].key) == 0)
                break;
        if (j == nlabels || strcmp(sel[i].value, labels[j].value) != 0)
            return 0;
    }
    return 1;
}

/* ---- bucket and decision ---- */

unsigned rollout_bucket(const char *agent_id, const char *package)
{
    char hex[CRYPTO_SHA256_HEX_LEN], *key;
    unsigned long v;

    key = xasprintf("%s/%s", agent_id, package);
    crypto_sha256_hex(key, strlen(key), hex);
    free(key);
    hex[8] = '\0'; /* the first 4 bytes */
    v = strtoul(hex, NULL, 16);
    return (unsigned)(v % 100);
}

const char *rollout_pick_str(enum rollout_pick p)
{
    switch (p) {
    case ROLLOUT_PICK_NONE:
        return "none";
    case ROLLOUT_PICK_NEW:
        return "new";
    case ROLLOUT_PICK_PREVIOUS:
        return "previous";
    }
    return "unknown";
}

enum rollout_pick rollout_decide(const char *agent_id, const char *package, int percent, int halted,
                                 int has_previous)
{
    enum rollout_pick fallback = has_previous ? ROLLOUT_PICK_PREVIOUS : ROLLOUT_PICK_NONE;

    if (halted)
        return fallback;
    if (percent >= 100 || (percent > 0 && rollout_bucket(agent_id, package) < (unsigned)percent))
        return ROLLOUT_PICK_NEW;
    return fallback;
}

/* ---- halting ---- */

/* "2.5" for 0.025, "90" for 0.9: one decimal, none when it is 0. */
static void pct_text(double rate, char *out, size_t n)
{
    size_t len;

    snprintf(out, n, "%.1f", rate * 100.0);
    len = strlen(out);
    if (len > 2 && strcmp(out + len - 2, ".0") == 0)
        out[len - 2] = '\0';
}

int rollout_should_halt(const struct rollout_counts *c, const struct rollout_limits *l,
                        const char *new_version, const char *prev_version, char *reason,
                        size_t reason_len)
{
    double nr, pr;
    char np[16], pp[16];

    if (c->new_runs <= 0 || c->new_runs < l->min_runs)
        return 0;
    nr = (double)c->new_failed / (double)c->new_runs;
    pr = c->prev_runs > 0 ? (double)c->prev_failed / (double)c->prev_runs : 0.0;
    if (nr - pr < l->max_increase - ROLLOUT_EPSILON || nr <= 2.0 * pr + ROLLOUT_EPSILON)
        return 0;
    if (reason != NULL && reason_len > 0) {
        pct_text(nr, np, sizeof(np));
        pct_text(pr, pp, sizeof(pp));
        snprintf(reason, reason_len,
                 "%s failed %lld of %lld runs (%s%%) against %lld of %lld (%s%%) on %s since the "
                 "rollout began",
                 new_version, (long long)c->new_failed, (long long)c->new_runs, np,
                 (long long)c->prev_failed, (long long)c->prev_runs, pp, prev_version);
    }
    return 1;
}
