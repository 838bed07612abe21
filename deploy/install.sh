#!/bin/sh
# Installs HealOps on a real Debian 12 machine, from a clone of the repository.
#
# Usage: deploy/install.sh server|agent [--prefix PREFIX]     (as root)
#
#   server  the system user and group healops, /var/lib/healops (0750 healops),
#           /etc/healops (0750 root:healops), /etc/healops/server.json from the
#           example when missing (0640 root:healops)
#   agent   the unprivileged user healops-test that runs tests (the agent runs as
#           root for its repairs), /var/lib/healops-agent (0711 root),
#           /etc/healops (0750), /opt/healops/packages (0755 root) for packages,
#           /etc/healops/agent.json from the example when missing (0600 root)
#   both    `make install PREFIX=...` (binaries, units, man pages, docs,
#           *.json.example), systemctl daemon-reload, and what to do next
#
# PREFIX defaults to /usr/local. Idempotent: run it again after `git pull` to
# upgrade; users, folders and configs that exist are kept (modes and owners of
# the folders are set again). It never starts or enables a service.
set -eu

ROOT=$(cd "$(dirname "$0")/.." && pwd)
PREFIX=/usr/local
ROLE=""
SYSCONFDIR=/etc/healops
PACKAGES=/opt/healops/packages
MISSING_TLS=""

say() {
    printf 'install: %s\n' "$*"
}

die() {
    printf 'install: error: %s\n' "$*" >&2
    exit 1
}

usage() {
    printf 'usage: deploy/install.sh server|agent [--prefix PREFIX]\n' >&2
    exit 2
}

while [ $# -gt 0 ]; do
    case "$1" in
    server | agent)
        [ -z "$ROLE" ] || usage
        ROLE=$1
        ;;
    --prefix)
        [ $# -ge 2 ] || usage
        PREFIX=$2
        shift
        ;;
    --prefix=*) PREFIX=${1#--prefix=} ;;
    -h | --help) usage ;;
    *) usage ;;
    esac
    shift
done
[ -n "$ROLE" ] || usage
case "$PREFIX" in
/*) ;;
*) die "--prefix must be an absolute path, got '$PREFIX'" ;;
esac
PREFIX=${PREFIX%/}
[ -n "$PREFIX" ] || PREFIX=/
[ "$(id -u)" -eq 0 ] || die "run as root (sudo deploy/install.sh $ROLE)"
for c in make install getent useradd groupadd; do
    command -v "$c" >/dev/null 2>&1 || die "$c not found"
done
if ! pkg-config --exists libmicrohttpd libcurl sqlite3 libcjson openssl 2>/dev/null &&
    { [ ! -x "$ROOT/build/healops-server" ] || [ ! -x "$ROOT/build/healops-agent" ]; }; then
    die "the build dependencies are missing: run 'sh deploy/install-deps.sh' first"
fi

# ---- users ------------------------------------------------------------------

make_group() {
    if getent group "$1" >/dev/null; then
        say "group $1 exists"
    else
        groupadd --system "$1"
        say "made the system group $1"
    fi
}

# make_user NAME HOME COMMENT
make_user() {
    if getent passwd "$1" >/dev/null; then
        say "user $1 exists"
    else
        useradd --system --gid "$1" --home-dir "$2" --no-create-home \
            --shell /usr/sbin/nologin --comment "$3" "$1"
        say "made the system user $1"
    fi
}

# ---- folders ------------------------------------------------------------------

# dir PATH MODE OWNER:GROUP
dir() {
    [ ! -L "$1" ] || die "$1 is a symbolic link; refusing to change it"
    install -d -m "$2" -o "${3%:*}" -g "${3#*:}" "$1"
    chmod "$2" "$1"
    chown "$3" "$1"
}

# The group of /etc/healops: healops where the server runs (it reads its
# certificate and key there), root on a node with only the agent.
confgroup() {
    if getent group healops >/dev/null; then echo healops; else echo root; fi
}

# ---- build and install --------------------------------------------------------

# Builds as the owner of the clone (not root) when that is someone else, then
# installs as root; make install finds the build up to date.
build_install() {
    owner=$(stat -c %U "$ROOT")
    if [ "$owner" != root ] && command -v runuser >/dev/null 2>&1; then
        runuser -u "$owner" -- make -C "$ROOT" all ||
            say "building as $owner failed; make install builds as root"
    fi
    make -C "$ROOT" install PREFIX="$PREFIX"
}

# config NAME MODE GROUP: SYSCONFDIR/NAME.json from its example, only when missing.
config() {
    f=$SYSCONFDIR/$1.json
    if [ -e "$f" ]; then
        say "kept $f (compare with $SYSCONFDIR/$1.json.example after upgrades)"
    else
        install -m "$2" -o root -g "$3" "$ROOT/deploy/config/$1.json.example" "$f"
        say "wrote $f from the example: edit it"
    fi
}

reload_systemd() {
    if [ -d /run/systemd/system ] && command -v systemctl >/dev/null 2>&1; then
        systemctl daemon-reload
        say "systemctl daemon-reload done"
    else
        say "systemd is not running here: the units are installed but not loaded"
    fi
}

case "$PREFIX" in
/usr) UNITDIR=/lib/systemd/system ;;
*) UNITDIR=$PREFIX/lib/systemd/system ;;
esac
case "$UNITDIR" in
/lib/systemd/system | /usr/lib/systemd/system | /usr/local/lib/systemd/system | /etc/systemd/system) ;;
*) say "note: systemd does not read $UNITDIR; link the units: systemctl link $UNITDIR/healops-$ROLE.service" ;;
esac

if [ "$ROLE" = server ]; then
    make_group healops
    make_user healops /var/lib/healops "HealOps server"
    dir /var/lib/healops 0750 healops:healops
    dir "$SYSCONFDIR" 0750 root:healops
    build_install
    config server 0640 healops
    for f in server.pem server.key; do
        if [ ! -e "$SYSCONFDIR/$f" ]; then
            MISSING_TLS="$MISSING_TLS $f"
        fi
    done
    reload_systemd
    cat <<EOF

HealOps server installed ($PREFIX/sbin/healops-server). Next steps:

 1. TLS certificate and key, readable by the group healops:
      install -m 0644 -o root -g healops YOUR.pem $SYSCONFDIR/server.pem
      install -m 0640 -o root -g healops YOUR.key $SYSCONFDIR/server.key
    ${MISSING_TLS:+(missing now:$MISSING_TLS) }To try HealOps without a CA of your own:
      sh $ROOT/deploy/tls-dev.sh /root/healops-ca \$(hostname -f)
    then install /root/healops-ca/server.pem and server.key as above and give
    /root/healops-ca/ca.pem to the agents (it is their --ca-file).
 2. Edit $SYSCONFDIR/server.json (public_url at least; docs/configuration.md).
 3. Start it:        systemctl enable --now healops-server
    Check it:        curl --cacert CA.pem https://\$(hostname -f):8443/healthz
 4. Tokens (printed once; run as healops so the database stays its own):
      runuser -u healops -- $PREFIX/sbin/healops-server token create --scope enroll --name fleet --db /var/lib/healops/healops.db
      runuser -u healops -- $PREFIX/sbin/healops-server token create --scope read --name ops --db /var/lib/healops/healops.db
 5. On every node: deploy/install.sh agent, then put the CA in $SYSCONFDIR/ca.pem and
    the enrollment token in $SYSCONFDIR/enroll.token (docs/quickstart.md).
EOF
else
    make_group healops-test
    make_user healops-test /nonexistent "HealOps tests (unprivileged)"
    dir /var/lib/healops-agent 0711 root:root
    dir "$SYSCONFDIR" 0750 "root:$(confgroup)"
    dir /opt/healops 0755 root:root
    dir "$PACKAGES" 0755 root:root
    build_install
    config agent 0600 root
    reload_systemd
    cat <<EOF

HealOps agent installed ($PREFIX/sbin/healops-agent). Next steps:

 1. The server's CA certificate and an enrollment token (healops-server token create
    --scope enroll on the server):
      install -m 0644 CA.pem $SYSCONFDIR/ca.pem
      (umask 077; cat > $SYSCONFDIR/enroll.token)        (paste the token, Enter, Ctrl-D)
 2. Packages in $PACKAGES, one folder each, owned by root and not writable by
    healops-test. To start with the demo:
      cp -R $PREFIX/share/doc/healops/examples/packages/demo $PACKAGES/
 3. Edit $SYSCONFDIR/agent.json: "server", "labels", "package_dirs" (docs/configuration.md).
 4. Try it once in the foreground:  $PREFIX/sbin/healops-agent --config $SYSCONFDIR/agent.json --once
 5. Start it:                        systemctl enable --now healops-agent
EOF
fi
