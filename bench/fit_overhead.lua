-- fit_overhead: the per-step cost of model:fit and model:train_on_batch
-- against the hand-written loop (zero_grad, loss, backward, step) on a
-- model small enough for the overhead to show: Linear(32,64)-ReLU-
-- Linear(64,10), batch 32, Adam, cross_entropy, epochs of 100 batches
-- from the same shuffled DataLoader (STEPS / 100 of them). Prints the
-- best of REPS wall times per step and each way's ratio to the hand loop.
--   nnlua bench/fit_overhead.lua [steps] [reps]   every way, timed
--   nnlua bench/fit_overhead.lua WAY [steps]      one way, once (for callgrind:
--     instructions per step from two step counts' difference)
-- WAY: hand, fit, fit_acc (metrics {'accuracy'}), tob, tob_acc
local nl = require 'nnlua'
local nn, optim, data = nl.nn, nl.optim, nl.data

local way = arg and arg[1]
local steps, reps
if way and not tonumber(way) then steps, reps = tonumber(arg[2]) or 200, 1
else way, steps, reps = nil, tonumber(arg and arg[1]) or 300, tonumber(arg and arg[2]) or 7 end

local B, NB = 32, 100
local epochs = math.max(1, math.floor(steps / NB))
steps = epochs * NB
nl.manual_seed(1)
local X = nl.randn(NB * B, 32)
local Y = nl.randint(1, 11, { NB * B }, 'int64')

local function model_of()
  nl.manual_seed(2)
  return nn.Sequential(nn.Linear(32, 64), nn.ReLU(), nn.Linear(64, 10))
end
local function loader_of() return data.DataLoader(data.TensorDataset(X, Y), { batch_size = B, shuffle = true }) end

local RUN = {}
function RUN.hand()
  local model = model_of()
  local opt = optim.Adam(model:parameters(), { lr = 1e-3 })
  local crit = nn.CrossEntropyLoss()
  local loader = loader_of()
  model:train()
  return function()
    for _ = 1, epochs do
      for x, y in loader:iter() do
        opt:zero_grad()
        local loss = crit(model(x), y)
        loss:backward()
        opt:step()
      end
    end
  end
end
local function fit_of(metrics)
  return function()
    local model = model_of()
    model:compile { optimizer = 'adam', loss = 'cross_entropy', lr = 1e-3, metrics = metrics }
    return function() model:fit(X, Y, { epochs = epochs, batch_size = B, verbose = 0 }) end
  end
end
RUN.fit, RUN.fit_acc = fit_of(nil), fit_of({ 'accuracy' })
local function tob_of(metrics)
  return function()
    local model = model_of()
    model:compile { optimizer = 'adam', loss = 'cross_entropy', lr = 1e-3, metrics = metrics }
    local loader = loader_of()
    return function()
      for _ = 1, epochs do
        for x, y in loader:iter() do model:train_on_batch(x, y) end
      end
    end
  end
end
RUN.tob, RUN.tob_acc = tob_of(nil), tob_of({ 'accuracy' })

if way then
  if not RUN[way] then error('fit_overhead: no way ' .. tostring(way)) end
  RUN[way]()()
  return
end

local ORDER = { 'hand', 'fit', 'fit_acc', 'tob', 'tob_acc' }
local best = {}
for _, w in ipairs(ORDER) do
  local f = RUN[w]()
  f()                                         -- warm up the JIT and the caches
  best[w] = math.huge
  for _ = 1, reps do
    local t0 = nl.time()
    f()
    best[w] = math.min(best[w], nl.time() - t0)
  end
end
for _, w in ipairs(ORDER) do
  print(('fit_overhead %-8s %8.2f us/step  ratio to hand %.3f'):format(w, best[w] / steps * 1e6, best[w] / best.hand))
end
