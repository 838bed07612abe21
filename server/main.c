/*
 * healops-server: the HTTPS API, the store, and the offline admin commands
 * (DESIGN.md section 10a):
 *   healops-server [options]                      serve
 *   healops-server token create --scope S ...     print a new token
 */
#include <signal.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "alerts.h"
#include "api_packages.h"
#include "app.h"
#include "clock.h"
#include "config.h"
#include "crypto.h"
#include "forward.h"
#include "http.h"
#include "httpc.h"
#include "json_arena.h"
#include "authlimit.h"
#include "log.h"
#include "retention.h"
#include "rollout_watch.h"
#include "mem.h"
#include "receiver.h"
#include "store.h"
#include "urlsign.h"

#define OPT(k, f, t, field, lo, hi, mv, h)                                                     \
    {k, f, t, offsetof(struct server_config, field), lo, hi, mv, h}

static const struct config_option server_options[] = {
    OPT("listen", "--listen", CONFIG_STRING, listen, 0, 300, "HOST:PORT",
        "address to serve HTTPS on (default 0.0.0.0:8443)"),
    OPT("db", "--db", CONFIG_STRING, db, 0, 4096, "FILE", "SQLite database file"),
    OPT("tls.cert", "--tls-cert", CONFIG_STRING, tls_cert, 0, 4096, "FILE",
        "PEM server certificate (chain)"),
    OPT("tls.key", "--tls-key", CONFIG_STRING, tls_key, 0, 4096, "FILE", "PEM private key"),
    OPT("tls.client_ca", "--tls-client-ca", CONFIG_STRING, tls_client_ca, 0, 4096, "FILE",
        "require client certificates signed by this CA (not supported yet)"),
    OPT("log_level", "--log-level", CONFIG_STRING, log_level, 0, 16, "LEVEL",
        "error, warn, info or debug"),
    OPT("public_url", "--public-url", CONFIG_STRING, public_url, 0, 2048, "URL",
        "URL agents and people use to reach this server"),
    OPT("limits.max_body_bytes", "--max-body-bytes", CONFIG_INT, max_body_bytes, 1024,
        1024LL * 1024 * 1024, "BYTES", "largest request body (default 16 MiB)"),
    OPT("limits.max_batch_runs", "--max-batch-runs", CONFIG_INT, max_batch_runs, 1, RUN_MAX_BATCH,
        "N", "most runs in one POST /runs (default 1000)"),
    OPT("limits.max_connections", "--max-connections", CONFIG_INT, max_connections, 16, 200000,
        "N", "most concurrent connections (default 20000)"),
    OPT("limits.auth_failures", "--auth-failures", CONFIG_INT, auth_failures, 0, 100000, "N",
        "failed authentications per minute from one address before it is refused; 0 = no "
        "limit (default 30)"),
    OPT("limits.auth_block", "--auth-block", CONFIG_INT, auth_block, 1, 86400, "SECONDS",
        "how long such an address is refused with 429 (default 60)"),
    OPT("threads", "--threads", CONFIG_INT, threads, 1, 64, "N",
        "HTTP worker threads (default 4)"),
    OPT("alerting.agent_silent_after", "--agent-silent-after", CONFIG_INT, agent_silent_after, 10,
        30 * 86400, "SECONDS", "an agent unheard of this long is silent (default 180)"),
    OPT("forwarders", NULL, CONFIG_RAW, forwarders, 0, 1024 * 1024, NULL,
        "metric forwarders: [{\"type\": \"opentsdb|influxdb|graphite\", ...}]"),
    OPT("series_days", "--series-days", CONFIG_INT, series_days, 1, 3650, "DAYS",
        "keep metric points this long for graphs (default 7)"),
    OPT("receivers", NULL, CONFIG_RAW, receivers, 0, 1024 * 1024, NULL,
        "alert receivers: [{\"name\", \"type\": \"webhook|pagerduty|opsgenie|slack|alertmanager\", "
        "...}]"),
    OPT("alerting.after_failures", NULL, CONFIG_INT, alert_after_failures, 1, 1000, "N",
        "failed or error runs in a row that open an alert (default 1)"),
    OPT("alerting.repeat_every", NULL, CONFIG_INT, alert_repeat_every, 0, 30 * 86400, "SECONDS",
        "send an open alert again at most this often, 0 never (default 3600)"),
    OPT("alerting.flapping.repairs", NULL, CONFIG_INT, alert_flap_repairs, 1, 1000000, "N",
        "more repairs than this in the window is flapping (default 5)"),
    OPT("alerting.flapping.window", NULL, CONFIG_INT, alert_flap_window, 60, 30 * 86400,
        "SECONDS", "the flapping window (default 3600)"),
    OPT("alerting.stale", NULL, CONFIG_BOOL, alert_stale, 0, 0, NULL,
        "alert on checks without a run for 2 x interval (default true)"),
    OPT("alerting.evaluate_every", NULL, CONFIG_INT, alert_evaluate_every, 1, 3600, "SECONDS",
        "how often silent, stale, flapping and repeats are checked (default 5)"),
    OPT("alerting.alertmanager_resend", NULL, CONFIG_INT, alert_am_resend, 10, 3600, "SECONDS",
        "re-send open alerts to Alertmanager this often (default 60)"),
    OPT("retention_days", "--retention-days", CONFIG_INT, retention_days, 0, 36500, "DAYS",
        "delete runs older than this; 0 keeps them forever (default 90)"),
    OPT("url_signing_key_file", "--url-signing-key-file", CONFIG_STRING, url_signing_key_file,
        0, 4096, "FILE", "key of signed graph links (default: DB.url-key, made on first start)"),
    OPT("graph_link_ttl", "--graph-link-ttl", CONFIG_INT, graph_link_ttl, 60, 366 * 86400,
        "SECONDS", "signed graph links in alerts stay valid this long (default 604800)"),
    OPT("publisher_keys", "--publisher-key", CONFIG_LIST, publisher_keys, 0, 0, "FILE",
        "publisher public key (.pub); when any is set, published bundles must be signed"),
    OPT("rollout_check_interval", "--rollout-check-interval", CONFIG_INT, rollout_check_interval,
        1, 3600, "SECONDS", "how often rollouts are checked for halting (default 10)"),
    OPT("rollout_min_runs", "--rollout-min-runs", CONFIG_INT, rollout_min_runs, 1, 1000000, "N",
        "runs of a new version before its rollout can be halted (default 5)"),
    OPT("rollout_max_failure_increase", "--rollout-max-failure-increase", CONFIG_RAW,
        rollout_max_failure_increase, 0, 32, "RATE",
        "failure rate rise over the previous version that halts a rollout, 0 to 1 (default 0.25)"),
};
#define NOPTS (sizeof(server_options) / sizeof(server_options[0]))

static const char server_usage[] =
    "usage: healops-server [options]\n"
    "       healops-server token create --scope enroll|read|admin [--db FILE] [--name TEXT]\n"

    "                                   [--expires-in SECONDS]\n"
    "       healops-server backup FILE [--db FILE]   an online, consistent copy of the database\n"
    "       healops-server check [--db FILE]         verify the database's integrity\n"
    "\n"
    "Serves the HealOps API over HTTPS and stores runs in SQLite.\n"
    "'token create' prints a new token on stdout (and nothing else); it is stored hashed.";

static volatile sig_atomic_t server_stop;

static void server_on_signal(int sig)
{
    (void)sig;
    server_stop = 1;
}

static void server_defaults(struct server_config *c)
{
    memset(c, 0, sizeof(*c));
    c->listen = xstrdup("0.0.0.0:8443");
    c->db = xstrdup("/var/lib/healops/healops.db");
    c->tls_cert = xstrdup("/etc/healops/server.pem");
    c->tls_key = xstrdup("/etc/healops/server.key");
    c->log_level = xstrdup("info");
    c->max_body_bytes = 16 * 1024 * 1024;
    c->max_batch_runs = RUN_MAX_BATCH;
    c->max_connections = 20000;
    c->threads = 4;
    c->agent_silent_after = 180;
    c->alert_after_failures = 1;
    c->alert_repeat_every = 3600;
    c->alert_flap_repairs = 5;
    c->alert_flap_window = 3600;
    c->alert_stale = 1;
    c->alert_evaluate_every = 5;
    c->alert_am_resend = 60;
    c->series_days = 7;
    c->retention_days = 90;
    c->graph_link_ttl = 7 * 86400;
    c->auth_failures = 30;
    c->auth_block = 60;
    c->rollout_check_interval = 10;
    c->rollout_min_runs = 5;
}

static int server_apply_log_level(const struct server_config *c)
{
    enum log_level lvl;

    if (log_level_parse(c->log_level, &lvl) != 0) {
        fprintf(stderr, "healops-server: --log-level: must be error, warn, info or debug\n");
        return -1;
    }
    log_set_level(lvl);
    return 0;
}

struct token_opts {
    char *scope;
    char *db;
    char *name;
    long long expires_in;
};

static const struct config_option token_options[] = {
    {"scope", "--scope", CONFIG_STRING, offsetof(struct token_opts, scope), 0, 16, "SCOPE",
     "enroll, read or admin"},
    {"db", "--db", CONFIG_STRING, offsetof(struct token_opts, db), 0, 4096, "FILE",
     "SQLite database file"},
    {"name", "--name", CONFIG_STRING, offsetof(struct token_opts, name), 0, 127, "TEXT",
     "a note on what the token is for"},
    {"expires_in", "--expires-in", CONFIG_INT, offsetof(struct token_opts, expires_in), 0,
     10LL * 365 * 86400, "SECONDS", "expire after this many seconds (default never)"},
};

static int server_token_create(int argc, char **argv, const struct server_config *sc)
{
    struct token_opts o = {NULL, NULL, NULL, 0};
    struct config_cli cli;
    struct ho_error err;
    struct store *st = NULL;
    enum token_scope scope;
    char token[CRYPTO_TOKEN_LEN], hash[CRYPTO_SHA256_HEX_LEN];
    int64_t id, now = clock_wall_ms();
    int ret = 1;

    o.db = xstrdup(sc->db);
    ho_error_clear(&err);
    if (config_parse(token_options, 4, &o, argc, argv, &cli, &err) != HO_OK) {
        fprintf(stderr, "healops-server token create: %s: %s\n", err.field, err.msg);
        goto out;
    }
    if (cli.help || cli.npositional != 0) {
        config_print_help(cli.help ? stdout : stderr, server_usage, token_options, 4);
        ret = cli.help ? 0 : 1;
        goto out;
    }
    if (o.scope == NULL || token_scope_parse(o.scope, &scope) != HO_OK ||
        scope == TOKEN_SCOPE_AGENT) {
        fprintf(stderr, "healops-server token create: --scope must be enroll, read or admin\n");
        goto out;
    }
    if (store_open(o.db, &st, &err) != HO_OK) {
        fprintf(stderr, "healops-server: %s: %s\n", o.db, err.msg);
        goto out;
    }
    if (crypto_token_new(token) != HO_OK) {
        fprintf(stderr, "healops-server: no randomness for a token\n");
        goto out;
    }
    crypto_sha256_hex(token, strlen(token), hash);
    if (store_token_create(st, scope, o.name != NULL ? o.name : "", hash,
                           o.expires_in > 0 ? now + o.expires_in * 1000 : 0, now,
                           &id) != HO_OK) {
        fprintf(stderr, "healops-server: could not store the token\n");
        goto out;
    }
    printf("%s\n", token);
    ret = 0;
out:
    crypto_wipe(token, sizeof(token));
    store_close(st);
    free(cli.positional);
    config_free(token_options, 4, &o);
    return ret;
}

static int server_serve(struct app *app, struct forward_config *fcfg, struct receivers *rs)
{
    struct http_server *srv = NULL;
    struct ho_error err;
    struct sigaction sa;

    ho_error_clear(&err);
    if (store_open(app->cfg.db, &app->store, &err) != HO_OK)
        fatalx("database %s: %s", app->cfg.db, err.msg);
    if (store_open_reader(app->cfg.db, &app->reader, &err) != HO_OK ||
        store_open_reader(app->cfg.db, &app->alerts_reader, &err) != HO_OK ||
        store_open_reader(app->cfg.db, &app->forward_reader, &err) != HO_OK)
        fatalx("database %s: %s", app->cfg.db, err.msg);
    log_info("store: %s schema version %d", app->cfg.db, store_schema_version(app->store));
    if (urlsign_open(app->cfg.url_signing_key_file, app->cfg.db, app->cfg.graph_link_ttl,
                     &app->urlsign, &err) != HO_OK)
        fatalx("%s: %s", err.field, err.msg);
    if (api_packages_init(app, &err) != HO_OK)
        fatalx("%s: %s", err.field, err.msg);
    httpc_global_init();
    if (forward_start(app, fcfg, &app->forward, &err) != HO_OK)
        fatalx("%s", err.msg);
    app->authlimit = authlimit_new((int)app->cfg.auth_failures, 60, (int)app->cfg.auth_block);
    if (retention_start(app, &app->retention, &err) != HO_OK)
        fatalx("%s", err.msg);
    if (rollout_watch_start(app, &app->rollout, &err) != HO_OK)
        fatalx("%s", err.msg);
    app->alerts = alerts_new(app, rs);
    if (alerts_start(app->alerts, &err) != HO_OK)
        fatalx("%s", err.msg);
    if (http_start(app, &srv, &err) != HO_OK)
        fatalx("%s: %s", err.field, err.msg);
    log_info("listening on https://%s (port %d) version=%s", app->cfg.listen, http_port(srv),
             HO_VERSION);
    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = server_on_signal;
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    sa.sa_handler = SIG_IGN;
    sigaction(SIGPIPE, &sa, NULL);
    while (!server_stop)
        pause();
    log_info("shutting down");
    http_stop(srv, 5000);
    alerts_free(app->alerts);
    app->alerts = NULL;
    retention_stop(app->retention); /* before forward_stop: a pass reads the forwarders */
    app->retention = NULL;
    forward_stop(app->forward);
    app->forward = NULL;
    rollout_watch_stop(app->rollout);
    app->rollout = NULL;
    api_packages_cleanup(app);
    authlimit_free(app->authlimit);
    app->authlimit = NULL;
    httpc_global_cleanup();
    urlsign_free(app->urlsign);
    app->urlsign = NULL;
    store_close(app->forward_reader);
    app->forward_reader = NULL;
    store_close(app->alerts_reader);
    app->alerts_reader = NULL;
    store_close(app->reader);
    app->reader = NULL;
    store_close(app->store);
    app->store = NULL;
    log_info("stopped");
    return 0;
}

/* Loads the server's --config FILE (if given) into sc; the rest of argv goes to rest. */
static int server_split_config(int argc, char **argv, struct server_config *sc, char **rest,
                               int *nrest)
{
    const char *file = NULL;
    struct config_cli cli;
    struct ho_error err;
    int i, rc = 0;

    *nrest = 0;
    for (i = 0; i < argc; i++) {
        if (strcmp(argv[i], "--config") == 0 && i + 1 < argc)
            file = argv[++i];
        else if (strncmp(argv[i], "--config=", 9) == 0)
            file = argv[i] + 9;
        else
            rest[(*nrest)++] = argv[i];
    }
    if (file != NULL) {
        char *args[2] = {(char *)(uintptr_t)"--config", (char *)(uintptr_t)file};

        ho_error_clear(&err);
        if (config_parse(server_options, NOPTS, sc, 2, args, &cli, &err) != HO_OK) {
            fprintf(stderr, "healops-server: %s: %s\n", err.field, err.msg);
            rc = -1;
        }
        free(cli.positional);
    }
    return rc;
}

/*
 * token create may name the server's --config FILE: its "db" is then the default
 * database; the other arguments go to token create itself.
 */
static int server_token_args(int argc, char **argv, struct server_config *sc)
{
    char **rest = xcalloc((size_t)argc + 1, sizeof(char *));
    int n, ret = 2;

    if (server_split_config(argc, argv, sc, rest, &n) == 0)
        ret = server_token_create(n, rest, sc);
    free(rest);
    return ret;
}

struct db_opts {
    char *db;
};

static const struct config_option db_options[] = {
    {"db", "--db", CONFIG_STRING, offsetof(struct db_opts, db), 0, 4096, "FILE",
     "SQLite database file"},
};

/* healops-server backup FILE | check, with [--db FILE] [--config FILE]. */
static int server_db_command(const char *cmd, int argc, char **argv, struct server_config *sc)
{
    char **rest = xcalloc((size_t)argc + 1, sizeof(char *));
    struct db_opts o = {NULL};
    struct config_cli cli;
    struct ho_error err;
    char *report = NULL;
    int n, ret = 2, backup = strcmp(cmd, "backup") == 0;

    memset(&cli, 0, sizeof(cli));
    if (server_split_config(argc, argv, sc, rest, &n) != 0)
        goto out;
    o.db = xstrdup(sc->db);
    ho_error_clear(&err);
    if (config_parse(db_options, 1, &o, n, rest, &cli, &err) != HO_OK) {
        fprintf(stderr, "healops-server %s: %s: %s\n", cmd, err.field, err.msg);
        goto out;
    }
    if (cli.help || cli.npositional != (backup ? 1 : 0)) {
        fprintf(cli.help ? stdout : stderr, "usage: healops-server backup FILE [--db FILE] "
                "[--config FILE]\n       healops-server check [--db FILE] [--config FILE]\n");
        ret = cli.help ? 0 : 2;
        goto out;
    }
    if (backup) {
        ret = store_backup_file(o.db, cli.positional[0], &err) == HO_OK ? 0 : 1;
        if (ret == 0)
            printf("backed up %s to %s\n", o.db, cli.positional[0]);
    } else {
        ret = store_check_file(o.db, &report, &err) == HO_OK ? 0 : 1;
        if (report != NULL && report[0] != '\0')
            fputs(report, stdout);
        if (ret == 0)
            printf("%s: ok\n", o.db);
    }
    if (ret != 0)
        fprintf(stderr, "healops-server %s: %s\n", cmd, err.msg);
out:
    free(report);
    free(cli.positional);
    free(o.db);
    free(rest);
    return ret;
}

int main(int argc, char **argv)
{
    struct forward_config *fcfg = NULL;
    struct receivers *rs = NULL;
    struct app app;
    struct config_cli cli = {0};
    struct ho_error err;
    int ret;

    log_init("healops-server", LOG_LEVEL_INFO);
    json_arena_install(); /* before any thread: cJSON's allocation hooks */
    memset(&app, 0, sizeof(app));
    server_defaults(&app.cfg);
    app.started_at_ms = clock_wall_ms();
    if (argc >= 2 && (strcmp(argv[1], "backup") == 0 || strcmp(argv[1], "check") == 0)) {
        ret = server_db_command(argv[1], argc - 2, argv + 2, &app.cfg);
        config_free(server_options, NOPTS, &app.cfg);
        return ret;
    }
    if (argc >= 2 && strcmp(argv[1], "token") == 0) {
        if (argc < 3 || strcmp(argv[2], "create") != 0) {
            fprintf(stderr, "%s\n", server_usage);
            return 2;
        }
        ret = server_token_args(argc - 3, argv + 3, &app.cfg);
        config_free(server_options, NOPTS, &app.cfg);
        return ret;
    }
    ho_error_clear(&err);
    ret = 2;
    if (config_parse(server_options, NOPTS, &app.cfg, argc - 1, argv + 1, &cli, &err) != HO_OK) {
        fprintf(stderr, "healops-server: %s: %s\n", err.field, err.msg);
        goto out;
    }
    if (cli.version && !cli.help) {
        printf("%s %s (%s)\n", "healops-server", HO_VERSION, HO_COMMIT);
        ret = 0;
        goto out;
    }
    if (cli.help) {
        config_print_help(stdout, server_usage, server_options, NOPTS);
        ret = 0;
        goto out;
    }
    if (cli.npositional != 0) {
        fprintf(stderr, "healops-server: unexpected argument \"%s\" (see --help)\n",
                cli.positional[0]);
        goto out;
    }
    if (server_apply_log_level(&app.cfg) != 0)
        goto out;
    if (rollout_watch_check_config(&app.cfg, &err) != HO_OK) {
        fprintf(stderr, "healops-server: %s: %s\n", err.field, err.msg);
        goto out;
    }
    if (receivers_parse(app.cfg.receivers,
                        app.cfg.receivers != NULL ? strlen(app.cfg.receivers) : 0, &rs,
                        &err) != HO_OK) {
        fprintf(stderr, "healops-server: %s: %s\n", err.field, err.msg);
        goto out;
    }
    if (forward_config_parse(app.cfg.forwarders,
                             app.cfg.forwarders != NULL ? strlen(app.cfg.forwarders) : 0, &fcfg,
                             &err) != HO_OK) {
        fprintf(stderr, "healops-server: %s: %s\n", err.field, err.msg);
        receivers_free(rs);
        goto out;
    }
    ret = server_serve(&app, fcfg, rs); /* takes fcfg and rs */
out:
    free(cli.positional);
    config_free(server_options, NOPTS, &app.cfg);
    return ret;
}
