-- One Adam step over the weights of a 784-512-256-10 MLP (784x512, 512x256,
-- 256x10: 535,040 float32 parameters) on one thread: microseconds per
-- step, best of 5 runs of N steps. PyTorch's figure: bench/optim_step.py.
local nl = require 'nnlua'
local optim = nl.optim.Adam and nl.optim or require('nnlua.optim')(nl)
local N = tonumber(arg and arg[1]) or 200
nl.set_num_threads(1)
nl.manual_seed(0)
local params = {}
for i, shape in ipairs({ { 784, 512 }, { 512, 256 }, { 256, 10 } }) do
  local p = nl.randn(shape):requires_grad()
  p.grad = nl.randn(shape)
  params[i] = p
end
local opt = optim.Adam(params, { lr = 1e-3 })
local function run(n) for _ = 1, n do opt:step() end end
run(20)                                     -- warm up: state created, JIT traces
local best = math.huge
for _ = 1, 5 do
  local t0 = os.clock()
  run(N)
  best = math.min(best, os.clock() - t0)
end
print(string.format('Adam step, 535040 float32 params, 1 thread (nnlua %s): %.1f us/step (%d steps, best of 5)',
                    nl._VERSION, best / N * 1e6, N))
