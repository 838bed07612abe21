/*
 * Rollout safety (DESIGN.md section 6): a thread that every
 * rollout_check_interval seconds looks at each rollout in progress (an
 * assignment that has a previous version and is not halted), compares the
 * failure rates of the new and the previous version since the rollout began,
 * and halts it (server/rollout.h, rollout_should_halt) so every agent falls
 * back to the previous version.
 */
#ifndef HO_ROLLOUT_WATCH_H
#define HO_ROLLOUT_WATCH_H

#include "error.h"

struct app;
struct rollout_watch;
struct server_config;

/*
 * Checks the rollout keys of c (rollout_max_failure_increase: a number from 0 to 1);
 * err names the key. For main, before anything starts.
 */
enum ho_code rollout_watch_check_config(const struct server_config *c, struct ho_error *err) HO_WUR;
/* Starts the watcher thread. */
enum ho_code rollout_watch_start(struct app *app, struct rollout_watch **out,
                                 struct ho_error *err) HO_WUR;
/* Stops and joins it; NULL is accepted. */
void rollout_watch_stop(struct rollout_watch *w);

#endif
