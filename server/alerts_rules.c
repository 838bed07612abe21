/*
 * The alert rules (DESIGN.md section 8) as pure functions of what the store
 * knows and the time: which alert opens, when it resolves, when it repeats,
 * plus the texts an alert carries (summary, excerpts, login) and the delivery
 * backoff. No I/O here, so the unit tests drive them with a test clock.
 *
 * One alert per agent x check (the de-dup key). An open alert keeps its kind
 * while its own condition holds, even when another rule would fire too: a
 * receiver sees one incident, not a trigger/resolve pair each time the
 * details move. With nothing open the most telling rule wins: the loop guard
 * gave up (guard_exhausted), then the check failing after N runs in a row
 * (failed), then repairing itself too often (flapping), then no run for two
 * intervals (stale).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "alerts_impl.h"
#include "mem.h"
#include "run.h"
#include "utf8.h"

#define ALERT_BACKOFF_FIRST_MS 1000
#define ALERT_BACKOFF_MAX_MS   (5 * 60 * 1000)
#define ALERT_RETRY_AFTER_MAX  3600 /* seconds of Retry-After we honour */

static const char *const alert_kind_names[] = {
    [ALERT_KIND_FAILED] = "failed",     [ALERT_KIND_SILENT] = "silent",
    [ALERT_KIND_FLAPPING] = "flapping", [ALERT_KIND_GUARD] = "guard_exhausted",
    [ALERT_KIND_STALE] = "stale",
};

const char *alert_kind_str(enum alert_kind k)
{
    if ((size_t)k < sizeof(alert_kind_names) / sizeof(alert_kind_names[0]))
        return alert_kind_names[k];
    return "unknown";
}

const char *alert_event_str(enum alert_event e)
{
    return e == ALERT_EVENT_RESOLVE ? "resolve" : "trigger";
}

enum ho_code alert_kind_parse(const char *s, enum alert_kind *out)
{
    size_t i;

    for (i = 0; s != NULL && i < sizeof(alert_kind_names) / sizeof(alert_kind_names[0]); i++) {
        if (strcmp(s, alert_kind_names[i]) == 0) {
            *out = (enum alert_kind)i;
            return HO_OK;
        }
    }
    return HO_EINVAL;
}

const char *alert_default_severity(enum alert_kind kind)
{
    switch (kind) {
    case ALERT_KIND_FAILED:
    case ALERT_KIND_GUARD:
    case ALERT_KIND_SILENT:
        return "critical";
    case ALERT_KIND_FLAPPING:
    case ALERT_KIND_STALE:
        return "warning";
    }
    return "critical";
}

int alert_rules_silent(const struct alert_rules_cfg *cfg, int64_t last_seen_ms, int64_t now_ms)
{
    return last_seen_ms > 0 && now_ms - last_seen_ms > cfg->silent_after_ms;
}

int alert_rules_stale(int interval_s, int64_t last_run_at_ms, int64_t now_ms)
{
    return interval_s > 0 && now_ms - last_run_at_ms > 2000LL * interval_s;
}

int alert_rules_repeat_due(const struct alert_rules_cfg *cfg, int64_t last_sent_ms, int64_t now_ms)
{
    return cfg->repeat_every_ms > 0 && now_ms - last_sent_ms >= cfg->repeat_every_ms;
}

static int alert_is_good(int outcome)
{
    return outcome == RUN_OUTCOME_OK || outcome == RUN_OUTCOME_REPAIRED;
}

/* Whether the condition that opens an alert of kind holds. */
static int alert_holds(const struct alert_rules_cfg *cfg, const struct alert_facts *f,
                       enum alert_kind kind, int64_t now_ms)
{
    if (!f->has_state)
        return 0;
    switch (kind) {
    case ALERT_KIND_GUARD:
        return !alert_is_good(f->outcome) && f->repair_status == REPAIR_STATUS_SUPPRESSED;
    case ALERT_KIND_FAILED:
        return !alert_is_good(f->outcome) && f->consecutive_failures >= cfg->after_failures;
    case ALERT_KIND_FLAPPING:
        return f->repairs_in_window >= 0 && f->repairs_in_window > cfg->flap_repairs;
    case ALERT_KIND_STALE:
        return cfg->stale && f->agent_alive &&
               alert_rules_stale(f->interval_s, f->last_run_at_ms, now_ms);
    case ALERT_KIND_SILENT:
        return 0; /* agent-level: alert_rules_silent */
    }
    return 0;
}

/* Whether the open alert of kind resolves now. */
static int alert_resolves(const struct alert_rules_cfg *cfg, const struct alert_facts *f,
                          enum alert_kind kind, int64_t now_ms)
{
    switch (kind) {
    case ALERT_KIND_FAILED:
    case ALERT_KIND_GUARD:
        return f->has_state && alert_is_good(f->outcome);
    case ALERT_KIND_STALE:
        return f->has_state && !alert_rules_stale(f->interval_s, f->last_run_at_ms, now_ms);
    case ALERT_KIND_FLAPPING:
        return f->repairs_in_window >= 0 && f->repairs_in_window < cfg->flap_repairs;
    case ALERT_KIND_SILENT:
        return 0;
    }
    return 0;
}

void alert_rules_check(const struct alert_rules_cfg *cfg, const struct alert_facts *f,
                       int64_t now_ms, struct alert_decision *d)
{
    static const enum alert_kind order[] = {ALERT_KIND_GUARD, ALERT_KIND_FAILED,
                                            ALERT_KIND_FLAPPING, ALERT_KIND_STALE};
    size_t i;

    memset(d, 0, sizeof(*d));
    if (f->has_open) {
        if (!alert_resolves(cfg, f, f->open_kind, now_ms))
            return;
        d->resolve = 1;
    }
    for (i = 0; i < sizeof(order) / sizeof(order[0]); i++) {
        if (alert_holds(cfg, f, order[i], now_ms)) {
            d->open = 1;
            d->kind = order[i];
            return;
        }
    }
}

int64_t alert_backoff_ms(int attempts, long retry_after_s, uint32_t rnd)
{
    int64_t base = ALERT_BACKOFF_FIRST_MS, d;

    while (attempts > 1 && base < ALERT_BACKOFF_MAX_MS) {
        base *= 2;
        attempts--;
    }
    if (base > ALERT_BACKOFF_MAX_MS)
        base = ALERT_BACKOFF_MAX_MS;
    /* equal jitter: between half and all of the base */
    d = base - (int64_t)(rnd % (uint32_t)(base / 2 + 1));
    if (retry_after_s > ALERT_RETRY_AFTER_MAX)
        retry_after_s = ALERT_RETRY_AFTER_MAX;
    if (retry_after_s >= 0 && d < retry_after_s * 1000)
        d = retry_after_s * 1000;
    return d;
}

char *alert_excerpt(const char *text, size_t max)
{
    if (text == NULL)
        return NULL;
    return xstrndup(text, utf8_cut(text, strlen(text), max));
}

char *alert_first_line(const char *text, size_t max)
{
    size_t n;
    char *out;
    size_t i;

    if (text == NULL)
        return xstrdup("");
    while (*text == ' ' || *text == '\t' || *text == '\n' || *text == '\r')
        text++;
    n = strcspn(text, "\r\n");
    while (n > 0 && (text[n - 1] == ' ' || text[n - 1] == '\t'))
        n--;
    out = xstrndup(text, utf8_cut(text, n, max));
    for (i = 0; out[i] != '\0'; i++) {
        if ((unsigned char)out[i] < 0x20 || out[i] == 0x7f)
            out[i] = ' ';
    }
    return out;
}

char *alert_login_expand(const char *login, const char *node)
{
    static const char pat[] = "{node}";
    size_t nodelen = strlen(node), n = 0, k = 0;
    const char *p;
    char *out;

    if (login == NULL)
        return NULL;
    for (p = strstr(login, pat); p != NULL; p = strstr(p + sizeof(pat) - 1, pat))
        k++;
    out = xmalloc(strlen(login) + k * nodelen + 1);
    for (p = login; *p != '\0';) {
        if (strncmp(p, pat, sizeof(pat) - 1) == 0) {
            memcpy(out + n, node, nodelen);
            n += nodelen;
            p += sizeof(pat) - 1;
        } else {
            out[n++] = *p++;
        }
    }
    out[n] = '\0';
    return out;
}

char *alert_summary(enum alert_kind kind, const char *node, const char *check, const char *detail,
                    int64_t n, int64_t window_s)
{
    char *s, *line;
    int has = detail != NULL && detail[0] != '\0';

    switch (kind) {
    case ALERT_KIND_FAILED:
        if (n > 1)
            s = xasprintf("%s %s failed %lld times in a row%s%s", node, check, (long long)n,
                          has ? ": " : "", has ? detail : "");
        else
            s = xasprintf("%s %s failed%s%s", node, check, has ? ": " : "", has ? detail : "");
        break;
    case ALERT_KIND_GUARD:
        s = xasprintf("%s %s: repair suppressed by the loop guard%s%s", node, check,
                      has ? ": " : "", has ? detail : "");
        break;
    case ALERT_KIND_FLAPPING:
        s = xasprintf("%s %s flapping: %lld repairs in %lld s", node, check, (long long)n,
                      (long long)window_s);
        break;
    case ALERT_KIND_STALE:
        s = xasprintf("%s %s stale: no run for %lld s (interval %lld s)", node, check, (long long)n,
                      (long long)window_s);
        break;
    case ALERT_KIND_SILENT:
    default:
        s = xasprintf("%s silent: not heard from for %lld s", node, (long long)n);
        break;
    }
    line = alert_first_line(s, ALERTS_SUMMARY_MAX);
    free(s);
    return line;
}
