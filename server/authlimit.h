/*
 * Failed-authentication limits per client address: after max_failures bad or
 * missing tokens from one address within window_s seconds, requests from it
 * are refused (429 with Retry-After) for block_s seconds without touching the
 * token store, and the block is logged once. A fixed-size table (the least
 * recently failing addresses make room), so a flood of addresses cannot grow
 * memory. Safe to use from several threads.
 */
#ifndef HO_AUTHLIMIT_H
#define HO_AUTHLIMIT_H

#include <stdint.h>

#define AUTHLIMIT_SLOTS 4096 /* addresses tracked at once */
#define AUTHLIMIT_ADDR  64   /* longest address kept (IPv6 text is at most 45) */

struct authlimit;

/* A limiter; max_failures 0 makes one that never blocks. */
struct authlimit *authlimit_new(int max_failures, int window_s, int block_s);
void authlimit_free(struct authlimit *al);

/* 0 when addr may try to authenticate now, else the seconds until it may (>= 1). */
int authlimit_blocked(struct authlimit *al, const char *addr, int64_t now_ms);

/*
 * Counts one failed authentication of addr; returns 1 when this failure
 * started a block (the caller logs it), else 0.
 */
int authlimit_fail(struct authlimit *al, const char *addr, int64_t now_ms);

#endif
