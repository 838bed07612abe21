/*
 * Publisher signatures (DESIGN.md section 3): detached Ed25519 over the exact
 * bundle bytes, with OpenSSL. Keys are PEM files (PKCS#8 private key,
 * SubjectPublicKeyInfo public key), so `openssl genpkey -algorithm ed25519`
 * keys work too. Signatures travel as base64 text.
 */
#ifndef HO_SIGN_H
#define HO_SIGN_H

#include <stddef.h>

#include "error.h"

#define SIGN_BASE64_LEN 89 /* 88 base64 chars of 64 bytes + NUL */
#define SIGN_KEY_ID_LEN 17 /* 16 hex chars + NUL */

struct sign_pubkey; /* a loaded public key */

/*
 * Makes a key pair: PREFIX.key (mode 0600) and PREFIX.pub (0644). Refuses to
 * overwrite either file. key_id (may be NULL) gets the key's id.
 */
enum ho_code sign_keygen(const char *prefix, char key_id[SIGN_KEY_ID_LEN],
                         struct ho_error *err) HO_WUR;

/* Signs data with the private key in key_path; out gets the base64 signature. */
enum ho_code sign_data(const char *key_path, const void *data, size_t len,
                       char out[SIGN_BASE64_LEN], struct ho_error *err) HO_WUR;

/* The key id of the private key in key_path (that of its public half). */
enum ho_code sign_private_key_id(const char *key_path, char out[SIGN_KEY_ID_LEN],
                                 struct ho_error *err) HO_WUR;

/* 1 when sig (surrounding whitespace allowed) is the base64 of 64 bytes, else 0. */
int sign_signature_ok(const char *sig);

/* Loads a PEM public key (Ed25519 only). */
enum ho_code sign_pubkey_load(const char *path, struct sign_pubkey **out,
                              struct ho_error *err) HO_WUR;
void sign_pubkey_free(struct sign_pubkey *k);
/* The key id: first 16 hex chars of SHA-256 of the raw 32-byte public key. */
void sign_pubkey_id(const struct sign_pubkey *k, char out[SIGN_KEY_ID_LEN]);

/*
 * Verifies base64 signature sig (surrounding whitespace allowed) of data
 * against keys[0..n). HO_OK and *which (may be NULL) = index of the key that
 * verified; HO_EAUTH when none does; HO_EINVAL when sig is not 64 bytes of base64.
 */
enum ho_code sign_verify(struct sign_pubkey *const *keys, size_t n, const void *data, size_t len,
                         const char *sig, size_t *which, struct ho_error *err) HO_WUR;

#endif
