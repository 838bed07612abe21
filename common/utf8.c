/*
 * UTF-8 sequence validation (RFC 3629 section 4).
 */
#include "utf8.h"

size_t utf8_seq_len(const unsigned char *s, size_t n)
{
    unsigned char c = s[0];
    size_t len, i;
    unsigned cp;

    if (c < 0x80)
        return 1;
    if (c >= 0xc2 && c <= 0xdf)
        len = 2;
    else if (c >= 0xe0 && c <= 0xef)
        len = 3;
    else if (c >= 0xf0 && c <= 0xf4)
        len = 4;
    else
        return 0;
    cp = c & (0x7fu >> len);
    if (len > n)
        return 0;
    for (i = 1; i < len; i++) {
        if ((s[i] & 0xc0) != 0x80)
            return 0;
        cp = (cp << 6) | (s[i] & 0x3fu);
    }
    /* overlong forms, UTF-16 surrogates, past U+10FFFF */
    if ((len == 3 && cp < 0x800) || (len == 4 && (cp < 0x10000 || cp > 0x10ffff)) ||
        (cp >= 0xd800 && cp <= 0xdfff))
        return 0;
    return len;
}

size_t utf8_cut(const char *s, size_t len, size_t max)
{
    size_t n = max, back = 0;

    if (len <= max)
        return len;
    while (back < 3 && n > 0 && ((unsigned char)s[n] & 0xc0) == 0x80) {
        n--;
        back++;
    }
    return n;
}
