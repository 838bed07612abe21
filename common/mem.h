/*
 * Allocation that never returns NULL: inputs are capped, so running out of
 * memory means the host is sick; these log and abort.
 */
#ifndef HO_MEM_H
#define HO_MEM_H

#include <stddef.h>

void *xmalloc(size_t n);
void *xcalloc(size_t nmemb, size_t size);
void *xrealloc(void *p, size_t n);
/* Returns a new copy of s (NULL stays NULL); caller frees. */
char *xstrdup(const char *s);
/* Returns a new NUL-terminated copy of the first n bytes of s; caller frees. */
char *xstrndup(const char *s, size_t n);
/* Returns a new printf-formatted string; caller frees. */
char *xasprintf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

#endif
