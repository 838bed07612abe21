/*
 * Signed, expiring links to graph images (DESIGN.md section 8): chat and
 * paging services fetch the graph of an alert themselves, without a HealOps
 * token, so the link carries exp=UNIX_SECONDS and sig=HEX, an HMAC-SHA256
 * over the canonical query "agent=A&check=C&metric=M&exp=E" (each value
 * percent-encoded, every byte but A-Z a-z 0-9 - . _ ~) with a server key.
 */
#ifndef HO_URLSIGN_H
#define HO_URLSIGN_H

#include <stddef.h>
#include <stdint.h>

#include "error.h"

#define URLSIGN_KEY_LEN     32 /* bytes of a key the server makes */
#define URLSIGN_KEY_MIN     32 /* shortest key file accepted */
#define URLSIGN_KEY_MAX     4096
#define URLSIGN_TTL_DEFAULT (7 * 24 * 3600) /* seconds a link stays valid */
#define URLSIGN_SIG_HEX_LEN 65              /* 64 hex digits + NUL */

struct urlsign;

/*
 * Loads the signing key: from key_file when set (its bytes as they are, 32 to
 * 4096), else from DB.url-key beside the database db_path, which is made (32
 * random bytes, mode 0600) on first start. A key file readable by group or
 * others is logged as a warning. ttl_s: lifetime of new links (> 0). HO_EIO with
 * err naming the file when it cannot be read or made.
 */
enum ho_code urlsign_open(const char *key_file, const char *db_path, int64_t ttl_s,
                          struct urlsign **out, struct ho_error *err) HO_WUR;
/* A signer with the given key (copied; len >= 1), for tests and in-memory databases. */
struct urlsign *urlsign_new(const void *key, size_t len, int64_t ttl_s);
/* Wipes the key and frees; NULL is accepted. */
void urlsign_free(struct urlsign *us);

/*
 * Writes the lowercase hex HMAC-SHA256 of the canonical query of (agent, check,
 * metric, exp_s) into sig; metric NULL counts as "".
 */
void urlsign_sign(const struct urlsign *us, const char *agent, const char *check,
                  const char *metric, int64_t exp_s, char sig[URLSIGN_SIG_HEX_LEN]);

/*
 * Returns a new string "PUBLIC_URL/api/v1/graph.png?agent=A&check=C[&metric=M]&exp=E&sig=S"
 * valid for the signer's ttl from now_ms (caller frees), or NULL when us or
 * public_url is NULL, or agent or check is NULL.
 */
char *urlsign_graph_url(const struct urlsign *us, const char *public_url, const char *agent,
                        const char *check, const char *metric, int64_t now_ms);

/*
 * Checks the exp and sig query values of a graph link for (agent, check, metric)
 * at now_ms, the signature compared in constant time. HO_EPERM with err saying
 * "invalid signature" or "link expired" (field "sig" or "exp").
 */
enum ho_code urlsign_graph_verify(const struct urlsign *us, const char *agent, const char *check,
                                  const char *metric, const char *exp, const char *sig,
                                  int64_t now_ms, struct ho_error *err) HO_WUR;

#endif
