-- W4: fp32 matmul GFLOP/s at n = 256, 1024, 2048 (best of six runs: the
-- first ones also pay for fresh output pages, later ones reuse freed buffers).
local nl = require 'nnlua'
nl.manual_seed(0)
for _, n in ipairs({ 256, 1024, 2048 }) do
  local a, b = nl.randn(n, n), nl.randn(n, n)
  nl.matmul(a, b)
  local reps = math.max(1, math.floor(2e10 / (2 * n ^ 3)))
  local best = math.huge
  for _ = 1, 6 do
    local t0 = nl.time()
    for _ = 1, reps do local _ = nl.matmul(a, b) end
    best = math.min(best, (nl.time() - t0) / reps)
  end
  print(('W4 gemm n=%d: %.1f GFLOP/s, %d threads'):format(n, 2 * n ^ 3 / best / 1e9, nl.get_num_threads()))
end
