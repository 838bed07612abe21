/*
 * A background thread that calls a function periodically and can be stopped
 * at once (the retention pruner, the rollout watcher): a condition variable on
 * the monotonic clock, so stop never waits out an interval.
 */
#ifndef HO_TICKER_H
#define HO_TICKER_H

#include <stdint.h>

#include "error.h"

struct ticker;

/*
 * Starts a thread that calls fn(arg, t) first after first_ms, then every
 * every_ms, until ticker_stop. fn may pause inside with ticker_wait. name is
 * for the error message.
 */
enum ho_code ticker_start(const char *name, void (*fn)(void *arg, struct ticker *t), void *arg,
                          int64_t first_ms, int64_t every_ms, struct ticker **out,
                          struct ho_error *err) HO_WUR;
/* Waits ms or until ticker_stop; 1 when stopping (fn should return soon). */
int ticker_wait(struct ticker *t, int64_t ms);
/* Stops the thread, waits for fn to return and frees t; NULL is accepted. */
void ticker_stop(struct ticker *t);

#endif
