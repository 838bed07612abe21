/*
 * The keys of the open alerts, in memory (alerts_impl.h): a chained hash set
 * (FNV-1a) that lets ingest tell in a few nanoseconds whether an ok run can
 * resolve an alert. Callers hold the engine's mutex.
 */
#include <stdlib.h>
#include <string.h>

#include "alerts_impl.h"
#include "mem.h"

#define ALERTS_OSET_MIN 256

struct alerts_onode {
    struct alerts_onode *next;
    int64_t refreshed_ms; /* when the alert's context was last refreshed */
    char key[];           /* flexible */
};

static uint64_t oset_hash(const char *s)
{
    uint64_t h = 1469598103934665603ULL; /* FNV-1a */

    for (; *s != '\0'; s++) {
        h ^= (unsigned char)*s;
        h *= 1099511628211ULL;
    }
    return h;
}

static struct alerts_onode **oset_slot(const struct alerts_oset *o, const char *key)
{
    struct alerts_onode **p;

    if (o->nb == 0)
        return NULL;
    for (p = &o->b[oset_hash(key) & (o->nb - 1)]; *p != NULL; p = &(*p)->next) {
        if (strcmp((*p)->key, key) == 0)
            break;
    }
    return p;
}

int alerts_oset_has(const struct alerts_oset *o, const char *key)
{
    struct alerts_onode **p = oset_slot(o, key);

    return p != NULL && *p != NULL;
}

static void oset_grow(struct alerts_oset *o)
{
    size_t nb = o->nb ? o->nb * 2 : ALERTS_OSET_MIN, i;
    struct alerts_onode **b = xcalloc(nb, sizeof(*b)), *e, *next;

    for (i = 0; i < o->nb; i++) {
        for (e = o->b[i]; e != NULL; e = next) {
            next = e->next;
            e->next = b[oset_hash(e->key) & (nb - 1)];
            b[oset_hash(e->key) & (nb - 1)] = e;
        }
    }
    free(o->b);
    o->b = b;
    o->nb = nb;
}

void alerts_oset_add(struct alerts_oset *o, const char *key)
{
    struct alerts_onode **p, *e;
    size_t len = strlen(key);

    if (o->n + 1 > o->nb)
        oset_grow(o);
    p = oset_slot(o, key);
    if (*p != NULL)
        return;
    e = xmalloc(sizeof(*e) + len + 1);
    memcpy(e->key, key, len + 1);
    e->next = NULL;
    e->refreshed_ms = 0;
    *p = e;
    o->n++;
}

/* 1 (and notes now) when key's context was last refreshed gap_ms or more before now. */
int alerts_oset_refresh_due(struct alerts_oset *o, const char *key, int64_t now_ms, int64_t gap_ms)
{
    struct alerts_onode **p = oset_slot(o, key);

    if (p == NULL || *p == NULL)
        return 1;
    if ((*p)->refreshed_ms != 0 && now_ms - (*p)->refreshed_ms < gap_ms)
        return 0;
    (*p)->refreshed_ms = now_ms;
    return 1;
}

void alerts_oset_del(struct alerts_oset *o, const char *key)
{
    struct alerts_onode **p = oset_slot(o, key), *e;

    if (p == NULL || *p == NULL)
        return;
    e = *p;
    *p = e->next;
    free(e);
    o->n--;
}

void alerts_oset_clear(struct alerts_oset *o)
{
    struct alerts_onode *e, *next;
    size_t i;

    for (i = 0; i < o->nb; i++) {
        for (e = o->b[i]; e != NULL; e = next) {
            next = e->next;
            free(e);
        }
    }
    free(o->b);
    memset(o, 0, sizeof(*o));
}
