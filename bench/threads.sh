#!/bin/sh
# Thread scaling: W1, W2 and W5 in nnlua and, where python has torch, in
# PyTorch, at each thread count given (default: 1, 2 and every core), in
# the same run. Usage: sh bench/threads.sh [threads...]
# PY picks the Python (default: python3 on the PATH).
cd "$(dirname "$0")/.." || exit 1
PY=${PY:-python3}
have_torch=0
$PY -c 'import torch' 2>/dev/null && have_torch=1
[ $# -eq 0 ] && set -- 1 2 "$(nproc)"
figure() { sh -c "$1" 2>&1 | grep "^$2" | head -n 1 | sed -E 's/^[^:]*: *([0-9.]+).*/\1/'; }
printf '| %-20s | %7s | %9s | %9s | %6s |\n' workload threads nnlua PyTorch ratio
printf '|%s|%s|%s|%s|%s|\n' ---------------------- --------- ----------- ----------- --------
for w in "W1 MLP (samples/s):mlp:W1" "W2 CNN (samples/s):conv:W2" "W5 LSTM (tokens/s):lstm:W5"; do
  name=${w%%:*}; rest=${w#*:}; script=${rest%%:*}; prefix=${rest#*:}
  for th in "$@"; do
    n=$(figure "NNLUA_NUM_THREADS=$th bin/nnlua bench/$script.lua" "$prefix")
    t=""; [ "$have_torch" = 1 ] && t=$(figure "NNLUA_NUM_THREADS=$th $PY bench/$script.py" "$prefix")
    r=""; [ -n "$n" ] && [ -n "$t" ] && r=$(awk "BEGIN { printf \"%.2fx\", $n / $t }")
    printf '| %-20s | %7s | %9s | %9s | %6s |\n' "$name" "$th" "${n:--}" "${t:--}" "${r:--}"
  done
done
