/*
 * Unit tests for agent/pkgsync.c: the package store of the agent. Real
 * bundles (bundle_build), real Ed25519 keys (sign_keygen, sign_data) and a
 * real state folder under $TMPDIR; the HTTP part is covered by the
 * integration tests (tests/integration/packages_agent.py).
 */
#include <errno.h>
#include <ftw.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <archive.h>
#include <archive_entry.h>
#include <cmocka.h>

#include "bundle.h"
#include "crypto.h"
#include "log.h"
#include "manifest.h"
#include "pkglist.h"
#include "pkgsync.h"
#include "sign.h"
#include "test_unpack.h"

/* One test's world: a temp folder with keys, package sources and a state folder. */
struct world {
    char *dir;
    char *state;
    char *key;       /* trusted private key */
    char *other_key; /* a key the agent does not trust */
    struct sign_pubkey *pub;
    struct pkgsync *ps;
};

/* A bundle and the assignment that announces it. */
struct bundle {
    void *data;
    size_t len;
    char sha[CRYPTO_SHA256_HEX_LEN];
    char sig[SIGN_BASE64_LEN];
    struct pkgsync_entry e;
};

static char *path_of(const char *a, const char *b)
{
    char *p = NULL;

    assert_true(asprintf(&p, "%s/%s", a, b) > 0);
    return p;
}

static void write_file(const char *path, const char *text, mode_t mode)
{
    FILE *f = fopen(path, "w");

    assert_non_null(f);
    fputs(text, f);
    assert_int_equal(fclose(f), 0);
    assert_int_equal(chmod(path, mode), 0);
}

static int rm_one(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
    (void)sb;
    (void)flag;
    (void)ftw;
    return remove(path);
}

static int world_setup(void **state)
{
    struct world *w = calloc(1, sizeof(*w));
    const char *base = getenv("TMPDIR");
    char *prefix;
    struct ho_error err;

    assert_non_null(w);
    if (base == NULL || base[0] == '\0')
        base = "/tmp";
    assert_true(asprintf(&w->dir, "%s/pkgsync-test-XXXXXX", base) > 0);
    assert_non_null(mkdtemp(w->dir));
    w->state = path_of(w->dir, "state");
    assert_int_equal(mkdir(w->state, 0700), 0);
    ho_error_clear(&err);
    prefix = path_of(w->dir, "trusted");
    assert_int_equal(sign_keygen(prefix, NULL, &err), HO_OK);
    w->key = path_of(w->dir, "trusted.key");
    free(prefix);
    prefix = path_of(w->dir, "other");
    assert_int_equal(sign_keygen(prefix, NULL, &err), HO_OK);
    w->other_key = path_of(w->dir, "other.key");
    free(prefix);
    prefix = path_of(w->dir, "trusted.pub");
    assert_int_equal(sign_pubkey_load(prefix, &w->pub, &err), HO_OK);
    free(prefix);
    assert_int_equal(pkgsync_new(w->state, &w->pub, 1, &w->ps, &err), HO_OK);
    *state = w;
    return 0;
}

static int world_teardown(void **state)
{
    struct world *w = *state;

    pkgsync_free(w->ps);
    sign_pubkey_free(w->pub);
    nftw(w->dir, rm_one, 16, FTW_DEPTH | FTW_PHYS);
    free(w->dir);
    free(w->state);
    free(w->key);
    free(w->other_key);
    free(w);
    return 0;
}

/* Writes package source NAME-VERSION (one exec check) and returns its folder. */
static char *make_source(struct world *w, const char *name, const char *version)
{
    char *dir = NULL, *checks, *p;
    char json[512];

    assert_true(asprintf(&dir, "%s/src-%s-%s", w->dir, name, version) > 0);
    assert_int_equal(mkdir(dir, 0755), 0);
    checks = path_of(dir, "checks");
    assert_int_equal(mkdir(checks, 0755), 0);
    p = path_of(checks, "ok.test");
    write_file(p, "#!/bin/sh\necho OK\n", 0755);
    free(p);
    free(checks);
    snprintf(json, sizeof(json),
             "{\"name\": \"%s\", \"version\": \"%s\", \"checks\": [{\"name\": \"%s.ok\", "
             "\"interval\": 60, \"test\": {\"exec\": [\"checks/ok.test\"]}}]}",
             name, version, name);
    p = path_of(dir, MANIFEST_FILE);
    write_file(p, json, 0644);
    free(p);
    return dir;
}

/* Fills b->sha and b->sig (signed with key, none when NULL) and b->e. */
static void announce(struct bundle *b, const char *name, const char *version, const char *key)
{
    struct ho_error err;

    crypto_sha256_hex(b->data, b->len, b->sha);
    b->sig[0] = '\0';
    if (key != NULL)
        assert_int_equal(sign_data(key, b->data, b->len, b->sig, &err), HO_OK);
    b->e.name = name;
    b->e.version = version;
    b->e.sha256 = b->sha;
    b->e.signature = key != NULL ? b->sig : NULL;
}

/* A real bundle of package NAME VERSION, signed with key (NULL: unsigned). */
static void make_bundle(struct world *w, struct bundle *b, const char *name, const char *version,
                        const char *key)
{
    struct ho_error err;
    char *src = make_source(w, name, version);

    memset(b, 0, sizeof(*b));
    ho_error_clear(&err);
    assert_int_equal(bundle_build(src, &b->data, &b->len, NULL, &err), HO_OK);
    free(src);
    announce(b, name, version, key);
}

/* A hand-made bundle with the manifest text given (bundle_build would refuse it). */
static void make_raw_bundle(struct bundle *b, const char *name, const char *version,
                            const char *manifest, const char *key)
{
    struct archive *a = archive_write_new();
    struct archive_entry *e = archive_entry_new();
    size_t cap = 64 * 1024, used = 0;

    memset(b, 0, sizeof(*b));
    b->data = malloc(cap);
    assert_non_null(b->data);
    assert_int_equal(archive_write_set_format_pax_restricted(a), ARCHIVE_OK);
    assert_int_equal(archive_write_add_filter_gzip(a), ARCHIVE_OK);
    assert_int_equal(archive_write_open_memory(a, b->data, cap, &used), ARCHIVE_OK);
    archive_entry_set_pathname(e, MANIFEST_FILE);
    archive_entry_set_filetype(e, AE_IFREG);
    archive_entry_set_perm(e, 0644);
    archive_entry_set_size(e, (la_int64_t)strlen(manifest));
    assert_int_equal(archive_write_header(a, e), ARCHIVE_OK);
    assert_int_equal(archive_write_data(a, manifest, strlen(manifest)), (la_ssize_t)strlen(manifest));
    archive_entry_free(e);
    assert_int_equal(archive_write_close(a), ARCHIVE_OK);
    archive_write_free(a);
    b->len = used;
    announce(b, name, version, key);
}

static void bundle_free(struct bundle *b)
{
    free(b->data);
}

/* The target of STATE/packages/NAME/which, "" when there is none. */
static const char *link_of(struct world *w, const char *name, const char *which)
{
    static char out[128];
    char *p = NULL;
    ssize_t n;

    assert_true(asprintf(&p, "%s/packages/%s/%s", w->state, name, which) > 0);
    n = readlink(p, out, sizeof(out) - 1);
    free(p);
    out[n > 0 ? n : 0] = '\0';
    return out;
}

static int exists(struct world *w, const char *rel)
{
    struct stat st;
    char *p = NULL;
    int ok;

    assert_true(asprintf(&p, "%s/packages/%s", w->state, rel) > 0);
    ok = lstat(p, &st) == 0;
    free(p);
    return ok;
}

static void install_ok(struct world *w, const char *name, const char *version)
{
    struct bundle b;
    struct ho_error err;

    make_bundle(w, &b, name, version, w->key);
    ho_error_clear(&err);
    assert_int_equal(pkgsync_install(w->ps, &b.e, b.data, b.len, &err), HO_OK);
    bundle_free(&b);
}

/* Asserts install of b fails with rc, a message containing msg, and that 1.0.0 stays. */
static void install_refused(struct world *w, struct bundle *b, enum ho_code rc, const char *msg)
{
    struct ho_error err;
    char *what = NULL;

    ho_error_clear(&err);
    assert_int_equal(pkgsync_install(w->ps, &b->e, b->data, b->len, &err), rc);
    assert_true(asprintf(&what, "%s: %s", err.field, err.msg) > 0);
    if (strstr(what, msg) == NULL)
        fail_msg("error \"%s\" lacks \"%s\"", what, msg);
    free(what);
    assert_string_equal(link_of(w, "web", "current"), "1.0.0");
    assert_true(exists(w, "web/1.0.0/" MANIFEST_FILE));
    assert_false(exists(w, "web/2.0.0"));
    bundle_free(b);
}

/* --- tests --------------------------------------------------------------- */

static void test_pkgsync_install_switches_current_and_previous(void **state)
{
    struct world *w = *state;
    unsigned long g0 = pkgsync_generation(w->ps);

    install_ok(w, "web", "1.0.0");
    assert_string_equal(link_of(w, "web", "current"), "1.0.0");
    assert_string_equal(link_of(w, "web", "previous"), "");
    assert_true(exists(w, "web/1.0.0/checks/ok.test"));
    assert_true(pkgsync_generation(w->ps) > g0);
    install_ok(w, "web", "1.1.0");
    assert_string_equal(link_of(w, "web", "current"), "1.1.0");
    assert_string_equal(link_of(w, "web", "previous"), "1.0.0");
    install_ok(w, "web", "1.2.0");
    assert_string_equal(link_of(w, "web", "current"), "1.2.0");
    assert_string_equal(link_of(w, "web", "previous"), "1.1.0");
    assert_false(exists(w, "web/1.0.0")); /* older than previous: removed */
    assert_true(exists(w, "web/1.1.0"));
    assert_false(exists(w, "web/.current.tmp"));
}

static void test_pkgsync_keeps_running_version_folder(void **state)
{
    struct world *w = *state;
    struct manifest m = {0};
    const struct manifest *run[1] = {&m};

    install_ok(w, "web", "1.0.0");
    m.name = (char *)"web";
    m.version = (char *)"1.0.0";
    pkgsync_set_running(w->ps, run, 1); /* the daemon has not swapped yet */
    install_ok(w, "web", "1.1.0");
    install_ok(w, "web", "1.2.0");
    assert_true(exists(w, "web/1.0.0"));
    pkgsync_set_running(w->ps, NULL, 0);
    install_ok(w, "web", "1.3.0");
    assert_false(exists(w, "web/1.0.0"));
    assert_false(exists(w, "web/1.1.0"));
}

static void test_pkgsync_refuses_wrong_sha(void **state)
{
    struct world *w = *state;
    struct bundle b;

    install_ok(w, "web", "1.0.0");
    make_bundle(w, &b, "web", "2.0.0", w->key);
    b.sha[0] = b.sha[0] == '0' ? '1' : '0';
    install_refused(w, &b, HO_EINVAL, "sha256");
}

static void test_pkgsync_refuses_unsigned(void **state)
{
    struct world *w = *state;
    struct bundle b;

    install_ok(w, "web", "1.0.0");
    make_bundle(w, &b, "web", "2.0.0", NULL);
    install_refused(w, &b, HO_EAUTH, "unsigned bundle");
}

static void test_pkgsync_refuses_untrusted_signature(void **state)
{
    struct world *w = *state;
    struct bundle b;

    install_ok(w, "web", "1.0.0");
    make_bundle(w, &b, "web", "2.0.0", w->other_key);
    install_refused(w, &b, HO_EAUTH, "signature does not verify with any trusted key");
}

static void test_pkgsync_refuses_bytes_changed_after_signing(void **state)
{
    struct world *w = *state;
    struct bundle b;

    install_ok(w, "web", "1.0.0");
    make_bundle(w, &b, "web", "2.0.0", w->key);
    ((unsigned char *)b.data)[b.len - 1] ^= 1;
    crypto_sha256_hex(b.data, b.len, b.sha); /* the server announces the tampered bytes */
    install_refused(w, &b, HO_EAUTH, "signature does not verify");
}

static void test_pkgsync_refuses_without_trust_keys(void **state)
{
    struct world *w = *state;
    struct pkgsync *none = NULL;
    struct bundle b;
    struct ho_error err;

    install_ok(w, "web", "1.0.0");
    ho_error_clear(&err);
    assert_int_equal(pkgsync_new(w->state, NULL, 0, &none, &err), HO_OK);
    make_bundle(w, &b, "web", "2.0.0", w->key);
    assert_int_equal(pkgsync_install(none, &b.e, b.data, b.len, &err), HO_EAUTH);
    assert_non_null(strstr(err.msg, "--trust-key"));
    pkgsync_free(none);
    assert_string_equal(link_of(w, "web", "current"), "1.0.0");
    /* the same bundle with the key configured installs */
    assert_int_equal(pkgsync_install(w->ps, &b.e, b.data, b.len, &err), HO_OK);
    assert_string_equal(link_of(w, "web", "current"), "2.0.0");
    bundle_free(&b);
}

static void test_pkgsync_refuses_name_mismatch(void **state)
{
    struct world *w = *state;
    struct bundle b;

    install_ok(w, "web", "1.0.0");
    make_bundle(w, &b, "api", "2.0.0", w->key);
    b.e.name = "web"; /* assigned as web, but the bundle is api */
    install_refused(w, &b, HO_EINVAL, "not \"web\"");
    assert_false(exists(w, "api"));
}

static void test_pkgsync_refuses_version_mismatch(void **state)
{
    struct world *w = *state;
    struct bundle b;

    install_ok(w, "web", "1.0.0");
    make_bundle(w, &b, "web", "3.0.0", w->key);
    b.e.version = "2.0.0";
    install_refused(w, &b, HO_EINVAL, "version");
}

static void test_pkgsync_refuses_invalid_manifest(void **state)
{
    struct world *w = *state;
    struct bundle b;

    install_ok(w, "web", "1.0.0");
    make_raw_bundle(&b, "web", "2.0.0",
                    "{\"name\": \"web\", \"version\": \"2.0.0\", \"checks\": [{\"name\": \"x\", "
                    "\"interval\": 0, \"test\": {\"probe\": \"tcp\", \"port\": 80}}]}",
                    w->key);
    install_refused(w, &b, HO_EINVAL, "interval");
    make_raw_bundle(&b, "web", "2.0.0", "{not json", w->key);
    install_refused(w, &b, HO_EINVAL, "");
    memset(&b, 0, sizeof(b));
    b.data = strdup("not a tar.gz at all");
    b.len = strlen(b.data);
    announce(&b, "web", "2.0.0", w->key);
    install_refused(w, &b, HO_EINVAL, "");
}

static void test_pkgsync_refuses_unsafe_names(void **state)
{
    struct world *w = *state;
    struct bundle b;
    struct ho_error err;

    install_ok(w, "web", "1.0.0");
    make_bundle(w, &b, "web", "2.0.0", w->key);
    b.e.name = "../evil";
    assert_int_equal(pkgsync_install(w->ps, &b.e, b.data, b.len, &err), HO_EINVAL);
    b.e.name = "web";
    b.e.version = "../../x";
    assert_int_equal(pkgsync_install(w->ps, &b.e, b.data, b.len, &err), HO_EINVAL);
    b.e.version = "current";
    assert_int_equal(pkgsync_install(w->ps, &b.e, b.data, b.len, &err), HO_EINVAL);
    bundle_free(&b);
    assert_string_equal(link_of(w, "web", "current"), "1.0.0");
}

static void test_pkgsync_load_at_start(void **state)
{
    struct world *w = *state;
    struct manifest **m = NULL, local;
    struct ho_error err;
    size_t n = 0;

    install_ok(w, "web", "1.0.0");
    install_ok(w, "web", "2.0.0");
    install_ok(w, "db", "0.1.0");
    pkgsync_free(w->ps);
    ho_error_clear(&err);
    assert_int_equal(pkgsync_new(w->state, &w->pub, 1, &w->ps, &err), HO_OK);
    pkgsync_load(w->ps, NULL, 0, &m, &n);
    assert_int_equal(n, 2);
    assert_string_equal(m[0]->name, "db");
    assert_string_equal(m[1]->name, "web");
    assert_string_equal(m[1]->version, "2.0.0");
    assert_non_null(strstr(m[1]->dir, "/packages/web/2.0.0"));
    assert_int_equal(m[1]->nchecks, 1);
    pkgsync_manifests_free(m, n);
    /* a --package-dir package of the same name wins */
    memset(&local, 0, sizeof(local));
    local.name = (char *)"web";
    pkgsync_load(w->ps, &local, 1, &m, &n);
    assert_int_equal(n, 1);
    assert_string_equal(m[0]->name, "db");
    pkgsync_manifests_free(m, n);
}

static void test_pkgsync_open_empties_tmp(void **state)
{
    struct world *w = *state;
    struct ho_error err;
    char *p = NULL;

    assert_true(asprintf(&p, "%s/packages/.tmp/web-1.0.0.abc", w->state) > 0);
    assert_int_equal(mkdir(p, 0700), 0);
    free(p);
    pkgsync_free(w->ps);
    assert_int_equal(pkgsync_new(w->state, &w->pub, 1, &w->ps, &err), HO_OK);
    assert_true(exists(w, ".tmp"));
    assert_false(exists(w, ".tmp/web-1.0.0.abc"));
}

static void test_pkgsync_rolls_back_when_current_is_invalid(void **state)
{
    struct world *w = *state;
    struct manifest **m = NULL;
    struct pkgsync_item *run = NULL, *errs = NULL;
    size_t n = 0, nrun = 0, nerrs = 0;
    unsigned long g;
    char *p = NULL;

    install_ok(w, "web", "1.0.0");
    install_ok(w, "web", "2.0.0");
    assert_true(asprintf(&p, "%s/packages/web/2.0.0/%s", w->state, MANIFEST_FILE) > 0);
    write_file(p, "{\"name\": \"web\", \"version\": \"2.0.0\", \"bogus\": 1}", 0644);
    free(p);
    g = pkgsync_generation(w->ps);
    (void)pkgsync_take_changed(w->ps);
    pkgsync_load(w->ps, NULL, 0, &m, &n);
    assert_int_equal(n, 1);
    assert_string_equal(m[0]->version, "1.0.0");
    pkgsync_manifests_free(m, n);
    assert_string_equal(link_of(w, "web", "current"), "1.0.0");
    assert_string_equal(link_of(w, "web", "previous"), "");
    assert_true(pkgsync_generation(w->ps) > g);
    assert_true(pkgsync_take_changed(w->ps));
    assert_int_equal(pkgsync_report(w->ps, &run, &nrun, &errs, &nerrs), 0);
    assert_null(run);
    assert_int_equal(nerrs, 1);
    assert_string_equal(errs[0].name, "web");
    assert_string_equal(errs[0].version, "2.0.0");
    assert_non_null(strstr(errs[0].error, "bogus"));
    assert_non_null(strstr(errs[0].error, "rolled back to 1.0.0"));
    pkgsync_items_free(errs, nerrs);
    /* nothing to roll back to: the package does not run */
    assert_true(asprintf(&p, "%s/packages/web/1.0.0/%s", w->state, MANIFEST_FILE) > 0);
    write_file(p, "{", 0644);
    free(p);
    pkgsync_load(w->ps, NULL, 0, &m, &n);
    assert_int_equal(n, 0);
    pkgsync_manifests_free(m, n);
    /* a good install afterwards works and is current */
    install_ok(w, "web", "3.0.0");
    assert_string_equal(link_of(w, "web", "current"), "3.0.0");
}

static void test_pkgsync_retain_stops_unassigned(void **state)
{
    struct world *w = *state;
    struct manifest **m = NULL;
    const char *keep[] = {"db"};
    size_t n = 0;
    unsigned long g;

    install_ok(w, "web", "1.0.0");
    install_ok(w, "db", "0.1.0");
    g = pkgsync_generation(w->ps);
    pkgsync_retain(w->ps, keep, 1);
    assert_true(pkgsync_generation(w->ps) > g);
    assert_string_equal(link_of(w, "web", "current"), "");
    assert_string_equal(link_of(w, "web", "previous"), "1.0.0");
    assert_true(exists(w, "web/1.0.0"));
    assert_string_equal(link_of(w, "db", "current"), "0.1.0");
    pkgsync_load(w->ps, NULL, 0, &m, &n);
    assert_int_equal(n, 1);
    assert_string_equal(m[0]->name, "db");
    pkgsync_manifests_free(m, n);
    g = pkgsync_generation(w->ps);
    pkgsync_retain(w->ps, keep, 1); /* nothing more to stop */
    assert_int_equal(pkgsync_generation(w->ps), g);
    /* assigned again: a new install makes it current, the old folder is previous */
    install_ok(w, "web", "1.1.0");
    assert_string_equal(link_of(w, "web", "current"), "1.1.0");
}

static void test_pkgsync_report_running(void **state)
{
    struct world *w = *state;
    struct manifest a = {0}, b = {0};
    const struct manifest *run[2] = {&a, &b};
    struct pkgsync_item *items = NULL, *errs = NULL;
    size_t n = 0, nerrs = 0;

    a.name = (char *)"web";
    a.version = (char *)"1.0.0";
    b.name = (char *)"db";
    b.version = (char *)"0.1.0";
    assert_false(pkgsync_take_changed(w->ps));
    pkgsync_set_running(w->ps, run, 2);
    assert_true(pkgsync_take_changed(w->ps));
    assert_false(pkgsync_take_changed(w->ps));
    pkgsync_set_running(w->ps, run, 2); /* the same again is no change */
    assert_false(pkgsync_take_changed(w->ps));
    assert_int_equal(pkgsync_report(w->ps, &items, &n, &errs, &nerrs), 1);
    assert_int_equal(n, 2);
    assert_int_equal(nerrs, 0);
    assert_string_equal(items[1].name, "db");
    assert_string_equal(items[1].version, "0.1.0");
    assert_null(items[1].error);
    pkgsync_items_free(items, n);
    pkgsync_items_free(errs, nerrs);
}

#define SHA "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
#define URL "/api/v1/packages/web/1.0.0/bundle"

static void test_pkglist_parses_assignments(void **state)
{
    const char *body = "{\"packages\":[{\"name\":\"db\",\"version\":\"0.1.0-rc.1\","
                       "\"sha256\":\"" SHA "\",\"size\":10,\"signature\":null,"
                       "\"bundle_url\":\"" URL "\"},{\"name\":\"web\",\"version\":\"1.0.0\","
                       "\"sha256\":\"" SHA "\",\"size\":10,\"signature\":\"c2ln\","
                       "\"bundle_url\":\"" URL "\"}]}";
    struct pkglist_entry *e = NULL;
    struct ho_error err;
    size_t n = 0;

    (void)state;
    assert_int_equal(pkglist_parse(body, strlen(body), &e, &n, &err), HO_OK);
    assert_int_equal(n, 2);
    assert_string_equal(e[0].version, "0.1.0-rc.1");
    assert_null(e[0].signature);
    assert_string_equal(e[1].signature, "c2ln");
    assert_string_equal(e[1].url, URL);
    pkglist_free(e, n);
    assert_int_equal(pkglist_parse("{\"packages\":[]}", 15, &e, &n, &err), HO_OK);
    assert_int_equal(n, 0);
    pkglist_free(e, n);
}

static void test_pkglist_refuses_bad_entries(void **state)
{
    static const struct {
        const char *entry;
        const char *field;
    } bad[] = {
        {"{\"name\":\"../x\",\"version\":\"1.0.0\",\"sha256\":\"" SHA "\",\"bundle_url\":\"" URL
         "\"}", "packages[0].name"},
        {"{\"name\":\"web\",\"version\":\"current\",\"sha256\":\"" SHA
         "\",\"bundle_url\":\"" URL "\"}", "packages[0].version"},
        {"{\"name\":\"web\",\"version\":\"1.0.0\",\"sha256\":\"ABC\",\"bundle_url\":\"" URL
         "\"}", "packages[0].sha256"},
        {"{\"name\":\"web\",\"version\":\"1.0.0\",\"sha256\":\"" SHA
         "\",\"bundle_url\":\"https://evil.example/x\"}", "packages[0].bundle_url"},
        {"{\"name\":\"web\",\"version\":\"1.0.0\",\"sha256\":\"" SHA
         "\",\"bundle_url\":\"/api/v1/../../x\"}", "packages[0].bundle_url"},
        {"{\"name\":\"web\",\"version\":\"1.0.0\",\"sha256\":\"" SHA
         "\",\"bundle_url\":\"" URL "\",\"signature\":5}", "packages[0].signature"},
        {"7", "packages[0]"},
    };
    struct pkglist_entry *e = NULL;
    struct ho_error err;
    char body[1024];
    size_t i, n = 0;

    (void)state;
    for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        snprintf(body, sizeof(body), "{\"packages\":[%s]}", bad[i].entry);
        ho_error_clear(&err);
        assert_int_equal(pkglist_parse(body, strlen(body), &e, &n, &err), HO_EINVAL);
        if (strncmp(err.field, bad[i].field, strlen(bad[i].field)) != 0)
            fail_msg("case %zu: field %s, want %s", i, err.field, bad[i].field);
        assert_null(e);
    }
    snprintf(body, sizeof(body),
             "{\"packages\":[{\"name\":\"web\",\"version\":\"1.0.0\",\"sha256\":\"" SHA
             "\",\"bundle_url\":\"" URL "\"},{\"name\":\"web\",\"version\":\"2.0.0\","
             "\"sha256\":\"" SHA "\",\"bundle_url\":\"" URL "\"}]}");
    assert_int_equal(pkglist_parse(body, strlen(body), &e, &n, &err), HO_EINVAL);
    assert_string_equal(err.field, "packages[1].name");
    assert_int_equal(pkglist_parse("{\"pk\":[]}", 9, &e, &n, &err), HO_EINVAL);
    assert_int_equal(pkglist_parse("not json", 8, &e, &n, &err), HO_EINVAL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
#define T(f) cmocka_unit_test_setup_teardown(f, world_setup, world_teardown)
        T(test_pkgsync_install_switches_current_and_previous),
        T(test_pkgsync_keeps_running_version_folder),
        T(test_pkgsync_refuses_wrong_sha),
        T(test_pkgsync_refuses_unsigned),
        T(test_pkgsync_refuses_untrusted_signature),
        T(test_pkgsync_refuses_bytes_changed_after_signing),
        T(test_pkgsync_refuses_without_trust_keys),
        T(test_pkgsync_refuses_name_mismatch),
        T(test_pkgsync_refuses_version_mismatch),
        T(test_pkgsync_refuses_invalid_manifest),
        T(test_pkgsync_refuses_unsafe_names),
        T(test_pkgsync_load_at_start),
        T(test_pkgsync_open_empties_tmp),
        T(test_pkgsync_rolls_back_when_current_is_invalid),
        T(test_pkgsync_retain_stops_unassigned),
        T(test_pkgsync_report_running),
#undef T
        cmocka_unit_test(test_pkglist_parses_assignments),
        cmocka_unit_test(test_pkglist_refuses_bad_entries),
    };

    log_init("pkgsync_test", getenv("PKGSYNC_TEST_LOG") != NULL ? LOG_LEVEL_DEBUG : LOG_LEVEL_ERROR);
    test_unpack_use_build_helper();
    return cmocka_run_group_tests(tests, NULL, NULL);
}
