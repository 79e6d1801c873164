-- F.grid_sample, bilinear, zeros padding: a 32 x 3 x 64 x 64 input read at
-- a random (32, 64, 64, 2) grid in [-1.1, 1.1], forward and backward (the
-- gradients to the input and the grid), the best of 6 rounds of STEPS
-- steps after 3 warm-up steps. Prints ms/step, one line per thread count:
-- NNLUA_NUM_THREADS when set, else 1 and 2. PyTorch's figure:
-- bench/grid_sample.py (the same sizes).
local nl = require 'nnlua'
local F = nl.nn.functional
local STEPS, WARMUP = tonumber(arg and arg[1]) or 20, 3

local function run(threads)
  nl.set_num_threads(threads)
  nl.manual_seed(0)
  local x = nl.randn(32, 3, 64, 64):requires_grad()
  local grid = ((nl.rand(32, 64, 64, 2) * 2 - 1) * 1.1):requires_grad()
  local w = nl.randn(32, 3, 64, 64)
  local function step()
    x.grad, grid.grad = nil, nil
    local y = F.grid_sample(x, grid, { align_corners = false })
    ;(y * w):sum():backward()
  end
  for _ = 1, WARMUP do step() end
  local best = math.huge
  for _ = 1, 6 do
    local t0 = nl.time()
    for _ = 1, STEPS do step() end
    best = math.min(best, nl.time() - t0)
  end
  print(('grid_sample bilinear 32x3x64x64: %.3f ms/step, %d threads (forward and backward, best of 6 rounds of %d)')
    :format(best / STEPS * 1e3, threads, STEPS))
end

local env = tonumber(os.getenv('NNLUA_NUM_THREADS') or '')
for _, th in ipairs(env and { env } or { 1, 2 }) do run(th) end
