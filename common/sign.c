/*
 * Publisher signatures: "pure" Ed25519 (RFC 8032 section 5.1) through
 * OpenSSL's EVP interface, over the exact bundle bytes. Keys are PEM: PKCS#8
 * "PRIVATE KEY" and SubjectPublicKeyInfo "PUBLIC KEY" (RFC 8410), as
 * `openssl genpkey -algorithm ed25519` writes them. Signatures travel as
 * standard base64 with padding (RFC 4648 section 4) of the 64 bytes.
 * Private key bytes only live in OpenSSL's secure-memory BIO or in buffers
 * we wipe.
 */
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/bio.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/pem.h>

#include "crypto.h"
#include "log.h"
#include "mem.h"
#include "sign.h"

#define SIGN_RAW_LEN     64
#define SIGN_PUB_RAW_LEN 32
#define SIGN_PEM_MAX     16384 /* a PEM key file is a few hundred bytes */
#define SIGN_SHOWN       160

struct sign_pubkey {
    EVP_PKEY *pkey;
    unsigned char raw[SIGN_PUB_RAW_LEN];
    char id[SIGN_KEY_ID_LEN];
};

/* No passphrase prompt ever: an encrypted key is simply refused. */
static int no_passphrase(char *buf, int size, int rwflag, void *u)
{
    (void)buf;
    (void)size;
    (void)rwflag;
    (void)u;
    return -1;
}

static void key_id_of(const unsigned char raw[SIGN_PUB_RAW_LEN], char out[SIGN_KEY_ID_LEN])
{
    char hex[CRYPTO_SHA256_HEX_LEN];

    crypto_sha256_hex(raw, SIGN_PUB_RAW_LEN, hex);
    memcpy(out, hex, SIGN_KEY_ID_LEN - 1);
    out[SIGN_KEY_ID_LEN - 1] = '\0';
}

static enum ho_code raw_public(EVP_PKEY *pkey, unsigned char raw[SIGN_PUB_RAW_LEN])
{
    size_t n = SIGN_PUB_RAW_LEN;

    if (EVP_PKEY_get_raw_public_key(pkey, raw, &n) != 1 || n != SIGN_PUB_RAW_LEN)
        return HO_EINVAL;
    return HO_OK;
}

/* Reads a small PEM file (at most SIGN_PEM_MAX bytes) into buf; *len bytes. */
static enum ho_code pem_read(const char *path, char *buf, size_t *len, struct ho_error *err)
{
    char shown[SIGN_SHOWN];
    ssize_t r = 0;
    int fd, e;

    *len = 0;
    log_safe(shown, sizeof(shown), path);
    fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK);
    if (fd < 0) {
        e = errno;
        return ho_error_set(err, e == ENOENT ? HO_ENOENT : HO_EIO, "key", "%s: %s", shown,
                            strerror(e));
    }
    while (*len < SIGN_PEM_MAX) {
        r = read(fd, buf + *len, SIGN_PEM_MAX - *len);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            break;
        *len += (size_t)r;
    }
    close(fd);
    if (r < 0)
        return ho_error_set(err, HO_EIO, "key", "%s: cannot read", shown);
    if (*len >= SIGN_PEM_MAX)
        return ho_error_set(err, HO_ETOOBIG, "key", "%s: too large for a PEM key", shown);
    return HO_OK;
}

/* Loads an Ed25519 private key; the file's bytes are wiped after parsing. */
static enum ho_code private_load(const char *path, EVP_PKEY **out, struct ho_error *err)
{
    char *pem = xmalloc(SIGN_PEM_MAX);
    char shown[SIGN_SHOWN];
    enum ho_code rc;
    size_t len = 0;
    BIO *bio = NULL;

    *out = NULL;
    log_safe(shown, sizeof(shown), path);
    rc = pem_read(path, pem, &len, err);
    if (rc == HO_OK) {
        bio = BIO_new_mem_buf(pem, (int)len);
        if (bio == NULL)
            fatalx("sign: BIO_new_mem_buf: out of memory");
        *out = PEM_read_bio_PrivateKey(bio, NULL, no_passphrase, NULL);
        if (*out == NULL)
            rc = ho_error_set(err, HO_EINVAL, "key",
                              "%s: not a PEM private key (or protected by a passphrase)", shown);
    }
    if (rc == HO_OK && EVP_PKEY_get_id(*out) != EVP_PKEY_ED25519) {
        rc = ho_error_set(err, HO_EINVAL, "key", "%s: not an Ed25519 key", shown);
        EVP_PKEY_free(*out);
        *out = NULL;
    }
    BIO_free(bio);
    OPENSSL_cleanse(pem, SIGN_PEM_MAX);
    free(pem);
    return rc;
}

/* Writes n bytes to a new file (O_EXCL) of the given mode; unlinks it on failure. */
static enum ho_code write_new(const char *path, const void *data, size_t n, mode_t mode,
                              struct ho_error *err)
{
    char shown[SIGN_SHOWN];
    int fd, e;

    log_safe(shown, sizeof(shown), path);
    fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, mode);
    if (fd < 0) {
        e = errno;
        return ho_error_set(err, e == EEXIST ? HO_EEXIST : HO_EIO, "key", "%s: %s", shown,
                            e == EEXIST ? "already exists, not overwritten" : strerror(e));
    }
    if (fchmod(fd, mode) != 0 || write(fd, data, n) != (ssize_t)n || fsync(fd) != 0) {
        e = errno;
        close(fd);
        unlink(path);
        return ho_error_set(err, HO_EIO, "key", "%s: cannot write: %s", shown, strerror(e));
    }
    if (close(fd) != 0) {
        unlink(path);
        return ho_error_set(err, HO_EIO, "key", "%s: cannot write", shown);
    }
    return HO_OK;
}

/* PEM text of key into a BIO: secure memory for the private key. */
static enum ho_code pem_bio(EVP_PKEY *pkey, int private, BIO **out)
{
    BIO *bio = BIO_new(private ? BIO_s_secmem() : BIO_s_mem());
    int ok;

    *out = NULL;
    if (bio == NULL)
        fatalx("sign: BIO_new: out of memory");
    ok = private ? PEM_write_bio_PrivateKey(bio, pkey, NULL, NULL, 0, NULL, NULL)
                 : PEM_write_bio_PUBKEY(bio, pkey);
    if (ok != 1) {
        BIO_free(bio);
        return HO_EINTERNAL;
    }
    *out = bio;
    return HO_OK;
}

static enum ho_code bio_to_file(BIO *bio, const char *path, mode_t mode, struct ho_error *err)
{
    char *data = NULL;
    long n = BIO_get_mem_data(bio, &data);

    if (n <= 0 || data == NULL)
        return ho_error_set(err, HO_EINTERNAL, "key", "cannot encode the key");
    return write_new(path, data, (size_t)n, mode, err);
}

enum ho_code sign_keygen(const char *prefix, char key_id[SIGN_KEY_ID_LEN], struct ho_error *err)
{
    char *key_path = xasprintf("%s.key", prefix), *pub_path = xasprintf("%s.pub", prefix);
    unsigned char raw[SIGN_PUB_RAW_LEN];
    EVP_PKEY_CTX *ctx = NULL;
    EVP_PKEY *pkey = NULL;
    BIO *priv = NULL, *pub = NULL;
    char shown[SIGN_SHOWN];
    enum ho_code rc = HO_OK;
    struct stat st;

    if (lstat(key_path, &st) == 0 || lstat(pub_path, &st) == 0) {
        log_safe(shown, sizeof(shown), lstat(key_path, &st) == 0 ? key_path : pub_path);
        rc = ho_error_set(err, HO_EEXIST, "key", "%s: already exists, not overwritten", shown);
        goto out;
    }
    ctx = EVP_PKEY_CTX_new_id(EVP_PKEY_ED25519, NULL);
    if (ctx == NULL || EVP_PKEY_keygen_init(ctx) != 1 || EVP_PKEY_keygen(ctx, &pkey) != 1 ||
        raw_public(pkey, raw) != HO_OK || pem_bio(pkey, 1, &priv) != HO_OK ||
        pem_bio(pkey, 0, &pub) != HO_OK) {
        rc = ho_error_set(err, HO_EINTERNAL, "key", "cannot make an Ed25519 key pair");
        goto out;
    }
    rc = bio_to_file(priv, key_path, 0600, err);
    if (rc != HO_OK)
        goto out;
    rc = bio_to_file(pub, pub_path, 0644, err);
    if (rc != HO_OK) {
        unlink(key_path);
        goto out;
    }
    if (key_id != NULL)
        key_id_of(raw, key_id);
out:
    BIO_free(priv); /* secure memory: cleared on free */
    BIO_free(pub);
    EVP_PKEY_free(pkey);
    EVP_PKEY_CTX_free(ctx);
    free(key_path);
    free(pub_path);
    return rc;
}

enum ho_code sign_data(const char *key_path, const void *data, size_t len,
                       char out[SIGN_BASE64_LEN], struct ho_error *err)
{
    unsigned char sig[SIGN_RAW_LEN];
    size_t siglen = sizeof(sig);
    EVP_MD_CTX *md = NULL;
    EVP_PKEY *pkey = NULL;
    enum ho_code rc;

    out[0] = '\0';
    rc = private_load(key_path, &pkey, err);
    if (rc != HO_OK)
        return rc;
    md = EVP_MD_CTX_new();
    if (md == NULL || EVP_DigestSignInit(md, NULL, NULL, NULL, pkey) != 1 ||
        EVP_DigestSign(md, sig, &siglen, data, len) != 1 || siglen != SIGN_RAW_LEN)
        rc = ho_error_set(err, HO_EINTERNAL, "signature", "Ed25519 signing failed");
    else if (EVP_EncodeBlock((unsigned char *)out, sig, SIGN_RAW_LEN) != SIGN_BASE64_LEN - 1)
        rc = ho_error_set(err, HO_EINTERNAL, "signature", "base64 encoding failed");
    EVP_MD_CTX_free(md);
    EVP_PKEY_free(pkey);
    return rc;
}

enum ho_code sign_private_key_id(const char *key_path, char out[SIGN_KEY_ID_LEN],
                                 struct ho_error *err)
{
    unsigned char raw[SIGN_PUB_RAW_LEN];
    EVP_PKEY *pkey = NULL;
    enum ho_code rc;

    out[0] = '\0';
    rc = private_load(key_path, &pkey, err);
    if (rc != HO_OK)
        return rc;
    if (raw_public(pkey, raw) != HO_OK)
        rc = ho_error_set(err, HO_EINVAL, "key", "unreadable Ed25519 key");
    else
        key_id_of(raw, out);
    EVP_PKEY_free(pkey);
    return rc;
}

enum ho_code sign_pubkey_load(const char *path, struct sign_pubkey **out, struct ho_error *err)
{
    char *pem = xmalloc(SIGN_PEM_MAX);
    struct sign_pubkey *k = NULL;
    char shown[SIGN_SHOWN];
    EVP_PKEY *pkey = NULL;
    enum ho_code rc;
    size_t len = 0;
    BIO *bio = NULL;

    *out = NULL;
    log_safe(shown, sizeof(shown), path);
    rc = pem_read(path, pem, &len, err);
    if (rc != HO_OK)
        goto out;
    bio = BIO_new_mem_buf(pem, (int)len);
    if (bio == NULL)
        fatalx("sign: BIO_new_mem_buf: out of memory");
    pkey = PEM_read_bio_PUBKEY(bio, NULL, no_passphrase, NULL);
    if (pkey == NULL) {
        rc = ho_error_set(err, HO_EINVAL, "key", "%s: not a PEM public key", shown);
        goto out;
    }
    if (EVP_PKEY_get_id(pkey) != EVP_PKEY_ED25519) {
        rc = ho_error_set(err, HO_EINVAL, "key", "%s: not an Ed25519 key", shown);
        goto out;
    }
    k = xcalloc(1, sizeof(*k));
    if (raw_public(pkey, k->raw) != HO_OK) {
        rc = ho_error_set(err, HO_EINVAL, "key", "%s: unreadable Ed25519 key", shown);
        goto out;
    }
    key_id_of(k->raw, k->id);
    k->pkey = pkey;
    pkey = NULL;
    *out = k;
    k = NULL;
out:
    free(k);
    EVP_PKEY_free(pkey);
    BIO_free(bio);
    free(pem);
    return rc;
}

void sign_pubkey_free(struct sign_pubkey *k)
{
    if (k == NULL)
        return;
    EVP_PKEY_free(k->pkey);
    free(k);
}

void sign_pubkey_id(const struct sign_pubkey *k, char out[SIGN_KEY_ID_LEN])
{
    memcpy(out, k->id, SIGN_KEY_ID_LEN);
}

/*
 * Decodes the base64 of exactly 64 bytes: 86 alphabet characters then "=="
 * (EVP_DecodeBlock itself would accept other lengths and padding).
 */
static enum ho_code sig_decode(const char *sig, unsigned char raw[SIGN_RAW_LEN])
{
    static const char alphabet[] =
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    unsigned char tmp[SIGN_BASE64_LEN];
    size_t n, i;

    if (sig == NULL)
        return HO_EINVAL;
    while (isspace((unsigned char)*sig))
        sig++;
    for (n = 0; n < SIGN_BASE64_LEN && sig[n] != '\0' && !isspace((unsigned char)sig[n]); n++)
        ;
    for (i = n; sig[i] != '\0'; i++)
        if (!isspace((unsigned char)sig[i]))
            return HO_EINVAL;
    if (n != SIGN_BASE64_LEN - 1 || sig[n - 1] != '=' || sig[n - 2] != '=')
        return HO_EINVAL;
    for (i = 0; i < n - 2; i++)
        if (strchr(alphabet, sig[i]) == NULL)
            return HO_EINVAL;
    if (EVP_DecodeBlock(tmp, (const unsigned char *)sig, (int)n) != 66)
        return HO_EINVAL;
    memcpy(raw, tmp, SIGN_RAW_LEN);
    return HO_OK;
}

int sign_signature_ok(const char *sig)
{
    unsigned char raw[SIGN_RAW_LEN];

    return sig_decode(sig, raw) == HO_OK;
}

enum ho_code sign_verify(struct sign_pubkey *const *keys, size_t n, const void *data, size_t len,
                         const char *sig, size_t *which, struct ho_error *err)
{
    unsigned char raw[SIGN_RAW_LEN];
    EVP_MD_CTX *md;
    size_t i;
    int ok = 0;

    if (sig_decode(sig, raw) != HO_OK)
        return ho_error_set(err, HO_EINVAL, "signature",
                            "not the base64 of a 64-byte Ed25519 signature");
    for (i = 0; i < n && !ok; i++) {
        md = EVP_MD_CTX_new();
        if (md == NULL)
            fatalx("sign: EVP_MD_CTX_new: out of memory");
        ok = EVP_DigestVerifyInit(md, NULL, NULL, NULL, keys[i]->pkey) == 1 &&
             EVP_DigestVerify(md, raw, SIGN_RAW_LEN, data, len) == 1;
        EVP_MD_CTX_free(md);
        if (ok && which != NULL)
            *which = i;
    }
    if (!ok)
        return ho_error_set(err, HO_EAUTH, "signature",
                            "signature does not verify with any trusted key");
    return HO_OK;
}
