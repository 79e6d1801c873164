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

# busted's closing line in log $1 -> b_pass, b_fail
busted_counts() {
  b_line=$(grep -E '^[0-9]+ successes? / [0-9]+ failures? / [0-9]+ errors? / [0-9]+ pending' "$1" | tail -n 1)
  if [ -n "$b_line" ]; then
    b_pass=$(echo "$b_line" | sed -E 's/^([0-9]+) success.*/\1/')
    b_fail=$(echo "$b_line" | sed -E 's/^[0-9]+ successe?s? \/ ([0-9]+) failures? \/ ([0-9]+) error.*/\1 + \2/')
    b_fail=$(($b_fail))
  else
    b_pass=0; b_fail=1; echo "busted did not finish ($1)"
  fi
}

echo "== busted specs"
luajit /usr/bin/busted -o plainTerminal ${SPEC:-tests/spec} 2>&1 | tee build/busted.log
busted_counts build/busted.log
passed=$((c_pass + b_pass))
failed=$((c_fail + b_fail))

# The kernels' specs again with the AVX-512 kernels off, as on a CPU
# with AVX2 only: those paths (the AVX2 kernels, BLIS's own, the plain
# loops) must give the same answers. Only where the CPU has AVX-512;
# elsewhere the run above was that already.
FALLBACK_SPECS="attention autograd conv data elementwise fit golden gradcheck linear loss nn_golden optim reduce
                rnn tensor threads"
if grep -q avx512f /proc/cpuinfo 2>/dev/null; then
  echo "== busted specs of the kernels, AVX-512 off (NNLUA_CPU_CAPABILITY=avx2)"
  if [ -n "$SPEC" ]; then files=$SPEC; else files=$(for s in $FALLBACK_SPECS; do printf 'tests/spec/%s_spec.lua ' $s; done); fi
  NNLUA_CPU_CAPABILITY=avx2 luajit /usr/bin/busted -o plainTerminal $files 2>&1 | tee build/busted_fallback.log
  busted_counts build/busted_fallback.log
  passed=$((passed + b_pass))
  failed=$((failed + b_fail))
fi

echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
