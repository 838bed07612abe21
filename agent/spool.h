/*
 * The agent's durable spool: everything the agent must send (runs, metric
 * batches) is written here first, one file per item, crash-safe (temp file,
 * fsync, rename, fsync of the folder), and removed only once the server has
 * acknowledged it. Bounded by item count and bytes: when full the oldest items
 * are dropped and counted; the count survives restarts. Thread-safe.
 * While the server takes items within the second, appends skip the fsync and
 * spool_sync makes them durable when they have to wait (spool_sync_each).
 */
#ifndef HO_SPOOL_H
#define HO_SPOOL_H

#include <stddef.h>
#include <stdint.h>

#include "error.h"

struct spool;

struct spool_item {
    char *kind; /* owned: "run" or "metrics" */
    char *id;   /* owned: the item id (a UUIDv7, so names sort by time) */
    char *data; /* owned, NUL-terminated */
    size_t len;
};

/*
 * Opens the spool folder dir (created 0700 if missing), indexes what is there
 * (left-over temp files are removed), and loads the dropped count.
 */
enum ho_code spool_open(const char *dir, size_t max_items, size_t max_bytes, struct spool **out,
                        struct ho_error *err) HO_WUR;
/* Closes the spool, fsyncing the folder when items were added since the last sync. */
void spool_close(struct spool *sp);

/*
 * Makes the items added so far durable against a power loss: fsyncs each one
 * written without (see spool_sync_each), then the folder. A no-op when nothing
 * was added since the last sync.
 */
enum ho_code spool_sync(struct spool *sp, struct ho_error *err) HO_WUR;

/*
 * on (the default, also when the server is away): every append fsyncs its
 * item before it returns. off (the server is taking items as they come): an
 * append writes and renames only; the item survives a kill -9 of the agent,
 * and a power loss once spool_sync has run.
 */
void spool_sync_each(struct spool *sp, int on);

/*
 * Stores data of kind under id: when it returns HO_OK the item is whole on disk
 * (written, and fsync'd when spool_sync_each is on) and survives a kill -9; its
 * name in the folder is durable against a power loss after the next spool_sync.
 * When the spool is over its limits, the oldest items are removed first and
 * added to the dropped count. kind and id must match [a-z0-9-]+.
 */

enum ho_code spool_append(struct spool *sp, const char *kind, const char *id, const char *data,
                          size_t len, struct ho_error *err) HO_WUR;

/*
 * Returns up to max_items of kind, oldest first, whose lengths add up to at most
 * max_bytes (at least one item is returned even if it alone is larger).
 * Caller frees with spool_items_free.
 */
enum ho_code spool_peek(struct spool *sp, const char *kind, size_t max_items, size_t max_bytes,
                        struct spool_item **items, size_t *n) HO_WUR;
void spool_items_free(struct spool_item *items, size_t n);

/* Removes one item (after the server acknowledged it). Unknown ids are HO_ENOENT. */
enum ho_code spool_remove(struct spool *sp, const char *kind, const char *id) HO_WUR;

/*
 * Indexes items that another process (a manual "healops-agent run" beside the
 * daemon) wrote into the folder since it was opened.
 */
enum ho_code spool_rescan(struct spool *sp, struct ho_error *err) HO_WUR;

/* Items held now, all kinds. */
size_t spool_depth(struct spool *sp);
/* Items dropped because the spool was full, since it was created. */
uint64_t spool_dropped(struct spool *sp);

#endif
