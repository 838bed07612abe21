/*
 * Signed graph links (urlsign.h). The MAC is HMAC-SHA256 (RFC 2104, OpenSSL
 * HMAC()) over a canonical query string rebuilt from the decoded values, so
 * the order or encoding of the parameters in the URL does not matter, and
 * parameters outside it (since, until, width, height) only change how the
 * same series is drawn. The key lives in memory and in one 0600 file; it is
 * made with the crash-safe dance (temp file, fsync, link, unlink) so two
 * starts never leave two keys.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/evp.h>
#include <openssl/hmac.h>

#include "buf.h"
#include "crypto.h"
#include "log.h"
#include "mem.h"
#include "parse.h"
#include "urlsign.h"

#define URLSIGN_EXP_MAX 253402300799LL /* 9999-12-31T23:59:59Z */

struct urlsign {
    unsigned char *key;
    size_t len;
    int64_t ttl_s;
};

struct urlsign *urlsign_new(const void *key, size_t len, int64_t ttl_s)
{
    struct urlsign *us = xcalloc(1, sizeof(*us));

    us->key = xmalloc(len > 0 ? len : 1);
    memcpy(us->key, key, len);
    us->len = len;
    us->ttl_s = ttl_s > 0 ? ttl_s : URLSIGN_TTL_DEFAULT;
    return us;
}

void urlsign_free(struct urlsign *us)
{
    if (us == NULL)
        return;
    crypto_wipe(us->key, us->len);
    free(us->key);
    free(us);
}

/* Reads the whole key file (URLSIGN_KEY_MIN..URLSIGN_KEY_MAX bytes) into key. */
static enum ho_code urlsign_read(const char *path, unsigned char *key, size_t *len,
                                 struct ho_error *err)
{
    struct stat sb;
    ssize_t n;
    size_t got = 0;
    int fd = open(path, O_RDONLY | O_CLOEXEC);

    if (fd < 0)
        return ho_error_set(err, errno == ENOENT ? HO_ENOENT : HO_EIO, "url_signing_key_file",
                            "cannot read %s: %s", path, strerror(errno));
    if (fstat(fd, &sb) != 0 || !S_ISREG(sb.st_mode) || sb.st_size < URLSIGN_KEY_MIN ||
        sb.st_size > URLSIGN_KEY_MAX) {
        close(fd);
        return ho_error_set(err, HO_EIO, "url_signing_key_file",
                            "%s must be a regular file of %d to %d bytes", path, URLSIGN_KEY_MIN,
                            URLSIGN_KEY_MAX);
    }
    if ((sb.st_mode & 0077) != 0)
        log_warnx("urlsign: the key file %s is readable by group or others; chmod 600 it", path);
    while (got < (size_t)sb.st_size) {
        n = read(fd, key + got, (size_t)sb.st_size - got);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            break;
        got += (size_t)n;
    }
    close(fd);
    if (got < URLSIGN_KEY_MIN) {
        crypto_wipe(key, URLSIGN_KEY_MAX);
        return ho_error_set(err, HO_EIO, "url_signing_key_file", "cannot read %s completely", path);
    }
    *len = got;
    return HO_OK;
}

/* Makes a new random key file at path (0600); HO_EEXIST when another start made it first. */
static enum ho_code urlsign_create(const char *path, struct ho_error *err)
{
    unsigned char key[URLSIGN_KEY_LEN];
    char *tmp = xasprintf("%s.tmp.%ld", path, (long)getpid());
    enum ho_code rc = HO_EIO;
    int fd;

    unlink(tmp);
    fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600);
    if (fd < 0) {
        ho_error_set(err, HO_EIO, "url_signing_key_file", "cannot create %s: %s", tmp,
                     strerror(errno));
        free(tmp);
        return HO_EIO;
    }
    if (crypto_random(key, sizeof(key)) != HO_OK ||
        write(fd, key, sizeof(key)) != (ssize_t)sizeof(key) || fsync(fd) != 0) {
        ho_error_set(err, HO_EIO, "url_signing_key_file", "cannot write %s: %s", tmp,
                     strerror(errno));
    } else if (link(tmp, path) != 0) {
        rc = errno == EEXIST ? HO_EEXIST : HO_EIO;
        ho_error_set(err, rc, "url_signing_key_file", "cannot create %s: %s", path,
                     strerror(errno));
    } else {
        rc = HO_OK;
        log_info("urlsign: made a new graph link signing key %s", path);
    }
    crypto_wipe(key, sizeof(key));
    close(fd);
    unlink(tmp);
    free(tmp);
    return rc;
}

enum ho_code urlsign_open(const char *key_file, const char *db_path, int64_t ttl_s,
                          struct urlsign **out, struct ho_error *err)
{
    unsigned char key[URLSIGN_KEY_MAX];
    char *path;
    enum ho_code rc;
    size_t len = 0;

    *out = NULL;
    if (key_file == NULL &&
        (db_path == NULL || db_path[0] == '\0' || strcmp(db_path, ":memory:") == 0)) {
        if (crypto_random(key, URLSIGN_KEY_LEN) != HO_OK)
            return ho_error_set(err, HO_EIO, NULL, "no randomness for a signing key");
        *out = urlsign_new(key, URLSIGN_KEY_LEN, ttl_s);
        crypto_wipe(key, sizeof(key));
        return HO_OK;
    }
    path = key_file != NULL ? xstrdup(key_file) : xasprintf("%s.url-key", db_path);
    rc = urlsign_read(path, key, &len, err);
    if (rc == HO_ENOENT && key_file == NULL) {
        rc = urlsign_create(path, err);
        if (rc == HO_OK || rc == HO_EEXIST)
            rc = urlsign_read(path, key, &len, err);
    }
    if (rc == HO_OK)
        *out = urlsign_new(key, len, ttl_s);
    crypto_wipe(key, sizeof(key));
    free(path);
    return rc;
}

/* Appends key=value (value percent-encoded as RFC 3986 unreserved). */
static enum ho_code urlsign_param(struct buf *b, const char *sep, const char *key, const char *v)
{
    static const char hex[] = "0123456789ABCDEF";
    enum ho_code rc;
    char esc[3];

    rc = buf_printf(b, "%s%s=", sep, key);
    for (; rc == HO_OK && *v != '\0'; v++) {
        unsigned char c = (unsigned char)*v;

        if ((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
            c == '-' || c == '.' || c == '_' || c == '~') {
            rc = buf_append(b, v, 1);
        } else {
            esc[0] = '%';
            esc[1] = hex[c >> 4];
            esc[2] = hex[c & 15];
            rc = buf_append(b, esc, 3);
        }
    }
    return rc;
}

/* The canonical query of a link into b (empty buffer, capped). */
static enum ho_code urlsign_canonical(struct buf *b, const char *agent, const char *check,
                                      const char *metric, int64_t exp_s)
{
    enum ho_code rc;

    rc = urlsign_param(b, "", "agent", agent);
    if (rc == HO_OK)
        rc = urlsign_param(b, "&", "check", check);
    if (rc == HO_OK)
        rc = urlsign_param(b, "&", "metric", metric != NULL ? metric : "");
    if (rc == HO_OK)
        rc = buf_printf(b, "&exp=%" PRId64, exp_s);
    return rc;
}

void urlsign_sign(const struct urlsign *us, const char *agent, const char *check,
                  const char *metric, int64_t exp_s, char sig[URLSIGN_SIG_HEX_LEN])
{
    unsigned char mac[EVP_MAX_MD_SIZE];
    unsigned int maclen = 0, i;
    struct buf b;

    buf_init(&b, 64 * 1024);
    sig[0] = '\0';
    if (urlsign_canonical(&b, agent, check, metric, exp_s) != HO_OK ||
        HMAC(EVP_sha256(), us->key, (int)us->len, (const unsigned char *)b.data, b.len, mac,
             &maclen) == NULL ||
        maclen != 32) {
        /* only inputs past 64 KiB get here; an empty signature never verifies */
        buf_cleanup(&b);
        return;
    }
    for (i = 0; i < maclen; i++)
        snprintf(sig + 2 * i, 3, "%02x", mac[i]);
    crypto_wipe(mac, sizeof(mac));
    buf_cleanup(&b);
}

char *urlsign_graph_url(const struct urlsign *us, const char *public_url, const char *agent,
                        const char *check, const char *metric, int64_t now_ms)
{
    char sig[URLSIGN_SIG_HEX_LEN];
    int64_t exp_s;
    size_t plen;
    struct buf b;

    if (us == NULL || public_url == NULL || agent == NULL || check == NULL)
        return NULL;
    exp_s = now_ms / 1000 + us->ttl_s;
    urlsign_sign(us, agent, check, metric, exp_s, sig);
    plen = strlen(public_url);
    while (plen > 0 && public_url[plen - 1] == '/')
        plen--;
    buf_init(&b, 64 * 1024);
    if (buf_append(&b, public_url, plen) != HO_OK ||
        buf_appends(&b, "/api/v1/graph.png?") != HO_OK ||
        urlsign_param(&b, "", "agent", agent) != HO_OK ||
        urlsign_param(&b, "&", "check", check) != HO_OK ||
        (metric != NULL && urlsign_param(&b, "&", "metric", metric) != HO_OK) ||
        buf_printf(&b, "&exp=%" PRId64 "&sig=%s", exp_s, sig) != HO_OK) {
        buf_cleanup(&b);
        return NULL;
    }
    return buf_take(&b);
}

enum ho_code urlsign_graph_verify(const struct urlsign *us, const char *agent, const char *check,
                                  const char *metric, const char *exp, const char *sig,
                                  int64_t now_ms, struct ho_error *err)
{
    char want[URLSIGN_SIG_HEX_LEN];
    int64_t exp_s;

    if (us == NULL)
        return ho_error_set(err, HO_EPERM, "sig", "signed links are not enabled");
    if (exp == NULL || parse_i64(exp, 0, URLSIGN_EXP_MAX, &exp_s) != HO_OK)
        return ho_error_set(err, HO_EPERM, "exp", "invalid or missing link expiry");
    if (sig == NULL || strlen(sig) != URLSIGN_SIG_HEX_LEN - 1)
        return ho_error_set(err, HO_EPERM, "sig", "invalid signature");
    urlsign_sign(us, agent != NULL ? agent : "", check != NULL ? check : "", metric, exp_s, want);
    if (want[0] == '\0' || !crypto_ct_equal(want, sig, URLSIGN_SIG_HEX_LEN - 1))
        return ho_error_set(err, HO_EPERM, "sig", "invalid signature");
    if (now_ms / 1000 > exp_s)
        return ho_error_set(err, HO_EPERM, "exp", "link expired");
    return HO_OK;
}
