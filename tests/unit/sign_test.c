/*
 * Unit tests for common/sign.c: key files and their modes, no overwriting,
 * sign/verify round trips, tampering, wrong keys, malformed signatures, and
 * interoperability with keys and signatures made by the openssl command.
 */
#include <errno.h>
#include <ftw.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <setjmp.h>
#include <cmocka.h>

#include "bundle.h"
#include "mem.h"
#include "sign.h"

static const char data[] = "the exact bundle bytes\n";

struct fixture {
    char dir[64];
    char prefix[128]; /* dir/pub: keygen prefix */
};

static int rm_cb(const char *p, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st;
    (void)ftw;
    return flag == FTW_DP ? rmdir(p) : unlink(p);
}

static int setup(void **state)
{
    struct fixture *f = xcalloc(1, sizeof(*f));

    snprintf(f->dir, sizeof(f->dir), "/tmp/sign_test.XXXXXX");
    if (mkdtemp(f->dir) == NULL) {
        free(f);
        return -1;
    }
    snprintf(f->prefix, sizeof(f->prefix), "%s/pub", f->dir);
    umask(022);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fixture *f = *state;

    nftw(f->dir, rm_cb, 16, FTW_DEPTH | FTW_PHYS);
    free(f);
    return 0;
}

static char *slurp(const char *path)
{
    struct ho_error err;
    void *buf = NULL;
    size_t len;

    assert_int_equal(bundle_read_file(path, 65536, &buf, &len, &err), HO_OK);
    return buf;
}

static struct sign_pubkey *load(const char *path)
{
    struct sign_pubkey *k = NULL;
    struct ho_error err;

    if (sign_pubkey_load(path, &k, &err) != HO_OK)
        fail_msg("sign_pubkey_load %s: %s", path, err.msg);
    return k;
}

/* Runs a shell command in dir; skips the test when openssl is missing. */
static void sh(const char *dir, const char *fmt, ...)
{
    char cmd[1024], *full;
    va_list ap;

    if (system("command -v openssl >/dev/null 2>&1") != 0)
        skip();
    va_start(ap, fmt);
    vsnprintf(cmd, sizeof(cmd), fmt, ap);
    va_end(ap);
    full = xasprintf("cd '%s' && %s", dir, cmd);
    if (system(full) != 0)
        fail_msg("command failed: %s", cmd);
    free(full);
}

static void test_sign_keygen_files_and_modes(void **state)
{
    struct fixture *f = *state;
    char id[SIGN_KEY_ID_LEN], id2[SIGN_KEY_ID_LEN], *key, *pub, *text;
    struct sign_pubkey *k;
    struct ho_error err;
    struct stat st;
    size_t i;

    assert_int_equal(sign_keygen(f->prefix, id, &err), HO_OK);
    assert_int_equal(strlen(id), 16);
    for (i = 0; i < 16; i++)
        assert_non_null(strchr("0123456789abcdef", id[i]));
    key = xasprintf("%s.key", f->prefix);
    pub = xasprintf("%s.pub", f->prefix);
    assert_int_equal(stat(key, &st), 0);
    assert_int_equal(st.st_mode & 07777, 0600);
    assert_int_equal(stat(pub, &st), 0);
    assert_int_equal(st.st_mode & 07777, 0644);
    text = slurp(key);
    assert_non_null(strstr(text, "-----BEGIN PRIVATE KEY-----"));
    free(text);
    text = slurp(pub);
    assert_non_null(strstr(text, "-----BEGIN PUBLIC KEY-----"));
    free(text);
    k = load(pub);
    sign_pubkey_id(k, id2);
    assert_string_equal(id, id2);
    sign_pubkey_free(k);
    free(key);
    free(pub);
}

static void test_sign_keygen_refuses_overwrite(void **state)
{
    struct fixture *f = *state;
    char *key = xasprintf("%s.key", f->prefix), *pub = xasprintf("%s.pub", f->prefix);
    char *before, *after;
    struct ho_error err;

    assert_int_equal(sign_keygen(f->prefix, NULL, &err), HO_OK);
    before = slurp(key);
    assert_int_equal(sign_keygen(f->prefix, NULL, &err), HO_EEXIST);
    assert_non_null(strstr(err.msg, "already exists"));
    after = slurp(key);
    assert_string_equal(before, after);
    free(before);
    free(after);
    /* only the public half there: still refused, and no private key made */
    assert_int_equal(unlink(key), 0);
    assert_int_equal(sign_keygen(f->prefix, NULL, &err), HO_EEXIST);
    assert_int_equal(access(key, F_OK), -1);
    free(key);
    free(pub);
}

static void test_sign_round_trip(void **state)
{
    struct fixture *f = *state;
    char *key = xasprintf("%s.key", f->prefix), *pub = xasprintf("%s.pub", f->prefix);
    char sig[SIGN_BASE64_LEN], spaced[SIGN_BASE64_LEN + 8];
    struct sign_pubkey *k;
    struct ho_error err;
    size_t which = 99;

    assert_int_equal(sign_keygen(f->prefix, NULL, &err), HO_OK);
    assert_int_equal(sign_data(key, data, sizeof(data) - 1, sig, &err), HO_OK);
    assert_int_equal(strlen(sig), 88);
    assert_string_equal(sig + 86, "==");
    k = load(pub);
    assert_int_equal(sign_verify(&k, 1, data, sizeof(data) - 1, sig, &which, &err), HO_OK);
    assert_int_equal(which, 0);
    snprintf(spaced, sizeof(spaced), " \t%s\r\n", sig); /* as read from a .sig file */
    assert_int_equal(sign_verify(&k, 1, data, sizeof(data) - 1, spaced, NULL, &err), HO_OK);
    /* Ed25519 is deterministic: the same bytes, the same signature */
    assert_int_equal(sign_data(key, data, sizeof(data) - 1, spaced, &err), HO_OK);
    assert_string_equal(sig, spaced);
    sign_pubkey_free(k);
    free(key);
    free(pub);
}

static void test_sign_tampering_refused(void **state)
{
    struct fixture *f = *state;
    char *key = xasprintf("%s.key", f->prefix), *pub = xasprintf("%s.pub", f->prefix);
    char sig[SIGN_BASE64_LEN], *bad = xmalloc(sizeof(data));
    struct sign_pubkey *k;
    struct ho_error err;

    assert_int_equal(sign_keygen(f->prefix, NULL, &err), HO_OK);
    assert_int_equal(sign_data(key, data, sizeof(data) - 1, sig, &err), HO_OK);
    k = load(pub);
    memcpy(bad, data, sizeof(data));
    bad[3] ^= 1;
    assert_int_equal(sign_verify(&k, 1, bad, sizeof(data) - 1, sig, NULL, &err), HO_EAUTH);
    assert_string_equal(err.field, "signature");
    assert_int_equal(sign_verify(&k, 1, data, sizeof(data) - 2, sig, NULL, &err), HO_EAUTH);
    sig[10] = sig[10] == 'A' ? 'B' : 'A'; /* still valid base64, other bytes */
    assert_int_equal(sign_verify(&k, 1, data, sizeof(data) - 1, sig, NULL, &err), HO_EAUTH);
    sign_pubkey_free(k);
    free(bad);
    free(key);
    free(pub);
}

static void test_sign_wrong_key_refused(void **state)
{
    struct fixture *f = *state;
    char *other = xasprintf("%s/other", f->dir), *key = xasprintf("%s.key", f->prefix);
    char *pub = xasprintf("%s.pub", f->prefix), *opub = xasprintf("%s.pub", other);
    char sig[SIGN_BASE64_LEN];
    struct sign_pubkey *keys[2];
    struct ho_error err;
    size_t which = 99;

    assert_int_equal(sign_keygen(f->prefix, NULL, &err), HO_OK);
    assert_int_equal(sign_keygen(other, NULL, &err), HO_OK);
    assert_int_equal(sign_data(key, data, sizeof(data) - 1, sig, &err), HO_OK);
    keys[0] = load(opub);
    keys[1] = load(pub);
    assert_int_equal(sign_verify(keys, 1, data, sizeof(data) - 1, sig, NULL, &err), HO_EAUTH);
    assert_int_equal(sign_verify(keys, 0, data, sizeof(data) - 1, sig, NULL, &err), HO_EAUTH);
    assert_int_equal(sign_verify(keys, 2, data, sizeof(data) - 1, sig, &which, &err), HO_OK);
    assert_int_equal(which, 1);
    sign_pubkey_free(keys[0]);
    sign_pubkey_free(keys[1]);
    free(other);
    free(key);
    free(pub);
    free(opub);
}

static void test_sign_garbage_signature_einval(void **state)
{
    struct fixture *f = *state;
    char *pub = xasprintf("%s.pub", f->prefix), sig[SIGN_BASE64_LEN], buf[200];
    char *key = xasprintf("%s.key", f->prefix);
    static const char *const bad[] = {"", "   ", "abc", "not base64 at all!", NULL};
    struct sign_pubkey *k;
    struct ho_error err;
    size_t i;

    assert_int_equal(sign_keygen(f->prefix, NULL, &err), HO_OK);
    assert_int_equal(sign_data(key, data, sizeof(data) - 1, sig, &err), HO_OK);
    k = load(pub);
    for (i = 0; bad[i] != NULL; i++)
        assert_int_equal(sign_verify(&k, 1, data, 1, bad[i], NULL, &err), HO_EINVAL);
    assert_int_equal(sign_verify(&k, 1, data, 1, NULL, NULL, &err), HO_EINVAL);
    snprintf(buf, sizeof(buf), "%.86s", sig); /* padding missing */
    assert_int_equal(sign_verify(&k, 1, data, 1, buf, NULL, &err), HO_EINVAL);
    snprintf(buf, sizeof(buf), "%sAAAA", sig); /* 67 bytes */
    assert_int_equal(sign_verify(&k, 1, data, 1, buf, NULL, &err), HO_EINVAL);
    snprintf(buf, sizeof(buf), "%.40s %s", sig, sig + 40); /* space inside */
    assert_int_equal(sign_verify(&k, 1, data, 1, buf, NULL, &err), HO_EINVAL);
    snprintf(buf, sizeof(buf), "%s", sig);
    buf[5] = '-'; /* base64url is not the standard alphabet */
    assert_int_equal(sign_verify(&k, 1, data, 1, buf, NULL, &err), HO_EINVAL);
    assert_string_equal(err.field, "signature");
    sign_pubkey_free(k);
    free(pub);
    free(key);
}

static void test_sign_openssl_keys_interoperate(void **state)
{
    struct fixture *f = *state;
    char sig[SIGN_BASE64_LEN], *cli_sig, *key, *pub, *datafile;
    struct sign_pubkey *k;
    struct ho_error err;
    FILE *fp;

    datafile = xasprintf("%s/data", f->dir);
    fp = fopen(datafile, "w");
    assert_non_null(fp);
    fputs(data, fp);
    fclose(fp);
    sh(f->dir, "openssl genpkey -algorithm ed25519 -out o.key 2>/dev/null && "
               "openssl pkey -in o.key -pubout -out o.pub 2>/dev/null && "
               "openssl pkeyutl -sign -rawin -inkey o.key -in data -out data.sig.bin && "
               "openssl base64 -A -in data.sig.bin -out data.sig");
    key = xasprintf("%s/o.key", f->dir);
    pub = xasprintf("%s/o.pub", f->dir);
    k = load(pub);
    /* we sign with their key, they sign with their tool: both verify */
    assert_int_equal(sign_data(key, data, sizeof(data) - 1, sig, &err), HO_OK);
    assert_int_equal(sign_verify(&k, 1, data, sizeof(data) - 1, sig, NULL, &err), HO_OK);
    free(key);
    key = xasprintf("%s/data.sig", f->dir);
    cli_sig = slurp(key);
    assert_string_equal(cli_sig, sig);
    assert_int_equal(sign_verify(&k, 1, data, sizeof(data) - 1, cli_sig, NULL, &err), HO_OK);
    sign_pubkey_free(k);
    free(cli_sig);
    free(key);
    free(pub);
    free(datafile);
}

static void test_sign_other_key_types_refused(void **state)
{
    struct fixture *f = *state;
    char sig[SIGN_BASE64_LEN], *p;
    struct sign_pubkey *k = NULL;
    struct ho_error err;

    sh(f->dir, "openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out ec.key "
               "2>/dev/null && openssl pkey -in ec.key -pubout -out ec.pub 2>/dev/null && "
               "openssl genpkey -algorithm x25519 -out x.key 2>/dev/null && "
               "openssl pkey -in x.key -pubout -out x.pub 2>/dev/null && "
               "openssl genpkey -algorithm ed25519 -aes256 -pass pass:secret -out enc.key "
               "2>/dev/null");
    p = xasprintf("%s/ec.pub", f->dir);
    assert_int_equal(sign_pubkey_load(p, &k, &err), HO_EINVAL);
    assert_null(k);
    assert_non_null(strstr(err.msg, "Ed25519"));
    free(p);
    p = xasprintf("%s/x.pub", f->dir);
    assert_int_equal(sign_pubkey_load(p, &k, &err), HO_EINVAL);
    free(p);
    p = xasprintf("%s/ec.key", f->dir);
    assert_int_equal(sign_data(p, data, 4, sig, &err), HO_EINVAL);
    assert_int_equal(sign_pubkey_load(p, &k, &err), HO_EINVAL); /* a private key is no pubkey */
    free(p);
    p = xasprintf("%s/enc.key", f->dir); /* passphrase: refused, never prompted */
    assert_int_equal(sign_data(p, data, 4, sig, &err), HO_EINVAL);
    free(p);
    p = xasprintf("%s/missing.key", f->dir);
    assert_int_equal(sign_data(p, data, 4, sig, &err), HO_ENOENT);
    assert_int_equal(sign_pubkey_load(p, &k, &err), HO_ENOENT);
    free(p);
}

#define T(name) cmocka_unit_test_setup_teardown(name, setup, teardown)

int main(void)
{
    const struct CMUnitTest tests[] = {
        T(test_sign_keygen_files_and_modes),
        T(test_sign_keygen_refuses_overwrite),
        T(test_sign_round_trip),
        T(test_sign_tampering_refused),
        T(test_sign_wrong_key_refused),
        T(test_sign_garbage_signature_einval),
        T(test_sign_openssl_keys_interoperate),
        T(test_sign_other_key_types_refused),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
