/*
 * Tests of the alert receivers (server/receiver.h): the "receivers" config
 * (every error names its JSON path, secrets from files and the environment,
 * unknown keys, duplicate names, fallbacks), routing by match, the exact
 * payload of each encoder (parsed back with cJSON: PagerDuty Events API v2,
 * Opsgenie create and close by alias, Slack blocks, Alertmanager API v2, the
 * generic webhook), cuts at the documented limits on UTF-8 boundaries, and the
 * classification of answers.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cjson/cJSON.h>

#include "alert.h"
#include "clock.h"
#include "mem.h"
#include "receiver.h"
#include "run.h"
#include "utf8.h"

#define T0 1795528800000LL /* 2026-11-24T14:00:00Z */

static char tmpdir[256];

static int setup(void **state)
{
    (void)state;
    snprintf(tmpdir, sizeof(tmpdir), "/tmp/healops-receiver-test-XXXXXX");
    assert_non_null(mkdtemp(tmpdir));
    clock_set_wall_override(T0 + 60000);
    return 0;
}

static int teardown(void **state)
{
    char cmd[300];

    (void)state;
    clock_set_wall_override(0);
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", tmpdir);
    assert_int_equal(system(cmd), 0);
    return 0;
}

/* Writes text to tmpdir/name (mode 0600) and returns the path (static buffer per call). */
static const char *write_file(const char *name, const char *text)
{
    static char path[8][400];
    static int k;
    FILE *fp;
    char *p = path[k++ % 8];

    snprintf(p, 400, "%s/%s", tmpdir, name);
    fp = fopen(p, "w");
    assert_non_null(fp);
    fputs(text, fp);
    fclose(fp);
    chmod(p, 0600);
    return p;
}

static struct receivers *parse_ok(const char *json)
{
    struct receivers *rs = NULL;
    struct ho_error err;

    ho_error_clear(&err);
    if (receivers_parse(json, strlen(json), &rs, &err) != HO_OK)
        fail_msg("parse failed: %s: %s\n%s", err.field, err.msg, json);
    return rs;
}

/* Parses json, wants failure with err.field == field and msg containing part. */
static void parse_bad(const char *json, const char *field, const char *part)
{
    struct receivers *rs = (struct receivers *)1;
    struct ho_error err;

    ho_error_clear(&err);
    if (receivers_parse(json, strlen(json), &rs, &err) == HO_OK)
        fail_msg("accepted: %s", json);
    assert_null(rs);
    if (strcmp(err.field, field) != 0)
        fail_msg("field %s, want %s (%s) for %s", err.field, field, err.msg, json);
    if (part != NULL && strstr(err.msg, part) == NULL)
        fail_msg("message \"%s\" lacks \"%s\"", err.msg, part);
}

static int utf8_valid(const char *s)
{
    const unsigned char *u = (const unsigned char *)s;
    size_t n = strlen(s), i = 0, len;

    while (i < n) {
        len = u[i] < 0x80 ? 1 : utf8_seq_len(u + i, n - i);
        if (len == 0)
            return 0;
        i += len;
    }
    return 1;
}

static size_t utf8_chars(const char *s)
{
    size_t n = 0;

    for (; *s != '\0'; s++)
        n += ((unsigned char)*s & 0xC0) != 0x80;
    return n;
}

/* ---- the alert used by the encoder tests ---- */

static struct tag labels[] = {{"role", "web"}, {"dc", "ams"}};
static const char *const docs[] = {"https://docs.example/nginx"};

static void mk_alert(struct alert *a, enum alert_event ev)
{
    memset(a, 0, sizeof(*a));
    a->id = 7;
    a->key = "healops:0190aaaa-bbbb-7ccc-8ddd-eeeeeeeeeeee:nginx.running";
    a->kind = ALERT_KIND_FAILED;
    a->event = ev;
    a->severity = "critical";
    a->summary = "web-1 nginx.running failed: 2 workers, want >= 4";
    a->agent_id = "0190aaaa-bbbb-7ccc-8ddd-eeeeeeeeeeee";
    a->agent_name = "web-1";
    a->package = "nginx";
    a->version = "1.4.0";
    a->check = "nginx.running";
    a->environment = "prod";
    a->labels = labels;
    a->nlabels = 2;
    a->outcome = "failed";
    a->test_output = "2 workers, want >= 4";
    a->repair_output = "restarted <nginx> & co";
    a->retest_output = "2 workers";
    a->runbook = "https://wiki.example/runbooks/nginx";
    a->advice = "look at the error log";
    a->changelog = "https://git.example/nginx/CHANGELOG";
    a->login = "ssh web-1";
    a->docs = docs;
    a->ndocs = 1;
    a->dashboard_url = "https://healops.example:8443/#/check/web-1/nginx.running";
    a->graph_url = "https://healops.example:8443/api/v1/graph.png?agent=web-1&check=nginx.running"
                   "&exp=1&sig=ab";
    a->started_at_ms = T0;
    a->resolved_at_ms = ev == ALERT_EVENT_RESOLVE ? T0 + 600000 : 0;
    a->count = 3;
}

/* Encodes a for the only receiver of json; returns the parsed body. */
static cJSON *encode(const char *json, const struct alert *a, struct receiver_msg *m)
{
    struct receivers *rs = parse_ok(json);
    struct ho_error err;
    cJSON *body;

    ho_error_clear(&err);
    if (receiver_encode(rs, 0, a, m, &err) != HO_OK)
        fail_msg("encode: %s", err.msg);
    receivers_free(rs);
    assert_non_null(m->body);
    assert_int_equal(strlen(m->body), m->body_len);
    assert_string_equal(m->content_type, "application/json");
    body = cJSON_ParseWithLength(m->body, m->body_len);
    if (body == NULL)
        fail_msg("not JSON: %s", m->body);
    return body;
}

static const char *str(const cJSON *o, const char *path)
{
    char buf[256], *p, *save = NULL;
    const cJSON *v = o;

    snprintf(buf, sizeof(buf), "%s", path);
    for (p = strtok_r(buf, ".", &save); p != NULL && v != NULL; p = strtok_r(NULL, ".", &save)) {
        if (p[0] >= '0' && p[0] <= '9')
            v = cJSON_GetArrayItem(v, atoi(p));
        else
            v = cJSON_GetObjectItemCaseSensitive(v, p);
    }
    if (v == NULL || !cJSON_IsString(v))
        fail_msg("no string at %s", path);
    return v->valuestring;
}

static int has(const cJSON *o, const char *key)
{
    return cJSON_GetObjectItemCaseSensitive(o, key) != NULL;
}

/* ---- config ---- */

static void test_receiver_parse_every_type(void **state)
{
    const char *pdfile = write_file("pd.key", "  0123456789abcdef0123456789abcdef\n\n");
    const char *slackfile = write_file("slack.url", "https://hooks.slack.com/services/T/B/X\n");
    char *json;
    struct receivers *rs;

    (void)state;
    setenv("HO_TEST_OG_KEY", "og-secret-key", 1);
    json = xasprintf(
        "[{\"name\":\"oncall\",\"type\":\"pagerduty\",\"routing_key_file\":\"%s\","
        "\"fallback\":\"hook\",\"timeout\":5},"
        "{\"name\":\"hook\",\"type\":\"webhook\",\"url\":\"https://hooks.example/healops\","
        "\"headers\":{\"Authorization\":\"Bearer s3cret\",\"X-Team\":\"ops\"}},"
        "{\"name\":\"og\",\"type\":\"opsgenie\",\"api_key_env\":\"HO_TEST_OG_KEY\","
        "\"url\":\"https://api.eu.opsgenie.com/v2/alerts/\"},"
        "{\"name\":\"chat\",\"type\":\"slack\",\"url_file\":\"%s\","
        "\"match\":{\"severity\":[\"critical\"],\"labels\":{\"role\":\"web\"}}},"
        "{\"name\":\"am-1\",\"type\":\"alertmanager\",\"url\":\"http://127.0.0.1:9093/\"}]",
        pdfile, slackfile);
    rs = parse_ok(json);
    assert_int_equal(receivers_count(rs), 5);
    assert_string_equal(receiver_name(rs, 0), "oncall");
    assert_int_equal(receiver_type(rs, 0), RECEIVER_PAGERDUTY);
    assert_int_equal(receiver_type(rs, 3), RECEIVER_SLACK);
    assert_int_equal(receiver_index(rs, "am-1"), 4);
    assert_int_equal(receiver_index(rs, "nope"), -1);
    assert_int_equal(receiver_fallback(rs, 0), 1);
    assert_int_equal(receiver_fallback(rs, 1), -1);
    assert_int_equal(receiver_timeout_s(rs, 0), 5);
    assert_int_equal(receiver_timeout_s(rs, 1), RECEIVER_TIMEOUT_DEF);
    assert_string_equal(receiver_type_str(RECEIVER_ALERTMANAGER), "alertmanager");
    receivers_free(rs);
    free(json);
    unsetenv("HO_TEST_OG_KEY");

    rs = parse_ok("[]");
    assert_int_equal(receivers_count(rs), 0);
    receivers_free(rs);
    assert_int_equal(receivers_parse(NULL, 0, &rs, NULL), HO_OK);
    assert_int_equal(receivers_count(rs), 0);
    receivers_free(rs);
}

static void test_receiver_parse_errors_name_the_field(void **state)
{
    const char *empty = write_file("empty.key", "\n  \n");
    const char *ctl = write_file("ctl.key", "abc\001SECRETVALUE\n");
    char *j;

    (void)state;
    unsetenv("HO_TEST_UNSET");
    parse_bad("{}", "receivers", "array");
    parse_bad("[1]", "receivers[0]", "object");
    parse_bad("[{\"name\":\"a\",\"type\":\"webhook\",\"url\":\"http://x\",\"bogus\":1}]",
              "receivers[0].bogus", "unknown key");
    parse_bad("[{\"name\":\"a\",\"type\":\"webhook\",\"url\":\"http://x\",\"routing_key\":\"k\"}]",
              "receivers[0].routing_key", "does not apply");
    parse_bad("[{\"name\":\"a\",\"url\":\"http://x\"}]", "receivers[0].type", NULL);
    parse_bad("[{\"name\":\"a\",\"type\":\"email\"}]", "receivers[0].type", "webhook");
    parse_bad("[{\"name\":\"A B\",\"type\":\"webhook\",\"url\":\"http://x\"}]", "receivers[0].name",
              "a-z");
    parse_bad("[{\"type\":\"webhook\",\"url\":\"http://x\"}]", "receivers[0].name", "required");
    parse_bad("[{\"name\":\"a\",\"type\":\"webhook\"}]", "receivers[0].url", "required");
    parse_bad("[{\"name\":\"a\",\"type\":\"slack\"}]", "receivers[0].url", "required");
    parse_bad("[{\"name\":\"a\",\"type\":\"alertmanager\",\"url\":\"ftp://x\"}]",
              "receivers[0].url", "http");
    parse_bad("[{\"name\":\"a\",\"type\":\"pagerduty\"}]", "receivers[0].routing_key", "required");
    parse_bad("[{\"name\":\"a\",\"type\":\"opsgenie\"}]", "receivers[0].api_key", "required");
    parse_bad("[{\"name\":\"a\",\"type\":\"pagerduty\",\"routing_key\":\"k\","
              "\"routing_key_env\":\"X\"}]",
              "receivers[0].routing_key_env", "only one");
    parse_bad("[{\"name\":\"ok\",\"type\":\"webhook\",\"url\":\"http://x\"},"
              "{\"name\":\"a\",\"type\":\"pagerduty\","
              "\"routing_key_file\":\"/nonexistent/healops/pd.key\"}]",
              "receivers[1].routing_key_file", "cannot read: No such file");
    j = xasprintf("[{\"name\":\"a\",\"type\":\"opsgenie\",\"api_key_file\":\"%s\"}]", empty);
    parse_bad(j, "receivers[0].api_key_file", "printable");
    free(j);
    j = xasprintf("[{\"name\":\"a\",\"type\":\"opsgenie\",\"api_key_file\":\"%s\"}]", ctl);
    parse_bad(j, "receivers[0].api_key_file", NULL);
    free(j);
    parse_bad("[{\"name\":\"a\",\"type\":\"pagerduty\",\"routing_key_env\":\"HO_TEST_UNSET\"}]",
              "receivers[0].routing_key_env", "unset");
    parse_bad("[{\"name\":\"a\",\"type\":\"slack\",\"url_env\":\"HO_TEST_UNSET\"}]",
              "receivers[0].url_env", "unset");
    parse_bad("[{\"name\":\"a\",\"type\":\"webhook\",\"url\":\"http://x\"},"
              "{\"name\":\"a\",\"type\":\"webhook\",\"url\":\"http://y\"}]",
              "receivers[1].name", "duplicate");
    parse_bad("[{\"name\":\"a\",\"type\":\"webhook\",\"url\":\"http://x\",\"fallback\":\"b\"}]",
              "receivers[0].fallback", "no receiver");
    parse_bad("[{\"name\":\"a\",\"type\":\"webhook\",\"url\":\"http://x\",\"fallback\":\"a\"}]",
              "receivers[0].fallback", "itself");
    parse_bad("[{\"name\":\"a\",\"type\":\"webhook\",\"url\":\"http://x\",\"fallback\":\"b\"},"
              "{\"name\":\"b\",\"type\":\"webhook\",\"url\":\"http://y\",\"fallback\":\"a\"}]",
              "receivers[0].fallback", "loops");
    parse_bad("[{\"name\":\"a\",\"type\":\"webhook\",\"url\":\"http://x\",\"timeout\":0}]",
              "receivers[0].timeout", "between 1 and 300");
    parse_bad("[{\"name\":\"a\",\"type\":\"webhook\",\"url\":\"http://x\","
              "\"headers\":{\"Content-Type\":\"text/plain\"}}]",
              "receivers[0].headers.Content-Type", "set by HealOps");
    parse_bad("[{\"name\":\"a\",\"type\":\"webhook\",\"url\":\"http://x\","
              "\"headers\":{\"X-A\":\"a\\r\\nX-B: b\"}}]",
              "receivers[0].headers.X-A", "control");
    parse_bad("[{\"name\":\"a\",\"type\":\"webhook\",\"url\":\"http://x\","
              "\"match\":{\"kind\":[\"failed\"]}}]",
              "receivers[0].match.kind", "unknown key");
    parse_bad("[{\"name\":\"a\",\"type\":\"webhook\",\"url\":\"http://x\","
              "\"match\":{\"severity\":\"critical\"}}]",
              "receivers[0].match.severity", "array");
    parse_bad("[{\"name\":\"a\",\"type\":\"webhook\",\"url\":\"http://x\","
              "\"match\":{\"labels\":{\"role\":1}}}]",
              "receivers[0].match.labels.role", NULL);
}

static void test_receiver_errors_never_quote_secrets(void **state)
{
    const char *ctl = write_file("bad.key", "TOPSECRET\001VALUE\n");
    struct receivers *rs = NULL;
    struct ho_error err;
    char *j;

    (void)state;
    j = xasprintf("[{\"name\":\"a\",\"type\":\"pagerduty\",\"routing_key_file\":\"%s\"}]", ctl);
    ho_error_clear(&err);
    assert_int_not_equal(receivers_parse(j, strlen(j), &rs, &err), HO_OK);
    assert_null(strstr(err.msg, "TOPSECRET"));
    assert_non_null(strstr(err.msg, ctl)); /* the file is named */
    free(j);
    setenv("HO_TEST_BAD", "has space secret", 1);
    j = xstrdup("[{\"name\":\"a\",\"type\":\"opsgenie\",\"api_key_env\":\"HO_TEST_BAD\"}]");
    assert_int_not_equal(receivers_parse(j, strlen(j), &rs, &err), HO_OK);
    assert_string_equal(err.field, "receivers[0].api_key_env");
    assert_null(strstr(err.msg, "secret"));
    free(j);
    unsetenv("HO_TEST_BAD");
}

/* ---- routing ---- */

static void test_receiver_match(void **state)
{
    struct receivers *rs;
    struct alert a;

    (void)state;
    rs = parse_ok(
        "[{\"name\":\"all\",\"type\":\"webhook\",\"url\":\"http://x\"},"
        "{\"name\":\"crit\",\"type\":\"webhook\",\"url\":\"http://x\","
        "\"match\":{\"severity\":[\"critical\",\"warning\"]}},"
        "{\"name\":\"web\",\"type\":\"webhook\",\"url\":\"http://x\","
        "\"match\":{\"package\":[\"nginx\"],\"labels\":{\"role\":\"web\",\"dc\":\"ams\"}}},"
        "{\"name\":\"db\",\"type\":\"webhook\",\"url\":\"http://x\","
        "\"match\":{\"labels\":{\"role\":\"db\"}}}]");
    mk_alert(&a, ALERT_EVENT_TRIGGER);
    assert_true(receiver_matches(rs, 0, &a));
    assert_true(receiver_matches(rs, 1, &a));
    assert_true(receiver_matches(rs, 2, &a));
    assert_false(receiver_matches(rs, 3, &a));
    a.severity = "info";
    assert_false(receiver_matches(rs, 1, &a));
    a.package = NULL; /* agent-level alerts match no package list */
    assert_false(receiver_matches(rs, 2, &a));
    a.package = "nginx";
    a.nlabels = 1; /* dc missing */
    assert_false(receiver_matches(rs, 2, &a));
    assert_false(receiver_matches(rs, 9, &a));
    receivers_free(rs);
}

/* ---- encoders ---- */

static void test_receiver_pagerduty_trigger(void **state)
{
    const char *key = write_file("pd2.key", "0123456789abcdef0123456789abcdef\n");
    struct receiver_msg m;
    struct alert a;
    cJSON *b, *links, *img;
    char *j;

    (void)state;
    j = xasprintf("[{\"name\":\"pd\",\"type\":\"pagerduty\",\"routing_key_file\":\"%s\"}]", key);
    mk_alert(&a, ALERT_EVENT_TRIGGER);
    b = encode(j, &a, &m);
    assert_string_equal(m.url, "https://events.pagerduty.com/v2/enqueue");
    assert_int_equal(m.nheaders, 0);
    assert_string_equal(str(b, "routing_key"), "0123456789abcdef0123456789abcdef");
    assert_string_equal(str(b, "event_action"), "trigger");
    assert_string_equal(str(b, "dedup_key"), a.key);
    assert_string_equal(str(b, "payload.summary"), a.summary);
    assert_string_equal(str(b, "payload.source"), "web-1");
    assert_string_equal(str(b, "payload.severity"), "critical");
    assert_string_equal(str(b, "payload.timestamp"), "2026-11-24T14:00:00.000Z");
    assert_string_equal(str(b, "payload.component"), "nginx");
    assert_string_equal(str(b, "payload.group"), "prod");
    assert_string_equal(str(b, "payload.class"), "nginx.running");
    assert_string_equal(str(b, "payload.custom_details.test"), "2 workers, want >= 4");
    assert_string_equal(str(b, "payload.custom_details.repair"), "restarted <nginx> & co");
    assert_string_equal(str(b, "payload.custom_details.retest"), "2 workers");
    assert_string_equal(str(b, "payload.custom_details.advice"), "look at the error log");
    assert_string_equal(str(b, "payload.custom_details.login"), "ssh web-1");
    assert_string_equal(str(b, "payload.custom_details.agent"), "web-1");
    assert_string_equal(str(b, "payload.custom_details.version"), "1.4.0");
    links = cJSON_GetObjectItemCaseSensitive(b, "links");
    assert_int_equal(cJSON_GetArraySize(links), 4);
    assert_string_equal(str(b, "links.0.href"), a.dashboard_url);
    assert_string_equal(str(b, "links.0.text"), "Check in HealOps");
    assert_string_equal(str(b, "links.1.href"), a.runbook);
    assert_string_equal(str(b, "links.1.text"), "Runbook");
    assert_string_equal(str(b, "links.2.href"), docs[0]);
    assert_string_equal(str(b, "links.3.href"), a.changelog);
    img = cJSON_GetArrayItem(cJSON_GetObjectItemCaseSensitive(b, "images"), 0);
    assert_non_null(img);
    assert_string_equal(str(img, "src"), a.graph_url);
    assert_string_equal(str(img, "href"), a.dashboard_url);
    assert_string_equal(str(img, "alt"), "nginx.running");
    assert_string_equal(str(b, "client"), "HealOps");
    assert_string_equal(str(b, "client_url"), "https://healops.example:8443/");
    cJSON_Delete(b);
    receiver_msg_cleanup(&m);

    /* severity mapping; an http graph is a link, not an image (PagerDuty wants HTTPS) */
    a.severity = "warning";
    a.graph_url = "http://healops.local/api/v1/graph.png?sig=1";
    b = encode(j, &a, &m);
    assert_string_equal(str(b, "payload.severity"), "warning");
    assert_false(has(b, "images"));
    assert_string_equal(str(b, "links.4.text"), "Graph");
    cJSON_Delete(b);
    receiver_msg_cleanup(&m);
    a.severity = "bogus";
    b = encode(j, &a, &m);
    assert_string_equal(str(b, "payload.severity"), "error");
    cJSON_Delete(b);
    receiver_msg_cleanup(&m);
    free(j);
}

static void test_receiver_pagerduty_resolve_and_limits(void **state)
{
    struct receiver_msg m;
    struct alert a;
    char *long_summary, *long_key;
    const char *s;
    cJSON *b;
    size_t i;

    (void)state;
    setenv("HO_TEST_PD", "envkey0123456789abcdef0123456789", 1);
    mk_alert(&a, ALERT_EVENT_RESOLVE);
    b = encode("[{\"name\":\"pd\",\"type\":\"pagerduty\",\"routing_key_env\":\"HO_TEST_PD\","
               "\"url\":\"http://127.0.0.1:1/enqueue\"}]",
               &a, &m);
    assert_string_equal(m.url, "http://127.0.0.1:1/enqueue");
    assert_string_equal(str(b, "routing_key"), "envkey0123456789abcdef0123456789");
    assert_string_equal(str(b, "event_action"), "resolve");
    assert_string_equal(str(b, "dedup_key"), a.key);
    assert_int_equal(cJSON_GetArraySize(b), 3); /* nothing else */
    cJSON_Delete(b);
    receiver_msg_cleanup(&m);

    /* 700 x "é" (1400 bytes) cut to <= 1024 bytes, valid UTF-8, ending in "…" */
    long_summary = xmalloc(1401);
    for (i = 0; i < 700; i++)
        memcpy(long_summary + 2 * i, "\xC3\xA9", 2);
    long_summary[1400] = '\0';
    long_key = xmalloc(301);
    memset(long_key, 'k', 300);
    long_key[300] = '\0';
    mk_alert(&a, ALERT_EVENT_TRIGGER);
    a.summary = long_summary;
    a.key = long_key;
    b = encode("[{\"name\":\"pd\",\"type\":\"pagerduty\",\"routing_key\":\"k\"}]", &a, &m);
    s = str(b, "payload.summary");
    assert_true(strlen(s) <= 1024);
    assert_true(strlen(s) >= 1020);
    assert_true(utf8_valid(s));
    assert_string_equal(s + strlen(s) - 3, "\xE2\x80\xA6");
    s = str(b, "dedup_key"); /* > 255: a stable digest */
    assert_true(strlen(s) <= 255);
    assert_int_equal(strncmp(s, "healops:sha256:", 15), 0);
    cJSON_Delete(b);
    receiver_msg_cleanup(&m);
    free(long_summary);
    free(long_key);
    unsetenv("HO_TEST_PD");
}

static void test_receiver_opsgenie_create(void **state)
{
    struct receiver_msg m;
    struct alert a;
    char *msg;
    const char *s;
    cJSON *b, *tags;
    size_t i;

    (void)state;
    mk_alert(&a, ALERT_EVENT_TRIGGER);
    b = encode("[{\"name\":\"og\",\"type\":\"opsgenie\",\"api_key\":\"og-key-1\"}]", &a, &m);
    assert_string_equal(m.url, "https://api.opsgenie.com/v2/alerts");
    assert_int_equal(m.nheaders, 1);
    assert_string_equal(m.headers[0], "Authorization: GenieKey og-key-1");
    assert_string_equal(str(b, "message"), a.summary);
    assert_string_equal(str(b, "alias"), a.key);
    s = str(b, "description");
    assert_non_null(strstr(s, "test: 2 workers, want >= 4\nrepair: restarted <nginx> & co\n"));
    assert_non_null(strstr(s, "retest: 2 workers"));
    assert_non_null(strstr(s, a.dashboard_url));
    assert_string_equal(str(b, "details.agent"), "web-1");
    assert_string_equal(str(b, "details.check"), "nginx.running");
    assert_string_equal(str(b, "details.outcome"), "failed");
    assert_string_equal(str(b, "details.count"), "3");
    assert_string_equal(
        cJSON_GetObjectItem(cJSON_GetObjectItem(b, "details"), "label.role")->valuestring, "web");
    tags = cJSON_GetObjectItemCaseSensitive(b, "tags");
    assert_int_equal(cJSON_GetArraySize(tags), 7);
    assert_string_equal(str(b, "tags.0"), "healops");
    assert_string_equal(str(b, "tags.1"), "failed");
    assert_string_equal(str(b, "tags.3"), "nginx");
    assert_string_equal(str(b, "tags.5"), "role:web");
    assert_string_equal(str(b, "priority"), "P1");
    assert_string_equal(str(b, "entity"), "web-1");
    assert_string_equal(str(b, "source"), "healops");
    cJSON_Delete(b);
    receiver_msg_cleanup(&m);

    /* message: 300 x "日" cut to 130 characters; warning is P3; details are strings only */
    msg = xmalloc(901);
    for (i = 0; i < 300; i++)
        memcpy(msg + 3 * i, "\xE6\x97\xA5", 3);
    msg[900] = '\0';
    a.summary = msg;
    a.severity = "warning";
    b = encode("[{\"name\":\"og\",\"type\":\"opsgenie\",\"api_key\":\"k\","
               "\"url\":\"https://api.atlassian.com/jsm/ops/integration/v2/alerts\"}]",
               &a, &m);
    assert_string_equal(m.url, "https://api.atlassian.com/jsm/ops/integration/v2/alerts");
    s = str(b, "message");
    assert_int_equal(utf8_chars(s), 130);
    assert_true(utf8_valid(s));
    assert_string_equal(s + strlen(s) - 3, "\xE2\x80\xA6");
    assert_string_equal(str(b, "priority"), "P3");
    for (i = 0; i < (size_t)cJSON_GetArraySize(cJSON_GetObjectItem(b, "details")); i++)
        assert_true(cJSON_IsString(cJSON_GetArrayItem(cJSON_GetObjectItem(b, "details"), (int)i)));
    cJSON_Delete(b);
    receiver_msg_cleanup(&m);
    free(msg);
}

static void test_receiver_opsgenie_close_by_alias(void **state)
{
    struct receiver_msg m;
    struct alert a;
    cJSON *b;

    (void)state;
    mk_alert(&a, ALERT_EVENT_RESOLVE);
    a.key = "healops/web 01/nginx.running";
    b = encode("[{\"name\":\"og\",\"type\":\"opsgenie\",\"api_key\":\"og-key-1\","
               "\"url\":\"https://api.eu.opsgenie.com/v2/alerts/\"}]",
               &a, &m);
    assert_string_equal(m.url, "https://api.eu.opsgenie.com/v2/alerts/"
                               "healops%2Fweb%2001%2Fnginx.running/close?identifierType=alias");
    assert_string_equal(m.headers[0], "Authorization: GenieKey og-key-1");
    assert_string_equal(str(b, "source"), "healops");
    assert_true(has(b, "note"));
    assert_false(has(b, "message"));
    cJSON_Delete(b);
    receiver_msg_cleanup(&m);
}

/* The block of type in blocks, the n-th of that type (0-based); NULL when none. */
static cJSON *block(cJSON *b, const char *type, int n)
{
    cJSON *it;

    cJSON_ArrayForEach (it, cJSON_GetObjectItemCaseSensitive(b, "blocks")) {
        if (strcmp(str(it, "type"), type) == 0 && n-- == 0)
            return it;
    }
    return NULL;
}

static void test_receiver_slack_trigger(void **state)
{
    const char *hook = "https://hooks.slack.com/services/T000/B000/XXXX";
    struct receiver_msg m;
    struct alert a;
    cJSON *b, *x, *els;
    char *long_summary;
    const char *s;

    (void)state;
    setenv("HO_TEST_SLACK", hook, 1);
    mk_alert(&a, ALERT_EVENT_TRIGGER);
    b = encode("[{\"name\":\"chat\",\"type\":\"slack\",\"url_env\":\"HO_TEST_SLACK\"}]", &a, &m);
    assert_string_equal(m.url, hook);
    assert_int_equal(m.nheaders, 0);
    assert_string_equal(str(b, "text"), "[critical] web-1 nginx.running failed: 2 workers, "
                                        "want &gt;= 4");
    x = block(b, "header", 0);
    assert_non_null(x);
    assert_string_equal(str(x, "text.type"), "plain_text");
    assert_string_equal(str(x, "text.text"), a.summary);
    x = block(b, "section", 0);
    assert_string_equal(str(x, "text.type"), "mrkdwn");
    assert_non_null(strstr(str(x, "text.text"), "*Agent:* `web-1`"));
    assert_non_null(strstr(str(x, "text.text"), "`nginx.running`"));
    /* outputs in code blocks, & < > escaped */
    x = block(b, "section", 2);
    assert_string_equal(str(x, "text.text"),
                        "*Repair output*\n```restarted &lt;nginx&gt; &amp; co```");
    x = block(b, "image", 0);
    assert_non_null(x);
    assert_string_equal(str(x, "image_url"), a.graph_url);
    assert_string_equal(str(x, "alt_text"), "graph of nginx.running on web-1");
    assert_string_equal(str(x, "title.type"), "plain_text");
    x = block(b, "context", 0);
    assert_non_null(x);
    els = cJSON_GetObjectItemCaseSensitive(x, "elements");
    assert_int_equal(cJSON_GetArraySize(els), 4);
    s = str(cJSON_GetArrayItem(els, 0), "text");
    assert_string_equal(s, "<https://healops.example:8443/#/check/web-1/nginx.running|Open in "
                           "HealOps>");
    assert_string_equal(str(cJSON_GetArrayItem(els, 1), "text"),
                        "<https://wiki.example/runbooks/nginx|Runbook>");
    cJSON_Delete(b);
    receiver_msg_cleanup(&m);

    /* header <= 150 characters; no image block without a graph */
    long_summary = xmalloc(401);
    memset(long_summary, 'x', 400);
    long_summary[400] = '\0';
    a.summary = long_summary;
    a.graph_url = NULL;
    b = encode("[{\"name\":\"chat\",\"type\":\"slack\",\"url\":\"https://hooks.slack.com/x\"}]", &a,
               &m);
    s = str(block(b, "header", 0), "text.text");
    assert_int_equal(utf8_chars(s), 150);
    assert_null(block(b, "image", 0));
    cJSON_Delete(b);
    receiver_msg_cleanup(&m);
    free(long_summary);
    unsetenv("HO_TEST_SLACK");
}

static void test_receiver_slack_resolved(void **state)
{
    struct receiver_msg m;
    struct alert a;
    cJSON *b;

    (void)state;
    mk_alert(&a, ALERT_EVENT_RESOLVE);
    b = encode("[{\"name\":\"chat\",\"type\":\"slack\",\"url\":\"https://hooks.slack.com/x\"}]", &a,
               &m);
    assert_non_null(strstr(str(b, "text"), "[resolved]"));
    assert_string_equal(str(block(b, "header", 0), "text.text"),
                        "Resolved: web-1 nginx.running failed: 2 workers, want >= 4");
    assert_non_null(strstr(str(block(b, "section", 0), "text.text"),
                           "`nginx.running` on `web-1` is ok again after 10 min"));
    assert_null(block(b, "image", 0));
    cJSON_Delete(b);
    receiver_msg_cleanup(&m);
}

static void test_receiver_alertmanager(void **state)
{
    struct receiver_msg m;
    struct alert a;
    cJSON *b, *al;

    (void)state;
    mk_alert(&a, ALERT_EVENT_TRIGGER);
    b = encode("[{\"name\":\"am\",\"type\":\"alertmanager\",\"url\":\"http://127.0.0.1:9093/\"}]",
               &a, &m);
    assert_string_equal(m.url, "http://127.0.0.1:9093/api/v2/alerts");
    assert_true(cJSON_IsArray(b));
    assert_int_equal(cJSON_GetArraySize(b), 1);
    al = cJSON_GetArrayItem(b, 0);
    assert_int_equal(cJSON_GetArraySize(cJSON_GetObjectItem(al, "labels")), 6);
    assert_string_equal(str(al, "labels.alertname"), "HealOpsFailed");
    assert_string_equal(str(al, "labels.agent"), "web-1");
    assert_string_equal(str(al, "labels.check"), "nginx.running");
    assert_string_equal(str(al, "labels.package"), "nginx");
    assert_string_equal(str(al, "labels.severity"), "critical");
    assert_string_equal(str(al, "labels.instance"), "web-1");
    assert_string_equal(str(al, "annotations.summary"), a.summary);
    assert_string_equal(str(al, "annotations.runbook_url"), a.runbook);
    assert_non_null(strstr(str(al, "annotations.description"), "test: 2 workers"));
    assert_string_equal(str(al, "annotations.dashboard"), a.dashboard_url);
    assert_string_equal(str(al, "annotations.graph"), a.graph_url);
    assert_string_equal(str(al, "startsAt"), "2026-11-24T14:00:00.000Z");
    /* now (T0 + 1 min) + 4 x 60 s */
    assert_string_equal(str(al, "endsAt"), "2026-11-24T14:05:00.000Z");
    assert_string_equal(str(al, "generatorURL"), a.dashboard_url);
    cJSON_Delete(b);
    receiver_msg_cleanup(&m);

    /* resolve: same labels, endsAt = when it resolved; an agent-level alert has no check */
    mk_alert(&a, ALERT_EVENT_RESOLVE);
    a.kind = ALERT_KIND_SILENT;
    a.check = NULL;
    a.package = NULL;
    a.dashboard_url = NULL;
    b = encode("[{\"name\":\"am\",\"type\":\"alertmanager\","
               "\"url\":\"http://am:9093/api/v2/alerts\"}]",
               &a, &m);
    assert_string_equal(m.url, "http://am:9093/api/v2/alerts");
    al = cJSON_GetArrayItem(b, 0);
    assert_string_equal(str(al, "labels.alertname"), "HealOpsSilent");
    assert_false(has(cJSON_GetObjectItem(al, "labels"), "check"));
    assert_string_equal(str(al, "endsAt"), "2026-11-24T14:10:00.000Z");
    assert_false(has(al, "generatorURL"));
    cJSON_Delete(b);
    receiver_msg_cleanup(&m);
}

static void test_receiver_webhook(void **state)
{
    struct receiver_msg m;
    struct alert a;
    cJSON *b;
    char bad[] = "bad \xFF byte";

    (void)state;
    mk_alert(&a, ALERT_EVENT_TRIGGER);
    a.environment = NULL;
    a.test_output = bad;
    b = encode("[{\"name\":\"hook\",\"type\":\"webhook\",\"url\":\"https://hooks.example/h\","
               "\"headers\":{\"Authorization\":\"Bearer s3cret\",\"X-Team\":\"ops\"}}]",
               &a, &m);
    assert_string_equal(m.url, "https://hooks.example/h");
    assert_int_equal(m.nheaders, 2);
    assert_string_equal(m.headers[0], "Authorization: Bearer s3cret");
    assert_string_equal(m.headers[1], "X-Team: ops");
    assert_int_equal(cJSON_GetObjectItem(b, "version")->valueint, 1);
    assert_string_equal(str(b, "event"), "trigger");
    assert_string_equal(str(b, "alert.key"), a.key);
    assert_string_equal(str(b, "alert.kind"), "failed");
    assert_string_equal(str(b, "alert.agent"), "web-1");
    assert_string_equal(str(b, "alert.labels.dc"), "ams");
    assert_string_equal(str(b, "alert.docs.0"), docs[0]);
    assert_string_equal(str(b, "alert.test_output"), "bad \xEF\xBF\xBD byte");
    assert_string_equal(str(b, "alert.started_at"), "2026-11-24T14:00:00.000Z");
    assert_true(cJSON_IsNull(cJSON_GetObjectItem(cJSON_GetObjectItem(b, "alert"), "environment")));
    assert_true(cJSON_IsNull(cJSON_GetObjectItem(cJSON_GetObjectItem(b, "alert"), "resolved_at")));
    assert_int_equal(cJSON_GetObjectItem(cJSON_GetObjectItem(b, "alert"), "count")->valueint, 3);
    cJSON_Delete(b);
    receiver_msg_cleanup(&m);

    mk_alert(&a, ALERT_EVENT_RESOLVE);
    b = encode("[{\"name\":\"hook\",\"type\":\"webhook\",\"url\":\"https://hooks.example/h\"}]", &a,
               &m);
    assert_string_equal(str(b, "event"), "resolve");
    assert_string_equal(str(b, "alert.resolved_at"), "2026-11-24T14:10:00.000Z");
    cJSON_Delete(b);
    receiver_msg_cleanup(&m);
}

static void test_receiver_encode_refuses_incomplete_alerts(void **state)
{
    struct receivers *rs =
        parse_ok("[{\"name\":\"pd\",\"type\":\"pagerduty\",\"routing_key\":\"k\"}]");
    struct receiver_msg m;
    struct ho_error err;
    struct alert a;

    (void)state;
    mk_alert(&a, ALERT_EVENT_TRIGGER);
    a.key = NULL;
    assert_int_equal(receiver_encode(rs, 0, &a, &m, &err), HO_EINVAL);
    receiver_msg_cleanup(&m);
    mk_alert(&a, ALERT_EVENT_TRIGGER);
    assert_int_equal(receiver_encode(rs, 1, &a, &m, &err), HO_EINVAL);
    receiver_msg_cleanup(&m);
    receivers_free(rs);
}

/* ---- answers ---- */

static void test_receiver_classify(void **state)
{
    static const struct {
        enum receiver_type type;
        long status;
        const char *body;
        enum receiver_verdict want;
    } cases[] = {
        {RECEIVER_PAGERDUTY, 202, "{\"status\":\"success\"}", RECEIVER_DELIVERED},
        {RECEIVER_PAGERDUTY, 400, "{\"status\":\"invalid event\"}", RECEIVER_REJECTED},
        {RECEIVER_PAGERDUTY, 429, "", RECEIVER_RETRY},
        {RECEIVER_PAGERDUTY, 500, "", RECEIVER_RETRY},
        {RECEIVER_PAGERDUTY, 503, "", RECEIVER_RETRY},
        {RECEIVER_PAGERDUTY, 0, NULL, RECEIVER_RETRY},
        {RECEIVER_OPSGENIE, 202, "{\"result\":\"Request will be processed\"}", RECEIVER_DELIVERED},
        {RECEIVER_OPSGENIE, 400, "", RECEIVER_REJECTED},
        {RECEIVER_OPSGENIE, 401, "", RECEIVER_REJECTED},
        {RECEIVER_OPSGENIE, 402, "", RECEIVER_REJECTED},
        {RECEIVER_OPSGENIE, 403, "", RECEIVER_REJECTED},
        {RECEIVER_OPSGENIE, 404, "", RECEIVER_REJECTED},
        {RECEIVER_OPSGENIE, 422, "", RECEIVER_REJECTED},
        {RECEIVER_OPSGENIE, 429, "", RECEIVER_RETRY},
        {RECEIVER_OPSGENIE, 502, "", RECEIVER_RETRY},
        {RECEIVER_SLACK, 200, "ok", RECEIVER_DELIVERED},
        {RECEIVER_SLACK, 400, "invalid_payload", RECEIVER_REJECTED},
        {RECEIVER_SLACK, 400, "no_text", RECEIVER_REJECTED},
        {RECEIVER_SLACK, 403, "action_prohibited", RECEIVER_REJECTED},
        {RECEIVER_SLACK, 404, "no_service", RECEIVER_REJECTED},
        {RECEIVER_SLACK, 410, "channel_is_archived", RECEIVER_REJECTED},
        {RECEIVER_SLACK, 429, "", RECEIVER_RETRY},
        {RECEIVER_SLACK, 500, "rollup_error", RECEIVER_RETRY},
        {RECEIVER_SLACK, 204, "", RECEIVER_REJECTED},
        {RECEIVER_ALERTMANAGER, 200, "", RECEIVER_DELIVERED},
        {RECEIVER_ALERTMANAGER, 400, "invalid label set", RECEIVER_REJECTED},
        {RECEIVER_ALERTMANAGER, 422, "{\"code\":602}", RECEIVER_REJECTED},
        {RECEIVER_ALERTMANAGER, 500, "", RECEIVER_RETRY},
        {RECEIVER_ALERTMANAGER, 0, NULL, RECEIVER_RETRY},
        {RECEIVER_WEBHOOK, 200, "", RECEIVER_DELIVERED},
        {RECEIVER_WEBHOOK, 204, "", RECEIVER_DELIVERED},
        {RECEIVER_WEBHOOK, 301, "", RECEIVER_REJECTED},
        {RECEIVER_WEBHOOK, 404, "", RECEIVER_REJECTED},
        {RECEIVER_WEBHOOK, 408, "", RECEIVER_RETRY},
        {RECEIVER_WEBHOOK, 429, "", RECEIVER_RETRY},
        {RECEIVER_WEBHOOK, 503, "", RECEIVER_RETRY},
    };
    struct receivers *rs =
        parse_ok("[{\"name\":\"w\",\"type\":\"webhook\",\"url\":\"http://x\"},"
                 "{\"name\":\"p\",\"type\":\"pagerduty\",\"routing_key\":\"k\"},"
                 "{\"name\":\"o\",\"type\":\"opsgenie\",\"api_key\":\"k\"},"
                 "{\"name\":\"s\",\"type\":\"slack\",\"url\":\"https://hooks.slack.com/x\"},"
                 "{\"name\":\"a\",\"type\":\"alertmanager\",\"url\":\"http://am\"}]");
    size_t i;

    (void)state;
    for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        enum receiver_verdict v =
            receiver_classify(rs, (size_t)cases[i].type, cases[i].status, cases[i].body,
                              cases[i].body != NULL ? strlen(cases[i].body) : 0);

        if (v != cases[i].want)
            fail_msg("%s %ld: %s, want %s", receiver_type_str(cases[i].type), cases[i].status,
                     receiver_verdict_str(v), receiver_verdict_str(cases[i].want));
    }
    receivers_free(rs);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_receiver_parse_every_type, setup, teardown),
        cmocka_unit_test_setup_teardown(test_receiver_parse_errors_name_the_field, setup, teardown),
        cmocka_unit_test_setup_teardown(test_receiver_errors_never_quote_secrets, setup, teardown),
        cmocka_unit_test_setup_teardown(test_receiver_match, setup, teardown),
        cmocka_unit_test_setup_teardown(test_receiver_pagerduty_trigger, setup, teardown),
        cmocka_unit_test_setup_teardown(test_receiver_pagerduty_resolve_and_limits, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_receiver_opsgenie_create, setup, teardown),
        cmocka_unit_test_setup_teardown(test_receiver_opsgenie_close_by_alias, setup, teardown),
        cmocka_unit_test_setup_teardown(test_receiver_slack_trigger, setup, teardown),
        cmocka_unit_test_setup_teardown(test_receiver_slack_resolved, setup, teardown),
        cmocka_unit_test_setup_teardown(test_receiver_alertmanager, setup, teardown),
        cmocka_unit_test_setup_teardown(test_receiver_webhook, setup, teardown),
        cmocka_unit_test_setup_teardown(test_receiver_encode_refuses_incomplete_alerts, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_receiver_classify, setup, teardown),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
