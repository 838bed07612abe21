/*
 * Store verbs of the retention pruner (retention.h).
 */
#ifndef HO_STORE_RETENTION_H
#define HO_STORE_RETENTION_H

#include <stddef.h>
#include <stdint.h>

#include "error.h"

struct store;

/*
 * Deletes up to limit runs that started before before_ms, oldest first, in one
 * short transaction; *deleted says how many (call again while it equals limit).
 * A run whose points are still to be forwarded (its outbox row comes after
 * delivered_seq, forward_min_delivered) is kept, and so is every run after it.
 */
enum ho_code store_runs_prune(struct store *st, int64_t before_ms, int64_t delivered_seq,
                              size_t limit, size_t *deleted) HO_WUR;
/*
 * Deletes up to limit states (last run per agent x check) whose last run began
 * before before_ms: checks no longer run anywhere leave the overview.
 */
enum ho_code store_states_prune(struct store *st, int64_t before_ms, size_t limit,
                                size_t *deleted) HO_WUR;

#endif
