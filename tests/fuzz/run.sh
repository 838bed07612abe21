#!/bin/sh
# Runs every fuzz target in DIR for SECONDS each, from its seed corpus (tests/fuzz/corpus/NAME)
# plus what earlier runs found (DIR/corpus-NAME). Ends with "fuzz: N passed, N failed".
#   run.sh DIR SECONDS target...
dir=$1
secs=$2
shift 2
pass=0
fail=0
for t in "$@"; do
    name=${t#fuzz_}
    mkdir -p "$dir/corpus-$name" "$dir/crashes-$name"
    if "$dir/$t" -max_total_time="$secs" -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 \
        -artifact_prefix="$dir/crashes-$name/" "$dir/corpus-$name" "tests/fuzz/corpus/$name" \
        > "$dir/$t.log" 2>&1; then
        pass=$((pass + 1))
        echo "ok   $t: $(grep -m1 'stat::number_of_executed_units' "$dir/$t.log" | awk '{print $2}') runs in ${secs} s"
    else
        fail=$((fail + 1))
        echo "FAIL $t (see $dir/$t.log):"
        tail -30 "$dir/$t.log"
    fi
done
echo "fuzz: $pass passed, $fail failed"
[ "$fail" -eq 0 ]
