#!/bin/sh
# Runs the C unit tests and the busted specs, then prints one closing line
# "N passed, N failed" over both; exits non-zero when anything failed.
cd "$(dirname "$0")/.." || exit 1
mkdir -p build

echo "== C unit tests"
build/test_c | tee build/test_c.log
c_line=$(grep -E '^[0-9]+ passed, [0-9]+ failed$' build/test_c.log | tail -n 1)
c_pass=$(echo "$c_line" | sed -E 's/^([0-9]+) passed.*/\1/')
c_fail=$(echo "$c_line" | sed -E 's/.* ([0-9]+) failed$/\1/')
[ -n "$c_line" ] || { c_pass=0; c_fail=1; echo "C tests did not finish"; }

echo "== busted specs"
luajit /usr/bin/busted -o plainTerminal ${SPEC:-tests/spec} 2>&1 | tee build/busted.log
b_line=$(grep -E '^[0-9]+ successes? / [0-9]+ failures? / [0-9]+ errors? / [0-9]+ pending' build/busted.log | tail -n 1)
if [ -n "$b_line" ]; then
  b_pass=$(echo "$b_line" | sed -E 's/^([0-9]+) success.*/\1/')
  b_fail=$(echo "$b_line" | sed -E 's/^[0-9]+ successe?s? \/ ([0-9]+) failures? \/ ([0-9]+) error.*/\1 + \2/')
  b_fail=$(($b_fail))
else
  b_pass=0; b_fail=1; echo "busted did not finish"
fi

passed=$((c_pass + b_pass))
failed=$((c_fail + b_fail))
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
