-- W1's SGD step over four epochs, with IEEE subnormals (the default) and
-- with nl.set_flush_denormal(true): the momentum buffers of weights that
-- rarely get a gradient decay into the subnormal range, which the CPU
-- computes slowly. Prints each mode's median step time in epochs 1 and 4,
-- one thread. Usage: bin/nnlua bench/denormal.lua [epochs]
local nl = require 'nnlua'
local nn, optim, data = nl.nn, nl.optim, nl.data
nl.set_num_threads(1)
local epochs = tonumber(arg and arg[1]) or 4
local train = data.FashionMNIST()

local function run(flush)
  nl.set_flush_denormal(flush)
  nl.manual_seed(0)
  local model = nn.Sequential(nn.Linear(784, 512), nn.ReLU(), nn.Linear(512, 256), nn.ReLU(), nn.Linear(256, 10))
  local opt = optim.SGD(model:parameters(), { lr = 0.05, momentum = 0.9 })
  local crit = nn.CrossEntropyLoss()
  local loader = data.DataLoader(train, { batch_size = 128, shuffle = true, drop_last = true })
  local medians = {}
  for e = 1, epochs do
    local ts = {}
    for xb, yb in loader:iter() do
      local loss = crit(model(xb), yb)
      opt:zero_grad()
      loss:backward()
      local t0 = nl.time()
      opt:step()
      ts[#ts + 1] = nl.time() - t0
    end
    table.sort(ts)
    medians[e] = ts[math.ceil(#ts / 2)]
  end
  nl.set_flush_denormal(false)
  return medians
end

for _, flush in ipairs({ false, true }) do
  local m = run(flush)
  print(('SGD step, %s: epoch 1 %.0f us, epoch %d %.0f us (%.2fx)'):format(
    flush and 'subnormals flushed' or 'IEEE subnormals', m[1] * 1e6, epochs, m[epochs] * 1e6, m[epochs] / m[1]))
end
