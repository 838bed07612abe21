/*
 * healops-agent: the node agent (DESIGN.md sections 4 and 10a).
 *   healops-agent [options]                       run every check on its schedule
 *   healops-agent --once [options]                every check and stat once, send, exit
 *   healops-agent run PACKAGE/CHECK [--report-only] [--json] [options]
 */
#include <errno.h>
#include <pwd.h>
#include <signal.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "agent.h"
#include "buf.h"
#include "clock.h"
#include "cycle.h"
#include "httpc.h"
#include "log.h"
#include "mem.h"
#include "pkgsync.h"
#include "sign.h"
#include "spool.h"

#define OPT(k, f, t, field, lo, hi, mv, h)                                                     \
    {k, f, t, offsetof(struct agent_config, field), lo, hi, mv, h}

static const struct config_option agent_options[] = {
    OPT("server", "--server", CONFIG_STRING, server, 0, 2048, "URL",
        "HealOps server base URL (https://host:8443)"),
    OPT("ca_file", "--ca-file", CONFIG_STRING, ca_file, 0, 4096, "FILE",
        "CA certificate(s) that signed the server's certificate"),
    OPT("tls_client_cert", "--tls-client-cert", CONFIG_STRING, tls_client_cert, 0, 4096, "FILE",
        "client certificate (PEM) for servers that require one"),
    OPT("tls_client_key", "--tls-client-key", CONFIG_STRING, tls_client_key, 0, 4096, "FILE",
        "private key (PEM) of --tls-client-cert"),
    OPT("state_dir", "--state-dir", CONFIG_STRING, state_dir, 0, 4096, "DIR",
        "identity and spool (default /var/lib/healops-agent)"),
    OPT("name", "--name", CONFIG_STRING, name, 0, 128, "NAME", "node name (default host name)"),
    OPT("labels", "--label", CONFIG_LABELS, labels, 0, 0, "KEY=VALUE",
        "a label of this node; repeat for more"),
    OPT("enroll_token", "--enroll-token", CONFIG_STRING, enroll_token, 0, 255, "TOKEN",
        "enrollment token, used once to get the agent's own token"),
    OPT("enroll_token_file", "--enroll-token-file", CONFIG_STRING, enroll_token_file, 0, 4096,
        "FILE", "read the enrollment token from FILE"),
    OPT("package_dirs", "--package-dir", CONFIG_LIST, package_dirs, 0, 0, "DIR",
        "run the package in this folder; repeat for more"),
    OPT("trust_keys", "--trust-key", CONFIG_LIST, trust_keys, 0, 0, "FILE",
        "publisher public key for package bundles; repeat for more"),
    OPT("package_sync_interval", "--package-sync-interval", CONFIG_INT, package_sync_interval, 1,
        86400, "SECONDS", "how often assigned packages are fetched from the server (default 60)"),
    OPT("log_level", "--log-level", CONFIG_STRING, log_level, 0, 16, "LEVEL",
        "error, warn, info or debug"),
    OPT("test_user", "--test-user", CONFIG_STRING, test_user, 0, 64, "USER",
        "run tests as this user when the agent runs as root"),
    OPT("workers", "--workers", CONFIG_INT, workers, 1, 64, "N",
        "checks run at the same time (default 4)"),
    OPT("splay", "--splay", CONFIG_INT, splay, 0, 86400, "SECONDS",
        "most a check's first run is delayed (default 30)"),
    OPT("heartbeat_interval", "--heartbeat-interval", CONFIG_INT, heartbeat_interval, 5, 3600,
        "SECONDS", "heartbeat period (default 30)"),
    OPT("batch_size", "--batch-size", CONFIG_INT, batch_size, 1, RUN_MAX_BATCH, "N",
        "runs per request (default 100)"),
    OPT("spool.max_items", "--spool-max-items", CONFIG_INT, spool_max_items, 10, 10000000, "N",
        "most runs kept while the server is away (default 100000)"),
    OPT("spool.max_bytes", "--spool-max-bytes", CONFIG_INT, spool_max_bytes, 65536,
        64LL * 1024 * 1024 * 1024, "BYTES", "most bytes kept in the spool (default 256 MiB)"),
    OPT("output_cap", "--output-cap", CONFIG_INT, output_cap, 1024, RUN_MAX_OUTPUT, "BYTES",
        "bytes of output kept per stream (default 65536)"),
    OPT("send_timeout", "--send-timeout", CONFIG_INT, send_timeout, 1, 600, "SECONDS",
        "timeout of one request to the server (default 30)"),
    OPT("host_stats.enabled", "--host-stats", CONFIG_BOOL, host_stats, 0, 0, NULL,
        "collect host stats: load, CPU, memory, disks, network (default false)"),
    OPT("host_stats.interval", "--host-stats-interval", CONFIG_INT, host_stats_interval, 5,
        86400, "SECONDS", "host stats period (default 60)"),
    OPT("once", "--once", CONFIG_BOOL, once, 0, 0, NULL,
        "run every check and stat once, send, and exit"),
    OPT("report_only", "--report-only", CONFIG_BOOL, report_only, 0, 0, NULL,
        "test and report, never repair"),
    OPT("json", "--json", CONFIG_BOOL, json, 0, 0, NULL, "run: print the run as JSON"),
};
#define NOPTS (sizeof(agent_options) / sizeof(agent_options[0]))

static const char agent_usage[] =
    "usage: healops-agent [options]                 run every check on its schedule\n"
    "       healops-agent --once [options]          every check and stat once, send, exit\n"
    "       healops-agent run PACKAGE/CHECK [--report-only] [--json] [options]\n"
    "                                               run one check now; exit with its\n"
    "                                               Nagios code (0 ok .. 3 unknown)";

static void agent_defaults(struct agent_config *c)
{
    char host[256];

    memset(c, 0, sizeof(*c));
    c->state_dir = xstrdup("/var/lib/healops-agent");
    if (gethostname(host, sizeof(host)) != 0)
        snprintf(host, sizeof(host), "localhost");
    host[sizeof(host) - 1] = '\0';
    c->name = xstrdup(host);
    c->log_level = xstrdup("info");
    c->workers = 4;
    c->splay = 30;
    c->heartbeat_interval = 30;
    c->batch_size = 100;
    c->spool_max_items = 100000;
    c->spool_max_bytes = 256LL * 1024 * 1024;
    c->output_cap = RUN_MAX_OUTPUT;
    c->send_timeout = 30;
    c->host_stats_interval = 60;
    c->package_sync_interval = 60;
}

/*
 * The state folder is 0711: others may pass through it (test_user reaches the
 * synced packages in STATE_DIR/packages) but not list it; the identity file
 * and the spool inside stay private (0600, 0700).
 */
static int agent_mkdir(const char *path)
{
    if (mkdir(path, 0711) != 0 && errno != EEXIST) {
        log_warn("cannot create %s", path);
        return -1;
    }
    return 0;
}

/* Loads every --package-dir; invalid ones are reported and skipped. */
static int agent_load_packages(struct agent *ag, int strict)
{
    struct ho_error err;
    size_t i, k, bad = 0;

    ag->packages = xcalloc(ag->cfg.package_dirs.n + 1, sizeof(*ag->packages));
    for (i = 0; i < ag->cfg.package_dirs.n; i++) {
        struct manifest *m = &ag->packages[ag->npackages];
        const char *dir = ag->cfg.package_dirs.items[i];

        ho_error_clear(&err);
        if (manifest_load_dir(dir, m, &err) != HO_OK) {
            fprintf(stderr, "healops-agent: package %s: %s: %s\n", dir, err.field, err.msg);
            bad++;
            continue;
        }
        for (k = 0; k < ag->npackages; k++) {
            if (strcmp(ag->packages[k].name, m->name) == 0)
                break;
        }
        if (k < ag->npackages) {
            fprintf(stderr, "healops-agent: package %s: name \"%s\" already loaded from %s\n",
                    dir, m->name, ag->packages[k].dir);
            manifest_cleanup(m);
            bad++;
            continue;
        }
        log_info("package %s %s: %zu checks and %zu stats from %s", m->name, m->version,
                 m->nchecks, m->nstats, m->dir);
        ag->npackages++;
    }
    if (bad > 0 && strict)
        return -1;
    return 0;
}

/* Loads every --trust-key; a file that is not an Ed25519 public key stops the start. */
static int agent_load_trust_keys(struct agent *ag)
{
    struct ho_error err;
    size_t i;

    ag->trust_keys = xcalloc(ag->cfg.trust_keys.n + 1, sizeof(*ag->trust_keys));
    for (i = 0; i < ag->cfg.trust_keys.n; i++) {
        ho_error_clear(&err);
        if (sign_pubkey_load(ag->cfg.trust_keys.items[i], &ag->trust_keys[i], &err) != HO_OK) {
            fprintf(stderr, "healops-agent: --trust-key %s: %s\n", ag->cfg.trust_keys.items[i],
                    err.msg);
            return -1;
        }
        ag->ntrust_keys++;
    }
    return 0;
}

/* Opens the store of synced packages under the state folder. */
static int agent_open_packages(struct agent *ag)
{
    struct ho_error err;

    ho_error_clear(&err);
    if (pkgsync_new(ag->cfg.state_dir, ag->trust_keys, ag->ntrust_keys, &ag->sync, &err) !=
        HO_OK) {
        fprintf(stderr, "healops-agent: packages: %s\n", err.msg);
        return -1;
    }
    return 0;
}

#define AGENT_DEFAULT_TEST_USER "healops-test"

static int agent_pick_test_user(struct agent *ag)
{
    struct passwd *pw;

    memset(&ag->probe, 0, sizeof(ag->probe));
    ag->probe.node = ag->cfg.name;
    ag->probe.output_cap = (size_t)ag->cfg.output_cap;
    if (geteuid() != 0)
        return 0;
    if (ag->cfg.test_user == NULL) {
        /* the unprivileged user deploy/install.sh makes, when there is one */
        pw = getpwnam(AGENT_DEFAULT_TEST_USER);
        if (pw == NULL) {
            log_warnx("running as root without test_user and no user %s: tests run as root "
                      "too", AGENT_DEFAULT_TEST_USER);
            return 0;
        }
        log_info("tests and stats run as %s (the default test_user)", AGENT_DEFAULT_TEST_USER);
    } else if (strcmp(ag->cfg.test_user, "root") == 0) {
        log_warnx("test_user is root: tests and stats run with every privilege");
        return 0;
    } else {
        pw = getpwnam(ag->cfg.test_user);
    }
    if (pw == NULL) {
        fprintf(stderr, "healops-agent: --test-user: no user \"%s\"\n", ag->cfg.test_user);
        return -1;
    }
    ag->probe.drop_privs = 1;
    ag->probe.test_uid = pw->pw_uid;
    ag->probe.test_gid = pw->pw_gid;
    return 0;
}

/* Who tests and stats run as, and that user's HOME, found once. */
static int agent_setup_user(struct agent *ag)
{
    if (agent_pick_test_user(ag) != 0)
        return -1;
    probe_ctx_home(&ag->probe);
    return 0;
}

static int agent_open_state(struct agent *ag)
{
    struct ho_error err;
    char *dir;
    enum ho_code rc;

    if (agent_mkdir(ag->cfg.state_dir) != 0)
        return -1;
    dir = xasprintf("%s/spool", ag->cfg.state_dir);
    ho_error_clear(&err);
    rc = spool_open(dir, (size_t)ag->cfg.spool_max_items, (size_t)ag->cfg.spool_max_bytes,
                    &ag->spool, &err);
    free(dir);
    if (rc != HO_OK) {
        fprintf(stderr, "healops-agent: spool: %s\n", err.msg);
        return -1;
    }
    rc = identity_load(ag, &err);
    if (rc != HO_OK && rc != HO_ENOENT) {
        fprintf(stderr, "healops-agent: %s: %s\n", err.field, err.msg);
        return -1;
    }
    return 0;
}

static const char *agent_operator(void)
{
    const char *sudo = getenv("SUDO_USER");
    struct passwd *pw;

    if (sudo != NULL && sudo[0] != '\0' && strlen(sudo) < 64)
        return sudo;
    pw = getpwuid(getuid());
    return pw != NULL ? pw->pw_name : "unknown";
}

static void agent_print_run(const struct run *r)
{
    printf("%s/%s: %s\n", r->package, r->check, run_outcome_str(r->outcome));
    printf("  test:   %s%s%s\n", test_status_str((enum test_status)r->test.status),
           r->test.output ? " - " : "", r->test.output ? r->test.output : "");
    if (r->repair.present)
        printf("  repair: %s%s%s\n", repair_status_str((enum repair_status)r->repair.status),
               r->repair.output ? " - " : "", r->repair.output ? r->repair.output : "");
    if (r->retest.present)
        printf("  retest: %s%s%s\n", test_status_str((enum test_status)r->retest.status),
               r->retest.output ? " - " : "", r->retest.output ? r->retest.output : "");
}

/*
 * Sends this one run now when the agent knows a server; on failure it stays in the
 * spool, where the daemon (or the next --once) finds it.
 */
static void agent_try_send(struct agent *ag, const struct run *r, const char *json, size_t len)
{
    struct spool_item item;
    struct httpc *hc = NULL;
    struct ho_error err;
    size_t sent = 0;
    char token[256];

    identity_token(ag, token, sizeof(token));
    if (ag->cfg.server == NULL || sender_client(ag, &hc) != HO_OK)
        return;
    ho_error_clear(&err);
    item.kind = (char *)(uintptr_t)"run";
    item.id = (char *)(uintptr_t)r->id;
    item.data = (char *)(uintptr_t)json;
    item.len = len;
    if (token[0] == '\0' && (ag->cfg.enroll_token == NULL && ag->cfg.enroll_token_file == NULL)) {
        fprintf(stderr, "healops-agent: not enrolled; the run stays in the spool\n");
    } else if (token[0] == '\0' && identity_enroll(ag, hc, &err) != HO_OK) {
        fprintf(stderr, "healops-agent: enroll: %s; the run stays in the spool\n", err.msg);
    } else if (sender_send_items(ag, hc, &item, 1, &sent, &err) != HO_OK) {
        fprintf(stderr, "healops-agent: send: %s; the run stays in the spool\n", err.msg);
    }
    crypto_wipe(token, sizeof(token));
    httpc_free(hc);
}

/* 1 when pkg is the package named by what up to its slash. */
static int agent_is_package(const struct manifest *pkg, const char *what, const char *slash)
{
    return strlen(pkg->name) == (size_t)(slash - what) &&
           strncmp(pkg->name, what, (size_t)(slash - what)) == 0;
}

static int agent_run_one(struct agent *ag, const char *what)
{
    const char *slash = strchr(what, '/');
    const struct manifest_check *c = NULL;
    const struct manifest *pkg = NULL;
    struct manifest **synced = NULL;
    struct ho_error err;
    struct run r;
    struct buf b;
    size_t i, nsynced = 0;
    int code;

    if (ag->sync != NULL)
        pkgsync_load(ag->sync, ag->packages, ag->npackages, &synced, &nsynced);
    for (i = 0; slash != NULL && i < ag->npackages + nsynced; i++) {
        const struct manifest *m = i < ag->npackages ? &ag->packages[i]
                                                     : synced[i - ag->npackages];
        if (agent_is_package(m, what, slash)) {
            pkg = m;
            c = manifest_find_check(pkg, slash + 1);
        }
    }
    if (c == NULL) {
        fprintf(stderr, "healops-agent: run: no check \"%s\" (want PACKAGE/CHECK)\n", what);
        pkgsync_manifests_free(synced, nsynced);
        return 3;
    }
    if (agent_run_check(ag, pkg, c, NULL, 1, agent_operator(), &r) != HO_OK) {
        pkgsync_manifests_free(synced, nsynced);
        return 3;
    }
    pkgsync_manifests_free(synced, nsynced);
    code = cycle_exit_code(&r);
    if (ag->cfg.json) {
        buf_init(&b, 8u * 1024 * 1024);
        if (run_to_json(&r, &b) == HO_OK)
            printf("%s\n", b.data);
        buf_cleanup(&b);
    } else {
        agent_print_run(&r);
    }
    fflush(stdout);
    ho_error_clear(&err);
    buf_init(&b, 8u * 1024 * 1024);
    if (run_to_json(&r, &b) != HO_OK ||
        spool_append(ag->spool, "run", r.id, b.data, b.len, &err) != HO_OK)
        fprintf(stderr, "healops-agent: the run could not be recorded: %s\n", err.msg);
    else
        agent_try_send(ag, &r, b.data, b.len);
    buf_cleanup(&b);
    run_cleanup(&r);
    return code;
}

static void agent_free(struct agent *ag)
{
    size_t i;

    for (i = 0; i < ag->npackages; i++)
        manifest_cleanup(&ag->packages[i]);
    free(ag->packages);
    pkgsync_free(ag->sync);
    for (i = 0; i < ag->ntrust_keys; i++)
        sign_pubkey_free(ag->trust_keys[i]);
    free(ag->trust_keys);
    spool_close(ag->spool);
    crypto_wipe(&ag->id, sizeof(ag->id));
    pthread_mutex_destroy(&ag->id_lock);
    config_free(agent_options, NOPTS, &ag->cfg);
}

/* Mutual TLS: both files or neither, and both readable now rather than at the first send. */
static int agent_check_client_cert(const struct agent *ag)
{
    const char *cert = ag->cfg.tls_client_cert, *key = ag->cfg.tls_client_key;

    if ((cert == NULL) != (key == NULL)) {
        fprintf(stderr, "healops-agent: --tls-client-cert and --tls-client-key go together\n");
        return -1;
    }
    if (cert != NULL && access(cert, R_OK) != 0) {
        fprintf(stderr, "healops-agent: --tls-client-cert: cannot read %s: %s\n", cert,
                strerror(errno));
        return -1;
    }
    if (key != NULL && access(key, R_OK) != 0) {
        fprintf(stderr, "healops-agent: --tls-client-key: cannot read %s: %s\n", key,
                strerror(errno));
        return -1;
    }
    return 0;
}

static int agent_check_config(struct agent *ag, int manual)
{
    enum log_level lvl;
    size_t len;

    if (log_level_parse(ag->cfg.log_level, &lvl) != 0) {
        fprintf(stderr, "healops-agent: --log-level: must be error, warn, info or debug\n");
        return -1;
    }
    log_set_level(lvl);
    if (ag->cfg.server != NULL) {
        len = strlen(ag->cfg.server);
        while (len > 0 && ag->cfg.server[len - 1] == '/')
            ag->cfg.server[--len] = '\0';
        if (strncmp(ag->cfg.server, "https://", 8) != 0 &&
            strncmp(ag->cfg.server, "http://", 7) != 0) {
            fprintf(stderr, "healops-agent: --server: must be an https:// URL (or http:// behind a local proxy)\n");
            return -1;
        }
        if (strncmp(ag->cfg.server, "http://", 7) == 0)
            log_warnx("--server %s is plain HTTP: the token and every run travel unencrypted "
                      "(use it only behind a local TLS-terminating proxy)", ag->cfg.server);
    } else if (!manual) {
        fprintf(stderr, "healops-agent: --server is required (see --help)\n");
        return -1;
    }
    return agent_check_client_cert(ag);
}

int main(int argc, char **argv)
{
    struct agent ag;
    struct config_cli cli;
    struct ho_error err;
    struct sigaction sa;
    int manual, ret = 1;

    log_init("healops-agent", LOG_LEVEL_INFO);
    memset(&ag, 0, sizeof(ag));
    pthread_mutex_init(&ag.id_lock, NULL);
    agent_defaults(&ag.cfg);
    ho_error_clear(&err);
    if (config_parse(agent_options, NOPTS, &ag.cfg, argc - 1, argv + 1, &cli, &err) != HO_OK) {
        fprintf(stderr, "healops-agent: %s: %s\n", err.field, err.msg);
        free(cli.positional);
        agent_free(&ag);
        return 2;
    }
    if (cli.version && !cli.help) {
        printf("%s %s (%s)\n", "healops-agent", HO_VERSION, HO_COMMIT);
        ret = 0;
        goto out;
    }
    if (cli.help) {
        config_print_help(stdout, agent_usage, agent_options, NOPTS);
        ret = 0;
        goto out;
    }
    manual = cli.npositional >= 1 && strcmp(cli.positional[0], "run") == 0;
    if ((manual && cli.npositional != 2) || (!manual && cli.npositional != 0)) {
        fprintf(stderr, "healops-agent: unexpected arguments (see --help)\n");
        ret = 2;
        goto out;
    }
    if (agent_check_config(&ag, manual) != 0) {
        ret = 2;
        goto out;
    }
    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = SIG_IGN;
    sigaction(SIGPIPE, &sa, NULL);
    httpc_global_init();
    if (agent_load_trust_keys(&ag) != 0) {
        ret = 2;
        goto out_http;
    }
    if (agent_setup_user(&ag) != 0 || agent_load_packages(&ag, manual || ag.cfg.once) != 0 ||
        agent_open_state(&ag) != 0 || agent_open_packages(&ag) != 0) {
        ret = manual ? 3 : 1;
        goto out_http;
    }
    if (manual)
        ret = agent_run_one(&ag, cli.positional[1]);
    else if (ag.cfg.once)
        ret = daemon_once(&ag);
    else
        ret = daemon_main(&ag);
out_http:
    httpc_global_cleanup();
out:
    free(cli.positional);
    agent_free(&ag);
    return ret;
}
