/*
 * The failed-authentication limiter (authlimit.h): an open-addressing table
 * of AUTHLIMIT_SLOTS entries keyed by the address text (FNV-1a hash, linear
 * probing over AUTHLIMIT_PROBE slots). An address gets a fixed window that
 * starts at its first failure; max_failures within it start a block. When
 * every probed slot is taken, the one whose last failure is oldest is reused:
 * an attacker cycling through addresses can only evict other idle entries.
 */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "authlimit.h"
#include "mem.h"

#define AUTHLIMIT_PROBE 16

struct al_slot {
    char addr[AUTHLIMIT_ADDR]; /* "" = free */
    int64_t window_start_ms;
    int64_t last_fail_ms;
    int64_t blocked_until_ms;
    int failures;
};

struct authlimit {
    pthread_mutex_t mu;
    int max_failures;
    int64_t window_ms;
    int64_t block_ms;
    struct al_slot slots[AUTHLIMIT_SLOTS];
};

struct authlimit *authlimit_new(int max_failures, int window_s, int block_s)
{
    struct authlimit *al = xcalloc(1, sizeof(*al));

    pthread_mutex_init(&al->mu, NULL);
    al->max_failures = max_failures;
    al->window_ms = (int64_t)window_s * 1000;
    al->block_ms = (int64_t)block_s * 1000;
    return al;
}

void authlimit_free(struct authlimit *al)
{
    if (al == NULL)
        return;
    pthread_mutex_destroy(&al->mu);
    free(al);
}

static uint32_t al_hash(const char *s)
{
    uint32_t h = 2166136261u;

    for (; *s != '\0'; s++)
        h = (h ^ (unsigned char)*s) * 16777619u;
    return h;
}

/* The slot of addr; with create, a free or the stalest probed slot made addr's. */
static struct al_slot *al_find(struct authlimit *al, const char *addr, int create)
{
    uint32_t h = al_hash(addr);
    struct al_slot *s, *stalest = NULL;
    size_t i;

    for (i = 0; i < AUTHLIMIT_PROBE; i++) {
        s = &al->slots[(h + i) % AUTHLIMIT_SLOTS];
        if (strcmp(s->addr, addr) == 0)
            return s;
        if (stalest == NULL || s->addr[0] == '\0' ||
            (stalest->addr[0] != '\0' && s->last_fail_ms < stalest->last_fail_ms))
            stalest = s;
    }
    if (!create)
        return NULL;
    memset(stalest, 0, sizeof(*stalest));
    strncpy(stalest->addr, addr, sizeof(stalest->addr) - 1);
    return stalest;
}

int authlimit_blocked(struct authlimit *al, const char *addr, int64_t now_ms)
{
    struct al_slot *s;
    int wait = 0;

    if (al == NULL || al->max_failures <= 0 || addr == NULL)
        return 0;
    pthread_mutex_lock(&al->mu);
    s = al_find(al, addr, 0);
    if (s != NULL && s->blocked_until_ms > now_ms)
        wait = (int)((s->blocked_until_ms - now_ms + 999) / 1000);
    pthread_mutex_unlock(&al->mu);
    return wait;
}

int authlimit_fail(struct authlimit *al, const char *addr, int64_t now_ms)
{
    struct al_slot *s;
    int started = 0;

    if (al == NULL || al->max_failures <= 0 || addr == NULL)
        return 0;
    pthread_mutex_lock(&al->mu);
    s = al_find(al, addr, 1);
    if (s->failures == 0 || now_ms - s->window_start_ms >= al->window_ms) {
        s->window_start_ms = now_ms;
        s->failures = 0;
    }
    s->last_fail_ms = now_ms;
    if (++s->failures >= al->max_failures && s->blocked_until_ms <= now_ms) {
        s->blocked_until_ms = now_ms + al->block_ms;
        s->failures = 0;
        started = 1;
    }
    pthread_mutex_unlock(&al->mu);
    return started;
}
