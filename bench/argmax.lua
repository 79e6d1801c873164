-- argmax and max-with-indices along a dim, on one thread: microseconds per
-- call (best of 7 runs) for the accuracy metric's 32 x 10 and 128 x 10
-- along the classes, 1000 x 1000 and 4096 x 4096 float32 along each dim.
-- PyTorch's figures: bench/argmax.py, the same ops and shapes; run the two
-- in turns (for i in 1 2 3; do bin/nnlua bench/argmax.lua; python3 bench/argmax.py; done).
local nl = require 'nnlua'
nl.set_num_threads(1)
nl.manual_seed(0)
local clock = os.clock
local cases = {}
for _, s in ipairs({ { 32, 10, 20000 }, { 128, 10, 5000 }, { 1000, 1000, 20 }, { 4096, 4096, 2 } }) do
  local x = nl.randn(s[1], s[2])
  for d = 1, 2 do
    cases[#cases + 1] = { ('argmax %dx%d dim %d'):format(s[1], s[2], d), function() return x:argmax(d) end, s[3] }
  end
  cases[#cases + 1] = { ('max %dx%d dim 2'):format(s[1], s[2]), function() return x:max(2) end, s[3] }
end
for _, c in ipairs(cases) do
  local best = math.huge
  for _ = 1, 7 do
    local t0 = clock()
    for _ = 1, c[3] do c[2]() end
    best = math.min(best, (clock() - t0) / c[3])
  end
  print(('%s: %.2f us'):format(c[1], best * 1e6))
end
