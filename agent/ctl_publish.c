/*
 * healopsctl package commands that talk to the server's admin API (DESIGN.md
 * section 6, the package contract): package publish (POST /api/v1/packages
 * with the bundle as the body and its signature in X-HealOps-Signature),
 * assign (PUT /api/v1/assignments/NAME), packages and package show
 * (GET /api/v1/packages[/NAME]); tables, or the server's JSON with --json.
 * The command line is parsed in ctl_package.c.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>
#include <curl/curl.h>

#include "bundle.h"
#include "ctl.h"
#include "httpc.h"
#include "log.h"
#include "manifest.h"
#include "mem.h"
#include "parse.h"
#include "sign.h"

#define CTL_SIG_FILE_MAX 1024                 /* bytes of a signature file */
#define CTL_MAX_RESPONSE (64u * 1024 * 1024) /* bytes of an answer */

struct ctl_answer {
    long status;
    char *body; /* owned */
    size_t len;
    cJSON *root; /* parsed body, NULL when not JSON */
};

static void answer_cleanup(struct ctl_answer *r)
{
    cJSON_Delete(r->root);
    free(r->body);
    memset(r, 0, sizeof(*r));
}

/*
 * One request to SERVER/api/v1PATH. header (may be NULL) is one extra header
 * line. CTL_EXIT_OK with *ans filled for any HTTP answer, else an exit status.
 */
static int ctl_request(const struct ctl_pkg_global *g, const char *method, const char *path,
                       const char *ctype, const void *body, size_t len, const char *header,
                       struct ctl_answer *ans)
{
    struct httpc_opts o = {g->ca_file, NULL, NULL, 120000, 10000, 0};
    struct httpc_response resp = {0};
    struct httpc *hc = NULL;
    struct ho_error err;
    size_t n = strlen(g->server);
    char *url;
    int ret = CTL_EXIT_OK;

    memset(ans, 0, sizeof(*ans));
    while (n > 0 && g->server[n - 1] == '/')
        n--;
    url = xasprintf("%.*s/api/v1%s", (int)n, g->server, path);
    ho_error_clear(&err);
    if (httpc_new(&o, &hc) != HO_OK ||
        (header != NULL && httpc_set_headers(hc, &header, 1) != HO_OK)) {
        fprintf(stderr, "healopsctl: cannot set up the HTTP client\n");
        ret = CTL_EXIT_FAIL;
    } else if (httpc_request(hc, method, url, g->token, ctype, body, len, NULL,
                             CTL_MAX_RESPONSE, &resp, &err) != HO_OK) {
        fprintf(stderr, "healopsctl: %s: %s\n", g->server, err.msg);
        ret = CTL_EXIT_UNREACHABLE;
    } else {
        ans->status = resp.status;
        ans->body = resp.body;
        ans->len = resp.body_len;
        resp.body = NULL;
        ans->root = cJSON_ParseWithLength(ans->body, ans->len);
    }
    httpc_response_cleanup(&resp);
    httpc_free(hc);
    free(url);
    return ret;
}

static const char *jstr(const cJSON *o, const char *key)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);

    if (cJSON_IsString(v))
        return v->valuestring;
    if (cJSON_IsBool(v))
        return cJSON_IsTrue(v) ? "yes" : "no";
    return "-";
}

static long long jnum(const cJSON *o, const char *key, long long dflt)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);

    return cJSON_IsNumber(v) ? (long long)v->valuedouble : dflt;
}

/* The server's refusal: "server answered 409: FIELD: ERROR". */
static int server_refused(const struct ctl_answer *ans)
{
    const char *field = ans->root != NULL ? jstr(ans->root, "field") : "-";

    fprintf(stderr, "healopsctl: server answered %ld: %s%s%s\n", ans->status,
            strcmp(field, "-") != 0 && field[0] != '\0' ? field : "",
            strcmp(field, "-") != 0 && field[0] != '\0' ? ": " : "",
            ans->root != NULL ? jstr(ans->root, "error") : "(not JSON)");
    return CTL_EXIT_FAIL;
}

static int need_server(const struct ctl_pkg_global *g)
{
    if (g->server != NULL && g->token != NULL)
        return 1;
    fprintf(stderr, "healopsctl: needs --server and --token (or HEALOPS_SERVER, HEALOPS_TOKEN)\n");
    return 0;
}

/* ---- package publish ---- */

/* Reads and checks a signature file into a new "X-HealOps-Signature: ..." line. */
static int read_signature(const char *path, int must_exist, char **header)
{
    struct ho_error err;
    void *data = NULL;
    size_t len = 0;
    char *s, *e;
    enum ho_code rc;

    *header = NULL;
    ho_error_clear(&err);
    rc = bundle_read_file(path, CTL_SIG_FILE_MAX, &data, &len, &err);
    if (rc == HO_ENOENT && !must_exist)
        return 1;
    if (rc != HO_OK) {
        fprintf(stderr, "healopsctl: signature %s\n", err.msg);
        return 0;
    }
    s = data;
    if (memchr(s, '\0', len) != NULL || !sign_signature_ok(s)) {
        fprintf(stderr, "healopsctl: %s: not an Ed25519 signature in base64\n", path);
        free(data);
        return 0;
    }
    while (*s == ' ' || *s == '\t' || *s == '\n' || *s == '\r')
        s++;
    for (e = s; *e != '\0' && *e != ' ' && *e != '\t' && *e != '\n' && *e != '\r'; e++)
        ;
    *e = '\0';
    *header = xasprintf("X-HealOps-Signature: %s", s);
    free(data);
    return 1;
}

static void print_published(long status, const cJSON *root)
{
    const cJSON *key = cJSON_GetObjectItemCaseSensitive(root, "key_id");

    printf("%s %s %s: sha256 %s, %s%s%s\n",
           status == 201 ? "published" : "already published (same bytes)", jstr(root, "name"),
           jstr(root, "version"), jstr(root, "sha256"),
           cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(root, "signed")) ? "signed" : "unsigned",
           cJSON_IsString(key) ? " by key " : "", cJSON_IsString(key) ? key->valuestring : "");
}

int ctl_publish(const struct ctl_pkg_args *a)
{
    struct ctl_answer ans;
    struct manifest m;
    char *sig_path, *header = NULL;
    void *data = NULL;
    size_t len = 0;
    int ret;

    if (a->npos != 1)
        return ctl_usage_error("package publish needs BUNDLE");
    if (!need_server(&a->g))
        return CTL_EXIT_USAGE;
    if (!ctl_read_bundle(a->pos[0], &data, &len, &m))
        return CTL_EXIT_FAIL;
    sig_path = a->signature != NULL ? xstrdup(a->signature) : xasprintf("%s.sig", a->pos[0]);
    if (!read_signature(sig_path, a->signature != NULL, &header)) {
        ret = CTL_EXIT_FAIL;
        goto out;
    }
    ret = ctl_request(&a->g, "POST", "/packages", "application/gzip", data, len, header, &ans);
    if (ret != CTL_EXIT_OK)
        goto out;
    if (a->g.json && ans.root != NULL)
        printf("%s\n", ans.body);
    if ((ans.status == 201 || ans.status == 200) && ans.root != NULL) {
        if (!a->g.json)
            print_published(ans.status, ans.root);
    } else {
        ret = server_refused(&ans);
    }
    answer_cleanup(&ans);
out:
    manifest_cleanup(&m);
    free(header);
    free(sig_path);
    free(data);
    return ret;
}

/* ---- assign ---- */

/* Builds the PUT /assignments body; NULL after printing a usage error. */
static char *assign_body(const struct ctl_pkg_args *a)
{
    cJSON *root = cJSON_CreateObject(), *sel = cJSON_AddObjectToObject(root, "selector");
    uint64_t pct = 100;
    char *key, *eq, *out = NULL;
    int i;

    if (a->rollout != NULL && parse_u64(a->rollout, 0, 100, &pct) != HO_OK) {
        ctl_usage_error("--rollout %s: a percentage from 0 to 100", a->rollout);
        goto out;
    }
    for (i = 0; i < a->nselectors; i++) {
        key = xstrdup(a->selectors[i]);
        eq = strchr(key, '=');
        if (eq == NULL || eq == key) {
            ctl_usage_error("--selector %s: needs KEY=VALUE", a->selectors[i]);
            free(key);
            goto out;
        }
        *eq = '\0';
        if (cJSON_GetObjectItemCaseSensitive(sel, key) != NULL) {
            ctl_usage_error("--selector %s: the key is given twice", key);
            free(key);
            goto out;
        }
        cJSON_AddStringToObject(sel, key, eq + 1);
        free(key);
    }
    cJSON_AddStringToObject(root, "version", a->version);
    cJSON_AddNumberToObject(root, "rollout_percent", (double)pct);
    out = cJSON_PrintUnformatted(root);
out:
    cJSON_Delete(root);
    return out;
}

static void print_selector(const cJSON *sel)
{
    const cJSON *it;
    int first = 1;

    cJSON_ArrayForEach(it, sel)
    {
        printf("%s%s=%s", first ? "" : ",", it->string,
               cJSON_IsString(it) ? it->valuestring : "?");
        first = 0;
    }
    if (first)
        printf("(every agent)");
}

static void print_assignment(const cJSON *as)
{
    const cJSON *prev = cJSON_GetObjectItemCaseSensitive(as, "previous_version");

    printf("version %s (resolved %s), rollout %lld%%, previous %s, selector ",
           jstr(as, "version"), jstr(as, "resolved_version"), jnum(as, "rollout_percent", 100),
           cJSON_IsString(prev) ? prev->valuestring : "none");
    print_selector(cJSON_GetObjectItemCaseSensitive(as, "selector"));
    if (cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(as, "halted")))
        printf("\nHALTED at %s: %s", jstr(as, "halted_at"), jstr(as, "halt_reason"));
    printf("\n");
}

static char *escaped(const char *s)
{
    char *e = curl_easy_escape(NULL, s, 0), *out;

    if (e == NULL)
        fatalx("healopsctl: out of memory");
    out = xstrdup(e);
    curl_free(e);
    return out;
}

int ctl_assign(const struct ctl_pkg_args *a)
{
    struct ctl_answer ans;
    char *body, *path, *name;
    int ret;

    if (a->npos != 1 || a->version == NULL)
        return ctl_usage_error("assign needs NAME --version V|latest");
    if (!need_server(&a->g))
        return CTL_EXIT_USAGE;
    body = assign_body(a);
    if (body == NULL)
        return CTL_EXIT_USAGE;
    name = escaped(a->pos[0]);
    path = xasprintf("/assignments/%s", name);
    ret = ctl_request(&a->g, "PUT", path, "application/json", body, strlen(body), NULL, &ans);
    if (ret == CTL_EXIT_OK) {
        if (ans.status != 200 || ans.root == NULL) {
            ret = server_refused(&ans);
        } else if (a->g.json) {
            printf("%s\n", ans.body);
        } else {
            printf("assigned %s: ", a->pos[0]);
            print_assignment(ans.root);
        }
        answer_cleanup(&ans);
    }
    free(path);
    free(name);
    free(body);
    return ret;
}

/* ---- packages, package show ---- */

static void print_packages(const cJSON *root)
{
    const cJSON *it, *as;

    printf("%-24s %-12s %-8s %-24s %s\n", "NAME", "LATEST", "VERSIONS", "ASSIGNED",
           "DESCRIPTION");
    cJSON_ArrayForEach(it, cJSON_GetObjectItemCaseSensitive(root, "packages"))
    {
        char assigned[64] = "-";

        as = cJSON_GetObjectItemCaseSensitive(it, "assignment");
        if (cJSON_IsObject(as))
            snprintf(assigned, sizeof(assigned), "%s@%lld%%%s", jstr(as, "resolved_version"),
                     jnum(as, "rollout_percent", 100),
                     cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(as, "halted")) ? " HALTED"
                                                                                   : "");
        printf("%-24s %-12s %-8lld %-24s %s\n", jstr(it, "name"), jstr(it, "latest"),
               jnum(it, "versions", 0), assigned, jstr(it, "description"));
    }
}

static void print_package(const cJSON *root)
{
    const cJSON *it, *c, *as = cJSON_GetObjectItemCaseSensitive(root, "assignment");
    int first;

    printf("package %s\n\n%-14s %-24s %-6s %-16s %-12s %s\n", jstr(root, "name"), "VERSION",
           "PUBLISHED", "SIGNED", "KEY", "SHA256", "CHECKS");
    cJSON_ArrayForEach(it, cJSON_GetObjectItemCaseSensitive(root, "versions"))
    {
        printf("%-14s %-24s %-6s %-16s %-12.12s ", jstr(it, "version"), jstr(it, "published_at"),
               jstr(it, "signed"), jstr(it, "key_id"), jstr(it, "sha256"));
        first = 1;
        cJSON_ArrayForEach(c, cJSON_GetObjectItemCaseSensitive(it, "checks"))
        {
            printf("%s%s", first ? "" : ",", cJSON_IsString(c) ? c->valuestring : "?");
            first = 0;
        }
        printf("\n");
    }
    printf("\nassignment: ");
    if (cJSON_IsObject(as))
        print_assignment(as);
    else
        printf("none\n");
    printf("\n%-20s %-36s %-12s %-12s %s\n", "AGENT", "ID", "RUNS", "ASSIGNED", "ERROR");
    cJSON_ArrayForEach(it, cJSON_GetObjectItemCaseSensitive(root, "agents"))
        printf("%-20s %-36s %-12s %-12s %s\n", jstr(it, "agent"), jstr(it, "agent_id"),
               jstr(it, "version"), jstr(it, "assigned_version"), jstr(it, "error"));
    if (cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(root, "agents_truncated")))
        printf("(only the first agents are listed)\n");
}

int ctl_list(const struct ctl_pkg_args *a, const char *name)
{
    struct ctl_answer ans;
    char *path, *esc = NULL;
    int ret;

    if (!need_server(&a->g))
        return CTL_EXIT_USAGE;
    if (name != NULL) {
        esc = escaped(name);
        path = xasprintf("/packages/%s", esc);
    } else {
        path = xstrdup("/packages");
    }
    ret = ctl_request(&a->g, "GET", path, NULL, NULL, 0, NULL, &ans);
    if (ret == CTL_EXIT_OK) {
        if (ans.status != 200 || ans.root == NULL)
            ret = server_refused(&ans);
        else if (a->g.json)
            printf("%s\n", ans.body);
        else if (name != NULL)
            print_package(ans.root);
        else
            print_packages(ans.root);
        answer_cleanup(&ans);
    }
    free(path);
    free(esc);
    return ret;
}
