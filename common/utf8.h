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

#endif
