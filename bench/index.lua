-- index_select, gather and flip along a batch's last dims, on one thread:
-- microseconds per call (best of 7 runs of 20) on a 128 x 1 x 28 x 28
-- float32 batch (a Fashion-MNIST batch flipped along W by a reversed
-- index, gathered by that index expanded to the batch, flipped along W
-- and H, and along N) and a 64 x 3 x 32 x 32 float64 one (flipped along
-- H and W in float32). PyTorch's figures:
-- bench/index.py, the same ops and shapes; run the two in turns.
local nl = require 'nnlua'
nl.set_num_threads(1)
nl.manual_seed(0)
local clock = os.clock
local x = nl.randn(128, 1, 28, 28)
local rev = nl.arange(28, 0, -1, 'int64')
local gidx = rev:view(1, 1, 1, 28):expand(128, 1, 28, 28):contiguous()
local x2 = nl.randn(64, 3, 32, 32):double()
local rev2 = nl.arange(32, 0, -1, 'int64')
local x2f = nl.randn(64, 3, 32, 32)
local ops = {
  { 'index_select_W', function() return x:index_select(4, rev) end },
  { 'gather_W', function() return x:gather(4, gidx) end },
  { 'flip_W', function() return x:flip(4) end },
  { 'flip_H', function() return x:flip(3) end },
  { 'flip_N', function() return x:flip(1) end },
  { 'flip_HW', function() return x2f:flip(3, 4) end },
  { 'index_select_W_f64', function() return x2:index_select(4, rev2) end },
}
for _, o in ipairs(ops) do
  local best = math.huge
  for rep = 1, 7 do
    local t0 = clock()
    for i = 1, 20 do o[2]() end
    local dt = (clock() - t0) / 20
    if dt < best then best = dt end
  end
  print(('%s %.1f'):format(o[1], best * 1e6))
end
