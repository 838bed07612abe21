/*
 * healopsctl: the operators' command line for the HealOps API
 * (DESIGN.md section 10a): the history and fleet queries runs, repairs,
 * state, agents, alerts and insights, as a table (outcomes in colour on a
 * terminal, unless NO_COLOR is set) or --json; the package commands are in
 * ctl_package.c.
 * Server, token and CA come from flags or HEALOPS_SERVER, HEALOPS_TOKEN,
 * HEALOPS_CA_FILE. Exit codes: 0 ok, 1 the server refused or failed,
 * 2 bad usage, 3 the server could not be reached.
 */
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cjson/cJSON.h>
#include <curl/curl.h>

#include "buf.h"
#include "config.h"
#include "ctl.h"
#include "httpc.h"
#include "log.h"
#include "mem.h"

struct ctl_config {
    char *server;
    char *token;
    char *ca_file;
    char *agent;
    char *package;
    char *check;
    char *outcome;
    char *since;
    char *until;
    char *manual;
    long long limit;
    char *cursor;
    char *kind;
    char *state;
    int json;
};

#define OPT(k, f, t, field, lo, hi, mv, h)                                                     \
    {k, f, t, offsetof(struct ctl_config, field), lo, hi, mv, h}

static const struct config_option ctl_options[] = {
    OPT("server", "--server", CONFIG_STRING, server, 0, 2048, "URL",
        "server base URL (or HEALOPS_SERVER)"),
    OPT("token", "--token", CONFIG_STRING, token, 0, 255, "TOKEN",
        "read or admin token (or HEALOPS_TOKEN)"),
    OPT("ca_file", "--ca-file", CONFIG_STRING, ca_file, 0, 4096, "FILE",
        "CA that signed the server certificate (or HEALOPS_CA_FILE)"),
    OPT("agent", "--agent", CONFIG_STRING, agent, 0, 255, "ID|NAME", "filter: agent"),
    OPT("package", "--package", CONFIG_STRING, package, 0, 255, "NAME", "filter: package"),
    OPT("check", "--check", CONFIG_STRING, check, 0, 255, "NAME", "filter: check"),
    OPT("outcome", "--outcome", CONFIG_STRING, outcome, 0, 16, "OUTCOME",
        "filter: ok, repaired, failed or error"),
    OPT("since", "--since", CONFIG_STRING, since, 0, 40, "TIME", "filter: RFC 3339 start"),
    OPT("until", "--until", CONFIG_STRING, until, 0, 40, "TIME", "filter: RFC 3339 end"),
    OPT("manual", "--manual", CONFIG_STRING, manual, 0, 5, "true|false", "filter: manual runs"),
    OPT("limit", "--limit", CONFIG_INT, limit, 1, 1000, "N", "rows per page (default 50)"),
    OPT("cursor", "--cursor", CONFIG_STRING, cursor, 0, 127, "CURSOR",
        "next page (from the previous answer)"),
    OPT("kind", "--kind", CONFIG_STRING, kind, 0, 32, "KIND",
        "alerts: failed, silent, flapping, guard_exhausted or stale"),
    OPT("state", "--state", CONFIG_STRING, state, 0, 16, "open|resolved", "alerts: open or resolved"),
    OPT("json", "--json", CONFIG_BOOL, json, 0, 0, NULL, "print the server's JSON"),
};
#define NOPTS (sizeof(ctl_options) / sizeof(ctl_options[0]))

static const char ctl_usage[] =
    "usage: healopsctl [--server URL] [--token TOKEN] [--ca-file FILE] COMMAND [filters] [--json]\n"
    "commands: runs | repairs | state | agents | alerts | insights\n"
    "  healopsctl keygen PREFIX\n"
    "  healopsctl package init NAME | lint DIR | build DIR [-o FILE] | sign BUNDLE --key FILE\n"
    "  healopsctl package publish BUNDLE [--signature FILE] | show NAME [--json]\n"
    "  healopsctl packages [--json]\n"
    "  healopsctl assign NAME --version V|latest [--selector KEY=VALUE]... [--rollout PERCENT]\n"
    "  (each of these has its own --help)";

static void ctl_env(char **slot, const char *var)
{
    const char *v = getenv(var);

    if (*slot == NULL && v != NULL && v[0] != '\0')
        *slot = xstrdup(v);
}

static enum ho_code ctl_add_param(struct buf *b, const char *key, const char *val)
{
    char *esc;
    enum ho_code rc;

    if (val == NULL)
        return HO_OK;
    esc = curl_easy_escape(NULL, val, 0);
    if (esc == NULL)
        return HO_EINVAL;
    rc = buf_printf(b, "%s%s=%s", strchr(b->data, '?') ? "&" : "?", key, esc);
    curl_free(esc);
    return rc;
}

static char *ctl_url(const struct ctl_config *c, const char *cmd)
{
    struct buf b;
    char limit[24];
    int history = strcmp(cmd, "runs") == 0 || strcmp(cmd, "repairs") == 0;
    int insights = strcmp(cmd, "insights") == 0, alerts = strcmp(cmd, "alerts") == 0;
    enum ho_code rc;

    buf_init(&b, 8192);
    snprintf(limit, sizeof(limit), "%lld", c->limit);
    rc = buf_printf(&b, "%s/api/v1/%s", c->server, cmd);
    if (rc == HO_OK && strcmp(cmd, "agents") != 0)
        rc = ctl_add_param(&b, "agent", c->agent) | ctl_add_param(&b, "package", c->package) |
             ctl_add_param(&b, "check", c->check) | ctl_add_param(&b, "outcome", c->outcome);
    if (rc == HO_OK)
        rc = ctl_add_param(&b, "kind", c->kind) | ctl_add_param(&b, "state", c->state);
    if (rc == HO_OK && (history || insights || alerts))
        rc = ctl_add_param(&b, "since", c->since) | ctl_add_param(&b, "until", c->until);
    if (rc == HO_OK && history)
        rc = ctl_add_param(&b, "manual", c->manual);
    if (rc == HO_OK)
        rc = ctl_add_param(&b, "limit", limit) | ctl_add_param(&b, "cursor", c->cursor);
    if (rc != HO_OK) {
        buf_cleanup(&b);
        return NULL;
    }
    return buf_take(&b);
}

static const char *ctl_str(const cJSON *o, const char *key)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);

    if (cJSON_IsString(v))
        return v->valuestring;
    if (cJSON_IsBool(v))
        return cJSON_IsTrue(v) ? "yes" : "no";
    return "-";
}

static const char *ctl_step(const cJSON *run, const char *step)
{
    return ctl_str(cJSON_GetObjectItemCaseSensitive(run, step), "status");
}

static double ctl_num(const cJSON *o, const char *key)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);

    return cJSON_IsNumber(v) ? v->valuedouble : -1.0;
}

/* One line per check: failures, repairs and how well they work. */
static void ctl_print_insights(const cJSON *root)
{
    const cJSON *it, *names;
    char rate[16], mttr[24];

    printf("%-16s %-28s %6s %8s %7s %7s %10s %s\n", "PACKAGE", "CHECK", "AGENTS", "FAILURES",
           "REPAIRS", "SUCCESS", "RECOVERY", "FLAPPING ON");
    cJSON_ArrayForEach(it, cJSON_GetObjectItemCaseSensitive(root, "checks"))
    {
        const cJSON *n;
        double r = ctl_num(it, "repair_success_rate"), t = ctl_num(it, "mean_time_to_recovery_s");

        snprintf(rate, sizeof(rate), r < 0 ? "-" : "%.0f%%", r * 100.0);
        snprintf(mttr, sizeof(mttr), t < 0 ? "-" : "%.0f s", t);
        printf("%-16s %-28s %6.0f %8.0f %7.0f %7s %10s ", ctl_str(it, "package"),
               ctl_str(it, "check"), ctl_num(it, "agents"), ctl_num(it, "failures"),
               ctl_num(it, "repairs_attempted"), rate, mttr);
        names = cJSON_GetObjectItemCaseSensitive(it, "flapping_agents");
        if (cJSON_GetArraySize(names) == 0)
            printf("-");
        cJSON_ArrayForEach(n, names)
        {
            printf("%s%s", n == names->child ? "" : ",", cJSON_IsString(n) ? n->valuestring : "?");
        }
        printf("\n");
    }
}

static int ctl_colour; /* 1: stdout is a terminal and NO_COLOR is not set */

/* The ANSI colour of an outcome, status or severity; "" when none or off. */
static const char *ctl_tint(const char *word)
{
    static const struct {
        const char *word, *sgr;
    } tints[] = {{"ok", "\033[32m"},       {"repaired", "\033[33m"}, {"failed", "\033[31m"},
                 {"error", "\033[35m"},    {"critical", "\033[31m"}, {"warning", "\033[33m"},
                 {"open", "\033[31m"},     {"resolved", "\033[32m"}, {"yes", "\033[33m"}};
    size_t i;

    for (i = 0; ctl_colour && i < sizeof(tints) / sizeof(tints[0]); i++) {
        if (strcmp(word, tints[i].word) == 0)
            return tints[i].sgr;
    }
    return "";
}

/* Prints word padded to width, in its colour on a terminal, then a space. */
static void ctl_cell(const char *word, int width)
{
    const char *sgr = ctl_tint(word);

    printf("%s%-*s%s ", sgr, width, word, sgr[0] != '\0' ? "\033[0m" : "");
}

/* Open and resolved alerts: state, severity, kind, where, since when, summary. */
static void ctl_print_alerts(const cJSON *root)
{
    const cJSON *it;

    printf("%-6s %-9s %-8s %-15s %-16s %-28s %-24s %s\n", "ID", "STATE", "SEVERITY", "KIND",
           "AGENT", "CHECK", "OPENED", "SUMMARY");
    cJSON_ArrayForEach(it, cJSON_GetObjectItemCaseSensitive(root, "alerts"))
    {
        printf("%-6.0f ", ctl_num(it, "id"));
        ctl_cell(ctl_str(it, "state"), 9);
        ctl_cell(ctl_str(it, "severity"), 8);
        printf("%-15s %-16s %-28s %-24s %s\n", ctl_str(it, "kind"), ctl_str(it, "agent"),
               ctl_str(it, "check"), ctl_str(it, "opened_at"), ctl_str(it, "summary"));
    }
}

static void ctl_print_table(const char *cmd, const cJSON *root)
{
    const cJSON *it, *list;
    int history = strcmp(cmd, "runs") == 0 || strcmp(cmd, "repairs") == 0;

    if (strcmp(cmd, "insights") == 0 || strcmp(cmd, "alerts") == 0) {
        if (cmd[0] == 'i')
            ctl_print_insights(root);
        else
            ctl_print_alerts(root);
        if (cJSON_IsString(cJSON_GetObjectItemCaseSensitive(root, "next_cursor")))
            printf("more: --cursor %s\n", ctl_str(root, "next_cursor"));
        return;
    }
    list = cJSON_GetObjectItemCaseSensitive(root, history ? "runs"
                                                  : strcmp(cmd, "state") == 0 ? "states"
                                                                               : "agents");
    if (history)
        printf("%-24s %-16s %-28s %-9s %-9s %-10s %-9s\n", "STARTED", "AGENT", "CHECK",
               "OUTCOME", "TEST", "REPAIR", "RETEST");
    else if (strcmp(cmd, "state") == 0)
        printf("%-16s %-28s %-9s %-24s %-24s %s\n", "AGENT", "CHECK", "OUTCOME", "LAST RUN",
               "LAST OK", "STALE");
    else
        printf("%-20s %-36s %-10s %-24s %s\n", "NAME", "ID", "VERSION", "LAST SEEN", "SILENT");
    cJSON_ArrayForEach(it, list)
    {
        if (history) {
            printf("%-24s %-16s %-28s ", ctl_str(it, "started_at"), ctl_str(it, "agent"),
                   ctl_str(it, "check"));
            ctl_cell(ctl_str(it, "outcome"), 9);
            printf("%-9s %-10s %-9s\n", ctl_step(it, "test"), ctl_step(it, "repair"),
                   ctl_step(it, "retest"));
        } else if (strcmp(cmd, "state") == 0) {
            printf("%-16s %-28s ", ctl_str(it, "agent"), ctl_str(it, "check"));
            ctl_cell(ctl_str(it, "outcome"), 9);
            printf("%-24s %-24s %s\n", ctl_str(it, "last_run_at"), ctl_str(it, "last_ok_at"),
                   ctl_str(it, "stale"));
        } else
            printf("%-20s %-36s %-10s %-24s %s\n", ctl_str(it, "name"), ctl_str(it, "agent_id"),
                   ctl_str(it, "version"), ctl_str(it, "last_seen"), ctl_str(it, "silent"));
    }
    if (cJSON_IsString(cJSON_GetObjectItemCaseSensitive(root, "next_cursor")))
        printf("more: --cursor %s\n", ctl_str(root, "next_cursor"));
}

static int ctl_query(const struct ctl_config *c, const char *cmd)
{
    struct httpc_opts o = {c->ca_file, NULL, NULL, 30000, 10000, 0};
    struct httpc_response resp = {0};
    struct httpc *hc = NULL;
    struct ho_error err;
    char *url = ctl_url(c, cmd);
    cJSON *root = NULL;
    int ret = 1;

    ho_error_clear(&err);
    if (url == NULL || httpc_new(&o, &hc) != HO_OK) {
        fprintf(stderr, "healopsctl: bad filter value\n");
        ret = 2;
        goto out;
    }
    if (httpc_request(hc, "GET", url, c->token, NULL, NULL, 0, NULL, 512u * 1024 * 1024, &resp,
                      &err) != HO_OK) {
        fprintf(stderr, "healopsctl: %s: %s\n", c->server, err.msg);
        ret = 3;
        goto out;
    }
    root = cJSON_ParseWithLength(resp.body, resp.body_len);
    if (resp.status != 200) {
        const char *field = root != NULL ? ctl_str(root, "field") : "-";

        fprintf(stderr, "healopsctl: server answered %ld: %s%s%s\n", resp.status,
                strcmp(field, "-") != 0 ? field : "", strcmp(field, "-") != 0 ? ": " : "",
                root != NULL ? ctl_str(root, "error") : "?");
    } else if (root == NULL) {
        fprintf(stderr, "healopsctl: the server's answer is not JSON\n");
    } else {
        if (c->json)
            printf("%s\n", resp.body);
        else
            ctl_print_table(cmd, root);
        ret = 0;
    }
out:
    cJSON_Delete(root);
    httpc_response_cleanup(&resp);
    httpc_free(hc);
    free(url);
    return ret;
}

int main(int argc, char **argv)
{
    struct ctl_config c;
    struct config_cli cli;
    struct ho_error err;
    const char *cmd;
    int ret = 2;

    log_init("healopsctl", LOG_LEVEL_WARN);
    if (ctl_package_is_command(argc - 1, argv + 1))
        return ctl_package_main(argc - 1, argv + 1);
    memset(&c, 0, sizeof(c));
    c.limit = 50;
    ho_error_clear(&err);
    if (config_parse(ctl_options, NOPTS, &c, argc - 1, argv + 1, &cli, &err) != HO_OK) {
        fprintf(stderr, "healopsctl: %s: %s\n", err.field, err.msg);
        goto out;
    }
    if (cli.version && !cli.help) {
        printf("%s %s (%s)\n", "healopsctl", HO_VERSION, HO_COMMIT);
        ret = 0;
        goto out;
    }
    if (cli.help) {
        config_print_help(stdout, ctl_usage, ctl_options, NOPTS);
        ret = 0;
        goto out;
    }
    ctl_env(&c.server, "HEALOPS_SERVER");
    ctl_env(&c.token, "HEALOPS_TOKEN");
    ctl_env(&c.ca_file, "HEALOPS_CA_FILE");
    cmd = cli.npositional == 1 ? cli.positional[0] : "";
    if (strcmp(cmd, "runs") != 0 && strcmp(cmd, "repairs") != 0 && strcmp(cmd, "state") != 0 &&
        strcmp(cmd, "agents") != 0 && strcmp(cmd, "insights") != 0 &&
        strcmp(cmd, "alerts") != 0) {
        fprintf(stderr, "%s\n", ctl_usage);
        goto out;
    }
    if (c.server == NULL || c.token == NULL) {
        fprintf(stderr, "healopsctl: needs --server and --token (or HEALOPS_SERVER, "
                        "HEALOPS_TOKEN)\n");
        goto out;
    }
    ctl_colour = isatty(STDOUT_FILENO) && getenv("NO_COLOR") == NULL;
    httpc_global_init();
    ret = ctl_query(&c, cmd);
    httpc_global_cleanup();
out:
    free(cli.positional);
    config_free(ctl_options, NOPTS, &c);
    return ret;
}
