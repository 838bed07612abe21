#!/bin/sh
# Installs the Debian 12 (bookworm) packages HealOps needs to build, test and run
# (`make run`, `make test`, .ci/run). Idempotent: it asks dpkg which packages are
# missing and calls apt-get (with `apt-get update` first) only when some are.
#
# Usage: sh deploy/install-deps.sh
# Add new dependencies to HEALOPS_DEPS below, one per line.
set -eu

HEALOPS_DEPS="
build-essential
pkg-config
libmicrohttpd-dev
libcurl4-openssl-dev
libsqlite3-dev
libcjson-dev
libssl-dev
libcmocka-dev
libarchive-dev
libcairo2-dev
libgnutls28-dev
openssl
ca-certificates
curl
python3
sqlite3
monitoring-plugins-basic
procps
clang
libclang-rt-14-dev
groff-base
systemd
victoria-metrics
influxdb
prometheus
prometheus-alertmanager
chromium
chromium-driver
"

say() {
    printf 'install-deps: %s\n' "$*" >&2
}

if ! command -v dpkg-query >/dev/null 2>&1; then
    say "dpkg-query not found: this script supports Debian 12 (and derivatives) only."
    # shellcheck disable=SC2086 # one line listing the packages
    say "Install by hand the equivalents of:" $HEALOPS_DEPS
    exit 1
fi

missing=""
for pkg in $HEALOPS_DEPS; do
    status=$(dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null || true)
    case "$status" in
    "install ok installed") ;;
    *) missing="$missing $pkg" ;;
    esac
done

if [ -z "$missing" ]; then
    say "all build and test dependencies are installed"
    exit 0
fi

say "missing:$missing"

if [ "$(id -u)" -eq 0 ]; then
    SUDO=""
elif command -v sudo >/dev/null 2>&1; then
    SUDO="sudo"
else
    say "not running as root and sudo is not installed."
    say "Run as root: apt-get update && apt-get install -y --no-install-recommends$missing"
    exit 1
fi

$SUDO env DEBIAN_FRONTEND=noninteractive apt-get update
# shellcheck disable=SC2086 # word splitting of the package list is intended
$SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends $missing
say "installed:$missing"
