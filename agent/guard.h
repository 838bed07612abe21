/*
 * The loop guard's memory: repair times per check, kept in a file so that
 * max_repairs holds across agent restarts and --once runs (a node whose agent
 * is restarted by systemd every minute must not repair every minute).
 * Thread-safe.
 */
#ifndef HO_GUARD_H
#define HO_GUARD_H

#include "cycle.h"
#include "error.h"

struct guard_store;

/* Opens the store backed by path; a missing file is empty, a corrupt one is logged and
 * treated as empty (the guard then starts counting again). */
enum ho_code guard_store_open(const char *path, struct guard_store **out) HO_WUR;
void guard_store_close(struct guard_store *gs);
/* Replaces g's times with the saved times of key ("package/check"). */
void guard_store_get(struct guard_store *gs, const char *key, struct cycle_guard *g);
/* Saves g's times for key when they changed; the file is rewritten crash-safe. */
void guard_store_put(struct guard_store *gs, const char *key, const struct cycle_guard *g);

#endif
