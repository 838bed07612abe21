/*
 * Tests of the package part of the store (server/store_packages.h) against a real
 * database file: immutable versions, bundle bytes read back on a read connection,
 * assignments with "latest" and previous versions, what an agent is offered,
 * package errors, the agents of a package, and the rollout watcher's counts.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "mem.h"
#include "rollout.h"
#include "run.h"
#include "store.h"
#include "store_packages.h"
#include "store_read.h"
#include "test_db.h"

#define T0 1764000000000LL

struct fx {
    char dir[64];
    char path[128];
    struct store *st;
    char web1[CRYPTO_UUID_LEN]; /* labels role=web */
    char db1[CRYPTO_UUID_LEN];  /* labels role=db */
};

static void enroll(struct store *st, const char *name, const char *labels, char id[CRYPTO_UUID_LEN])
{
    char h[CRYPTO_SHA256_HEX_LEN];

    crypto_sha256_hex(name, strlen(name), h);
    assert_int_equal(store_agent_enroll(st, name, labels, h, T0, id), HO_OK);
}

static int setup(void **state)
{
    struct fx *f = xcalloc(1, sizeof(*f));
    struct ho_error err;

    snprintf(f->dir, sizeof(f->dir), "/tmp/store_packages_test.XXXXXX");
    assert_non_null(mkdtemp(f->dir));
    snprintf(f->path, sizeof(f->path), "%s/healops.db", f->dir);
    assert_int_equal(store_open(f->path, &f->st, &err), HO_OK);
    enroll(f->st, "web1", "{\"role\":\"web\",\"dc\":\"ams\"}", f->web1);
    enroll(f->st, "db1", "{\"role\":\"db\"}", f->db1);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fx *f = *state;

    store_close(f->st);
    test_db_remove(f->path, f->dir);
    free(f);
    return 0;
}

/* Publishes name-version with bytes text; returns created. */
static enum ho_code publish(struct store *st, const char *name, const char *version,
                            const char *text, const char *sig, int *created)
{
    struct pkg_publish p;
    struct pkg_version out;
    enum ho_code rc;

    memset(&p, 0, sizeof(p));
    p.v.name = (char *)(uintptr_t)name;
    p.v.version = (char *)(uintptr_t)version;
    crypto_sha256_hex(text, strlen(text), p.v.sha256);
    p.v.signature = (char *)(uintptr_t)sig;
    p.v.checks_json = (char *)(uintptr_t) "[\"c1\"]";
    p.v.published_at_ms = T0;
    p.manifest_json = "{}";
    p.data = text;
    p.len = strlen(text);
    rc = store_package_publish(st, &p, T0, &out, created);
    if (rc == HO_OK) {
        assert_string_equal(out.name, name);
        assert_string_equal(out.version, version);
        assert_int_equal(out.size, (int64_t)strlen(text));
    }
    store_pkg_version_cleanup(&out);
    return rc;
}

static void test_store_packages_publish_immutable(void **state)
{
    struct fx *f = *state;
    struct pkg_version *v = NULL;
    struct store_read *rd = NULL;
    struct ho_error err;
    char sha[CRYPTO_SHA256_HEX_LEN], want[CRYPTO_SHA256_HEX_LEN];
    void *data = NULL;
    size_t n = 0, len = 0;
    int created = -1;

    assert_int_equal(publish(f->st, "nginx", "1.4.0", "bytes-a", NULL, &created), HO_OK);
    assert_int_equal(created, 1);
    assert_int_equal(publish(f->st, "nginx", "1.4.0", "bytes-a", "SIG", &created), HO_OK);
    assert_int_equal(created, 0);
    assert_int_equal(publish(f->st, "nginx", "1.4.0", "bytes-b", NULL, &created), HO_EEXIST);
    assert_int_equal(publish(f->st, "nginx", "1.5.0", "bytes-c", NULL, &created), HO_OK);
    assert_int_equal(store_package_versions(f->st, "nginx", &v, &n), HO_OK);
    assert_int_equal(n, 2);
    /* the unsigned record took the signature given with the same bytes */
    assert_string_equal(strcmp(v[0].version, "1.4.0") == 0 ? v[0].signature : v[1].signature,
                        "SIG");
    store_pkg_versions_free(v, n);
    assert_int_equal(store_package_versions(f->st, "other", &v, &n), HO_OK);
    assert_int_equal(n, 0);

    assert_int_equal(store_read_open(f->path, &rd, &err), HO_OK);
    assert_int_equal(store_package_bundle(rd, "nginx", "1.4.0", &data, &len, sha), HO_OK);
    assert_int_equal(len, 7);
    assert_memory_equal(data, "bytes-a", 7);
    crypto_sha256_hex("bytes-a", 7, want);
    assert_string_equal(sha, want);
    free(data);
    assert_int_equal(store_package_bundle(rd, "nginx", "9.9.9", &data, &len, sha), HO_ENOENT);
    assert_null(data);
    store_read_close(rd);
}

static void test_store_packages_assignment_versions(void **state)
{
    struct fx *f = *state;
    struct pkg_assignment a;
    struct ho_error err;
    int created;

    ho_error_clear(&err);
    assert_int_equal(store_assignment_put(f->st, "nginx", "{}", "latest", 100, T0, &a, &err),
                     HO_ENOENT);
    assert_string_equal(err.field, "name");
    assert_int_equal(publish(f->st, "nginx", "1.4.0", "a", NULL, &created), HO_OK);
    assert_int_equal(store_assignment_put(f->st, "nginx", "{}", "1.3.0", 100, T0, &a, &err),
                     HO_ENOENT);
    assert_string_equal(err.field, "version");

    assert_int_equal(
        store_assignment_put(f->st, "nginx", "{\"role\":\"web\"}", "1.4.0", 100, T0, &a, &err),
        HO_OK);
    assert_string_equal(a.resolved_version, "1.4.0");
    assert_null(a.previous_version);
    store_pkg_assignment_cleanup(&a);

    /* a new resolved version: the old one becomes previous */
    assert_int_equal(publish(f->st, "nginx", "1.5.0", "b", NULL, &created), HO_OK);
    assert_int_equal(store_assignment_put(f->st, "nginx", "{}", "1.5.0", 50, T0 + 1, &a, &err),
                     HO_OK);
    assert_string_equal(a.previous_version, "1.4.0");
    assert_int_equal(a.rollout_percent, 50);
    store_pkg_assignment_cleanup(&a);
    /* same version, other percent: previous kept */
    assert_int_equal(store_assignment_put(f->st, "nginx", "{}", "1.5.0", 80, T0 + 2, &a, &err),
                     HO_OK);
    assert_string_equal(a.previous_version, "1.4.0");
    store_pkg_assignment_cleanup(&a);

    /* halted, then moved on: the fallback stays what agents ran before the halt */
    assert_int_equal(store_rollout_halt(f->st, "nginx", T0 + 1, "stale", T0 + 3), HO_ENOENT);
    assert_int_equal(store_rollout_halt(f->st, "nginx", T0 + 2, "bad", T0 + 3), HO_OK);
    assert_int_equal(store_assignment_get(f->st, "nginx", &a), HO_OK);
    assert_true(a.halted);
    assert_string_equal(a.halt_reason, "bad");
    assert_int_equal(a.halted_at_ms, T0 + 3);
    store_pkg_assignment_cleanup(&a);
    assert_int_equal(publish(f->st, "nginx", "1.5.1", "c", NULL, &created), HO_OK);
    assert_int_equal(store_assignment_put(f->st, "nginx", "{}", "latest", 10, T0 + 4, &a, &err),
                     HO_OK);
    assert_false(a.halted);
    assert_null(a.halt_reason);
    assert_string_equal(a.version, "latest");
    assert_string_equal(a.resolved_version, "1.5.1");
    assert_string_equal(a.previous_version, "1.4.0");
    store_pkg_assignment_cleanup(&a);

    /* "latest" follows a newer release, not a pre-release */
    assert_int_equal(publish(f->st, "nginx", "1.6.0-rc.1", "d", NULL, &created), HO_OK);
    assert_int_equal(store_assignment_get(f->st, "nginx", &a), HO_OK);
    assert_string_equal(a.resolved_version, "1.5.1");
    store_pkg_assignment_cleanup(&a);
    assert_int_equal(publish(f->st, "nginx", "1.6.0", "e", NULL, &created), HO_OK);
    assert_int_equal(store_assignment_get(f->st, "nginx", &a), HO_OK);
    assert_string_equal(a.resolved_version, "1.6.0");
    assert_string_equal(a.previous_version, "1.5.1");
    assert_int_equal(a.rollout_percent, 10);
    store_pkg_assignment_cleanup(&a);

    assert_int_equal(store_assignment_delete(f->st, "nginx"), HO_OK);
    assert_int_equal(store_assignment_delete(f->st, "nginx"), HO_ENOENT);
    assert_int_equal(store_assignment_get(f->st, "nginx", &a), HO_ENOENT);
}

static void test_store_packages_offers_errors_agents(void **state)
{
    struct fx *f = *state;
    struct pkg_assignment a;
    struct pkg_offer *o = NULL;
    struct pkg_agent *ag = NULL;
    struct store_read *rd = NULL;
    struct store_heartbeat hb;
    struct pkg_error e[2] = {{"nginx", "1.5.0", "sha256 mismatch"}, {"base", NULL, "x"}};
    struct ho_error err;
    char *labels = NULL;
    size_t n = 0;
    int created;

    assert_int_equal(publish(f->st, "nginx", "1.4.0", "a", "SIGA", &created), HO_OK);
    assert_int_equal(publish(f->st, "nginx", "1.5.0", "b", NULL, &created), HO_OK);
    assert_int_equal(store_assignment_put(f->st, "nginx", "{}", "1.4.0", 100, T0, &a, &err), HO_OK);
    store_pkg_assignment_cleanup(&a);
    assert_int_equal(
        store_assignment_put(f->st, "nginx", "{\"role\":\"web\"}", "1.5.0", 50, T0, &a, &err),
        HO_OK);
    store_pkg_assignment_cleanup(&a);

    assert_int_equal(store_agent_offers(f->st, f->web1, &labels, &o, &n), HO_OK);
    assert_string_equal(labels, "{\"role\":\"web\",\"dc\":\"ams\"}");
    assert_int_equal(n, 1);
    assert_string_equal(o[0].a.package, "nginx");
    assert_string_equal(o[0].a.resolved_version, "1.5.0");
    assert_int_equal(o[0].new_size, 1);
    assert_null(o[0].new_signature);
    assert_string_equal(o[0].prev_signature, "SIGA");
    assert_int_equal(strlen(o[0].prev_sha256), 64);
    store_pkg_offers_free(o, n);
    free(labels);
    assert_int_equal(
        store_agent_offers(f->st, "019a8f3e-0000-7000-8000-000000000000", &labels, &o, &n),
        HO_ENOENT);
    assert_null(labels);

    /* package errors: replaced as a set */
    assert_int_equal(store_package_errors_set(f->st, f->db1, e, 2, T0), HO_OK);
    assert_int_equal(store_package_errors_set(f->st, f->db1, e, 1, T0), HO_OK);
    assert_int_equal(store_package_errors_set(f->st, "nope", e, 1, T0), HO_ENOENT);

    /* web1 reports running nginx 1.4.0 */
    memset(&hb, 0, sizeof(hb));
    hb.packages_json = "[{\"name\":\"nginx\",\"version\":\"1.4.0\"},{\"name\":\"base\"}]";
    assert_int_equal(store_agent_heartbeat(f->st, f->web1, &hb, T0), HO_OK);

    assert_int_equal(store_read_open(f->path, &rd, &err), HO_OK);
    assert_int_equal(store_package_agents(rd, "nginx", NULL, 100, &ag, &n), HO_OK);
    assert_int_equal(n, 2); /* db1 by its error, web1 by its heartbeat; ordered by name */
    assert_string_equal(ag[0].name, "db1");
    assert_false(ag[0].reports);
    assert_null(ag[0].version);
    assert_string_equal(ag[0].error, "sha256 mismatch");
    assert_string_equal(ag[0].error_version, "1.5.0");
    assert_string_equal(ag[1].name, "web1");
    assert_true(ag[1].reports);
    assert_string_equal(ag[1].version, "1.4.0");
    assert_null(ag[1].error);
    store_pkg_agents_free(ag, n);
    /* base: web1 reports it without a version; db1's error for it was replaced */
    assert_int_equal(store_package_agents(rd, "base", NULL, 100, &ag, &n), HO_OK);
    assert_int_equal(n, 1);
    assert_true(ag[0].reports);
    assert_null(ag[0].version);
    store_pkg_agents_free(ag, n);
    /* selected by labels only */
    assert_int_equal(store_package_agents(rd, "other", "{\"role\":\"db\"}", 100, &ag, &n), HO_OK);
    assert_int_equal(n, 1);
    assert_string_equal(ag[0].agent_id, f->db1);
    store_pkg_agents_free(ag, n);
    assert_int_equal(store_package_agents(rd, "other", "{}", 1, &ag, &n), HO_OK);
    assert_int_equal(n, 1); /* empty selector: everyone, up to the limit */
    store_pkg_agents_free(ag, n);
    assert_int_equal(
        store_package_agents(rd, "other", "{\"role\":\"db\",\"dc\":\"ams\"}", 100, &ag, &n), HO_OK);
    assert_int_equal(n, 0);
    store_pkg_agents_free(ag, n);
    store_read_close(rd);
}

static void add_run(struct store *st, const char *agent, int64_t started, const char *version,
                    enum run_outcome outcome)
{
    struct run r;
    const struct run *p = &r;
    enum store_insert res;

    memset(&r, 0, sizeof(r));
    assert_int_equal(crypto_uuid_v7(started, r.id), HO_OK);
    r.package = xstrdup("nginx");
    r.version = xstrdup(version);
    r.check = xstrdup("nginx.running");
    r.started_at_ms = started;
    r.duration_ms = 5;
    r.test.present = 1;
    r.test.status = outcome == RUN_OUTCOME_OK ? TEST_STATUS_OK : TEST_STATUS_CRITICAL;
    r.outcome = outcome;
    assert_int_equal(store_runs_insert(st, agent, &p, 1, started, &res), HO_OK);
    run_cleanup(&r);
}

static void test_store_packages_rollout_tally(void **state)
{
    struct fx *f = *state;
    struct pkg_assignment a;
    struct rollout_counts c;
    struct ho_error err;
    int created, i;

    assert_int_equal(publish(f->st, "nginx", "1.4.0", "a", NULL, &created), HO_OK);
    assert_int_equal(publish(f->st, "nginx", "1.5.0", "b", NULL, &created), HO_OK);
    add_run(f->st, f->web1, T0 + 10, "1.4.0", RUN_OUTCOME_FAILED); /* before the rollout */
    assert_int_equal(store_assignment_put(f->st, "nginx", "{}", "1.4.0", 100, T0 + 100, &a, &err),
                     HO_OK);
    store_pkg_assignment_cleanup(&a);
    /* nothing to watch without a previous version */
    assert_int_equal(store_rollout_tally(f->st, "nginx", &a, &c), HO_ENOENT);
    assert_int_equal(store_assignment_put(f->st, "nginx", "{}", "1.5.0", 50, T0 + 200, &a, &err),
                     HO_OK);
    store_pkg_assignment_cleanup(&a);
    add_run(f->st, f->web1, T0 + 150, "1.5.0", RUN_OUTCOME_FAILED); /* started before: ignored */
    for (i = 0; i < 3; i++) {
        add_run(f->st, f->web1, T0 + 300 + i, "1.5.0", i == 0 ? RUN_OUTCOME_OK : RUN_OUTCOME_ERROR);
        add_run(f->st, f->db1, T0 + 300 + i, "1.4.0", RUN_OUTCOME_OK);
    }
    add_run(f->st, f->db1, T0 + 310, "1.3.0", RUN_OUTCOME_FAILED); /* neither version */
    assert_int_equal(store_rollout_tally(f->st, "nginx", &a, &c), HO_OK);
    assert_string_equal(a.resolved_version, "1.5.0");
    assert_int_equal(c.new_runs, 3);
    assert_int_equal(c.new_failed, 2);
    assert_int_equal(c.prev_runs, 3);
    assert_int_equal(c.prev_failed, 0);
    store_pkg_assignment_cleanup(&a);
    /* incremental: only the runs stored since are added */
    add_run(f->st, f->web1, T0 + 400, "1.5.0", RUN_OUTCOME_FAILED);
    assert_int_equal(store_rollout_tally(f->st, "nginx", &a, &c), HO_OK);
    assert_int_equal(c.new_runs, 4);
    assert_int_equal(c.new_failed, 3);
    assert_int_equal(c.prev_runs, 3);
    assert_int_equal(store_rollout_halt(f->st, "nginx", a.updated_at_ms, "why", T0 + 500), HO_OK);
    store_pkg_assignment_cleanup(&a);
    assert_int_equal(store_rollout_tally(f->st, "nginx", &a, &c), HO_ENOENT); /* halted */
    assert_int_equal(store_rollout_halt(f->st, "nginx", T0 + 200, "again", T0 + 600), HO_ENOENT);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_store_packages_publish_immutable, setup, teardown),
        cmocka_unit_test_setup_teardown(test_store_packages_assignment_versions, setup, teardown),
        cmocka_unit_test_setup_teardown(test_store_packages_offers_errors_agents, setup, teardown),
        cmocka_unit_test_setup_teardown(test_store_packages_rollout_tally, setup, teardown),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
