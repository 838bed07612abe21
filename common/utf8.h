/*
 * UTF-8 (RFC 3629) validation shared by every encoder that must emit valid text.
 */
#ifndef HO_UTF8_H
#define HO_UTF8_H

#include <stddef.h>

/*
 * Length of the well-formed UTF-8 sequence at s, looking at no more than n bytes:
 * 1 for ASCII, 2-4 for a valid multi-byte sequence, 0 when invalid (overlong forms,
 * surrogates, past U+10FFFF, cut short). n must be at least 1.
 */
size_t utf8_seq_len(const unsigned char *s, size_t n);

/*
 * Where to cut the len bytes at s to keep at most max of them without splitting a
 * UTF-8 sequence: len when it fits, else max moved back over at most 3 continuation
 * bytes (so even bytes that are not UTF-8 are cut near max).
 */
size_t utf8_cut(const char *s, size_t len, size_t max);

#endif
