-- A small 3-D CNN step (Conv3d 1->8 k3 pad 1, ReLU, MaxPool3d 2; Conv3d
-- 8->16 k3 pad 1, ReLU, AdaptiveAvgPool3d 1; Linear 16-4), batch 8 of
-- random 16^3 volumes, SGD lr 0.01: forward, backward and step, the best
-- of 6 rounds of STEPS steps (a shared machine's other load shows in the
-- mean) after 3 warm-up steps. Prints ms/step, one line per thread count:
-- NNLUA_NUM_THREADS when set, else 1 and 2. PyTorch's figure:
-- bench/conv3d.py (the same network and sizes).
local nl = require 'nnlua'
local nn, optim = nl.nn, nl.optim
local STEPS, WARMUP, BS = tonumber(arg and arg[1]) or 10, 3, 8

local function run(threads)
  nl.set_num_threads(threads)
  nl.manual_seed(0)
  local model = nn.Sequential(
    nn.Conv3d(1, 8, 3, { padding = 1 }), nn.ReLU(), nn.MaxPool3d(2),
    nn.Conv3d(8, 16, 3, { padding = 1 }), nn.ReLU(), nn.AdaptiveAvgPool3d(1),
    nn.Flatten(), nn.Linear(16, 4))
  local opt = optim.SGD(model:parameters(), { lr = 0.01 })
  local crit = nn.CrossEntropyLoss()
  local X, y = nl.randn(BS, 1, 16, 16, 16), (nl.rand(BS) * 4):long() + 1
  local function step()
    local loss = crit(model(X), y)
    opt:zero_grad()
    loss:backward()
    opt:step()
    return loss
  end
  for _ = 1, WARMUP do step() end
  local best = math.huge
  for _ = 1, 6 do
    local t0 = nl.time()
    for _ = 1, STEPS do step() end
    best = math.min(best, nl.time() - t0)
  end
  print(('conv3d cnn: %.2f ms/step, %d threads (best of 6 rounds of %d steps of %d volumes 16^3)'):format(
    best / STEPS * 1e3, threads, STEPS, BS))
end

local env = tonumber(os.getenv('NNLUA_NUM_THREADS') or '')
for _, th in ipairs(env and { env } or { 1, 2 }) do run(th) end
