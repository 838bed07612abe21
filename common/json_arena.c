/*
 * cJSON's allocations from a per-thread block while a document is parsed and
 * freed (json_arena.h). The block is kept for the thread's next document and
 * freed when the thread ends.
 */
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>

#include <cjson/cJSON.h>

#include "json_arena.h"

#define JA_ALIGN    16 /* malloc's alignment on x86-64 and arm64 */
#define JA_PER_BYTE 8  /* block bytes per byte of JSON: a node is 64 bytes, strings are copied */
#define JA_SLACK    4096

struct json_arena {
    char *base;
    size_t cap;
    size_t used;
    int depth; /* nested scopes: only the outermost starts and ends it */
    int active;
};

static _Thread_local struct json_arena ja;
static pthread_key_t ja_key; /* its value: this thread's block, freed when the thread ends */
static pthread_once_t ja_once = PTHREAD_ONCE_INIT;
static atomic_int ja_installed;

static int ja_owns(const struct json_arena *a, const void *p)
{
    uintptr_t u = (uintptr_t)p, b = (uintptr_t)a->base;

    return a->base != NULL && u >= b && u < b + a->cap;
}

static void *ja_malloc(size_t n)
{
    struct json_arena *a = &ja;
    size_t need = (n + JA_ALIGN - 1) & ~(size_t)(JA_ALIGN - 1);
    void *p;

    if (a->active && need >= n && a->cap - a->used >= need) {
        p = a->base + a->used;
        a->used += need;
        return p;
    }
    return malloc(n);
}

static void ja_free(void *p)
{
    if (!ja_owns(&ja, p))
        free(p);
}

static void ja_thread_end(void *block)
{
    free(block);
}

static void ja_setup(void)
{
    cJSON_Hooks hooks = {ja_malloc, ja_free};

    if (pthread_key_create(&ja_key, ja_thread_end) != 0)
        return;
    cJSON_InitHooks(&hooks);
    atomic_store(&ja_installed, 1);
}

void json_arena_install(void)
{
    pthread_once(&ja_once, ja_setup);
}

void json_arena_begin(size_t n)
{
    struct json_arena *a = &ja;
    size_t need;
    char *b;

    if (a->depth++ > 0 || !atomic_load_explicit(&ja_installed, memory_order_relaxed))
        return;
    need =
        n < (JSON_ARENA_MAX - JA_SLACK) / JA_PER_BYTE ? n * JA_PER_BYTE + JA_SLACK : JSON_ARENA_MAX;
    if (a->cap < need) {
        b = malloc(need);
        if (b == NULL)
            return; /* malloc for this document */
        free(a->base);
        a->base = b;
        a->cap = need;
        (void)pthread_setspecific(ja_key, b);
    }
    a->used = 0;
    a->active = 1;
}

void json_arena_end(void)
{
    struct json_arena *a = &ja;

    if (a->depth == 0 || --a->depth > 0)
        return;
    a->active = 0;
    a->used = 0;
}

size_t json_arena_used(void)
{
    return ja.active ? ja.used : 0;
}
