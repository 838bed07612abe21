/*
 * Tests of signed graph links (server/urlsign.h): a link made by
 * urlsign_graph_url verifies; a changed parameter, a changed expiry, another
 * key or a passed expiry do not; the key file beside the database is made
 * once (0600, 32 bytes) and kept across starts; bad key files are refused.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "mem.h"
#include "urlsign.h"

#define NOW 1795528800000LL /* 2026-11-24T14:00:00Z */
#define PUB "https://healops.example:8443/"

static char tmpdir[256];

static int setup(void **state)
{
    (void)state;
    snprintf(tmpdir, sizeof(tmpdir), "/tmp/healops-urlsign-test-XXXXXX");
    assert_non_null(mkdtemp(tmpdir));
    return 0;
}

static int teardown(void **state)
{
    char cmd[300];

    (void)state;
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", tmpdir);
    assert_int_equal(system(cmd), 0);
    return 0;
}

/* The decoded value of query parameter key in url, a new string or NULL. */
static char *qparam(const char *url, const char *key)
{
    const char *q = strchr(url, '?'), *p, *end;
    size_t klen = strlen(key), i, o = 0;
    char *out;

    for (p = q; p != NULL; p = strchr(p + 1, '&')) {
        if (strncmp(p + 1, key, klen) == 0 && p[1 + klen] == '=') {
            p += klen + 2;
            end = strchr(p, '&');
            end = end != NULL ? end : p + strlen(p);
            out = xmalloc((size_t)(end - p) + 1);
            for (i = 0; p + i < end; i++) {
                unsigned int c;

                if (p[i] == '%' && sscanf(p + i + 1, "%2x", &c) == 1) {
                    out[o++] = (char)c;
                    i += 2;
                } else {
                    out[o++] = p[i];
                }
            }
            out[o] = '\0';
            return out;
        }
    }
    return NULL;
}

static enum ho_code verify(const struct urlsign *us, const char *url, const char *agent,
                           const char *check, const char *metric, int64_t now, struct ho_error *err)
{
    char *exp = qparam(url, "exp"), *sig = qparam(url, "sig");
    enum ho_code rc;

    ho_error_clear(err);
    rc = urlsign_graph_verify(us, agent, check, metric, exp, sig, now, err);
    free(exp);
    free(sig);
    return rc;
}

static const unsigned char key1[32] = "0123456789abcdef0123456789abcdef";
static const unsigned char key2[32] = "fedcba9876543210fedcba9876543210";

static void test_urlsign_valid_link(void **state)
{
    struct urlsign *us = urlsign_new(key1, sizeof(key1), 3600);
    struct ho_error err;
    const char *want;
    char *url, *v;

    (void)state;
    url = urlsign_graph_url(us, PUB, "web 1", "nginx/running", "nginx.workers", NOW);
    assert_non_null(url);
    want = "https://healops.example:8443/api/v1/graph.png?agent=web%201&check=nginx%2Frunning"
           "&metric=nginx.workers&exp=1795532400&sig=";
    assert_int_equal(strncmp(url, want, strlen(want)), 0);
    v = qparam(url, "sig");
    assert_int_equal(strlen(v), 64);
    free(v);
    v = qparam(url, "check");
    assert_string_equal(v, "nginx/running");
    free(v);
    assert_int_equal(verify(us, url, "web 1", "nginx/running", "nginx.workers", NOW + 1000, &err),
                     HO_OK);
    /* still valid at the last second */
    assert_int_equal(
        verify(us, url, "web 1", "nginx/running", "nginx.workers", NOW + 3600 * 1000LL + 999, &err),
        HO_OK);
    free(url);

    /* without a metric: no metric= in the link, "" in the MAC (absent and empty agree) */
    url = urlsign_graph_url(us, "https://h", "a", "c", NULL, NOW);
    assert_null(strstr(url, "metric="));
    assert_int_equal(strncmp(url, "https://h/api/v1/graph.png?agent=a&check=c&exp=", 47), 0);
    assert_int_equal(verify(us, url, "a", "c", NULL, NOW, &err), HO_OK);
    assert_int_equal(verify(us, url, "a", "c", "", NOW, &err), HO_OK);
    free(url);
    assert_null(urlsign_graph_url(us, NULL, "a", "c", NULL, NOW));
    assert_null(urlsign_graph_url(NULL, PUB, "a", "c", NULL, NOW));
    urlsign_free(us);
}

static void test_urlsign_tampered_expired_wrong_key(void **state)
{
    struct urlsign *us = urlsign_new(key1, sizeof(key1), 3600);
    struct urlsign *other = urlsign_new(key2, sizeof(key2), 3600);
    struct ho_error err;
    char sig[URLSIGN_SIG_HEX_LEN], *url, *exp;

    (void)state;
    url = urlsign_graph_url(us, PUB, "web1", "nginx.running", "m", NOW);
    /* another agent, check or metric */
    assert_int_equal(verify(us, url, "web2", "nginx.running", "m", NOW, &err), HO_EPERM);
    assert_string_equal(err.field, "sig");
    assert_string_equal(err.msg, "invalid signature");
    assert_int_equal(verify(us, url, "web1", "nginx.stopped", "m", NOW, &err), HO_EPERM);
    assert_int_equal(verify(us, url, "web1", "nginx.running", "x", NOW, &err), HO_EPERM);
    assert_int_equal(verify(us, url, "web1", "nginx.running", NULL, NOW, &err), HO_EPERM);
    /* another key */
    assert_int_equal(verify(other, url, "web1", "nginx.running", "m", NOW, &err), HO_EPERM);
    /* expired */
    assert_int_equal(verify(us, url, "web1", "nginx.running", "m", NOW + 3601 * 1000LL, &err),
                     HO_EPERM);
    assert_string_equal(err.field, "exp");
    assert_string_equal(err.msg, "link expired");
    /* a later exp with the old signature */
    exp = qparam(url, "exp");
    urlsign_sign(us, "web1", "nginx.running", "m", 1795532400, sig);
    assert_int_equal(
        urlsign_graph_verify(us, "web1", "nginx.running", "m", "1795999999", sig, NOW, &err),
        HO_EPERM);
    assert_string_equal(err.msg, "invalid signature");
    /* junk */
    assert_int_equal(urlsign_graph_verify(us, "web1", "nginx.running", "m", exp, "zz", NOW, &err),
                     HO_EPERM);
    assert_int_equal(urlsign_graph_verify(us, "web1", "nginx.running", "m", "-1", sig, NOW, &err),
                     HO_EPERM);
    assert_int_equal(urlsign_graph_verify(us, "web1", "nginx.running", "m", NULL, sig, NOW, &err),
                     HO_EPERM);
    assert_int_equal(urlsign_graph_verify(NULL, "web1", "nginx.running", "m", exp, sig, NOW, &err),
                     HO_EPERM);
    free(exp);
    free(url);
    urlsign_free(us);
    urlsign_free(other);
}

static void test_urlsign_key_file_beside_db(void **state)
{
    struct urlsign *a = NULL, *b = NULL;
    struct ho_error err;
    char db[400], key[450], *u1, *u2;
    struct stat sb;

    (void)state;
    snprintf(db, sizeof(db), "%s/healops.db", tmpdir);
    snprintf(key, sizeof(key), "%s.url-key", db);
    ho_error_clear(&err);
    assert_int_equal(urlsign_open(NULL, db, 600, &a, &err), HO_OK);
    assert_int_equal(stat(key, &sb), 0);
    assert_int_equal(sb.st_mode & 0777, 0600);
    assert_int_equal(sb.st_size, URLSIGN_KEY_LEN);
    assert_int_equal(urlsign_open(NULL, db, 600, &b, &err), HO_OK);
    u1 = urlsign_graph_url(a, PUB, "x", "y", "z", NOW);
    u2 = urlsign_graph_url(b, PUB, "x", "y", "z", NOW);
    assert_string_equal(u1, u2); /* the same key after a restart */
    assert_int_equal(verify(b, u1, "x", "y", "z", NOW, &err), HO_OK);
    free(u1);
    free(u2);
    urlsign_free(a);
    urlsign_free(b);

    /* the configured key file is used as is; the link verifies with a signer of its bytes */
    assert_int_equal(urlsign_open(key, NULL, 600, &a, &err), HO_OK);
    urlsign_free(a);
    /* in-memory database: a key in memory only */
    assert_int_equal(urlsign_open(NULL, ":memory:", 600, &a, &err), HO_OK);
    urlsign_free(a);
}

static void test_urlsign_bad_key_files(void **state)
{
    struct urlsign *us = NULL;
    struct ho_error err;
    char path[400];
    FILE *fp;

    (void)state;
    snprintf(path, sizeof(path), "%s/short.key", tmpdir);
    fp = fopen(path, "w");
    fputs("too short", fp);
    fclose(fp);
    ho_error_clear(&err);
    assert_int_not_equal(urlsign_open(path, NULL, 600, &us, &err), HO_OK);
    assert_null(us);
    assert_string_equal(err.field, "url_signing_key_file");
    assert_non_null(strstr(err.msg, "32 to 4096 bytes"));
    snprintf(path, sizeof(path), "%s/missing.key", tmpdir);
    assert_int_not_equal(urlsign_open(path, NULL, 600, &us, &err), HO_OK);
    assert_non_null(strstr(err.msg, "cannot read"));
    /* a configured file that is missing is not made */
    assert_int_not_equal(access(path, F_OK), 0);
    /* a directory */
    assert_int_not_equal(urlsign_open(tmpdir, NULL, 600, &us, &err), HO_OK);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_urlsign_valid_link),
        cmocka_unit_test(test_urlsign_tampered_expired_wrong_key),
        cmocka_unit_test_setup_teardown(test_urlsign_key_file_beside_db, setup, teardown),
        cmocka_unit_test_setup_teardown(test_urlsign_bad_key_files, setup, teardown),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
