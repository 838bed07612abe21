#!/bin/sh
# Runs integration cases (all, or those whose names contain the given words) with every
# healops-server and healops-agent under Valgrind memcheck, then fails when any process
# logged a memory error or a definite/indirect leak.
#   sh tests/integration/valgrind.sh BUILD [case-name-words...]
set -u
build=$1
shift
logs=$(mktemp -d "${TMPDIR:-/tmp}/healops-vg.XXXXXX") || exit 1
HEALOPS_WRAP="valgrind --quiet --leak-check=full --errors-for-leak-kinds=definite,indirect \
--suppressions=$(pwd)/tests/unit/valgrind.supp --log-file=$logs/vg-%p.log" \
    python3 tests/integration/run.py --build "$build" "$@"
rc=$?
bad=0
for f in "$logs"/vg-*.log; do
    # memcheck reports are "==PID==" lines; "--PID--" lines are valgrind's own notes
    # (e.g. pidfd_open, which it does not know; the agent then falls back to waitpid).
    # A child whose exec fails on purpose (test_exec_failure_is_error_with_reason) makes
    # valgrind itself give up in that child: its "EXEC FAILED" lines are not our errors.
    grep '^==[0-9]*==' "$f" | grep -v -e 'execve(' -e 'EXEC FAILED' -e 'PRE(sys_execve)' \
        >"$f.errors"
    [ -s "$f.errors" ] || continue
    bad=$((bad + 1))
    echo "valgrind: $f:"
    head -40 "$f.errors"
done
n=$(ls "$logs"/vg-*.log | wc -l)
echo "valgrind: $n processes checked, $bad with errors or leaks"
rm -rf "$logs"
[ "$rc" -eq 0 ] && [ "$bad" -eq 0 ]
