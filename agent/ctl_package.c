/*
 * healopsctl package commands (DESIGN.md sections 3, 6 and 10a): their
 * command line and help, and for package authors keygen, package init | lint |
 * build | sign, which work offline. For operators package publish, assign,
 * packages and package show talk to the server's admin API (ctl_publish.c).
 *
 * The server, token and CA come from --server/--token/--ca-file, a --config
 * file (the same keys as the query commands) or HEALOPS_SERVER, HEALOPS_TOKEN,
 * HEALOPS_CA_FILE. The flags of a subcommand (--key, -o, --signature,
 * --version, --selector, --rollout) are its own: assign's --version is the
 * version to assign, not the program's.
 */
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "buf.h"
#include "bundle.h"
#include "config.h"
#include "crypto.h"
#include "ctl.h"
#include "httpc.h"
#include "log.h"
#include "manifest.h"
#include "mem.h"
#include "sign.h"

/* The options shared with the query commands (ctl_main.c), so one --config file serves both. */
#define GOPT(k, f, t, field, lo, hi, mv, h)                                                    \
    {k, f, t, offsetof(struct ctl_pkg_global, field), lo, hi, mv, h}

static const struct config_option pkg_options[] = {
    GOPT("server", "--server", CONFIG_STRING, server, 0, 2048, "URL", "server base URL"),
    GOPT("token", "--token", CONFIG_STRING, token, 0, 255, "TOKEN", "admin or read token"),
    GOPT("ca_file", "--ca-file", CONFIG_STRING, ca_file, 0, 4096, "FILE", "server CA"),
    GOPT("json", "--json", CONFIG_BOOL, json, 0, 0, NULL, "print the server's JSON"),
    GOPT("agent", NULL, CONFIG_STRING, agent, 0, 255, NULL, ""),
    GOPT("package", NULL, CONFIG_STRING, package, 0, 255, NULL, ""),
    GOPT("check", NULL, CONFIG_STRING, check, 0, 255, NULL, ""),
    GOPT("outcome", NULL, CONFIG_STRING, outcome, 0, 16, NULL, ""),
    GOPT("since", NULL, CONFIG_STRING, since, 0, 40, NULL, ""),
    GOPT("until", NULL, CONFIG_STRING, until, 0, 40, NULL, ""),
    GOPT("manual", NULL, CONFIG_STRING, manual, 0, 5, NULL, ""),
    GOPT("cursor", NULL, CONFIG_STRING, cursor, 0, 127, NULL, ""),
    GOPT("limit", NULL, CONFIG_INT, limit, 1, 1000, NULL, ""),
};
#define NPKG_OPTIONS (sizeof(pkg_options) / sizeof(pkg_options[0]))

/* The command line of one package command. */
static const char usage_global[] =
    "Global options: --server URL, --token TOKEN, --ca-file FILE (or HEALOPS_SERVER,\n"
    "HEALOPS_TOKEN, HEALOPS_CA_FILE), --config FILE, --json, --help.\n"
    "Exit status: 0 ok, 1 refused or failed, 2 usage error, 3 server unreachable.";

static const struct {
    const char *cmd, *sub, *text;
} pkg_help[] = {
    {"keygen", NULL,
     "usage: healopsctl keygen PREFIX\n"
     "Makes an Ed25519 publisher key pair: PREFIX.key (private, mode 0600) and PREFIX.pub\n"
     "(give it to agents as --trust-key). Refuses to overwrite either file; prints the key id."},
    {"package", NULL,
     "usage: healopsctl package init NAME | lint DIR | build DIR [-o FILE]\n"
     "                          | sign BUNDLE --key FILE | publish BUNDLE [--signature FILE]\n"
     "                          | show NAME [--json]\n"
     "Run `healopsctl package SUBCOMMAND --help` for one of them."},
    {"package", "init",
     "usage: healopsctl package init NAME\n"
     "Makes the folder NAME/ with a working package: healops-package.json, a test\n"
     "(checks/NAME.test), a repair (checks/NAME.repair), a stats collector\n"
     "(stats/NAME.stats) and README.md. Refuses when NAME exists."},
    {"package", "lint",
     "usage: healopsctl package lint DIR\n"
     "Checks the package folder DIR as the agent and `package build` would: the manifest,\n"
     "every program it names, the bundle limits. Problems are printed as\n"
     "FILE:FIELD: PROBLEM and exit 1; warnings (no README, a script without #!) do not."},
    {"package", "build",
     "usage: healopsctl package build DIR [-o FILE]\n"
     "  -o, --output FILE   where to write the bundle (default ./NAME-VERSION.tar.gz)\n"
     "Builds the reproducible bundle of DIR (same folder, same bytes) and prints its\n"
     "SHA-256 and path, as sha256sum does."},
    {"package", "sign",
     "usage: healopsctl package sign BUNDLE --key FILE\n"
     "  --key FILE          the publisher's private key (from keygen)\n"
     "Writes the detached signature BUNDLE.sig and prints the key id."},
    {"package", "publish",
     "usage: healopsctl package publish BUNDLE [--signature FILE]\n"
     "  --signature FILE    the signature (default BUNDLE.sig when it exists)\n"
     "Uploads the bundle (POST /api/v1/packages, admin token). A version is immutable:\n"
     "the same bytes again are fine (exit 0), other bytes are a conflict (exit 1)."},
    {"package", "show",
     "usage: healopsctl package show NAME [--json]\n"
     "The versions of package NAME, its assignment and the agents running it\n"
     "(GET /api/v1/packages/NAME)."},
    {"packages", NULL,
     "usage: healopsctl packages [--json]\n"
     "Every published package: latest version, number of versions, assignment\n"
     "(GET /api/v1/packages)."},
    {"assign", NULL,
     "usage: healopsctl assign NAME --version V|latest [--selector KEY=VALUE]...\n"
     "                         [--rollout PERCENT]\n"
     "  --version V|latest  the version agents are to run (latest: the newest published)\n"
     "  --selector KEY=VALUE  only agents with this label (repeat: all must match;\n"
     "                      none: every agent)\n"
     "  --rollout PERCENT   share of the selected agents moved to the version, 0 to 100\n"
     "                      (default 100); the others keep the previous version\n"
     "Sets the assignment (PUT /api/v1/assignments/NAME, admin token); clears a halt."},
};

static void print_help(const struct ctl_pkg_args *a)
{
    size_t i;

    for (i = 0; i < sizeof(pkg_help) / sizeof(pkg_help[0]); i++) {
        if (strcmp(pkg_help[i].cmd, a->cmd) != 0)
            continue;
        if ((pkg_help[i].sub == NULL) != (a->sub == NULL))
            continue;
        if (a->sub != NULL && strcmp(pkg_help[i].sub, a->sub) != 0)
            continue;
        printf("%s\n\n%s\n", pkg_help[i].text, usage_global);
        return;
    }
    printf("%s\n\n%s\n", pkg_help[1].text, usage_global); /* "package": the list */
}

int ctl_usage_error(const char *fmt, ...)
{
    va_list ap;

    fprintf(stderr, "healopsctl: ");
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fprintf(stderr, " (see --help)\n");
    return CTL_EXIT_USAGE;
}

/* ---- command line ---- */

static int is_package_cmd(const char *w)
{
    return strcmp(w, "keygen") == 0 || strcmp(w, "package") == 0 ||
           strcmp(w, "packages") == 0 || strcmp(w, "assign") == 0;
}

int ctl_package_is_command(int argc, char **argv)
{
    int i;

    for (i = 0; i < argc; i++) {
        const char *t = argv[i];

        if (strcmp(t, "--") == 0)
            return i + 1 < argc && is_package_cmd(argv[i + 1]);
        if (t[0] != '-')
            return is_package_cmd(t);
        /* the query commands' flags take a value, but for these */
        if (strncmp(t, "--", 2) == 0 && strchr(t, '=') == NULL && strcmp(t, "--json") != 0 &&
            strcmp(t, "--help") != 0 && strcmp(t, "--version") != 0)
            i++;
    }
    return 0;
}

/* Flags of the subcommands; *slot gets the value. */
static const char **sub_flag(struct ctl_pkg_args *a, const char *name, size_t n)
{
    static const struct {
        const char *flag;
        size_t offset;
    } flags[] = {
        {"--key", offsetof(struct ctl_pkg_args, key)},
        {"-o", offsetof(struct ctl_pkg_args, output)},
        {"--output", offsetof(struct ctl_pkg_args, output)},
        {"--signature", offsetof(struct ctl_pkg_args, signature)},
        {"--version", offsetof(struct ctl_pkg_args, version)},
        {"--rollout", offsetof(struct ctl_pkg_args, rollout)},
    };
    size_t i;

    for (i = 0; i < sizeof(flags) / sizeof(flags[0]); i++)
        if (strlen(flags[i].flag) == n && strncmp(flags[i].flag, name, n) == 0)
            return (const char **)(void *)((char *)a + flags[i].offset);
    return NULL;
}

/* A global flag taking a value (its value is the next word unless written with '='). */
static int global_takes_value(const char *t)
{
    return strcmp(t, "--server") == 0 || strcmp(t, "--token") == 0 ||
           strcmp(t, "--ca-file") == 0 || strcmp(t, "--config") == 0;
}

/* One word of the command line at *i; CTL_EXIT_OK or a usage error. */
static int parse_word(struct ctl_pkg_args *a, int argc, char **argv, int *i)
{
    const char *t = argv[*i], *eq = strchr(t, '=');
    size_t n = eq != NULL ? (size_t)(eq - t) : strlen(t);
    const char **slot;

    if (strcmp(t, "--help") == 0 || strcmp(t, "-h") == 0) {
        a->help = 1;
        return CTL_EXIT_OK;
    }
    if (t[0] != '-' || strcmp(t, "-") == 0) {
        if (a->cmd == NULL)
            a->cmd = t;
        else if (strcmp(a->cmd, "package") == 0 && a->sub == NULL)
            a->sub = t;
        else if (a->npos < CTL_MAX_POSITIONAL)
            a->pos[a->npos++] = t;
        else
            return ctl_usage_error("too many operands: %s", t);
        return CTL_EXIT_OK;
    }
    /* --version before the command word, or of another command, is the program's */
    slot = sub_flag(a, t, n);
    if (slot != NULL && strncmp(t, "--version", n) == 0 &&
        (a->cmd == NULL || strcmp(a->cmd, "assign") != 0))
        slot = NULL;
    if (slot == NULL && strncmp(t, "--selector", n) == 0 && n == 10) {
        if (a->nselectors >= CTL_MAX_SELECTORS)
            return ctl_usage_error("at most 32 --selector");
        slot = &a->selectors[a->nselectors++];
    }
    if (slot != NULL) {
        if (eq == NULL && *i + 1 >= argc)
            return ctl_usage_error("%s needs a value", t);
        *slot = eq != NULL ? eq + 1 : argv[++*i];
        return CTL_EXIT_OK;
    }
    a->rest[a->nrest++] = argv[*i];
    if (eq == NULL && global_takes_value(t) && *i + 1 < argc)
        a->rest[a->nrest++] = argv[++*i];
    return CTL_EXIT_OK;
}

static int parse_args(struct ctl_pkg_args *a, int argc, char **argv)
{
    struct config_cli cli;
    struct ho_error err;
    enum log_level level = log_get_level();
    enum ho_code rc;
    int i, ret = CTL_EXIT_OK;

    a->rest = xcalloc((size_t)argc + 1, sizeof(char *));
    for (i = 0; i < argc && ret == CTL_EXIT_OK; i++) {
        if (strcmp(argv[i], "--") == 0) {
            for (i++; i < argc && a->npos < CTL_MAX_POSITIONAL; i++)
                if (a->cmd == NULL)
                    a->cmd = argv[i];
                else
                    a->pos[a->npos++] = argv[i];
            break;
        }
        ret = parse_word(a, argc, argv, &i);
    }
    if (ret != CTL_EXIT_OK || a->help)
        return ret;
    ho_error_clear(&err);
    log_set_level(LOG_LEVEL_ERROR); /* the query commands' keys of a shared file: no warning */
    rc = config_parse(pkg_options, NPKG_OPTIONS, &a->g, a->nrest, a->rest, &cli, &err);
    log_set_level(level);
    if (rc == HO_OK && cli.version) {
        printf("healopsctl %s (%s)\n", HO_VERSION, HO_COMMIT);
        ret = -1;
    } else if (rc != HO_OK) {
        fprintf(stderr, "healopsctl: %s: %s\n", err.field, err.msg);
        ret = CTL_EXIT_USAGE;
    } else if (cli.npositional > 0) {
        ret = ctl_usage_error("unexpected operand: %s", cli.positional[0]);
    }
    free(cli.positional);
    return ret;
}

/* Fills an unset slot from the environment. */
static void from_env(char **slot, const char *var)
{
    const char *v = getenv(var);

    if (*slot == NULL && v != NULL && v[0] != '\0')
        *slot = xstrdup(v);
}

/* ---- files ---- */

/* Writes data to path through a temp file beside it, fsync and rename. */
static enum ho_code write_atomic(const char *path, const void *data, size_t len,
                                 struct ho_error *err)
{
    char *tmp = xasprintf("%s.tmp.XXXXXX", path);
    enum ho_code rc = HO_OK;
    int fd = mkstemp(tmp);

    if (fd < 0) {
        rc = ho_error_set(err, HO_EIO, "", "%s: %s", path, strerror(errno));
        free(tmp);
        return rc;
    }
    if (fchmod(fd, 0644) != 0 || write(fd, data, len) != (ssize_t)len || fsync(fd) != 0)
        rc = ho_error_set(err, HO_EIO, "", "%s: cannot write: %s", path, strerror(errno));
    if (close(fd) != 0 && rc == HO_OK)
        rc = ho_error_set(err, HO_EIO, "", "%s: cannot write", path);
    if (rc == HO_OK && rename(tmp, path) != 0)
        rc = ho_error_set(err, HO_EIO, "", "%s: %s", path, strerror(errno));
    if (rc != HO_OK)
        unlink(tmp);
    free(tmp);
    return rc;
}

/* ---- keygen ---- */

static int cmd_keygen(const struct ctl_pkg_args *a)
{
    char id[SIGN_KEY_ID_LEN];
    struct ho_error err;

    if (a->npos != 1)
        return ctl_usage_error("keygen needs PREFIX");
    ho_error_clear(&err);
    if (sign_keygen(a->pos[0], id, &err) != HO_OK) {
        fprintf(stderr, "healopsctl: keygen: %s\n", err.msg);
        return CTL_EXIT_FAIL;
    }
    printf("%s.key  private key: keep it secret, sign with it\n", a->pos[0]);
    printf("%s.pub  public key: give it to agents (--trust-key) and the server "
           "(publisher_keys)\n",
           a->pos[0]);
    printf("key id %s\n", id);
    return CTL_EXIT_OK;
}

/* ---- package init ---- */

static const char tmpl_manifest[] =
    "{\n"
    "  \"name\": \"@N@\",\n"
    "  \"version\": \"0.1.0\",\n"
    "  \"description\": \"Keeps @N@ healthy\",\n"
    "  \"checks\": [\n"
    "    {\n"
    "      \"name\": \"@N@.running\",\n"
    "      \"interval\": 60,\n"
    "      \"timeout\": 10,\n"
    "      \"test\": {\"exec\": [\"checks/@N@.test\"]},\n"
    "      \"repair\": {\"exec\": [\"checks/@N@.repair\"], \"timeout\": 60},\n"
    "      \"repair_on\": [\"critical\"],\n"
    "      \"max_repairs\": {\"count\": 3, \"window\": 3600}\n"
    "    }\n"
    "  ],\n"
    "  \"stats\": [\n"
    "    {\"name\": \"@N@.stats\", \"interval\": 60, \"exec\": [\"stats/@N@.stats\"]}\n"
    "  ]\n"
    "}\n";

static const char tmpl_test[] =
    "#!/bin/sh\n"
    "# Test of @N@, in the Nagios plugin convention: exit 0 OK, 1 WARNING,\n"
    "# 2 CRITICAL, 3 UNKNOWN; the first line is the summary; performance data\n"
    "# after '|' ('label'=value[UOM];warn;crit;min;max) becomes metrics.\n"
    "# Stock plugins work as they are, e.g. in healops-package.json:\n"
    "#   \"test\": {\"exec\": [\"/usr/lib/nagios/plugins/check_procs\", \"-C\", \"@N@\", \"-c\", "
    "\"1:\"]}\n"
    "# Replace this example (which counts the host's processes) with a real test.\n"
    "set -u\n"
    "procs=$(ps -e -o pid= 2>/dev/null | wc -l)\n"
    "if [ \"$procs\" -gt 0 ]; then\n"
    "    echo \"OK - @N@: $procs processes | procs=$procs;;;0;\"\n"
    "    exit 0\n"
    "fi\n"
    "echo \"UNKNOWN - @N@: cannot count processes\"\n"
    "exit 3\n";

static const char tmpl_repair[] =
    "#!/bin/sh\n"
    "# Repair of @N@: runs when the test says CRITICAL (\"repair_on\"), at most\n"
    "# \"max_repairs\" times per window. The failed test's result comes on stdin as\n"
    "# JSON and in HEALOPS_CHECK, HEALOPS_TEST_STATUS, HEALOPS_TEST_OUTPUT...\n"
    "# Exit 0 when the repair thinks it worked; the re-test decides.\n"
    "# Replace this example with the real repair, e.g. systemctl restart @N@.\n"
    "set -u\n"
    "echo \"@N@: nothing to repair yet (check ${HEALOPS_CHECK:-?}, test said "
    "${HEALOPS_TEST_STATUS:-?})\"\n"
    "exit 0\n";

static const char tmpl_stats[] =
    "#!/bin/sh\n"
    "# Stats of @N@: one metric per line in the tcollector format\n"
    "#   NAME TIMESTAMP VALUE [TAG=VALUE ...]     (TIMESTAMP 0 means now)\n"
    "# Replace this example (the host's load and process count) with real stats.\n"
    "set -u\n"
    "now=$(date +%s)\n"
    "read -r load1 load5 load15 rest < /proc/loadavg\n"
    "echo \"@N@.load $now $load1 period=1m\"\n"
    "echo \"@N@.load $now $load5 period=5m\"\n"
    "echo \"@N@.processes $now $(ps -e -o pid= | wc -l)\"\n";

static const char tmpl_readme[] =
    "# @N@\n"
    "\n"
    "A HealOps package: what it keeps healthy, how it tests, what the repair does,\n"
    "and whom to ask. Write it for the person on call.\n"
    "\n"
    "- `checks/@N@.test`: the test (Nagios plugin convention)\n"
    "- `checks/@N@.repair`: the repair, run when the test says CRITICAL\n"
    "- `stats/@N@.stats`: stats in the tcollector format\n"
    "\n"
    "Try it, then ship it:\n"
    "\n"
    "    healopsctl package lint @N@\n"
    "    healops-agent --package-dir @N@ --once --report-only\n"
    "    healopsctl package build @N@\n"
    "    healopsctl package sign @N@-0.1.0.tar.gz --key publisher.key\n"
    "    healopsctl package publish @N@-0.1.0.tar.gz\n"
    "    healopsctl assign @N@ --version 0.1.0 --rollout 10\n";

/* The template with every @N@ replaced by name; caller frees. */
static char *fill(const char *tmpl, const char *name)
{
    struct buf b;
    const char *p = tmpl, *at;

    buf_init(&b, 64 * 1024);
    while ((at = strstr(p, "@N@")) != NULL) {
        if (buf_append(&b, p, (size_t)(at - p)) != HO_OK || buf_appends(&b, name) != HO_OK)
            fatalx("healopsctl: template too large");
        p = at + 3;
    }
    if (buf_appends(&b, p) != HO_OK)
        fatalx("healopsctl: template too large");
    return buf_take(&b);
}

static int write_new_file(const char *dir, const char *rel, const char *text, mode_t mode)
{
    char *path = xasprintf("%s/%s", dir, rel);
    size_t n = strlen(text);
    int fd, ok;

    fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, mode);
    ok = fd >= 0 && write(fd, text, n) == (ssize_t)n;
    if (fd >= 0 && close(fd) != 0)
        ok = 0;
    if (!ok)
        fprintf(stderr, "healopsctl: %s: %s\n", path, strerror(errno));
    free(path);
    return ok;
}

static int rm_cb(const char *p, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st;
    (void)ftw;
    if (flag == FTW_DP)
        (void)rmdir(p);
    else
        (void)unlink(p);
    return 0;
}

/* The package name rule is the manifest's: checked by parsing the manifest made of it. */
static int init_check_name(const char *name, char **manifest)
{
    struct ho_error err;
    struct manifest m;
    char shown[80];
    const char *p;

    *manifest = NULL;
    for (p = name; *p != '\0'; p++)
        if (!((*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9') || *p == '.' ||
              *p == '_' || *p == '-' || (*p >= 'A' && *p <= 'Z')))
            break;
    if (name[0] == '\0' || *p != '\0' || strlen(name) > 64) {
        log_safe(shown, sizeof(shown), name);
        fprintf(stderr, "healopsctl: package name \"%s\": must match [a-z0-9][a-z0-9._-]*, "
                        "at most 64 characters\n",
                shown);
        return 0;
    }
    *manifest = fill(tmpl_manifest, name);
    ho_error_clear(&err);
    if (manifest_parse(*manifest, strlen(*manifest), &m, &err) != HO_OK) {
        fprintf(stderr, "healopsctl: package name \"%s\": %s: %s\n", name, err.field, err.msg);
        free(*manifest);
        *manifest = NULL;
        return 0;
    }
    manifest_cleanup(&m);
    return 1;
}

static int cmd_init(const struct ctl_pkg_args *a)
{
    static const struct {
        const char *rel, *tmpl;
        mode_t mode;
    } files[] = {
        {"checks/@N@.test", tmpl_test, 0755},
        {"checks/@N@.repair", tmpl_repair, 0755},
        {"stats/@N@.stats", tmpl_stats, 0755},
        {"README.md", tmpl_readme, 0644},
    };
    const char *name;
    char *manifest = NULL, *rel, *text, *sub;
    int ok = 1;
    size_t i;

    if (a->npos != 1)
        return ctl_usage_error("package init needs NAME");
    name = a->pos[0];
    if (!init_check_name(name, &manifest))
        return CTL_EXIT_FAIL;
    if (mkdir(name, 0755) != 0) {
        fprintf(stderr, "healopsctl: %s: %s\n", name,
                errno == EEXIST ? "already exists, not touched" : strerror(errno));
        free(manifest);
        return CTL_EXIT_FAIL;
    }
    for (i = 0; i < 2 && ok; i++) {
        sub = xasprintf("%s/%s", name, i == 0 ? "checks" : "stats");
        ok = mkdir(sub, 0755) == 0;
        free(sub);
    }
    ok = ok && write_new_file(name, MANIFEST_FILE, manifest, 0644);
    for (i = 0; i < sizeof(files) / sizeof(files[0]) && ok; i++) {
        rel = fill(files[i].rel, name);
        text = fill(files[i].tmpl, name);
        ok = write_new_file(name, rel, text, files[i].mode);
        free(rel);
        free(text);
    }
    free(manifest);
    if (!ok) {
        nftw(name, rm_cb, 8, FTW_DEPTH | FTW_PHYS);
        return CTL_EXIT_FAIL;
    }
    printf("created %s/: %s, checks/%s.test, checks/%s.repair, stats/%s.stats, README.md\n"
           "next: edit them, then healopsctl package lint %s\n",
           name, MANIFEST_FILE, name, name, name, name);
    return CTL_EXIT_OK;
}

/* ---- package lint ---- */

/* Warns when a package script cannot be exec'd by the kernel (no #! and not ELF). */
static void lint_shebang(const char *dir, const struct manifest_exec *x, int *nwarn)
{
    char head[4] = {0}, *path;
    ssize_t r;
    int fd;

    if (x->argv == NULL || x->shell || x->argv[0][0] == '/')
        return;
    path = xasprintf("%s/%s", dir, x->argv[0]);
    fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK);
    r = fd >= 0 ? read(fd, head, sizeof(head)) : -1;
    if (fd >= 0)
        close(fd);
    if (r >= 0 && !(r >= 2 && head[0] == '#' && head[1] == '!') &&
        !(r == 4 && memcmp(head, "\177ELF", 4) == 0)) {
        printf("%s: warning: no #! line: the agent cannot run it\n", path);
        (*nwarn)++;
    }
    free(path);
}

static void lint_warnings(const char *dir, const struct manifest *m, int *nwarn)
{
    char *p1 = xasprintf("%s/README.md", dir), *p2 = xasprintf("%s/README", dir);
    size_t i;

    if (access(p1, F_OK) != 0 && access(p2, F_OK) != 0) {
        printf("%s: warning: missing: say what the package does, for the person on call\n", p1);
        (*nwarn)++;
    }
    free(p1);
    free(p2);
    for (i = 0; i < m->nchecks; i++) {
        if (m->checks[i].test.kind == PROBE_EXEC)
            lint_shebang(dir, &m->checks[i].test.exec, nwarn);
        if (m->checks[i].has_repair)
            lint_shebang(dir, &m->checks[i].repair, nwarn);
    }
    for (i = 0; i < m->nstats; i++)
        lint_shebang(dir, &m->stats[i].exec, nwarn);
}

/* "DIR/FIELD: MSG" where FIELD may be "healops-package.json:checks[0]..." or empty. */
static void print_problem(const char *dir, const struct ho_error *err)
{
    if (strncmp(err->field, MANIFEST_FILE, strlen(MANIFEST_FILE)) == 0)
        printf("%s/%s: %s\n", dir, err->field, err->msg);
    else if (err->field[0] != '\0' && strcmp(err->field, "bundle") != 0)
        printf("%s: %s: %s\n", dir, err->field, err->msg);
    else
        printf("%s: %s\n", dir, err->msg);
}

static int cmd_lint(const struct ctl_pkg_args *a)
{
    struct ho_error err;
    struct manifest m;
    void *tgz = NULL;
    size_t len = 0;
    int nwarn = 0;

    if (a->npos != 1)
        return ctl_usage_error("package lint needs DIR");
    ho_error_clear(&err);
    if (manifest_load_dir(a->pos[0], &m, &err) != HO_OK) {
        print_problem(a->pos[0], &err);
        return CTL_EXIT_FAIL;
    }
    lint_warnings(a->pos[0], &m, &nwarn);
    /* what `package build` would refuse: files, links, limits */
    if (bundle_build(a->pos[0], &tgz, &len, NULL, &err) != HO_OK) {
        print_problem(a->pos[0], &err);
        manifest_cleanup(&m);
        return CTL_EXIT_FAIL;
    }
    free(tgz);
    printf("ok %s %s: %zu check%s, %zu stat%s%s\n", m.name, m.version, m.nchecks,
           m.nchecks == 1 ? "" : "s", m.nstats, m.nstats == 1 ? "" : "s",
           nwarn > 0 ? " (see the warnings)" : "");
    manifest_cleanup(&m);
    return CTL_EXIT_OK;
}

/* ---- package build ---- */

static int cmd_build(const struct ctl_pkg_args *a)
{
    char hex[CRYPTO_SHA256_HEX_LEN], *name = NULL, *path;
    struct ho_error err;
    void *tgz = NULL;
    size_t len = 0;
    int ret = CTL_EXIT_OK;

    if (a->npos != 1)
        return ctl_usage_error("package build needs DIR");
    ho_error_clear(&err);
    if (bundle_build(a->pos[0], &tgz, &len, &name, &err) != HO_OK) {
        print_problem(a->pos[0], &err);
        return CTL_EXIT_FAIL;
    }
    path = a->output != NULL ? xstrdup(a->output) : xasprintf("./%s", name);
    if (write_atomic(path, tgz, len, &err) != HO_OK) {
        fprintf(stderr, "healopsctl: %s\n", err.msg);
        ret = CTL_EXIT_FAIL;
    } else {
        crypto_sha256_hex(tgz, len, hex);
        printf("%s  %s\n", hex, path);
    }
    free(path);
    free(name);
    free(tgz);
    return ret;
}

/* ---- package sign ---- */

int ctl_read_bundle(const char *path, void **data, size_t *len, struct manifest *m)
{
    struct ho_error err;
    char *json = NULL;
    size_t jl = 0;
    enum ho_code rc;

    ho_error_clear(&err);
    rc = bundle_read_file(path, BUNDLE_MAX_BYTES, data, len, &err);
    if (rc != HO_OK) {
        fprintf(stderr, "healopsctl: %s\n", err.msg);
        return 0;
    }
    rc = bundle_read_manifest(*data, *len, &json, &jl, &err);
    if (rc == HO_OK)
        rc = manifest_parse(json, jl, m, &err);
    free(json);
    if (rc == HO_OK)
        return 1;
    if (err.field[0] != '\0' && strcmp(err.field, "bundle") != 0)
        fprintf(stderr, "healopsctl: %s: %s:%s: %s\n", path, MANIFEST_FILE, err.field, err.msg);
    else
        fprintf(stderr, "healopsctl: %s: %s\n", path, err.msg);
    free(*data);
    *data = NULL;
    return 0;
}

static int cmd_sign(const struct ctl_pkg_args *a)
{
    char sig[SIGN_BASE64_LEN], line[SIGN_BASE64_LEN + 1], id[SIGN_KEY_ID_LEN], *sig_path;
    struct ho_error err;
    struct manifest m;
    void *data = NULL;
    size_t len = 0;
    int ret = CTL_EXIT_FAIL;

    if (a->npos != 1 || a->key == NULL)
        return ctl_usage_error("package sign needs BUNDLE --key FILE");
    if (!ctl_read_bundle(a->pos[0], &data, &len, &m))
        return CTL_EXIT_FAIL;
    ho_error_clear(&err);
    sig_path = xasprintf("%s.sig", a->pos[0]);
    if (sign_private_key_id(a->key, id, &err) != HO_OK ||
        sign_data(a->key, data, len, sig, &err) != HO_OK) {
        fprintf(stderr, "healopsctl: %s\n", err.msg);
        goto out;
    }
    snprintf(line, sizeof(line), "%s\n", sig);
    if (write_atomic(sig_path, line, strlen(line), &err) != HO_OK) {
        fprintf(stderr, "healopsctl: %s\n", err.msg);
        goto out;
    }
    printf("%s  %s %s signed with key id %s\n", sig_path, m.name, m.version, id);
    ret = CTL_EXIT_OK;
out:
    manifest_cleanup(&m);
    free(sig_path);
    free(data);
    return ret;
}

/* ---- dispatch ---- */

/* Each flag belongs to one subcommand: a misplaced one is a usage error. */
static int check_flags(const struct ctl_pkg_args *a, const char *sub)
{
    if (a->key != NULL && strcmp(sub, "sign") != 0)
        return ctl_usage_error("--key belongs to package sign");
    if (a->output != NULL && strcmp(sub, "build") != 0)
        return ctl_usage_error("-o belongs to package build");
    if (a->signature != NULL && strcmp(sub, "publish") != 0)
        return ctl_usage_error("--signature belongs to package publish");
    if ((a->version != NULL || a->nselectors > 0 || a->rollout != NULL) &&
        strcmp(sub, "assign") != 0)
        return ctl_usage_error("--version, --selector and --rollout belong to assign");
    return CTL_EXIT_OK;
}

static int dispatch(struct ctl_pkg_args *a)
{
    const char *sub = a->sub != NULL ? a->sub : a->cmd;
    int ret = check_flags(a, strcmp(a->cmd, "package") == 0 ? sub : a->cmd);

    if (ret != CTL_EXIT_OK)
        return ret;
    if (strcmp(a->cmd, "keygen") == 0)
        return cmd_keygen(a);
    if (strcmp(a->cmd, "assign") == 0)
        return ctl_assign(a);
    if (strcmp(a->cmd, "packages") == 0)
        return a->npos == 0 ? ctl_list(a, NULL) : ctl_usage_error("packages takes no operand");
    if (a->sub == NULL)
        return ctl_usage_error("package needs a subcommand: init, lint, build, sign, publish, show");
    if (strcmp(sub, "init") == 0)
        return cmd_init(a);
    if (strcmp(sub, "lint") == 0)
        return cmd_lint(a);
    if (strcmp(sub, "build") == 0)
        return cmd_build(a);
    if (strcmp(sub, "sign") == 0)
        return cmd_sign(a);
    if (strcmp(sub, "publish") == 0)
        return ctl_publish(a);
    if (strcmp(sub, "show") == 0)
        return a->npos == 1 ? ctl_list(a, a->pos[0]) : ctl_usage_error("package show needs NAME");
    return ctl_usage_error("unknown package subcommand: %s", sub);
}

int ctl_package_main(int argc, char **argv)
{
    struct ctl_pkg_args a;
    int ret;

    memset(&a, 0, sizeof(a));
    ret = parse_args(&a, argc, argv);
    if (ret == CTL_EXIT_OK && a.help)
        print_help(&a);
    else if (ret == CTL_EXIT_OK && a.cmd == NULL)
        ret = ctl_usage_error("no command");
    else if (ret == CTL_EXIT_OK) {
        from_env(&a.g.server, "HEALOPS_SERVER");
        from_env(&a.g.token, "HEALOPS_TOKEN");
        from_env(&a.g.ca_file, "HEALOPS_CA_FILE");
        httpc_global_init();
        ret = dispatch(&a);
        httpc_global_cleanup();
    }
    if (ret < 0)
        ret = CTL_EXIT_OK; /* --version printed */
    if (a.g.token != NULL)
        crypto_wipe(a.g.token, strlen(a.g.token));
    config_free(pkg_options, NPKG_OPTIONS, &a.g);
    free(a.rest);
    return ret;
}
