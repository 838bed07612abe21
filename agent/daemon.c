/*
 * The agent daemon: a scheduler thread fires each check and each stats
 * collector on its interval (the monotonic clock; the first run delayed by a
 * random splay so a fleet does not fire in the same second), worker threads run
 * the cycles and collections, every run and every collection (one metric batch)
 * goes to the spool first, and a sender thread moves the spool to the server
 * with exponential backoff and jitter while the server is away. Checks and
 * stats keep running whatever the server does.
 *
 * Every thread sleeps until it has something to do: the scheduler until the
 * next job is due (or a job ended, a package set arrived, a signal came; a
 * thread of its own takes SIGINT and SIGTERM with sigwait), the sender until
 * something was spooled. Runs that went well wait up to DAEMON_SEND_DELAY_MS so
 * that a second of them travels in one POST; a run that did not go well (a
 * failure, a repair, an error) is sent at once.
 *
 * Packages change while the daemon runs: the sender thread also syncs the
 * assigned packages (pkgsync) on its own interval, and the scheduler, between
 * ticks, notices a new package generation, loads the new set, stops
 * scheduling the jobs of packages that changed or went, waits until none of
 * them is queued or running, and only then frees their jobs and manifests
 * and adds jobs for the new ones. Jobs are allocated one by one and the queue
 * holds pointers, so jobs of unchanged packages keep running and keep their
 * schedule across the swap.
 */
#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "agent.h"
#include "buf.h"
#include "clock.h"
#include "collector.h"
#include "cycle.h"
#include "guard.h"
#include "host_stats.h"
#include "httpc.h"
#include "log.h"
#include "mem.h"
#include "pkgsync.h"
#include "runner.h"
#include "spool.h"

#define DAEMON_BACKOFF_MIN_MS 1000
#define DAEMON_BACKOFF_MAX_MS 60000
#define DAEMON_RESCAN_MS      30000
#define DAEMON_HOST_BASE_MS   1000 /* host stats wait this long after their CPU/net base */
#define DAEMON_SEND_DELAY_MS  1000 /* most an ok run waits to share a POST with others */
#define DAEMON_SCHED_MAX_MS   1000 /* longest scheduler sleep */

enum job_kind {
    JOB_CHECK = 0, /* a check cycle */
    JOB_STAT,      /* a package's stats collector */
    JOB_HOST       /* the built-in host stats */
};

struct job {
    enum job_kind kind;
    const struct manifest *pkg;         /* NULL for JOB_HOST */
    const struct manifest_check *check; /* JOB_CHECK */
    const struct manifest_stat *stat;   /* JOB_STAT */
    int interval_s;
    struct cycle_guard guard; /* loop guard of a check */
    int64_t next_ms;          /* monotonic time of the next run */
    int running;              /* queued or running; only its worker touches its state */
    int frozen;               /* its package is being replaced: not scheduled */
};

struct daemon {
    struct agent *ag;
    struct job **jobs;        /* owned, each job owned */
    size_t njobs;
    pthread_mutex_t lock;
    pthread_cond_t work;      /* a job is queued or we stop */
    pthread_cond_t sendable;  /* a run was spooled or we stop */
    pthread_cond_t sched;     /* the scheduler has something to look at */
    int64_t sched_at;         /* monotonic ms the scheduler sleeps until */
    int signalled;            /* SIGINT or SIGTERM came (the signal thread) */
    struct job **queue;       /* ring of queued jobs, qcap slots */
    size_t qcap, qhead, qlen;
    struct manifest **synced; /* owned: the synced packages jobs point into */
    size_t nsynced;
    unsigned long gen;        /* pkgsync generation of synced */
    struct manifest **pending; /* scheduler only: the next synced set, or NULL */
    size_t npending;
    unsigned long pending_gen;
    int sync_failing;         /* sender only: the last package sync failed */
    int stop;
    int spooled;              /* runs spooled since the sender last looked */
    int urgent;               /* one of them is not ok: send now */
    int64_t first_spooled_ms; /* monotonic ms of the first of them */
    struct guard_store *guards; /* loop-guard memory across restarts */
    int64_t next_rescan;        /* monotonic ms of the next spool folder rescan */
    size_t nchecks, nstats;     /* jobs by kind */
    struct host_stats *host;    /* NULL unless host stats are on; used by its job only */
    int64_t host_base_ms;       /* monotonic ms of the host stats' first CPU/net sample */
};

static volatile sig_atomic_t daemon_signalled;

static void daemon_on_signal(int sig)
{
    (void)sig;
    daemon_signalled = 1;
}

static void probe_test_op(void *ctx, const struct manifest *pkg, const struct manifest_check *c,
                          struct run_step *step, struct metric **m, size_t *nm)
{
    probe_run_test(ctx, pkg, c, step, m, nm);
}

static void probe_repair_op(void *ctx, const struct manifest *pkg,
                            const struct manifest_check *c, const struct run_step *test,
                            struct run_step *step)
{
    probe_run_repair(ctx, pkg, c, test, step);
}

enum ho_code agent_run_check(struct agent *ag, const struct manifest *pkg,
                             const struct manifest_check *c, struct cycle_guard *guard,
                             int manual, const char *operator_name, struct run *out)
{
    struct cycle_ops ops = {probe_test_op, probe_repair_op, &ag->probe};
    struct cycle_opts opts;

    opts.report_only = ag->cfg.report_only;
    opts.manual = manual;
    opts.operator_name = operator_name;
    return cycle_run(&ops, pkg, c, guard, &opts, out);
}

enum ho_code agent_spool_run(struct agent *ag, const struct run *r, struct ho_error *err)
{
    struct buf b;
    enum ho_code rc;

    buf_init(&b, 8u * 1024 * 1024);
    rc = run_to_json(r, &b);
    if (rc != HO_OK) {
        buf_cleanup(&b);
        return ho_error_set(err, rc, "run", "run %s too large to encode", r->id);
    }
    rc = spool_append(ag->spool, "run", r->id, b.data, b.len, err);
    buf_cleanup(&b);
    return rc;
}

enum ho_code agent_spool_metrics(struct agent *ag, const struct metric *m, size_t n,
                                 struct ho_error *err)
{
    char id[CRYPTO_UUID_LEN];
    struct buf b;
    enum ho_code rc;

    if (crypto_uuid_v7(clock_wall_ms(), id) != HO_OK)
        return ho_error_set(err, HO_EIO, "id", "cannot make a batch id");
    buf_init(&b, COLLECTOR_MAX_BODY);
    rc = collector_batch_to_json(id, m, n, &b);
    if (rc != HO_OK) {
        buf_cleanup(&b);
        return ho_error_set(err, rc, "metrics", "batch of %zu metrics too large to encode", n);
    }
    rc = spool_append(ag->spool, "metrics", id, b.data, b.len, err);
    buf_cleanup(&b);
    return rc;
}

static void daemon_log_run(const struct run *r)
{
    if (r->outcome == RUN_OUTCOME_OK)
        log_debug("check %s/%s: ok", r->package, r->check);
    else
        log_info("check %s/%s: %s (test %s%s%s)", r->package, r->check,
                 run_outcome_str(r->outcome),
                 test_status_str((enum test_status)r->test.status),
                 r->repair.present ? ", repair " : "",
                 r->repair.present ? repair_status_str((enum repair_status)r->repair.status)
                                   : "");
}

static void daemon_metrics_free(struct metric *m, size_t n)
{
    size_t i;

    for (i = 0; i < n; i++)
        metric_cleanup(&m[i]);
    free(m);
}

/* Spools one collection (nothing when it is empty) and frees it. */
static void daemon_spool_metrics(struct daemon *d, const char *what, struct metric *m, size_t n)
{
    struct ho_error err;

    ho_error_clear(&err);
    if (n > 0 && agent_spool_metrics(d->ag, m, n, &err) != HO_OK)
        log_warnx("spool: %zu metrics of %s lost: %s", n, what, err.msg);
    daemon_metrics_free(m, n);
}

static void daemon_run_stat(struct daemon *d, struct job *j)
{
    struct metric *m = NULL;
    size_t n = 0;
    char *what = xasprintf("stats %s/%s", j->pkg->name, j->stat->name);

    collector_run(&d->ag->probe, j->pkg, j->stat, &m, &n);
    daemon_spool_metrics(d, what, m, n);
    free(what);
}

static void daemon_run_host(struct daemon *d)
{
    struct metric *m = NULL;
    size_t n = 0;

    host_stats_collect(d->host, clock_wall_ms(), clock_mono_ms(), &m, &n);
    log_debug("host stats: %zu metrics", n);
    daemon_spool_metrics(d, "host stats", m, n);
}

/* Runs check job j and spools the run; 1 when it should be sent at once (not ok). */
static int daemon_run_check(struct daemon *d, struct job *j)
{
    struct run r;
    struct ho_error err;
    char *key = xasprintf("%s/%s", j->pkg->name, j->check->name);
    enum ho_code rc;
    int urgent;

    ho_error_clear(&err);
    rc = agent_run_check(d->ag, j->pkg, j->check, &j->guard, 0, NULL, &r);
    guard_store_put(d->guards, key, &j->guard);
    free(key);
    if (rc != HO_OK) {
        log_warnx("check %s/%s: cannot make a run id", j->pkg->name, j->check->name);
        return 0;
    }
    if (runner_aborting()) {
        /* cut short by the shutdown, not by the system it checks: not a result */
        log_info("check %s/%s: stopped by the agent's shutdown; not recorded", r.package,
                 r.check);
        run_cleanup(&r);
        return 0;
    }
    daemon_log_run(&r);
    urgent = r.outcome != RUN_OUTCOME_OK;
    if (agent_spool_run(d->ag, &r, &err) != HO_OK)
        log_warnx("spool: run %s of %s/%s lost: %s", r.id, r.package, r.check, err.msg);
    run_cleanup(&r);
    return urgent;
}

/* Runs job j and spools what it made; 1 when that should be sent at once. */
static int daemon_run_job(struct daemon *d, struct job *j)
{
    switch (j->kind) {
    case JOB_CHECK:
        return daemon_run_check(d, j);
    case JOB_STAT:
        daemon_run_stat(d, j);
        break;
    case JOB_HOST:
        daemon_run_host(d);
        break;
    }
    return 0;
}

static void *daemon_worker(void *arg)
{
    struct daemon *d = arg;
    struct job *j;
    int urgent;

    pthread_mutex_lock(&d->lock);
    for (;;) {
        while (!d->stop && d->qlen == 0)
            pthread_cond_wait(&d->work, &d->lock);
        if (d->stop)
            break;
        j = d->queue[d->qhead];
        d->qhead = (d->qhead + 1) % d->qcap;
        d->qlen--;
        pthread_mutex_unlock(&d->lock);
        urgent = daemon_run_job(d, j);
        pthread_mutex_lock(&d->lock);
        j->running = 0;
        j->next_ms = clock_mono_ms() + (int64_t)j->interval_s * 1000;
        if (j->next_ms < d->sched_at)
            pthread_cond_signal(&d->sched);
        /* the sender wakes for the first item (to time the delay) and the first urgent one */
        if (d->spooled++ == 0)
            d->first_spooled_ms = clock_mono_ms();
        if (d->spooled == 1 || (urgent && !d->urgent))
            pthread_cond_broadcast(&d->sendable);
        d->urgent |= urgent;
    }
    pthread_mutex_unlock(&d->lock);
    return NULL;
}

static void daemon_sleep_until(struct daemon *d, pthread_cond_t *cv, int64_t wait_ms)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    ts.tv_sec += wait_ms / 1000;
    ts.tv_nsec += (wait_ms % 1000) * 1000000;
    if (ts.tv_nsec >= 1000000000) {
        ts.tv_sec++;
        ts.tv_nsec -= 1000000000;
    }
    pthread_cond_timedwait(cv, &d->lock, &ts);
}

/* Enrolls if needed; returns 0 when the agent has a token. */
static int daemon_ensure_identity(struct agent *ag, struct httpc *hc)
{
    struct ho_error err;
    char token[256];

    identity_token(ag, token, sizeof(token));
    if (token[0] != '\0') {
        crypto_wipe(token, sizeof(token));
        return 0;
    }
    ho_error_clear(&err);
    if (identity_enroll(ag, hc, &err) != HO_OK) {
        log_warnx("enroll: %s (runs stay in the spool)", err.msg);
        return -1;
    }
    return 0;
}

static int64_t daemon_backoff(int64_t cur)
{
    int64_t next = cur == 0 ? DAEMON_BACKOFF_MIN_MS : cur * 2;
    unsigned char r = 0;

    if (next > DAEMON_BACKOFF_MAX_MS)
        next = DAEMON_BACKOFF_MAX_MS;
    if (crypto_random(&r, 1) != HO_OK)
        r = 128;
    return next / 2 + (next / 2) * r / 255; /* "equal jitter" */
}

/*
 * One package sync with the server. A failure to get the assignment list is
 * logged at warning when *failing was 0 (then at debug until it works again);
 * the installed packages keep running either way.
 */
static void daemon_sync(struct agent *ag, struct httpc *hc, int *failing)
{
    struct ho_error err;
    char token[256];
    enum ho_code rc;

    identity_token(ag, token, sizeof(token));
    ho_error_clear(&err);
    rc = pkgsync_sync(ag->sync, hc, ag->cfg.server, token, &err);
    crypto_wipe(token, sizeof(token));
    if (rc == HO_OK && *failing)
        log_info("packages: sync works again");
    else if (rc == HO_ENOENT && !*failing)
        log_info("packages: %s; running local packages only", err.msg);
    else if (rc != HO_OK && !*failing)
        log_warnx("packages: sync failed: %s; installed packages keep running", err.msg);
    else if (rc != HO_OK)
        log_debug("packages: sync failed: %s", err.msg);
    *failing = rc != HO_OK;
}

/* One round of the sender: identity, package sync and heartbeat when due, flush. */
static int64_t daemon_send_round(struct daemon *d, struct httpc *hc, int64_t *backoff,
                                 int64_t *next_hb, int64_t *next_sync)
{
    struct ho_error err;
    size_t sent = 0;
    unsigned long gen;
    enum ho_code rc;

    ho_error_clear(&err);
    if (daemon_ensure_identity(d->ag, hc) != 0) {
        *backoff = daemon_backoff(*backoff);
        return *backoff;
    }
    if (d->ag->sync != NULL && clock_mono_ms() >= *next_sync) {
        gen = pkgsync_generation(d->ag->sync);
        daemon_sync(d->ag, hc, &d->sync_failing);
        if (pkgsync_generation(d->ag->sync) != gen) { /* a new set for the scheduler */
            pthread_mutex_lock(&d->lock);
            pthread_cond_signal(&d->sched);
            pthread_mutex_unlock(&d->lock);
        }
        *next_sync = clock_mono_ms() + d->ag->cfg.package_sync_interval * 1000;
    }
    /* what runs or a package error changed: tell the server now */
    if (d->ag->sync != NULL && pkgsync_take_changed(d->ag->sync))
        *next_hb = 0;
    if (clock_mono_ms() >= *next_hb) {
        if (sender_heartbeat(d->ag, hc, &err) != HO_OK)
            log_debug("heartbeat: %s", err.msg);
        *next_hb = clock_mono_ms() + d->ag->cfg.heartbeat_interval * 1000;
    }
    if (clock_mono_ms() >= d->next_rescan) {
        /* a manual "healops-agent run" may have left a run in the folder */
        if (spool_rescan(d->ag->spool, &err) != HO_OK)
            log_warnx("spool: %s", err.msg);
        d->next_rescan = clock_mono_ms() + DAEMON_RESCAN_MS;
    }
    rc = sender_flush(d->ag, hc, 50, &sent, &err);
    if (sent > 0)
        log_debug("sender: %zu runs acknowledged, %zu left", sent, spool_depth(d->ag->spool));
    if (rc == HO_OK) {
        rc = sender_flush_metrics(d->ag, hc, 200, &sent, &err);
        if (sent > 0)
            log_debug("sender: %zu metric batches acknowledged, %zu left", sent,
                      spool_depth(d->ag->spool));
    }
    if (rc == HO_OK) {
        if (*backoff != 0)
            log_info("sender: server reachable again; spool holds %zu", spool_depth(d->ag->spool));
        *backoff = 0;
        /* runs leave within the second: no fsync each (spool.c) */
        spool_sync_each(d->ag->spool, 0);
        return spool_depth(d->ag->spool) > 0 ? 0 : 5000;
    }
    if (*backoff == 0)
        log_warnx("sender: %s; keeping items in the spool (%zu) and retrying", err.msg,
                  spool_depth(d->ag->spool));
    /* they wait: make them durable against a power loss too, and the next ones at once */
    spool_sync_each(d->ag->spool, 1);
    ho_error_clear(&err);
    if (spool_sync(d->ag->spool, &err) != HO_OK)
        log_warnx("%s", err.msg);
    *backoff = daemon_backoff(*backoff);
    return *backoff;
}

static void *daemon_sender(void *arg)
{
    struct daemon *d = arg;
    struct httpc *hc = NULL;
    int64_t backoff = 0, next_hb = 0, next_sync = 0, wait_ms;

    if (sender_client(d->ag, &hc) != HO_OK) {
        log_error("sender: cannot make an HTTP client");
        return NULL;
    }
    pthread_mutex_lock(&d->lock);
    while (!d->stop) {
        wait_ms = d->first_spooled_ms + DAEMON_SEND_DELAY_MS - clock_mono_ms();
        if (backoff == 0 && d->spooled > 0 && !d->urgent && wait_ms > 0) {
            daemon_sleep_until(d, &d->sendable, wait_ms); /* more may come to share the POST */
            continue;
        }
        d->spooled = 0;
        d->urgent = 0;
        pthread_mutex_unlock(&d->lock);
        wait_ms = daemon_send_round(d, hc, &backoff, &next_hb, &next_sync);
        if (d->ag->sync != NULL && backoff == 0 && wait_ms > next_sync - clock_mono_ms())
            wait_ms = next_sync - clock_mono_ms();
        pthread_mutex_lock(&d->lock);
        if (d->stop)
            break;
        if (wait_ms > 0 && (d->spooled == 0 || backoff != 0))
            daemon_sleep_until(d, &d->sendable, wait_ms);
    }
    pthread_mutex_unlock(&d->lock);
    httpc_free(hc);
    return NULL;
}

static int64_t daemon_splay(struct daemon *d, int interval_s)
{
    uint32_t r = 0;
    int64_t max = d->ag->cfg.splay * 1000;

    if (max > (int64_t)interval_s * 1000)
        max = (int64_t)interval_s * 1000;
    if (max <= 0 || crypto_random(&r, sizeof(r)) != HO_OK)
        return 0;
    return (int64_t)(r % (uint32_t)max);
}

static struct job *daemon_add_job(struct daemon *d, enum job_kind kind,
                                  const struct manifest *pkg, int interval_s, int64_t now)
{
    struct job *j = xcalloc(1, sizeof(*j));

    d->jobs = xrealloc(d->jobs, (d->njobs + 1) * sizeof(*d->jobs));
    d->jobs[d->njobs++] = j;
    j->kind = kind;
    j->pkg = pkg;
    j->interval_s = interval_s;
    j->next_ms = now + daemon_splay(d, interval_s);
    return j;
}

/* Adds the check and stats jobs of one package. */
static void daemon_add_package(struct daemon *d, const struct manifest *pkg, int64_t now)
{
    struct job *j;
    size_t k;
    char *key;

    for (k = 0; k < pkg->nchecks; k++) {
        j = daemon_add_job(d, JOB_CHECK, pkg, pkg->checks[k].interval_s, now);
        j->check = &pkg->checks[k];
        key = xasprintf("%s/%s", pkg->name, j->check->name);
        guard_store_get(d->guards, key, &j->guard);
        free(key);
    }
    for (k = 0; k < pkg->nstats; k++) {
        j = daemon_add_job(d, JOB_STAT, pkg, pkg->stats[k].interval_s, now);
        j->stat = &pkg->stats[k];
    }
}

/* Recounts the jobs by kind and tells pkgsync what runs (for the heartbeat). */
static void daemon_jobs_changed(struct daemon *d)
{
    const struct manifest **run;
    size_t i, n = 0;

    d->nchecks = d->nstats = 0;
    for (i = 0; i < d->njobs; i++) {
        d->nchecks += d->jobs[i]->kind == JOB_CHECK;
        d->nstats += d->jobs[i]->kind == JOB_STAT;
    }
    if (d->ag->sync == NULL)
        return;
    run = xcalloc(d->ag->npackages + d->nsynced + 1, sizeof(*run));
    for (i = 0; i < d->ag->npackages; i++)
        run[n++] = &d->ag->packages[i];
    for (i = 0; i < d->nsynced; i++)
        run[n++] = d->synced[i];
    pkgsync_set_running(d->ag->sync, run, n);
    free(run);
}

/* Makes the queue ring as large as the job list, keeping what is queued, in order. */
static void daemon_requeue(struct daemon *d)
{
    size_t cap = d->njobs > 0 ? d->njobs : 1, i;
    struct job **q = xcalloc(cap, sizeof(*q));

    for (i = 0; i < d->qlen; i++)
        q[i] = d->queue[(d->qhead + i) % d->qcap];
    free(d->queue);
    d->queue = q;
    d->qcap = cap;
    d->qhead = 0;
}

static void daemon_build_jobs(struct daemon *d)
{
    struct agent *ag = d->ag;
    int64_t now = clock_mono_ms();
    struct job *j;
    size_t i;

    for (i = 0; i < ag->npackages; i++)
        daemon_add_package(d, &ag->packages[i], now);
    for (i = 0; i < d->nsynced; i++)
        daemon_add_package(d, d->synced[i], now);
    if (d->host != NULL) {
        j = daemon_add_job(d, JOB_HOST, NULL, (int)ag->cfg.host_stats_interval, now);
        /* rates need a base at least a second old */
        if (j->next_ms < d->host_base_ms + DAEMON_HOST_BASE_MS)
            j->next_ms = d->host_base_ms + DAEMON_HOST_BASE_MS;
    }
    daemon_requeue(d);
    daemon_jobs_changed(d);
}

/* 1 when the two are the same version of the same package in the same folder. */
static int daemon_same_package(const struct manifest *a, const struct manifest *b)
{
    return strcmp(a->name, b->name) == 0 && strcmp(a->version, b->version) == 0 &&
           strcmp(a->dir, b->dir) == 0;
}

/* Index in set[0..n) of the package the same as m, or n. */
static size_t daemon_find_package(struct manifest *const *set, size_t n, const struct manifest *m)
{
    size_t i;

    for (i = 0; i < n && !daemon_same_package(set[i], m); i++)
        ;
    return i;
}

/* Freezes the jobs of synced packages that the pending set drops or replaces. */
static void daemon_freeze(struct daemon *d)
{
    size_t i;
    struct job *j;

    for (i = 0; i < d->njobs; i++) {
        j = d->jobs[i];
        if (j->pkg != NULL && daemon_find_package(d->synced, d->nsynced, j->pkg) < d->nsynced &&
            daemon_find_package(d->pending, d->npending, j->pkg) == d->npending)
            j->frozen = 1;
    }
}

/*
 * Replaces the synced set by the pending one once no frozen job is queued or
 * running: frozen jobs and the manifests only they used are freed, unchanged
 * packages keep their manifest and jobs, new ones get jobs. Holds d->lock.
 */
static void daemon_swap(struct daemon *d)
{
    struct manifest **next;
    size_t i, k, n = 0, changed = 0;
    int64_t now = clock_mono_ms();

    for (i = 0; i < d->njobs; i++) {
        if (d->jobs[i]->frozen && d->jobs[i]->running)
            return;
    }
    next = xcalloc(d->npending + 1, sizeof(*next));
    for (i = 0, k = 0; i < d->njobs; i++) {
        if (d->jobs[i]->frozen) {
            cycle_guard_cleanup(&d->jobs[i]->guard);
            free(d->jobs[i]);
        } else {
            d->jobs[k++] = d->jobs[i];
        }
    }
    d->njobs = k;
    for (i = 0; i < d->npending; i++) {
        k = daemon_find_package(d->synced, d->nsynced, d->pending[i]);
        if (k < d->nsynced) {
            next[n++] = d->synced[k]; /* unchanged: its jobs stay */
            d->synced[k] = NULL;
            manifest_cleanup(d->pending[i]);
            free(d->pending[i]);
            continue;
        }
        next[n++] = d->pending[i];
        daemon_add_package(d, d->pending[i], now);
        changed++;
        log_info("package %s %s: %zu checks and %zu stats from %s", d->pending[i]->name,
                 d->pending[i]->version, d->pending[i]->nchecks, d->pending[i]->nstats,
                 d->pending[i]->dir);
    }
    for (i = 0; i < d->nsynced; i++) {
        if (d->synced[i] == NULL)
            continue;
        log_info("package %s %s: stopped", d->synced[i]->name, d->synced[i]->version);
        manifest_cleanup(d->synced[i]);
        free(d->synced[i]);
        changed++;
    }
    free(d->synced);
    free(d->pending);
    d->synced = next;
    d->nsynced = n;
    d->pending = NULL;
    d->npending = 0;
    d->gen = d->pending_gen;
    daemon_requeue(d);
    daemon_jobs_changed(d);
    if (changed > 0)
        log_info("packages: %zu checks and %zu stats from %zu packages now", d->nchecks,
                 d->nstats, d->ag->npackages + d->nsynced);
}

/*
 * Between scheduler ticks: picks up a new package generation (loading it with
 * d->lock released, since that reads files) and swaps it in when it can.
 * Holds d->lock.
 */
static void daemon_packages(struct daemon *d)
{
    struct manifest **set = NULL;
    unsigned long gen;
    size_t n = 0;

    if (d->ag->sync == NULL)
        return;
    if (d->pending == NULL) {
        if (pkgsync_generation(d->ag->sync) == d->gen)
            return;
        pthread_mutex_unlock(&d->lock);
        gen = pkgsync_generation(d->ag->sync);
        pkgsync_load(d->ag->sync, d->ag->packages, d->ag->npackages, &set, &n);
        pthread_mutex_lock(&d->lock);
        d->pending = set;
        d->npending = n;
        d->pending_gen = gen;
        daemon_freeze(d);
    }
    daemon_swap(d);
}

/* Queues due jobs; returns ms until the next one is due (bounded). */
static int64_t daemon_schedule(struct daemon *d)
{
    int64_t now = clock_mono_ms(), wait = 1000;
    size_t i;

    for (i = 0; i < d->njobs; i++) {
        struct job *j = d->jobs[i];
        if (j->running || j->frozen)
            continue;
        if (j->next_ms <= now) {
            j->running = 1;
            d->queue[(d->qhead + d->qlen) % d->qcap] = j;
            d->qlen++;
            pthread_cond_signal(&d->work);
        } else if (j->next_ms - now < wait) {
            wait = j->next_ms - now;
        }
    }
    return wait;
}

static void daemon_free(struct daemon *d)
{
    size_t i;

    for (i = 0; i < d->njobs; i++) {
        cycle_guard_cleanup(&d->jobs[i]->guard);
        free(d->jobs[i]);
    }
    free(d->jobs);
    free(d->queue);
    pkgsync_manifests_free(d->synced, d->nsynced);
    if (d->pending != NULL)
        pkgsync_manifests_free(d->pending, d->npending);
    host_stats_free(d->host);
    guard_store_close(d->guards);
    pthread_mutex_destroy(&d->lock);
    pthread_cond_destroy(&d->work);
    pthread_cond_destroy(&d->sendable);
    pthread_cond_destroy(&d->sched);
}

static void daemon_init(struct daemon *d, struct agent *ag)
{
    pthread_condattr_t ca;
    char *path;

    memset(d, 0, sizeof(*d));
    d->ag = ag;
    pthread_mutex_init(&d->lock, NULL);
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&d->work, &ca);
    pthread_cond_init(&d->sendable, &ca);
    pthread_cond_init(&d->sched, &ca);
    pthread_condattr_destroy(&ca);
    path = xasprintf("%s/guard.json", ag->cfg.state_dir);
    if (guard_store_open(path, &d->guards) != HO_OK)
        fatalx("guard: cannot open %s", path);
    free(path);
    if (ag->cfg.host_stats) {
        d->host = host_stats_new("/proc");
        d->host_base_ms = clock_mono_ms();
        host_stats_sample(d->host, d->host_base_ms);
    }
    if (ag->sync != NULL) {
        /* what is installed runs at once, also while the server is away */
        d->gen = pkgsync_generation(ag->sync);
        pkgsync_load(ag->sync, ag->packages, ag->npackages, &d->synced, &d->nsynced);
    }
    daemon_build_jobs(d);
}

/* SIGINT and SIGTERM, taken by sigwait in the signal thread. */
static void daemon_stop_signals(sigset_t *set)
{
    sigemptyset(set);
    sigaddset(set, SIGINT);
    sigaddset(set, SIGTERM);
}

/*
 * The handler stays as a fallback for a thread that was started before the signals
 * were blocked (the scheduler then notices within DAEMON_SCHED_MAX_MS); blocked in
 * every thread made after, the signals go to the signal thread, which wakes the
 * scheduler at once.
 */
static void daemon_signals(void)
{
    struct sigaction sa;
    sigset_t set;

    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = daemon_on_signal;
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    daemon_stop_signals(&set);
    pthread_sigmask(SIG_BLOCK, &set, NULL);
}

static void *daemon_signal_thread(void *arg)
{
    struct daemon *d = arg;
    sigset_t set;
    int sig = 0;

    daemon_stop_signals(&set);
    while (sigwait(&set, &sig) != 0)
        ;
    log_debug("signal %d", sig);
    pthread_mutex_lock(&d->lock);
    d->signalled = 1;
    pthread_cond_signal(&d->sched);
    pthread_mutex_unlock(&d->lock);
    return NULL;
}

int daemon_main(struct agent *ag)
{
    struct daemon d;
    pthread_t *workers, sender, sigthread;
    long long i, nw = ag->cfg.workers;
    int64_t wait;
    int via_thread;

    daemon_init(&d, ag);
    daemon_signals();
    workers = xcalloc((size_t)nw, sizeof(*workers));
    for (i = 0; i < nw; i++)
        pthread_create(&workers[i], NULL, daemon_worker, &d);
    pthread_create(&sender, NULL, daemon_sender, &d);
    pthread_create(&sigthread, NULL, daemon_signal_thread, &d);
    log_info("agent %s running %zu checks and %zu stats from %zu packages%s", ag->cfg.name,
             d.nchecks, d.nstats, ag->npackages + d.nsynced,
             d.host != NULL ? ", and host stats" : "");
    pthread_mutex_lock(&d.lock);
    while (!d.signalled && !daemon_signalled) {
        daemon_packages(&d);
        wait = daemon_schedule(&d);
        if (wait > DAEMON_SCHED_MAX_MS)
            wait = DAEMON_SCHED_MAX_MS;
        d.sched_at = clock_mono_ms() + wait;
        daemon_sleep_until(&d, &d.sched, wait);
    }
    d.sched_at = 0;
    via_thread = d.signalled;
    log_info("stopping: running checks and collectors are stopped with their process groups");
    runner_abort_all();
    d.stop = 1;
    pthread_cond_broadcast(&d.work);
    pthread_cond_broadcast(&d.sendable);
    pthread_mutex_unlock(&d.lock);
    for (i = 0; i < nw; i++)
        pthread_join(workers[i], NULL);
    pthread_join(sender, NULL);
    if (!via_thread) /* stopped by the fallback handler: the thread still waits */
        pthread_kill(sigthread, SIGTERM);
    pthread_join(sigthread, NULL);
    free(workers);
    daemon_free(&d);
    log_info("stopped; %zu items in the spool", spool_depth(ag->spool));
    return 0;
}

int daemon_once(struct agent *ag)
{
    struct daemon d;
    struct httpc *hc = NULL;
    struct ho_error err;
    size_t i, sent = 0, batches = 0;
    int64_t wait;
    int ret = 0, online = 0, failing = 0;

    /* packages first: what the server assigns runs in this same pass */
    if (sender_client(ag, &hc) != HO_OK) {
        ret = 1;
    } else if (daemon_ensure_identity(ag, hc) != 0) {
        ret = 1;
    } else {
        online = 1;
        if (ag->sync != NULL)
            daemon_sync(ag, hc, &failing);
    }
    daemon_init(&d, ag);
    for (i = 0; i < d.njobs; i++) {
        wait = d.host_base_ms + DAEMON_HOST_BASE_MS - clock_mono_ms();
        if (d.jobs[i]->kind == JOB_HOST && wait > 0)
            usleep((useconds_t)wait * 1000); /* CPU and network rates need two samples */
        daemon_run_job(&d, d.jobs[i]);
    }
    ho_error_clear(&err);
    if (online) {
        if (sender_heartbeat(ag, hc, &err) != HO_OK)
            log_warnx("heartbeat: %s", err.msg);
        if (sender_flush(ag, hc, SIZE_MAX, &sent, &err) != HO_OK ||
            sender_flush_metrics(ag, hc, SIZE_MAX, &batches, &err) != HO_OK) {
            log_warnx("send: %s; %zu items stay in the spool", err.msg, spool_depth(ag->spool));
            ret = 1;
        }
    }
    log_info("once: %zu checks and %zu stats run, %zu runs and %zu metric batches acknowledged, "
             "%zu in the spool",
             d.nchecks, d.nstats + (d.host != NULL), sent, batches, spool_depth(ag->spool));
    httpc_free(hc);
    daemon_free(&d);
    return ret;
}
