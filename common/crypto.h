/*
 * Cryptographic helpers (OpenSSL): random bytes, tokens, SHA-256,
 * constant-time comparison, UUIDv7 run ids.
 */
#ifndef HO_CRYPTO_H
#define HO_CRYPTO_H

#include <stddef.h>
#include <stdint.h>

#include "error.h"

#define CRYPTO_SHA256_HEX_LEN 65 /* 64 hex digits + NUL */
#define CRYPTO_TOKEN_LEN      48 /* "hot_" + 43 base64url chars + NUL */
#define CRYPTO_UUID_LEN       37 /* 36 chars + NUL */

/* Fills buf with n cryptographically strong random bytes; HO_EIO on failure. */
enum ho_code crypto_random(void *buf, size_t n) HO_WUR;
/* Makes a new random token "hot_<43 base64url chars>" (256 bits) into out. */
enum ho_code crypto_token_new(char out[CRYPTO_TOKEN_LEN]) HO_WUR;
/* Writes the lowercase hex SHA-256 of data into out. */
void crypto_sha256_hex(const void *data, size_t n, char out[CRYPTO_SHA256_HEX_LEN]);
/* Compares n bytes in time independent of their content; 1 when equal. */
int crypto_ct_equal(const void *a, const void *b, size_t n);
/* Wipes n bytes in a way the compiler keeps. */
void crypto_wipe(void *p, size_t n);
/* Makes a new UUIDv7 (RFC 9562) for the wall-clock time ms into out. */
enum ho_code crypto_uuid_v7(int64_t ms, char out[CRYPTO_UUID_LEN]) HO_WUR;
/* 1 when s is a canonical lowercase-or-uppercase UUID "8-4-4-4-12" hex. */
int crypto_uuid_valid(const char *s);

#endif
