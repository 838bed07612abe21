/*
 * Package distribution over the API (DESIGN.md sections 3, 5 and 6):
 *   POST   /packages                        admin: publish a bundle (raw body)
 *   GET    /packages, /packages/NAME        read: versions, assignment, who runs what
 *   GET    /packages/NAME/VERSION/bundle    agent/read: the tar.gz bytes
 *   PUT    /assignments/NAME                admin: selector, version, rollout percent
 *   DELETE /assignments/NAME                admin
 *   GET    /agents/self/packages            agent: what this agent is to run (ETag)
 *
 * A published bundle is checked the way the agent will check it: its manifest
 * (bundle_read_manifest + manifest_parse) and layout (bundle_check), and, when
 * publisher_keys are configured, its detached Ed25519 signature (sign_verify).
 * NAME + VERSION is immutable: the same bytes again are answered with the
 * stored record, other bytes are a conflict.
 *
 * Which version an agent gets is server/rollout.c's decision over what the
 * store hands over in one call; the answer carries an ETag so the agents'
 * minutely poll is mostly a 304 without a body.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "api_impl.h"
#include "api_packages.h"
#include "app.h"
#include "bundle.h"
#include "clock.h"
#include "crypto.h"
#include "log.h"
#include "manifest.h"
#include "mem.h"
#include "rollout.h"
#include "run.h"
#include "sign.h"
#include "store_packages.h"
#include "store_read.h"

#define API_SEG_MAX 80 /* a path segment (name or version) copied out of the path */

static const char *const no_params[] = {NULL};

/* ---- setup ---- */

enum ho_code api_packages_init(struct app *app, struct ho_error *err)
{
    const struct config_list *l = &app->cfg.publisher_keys;
    char id[SIGN_KEY_ID_LEN];
    enum ho_code rc;
    size_t i;

    app->publisher_keys = l->n > 0 ? xcalloc(l->n, sizeof(*app->publisher_keys)) : NULL;
    app->npublisher_keys = 0;
    for (i = 0; i < l->n; i++) {
        rc = sign_pubkey_load(l->items[i], &app->publisher_keys[i], err);
        if (rc != HO_OK) {
            ho_error_prefix_field(err, "publisher_keys");
            api_packages_cleanup(app);
            return rc;
        }
        app->npublisher_keys++;
        sign_pubkey_id(app->publisher_keys[i], id);
        log_info("packages: publisher key %s from %s", id, l->items[i]);
    }
    return HO_OK;
}

void api_packages_cleanup(struct app *app)
{
    size_t i;

    for (i = 0; i < app->npublisher_keys; i++)
        sign_pubkey_free(app->publisher_keys[i]);
    free(app->publisher_keys);
    app->publisher_keys = NULL;
    app->npublisher_keys = 0;
}

/* ---- JSON builders ---- */

static void add_time(cJSON *o, const char *key, int64_t ms)
{
    char t[CLOCK_RFC3339_LEN];

    if (ms <= 0) {
        cJSON_AddNullToObject(o, key);
        return;
    }
    clock_format_rfc3339(ms, t);
    cJSON_AddStringToObject(o, key, t);
}

static void add_str_or_null(cJSON *o, const char *key, const char *v)
{
    if (v != NULL)
        cJSON_AddStringToObject(o, key, v);
    else
        cJSON_AddNullToObject(o, key);
}

/* Parses JSON text the store holds (written by us); an empty fallback when it does not parse. */
static cJSON *stored_json(const char *text, int array)
{
    cJSON *v = text != NULL ? cJSON_Parse(text) : NULL;

    if (v == NULL || (array ? !cJSON_IsArray(v) : !cJSON_IsObject(v))) {
        cJSON_Delete(v);
        v = array ? cJSON_CreateArray() : cJSON_CreateObject();
    }
    return v;
}

static cJSON *assignment_json(const struct pkg_assignment *a)
{
    cJSON *o = cJSON_CreateObject();

    cJSON_AddStringToObject(o, "name", a->package);
    cJSON_AddItemToObject(o, "selector", stored_json(a->selector_json, 0));
    cJSON_AddStringToObject(o, "version", a->version);
    cJSON_AddStringToObject(o, "resolved_version", a->resolved_version);
    add_str_or_null(o, "previous_version", a->previous_version);
    cJSON_AddNumberToObject(o, "rollout_percent", a->rollout_percent);
    add_time(o, "updated_at", a->updated_at_ms);
    cJSON_AddBoolToObject(o, "halted", a->halted);
    add_str_or_null(o, "halt_reason", a->halted ? a->halt_reason : NULL);
    add_time(o, "halted_at", a->halted ? a->halted_at_ms : 0);
    return o;
}

static cJSON *version_json(const struct pkg_version *v, int with_name)
{
    cJSON *o = cJSON_CreateObject();

    if (with_name)
        cJSON_AddStringToObject(o, "name", v->name);
    cJSON_AddStringToObject(o, "version", v->version);
    cJSON_AddStringToObject(o, "sha256", v->sha256);
    cJSON_AddNumberToObject(o, "size", (double)v->size);
    cJSON_AddBoolToObject(o, "signed", v->signature != NULL);
    add_str_or_null(o, "key_id", v->key_id);
    add_time(o, "published_at", v->published_at_ms);
    return o;
}

/* ---- POST /packages ---- */

/* Copies the base64 signature sig (surrounding whitespace dropped) into out; -1 when malformed. */
static int signature_text(const char *sig, char out[SIGN_BASE64_LEN])
{
    static const char b64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    size_t n;

    sig += strspn(sig, " \t\r\n");
    n = strcspn(sig, " \t\r\n");
    if (sig[n + strspn(sig + n, " \t\r\n")] != '\0' || n != SIGN_BASE64_LEN - 1)
        return -1;
    /* 64 bytes are 86 base64 characters and "==" */
    if (strspn(sig, b64) != n - 2 || sig[n - 2] != '=' || sig[n - 1] != '=')
        return -1;
    memcpy(out, sig, n);
    out[n] = '\0';
    return 0;
}

/* Makes err->field "bundle:FIELD" ("bundle" alone when it had none). */
static void bundle_field(struct ho_error *err, const char *inner)
{
    char f[HO_ERROR_FIELD_MAX];

    if (err->field[0] == '\0' || strcmp(err->field, "bundle") == 0)
        snprintf(f, sizeof(f), "bundle%s%s", inner != NULL ? ":" : "", inner != NULL ? inner : "");
    else if (inner != NULL)
        snprintf(f, sizeof(f), "bundle:%s:%s", inner, err->field);
    else if (strncmp(err->field, "bundle", 6) == 0)
        snprintf(f, sizeof(f), "%s", err->field);
    else
        snprintf(f, sizeof(f), "bundle:%s", err->field);
    snprintf(err->field, sizeof(err->field), "%s", f);
}

/* Reads and validates the manifest of the bundle in req into m (and its text into *json). */
static int publish_manifest(const struct api_request *req, struct manifest *m, char **json,
                            struct api_response *resp)
{
    struct ho_error err;
    size_t len = 0;
    enum ho_code rc;

    ho_error_clear(&err);
    rc = bundle_read_manifest(req->body, req->body_len, json, &len, &err);
    if (rc == HO_OK) {
        rc = manifest_parse(*json, len, m, &err);
        if (rc != HO_OK)
            bundle_field(&err, MANIFEST_FILE);
    } else {
        bundle_field(&err, NULL);
    }
    if (rc == HO_OK) {
        rc = bundle_check(req->body, req->body_len, m, &err);
        if (rc != HO_OK)
            bundle_field(&err, NULL);
    }
    if (rc != HO_OK) {
        api_error(resp, rc == HO_ETOOBIG ? HO_ETOOBIG : HO_EINVAL, err.field, err.msg);
        return -1;
    }
    return 0;
}

/* Checks the X-HealOps-Signature header against the publisher keys; fills sig and key_id. */
static int publish_signature(struct app *app, const struct api_request *req,
                             char sig[SIGN_BASE64_LEN], char key_id[SIGN_KEY_ID_LEN],
                             struct api_response *resp)
{
    struct ho_error err;
    size_t which = 0;
    enum ho_code rc;

    sig[0] = '\0';
    key_id[0] = '\0';
    if (req->signature == NULL) {
        if (app->npublisher_keys == 0)
            return 0;
        api_error(resp, HO_EINVAL, "signature",
                  "unsigned bundle: this server requires a signature by a publisher key "
                  "(X-HealOps-Signature)");
        return -1;
    }
    if (signature_text(req->signature, sig) != 0) {
        api_error(resp, HO_EINVAL, "signature",
                  "X-HealOps-Signature must be the base64 of a 64-byte Ed25519 signature");
        return -1;
    }
    if (app->npublisher_keys == 0)
        return 0; /* kept for the agents' trust keys to verify */
    ho_error_clear(&err);
    rc = sign_verify(app->publisher_keys, app->npublisher_keys, req->body, req->body_len, sig,
                     &which, &err);
    if (rc != HO_OK) {
        api_error(resp, HO_EINVAL, "signature",
                  rc == HO_EAUTH ? "signature does not verify with any publisher key"
                                 : "X-HealOps-Signature is not a valid Ed25519 signature");
        return -1;
    }
    sign_pubkey_id(app->publisher_keys[which], key_id);
    return 0;
}

static char *check_names_json(const struct manifest *m)
{
    cJSON *a = cJSON_CreateArray();
    char *text;
    size_t i;

    for (i = 0; i < m->nchecks; i++)
        cJSON_AddItemToArray(a, cJSON_CreateString(m->checks[i].name));
    text = cJSON_PrintUnformatted(a);
    cJSON_Delete(a);
    if (text == NULL) {
        log_error("api: out of memory printing check names");
        abort();
    }
    return text;
}

static void api_packages_post(struct app *app, const struct api_request *req,
                              struct api_response *resp)
{
    struct api_principal who;
    struct manifest m;
    struct pkg_publish p;
    struct pkg_version out;
    char *json = NULL, *checks = NULL, *msg;
    char sig[SIGN_BASE64_LEN], key_id[SIGN_KEY_ID_LEN];
    int created = 0;
    enum ho_code rc;
    cJSON *o;

    memset(&m, 0, sizeof(m));
    memset(&out, 0, sizeof(out));
    if (api_auth(app, req, API_SCOPE(TOKEN_SCOPE_ADMIN), &who, resp) != HO_OK)
        return;
    if (api_params_known(req, no_params, resp) != 0)
        return;
    if (req->body == NULL || req->body_len == 0) {
        api_error(resp, HO_EINVAL, "bundle", "the request body must be the bundle (tar.gz) bytes");
        return;
    }
    if (req->body_len > BUNDLE_MAX_BYTES) {
        api_error(resp, HO_ETOOBIG, "bundle", "a bundle is at most 16 MiB");
        return;
    }
    if (publish_signature(app, req, sig, key_id, resp) != 0 ||
        publish_manifest(req, &m, &json, resp) != 0)
        goto out;
    checks = check_names_json(&m);
    memset(&p, 0, sizeof(p));
    p.v.name = m.name;
    p.v.version = m.version;
    crypto_sha256_hex(req->body, req->body_len, p.v.sha256);
    p.v.signature = sig[0] != '\0' ? sig : NULL;
    p.v.key_id = key_id[0] != '\0' ? key_id : NULL;
    p.v.description = m.description;
    p.v.checks_json = checks;
    p.v.published_at_ms = clock_wall_ms();
    p.manifest_json = json;
    p.data = req->body;
    p.len = req->body_len;
    rc = store_package_publish(app->store, &p, p.v.published_at_ms, &out, &created);
    if (rc == HO_EEXIST) {
        msg = xasprintf("%s %s is already published with other bytes; publish a new version",
                        m.name, m.version);
        api_error(resp, HO_EEXIST, "version", msg);
        free(msg);
        goto out;
    }
    if (rc != HO_OK) {
        api_error(resp, rc, NULL, "could not store the package");
        goto out;
    }
    log_info("packages: %s %s %s sha256=%s size=%zu signed=%s key=%s token=%lld",
             created ? "published" : "republished (same bytes)", m.name, m.version, out.sha256,
             req->body_len, out.signature != NULL ? "yes" : "no",
             out.key_id != NULL ? out.key_id : "-", (long long)who.token_id);
    o = version_json(&out, 1);
    cJSON_AddBoolToObject(o, "created", created);
    api_json_tree(resp, created ? 201 : 200, o);
out:
    store_pkg_version_cleanup(&out);
    manifest_cleanup(&m);
    free(json);
    cJSON_free(checks);
}

/* ---- GET /packages ---- */

static int version_cmp_desc(const void *a, const void *b)
{
    const struct pkg_version *x = a, *y = b;

    return rollout_semver_cmp(y->version, x->version);
}

/* Adds the summary of versions v[0..n) (one package) to arr. */
static void package_summary(cJSON *arr, const struct pkg_version *v, size_t n,
                            const struct pkg_assignment *as, size_t nas)
{
    const char **names = xcalloc(n, sizeof(*names));
    const struct pkg_version *latest;
    cJSON *o = cJSON_CreateObject();
    size_t i;

    for (i = 0; i < n; i++)
        names[i] = v[i].version;
    latest = &v[rollout_latest(names, n)];
    free(names);
    cJSON_AddStringToObject(o, "name", v[0].name);
    cJSON_AddStringToObject(o, "latest", latest->version);
    cJSON_AddNumberToObject(o, "versions", (double)n);
    add_str_or_null(o, "description", latest->description);
    for (i = 0; i < nas && strcmp(as[i].package, v[0].name) != 0; i++)
        ;
    if (i < nas)
        cJSON_AddItemToObject(o, "assignment", assignment_json(&as[i]));
    else
        cJSON_AddNullToObject(o, "assignment");
    cJSON_AddItemToArray(arr, o);
}

static void api_packages_list(struct app *app, const struct api_request *req,
                              struct api_response *resp)
{
    struct pkg_version *v = NULL;
    struct pkg_assignment *as = NULL;
    size_t n = 0, nas = 0, i, j;
    enum ho_code rc;
    cJSON *o, *arr;

    if (api_auth(app, req, API_SCOPE(TOKEN_SCOPE_READ) | API_SCOPE(TOKEN_SCOPE_ADMIN), NULL,
                 resp) != HO_OK ||
        api_params_known(req, no_params, resp) != 0)
        return;
    rc = store_package_versions_all(app->store, &v, &n);
    if (rc == HO_OK)
        rc = store_assignments_all(app->store, &as, &nas);
    if (rc != HO_OK) {
        api_error(resp, rc, NULL, "could not read the packages");
        goto out;
    }
    o = cJSON_CreateObject();
    arr = cJSON_AddArrayToObject(o, "packages");
    for (i = 0; i < n; i = j) {
        for (j = i + 1; j < n && strcmp(v[j].name, v[i].name) == 0; j++)
            ;
        package_summary(arr, v + i, j - i, as, nas);
    }
    api_json_tree(resp, 200, o);
out:
    store_pkg_versions_free(v, n);
    store_pkg_assignments_free(as, nas);
}

/* ---- GET /packages/NAME ---- */

/* The version an agent with labels is assigned by a (NULL when none). */
static const char *assigned_version(const struct pkg_assignment *a, const struct tag *sel,
                                    size_t nsel, const char *agent_id, const char *labels_json)
{
    struct tag *labels = NULL;
    size_t n = 0;
    struct ho_error err;
    enum rollout_pick pick = ROLLOUT_PICK_NONE;

    if (rollout_labels_parse(labels_json, labels_json != NULL ? strlen(labels_json) : 0, "labels",
                             &labels, &n, &err) != HO_OK)
        return NULL;
    if (rollout_selector_match(sel, nsel, labels, n))
        pick = rollout_decide(agent_id, a->package, a->rollout_percent, a->halted,
                              a->previous_version != NULL);
    rollout_tags_free(labels, n);
    if (pick == ROLLOUT_PICK_NEW)
        return a->resolved_version;
    return pick == ROLLOUT_PICK_PREVIOUS ? a->previous_version : NULL;
}

/* Adds "agents" and "agents_truncated" for package name to o. */
static enum ho_code package_agents_json(struct app *app, const char *name,
                                        const struct pkg_assignment *a, cJSON *o)
{
    struct store_read *rd = NULL;
    struct pkg_agent *ag = NULL;
    struct tag *sel = NULL;
    struct ho_error err;
    size_t n = 0, nsel = 0, i;
    cJSON *arr, *x;
    enum ho_code rc;

    if (a != NULL && rollout_labels_parse(a->selector_json, strlen(a->selector_json), "selector",
                                          &sel, &nsel, &err) != HO_OK)
        a = NULL; /* cannot happen: the store holds what PUT validated */
    rc = store_read_open(app->cfg.db, &rd, &err);
    if (rc == HO_OK)
        rc = store_package_agents(rd, name, a != NULL ? a->selector_json : NULL,
                                  STORE_PKG_AGENTS_MAX + 1, &ag, &n);
    store_read_close(rd);
    if (rc != HO_OK)
        goto out;
    arr = cJSON_AddArrayToObject(o, "agents");
    for (i = 0; i < n && i < STORE_PKG_AGENTS_MAX; i++) {
        x = cJSON_CreateObject();
        cJSON_AddStringToObject(x, "agent_id", ag[i].agent_id);
        cJSON_AddStringToObject(x, "agent", ag[i].name);
        add_str_or_null(x, "version", ag[i].version);
        add_str_or_null(
            x, "assigned_version",
            a != NULL ? assigned_version(a, sel, nsel, ag[i].agent_id, ag[i].labels_json) : NULL);
        add_str_or_null(x, "error", ag[i].error);
        add_str_or_null(x, "error_version", ag[i].error_version);
        cJSON_AddItemToArray(arr, x);
    }
    cJSON_AddBoolToObject(o, "agents_truncated", n > STORE_PKG_AGENTS_MAX);
out:
    rollout_tags_free(sel, nsel);
    store_pkg_agents_free(ag, n);
    return rc;
}

static void api_package_get(struct app *app, const struct api_request *req,
                            struct api_response *resp, const char *name)
{
    struct pkg_version *v = NULL;
    struct pkg_assignment a;
    size_t n = 0, i;
    int have_a = 0;
    enum ho_code rc;
    cJSON *o = NULL, *arr, *x;

    memset(&a, 0, sizeof(a));
    if (api_auth(app, req, API_SCOPE(TOKEN_SCOPE_READ) | API_SCOPE(TOKEN_SCOPE_ADMIN), NULL,
                 resp) != HO_OK ||
        api_params_known(req, no_params, resp) != 0)
        return;
    rc = store_package_versions(app->store, name, &v, &n);
    if (rc == HO_OK) {
        rc = store_assignment_get(app->store, name, &a);
        have_a = rc == HO_OK;
        if (rc == HO_ENOENT)
            rc = HO_OK;
    }
    if (rc != HO_OK) {
        api_error(resp, rc, NULL, "could not read the package");
        goto out;
    }
    if (n == 0) {
        api_error(resp, HO_ENOENT, "name", "no such package");
        goto out;
    }
    qsort(v, n, sizeof(*v), version_cmp_desc);
    o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "name", name);
    arr = cJSON_AddArrayToObject(o, "versions");
    for (i = 0; i < n; i++) {
        x = version_json(&v[i], 0);
        add_str_or_null(x, "description", v[i].description);
        cJSON_AddItemToObject(x, "checks", stored_json(v[i].checks_json, 1));
        cJSON_AddItemToArray(arr, x);
    }
    if (have_a)
        cJSON_AddItemToObject(o, "assignment", assignment_json(&a));
    else
        cJSON_AddNullToObject(o, "assignment");
    rc = package_agents_json(app, name, have_a ? &a : NULL, o);
    if (rc != HO_OK) {
        api_error(resp, rc, NULL, "could not read the agents of the package");
        goto out;
    }
    api_json_tree(resp, 200, o);
    o = NULL;
out:
    cJSON_Delete(o);
    store_pkg_versions_free(v, n);
    store_pkg_assignment_cleanup(&a);
}

/* ---- GET /packages/NAME/VERSION/bundle ---- */

static void api_bundle_get(struct app *app, const struct api_request *req,
                           struct api_response *resp, const char *name, const char *version)
{
    struct store_read *rd = NULL;
    struct ho_error err;
    char sha[CRYPTO_SHA256_HEX_LEN];
    void *data = NULL;
    size_t len = 0;
    enum ho_code rc;

    if (api_auth(app, req,
                 API_SCOPE(TOKEN_SCOPE_AGENT) | API_SCOPE(TOKEN_SCOPE_READ) |
                     API_SCOPE(TOKEN_SCOPE_ADMIN),
                 NULL, resp) != HO_OK ||
        api_params_known(req, no_params, resp) != 0)
        return;
    if (!rollout_semver_ok(version)) {
        api_error(resp, HO_EINVAL, "version", "must be a semantic version");
        return;
    }
    rc = store_read_open(app->cfg.db, &rd, &err);
    if (rc == HO_OK)
        rc = store_package_bundle(rd, name, version, &data, &len, sha);
    store_read_close(rd);
    if (rc != HO_OK) {
        api_error(resp, rc, rc == HO_ENOENT ? "version" : NULL,
                  rc == HO_ENOENT ? "no such package version" : "could not read the bundle");
        return;
    }
    api_response_cleanup(resp);
    resp->status = 200;
    resp->body = data;
    resp->body_len = len;
    resp->content_type = "application/gzip";
    resp->header_name = "X-HealOps-Sha256";
    snprintf(resp->header_value, sizeof(resp->header_value), "%s", sha);
    snprintf(resp->etag, sizeof(resp->etag), "\"%s\"", sha);
}

/* ---- PUT and DELETE /assignments/NAME ---- */

/* "rollout_percent": an integer 0..100, default 100. */
static int put_percent(const cJSON *v, int *out, struct api_response *resp)
{
    *out = 100;
    if (v == NULL)
        return 0;
    if (!cJSON_IsNumber(v) || v->valuedouble < 0 || v->valuedouble > 100 ||
        (double)(int)v->valuedouble != v->valuedouble) {
        api_error(resp, HO_EINVAL, "rollout_percent", "must be an integer from 0 to 100");
        return -1;
    }
    *out = (int)v->valuedouble;
    return 0;
}

/* "selector": an object of label = value; its canonical text into *out (caller frees). */
static int put_selector(const cJSON *v, char **out, struct api_response *resp)
{
    struct ho_error err;
    struct tag *t = NULL;
    size_t n = 0;
    char *text;

    *out = NULL;
    if (v == NULL) {
        *out = xstrdup("{}");
        return 0;
    }
    if (!cJSON_IsObject(v)) {
        api_error(resp, HO_EINVAL, "selector", "must be an object of label = value strings");
        return -1;
    }
    text = cJSON_PrintUnformatted(v);
    if (text == NULL) {
        log_error("api: out of memory printing a selector");
        abort();
    }
    if (rollout_labels_parse(text, strlen(text), "selector", &t, &n, &err) != HO_OK) {
        api_error(resp, HO_EINVAL, err.field, err.msg);
        cJSON_free(text);
        return -1;
    }
    rollout_tags_free(t, n);
    *out = xstrdup(text);
    cJSON_free(text);
    return 0;
}

static int put_known_keys(const cJSON *root, struct api_response *resp)
{
    const cJSON *it;

    cJSON_ArrayForEach (it, root) {
        if (strcmp(it->string, "selector") != 0 && strcmp(it->string, "version") != 0 &&
            strcmp(it->string, "rollout_percent") != 0) {
            api_error(resp, HO_EINVAL, it->string, "unknown key");
            return -1;
        }
    }
    return 0;
}

static void api_assignment_put(struct app *app, const struct api_request *req,
                               struct api_response *resp, const char *name)
{
    struct pkg_assignment a;
    struct ho_error err;
    cJSON *root = NULL;
    const cJSON *ver;
    char *selector = NULL;
    int percent;
    enum ho_code rc;

    memset(&a, 0, sizeof(a));
    if (api_auth(app, req, API_SCOPE(TOKEN_SCOPE_ADMIN), NULL, resp) != HO_OK ||
        api_params_known(req, no_params, resp) != 0)
        return;
    if (req->body != NULL)
        root = cJSON_ParseWithLength(req->body, req->body_len);
    if (!cJSON_IsObject(root)) {
        api_error(resp, HO_EINVAL, NULL, "request body is not a JSON object");
        goto out;
    }
    if (put_known_keys(root, resp) != 0)
        goto out;
    ver = cJSON_GetObjectItemCaseSensitive(root, "version");
    if (!cJSON_IsString(ver) ||
        (strcmp(ver->valuestring, ROLLOUT_LATEST) != 0 && !rollout_semver_ok(ver->valuestring))) {
        api_error(resp, HO_EINVAL, "version",
                  "must be a published version (MAJOR.MINOR.PATCH[-pre]) or \"latest\"");
        goto out;
    }
    if (put_selector(cJSON_GetObjectItemCaseSensitive(root, "selector"), &selector, resp) != 0 ||
        put_percent(cJSON_GetObjectItemCaseSensitive(root, "rollout_percent"), &percent, resp) != 0)
        goto out;
    ho_error_clear(&err);
    rc = store_assignment_put(app->store, name, selector, ver->valuestring, percent,
                              clock_wall_ms(), &a, &err);
    if (rc != HO_OK) {
        api_error(resp, rc, err.field, err.msg[0] != '\0' ? err.msg : "could not store");
        goto out;
    }
    log_info("packages: assignment %s version=%s resolved=%s previous=%s rollout=%d%% selector=%s",
             name, a.version, a.resolved_version,
             a.previous_version != NULL ? a.previous_version : "-", a.rollout_percent, selector);
    api_json_tree(resp, 200, assignment_json(&a));
out:
    free(selector);
    store_pkg_assignment_cleanup(&a);
    cJSON_Delete(root);
}

static void api_assignment_delete(struct app *app, const struct api_request *req,
                                  struct api_response *resp, const char *name)
{
    enum ho_code rc;
    cJSON *o;

    if (api_auth(app, req, API_SCOPE(TOKEN_SCOPE_ADMIN), NULL, resp) != HO_OK ||
        api_params_known(req, no_params, resp) != 0)
        return;
    rc = store_assignment_delete(app->store, name);
    if (rc != HO_OK) {
        api_error(resp, rc, rc == HO_ENOENT ? "name" : NULL,
                  rc == HO_ENOENT ? "no assignment for this package" : "could not delete");
        return;
    }
    log_info("packages: assignment %s deleted", name);
    o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "name", name);
    cJSON_AddBoolToObject(o, "deleted", 1);
    api_json_tree(resp, 200, o);
}

/* ---- GET /agents/self/packages ---- */

/* Adds the entry agent_id gets from offer o to arr, if any. */
static void offer_json(cJSON *arr, const struct pkg_offer *o, const char *agent_id,
                       const struct tag *labels, size_t nlabels)
{
    struct tag *sel = NULL;
    struct ho_error err;
    size_t nsel = 0;
    enum rollout_pick pick;
    const char *version, *sha, *sig;
    char *url;
    int64_t size;
    cJSON *x;

    if (rollout_labels_parse(o->a.selector_json, strlen(o->a.selector_json), "selector", &sel,
                             &nsel, &err) != HO_OK)
        return;
    pick = rollout_selector_match(sel, nsel, labels, nlabels)
               ? rollout_decide(agent_id, o->a.package, o->a.rollout_percent, o->a.halted,
                                o->a.previous_version != NULL)
               : ROLLOUT_PICK_NONE;
    rollout_tags_free(sel, nsel);
    if (pick == ROLLOUT_PICK_NONE)
        return;
    if (pick == ROLLOUT_PICK_NEW) {
        version = o->a.resolved_version;
        sha = o->new_sha256;
        size = o->new_size;
        sig = o->new_signature;
    } else {
        version = o->a.previous_version;
        sha = o->prev_sha256;
        size = o->prev_size;
        sig = o->prev_signature;
    }
    x = cJSON_CreateObject();
    cJSON_AddStringToObject(x, "name", o->a.package);
    cJSON_AddStringToObject(x, "version", version);
    cJSON_AddStringToObject(x, "sha256", sha);
    cJSON_AddNumberToObject(x, "size", (double)size);
    add_str_or_null(x, "signature", sig);
    url = xasprintf("/api/v1/packages/%s/%s/bundle", o->a.package, version);
    cJSON_AddStringToObject(x, "bundle_url", url);
    free(url);
    cJSON_AddItemToArray(arr, x);
}

static void api_self_packages(struct app *app, const struct api_request *req,
                              struct api_response *resp)
{
    struct api_principal who;
    struct pkg_offer *o = NULL;
    struct tag *labels = NULL;
    struct ho_error err;
    char *labels_json = NULL;
    size_t n = 0, nlabels = 0, i;
    enum ho_code rc;
    cJSON *out, *arr;

    if (api_auth(app, req, API_SCOPE(TOKEN_SCOPE_AGENT), &who, resp) != HO_OK ||
        api_params_known(req, no_params, resp) != 0)
        return;
    rc = store_agent_offers(app->store, who.agent_id, &labels_json, &o, &n);
    if (rc != HO_OK) {
        api_error(resp, rc, NULL, rc == HO_ENOENT ? "unknown agent" : "could not read packages");
        goto out;
    }
    if (rollout_labels_parse(labels_json, strlen(labels_json), "labels", &labels, &nlabels, &err) !=
        HO_OK)
        log_warnx("packages: agent %s has unreadable labels; only empty selectors match",
                  who.agent_id);
    out = cJSON_CreateObject();
    arr = cJSON_AddArrayToObject(out, "packages");
    for (i = 0; i < n; i++)
        offer_json(arr, &o[i], who.agent_id, labels, nlabels);
    api_json_tree(resp, 200, out);
    api_etag(req, resp);
out:
    rollout_tags_free(labels, nlabels);
    free(labels_json);
    store_pkg_offers_free(o, n);
}

/* ---- heartbeat package errors ---- */

static int text_ok(const char *s, size_t max)
{
    const unsigned char *p;

    if (strlen(s) > max)
        return 0;
    for (p = (const unsigned char *)s; *p != '\0'; p++)
        if (*p < 0x20 || *p == 0x7f)
            return 0;
    return 1;
}

/* Only "name", "version" and "error". */
static int error_keys_ok(const cJSON *o)
{
    const cJSON *k;

    cJSON_ArrayForEach (k, o) {
        if (strcmp(k->string, "name") != 0 && strcmp(k->string, "version") != 0 &&
            strcmp(k->string, "error") != 0)
            return 0;
    }
    return 1;
}

int api_package_errors_parse(const cJSON *a, struct pkg_error **out, size_t *n,
                             struct api_response *resp)
{
    const cJSON *it, *nm, *ver, *er;
    struct pkg_error *e;
    char field[64];
    size_t k = 0;

    *out = NULL;
    *n = 0;
    if (!cJSON_IsArray(a) || cJSON_GetArraySize(a) > API_MAX_PACKAGE_ERRORS) {
        api_error(resp, HO_EINVAL, "package_errors", "must be an array of at most 64 entries");
        return -1;
    }
    e = xcalloc((size_t)cJSON_GetArraySize(a) + 1, sizeof(*e));
    cJSON_ArrayForEach (it, a) {
        snprintf(field, sizeof(field), "package_errors[%zu]", k);
        nm = cJSON_GetObjectItemCaseSensitive(it, "name");
        ver = cJSON_GetObjectItemCaseSensitive(it, "version");
        er = cJSON_GetObjectItemCaseSensitive(it, "error");
        if (!cJSON_IsObject(it) || !error_keys_ok(it) || !cJSON_IsString(nm) ||
            !rollout_name_ok(nm->valuestring) ||
            (ver != NULL && !cJSON_IsNull(ver) &&
             (!cJSON_IsString(ver) || !text_ok(ver->valuestring, ROLLOUT_VERSION_MAX))) ||
            !cJSON_IsString(er) || er->valuestring[0] == '\0' ||
            !text_ok(er->valuestring, API_PACKAGE_ERROR_MAX)) {
            api_error(resp, HO_EINVAL, field,
                      "must be {\"name\": PACKAGE, \"version\": VERSION, \"error\": TEXT} (error "
                      "1-1024 characters, no control characters)");
            free(e);
            return -1;
        }
        e[k].package = nm->valuestring;
        e[k].version = cJSON_IsString(ver) ? ver->valuestring : NULL;
        e[k].error = er->valuestring;
        k++;
    }
    *out = e;
    *n = k;
    return 0;
}

/* ---- routing ---- */

/*
 * Copies the path segment at s (up to '/' or the end) into out; returns the
 * rest (at the '/' or the NUL) or NULL when the segment is empty or too long.
 */
static const char *segment(const char *s, char out[API_SEG_MAX])
{
    size_t n = strcspn(s, "/");

    if (n == 0 || n >= API_SEG_MAX)
        return NULL;
    memcpy(out, s, n);
    out[n] = '\0';
    return s + n;
}

/* /packages/... after "/packages/": NAME or NAME/VERSION/bundle. */
static int route_package(struct app *app, const struct api_request *req, const char *rest, int get,
                         struct api_response *resp)
{
    char name[API_SEG_MAX], version[API_SEG_MAX];
    const char *p = segment(rest, name);

    if (p == NULL || !get)
        return 0;
    if (*p == '\0' || (p[0] == '/' && p[1] == '\0')) {
        if (!rollout_name_ok(name))
            api_error(resp, HO_EINVAL, "name", "must be a package name [a-z0-9][a-z0-9._-]*");
        else
            api_package_get(app, req, resp, name);
        return 1;
    }
    p = segment(p + 1, version);
    if (p == NULL || strcmp(p, "/bundle") != 0)
        return 0;
    if (!rollout_name_ok(name))
        api_error(resp, HO_EINVAL, "name", "must be a package name [a-z0-9][a-z0-9._-]*");
    else
        api_bundle_get(app, req, resp, name, version);
    return 1;
}

int api_packages_route(struct app *app, const struct api_request *req, const char *p,
                       struct api_response *resp)
{
    int get = strcmp(req->method, "GET") == 0 || strcmp(req->method, "HEAD") == 0;
    int put = strcmp(req->method, "PUT") == 0, del = strcmp(req->method, "DELETE") == 0;
    char name[API_SEG_MAX];
    const char *rest;

    if (strcmp(p, "/packages") == 0) {
        if (strcmp(req->method, "POST") == 0)
            api_packages_post(app, req, resp);
        else if (get)
            api_packages_list(app, req, resp);
        else
            return 0;
        return 1;
    }
    if (strncmp(p, "/packages/", 10) == 0)
        return route_package(app, req, p + 10, get, resp);
    if (strcmp(p, "/agents/self/packages") == 0 && get) {
        api_self_packages(app, req, resp);
        return 1;
    }
    if (strncmp(p, "/assignments/", 13) != 0 || !(put || del))
        return 0;
    rest = segment(p + 13, name);
    if (rest == NULL || *rest != '\0')
        return 0;
    if (!rollout_name_ok(name))
        api_error(resp, HO_EINVAL, "name", "must be a package name [a-z0-9][a-z0-9._-]*");
    else if (put)
        api_assignment_put(app, req, resp, name);
    else
        api_assignment_delete(app, req, resp, name);
    return 1;
}
