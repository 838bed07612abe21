/*
 * The agent's built-in host stats (switched on by the agent config
 * "host_stats"): load, CPU, memory, disks and network, read from procfs.
 */
#ifndef HO_HOST_STATS_H
#define HO_HOST_STATS_H

#include <stddef.h>
#include <stdint.h>

#include "run.h"

#define HOST_STATS_MAX_MOUNTS  128 /* file systems reported */
#define HOST_STATS_MAX_IFACES  128 /* network interfaces reported */
#define HOST_STATS_MIN_RATE_MS 500 /* shortest interval CPU and network rates use */

/* Keeps the last CPU and network counters, for rates. */
struct host_stats;

/* proc is the folder read as /proc (NULL = "/proc"; tests pass a folder of fakes). */
struct host_stats *host_stats_new(const char *proc);
void host_stats_free(struct host_stats *h);

/* Reads the CPU and network counters now (mono_ms) as the base of the next rates. */
void host_stats_sample(struct host_stats *h, int64_t mono_ms);

/*
 * Collects host stats measured at wall_ms into *metrics (a new array, caller
 * frees each with metric_cleanup, then the array; *n set):
 *   host.load.1, host.load.5, host.load.15
 *   host.mem.total_bytes, host.mem.available_bytes, host.mem.used_pct
 *   host.disk.total_bytes, .free_bytes, .used_pct, .inodes_used_pct {mount=M}
 *     for each real file system (pseudo, network and FUSE ones skipped)
 * and, when the last sample is at least HOST_STATS_MIN_RATE_MS old (mono_ms):
 *   host.cpu.user_pct, .system_pct, .iowait_pct, .idle_pct
 *   host.net.{rx,tx}_{bytes,packets,errors}_per_s {iface=I} (lo skipped)
 * A source that cannot be read is left out and logged once. Not thread-safe
 * for one h.
 */
void host_stats_collect(struct host_stats *h, int64_t wall_ms, int64_t mono_ms,
                        struct metric **metrics, size_t *n);

#endif
