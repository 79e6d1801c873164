#!/bin/sh
# Runs each libFuzzer harness built in build/fuzz/ for FUZZ_SECONDS (60)
# seconds, from its seed corpus (tests/fuzz/corpus/<name>/) and the inputs
# that once crashed it (tests/fuzz/regressions/<name>/, replayed first).
# New inputs go to build/fuzz/work-<name>/, never into the source tree; a
# crash is saved as build/fuzz/crashes-<name>/crash-*: copy it into
# tests/fuzz/regressions/<name>/ once fixed (the busted suite replays it).
# Prints one line per harness, "fuzz_<name>: N executions in S s, K crashes",
# and exits non-zero when any harness crashed.
cd "$(dirname "$0")/../.." || exit 1
secs=${FUZZ_SECONDS:-60}
status=0
summary=""
for name in ${FUZZ_HARNESSES:-safetensors idx csv}; do
  bin=build/fuzz/fuzz_$name
  work=build/fuzz/work-$name
  crashes=build/fuzz/crashes-$name
  mkdir -p "$work" "$crashes" "tests/fuzz/regressions/$name"
  echo "== fuzz_$name for $secs s"
  UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
  "$bin" -max_total_time="$secs" -print_final_stats=1 -max_len=16384 -timeout=10 -rss_limit_mb=4096 \
    -artifact_prefix="$crashes/" "$work" "tests/fuzz/corpus/$name" "tests/fuzz/regressions/$name" \
    > "build/fuzz/$name.log" 2>&1
  rc=$?
  tail -n 20 "build/fuzz/$name.log"
  execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "build/fuzz/$name.log" | tail -n 1)
  found=$(find "$crashes" -type f | wc -l)
  if [ "$rc" -ne 0 ] || [ "$found" -ne 0 ]; then status=1; fi
  summary="$summary
fuzz_$name: ${execs:-0} executions in $secs s, $found crashes (exit status $rc)"
done
echo "$summary"
exit $status
