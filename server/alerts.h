/*
 * The alert engine (DESIGN.md section 8): decides when an alert opens,
 * repeats and resolves (rules in alerts_impl.h), keeps the alert history and
 * queues every alert event for every matching receiver in a durable outbox
 * that a delivery thread sends with retries.
 *
 * Ingest stays cheap: after its commit, POST /runs hands the engine the runs
 * that can change an alert (not ok, or of an agent x check with an open alert)
 * through a small bounded queue; an evaluation thread looks at those checks
 * and, every alerting.evaluate_every seconds, sweeps for silent agents, stale
 * checks, flapping windows, repeats and Alertmanager re-sends.
 */
#ifndef HO_ALERTS_H
#define HO_ALERTS_H

#include <stddef.h>
#include <stdint.h>

#include "error.h"
#include "store.h"

struct alerts;
struct app;
struct receivers;
struct run;

#define ALERTS_QUEUE_MAX 65536 /* checks waiting for evaluation; past it, a full sweep */

/*
 * Makes the engine for app (its store, config and urlsign) taking ownership of
 * rs (may be NULL: alerts are kept but sent nowhere). No thread runs yet.
 */
struct alerts *alerts_new(struct app *app, struct receivers *rs);
/* Starts the evaluation and delivery threads; HO_EIO with err when it cannot. */
enum ho_code alerts_start(struct alerts *a, struct ho_error *err) HO_WUR;
/* Stops the threads (if started) and frees everything; NULL is accepted. */
void alerts_free(struct alerts *a);

/*
 * Called by ingest after runs[0..n) of agent_id were committed (res[i] says which
 * were accepted): queues the checks whose alert state may change. Cheap; never
 * blocks on the store. NULL a is accepted.
 */
void alerts_runs_stored(struct alerts *a, const char *agent_id, const struct run *const *runs,
                        const enum store_insert *res, size_t n);

/*
 * One evaluation round at now_ms: every queued check, then the sweep when it is
 * due (or when force_sweep). The evaluation thread calls it; tests call it
 * directly on an engine that was not started.
 */
void alerts_tick(struct alerts *a, int64_t now_ms, int force_sweep);

/* The receivers the engine sends to (may be NULL). */
const struct receivers *alerts_receivers(const struct alerts *a);

/*
 * Sends the due outbox rows once (at most limit), as the delivery thread does;
 * returns how many were attempted. For tests and the thread itself.
 */
size_t alerts_deliver_once(struct alerts *a, int64_t now_ms, size_t limit);

#endif
