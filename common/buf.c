/*
 * Capped growable buffer (after curl's dynbuf: every buffer has a maximum).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "mem.h"

void buf_init(struct buf *b, size_t cap)
{
    b->data = NULL;
    b->len = 0;
    b->size = 0;
    b->cap = cap;
}

void buf_cleanup(struct buf *b)
{
    free(b->data);
    b->data = NULL;
    b->len = 0;
    b->size = 0;
}

void buf_reset(struct buf *b)
{
    b->len = 0;
    if (b->data != NULL)
        b->data[0] = '\0';
}

static enum ho_code buf_reserve(struct buf *b, size_t n)
{
    size_t want;

    if (n > b->cap || b->len > b->cap - n)
        return HO_ETOOBIG;
    want = b->len + n + 1;
    if (want <= b->size)
        return HO_OK;
    if (b->size == 0)
        b->size = 256;
    while (b->size < want)
        b->size *= 2;
    b->data = xrealloc(b->data, b->size);
    return HO_OK;
}

enum ho_code buf_append(struct buf *b, const void *data, size_t n)
{
    enum ho_code rc;

    rc = buf_reserve(b, n);
    if (rc != HO_OK)
        return rc;
    if (n > 0)
        memcpy(b->data + b->len, data, n);
    b->len += n;
    b->data[b->len] = '\0';
    return HO_OK;
}

enum ho_code buf_appends(struct buf *b, const char *s)
{
    return buf_append(b, s, strlen(s));
}

enum ho_code buf_printf(struct buf *b, const char *fmt, ...)
{
    va_list ap;
    char small[256];
    char *big = NULL;
    int n;
    enum ho_code rc;

    va_start(ap, fmt);
    n = vsnprintf(small, sizeof(small), fmt, ap);
    va_end(ap);
    if (n < 0)
        return HO_EINVAL;
    if ((size_t)n < sizeof(small))
        return buf_append(b, small, (size_t)n);
    big = xmalloc((size_t)n + 1);
    va_start(ap, fmt);
    vsnprintf(big, (size_t)n + 1, fmt, ap);
    va_end(ap);
    rc = buf_append(b, big, (size_t)n);
    free(big);
    return rc;
}

char *buf_take(struct buf *b)
{
    char *p = b->data;

    if (p == NULL)
        p = xstrdup("");
    b->data = NULL;
    b->len = 0;
    b->size = 0;
    return p;
}
