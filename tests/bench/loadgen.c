/*
 * loadgen: many simulated HealOps agents posting run batches over TLS
 * (DESIGN.md section 5) to measure ingest throughput and latency.
 *
 * Each agent is its own TCP + TLS connection with keep-alive and at most one
 * request outstanding. A few worker threads each drive their share of the
 * connections from one epoll loop, non-blocking. First every agent connects
 * and enrolls (POST /api/v1/agents/enroll), or takes a token from a file, or
 * (--no-enroll, for ref_mhd) uses one fixed token, and fetches its package
 * assignments once as an agent does when it starts; then, for --seconds, each
 * posts batches of realistic runs (bench.c) as fast as the server answers
 * (closed loop) or at a paced total rate (--rate), and like healops-agent with
 * its default settings sends a heartbeat every 30 s and polls
 * GET /agents/self/packages every 60 s with If-None-Match (the server answers
 * 304 while the assignments are unchanged). Every latency is kept; the output
 * is one human block and one machine line: "BENCH <label> runs_per_s=... ...".
 */
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/ssl.h>

#include "bench.h"
#include "bench_net.h"

#define LG_HEAD_ROOM      1024          /* bytes kept before a body for the request head */
#define LG_RESP_MAX       (1024 * 1024) /* largest response we accept */
#define LG_MAX_STATUS     600
#define LG_ETAG_MAX       128           /* longest entity tag we keep */
#define LG_MAX_EVENTS     512

enum lg_state {
    LG_NEW,        /* not connected yet (waits for a connect slot) */
    LG_CONNECTING, /* TCP connect in progress */
    LG_HANDSHAKE,  /* TLS handshake */
    LG_WRITING,    /* sending a request */
    LG_READING,    /* waiting for the response */
    LG_IDLE,       /* connected, waiting for the start or a timer */
    LG_DEAD        /* gave up */
};

enum lg_req { LG_REQ_NONE, LG_REQ_ENROLL, LG_REQ_RUNS, LG_REQ_HEARTBEAT, LG_REQ_POLL };

struct lg_opts {
    const char *url;
    const char *ca_file;
    const char *enroll_token;
    const char *tokens_file;
    const char *save_tokens;
    const char *fixed_token;
    const char *label;
    const char *name_prefix;
    int agents;
    int threads;
    int batch;
    int seconds;
    double rate;          /* runs/s in total; 0 = closed loop */
    int hb_off;
    int hb_s;             /* heartbeat period per agent, seconds */
    int poll_s;           /* GET /agents/self/packages every this many seconds; 0 = never */
    int connect_burst;    /* connections being set up at once, per thread */
    int setup_timeout;    /* seconds */
    int req_timeout;      /* seconds */
    int server_pid;
    int random_ids;
    int fixed_body;       /* every POST /runs of a thread sends the same bytes (ref_mhd) */
};

struct lg_stats {
    struct bench_lat lat;     /* POST /runs, ms */
    struct bench_lat lat_hb;  /* heartbeats, ms */
    struct bench_lat lat_poll; /* package polls, ms */
    long long status[LG_MAX_STATUS];
    long long posts;          /* POST /runs answered 200 */
    long long accepted, duplicates, rejected;
    long long heartbeats, polls, polls_304; /* polls: every answer; polls_304: not modified */
    long long err_connect, err_tls, err_closed, err_parse, err_timeout;
    long long bytes_sent;     /* request bytes written in the window */
    long long body_bytes, bodies; /* POST /runs bodies made, for their mean size */
};

struct lg_worker;

struct lg_conn {
    struct lg_worker *w;
    int idx;                 /* agent number */
    int fd;
    SSL *ssl;
    enum lg_state state;
    enum lg_req req;
    unsigned events;         /* epoll interest now registered, 0 = none */
    char name[64];
    char *token;             /* owned */
    char *out;               /* request buffer; the request starts at out_start */
    int out_owned;           /* 0: out is the worker's shared fixed request */
    size_t out_start, out_end, out_off;
    char *in;                /* response buffer, owned */
    size_t in_len, in_cap;
    int64_t t_sent;          /* when the request started, ns */
    int64_t next_send;       /* paced: when the next batch is due */
    int64_t next_hb;
    int64_t next_poll;
    int64_t due;             /* timer heap key while idle */
    size_t heap_pos;         /* 0 = not in the heap, else index + 1 */
    int check_cursor;
    int64_t last_ms;         /* started_at of the last generated run */
    int enrolled;            /* has a token */
    int synced;              /* fetched its assignments once (or gave up trying) */
    int ready;               /* counted in lg_ready */
    char etag[LG_ETAG_MAX];  /* of the last 200 from /agents/self/packages, "" = none */
    int nruns;               /* runs in the request in flight */
};

struct lg_worker {
    int id;
    pthread_t tid;
    int ep;
    struct lg_opts *o;
    SSL_CTX *ctx;
    struct sockaddr_in sa;
    const char *host;
    struct lg_conn *conns;   /* this worker's share */
    int nconns;
    int next_new;            /* next LG_NEW connection to start */
    int setting_up;          /* connections between LG_NEW and ready */
    struct lg_conn **heap;
    size_t nheap;
    struct bench_rng rng;
    struct lg_stats st;
    int started;             /* saw the go flag */
    char *fixed;             /* --fixed-body: the whole request, head and body */
    size_t fixed_len;
    char *fixed_base;        /* its allocation */
};

static atomic_int lg_ready;  /* agents connected and enrolled */
static atomic_int lg_dead;   /* agents given up */
static atomic_int lg_go;
static atomic_int lg_stop;
static int64_t lg_go_ns;
static volatile sig_atomic_t lg_interrupted;

static void lg_conn_step(struct lg_conn *c);
static void lg_ready_up(struct lg_conn *c);

/* ---- timer heap of idle connections, keyed by due ---- */

static void lg_heap_swap(struct lg_worker *w, size_t a, size_t b)
{
    struct lg_conn *t = w->heap[a];

    w->heap[a] = w->heap[b];
    w->heap[b] = t;
    w->heap[a]->heap_pos = a + 1;
    w->heap[b]->heap_pos = b + 1;
}

static void lg_heap_up(struct lg_worker *w, size_t i)
{
    while (i > 0 && w->heap[(i - 1) / 2]->due > w->heap[i]->due) {
        lg_heap_swap(w, i, (i - 1) / 2);
        i = (i - 1) / 2;
    }
}

static void lg_heap_down(struct lg_worker *w, size_t i)
{
    size_t l, m;

    for (;;) {
        l = 2 * i + 1;
        m = i;
        if (l < w->nheap && w->heap[l]->due < w->heap[m]->due)
            m = l;
        if (l + 1 < w->nheap && w->heap[l + 1]->due < w->heap[m]->due)
            m = l + 1;
        if (m == i)
            return;
        lg_heap_swap(w, i, m);
        i = m;
    }
}

static void lg_heap_remove(struct lg_conn *c)
{
    struct lg_worker *w = c->w;
    size_t i;

    if (c->heap_pos == 0)
        return;
    i = c->heap_pos - 1;
    c->heap_pos = 0;
    w->nheap--;
    if (i == w->nheap)
        return;
    w->heap[i] = w->heap[w->nheap];
    w->heap[i]->heap_pos = i + 1;
    lg_heap_up(w, i);
    lg_heap_down(w, w->heap[i]->heap_pos - 1);
}

static void lg_heap_push(struct lg_conn *c, int64_t due)
{
    struct lg_worker *w = c->w;

    lg_heap_remove(c);
    c->due = due;
    w->heap[w->nheap] = c;
    c->heap_pos = ++w->nheap;
    lg_heap_up(w, w->nheap - 1);
}

/* ---- epoll interest ---- */

static void lg_want(struct lg_conn *c, unsigned events)
{
    struct epoll_event ev;

    if (c->events == events || c->fd < 0)
        return;
    memset(&ev, 0, sizeof(ev));
    ev.events = events;
    ev.data.ptr = c;
    if (c->events == 0)
        epoll_ctl(c->w->ep, EPOLL_CTL_ADD, c->fd, &ev);
    else if (events == 0)
        epoll_ctl(c->w->ep, EPOLL_CTL_DEL, c->fd, NULL);
    else
        epoll_ctl(c->w->ep, EPOLL_CTL_MOD, c->fd, &ev);
    c->events = events;
}

static void lg_close(struct lg_conn *c)
{
    lg_want(c, 0);
    if (c->ssl != NULL)
        SSL_free(c->ssl);
    c->ssl = NULL;
    if (c->fd >= 0)
        close(c->fd);
    c->fd = -1;
    if (c->out_owned)
        free(c->out);
    c->out = NULL;
    c->in_len = 0;
    c->req = LG_REQ_NONE;
}

/* Connects (again); the connection goes through the handshake to ready or to a request. */
static void lg_connect(struct lg_conn *c)
{
    lg_close(c);
    c->fd = bench_connect_nb(&c->w->sa);
    if (c->fd < 0) {
        c->w->st.err_connect++;
        c->state = LG_DEAD;
        return;
    }
    c->state = LG_CONNECTING;
    lg_want(c, EPOLLOUT);
}

static int lg_counting(void)
{
    return atomic_load(&lg_go) && !atomic_load(&lg_stop);
}

/* Something went wrong on the wire: count it, then reconnect (or give up during setup). */
static void lg_fail(struct lg_conn *c, long long *counter)
{
    int was_setup = !c->enrolled || c->state == LG_CONNECTING || c->state == LG_HANDSHAKE;

    if (lg_counting() || !c->enrolled)
        (*counter)++;
    if (atomic_load(&lg_stop)) {
        lg_close(c);
        c->state = LG_DEAD;
        return;
    }
    if (was_setup && !c->enrolled) {
        lg_close(c);
        c->state = LG_DEAD;
        c->w->setting_up--;
        atomic_fetch_add(&lg_dead, 1);
        return;
    }
    lg_connect(c);
}

/* ---- requests ---- */

/* Puts the head in front of a body already at c->out + LG_HEAD_ROOM. */
static void lg_finish_request(struct lg_conn *c, const char *method, const char *path,
                              const char *token, const char *extra, size_t body_len)
{
    char head[LG_HEAD_ROOM];
    size_t hl = bench_http_head_hdr(head, sizeof(head), method, path, c->w->host, token, extra,
                                    body_len);

    if (hl == 0)
        bench_fatal("request head too long");
    memcpy(c->out + LG_HEAD_ROOM - hl, head, hl);
    c->out_start = LG_HEAD_ROOM - hl;
    c->out_off = c->out_start;
    c->out_end = LG_HEAD_ROOM + body_len;
    c->t_sent = bench_now_ns();
    c->state = LG_WRITING;
}

static void lg_req_enroll(struct lg_conn *c)
{
    int n;

    c->out = bench_xmalloc(LG_HEAD_ROOM + 256);
    c->out_owned = 1;
    n = snprintf(c->out + LG_HEAD_ROOM, 256,
                 "{\"name\":\"%s\",\"labels\":{\"role\":\"web\",\"bench\":\"loadgen\"}}", c->name);
    c->req = LG_REQ_ENROLL;
    lg_finish_request(c, "POST", "/api/v1/agents/enroll", c->w->o->enroll_token, NULL,
                      (size_t)n);
}

static void lg_req_runs(struct lg_conn *c)
{
    struct lg_worker *w = c->w;
    size_t cap = (size_t)w->o->batch * BENCH_RUN_JSON_MAX + 64, off = 0, n;
    struct bench_run run;
    int64_t now = bench_wall_ms(), ms;
    int i;

    if (w->fixed != NULL) {
        c->out = w->fixed;
        c->out_owned = 0;
        c->out_start = c->out_off = 0;
        c->out_end = w->fixed_len;
        c->req = LG_REQ_RUNS;
        c->nruns = w->o->batch;
        c->t_sent = bench_now_ns();
        c->state = LG_WRITING;
        return;
    }
    c->out = bench_xmalloc(LG_HEAD_ROOM + cap);
    c->out_owned = 1;
    memcpy(c->out + LG_HEAD_ROOM, "{\"runs\":[", 9);
    off = 9;
    for (i = 0; i < w->o->batch; i++) {
        /* time-ordered within an agent: each run a little after the one before */
        ms = now - w->o->batch + i;
        if (ms <= c->last_ms)
            ms = c->last_ms + 1;
        c->last_ms = ms;
        bench_run_make(&w->rng, c->check_cursor, ms, w->o->random_ids, &run);
        c->check_cursor = (c->check_cursor + 1) % BENCH_CHECKS_PER_AGENT;
        if (i > 0)
            c->out[LG_HEAD_ROOM + off++] = ',';
        n = bench_run_json(&run, c->out + LG_HEAD_ROOM + off, cap - off - 2);
        if (n == 0)
            bench_fatal("generated run too large");
        off += n;
    }
    memcpy(c->out + LG_HEAD_ROOM + off, "]}", 2);
    off += 2;
    w->st.body_bytes += (long long)off;
    w->st.bodies++;
    c->req = LG_REQ_RUNS;
    c->nruns = w->o->batch;
    lg_finish_request(c, "POST", "/api/v1/runs", c->token, NULL, off);
}

static void lg_req_heartbeat(struct lg_conn *c)
{
    int n;

    c->out = bench_xmalloc(LG_HEAD_ROOM + 512);
    c->out_owned = 1;
    n = snprintf(c->out + LG_HEAD_ROOM, 512,
                 "{\"version\":\"0.1.0\",\"packages\":[{\"name\":\"nginx\",\"version\":\"1.4.0\"},"
                 "{\"name\":\"postgres\",\"version\":\"1.4.0\"},{\"name\":\"system\",\"version\":"
                 "\"1.4.0\"},{\"name\":\"app\",\"version\":\"1.4.0\"},{\"name\":\"redis\","
                 "\"version\":\"1.4.0\"}],\"spool_depth\":0,\"dropped\":0}");
    c->req = LG_REQ_HEARTBEAT;
    lg_finish_request(c, "POST", "/api/v1/agents/heartbeat", c->token, NULL, (size_t)n);
}

/* GET /agents/self/packages, conditional on the entity tag of the last full answer. */
static void lg_req_poll(struct lg_conn *c)
{
    char inm[LG_ETAG_MAX + 32];

    c->out = bench_xmalloc(LG_HEAD_ROOM);
    c->out_owned = 1;
    c->req = LG_REQ_POLL;
    snprintf(inm, sizeof(inm), "If-None-Match: %s", c->etag);
    lg_finish_request(c, "GET", "/api/v1/agents/self/packages", c->token,
                      c->etag[0] != '\0' ? inm : NULL, 0);
}

/* Starts the next request if one is due, else parks the connection on the timer heap. */
static void lg_next(struct lg_conn *c)
{
    struct lg_opts *o = c->w->o;
    int64_t now = bench_now_ns(), due;

    c->state = LG_IDLE;
    if (!atomic_load(&lg_go) || atomic_load(&lg_stop)) {
        lg_want(c, 0); /* idle: a level-triggered EPOLLIN would spin */
        return;
    }
    if (!o->hb_off && now >= c->next_hb) {
        c->next_hb += (int64_t)o->hb_s * 1000000000LL;
        lg_req_heartbeat(c);
    } else if (o->poll_s > 0 && now >= c->next_poll) {
        c->next_poll += (int64_t)o->poll_s * 1000000000LL;
        lg_req_poll(c);
    } else if (o->rate <= 0 || now >= c->next_send) {
        if (o->rate > 0) {
            c->next_send += (int64_t)(1e9 * o->agents * o->batch / o->rate);
            if (c->next_send < now - 1000000000LL)
                c->next_send = now; /* behind by over a second: do not burst to catch up */
        }
        lg_req_runs(c);
    } else {
        due = c->next_send;
        if (!o->hb_off && c->next_hb < due)
            due = c->next_hb;
        if (o->poll_s > 0 && c->next_poll < due)
            due = c->next_poll;
        lg_want(c, 0);
        lg_heap_push(c, due);
        return;
    }
    lg_conn_step(c);
}

/* ---- responses ---- */

static void lg_store_token(struct lg_conn *c, const char *body, size_t len)
{
    const char *p = memmem(body, len, "\"token\":\"", 9), *e;

    if (p == NULL)
        return;
    p += 9;
    e = memchr(p, '"', (size_t)(body + len - p));
    if (e == NULL || e - p > 256)
        return;
    free(c->token);
    c->token = bench_xmalloc((size_t)(e - p) + 1);
    memcpy(c->token, p, (size_t)(e - p));
    c->token[e - p] = '\0';
}

/* Keeps the ETag of a full answer to the package poll, for the next If-None-Match. */
static void lg_store_etag(struct lg_conn *c, const char *head, size_t head_len)
{
    size_t vlen = 0;
    const char *v = bench_http_header(head, head_len, "ETag", &vlen);

    if (v == NULL || vlen == 0 || vlen >= sizeof(c->etag)) {
        c->etag[0] = '\0';
        return;
    }
    memcpy(c->etag, v, vlen);
    c->etag[vlen] = '\0';
}

static long long lg_count(const char *s, size_t len, const char *pat)
{
    size_t pl = strlen(pat);
    const char *p = s, *end = s + len;
    long long n = 0;

    while (p < end && (p = memmem(p, (size_t)(end - p), pat, pl)) != NULL) {
        n++;
        p += pl;
    }
    return n;
}

static void lg_on_response(struct lg_conn *c, const struct bench_http_resp *r)
{
    struct lg_stats *st = &c->w->st;
    const char *body = c->in + r->head_len;
    double ms = (double)(bench_now_ns() - c->t_sent) / 1e6;
    int counting = lg_counting();
    long long v;

    if (counting)
        st->status[r->status > 0 && r->status < LG_MAX_STATUS ? r->status : 0]++;
    switch (c->req) {
    case LG_REQ_ENROLL:
        lg_store_token(c, body, r->body_len);
        if (r->status != 201 || c->token == NULL) {
            fprintf(stderr, "loadgen: enroll %s: HTTP %d: %.*s\n", c->name, r->status,
                    (int)(r->body_len < 200 ? r->body_len : 200), body);
            c->state = LG_DEAD;
            c->w->setting_up--;
            atomic_fetch_add(&lg_dead, 1);
            lg_close(c);
            return;
        }
        c->enrolled = 1;
        break;
    case LG_REQ_RUNS:
        if (!counting)
            break;
        bench_lat_add(&st->lat, ms);
        if (r->status == 200) {
            st->posts++;
            v = bench_json_int(body, r->body_len, "accepted");
            st->accepted += v > 0 ? v : 0;
            v = bench_json_int(body, r->body_len, "duplicates");
            st->duplicates += v > 0 ? v : 0;
            st->rejected += lg_count(body, r->body_len, "\"index\":");
        }
        break;
    case LG_REQ_HEARTBEAT:
        if (counting) {
            st->heartbeats++;
            bench_lat_add(&st->lat_hb, ms);
        }
        break;
    case LG_REQ_POLL:
        if (r->status == 200)
            lg_store_etag(c, c->in, r->head_len);
        c->synced = 1;
        if (counting) {
            st->polls++;
            st->polls_304 += r->status == 304;
            bench_lat_add(&st->lat_poll, ms);
        }
        break;
    case LG_REQ_NONE:
        break;
    }
    if (c->out_owned)
        free(c->out);
    c->out = NULL;
    /* drop what was consumed; no pipelining, so nothing should follow */
    c->in_len = 0;
    c->req = LG_REQ_NONE;
    if (r->close) {
        lg_connect(c);
        return;
    }
    if (!c->ready)
        lg_ready_up(c);
    else
        lg_next(c);
}

/* ---- the state machine ---- */

/* Maps an SSL result to epoll interest; returns 0 to wait, -1 on a real error. */
static int lg_ssl_wait(struct lg_conn *c, int ret)
{
    switch (SSL_get_error(c->ssl, ret)) {
    case SSL_ERROR_WANT_READ:
        lg_want(c, EPOLLIN);
        return 0;
    case SSL_ERROR_WANT_WRITE:
        lg_want(c, EPOLLOUT);
        return 0;
    default:
        ERR_clear_error();
        return -1;
    }
}

/*
 * After the handshake, and after each setup answer: enroll, fetch the package
 * assignments once (an agent does at start; it also yields the ETag that makes
 * the measured polls conditional), then count as ready and wait for the start.
 */
static void lg_ready_up(struct lg_conn *c)
{
    if (!c->enrolled && c->w->o->enroll_token != NULL) {
        lg_req_enroll(c);
        lg_conn_step(c);
        return;
    }
    c->enrolled = 1;
    if (!c->synced && c->w->o->poll_s > 0 && !c->ready) {
        lg_req_poll(c);
        lg_conn_step(c);
        return;
    }
    if (!c->ready) {
        c->ready = 1;
        c->w->setting_up--;
        atomic_fetch_add(&lg_ready, 1);
    }
    lg_next(c);
}

static void lg_do_read(struct lg_conn *c)
{
    struct bench_http_resp r;
    int n, p;

    for (;;) {
        /* small at first: 10,000 idle agents should not hold 32 KB each */
        if (c->in_cap - c->in_len < 1024) {
            if (c->in_cap >= LG_RESP_MAX) {
                lg_fail(c, &c->w->st.err_parse);
                return;
            }
            c->in_cap = c->in_cap != 0 ? c->in_cap * 2 : 4096;
            c->in = bench_xrealloc(c->in, c->in_cap + 1);
        }
        n = SSL_read(c->ssl, c->in + c->in_len, (int)(c->in_cap - c->in_len));
        if (n <= 0) {
            if (lg_ssl_wait(c, n) == 0)
                return;
            lg_fail(c, &c->w->st.err_closed);
            return;
        }
        c->in_len += (size_t)n;
        c->in[c->in_len] = '\0';
        p = bench_http_parse(c->in, c->in_len, &r);
        if (p < 0) {
            lg_fail(c, &c->w->st.err_parse);
            return;
        }
        if (p == 1) {
            lg_on_response(c, &r);
            return;
        }
    }
}

static void lg_conn_step(struct lg_conn *c)
{
    int ret, err = 0;
    socklen_t len = sizeof(err);

    switch (c->state) {
    case LG_CONNECTING:
        if (getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &len) != 0 || err != 0) {
            lg_fail(c, &c->w->st.err_connect);
            return;
        }
        c->ssl = bench_tls_new(c->w->ctx, c->fd, &c->w->sa);
        if (c->ssl == NULL) {
            lg_fail(c, &c->w->st.err_tls);
            return;
        }
        c->state = LG_HANDSHAKE;
        /* fall through */
    case LG_HANDSHAKE:
        ret = SSL_do_handshake(c->ssl);
        if (ret != 1) {
            if (lg_ssl_wait(c, ret) != 0)
                lg_fail(c, &c->w->st.err_tls);
            return;
        }
        lg_ready_up(c);
        return;
    case LG_WRITING:
        while (c->out_off < c->out_end) {
            ret = SSL_write(c->ssl, c->out + c->out_off, (int)(c->out_end - c->out_off));
            if (ret <= 0) {
                if (lg_ssl_wait(c, ret) != 0)
                    lg_fail(c, &c->w->st.err_closed);
                return;
            }
            c->out_off += (size_t)ret;
            if (lg_counting())
                c->w->st.bytes_sent += ret;
        }
        c->state = LG_READING;
        lg_want(c, EPOLLIN);
        /* fall through */
    case LG_READING:
        lg_do_read(c);
        return;
    case LG_NEW:
    case LG_IDLE:
    case LG_DEAD:
        return;
    }
}

/* ---- the worker loop ---- */

static void lg_start_more(struct lg_worker *w)
{
    struct lg_conn *c;

    while (w->next_new < w->nconns && w->setting_up < w->o->connect_burst) {
        c = &w->conns[w->next_new++];
        w->setting_up++;
        lg_connect(c);
        if (c->state == LG_DEAD) {
            w->setting_up--;
            atomic_fetch_add(&lg_dead, 1);
        }
    }
}

/* At the start: spread heartbeats (and paced sends) over their period, then go. */
static void lg_kick(struct lg_worker *w)
{
    struct lg_opts *o = w->o;
    int64_t now = bench_now_ns(), per_agent;
    struct lg_conn *c;
    int i;

    per_agent = o->rate > 0 ? (int64_t)(1e9 * o->agents * o->batch / o->rate) : 0;
    for (i = 0; i < w->nconns; i++) {
        c = &w->conns[i];
        c->next_hb = now + (int64_t)bench_rng_below(&w->rng, (uint32_t)o->hb_s * 1000) * 1000000LL;
        c->next_poll = o->poll_s > 0 ? now + (int64_t)bench_rng_below(&w->rng, (uint32_t)o->poll_s * 1000) * 1000000LL : 0;
        c->next_send = per_agent > 0
                           ? now + (int64_t)((double)per_agent * bench_rng_below(&w->rng, 1000000) / 1e6)
                           : now;
        if (c->state == LG_IDLE && c->ready)
            lg_next(c);
    }
}

/* Requests stuck past the timeout: count and reconnect. */
static void lg_check_timeouts(struct lg_worker *w, int64_t now)
{
    int64_t limit = (int64_t)w->o->req_timeout * 1000000000LL;
    struct lg_conn *c;
    int i;

    for (i = 0; i < w->nconns; i++) {
        c = &w->conns[i];
        if ((c->state == LG_WRITING || c->state == LG_READING) && now - c->t_sent > limit)
            lg_fail(c, &w->st.err_timeout);
    }
}

static void *lg_worker_main(void *arg)
{
    struct lg_worker *w = arg;
    struct epoll_event evs[LG_MAX_EVENTS];
    struct lg_conn *c;
    int64_t now, last_scan = bench_now_ns();
    int n, i, timeout;

    while (!atomic_load(&lg_stop) && !lg_interrupted) {
        lg_start_more(w);
        if (!w->started && atomic_load(&lg_go)) {
            w->started = 1;
            lg_kick(w);
        }
        timeout = 20;
        now = bench_now_ns();
        if (w->nheap > 0) {
            int64_t d = (w->heap[0]->due - now) / 1000000;
            timeout = d < 0 ? 0 : (d < timeout ? (int)d : timeout);
        }
        n = epoll_wait(w->ep, evs, LG_MAX_EVENTS, timeout);
        for (i = 0; i < n; i++)
            lg_conn_step(evs[i].data.ptr);
        now = bench_now_ns();
        while (w->nheap > 0 && w->heap[0]->due <= now) {
            c = w->heap[0];
            lg_heap_remove(c);
            lg_next(c);
        }
        if (now - last_scan > 1000000000LL) {
            last_scan = now;
            lg_check_timeouts(w, now);
        }
    }
    for (i = 0; i < w->nconns; i++)
        lg_close(&w->conns[i]);
    return NULL;
}

/* ---- setup and report ---- */

static void lg_usage(void)
{
    fprintf(stderr,
            "usage: loadgen --url https://127.0.0.1:PORT --ca-file CA.pem\n"
            "               (--enroll-token T | --tokens FILE | --no-enroll --token T) [options]\n"
            "  --agents N          simulated agents, one TLS connection each (default 200)\n"
            "  --threads N         epoll worker threads (default 2)\n"
            "  --batch N           runs per POST /api/v1/runs (default 100)\n"
            "  --seconds N         measured duration (default 10)\n"
            "  --rate R            total runs/s, paced (default 0: closed loop, as fast as\n"
            "                      the server acknowledges)\n"
            "  --no-heartbeats     no POST /agents/heartbeat\n"
            "  --heartbeat-seconds N  POST /agents/heartbeat every N s per agent (default 30)\n"
            "  --poll-seconds N    GET /agents/self/packages with If-None-Match every N s per\n"
            "                      agent, and once at setup (default 60; 0: never)\n"
            "  --save-tokens FILE  write \"name token\" of every enrolled agent\n"
            "  --name-prefix P     agent names P-NNNNN (default bench-PID)\n"
            "  --label L           name in the BENCH line (default ingest)\n"
            "  --pid PID           measure this server process's CPU over the window\n"
            "  --random-ids        random UUIDv4 run ids instead of time-ordered UUIDv7\n"
            "  --fixed-body        send one pre-made batch over and over (with --no-enroll, for\n"
            "                      ref_mhd: keeps the generator's CPU out of the measure)\n"
            "  --connect-burst N   connections set up at once per thread (default 256)\n"
            "  --setup-timeout S   most seconds to connect and enroll everyone (default 120)\n");
    exit(2);
}

static void lg_parse(int argc, char **argv, struct lg_opts *o)
{
    int i, no_enroll = 0;
    const char *a, *v;

    memset(o, 0, sizeof(*o));
    o->agents = 200;
    o->threads = 2;
    o->batch = 100;
    o->seconds = 10;
    o->connect_burst = 256;
    o->setup_timeout = 120;
    o->req_timeout = 60;
    o->hb_s = 30;
    o->poll_s = 60;
    o->label = "ingest";
    for (i = 1; i < argc; i++) {
        a = argv[i];
        v = i + 1 < argc ? argv[i + 1] : NULL;
        if (strcmp(a, "--no-enroll") == 0) {
            no_enroll = 1;
            continue;
        } else if (strcmp(a, "--no-heartbeats") == 0) {
            o->hb_off = 1;
            continue;
        } else if (strcmp(a, "--random-ids") == 0) {
            o->random_ids = 1;
            continue;
        } else if (strcmp(a, "--fixed-body") == 0) {
            o->fixed_body = 1;
            continue;
        } else if (strcmp(a, "--help") == 0 || v == NULL) {
            lg_usage();
        }
        i++;
        if (strcmp(a, "--url") == 0)
            o->url = v;
        else if (strcmp(a, "--ca-file") == 0)
            o->ca_file = v;
        else if (strcmp(a, "--enroll-token") == 0)
            o->enroll_token = v;
        else if (strcmp(a, "--tokens") == 0)
            o->tokens_file = v;
        else if (strcmp(a, "--token") == 0)
            o->fixed_token = v;
        else if (strcmp(a, "--save-tokens") == 0)
            o->save_tokens = v;
        else if (strcmp(a, "--label") == 0)
            o->label = v;
        else if (strcmp(a, "--name-prefix") == 0)
            o->name_prefix = v;
        else if (strcmp(a, "--agents") == 0)
            o->agents = (int)bench_arg_ll(a, v, 1, 1000000);
        else if (strcmp(a, "--threads") == 0)
            o->threads = (int)bench_arg_ll(a, v, 1, 64);
        else if (strcmp(a, "--batch") == 0)
            o->batch = (int)bench_arg_ll(a, v, 1, 1000);
        else if (strcmp(a, "--seconds") == 0)
            o->seconds = (int)bench_arg_ll(a, v, 1, 86400);
        else if (strcmp(a, "--rate") == 0)
            o->rate = (double)bench_arg_ll(a, v, 0, 100000000);
        else if (strcmp(a, "--heartbeat-seconds") == 0)
            o->hb_s = (int)bench_arg_ll(a, v, 1, 86400);
        else if (strcmp(a, "--poll-seconds") == 0)
            o->poll_s = (int)bench_arg_ll(a, v, 0, 86400);
        else if (strcmp(a, "--pid") == 0)
            o->server_pid = (int)bench_arg_ll(a, v, 1, 1 << 30);
        else if (strcmp(a, "--connect-burst") == 0)
            o->connect_burst = (int)bench_arg_ll(a, v, 1, 100000);
        else if (strcmp(a, "--setup-timeout") == 0)
            o->setup_timeout = (int)bench_arg_ll(a, v, 1, 3600);
        else
            lg_usage();
    }
    if (o->url == NULL || o->ca_file == NULL)
        lg_usage();
    if ((o->enroll_token != NULL) + (o->tokens_file != NULL) + no_enroll != 1 ||
        (no_enroll && o->fixed_token == NULL))
        lg_usage();
    if (o->fixed_body && !no_enroll)
        bench_fatal("--fixed-body needs --no-enroll (a server that stores runs would see duplicates)");
    if (o->threads > o->agents)
        o->threads = o->agents;
}

/* Reads up to max "[name] token" lines; returns how many. */
static int lg_read_tokens(const char *path, char ***names, char ***tokens, int max)
{
    FILE *fp = fopen(path, "re");
    char line[1024], *sp, *nl;
    int n = 0;

    if (fp == NULL)
        bench_fatal("cannot open %s: %s", path, strerror(errno));
    *names = bench_xmalloc(sizeof(char *) * (size_t)max);
    *tokens = bench_xmalloc(sizeof(char *) * (size_t)max);
    while (n < max && fgets(line, sizeof(line), fp) != NULL) {
        nl = strchr(line, '\n');
        if (nl != NULL)
            *nl = '\0';
        if (line[0] == '\0')
            continue;
        sp = strchr(line, ' ');
        (*names)[n] = bench_xstrdup(sp != NULL ? line : "");
        if (sp != NULL) {
            (*names)[n][sp - line] = '\0';
            (*tokens)[n] = bench_xstrdup(sp + 1);
        } else {
            (*tokens)[n] = bench_xstrdup(line);
        }
        n++;
    }
    fclose(fp);
    return n;
}

static void lg_on_signal(int sig)
{
    (void)sig;
    lg_interrupted = 1;
}

static void lg_merge(struct lg_stats *t, struct lg_stats *s)
{
    int i;

    bench_lat_merge(&t->lat, &s->lat);
    bench_lat_merge(&t->lat_hb, &s->lat_hb);
    bench_lat_merge(&t->lat_poll, &s->lat_poll);
    for (i = 0; i < LG_MAX_STATUS; i++)
        t->status[i] += s->status[i];
    t->posts += s->posts;
    t->accepted += s->accepted;
    t->duplicates += s->duplicates;
    t->rejected += s->rejected;
    t->heartbeats += s->heartbeats;
    t->polls += s->polls;
    t->polls_304 += s->polls_304;
    t->err_connect += s->err_connect;
    t->err_tls += s->err_tls;
    t->err_closed += s->err_closed;
    t->err_parse += s->err_parse;
    t->err_timeout += s->err_timeout;
    t->bytes_sent += s->bytes_sent;
    t->body_bytes += s->body_bytes;
    t->bodies += s->bodies;
}

struct lg_window {
    double setup_s, secs;
    int ready;
    long long cpu_ticks;      /* server CPU over the window, -1 unknown */
    long long hwm_kb, rss_kb; /* server memory at the end */
    double client_cpu_s;      /* this process over the window */
};

static double lg_self_cpu(void)
{
    struct rusage ru;

    getrusage(RUSAGE_SELF, &ru);
    return (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec / 1e6 +
           (double)ru.ru_stime.tv_sec + (double)ru.ru_stime.tv_usec / 1e6;
}

/* An HTTP status that is a failure: not 2xx, and not the 304 of a conditional package poll. */
static int lg_status_bad(int status)
{
    return (status < 200 || status >= 300) && status != 304;
}

static long long lg_errors(const struct lg_stats *t)
{
    long long e = t->err_connect + t->err_tls + t->err_closed + t->err_parse + t->err_timeout;
    int i;

    for (i = 0; i < LG_MAX_STATUS; i++) {
        if (lg_status_bad(i))
            e += t->status[i];
    }
    return e;
}

static int lg_err_item(const char *what, long long n)
{
    if (n == 0)
        return 0;
    printf(" %s:%lld", what, n);
    return 1;
}

static void lg_report(const struct lg_opts *o, struct lg_stats *t, const struct lg_window *wd)
{
    double rps = (double)t->accepted / wd->secs, pps = (double)t->posts / wd->secs;
    double p50 = bench_lat_pct(&t->lat, 50), p90 = bench_lat_pct(&t->lat, 90);
    double p99 = bench_lat_pct(&t->lat, 99), p999 = bench_lat_pct(&t->lat, 99.9);
    double mx = bench_lat_max(&t->lat), us_per_run = -1, cpu_pct = -1;
    long hz = sysconf(_SC_CLK_TCK);
    int i, any = 0;

    if (wd->cpu_ticks >= 0 && hz > 0) {
        cpu_pct = 100.0 * (double)wd->cpu_ticks / (double)hz / wd->secs;
        if (t->accepted > 0)
            us_per_run = 1e6 * (double)wd->cpu_ticks / (double)hz / (double)t->accepted;
    }
    printf("loadgen %s: %d agents (%d ready, setup %.2f s), %d threads, batches of %d runs, "
           "%.1f s %s\n",
           o->label, o->agents, wd->ready, wd->setup_s, o->threads, o->batch, wd->secs,
           o->rate > 0 ? "paced" : "closed loop");
    if (o->rate > 0)
        printf("  target rate: %.0f runs/s\n", o->rate);
    printf("  POST /runs: %lld answered 200 (%.1f/s), %lld runs accepted, %lld duplicates, "
           "%lld rejected\n",
           t->posts, pps, t->accepted, t->duplicates, t->rejected);
    if (t->bodies > 0)
        printf("  bodies: %.1f KB per batch, %.0f bytes per run; %.1f MB/s sent\n",
               (double)t->body_bytes / 1024.0 / (double)t->bodies,
               (double)t->body_bytes / (double)t->bodies / o->batch,
               (double)t->bytes_sent / 1e6 / wd->secs);
    printf("  runs/s sustained: %.0f\n", rps);
    printf("  latency ms (n=%zu): p50 %.2f  p90 %.2f  p99 %.2f  p99.9 %.2f  max %.2f\n", t->lat.n,
           p50, p90, p99, p999, mx);
    if (t->heartbeats > 0)
        printf("  heartbeats: %lld, p50 %.2f ms, p99 %.2f ms\n", t->heartbeats,
               bench_lat_pct(&t->lat_hb, 50), bench_lat_pct(&t->lat_hb, 99));
    if (t->polls > 0)
        printf("  package polls: %lld, %lld answered 304 not modified, p50 %.2f ms, p99 %.2f ms\n",
               t->polls, t->polls_304, bench_lat_pct(&t->lat_poll, 50),
               bench_lat_pct(&t->lat_poll, 99));
    printf("  statuses:");
    for (i = 0; i < LG_MAX_STATUS; i++) {
        if (t->status[i] > 0)
            printf(" %d:%lld", i, t->status[i]);
    }
    printf("\n  errors:");
    any |= lg_err_item("connect", t->err_connect);
    any |= lg_err_item("tls", t->err_tls);
    any |= lg_err_item("closed", t->err_closed);
    any |= lg_err_item("bad-response", t->err_parse);
    any |= lg_err_item("timeout", t->err_timeout);
    for (i = 0; i < LG_MAX_STATUS; i++) {
        if (lg_status_bad(i) && t->status[i] > 0) {
            printf(" http-%d:%lld", i, t->status[i]);
            any = 1;
        }
    }
    printf("%s\n", any ? "" : " none");
    if (cpu_pct >= 0)
        printf("  server: CPU %.1f %% of one core, %.1f us CPU per stored run, VmHWM %lld KiB, "
               "VmRSS %lld KiB\n",
               cpu_pct, us_per_run, wd->hwm_kb, wd->rss_kb);
    printf("  loadgen itself: %.1f %% of one core\n", 100.0 * wd->client_cpu_s / wd->secs);
    printf("BENCH %s runs_per_s=%.0f posts_per_s=%.1f p50_ms=%.2f p99_ms=%.2f p999_ms=%.2f "
           "max_ms=%.2f agents=%d ready=%d errors=%lld cpu_us_per_run=%.1f server_cpu_pct=%.1f "
           "hwm_kb=%lld client_cpu_pct=%.1f heartbeats=%lld polls=%lld polls_304=%lld "
           "poll_p99_ms=%.2f\n",
           o->label, rps, pps, p50, p99, p999, mx, o->agents, wd->ready, lg_errors(t), us_per_run,
           cpu_pct, wd->hwm_kb, 100.0 * wd->client_cpu_s / wd->secs, t->heartbeats, t->polls,
           t->polls_304, bench_lat_pct(&t->lat_poll, 99));
}

static void lg_save_tokens(const char *path, struct lg_worker *ws, int nw)
{
    FILE *fp = fopen(path, "we");
    int i, j;

    if (fp == NULL) {
        fprintf(stderr, "loadgen: cannot write %s: %s\n", path, strerror(errno));
        return;
    }
    for (i = 0; i < nw; i++) {
        for (j = 0; j < ws[i].nconns; j++) {
            if (ws[i].conns[j].token != NULL)
                fprintf(fp, "%s %s\n", ws[i].conns[j].name, ws[i].conns[j].token);
        }
    }
    fclose(fp);
}

/* --fixed-body: one batch request made once per worker, sent by all its connections. */
static void lg_make_fixed(struct lg_worker *w)
{
    struct lg_conn tmp;

    memset(&tmp, 0, sizeof(tmp));
    tmp.w = w;
    tmp.token = bench_xstrdup(w->o->fixed_token);
    lg_req_runs(&tmp);
    free(tmp.token);
    w->fixed = tmp.out + tmp.out_start;
    w->fixed_len = tmp.out_end - tmp.out_start;
    w->fixed_base = tmp.out;
}

/* Assigns agents to workers round-robin and fills names and tokens. */
static struct lg_worker *lg_workers(struct lg_opts *o, SSL_CTX *ctx, struct sockaddr_in *sa,
                                    const char *host)
{
    struct lg_worker *ws = calloc((size_t)o->threads, sizeof(*ws));
    char **names = NULL, **tokens = NULL, prefix[40];
    int i, k, have = 0;
    struct lg_conn *c;

    if (o->tokens_file != NULL) {
        have = lg_read_tokens(o->tokens_file, &names, &tokens, o->agents);
        if (have < o->agents) {
            fprintf(stderr, "loadgen: %s has %d tokens; running %d agents\n", o->tokens_file,
                    have, have);
            o->agents = have;
        }
        if (have == 0)
            bench_fatal("no tokens in %s", o->tokens_file);
    }
    snprintf(prefix, sizeof(prefix), "%s", o->name_prefix != NULL ? o->name_prefix : "");
    if (prefix[0] == '\0')
        snprintf(prefix, sizeof(prefix), "bench-%d", (int)getpid());
    if (ws == NULL)
        bench_fatal("out of memory");
    for (i = 0; i < o->threads; i++) {
        ws[i].id = i;
        ws[i].o = o;
        ws[i].ctx = ctx;
        ws[i].sa = *sa;
        ws[i].host = host;
        ws[i].ep = epoll_create1(EPOLL_CLOEXEC);
        if (ws[i].ep < 0)
            bench_fatal("epoll_create1: %s", strerror(errno));
        ws[i].conns = calloc((size_t)(o->agents / o->threads + 1), sizeof(struct lg_conn));
        ws[i].heap = calloc((size_t)(o->agents / o->threads + 1), sizeof(struct lg_conn *));
        if (ws[i].conns == NULL || ws[i].heap == NULL)
            bench_fatal("out of memory");
        bench_rng_seed(&ws[i].rng);
        if (o->fixed_body)
            lg_make_fixed(&ws[i]);
    }
    for (k = 0; k < o->agents; k++) {
        struct lg_worker *w = &ws[k % o->threads];

        c = &w->conns[w->nconns++];
        c->w = w;
        c->idx = k;
        c->fd = -1;
        c->state = LG_NEW;
        c->check_cursor = (int)bench_rng_below(&w->rng, BENCH_CHECKS_PER_AGENT);
        if (have > 0 && names[k][0] != '\0')
            snprintf(c->name, sizeof(c->name), "%s", names[k]);
        else
            snprintf(c->name, sizeof(c->name), "%s-%05d", prefix, k);
        if (have > 0) {
            c->token = tokens[k];
            c->enrolled = 0;
        } else if (o->fixed_token != NULL) {
            c->token = bench_xstrdup(o->fixed_token);
        }
        if (have > 0)
            free(names[k]);
    }
    free(names);
    free(tokens);
    return ws;
}

int main(int argc, char **argv)
{
    struct lg_opts o;
    struct lg_worker *ws;
    struct lg_stats total;
    struct lg_window wd;
    struct sockaddr_in sa;
    struct sigaction sact;
    char host[128];
    SSL_CTX *ctx;
    int64_t t_setup, t_end, deadline;
    long long cpu0 = -1, cpu1 = -1;
    double self0;
    long lim;
    int i, j;

    lg_parse(argc, argv, &o);
    if (bench_parse_url(o.url, &sa, host, sizeof(host)) != 0)
        bench_fatal("--url: want https://IPV4:PORT, got \"%s\"", o.url);
    lim = bench_raise_nofile(o.agents + 64);
    if (lim < o.agents + 16)
        bench_fatal("RLIMIT_NOFILE is %ld, too low for %d agents (raise the hard limit)", lim,
                    o.agents);
    memset(&sact, 0, sizeof(sact));
    sact.sa_handler = SIG_IGN;
    sigaction(SIGPIPE, &sact, NULL);
    sact.sa_handler = lg_on_signal;
    sigaction(SIGINT, &sact, NULL);
    sigaction(SIGTERM, &sact, NULL);
    ctx = bench_tls_ctx(o.ca_file);
    ws = lg_workers(&o, ctx, &sa, host);

    t_setup = bench_now_ns();
    for (i = 0; i < o.threads; i++)
        pthread_create(&ws[i].tid, NULL, lg_worker_main, &ws[i]);
    deadline = t_setup + (int64_t)o.setup_timeout * 1000000000LL;
    while (atomic_load(&lg_ready) + atomic_load(&lg_dead) < o.agents && !lg_interrupted &&
           bench_now_ns() < deadline)
        usleep(5000);
    memset(&wd, 0, sizeof(wd));
    wd.ready = atomic_load(&lg_ready);
    wd.setup_s = (double)(bench_now_ns() - t_setup) / 1e9;
    if (wd.ready < o.agents)
        fprintf(stderr, "loadgen: only %d of %d agents ready after %.1f s\n", wd.ready, o.agents,
                wd.setup_s);
    if (o.server_pid > 0)
        cpu0 = bench_proc_cpu_ticks(o.server_pid);
    self0 = lg_self_cpu();
    lg_go_ns = bench_now_ns();
    atomic_store(&lg_go, 1);
    deadline = lg_go_ns + (int64_t)o.seconds * 1000000000LL;
    while (!lg_interrupted && bench_now_ns() < deadline && wd.ready > 0)
        usleep(2000);
    atomic_store(&lg_stop, 1);
    t_end = bench_now_ns();
    if (o.server_pid > 0)
        cpu1 = bench_proc_cpu_ticks(o.server_pid);
    wd.client_cpu_s = lg_self_cpu() - self0;
    for (i = 0; i < o.threads; i++)
        pthread_join(ws[i].tid, NULL);
    wd.secs = (double)(t_end - lg_go_ns) / 1e9;
    wd.cpu_ticks = cpu0 >= 0 && cpu1 >= 0 ? cpu1 - cpu0 : -1;
    wd.hwm_kb = o.server_pid > 0 ? bench_proc_status_kb(o.server_pid, "VmHWM") : -1;
    wd.rss_kb = o.server_pid > 0 ? bench_proc_status_kb(o.server_pid, "VmRSS") : -1;

    memset(&total, 0, sizeof(total));
    for (i = 0; i < o.threads; i++)
        lg_merge(&total, &ws[i].st);
    lg_report(&o, &total, &wd);
    if (o.save_tokens != NULL && o.enroll_token != NULL)
        lg_save_tokens(o.save_tokens, ws, o.threads);
    for (i = 0; i < o.threads; i++) {
        for (j = 0; j < ws[i].nconns; j++) {
            free(ws[i].conns[j].token);
            free(ws[i].conns[j].in);
        }
        bench_lat_free(&ws[i].st.lat);
        bench_lat_free(&ws[i].st.lat_hb);
        bench_lat_free(&ws[i].st.lat_poll);
        free(ws[i].conns);
        free(ws[i].heap);
        free(ws[i].fixed_base);
        close(ws[i].ep);
    }
    free(ws);
    bench_lat_free(&total.lat);
    bench_lat_free(&total.lat_hb);
    bench_lat_free(&total.lat_poll);
    SSL_CTX_free(ctx);
    return wd.ready > 0 ? 0 : 1;
}
