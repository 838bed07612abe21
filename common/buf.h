/*
 * Growable byte buffer with a hard cap: appending past the cap fails with
 * HO_ETOOBIG and leaves the buffer as it was (never silent truncation).
 * The content is always NUL-terminated.
 */
#ifndef HO_BUF_H
#define HO_BUF_H

#include <stdarg.h>
#include <stddef.h>

#include "error.h"

struct buf {
    char *data;  /* content, NUL-terminated; NULL until the first append */
    size_t len;  /* bytes used, without the NUL */
    size_t size; /* bytes allocated */
    size_t cap;  /* most bytes len may reach */
};

void buf_init(struct buf *b, size_t cap);
/* Frees the content; the buffer can be reused after buf_init. */
void buf_cleanup(struct buf *b);
/* Empties the buffer, keeping its allocation. */
void buf_reset(struct buf *b);
enum ho_code buf_append(struct buf *b, const void *data, size_t n) HO_WUR;
enum ho_code buf_appends(struct buf *b, const char *s) HO_WUR;
enum ho_code buf_printf(struct buf *b, const char *fmt, ...) HO_WUR
    __attribute__((format(printf, 2, 3)));
/* Returns the content (caller frees; "" when empty) and resets the buffer. */
char *buf_take(struct buf *b);

#endif
