/*
 * unpack_bundle (agent/unpack.h) runs the real healops-agent-unpack of this
 * build: a bundle comes out as bundle_extract would make it, a refusal comes
 * back as the very error bundle_extract gives in process, and a missing or
 * broken helper is an error that names it.
 */
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

#include <cmocka.h>

#include "bundle.h"
#include "error.h"
#include "manifest.h"
#include "test_unpack.h"
#include "unpack.h"

struct fx {
    char dir[64];
    void *bundle; /* a real bundle of package "web" 1.0.0 */
    size_t len;
};

static int rm_one(const char *p, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st;
    (void)flag;
    (void)ftw;
    return remove(p);
}

static void put(const char *dir, const char *name, const char *text, mode_t mode)
{
    char p[256];
    FILE *f;

    snprintf(p, sizeof(p), "%s/%s", dir, name);
    f = fopen(p, "w");
    assert_non_null(f);
    assert_int_equal(fputs(text, f) >= 0, 1);
    assert_int_equal(fclose(f), 0);
    assert_int_equal(chmod(p, mode), 0);
}

static int fx_setup(void **state)
{
    struct fx *f = calloc(1, sizeof(*f));
    struct ho_error err;
    char src[128], checks[160];

    assert_non_null(f);
    snprintf(f->dir, sizeof(f->dir), "/tmp/unpack-test-XXXXXX");
    assert_non_null(mkdtemp(f->dir));
    snprintf(src, sizeof(src), "%s/src", f->dir);
    snprintf(checks, sizeof(checks), "%s/checks", src);
    assert_int_equal(mkdir(src, 0755), 0);
    assert_int_equal(mkdir(checks, 0755), 0);
    put(checks, "ok.test", "#!/bin/sh\necho OK\n", 0755);
    put(src, MANIFEST_FILE,
        "{\"name\": \"web\", \"version\": \"1.0.0\", \"checks\": [{\"name\": \"web.ok\", "
        "\"interval\": 60, \"test\": {\"exec\": [\"checks/ok.test\"]}}]}",
        0644);
    assert_int_equal(bundle_build(src, &f->bundle, &f->len, NULL, &err), HO_OK);
    *state = f;
    return 0;
}

static int fx_teardown(void **state)
{
    struct fx *f = *state;

    test_unpack_use_build_helper();
    nftw(f->dir, rm_one, 16, FTW_DEPTH | FTW_PHYS);
    free(f->bundle);
    free(f);
    return 0;
}

static void dest_of(const struct fx *f, const char *name, char *out, size_t cap)
{
    snprintf(out, cap, "%s/%s", f->dir, name);
}

static void test_unpack_extracts_a_bundle(void **state)
{
    struct fx *f = *state;
    struct ho_error err;
    struct stat st;
    char dest[128], p[192];

    dest_of(f, "out", dest, sizeof(dest));
    assert_int_equal(unpack_bundle(f->bundle, f->len, dest, &err), HO_OK);
    snprintf(p, sizeof(p), "%s/%s", dest, MANIFEST_FILE);
    assert_int_equal(stat(p, &st), 0);
    assert_true(S_ISREG(st.st_mode));
    snprintf(p, sizeof(p), "%s/checks/ok.test", dest);
    assert_int_equal(stat(p, &st), 0);
    assert_true((st.st_mode & 0111) != 0); /* the check stays executable */
    /* dest must be new: a second extraction into it is refused, by the helper */
    assert_int_not_equal(unpack_bundle(f->bundle, f->len, dest, &err), HO_OK);
}

/* The helper's refusal is bundle_extract's own error: code, field and message. */
static void same_refusal(struct fx *f, const void *data, size_t len, const char *name)
{
    struct ho_error in, out;
    char a[128], b[128];
    enum ho_code want, got;

    dest_of(f, name, a, sizeof(a));
    snprintf(b, sizeof(b), "%s-helper", a);
    ho_error_clear(&in);
    ho_error_clear(&out);
    want = bundle_extract(data, len, a, &in);
    got = unpack_bundle(data, len, b, &out);
    assert_int_not_equal(want, HO_OK);
    assert_int_equal(got, want);
    assert_string_equal(out.field, in.field);
    assert_string_equal(out.msg, in.msg);
}

static void test_unpack_refusals_are_bundle_extracts(void **state)
{
    struct fx *f = *state;
    static const char garbage[] = "this is not a tar.gz\tat all\n";
    struct ho_error err;
    char dest[128];

    same_refusal(f, garbage, sizeof(garbage) - 1, "garbage");
    same_refusal(f, f->bundle, f->len / 2, "cut"); /* a bundle cut short */
    dest_of(f, "empty", dest, sizeof(dest));
    assert_int_equal(unpack_bundle("", 0, dest, &err), HO_EINVAL);
    assert_string_equal(err.field, "bundle");
    assert_non_null(strstr(err.msg, "empty"));
}

static void test_unpack_missing_or_broken_helper(void **state)
{
    struct fx *f = *state;
    struct ho_error err;
    char dest[128], helper[128];

    dest_of(f, "none", dest, sizeof(dest));
    snprintf(helper, sizeof(helper), "%s/no-such-helper", f->dir);
    unpack_set_helper(helper);
    assert_int_equal(unpack_bundle(f->bundle, f->len, dest, &err), HO_EIO);
    assert_non_null(strstr(err.msg, "no-such-helper"));
    /* exit status 1 without the refusal line: an error naming the helper, not a guess */
    unpack_set_helper("/bin/false");
    assert_int_equal(unpack_bundle(f->bundle, f->len, dest, &err), HO_EIO);
    assert_non_null(strstr(err.msg, "/bin/false"));
    /* a helper that exits 0 without reading: still what it says (the agent validates after) */
    unpack_set_helper("/bin/true");
    assert_int_equal(unpack_bundle(f->bundle, f->len, dest, &err), HO_OK);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
#define T(f) cmocka_unit_test_setup_teardown(f, fx_setup, fx_teardown)
        T(test_unpack_extracts_a_bundle),
        T(test_unpack_refusals_are_bundle_extracts),
        T(test_unpack_missing_or_broken_helper),
#undef T
    };

    test_unpack_use_build_helper();
    return cmocka_run_group_tests(tests, NULL, NULL);
}
