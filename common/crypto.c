/*
 * Random tokens, SHA-256 (OpenSSL EVP), constant-time compare, and
 * UUIDv7 as RFC 9562 section 5.7 lays it out: 48-bit Unix ms, version 7,
 * 12 random bits, variant 10, 62 random bits.
 */
#include <ctype.h>
#include <stdio.h>
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/rand.h>

#include "crypto.h"

enum ho_code crypto_random(void *buf, size_t n)
{
    if (n > (size_t)INT32_MAX || RAND_bytes(buf, (int)n) != 1)
        return HO_EIO;
    return HO_OK;
}

enum ho_code crypto_token_new(char out[CRYPTO_TOKEN_LEN])
{
    static const char b64url[] =
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    unsigned char raw[32];
    unsigned int bits = 0, acc = 0;
    size_t i, o = 4;

    if (crypto_random(raw, sizeof(raw)) != HO_OK)
        return HO_EIO;
    memcpy(out, "hot_", 4);
    for (i = 0; i < sizeof(raw); i++) {
        acc = (acc << 8) | raw[i];
        bits += 8;
        while (bits >= 6) {
            bits -= 6;
            out[o++] = b64url[(acc >> bits) & 0x3f];
        }
    }
    if (bits > 0)
        out[o++] = b64url[(acc << (6 - bits)) & 0x3f];
    out[o] = '\0';
    crypto_wipe(raw, sizeof(raw));
    return HO_OK;
}

void crypto_sha256_hex(const void *data, size_t n, char out[CRYPTO_SHA256_HEX_LEN])
{
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int len = 0, i;

    EVP_Digest(data, n, md, &len, EVP_sha256(), NULL);
    for (i = 0; i < len && i < 32; i++)
        snprintf(out + 2 * i, 3, "%02x", md[i]);
    out[64] = '\0';
}

int crypto_ct_equal(const void *a, const void *b, size_t n)
{
    return CRYPTO_memcmp(a, b, n) == 0;
}

void crypto_wipe(void *p, size_t n)
{
    OPENSSL_cleanse(p, n);
}

enum ho_code crypto_uuid_v7(int64_t ms, char out[CRYPTO_UUID_LEN])
{
    unsigned char b[16];
    uint64_t t = (uint64_t)ms;
    int i;

    if (crypto_random(b, sizeof(b)) != HO_OK)
        return HO_EIO;
    for (i = 0; i < 6; i++)
        b[i] = (unsigned char)(t >> (40 - 8 * i));
    b[6] = (unsigned char)(0x70 | (b[6] & 0x0f));
    b[8] = (unsigned char)(0x80 | (b[8] & 0x3f));
    snprintf(out, CRYPTO_UUID_LEN,
             "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x", b[0], b[1],
             b[2], b[3], b[4], b[5], b[6], b[7], b[8], b[9], b[10], b[11], b[12], b[13], b[14],
             b[15]);
    return HO_OK;
}

int crypto_uuid_valid(const char *s)
{
    int i;

    if (s == NULL || strlen(s) != 36)
        return 0;
    for (i = 0; i < 36; i++) {
        if (i == 8 || i == 13 || i == 18 || i == 23) {
            if (s[i] != '-')
                return 0;
        } else if (!isxdigit((unsigned char)s[i])) {
            return 0;
        }
    }
    return 1;
}
