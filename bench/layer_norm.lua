-- nn.LayerNorm(512) on a 32 x 128 x 512 float32 input, forward and
-- backward (the gradients to the input, weight and bias), the best of 6
-- rounds of STEPS steps after 3 warm-up steps. Prints ms/step, one line
-- per thread count: NNLUA_NUM_THREADS when set, else 1 and 2. PyTorch's
-- figure: bench/layer_norm.py (the same sizes).
local nl = require 'nnlua'
local STEPS, WARMUP = tonumber(arg and arg[1]) or 20, 3

local function run(threads)
  nl.set_num_threads(threads)
  nl.manual_seed(0)
  local m = nl.nn.LayerNorm(512)
  local x = nl.randn(32, 128, 512):requires_grad()
  local w = nl.randn(32, 128, 512)
  local function step()
    x.grad, m.weight.grad, m.bias.grad = nil, nil, nil
    m(x):backward(w)
  end
  for _ = 1, WARMUP do step() end
  local best = math.huge
  for _ = 1, 6 do
    local t0 = nl.time()
    for _ = 1, STEPS do step() end
    best = math.min(best, nl.time() - t0)
  end
  print(('LayerNorm(512) 32x128x512: %.3f ms/step, %d threads (forward and backward, best of 6 rounds of %d)')
    :format(best / STEPS * 1e3, threads, STEPS))
end

local env = tonumber(os.getenv('NNLUA_NUM_THREADS') or '')
for _, th in ipairs(env and { env } or { 1, 2 }) do run(th) end
