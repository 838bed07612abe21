# Sourced by this package's scripts. cert_end_epoch: reads a PEM certificate on
# stdin and prints its notAfter as seconds since 1970 (GNU date).
cert_end_epoch() {
    end=$(openssl x509 -noout -enddate 2>/dev/null | sed -n 's/^notAfter=//p')
    [ -n "$end" ] || return 1
    date -u -d "$end" +%s 2>/dev/null
}
