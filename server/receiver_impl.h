/*
 * The parsed receiver record shared by receiver.c (config, routing,
 * classification) and receiver_encode.c (the encoders). Not used elsewhere.
 */
#ifndef HO_RECEIVER_IMPL_H
#define HO_RECEIVER_IMPL_H

#include <stddef.h>
#include <stdint.h>

#include "receiver.h"

/* A list of strings from the config ("match.severity"). */
struct receiver_list {
    char **v; /* owned */
    size_t n;
};

struct receiver {
    char *name; /* [a-z0-9_-], unique */
    enum receiver_type type;
    char *url;      /* the endpoint (for Slack a secret; wiped at free) */
    char *secret;   /* PagerDuty routing key or Opsgenie API key, NULL for others */
    char **headers; /* webhook: "Name: value" lines, owned (may hold secrets) */
    size_t nheaders;
    int has_match; /* a "match" object was given */
    struct receiver_list match_severity;
    struct receiver_list match_package;
    struct receiver_list match_label_keys; /* match.labels, keys and values side by side */
    struct receiver_list match_label_values;
    int fallback; /* index, -1 = none */
    int timeout_s;
};

struct receivers {
    struct receiver *v; /* owned */
    size_t n;
    int64_t am_resend_ms; /* receivers_set_alertmanager_resend */
};

#define RECEIVER_PD_URL       "https://events.pagerduty.com/v2/enqueue"
#define RECEIVER_OPSGENIE_URL "https://api.opsgenie.com/v2/alerts"
#define RECEIVER_AM_RESEND_MS 60000

#endif
