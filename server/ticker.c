/*
 * The periodic thread of ticker.h: pthread_cond_timedwait on CLOCK_MONOTONIC
 * (so a wall clock step neither fires nor starves it), woken by ticker_stop.
 */
#include <pthread.h>
#include <stdlib.h>
#include <time.h>

#include "mem.h"
#include "ticker.h"

struct ticker {
    void (*fn)(void *arg, struct ticker *t);
    void *arg;
    int64_t first_ms;
    int64_t every_ms;
    pthread_t thread;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int stop;
};

int ticker_wait(struct ticker *t, int64_t ms)
{
    struct timespec ts;
    int stop;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    ts.tv_sec += ms / 1000;
    ts.tv_nsec += (ms % 1000) * 1000000L;
    if (ts.tv_nsec >= 1000000000L) {
        ts.tv_sec++;
        ts.tv_nsec -= 1000000000L;
    }
    pthread_mutex_lock(&t->mu);
    while (!t->stop && pthread_cond_timedwait(&t->cv, &t->mu, &ts) == 0)
        ;
    stop = t->stop;
    pthread_mutex_unlock(&t->mu);
    return stop;
}

static void *ticker_main(void *arg)
{
    struct ticker *t = arg;
    int64_t wait_ms = t->first_ms;

    while (!ticker_wait(t, wait_ms)) {
        t->fn(t->arg, t);
        wait_ms = t->every_ms;
    }
    return NULL;
}

enum ho_code ticker_start(const char *name, void (*fn)(void *arg, struct ticker *t), void *arg,
                          int64_t first_ms, int64_t every_ms, struct ticker **out,
                          struct ho_error *err)
{
    struct ticker *t = xcalloc(1, sizeof(*t));
    pthread_condattr_t ca;

    t->fn = fn;
    t->arg = arg;
    t->first_ms = first_ms;
    t->every_ms = every_ms;
    pthread_mutex_init(&t->mu, NULL);
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&t->cv, &ca);
    pthread_condattr_destroy(&ca);
    if (pthread_create(&t->thread, NULL, ticker_main, t) != 0) {
        pthread_cond_destroy(&t->cv);
        pthread_mutex_destroy(&t->mu);
        free(t);
        *out = NULL;
        return ho_error_set(err, HO_EINTERNAL, NULL, "%s: cannot start a thread", name);
    }
    *out = t;
    return HO_OK;
}

void ticker_stop(struct ticker *t)
{
    if (t == NULL)
        return;
    pthread_mutex_lock(&t->mu);
    t->stop = 1;
    pthread_cond_signal(&t->cv);
    pthread_mutex_unlock(&t->mu);
    pthread_join(t->thread, NULL);
    pthread_cond_destroy(&t->cv);
    pthread_mutex_destroy(&t->mu);
    free(t);
}
