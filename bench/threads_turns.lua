-- Two threads over one for W1, W2 and W5, measured in turns in one process:
-- each round runs K steps on 1 thread, 2K on 2, then K more on 1 (ABBA), so
-- that a slow minute on a shared machine lowers both sides of a round
-- rather than one. Prints the per-round ratio's median and range and the
-- best step of each side. The steps are the workloads' own (bench/mlp.lua,
-- conv.lua, lstm.lua) on random inputs of their shapes: the values change
-- no work. Usage: bin/nnlua bench/threads_turns.lua [W1|W2|W5 ...]
-- (default all three); K and ROUNDS from the environment (10 and 12).
-- With NNLUA_FMA_PEAK naming bench/fma_peak's binary, each round also runs
-- the FMA kernel once alone and twice at once (two processes), and the
-- line gives what two threads got from the machine's cores in those
-- minutes: on a VM the two vCPUs are at times one core's two hyperthreads
-- or share it with another tenant, and then no program gets 2x.
-- Each round also runs the workload itself as two one-thread processes at
-- once (`threads_turns.lua --solo NAME` times K steps on one thread): the
-- steps per second of the two together are what two independent copies
-- got from the two vCPUs in those minutes, memory and caches included, the
-- most two threads of one process could reach there; the line gives the
-- two-thread turns' rate as a share of it. (A one-thread figure depends on
-- which vCPU ran it: they differ by up to 1.4x here at times.)
local nl = require 'nnlua'
local nn, optim, data = nl.nn, nl.optim, nl.data

local function labels(n)
  local t = {}
  for i = 1, n do t[i] = (i * 7) % 10 + 1 end
  return nl.tensor(t, 'int64')
end

-- returns a step function and the samples (or tokens) one step counts
local WORKLOADS = {
  W1 = function()
    local model = nn.Sequential(nn.Linear(784, 512), nn.ReLU(), nn.Linear(512, 256), nn.ReLU(), nn.Linear(256, 10))
    local opt = optim.SGD(model:parameters(), { lr = 0.05, momentum = 0.9 })
    local crit = nn.CrossEntropyLoss()
    local loader = data.DataLoader(data.TensorDataset(nl.rand(6400, 784), labels(6400)),
                                   { batch_size = 128, shuffle = true, drop_last = true })
    local it = loader:iter()
    return function()
      local xb, yb = it()
      if not xb then it = loader:iter(); xb, yb = it() end
      local loss = crit(model(xb), yb)
      opt:zero_grad()
      loss:backward()
      opt:step()
    end, 128
  end,
  W2 = function()
    local model = nn.Sequential(nn.Conv2d(1, 32, 3, { padding = 1 }), nn.ReLU(), nn.MaxPool2d(2),
      nn.Conv2d(32, 64, 3, { padding = 1 }), nn.ReLU(), nn.MaxPool2d(2), nn.Flatten(),
      nn.Linear(3136, 128), nn.ReLU(), nn.Linear(128, 10))
    local opt = optim.Adam(model:parameters(), { lr = 1e-3 })
    local crit = nn.CrossEntropyLoss()
    local x, y = nl.rand(64, 1, 28, 28), labels(64)
    return function()
      local loss = crit(model(x), y)
      opt:zero_grad()
      loss:backward()
      opt:step()
    end, 64
  end,
  W5 = function()
    local lstm = nn.LSTM(64, 256)
    local opt = optim.SGD(lstm:parameters(), { lr = 0.01 })
    local x, y = nl.randn(64, 32, 64), nl.randn(64, 32, 256)
    return function()
      local loss = nn.functional.mse_loss(lstm(x), y)
      opt:zero_grad()
      loss:backward()
      opt:step()
    end, 64 * 32
  end,
}

local K, ROUNDS = tonumber(os.getenv('K')) or 10, tonumber(os.getenv('ROUNDS')) or 12
local peak_cmd = os.getenv('NNLUA_FMA_PEAK')
if peak_cmd == '' then peak_cmd = nil end

-- the mean FMA rates printed by the commands of cmd, in order
local function fma_rates(cmd)
  local p = io.popen(cmd)
  local out = p:read('*a')
  p:close()
  local r = {}
  for g in out:gmatch('mean: *([0-9.]+)') do r[#r + 1] = tonumber(g) end
  return r
end

-- two copies of the FMA kernel at once over one alone
local function fma_pair()
  local one = fma_rates(peak_cmd .. ' 3')[1]
  local two = fma_rates('(' .. peak_cmd .. ' 3 & ' .. peak_cmd .. ' 3; wait)')
  if not one or #two ~= 2 then error('threads_turns: could not read two FMA rates from ' .. peak_cmd) end
  return (two[1] + two[2]) / one
end

local self_cmd = ('%s %s'):format(arg[-1] or 'bin/nnlua', arg[0])

-- steps per second of two one-thread processes of name at once, together
local function workload_pair(name)
  local cmd = ('%s --solo %s'):format(self_cmd, name)
  local p = io.popen('(' .. cmd .. ' & ' .. cmd .. '; wait)')
  local out = p:read('*a')
  p:close()
  local r = {}
  for g in out:gmatch('solo: *([0-9.e-]+)') do r[#r + 1] = 1 / tonumber(g) end
  if #r ~= 2 then error('threads_turns: could not read two step times from ' .. cmd) end
  return r[1] + r[2]
end

if arg[1] == '--solo' then
  local name = arg[2]
  if not WORKLOADS[name] then error('threads_turns: no workload ' .. tostring(name) .. ' (W1, W2 or W5)') end
  nl.set_num_threads(1)
  nl.manual_seed(0)
  local step = WORKLOADS[name]()
  for _ = 1, 3 do step() end
  local t0 = nl.time()
  for _ = 1, K do step() end
  print(('solo: %.6e'):format((nl.time() - t0) / K))
  os.exit(0)
end

local function median(t)
  table.sort(t)
  return t[math.ceil(#t / 2)]
end
local names = #arg > 0 and arg or { 'W1', 'W2', 'W5' }
local prev = nl.get_num_threads()
for _, name in ipairs(names) do
  if not WORKLOADS[name] then error('threads_turns: no workload ' .. tostring(name) .. ' (W1, W2 or W5)') end
  nl.manual_seed(0)
  local step, per = WORKLOADS[name]()
  for th = 1, 2 do
    nl.set_num_threads(th)
    for _ = 1, 3 do step() end
  end
  local best, ratios, pairs_, wpairs = { math.huge, math.huge }, {}, {}, {}
  for _ = 1, ROUNDS do
    local t = {}
    for i, th in ipairs({ 1, 2, 2, 1 }) do
      nl.set_num_threads(th)
      step()                                  -- the first step after a switch is not timed
      local t0 = nl.time()
      for _ = 1, K do step() end
      t[i] = (nl.time() - t0) / K
      best[th] = math.min(best[th], t[i])
    end
    ratios[#ratios + 1] = (t[1] + t[4]) / (t[2] + t[3])
    if peak_cmd then pairs_[#pairs_ + 1] = fma_pair() end
    wpairs[#wpairs + 1] = 2 / (t[2] + t[3]) / workload_pair(name)
  end
  local med = median(ratios)
  print(('%s threads in turns: 2 over 1 median %.2fx (rounds %.2f-%.2f), best steps %.2fx; %.0f and %.0f per s on 1 and 2'):format(
    name, med, ratios[1], ratios[#ratios], best[1] / best[2], per / best[1], per / best[2]))
  if peak_cmd then
    local pm = median(pairs_)
    print(('%s the FMA kernel in the same rounds: two at once over one median %.2fx (rounds %.2f-%.2f); %s got %.0f%% of it'):format(
      name, pm, pairs_[1], pairs_[#pairs_], name, 100 * med / pm))
  end
  local wm = median(wpairs)
  print(('%s two threads in the same rounds against two one-thread processes at once: median %.0f%% of their steps per s (rounds %.0f-%.0f%%)'):format(
    name, 100 * wm, 100 * wpairs[1], 100 * wpairs[#wpairs]))
end
nl.set_num_threads(prev)
