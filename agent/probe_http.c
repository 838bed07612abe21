/*
 * The http probe: one GET with libcurl (an easy handle per call), then the
 * status against expect_status, the first PROBE_READ_MAX bytes of the body
 * against body_match (POSIX extended regex) and the total time against
 * max_latency_ms (a warning). curl_global_init must have run in main
 * (httpc_global_init). Redirects are not followed: a 301 is what the server said.
 */
#include <stdio.h>
#include <string.h>

#include <curl/curl.h>

#include "buf.h"
#include "probe_impl.h"

#define PROBE_HTTP_AGENT "healops-agent"

static size_t probe_http_write(char *data, size_t size, size_t nmemb, void *userp)
{
    struct buf *b = userp;
    size_t n = size * nmemb, keep = b->cap - b->len;

    if (keep > n)
        keep = n;
    /* Past the cap the rest is read and dropped: the latency covers the whole body. */
    if (keep > 0 && buf_append(b, data, keep) != HO_OK)
        return 0;
    return n;
}

/* A failure to run the probe at all (bad URL, unknown host) is UNKNOWN, not CRITICAL. */
static enum test_status probe_http_curl_status(CURLcode cc)
{
    switch (cc) {
    case CURLE_URL_MALFORMAT:
    case CURLE_UNSUPPORTED_PROTOCOL:
    case CURLE_COULDNT_RESOLVE_HOST:
    case CURLE_COULDNT_RESOLVE_PROXY:
    case CURLE_OUT_OF_MEMORY:
    case CURLE_FAILED_INIT:
        return TEST_STATUS_UNKNOWN;
    default:
        return TEST_STATUS_CRITICAL;
    }
}

static CURLcode probe_http_setup(CURL *h, const struct probe_spec *p, long timeout_ms,
                                 struct buf *body, char *ebuf)
{
    CURLcode cc = curl_easy_setopt(h, CURLOPT_URL, p->url);

    if (cc == CURLE_OK)
        cc = curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
    if (cc == CURLE_OK)
        cc = curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, timeout_ms);
    if (cc == CURLE_OK)
        cc = curl_easy_setopt(h, CURLOPT_ERRORBUFFER, ebuf);
    if (cc == CURLE_OK)
        cc = curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, probe_http_write);
    if (cc == CURLE_OK)
        cc = curl_easy_setopt(h, CURLOPT_WRITEDATA, body);
    if (cc == CURLE_OK)
        cc = curl_easy_setopt(h, CURLOPT_USERAGENT, PROBE_HTTP_AGENT);
#if LIBCURL_VERSION_NUM >= 0x075500
    if (cc == CURLE_OK)
        cc = curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "http,https");
#endif
    /* A health check of this host must not go through a proxy from the environment. */
    if (cc == CURLE_OK)
        cc = curl_easy_setopt(h, CURLOPT_NOPROXY, "localhost,127.0.0.1,::1");
    if (cc == CURLE_OK && p->insecure)
        cc = curl_easy_setopt(h, CURLOPT_SSL_VERIFYPEER, 0L);
    if (cc == CURLE_OK && p->insecure)
        cc = curl_easy_setopt(h, CURLOPT_SSL_VERIFYHOST, 0L);
    return cc;
}

/* Judges a response: status, then body, then latency. */
static void probe_http_judge(const struct probe_spec *p, long status, double ms,
                             const struct buf *body, struct run_step *step)
{
    int expect = p->expect_status > 0 ? p->expect_status : 200;
    char ebuf[128];
    int m;

    if (status != expect) {
        probe_step_set(step, TEST_STATUS_CRITICAL,
                       "HTTP CRITICAL: status %ld, expected %d (%.1f ms)", status, expect, ms);
        return;
    }
    if (p->body_match != NULL) {
        m = probe_regex_match(p->body_match, body->data != NULL ? body->data : "", ebuf,
                              sizeof(ebuf));
        if (m == 0) {
            probe_step_set(step, TEST_STATUS_CRITICAL,
                           "HTTP CRITICAL: %ld but the body does not match '%.80s' (%.1f ms)",
                           status, p->body_match, ms);
            return;
        }
    }
    if (p->max_latency_ms > 0 && ms > p->max_latency_ms) {
        probe_step_set(step, TEST_STATUS_WARNING, "HTTP WARNING: %ld in %.1f ms (max %d ms)",
                       status, ms, p->max_latency_ms);
        return;
    }
    probe_step_set(step, TEST_STATUS_OK, "HTTP OK: %ld in %.1f ms", status, ms);
}

void probe_http_run(const struct probe_ctx *ctx, const struct manifest_check *c,
                    struct run_step *step, struct metric **metrics, size_t *nmetrics)
{
    const struct probe_spec *p = &c->test;
    long timeout_ms = p->timeout_ms > 0 ? p->timeout_ms : (long)c->timeout_s * 1000;
    char ebuf[CURL_ERROR_SIZE] = "";
    char rbuf[128];
    curl_off_t total_us = 0;
    struct buf body;
    CURL *h = NULL;
    CURLcode cc;
    long status = 0;
    double ms;

    (void)ctx;
    buf_init(&body, PROBE_READ_MAX);
    if (p->url == NULL || p->url[0] == '\0') {
        probe_step_set(step, TEST_STATUS_UNKNOWN, "HTTP UNKNOWN: no url");
        goto out;
    }
    if (p->body_match != NULL && probe_regex_match(p->body_match, "", rbuf, sizeof(rbuf)) < 0) {
        probe_step_set(step, TEST_STATUS_UNKNOWN, "HTTP UNKNOWN: bad body_match: %s", rbuf);
        goto out;
    }
    if (timeout_ms <= 0)
        timeout_ms = (long)MANIFEST_DEFAULT_TIMEOUT * 1000;
    h = curl_easy_init();
    if (h == NULL) {
        probe_step_set(step, TEST_STATUS_UNKNOWN, "HTTP UNKNOWN: cannot make a curl handle");
        goto out;
    }
    cc = probe_http_setup(h, p, timeout_ms, &body, ebuf);
    if (cc == CURLE_OK)
        cc = curl_easy_perform(h);
    if (cc != CURLE_OK) {
        enum test_status st = probe_http_curl_status(cc);

        probe_step_set(step, st, "HTTP %s: %s: %s",
                       st == TEST_STATUS_UNKNOWN ? "UNKNOWN" : "CRITICAL", p->url,
                       ebuf[0] != '\0' ? ebuf : curl_easy_strerror(cc));
        goto out;
    }
    (void)curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &status);
    (void)curl_easy_getinfo(h, CURLINFO_TOTAL_TIME_T, &total_us);
    ms = (double)total_us / 1000.0;
    probe_metric_add(metrics, nmetrics, "http.status", (double)status);
    probe_metric_add(metrics, nmetrics, "http.latency_ms", ms);
    probe_http_judge(p, status, ms, &body, step);
out:
    curl_easy_cleanup(h);
    buf_cleanup(&body);
}
