/*
 * Declarations shared by the forward*.c files (and their unit tests), not
 * used elsewhere: the parsed forwarder config, the encoders of each target's
 * format, the Graphite socket sender, and the pure retry decisions.
 */
#ifndef HO_FORWARD_IMPL_H
#define HO_FORWARD_IMPL_H

#include <stddef.h>
#include <stdint.h>

#include "buf.h"
#include "error.h"
#include "forward.h"

struct point;
struct tag;

#define FWD_OPENTSDB_MAX_TAGS 8
#define FWD_MAX_RETRY_AFTER_S 3600 /* a longer Retry-After is not believed */

/* One configured forwarder, immutable once parsed. */
struct fwd_target {
    char name[FORWARD_NAME_MAX];
    enum forward_type type;
    char *url;         /* HTTP request URL: OpenTSDB .../api/put, Influx with precision=ms */
    char *target;      /* shown in status and logs: URL or host:port, no secret */
    char *auth_scheme; /* NULL (none), "Token" or "Basic" */
    char *secret;      /* the token, or base64 of user:password; wiped on free */
    char *host;        /* Graphite */
    int port;
    int plain;         /* Graphite: plain dotted paths instead of tagged series */
    size_t batch_size;
    int max_backoff_s;
};

struct forward_config {
    struct fwd_target *v; /* owned array */
    size_t n;
};

/* ---- encoders: each appends a whole batch to out (HO_ETOOBIG past its cap) ---- */

/*
 * OpenTSDB /api/put body: a JSON array, ms timestamps, names and tags
 * sanitized to [A-Za-z0-9-_./], at most 8 tags per point (the first ones, so
 * package tags go first); *tags_dropped counts the tags left out.
 */
enum ho_code fwd_opentsdb_encode(const struct point *p, size_t n, struct buf *out,
                                 size_t *tags_dropped) HO_WUR;
/* Copies s into out (size outsz, truncating) with every byte outside [A-Za-z0-9-_./] as '_'. */
void fwd_opentsdb_sanitize(const char *s, char *out, size_t outsz);

/* InfluxDB line protocol: one line per point, tags sorted by key, field value=float, ms. */
enum ho_code fwd_influx_encode(const struct point *p, size_t n, struct buf *out) HO_WUR;

enum influx_field_type { INFLUX_FLOAT = 0, INFLUX_INT, INFLUX_BOOL, INFLUX_STRING };

struct influx_field {
    const char *key;
    enum influx_field_type type;
    double f;      /* INFLUX_FLOAT */
    int64_t i;     /* INFLUX_INT */
    int b;         /* INFLUX_BOOL */
    const char *s; /* INFLUX_STRING */
};

/*
 * Appends one line "measurement[,tags] fields[ ts]\n" with the escaping of
 * INTEGRATIONS.md section 2 (tags in the order given; has_ts 0 leaves the time
 * to the server). Backslashes that would escape our own separator are left
 * out, as no line can carry them.
 */
enum ho_code influx_line(struct buf *out, const char *measurement, const struct tag *tags,
                         size_t ntags, const struct influx_field *fields, size_t nfields,
                         int has_ts, int64_t ts) HO_WUR;

/* Graphite plaintext, timestamps in seconds: tagged "name;k=v;... value ts" or plain paths. */
enum ho_code fwd_graphite_encode(const struct point *p, size_t n, int plain,
                                 struct buf *out) HO_WUR;

/*
 * Sends data to host:port over a new TCP connection, half-closes it and waits
 * (within timeout_ms in all) for the peer to close in turn, which it does once
 * it has read everything: a peer that went away shows up as an error here, not
 * as lines silently lost. HO_EIO / HO_ETIMEOUT with err filled on failure.
 */
enum ho_code fwd_graphite_send(const char *host, int port, const char *data, size_t len,
                               int timeout_ms, struct ho_error *err) HO_WUR;

/* Writes v as the shortest decimal text that reads back as v ("31", "91.5", "1e+300"). */
void fwd_format_double(double v, char out[32]);

/* ---- retry decisions (pure) ---- */

enum fwd_verdict {
    FWD_DELIVERED = 0, /* 2xx (or Graphite's peer took it all) */
    FWD_RETRY,         /* network error, timeout, 5xx, 429, 408, 401/403: same batch later */
    FWD_DROP,          /* 400, 404, 422 and other 4xx: bad for good, skip it and count it */
    FWD_SPLIT          /* 413: send the batch in halves (a single point too big is dropped) */
};
const char *fwd_verdict_str(enum fwd_verdict v);

/* The verdict on one attempt: transport is httpc's result, status the HTTP status. */
enum fwd_verdict fwd_classify(enum ho_code transport, long status);

/*
 * Delay before retry number attempt (1 = first retry): 1 s doubling up to
 * max_backoff_s, of which a random part (rnd) takes off up to a half ("equal
 * jitter"); never less than a Retry-After (retry_after_s, -1 = none, believed up
 * to FWD_MAX_RETRY_AFTER_S).
 */
int64_t fwd_backoff_ms(unsigned attempt, int max_backoff_s, long retry_after_s, uint32_t rnd);

#endif
