#!/bin/sh
# make bench: every workload in nnlua and, where python3-torch is installed,
# the same workload in PyTorch, in the same run, at 1 and 2 threads; then a
# table: figure, threads, nnlua, PyTorch, ratio. Long measurements live
# here, never in the tests.
cd "$(dirname "$0")/.." || exit 1
PY=/usr/bin/python3
have_torch=0
$PY -c 'import torch' 2>/dev/null && have_torch=1
out=build/bench.txt
mkdir -p build
: > "$out"

# first number after the colon of the line that starts with $2, from command $1
figure() { sh -c "$1" 2>&1 | grep "^$2" | head -n 1 | sed -E 's/^[^:]*: *([0-9.]+).*/\1/'; }

row() {  # name threads nnlua-cmd torch-cmd line-prefix unit higher-is-better
  n=$(figure "$3" "$5")
  t=""
  [ "$have_torch" = 1 ] && [ -n "$4" ] && t=$(figure "$4" "$5")
  ratio=""
  if [ -n "$n" ] && [ -n "$t" ]; then
    if [ "$7" = 1 ]; then ratio=$(awk "BEGIN { printf \"%.2fx\", $n / $t }")
    else ratio=$(awk "BEGIN { printf \"%.2fx\", $t / $n }"); fi
  fi
  printf '| %-26s | %s | %12s | %12s | %7s |\n' "$1 ($6)" "$2" "${n:--}" "${t:--}" "${ratio:--}" | tee -a "$out"
}

echo "machine: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'), $(nproc) cores, BLIS $(bin/nnlua -e 'io.write(nl.blas_arch())')"
cc -O2 bench/fma_peak.c -o build/fma_peak && build/fma_peak | tee -a "$out"
echo "ratio: nnlua's advantage (> 1 means nnlua is faster)"
printf '| %-26s | %s | %12s | %12s | %7s |\n' figure threads nnlua PyTorch ratio
printf '|%s|%s|%s|%s|%s|\n' ---------------------------- --------- -------------- -------------- ---------
for th in 1 2; do
  e="NNLUA_NUM_THREADS=$th"
  row "W1 MLP" $th "$e bin/nnlua bench/mlp.lua" "$e $PY bench/mlp.py" "W1 mlp" "samples/s" 1
  [ -f bench/conv.lua ] && row "W2 CNN" $th "$e bin/nnlua bench/conv.lua" "$e $PY bench/conv.py" "W2" "samples/s" 1
  row "W3 per-op overhead" $th "$e bin/nnlua bench/overhead.lua" "$e $PY bench/overhead.py" "W3" "us/op" 0
  for n in 256 1024 2048; do
    row "W4 GEMM n=$n" $th "$e bin/nnlua bench/gemm.lua | grep n=$n" "$e $PY bench/gemm.py | grep n=$n" "W4 gemm n=$n" "GFLOP/s" 1
  done
  # n = 2048 against the FMA peak, the two timed in turns (bench/gemm.lua)
  [ "$th" = 1 ] && row "W4 n=2048 share of peak" $th "$e NNLUA_FMA_PEAK=build/fma_peak bin/nnlua bench/gemm.lua" "" \
    "W4 share of peak" "%" 1
  [ -f bench/lstm.lua ] && row "W5 LSTM" $th "$e bin/nnlua bench/lstm.lua" "$e $PY bench/lstm.py" "W5" "tokens/s" 1
done
# two threads over one, each round timing both in turns in one process
[ "$(nproc)" -ge 2 ] && NNLUA_FMA_PEAK=build/fma_peak bin/nnlua bench/threads_turns.lua 2>&1 | tee -a "$out"
row "Adam step, W1 params" 1 "bin/nnlua bench/optim_step.lua" "$PY bench/optim_step.py | grep default" "Adam step" "us" 0
# the SGD step of W1's epochs 1 and 4, with and without subnormals flushed
bin/nnlua bench/denormal.lua 2>&1 | tee -a "$out"

# W1 over processes (nl.dist on Open MPI, one thread each): samples/s of
# the whole job with 1 and 2 processes, at W1's global batch of 128 (64 per
# rank) and at 128 per rank; the scaling ratio is 2 processes over 1. The
# "after" row averages the gradients after backward instead of overlapping
# the buckets with it.
if command -v mpirun >/dev/null 2>&1; then
  mpi="NNLUA_NUM_THREADS=1 mpirun --mca plm isolated --mca pml ob1 --mca btl self,vader"
  [ "$(id -u)" = 0 ] && mpi="$mpi --allow-run-as-root"
  [ "$(nproc)" -lt 2 ] && mpi="$mpi --oversubscribe"
  d1=$(figure "$mpi -np 1 bin/nnlua bench/mlp_dist.lua" "W1 dist")
  d2=$(figure "$mpi -np 2 bin/nnlua bench/mlp_dist.lua" "W1 dist")
  d2w=$(figure "$mpi -np 2 bin/nnlua bench/mlp_dist.lua 128" "W1 dist")
  d2a=$(figure "$mpi -np 2 bin/nnlua bench/mlp_dist.lua 64 after" "W1 dist")
  printf '| %-26s | %s | %12s | %12s | %7s |\n' "W1 MPI 1 proc (samples/s)" 1 "${d1:--}" - - | tee -a "$out"
  printf '| %-26s | %s | %12s | %12s | %7s |\n' "W1 MPI 2 x 64 (samples/s)" 1 "${d2:--}" - - | tee -a "$out"
  printf '| %-26s | %s | %12s | %12s | %7s |\n' "W1 MPI 2 x 128 (samples/s)" 1 "${d2w:--}" - - | tee -a "$out"
  printf '| %-26s | %s | %12s | %12s | %7s |\n' "W1 MPI 2 x 64, after" 1 "${d2a:--}" - - | tee -a "$out"
  if [ -n "$d1" ] && [ -n "$d2" ] && [ -n "$d2w" ]; then
    echo "W1 scaling, 2 processes over 1: $(awk "BEGIN { printf \"%.2fx\", $d2 / $d1 }") at batch 64 per process," \
      "$(awk "BEGIN { printf \"%.2fx\", $d2w / $d1 }") at 128 per process" | tee -a "$out"
  fi
else
  echo "mpirun is not installed: no W1 over processes (apt-get install openmpi-bin)"
fi

# the embedding host's per-call latency (issue: embedding)
el=$(sh bench/embed.sh 2>/dev/null | sed -E 's/^[^:]*: *([0-9.]+).*/\1/')
printf '| %-26s | %s | %12s | %12s | %7s |\n' "embed latency (us/sample)" 1 "${el:--}" - - | tee -a "$out"

# startup and memory
best() { b=999999; for i in 1 2 3 4 5; do s=$(date +%s%N); "$@" >/dev/null 2>&1; e=$(date +%s%N); d=$(( (e - s) / 1000 )); [ $d -lt $b ] && b=$d; done; echo $b; }
sn=$(best bin/nnlua -e '')
st=""; [ "$have_torch" = 1 ] && st=$(best $PY -c 'import torch')
printf '| %-26s | %s | %12s | %12s | %7s |\n' "startup (ms)" 1 "$(awk "BEGIN{printf \"%.1f\", $sn/1000}")" \
  "$( [ -n "$st" ] && awk "BEGIN{printf \"%.1f\", $st/1000}" || echo -)" \
  "$( [ -n "$st" ] && awk "BEGIN{printf \"%.0fx\", $st/$sn}" || echo -)" | tee -a "$out"
rn=$(NNLUA_NUM_THREADS=1 /usr/bin/time -f '%M' bin/nnlua bench/mlp.lua 2>&1 >/dev/null | tail -n 1)
rt=""; [ "$have_torch" = 1 ] && rt=$(NNLUA_NUM_THREADS=1 /usr/bin/time -f '%M' $PY bench/mlp.py 2>&1 >/dev/null | tail -n 1)
printf '| %-26s | %s | %12s | %12s | %7s |\n' "W1 peak RSS (MB)" 1 "$((rn / 1024))" "$( [ -n "$rt" ] && echo $((rt / 1024)) || echo -)" \
  "$( [ -n "$rt" ] && awk "BEGIN{printf \"%.1fx\", $rt/$rn}" || echo -)" | tee -a "$out"
[ "$have_torch" = 1 ] || echo "python3-torch is not installed: PyTorch columns are empty (apt-get install python3-torch)"
