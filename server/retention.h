/*
 * Retention (DESIGN.md section 10, "retention_days"): a thread that deletes
 * runs, and the last states of checks, older than the configured number of
 * days, in small batches with pauses so ingest never waits long behind it.
 * Metric points have their own horizon (series_days, pruned by forward.c).
 */
#ifndef HO_RETENTION_H
#define HO_RETENTION_H

#include "error.h"

struct app;
struct retention;

/* Starts the pruner for app->cfg.retention_days (0 = keep forever: no thread). */
enum ho_code retention_start(struct app *app, struct retention **out, struct ho_error *err) HO_WUR;
/* Stops and joins it; NULL is accepted. */
void retention_stop(struct retention *r);

#endif
