#!/bin/sh
# Runs every unit test binary given, reports each failure, and ends with
# one "N passed, N failed" line. Exit status 1 when any binary failed.
# UNIT_WRAPPER (e.g. "valgrind --leak-check=full ...") runs each binary under it.
pass=0
fail=0
failed=""
for t in "$@"; do
    # shellcheck disable=SC2086 # the wrapper is a command line
    if $UNIT_WRAPPER "$t"; then
        pass=$((pass + 1))
    else
        fail=$((fail + 1))
        failed="$failed $t"
    fi
done
[ -n "$failed" ] && echo "failed unit suites:$failed"
echo "unit: $pass passed, $fail failed"
[ "$fail" -eq 0 ]
