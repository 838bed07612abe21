#!/bin/sh
# Development TLS material for HealOps: a private CA and a server certificate it
# signs, made with the openssl command line. For a laptop or a test rig, never
# for production (use your organisation's CA or ACME there).
#
# Usage: sh deploy/tls-dev.sh DIR [HOSTNAME|IP ...]
#
# Writes into DIR (created 0700 when missing):
#   ca.pem       the CA certificate: give it to agents (--ca-file) and to curl (--cacert)
#   ca.key       the CA private key (0600)
#   server.pem   the server certificate, for healops-server --tls-cert
#   server.key   its private key, PKCS#8 PEM (0600), for healops-server --tls-key
#
# Keys are EC P-256. The server certificate names DNS:localhost and IP:127.0.0.1
# plus every HOSTNAME or IP given (IPv4 dotted quads and anything with ':' are
# taken as IP addresses). Validity: CA 825 days, server 397 days (both within the
# 825-day limit Apple platforms enforce for private CAs).
#
# Idempotent: existing files are kept while they are valid: parseable, key
# matching certificate, server certificate signed by ca.pem, more than 30 days
# left, and every requested name covered. A bad or expiring server certificate
# is re-issued from the kept CA (agents keep trusting it); a bad or expiring CA
# is replaced together with the server certificate.
set -eu

CA_DAYS=825
SERVER_DAYS=397
RENEW_SECONDS=$((30 * 86400))

say() {
    printf 'tls-dev: %s\n' "$*" >&2
}

die() {
    say "$*"
    exit 1
}

usage() {
    printf 'usage: sh deploy/tls-dev.sh DIR [HOSTNAME|IP ...]\n' >&2
    exit 2
}

[ $# -ge 1 ] || usage
case "$1" in
-h | --help) usage ;;
esac
DIR=$1
shift
command -v openssl >/dev/null 2>&1 || die "openssl not found (sh deploy/install-deps.sh installs it)"

# Requested subject alternative names: "DNS:x" / "IP:y", one per word.
SANS="DNS:localhost IP:127.0.0.1"
for name in "$@"; do
    case "$name" in
    "" | *[!A-Za-z0-9.:_-]*) die "not a host name or IP address: '$name'" ;;
    esac
    case "$name" in
    *:*) entry="IP:$name" ;;
    *[!0-9.]*) entry="DNS:$name" ;;
    *) entry="IP:$name" ;;
    esac
    case " $SANS " in
    *" $entry "*) ;;
    *) SANS="$SANS $entry" ;;
    esac
done

umask 077
mkdir -p "$DIR"
TMP=$(mktemp -d "$DIR/.tls-dev.XXXXXX")
trap 'rm -rf "$TMP"' EXIT
trap 'exit 1' INT TERM HUP

CA_PEM=$DIR/ca.pem
CA_KEY=$DIR/ca.key
SRV_PEM=$DIR/server.pem
SRV_KEY=$DIR/server.key

# True when the public key of key file $2 is the one in certificate $1.
key_matches() {
    a=$(openssl x509 -in "$1" -noout -pubkey 2>/dev/null) || return 1
    b=$(openssl pkey -in "$2" -pubout 2>/dev/null) || return 1
    [ -n "$a" ] && [ "$a" = "$b" ]
}

# True when certificate $1 stays valid for longer than the renewal margin.
not_expiring() {
    openssl x509 -in "$1" -noout -checkend "$RENEW_SECONDS" >/dev/null 2>&1
}

ca_ok() {
    [ -s "$CA_PEM" ] && [ -s "$CA_KEY" ] || return 1
    not_expiring "$CA_PEM" || return 1
    key_matches "$CA_PEM" "$CA_KEY" || return 1
    openssl x509 -in "$CA_PEM" -noout -text 2>/dev/null | grep -q 'CA:TRUE'
}

# True when server.pem covers every requested name.
names_ok() {
    for entry in $SANS; do
        case "$entry" in
        DNS:*) out=$(openssl x509 -in "$SRV_PEM" -noout -checkhost "${entry#DNS:}" 2>&1) ;;
        IP:*) out=$(openssl x509 -in "$SRV_PEM" -noout -checkip "${entry#IP:}" 2>&1) ;;
        esac
        case "$out" in
        *"does match"*) ;;
        *) return 1 ;;
        esac
    done
}

server_ok() {
    [ -s "$SRV_PEM" ] && [ -s "$SRV_KEY" ] || return 1
    not_expiring "$SRV_PEM" || return 1
    key_matches "$SRV_PEM" "$SRV_KEY" || return 1
    openssl verify -CAfile "$CA_PEM" -purpose sslserver "$SRV_PEM" >/dev/null 2>&1 || return 1
    names_ok
}

# A positive 128-bit serial number.
serial() {
    printf '0x01%s' "$(openssl rand -hex 15)"
}

new_key() {
    openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 \
        -pkeyopt ec_param_enc:named_curve -out "$1" 2>/dev/null ||
        die "openssl genpkey failed"
}

make_ca() {
    host=$(hostname 2>/dev/null || echo localhost)
    new_key "$TMP/ca.key"
    cat >"$TMP/ca.cnf" <<EOF
[req]
distinguished_name = dn
prompt = no
x509_extensions = v3_ca
[dn]
O = HealOps development
CN = HealOps development CA ($host, $(date -u +%Y-%m-%d))
[v3_ca]
basicConstraints = critical, CA:TRUE, pathlen:0
keyUsage = critical, keyCertSign, cRLSign
subjectKeyIdentifier = hash
EOF
    openssl req -new -x509 -config "$TMP/ca.cnf" -key "$TMP/ca.key" -sha256 \
        -days "$CA_DAYS" -set_serial "$(serial)" -out "$TMP/ca.pem" 2>"$TMP/err" ||
        die "openssl req (CA) failed: $(cat "$TMP/err")"
    chmod 0600 "$TMP/ca.key"
    chmod 0644 "$TMP/ca.pem"
    # The key first: a crash between the two renames leaves a mismatch that the
    # next run detects and repairs.
    mv -f "$TMP/ca.key" "$CA_KEY"
    mv -f "$TMP/ca.pem" "$CA_PEM"
    say "made a new development CA: $CA_PEM"
}

make_server() {
    san=$(printf '%s' "$SANS" | tr ' ' ',')
    new_key "$TMP/server.key"
    cat >"$TMP/server.cnf" <<EOF
[req]
distinguished_name = dn
prompt = no
[dn]
O = HealOps development
CN = localhost
[v3_server]
basicConstraints = critical, CA:FALSE
keyUsage = critical, digitalSignature
extendedKeyUsage = serverAuth
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid:always
subjectAltName = $san
EOF
    openssl req -new -config "$TMP/server.cnf" -key "$TMP/server.key" -sha256 \
        -out "$TMP/server.csr" 2>"$TMP/err" ||
        die "openssl req (server) failed: $(cat "$TMP/err")"
    openssl x509 -req -in "$TMP/server.csr" -CA "$CA_PEM" -CAkey "$CA_KEY" -sha256 \
        -days "$SERVER_DAYS" -set_serial "$(serial)" -extfile "$TMP/server.cnf" \
        -extensions v3_server -out "$TMP/server.pem" 2>"$TMP/err" ||
        die "openssl x509 (sign server) failed: $(cat "$TMP/err")"
    chmod 0600 "$TMP/server.key"
    chmod 0644 "$TMP/server.pem"
    mv -f "$TMP/server.key" "$SRV_KEY"
    mv -f "$TMP/server.pem" "$SRV_PEM"
    say "made a new server certificate for $san: $SRV_PEM"
}

if ca_ok; then
    if server_ok; then
        say "keeping the valid CA and server certificate in $DIR"
    else
        make_server
    fi
else
    [ ! -e "$CA_PEM" ] || say "$CA_PEM is missing its key, invalid or expiring: replacing it"
    make_ca
    make_server
fi
chmod 0600 "$CA_KEY" "$SRV_KEY"
chmod 0644 "$CA_PEM" "$SRV_PEM"
server_ok || die "the new server certificate does not verify against $CA_PEM (bug)"
