-- W4: fp32 matmul GFLOP/s at n = 256, 1024, 2048 (best of six runs: the
-- first ones also pay for fresh output pages, later ones reuse freed buffers).
-- With NNLUA_FMA_PEAK naming bench/fma_peak's binary, a last line gives
-- n = 2048 as a share of the FMA peak with the two measured in turns, six
-- rounds of each, so that a slow minute on a shared machine lowers both
-- rather than one. Each side is the best of 30 timings of similar length:
-- fma_peak reports the best of its 5 runs (about 60 ms each), and a round
-- here times 5 products (about 110 ms each) one by one.
local nl = require 'nnlua'
nl.manual_seed(0)

local function gemm_round(a, b, n, reps)
  local t0 = nl.time()
  for _ = 1, reps do local _ = nl.matmul(a, b) end
  return 2 * n ^ 3 / ((nl.time() - t0) / reps) / 1e9
end

for _, n in ipairs({ 256, 1024, 2048 }) do
  local a, b = nl.randn(n, n), nl.randn(n, n)
  nl.matmul(a, b)
  local reps = math.max(1, math.floor(2e10 / (2 * n ^ 3)))
  local best = 0
  for _ = 1, 6 do best = math.max(best, gemm_round(a, b, n, reps)) end
  print(('W4 gemm n=%d: %.1f GFLOP/s, %d threads'):format(n, best, nl.get_num_threads()))
end

local peak_cmd = os.getenv('NNLUA_FMA_PEAK')
if peak_cmd and peak_cmd ~= '' and nl.get_num_threads() == 1 then
  local n = 2048
  local a, b = nl.randn(n, n), nl.randn(n, n)
  local reps = math.max(1, math.floor(2e10 / (2 * n ^ 3)))
  local best_gemm, best_peak = 0, 0
  for _ = 1, 6 do
    local p = io.popen(peak_cmd)
    local line = p:read('*a')
    p:close()
    local peak = tonumber(line:match('peak: *([0-9.]+)'))
    if not peak then error('W4: could not read a peak from ' .. peak_cmd .. ': ' .. line) end
    best_peak = math.max(best_peak, peak)
    for _ = 1, 5 do best_gemm = math.max(best_gemm, gemm_round(a, b, n, reps)) end
  end
  print(('W4 share of peak n=2048: %.1f%% (GEMM %.1f GFLOP/s, FMA peak %.1f, best of 6 rounds of 5 timings each, in turns)'):format(
    100 * best_gemm / best_peak, best_gemm, best_peak))
end
