/*
 * Alert receivers (DESIGN.md section 8): the server config's "receivers"
 * array, the routing of an alert to receivers, one encoder per receiver type
 * turning an alert into the HTTP request that service expects
 * (INTEGRATIONS.md sections 5-8), and the reading of the service's answer.
 * The alert engine owns delivery; this module does no I/O after parsing.
 */
#ifndef HO_RECEIVER_H
#define HO_RECEIVER_H

#include <stddef.h>
#include <stdint.h>

#include "error.h"

struct alert;

#define RECEIVERS_MAX        64   /* receivers in the array */
#define RECEIVER_NAME_MAX    64   /* bytes of a name, [a-z0-9_-] */
#define RECEIVER_SECRET_MAX  4096 /* bytes of a secret (file, env or inline) */
#define RECEIVER_URL_MAX     2048
#define RECEIVER_TIMEOUT_DEF 10 /* seconds */

enum receiver_type {
    RECEIVER_WEBHOOK,
    RECEIVER_PAGERDUTY,
    RECEIVER_OPSGENIE,
    RECEIVER_SLACK,
    RECEIVER_ALERTMANAGER
};

/* "webhook", "pagerduty", "opsgenie", "slack", "alertmanager". */
const char *receiver_type_str(enum receiver_type t);

struct receivers; /* parsed "receivers" array */

/*
 * Parses the JSON text of the "receivers" array (len bytes; NULL or len 0 = no
 * receivers). Unknown keys are refused, names are unique, a fallback names
 * another receiver (no cycles), secrets are read here from files (<= 4 KiB,
 * trimmed) or the environment and kept in memory only. On error *out is NULL
 * and err->field is the JSON path ("receivers[1].routing_key_file"); messages
 * never quote a secret. The caller frees *out with receivers_free.
 */
enum ho_code receivers_parse(const char *json_array, size_t len, struct receivers **out,
                             struct ho_error *err) HO_WUR;
/* Wipes the secrets and frees; NULL is accepted. */
void receivers_free(struct receivers *rs);
size_t receivers_count(const struct receivers *rs);
const char *receiver_name(const struct receivers *rs, size_t i);
enum receiver_type receiver_type(const struct receivers *rs, size_t i);
/* Index of the receiver called name, -1 when none. */
int receiver_index(const struct receivers *rs, const char *name);
/* Index of receiver i's fallback, -1 when it has none. */
int receiver_fallback(const struct receivers *rs, size_t i);
/* Receiver i's "timeout" in seconds (default RECEIVER_TIMEOUT_DEF). */
int receiver_timeout_s(const struct receivers *rs, size_t i);
/*
 * How often the engine re-sends open alerts to Alertmanager (default 60 s): a
 * trigger's endsAt is now + 4 x this, so Alertmanager resolves an alert on its
 * own only when HealOps stops re-sending it (INTEGRATIONS.md section 8).
 */
void receivers_set_alertmanager_resend(struct receivers *rs, int64_t ms);

/*
 * 1 when alert a goes to receiver i: every criterion of its "match"
 * ({"severity":[...],"package":[...],"labels":{"k":"v"}}) holds (a list
 * matches any of its values, labels must all be equal); no "match" = all.
 */
int receiver_matches(const struct receivers *rs, size_t i, const struct alert *a);

/* One HTTP request ready to send: POST url with body. Everything owned. */
struct receiver_msg {
    char *url;
    char *body;
    size_t body_len;
    char *content_type;
    char **headers; /* "Name: value", e.g. "Authorization: GenieKey KEY" */
    size_t nheaders;
};

/*
 * Encodes alert a (trigger or resolve) for receiver i into out (zeroed first;
 * clean up with receiver_msg_cleanup, also after an error). Long texts are cut
 * at the service's documented limits on a UTF-8 boundary. HO_EINVAL when the
 * alert lacks what the service needs.
 */
enum ho_code receiver_encode(const struct receivers *rs, size_t i, const struct alert *a,
                             struct receiver_msg *out, struct ho_error *err) HO_WUR;
/* Frees (and wipes: it may hold secrets) what m owns; m can be reused. */
void receiver_msg_cleanup(struct receiver_msg *m);

enum receiver_verdict { RECEIVER_DELIVERED, RECEIVER_RETRY, RECEIVER_REJECTED };

/* "delivered", "retry", "rejected". */
const char *receiver_verdict_str(enum receiver_verdict v);

/*
 * Reads receiver i's answer: http_status 0 means no answer (transport error,
 * retried). 2xx (202 for PagerDuty and Opsgenie, 200 for Slack) is delivered,
 * 429 and 5xx are retried, other statuses rejected (the engine records them and
 * uses the fallback). body (may be NULL) is the answer's text.
 */
enum receiver_verdict receiver_classify(const struct receivers *rs, size_t i, long http_status,
                                        const char *body, size_t body_len);

#endif
