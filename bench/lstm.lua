-- W5: an LSTM, 1 layer, input 64, hidden 256, seq 64, batch 32: forward,
-- MSE against a fixed target, backward, SGD step; 50 steps after 5 warm-up
-- ones, best of 3 runs; tokens/s = steps * seq * batch / seconds. PyTorch's
-- figure: bench/lstm.py. Threads: NNLUA_NUM_THREADS, else 1 and 2, a line each.
local nl = require 'nnlua'
local nn, optim = nl.nn, nl.optim
local T, N, I, H, STEPS = 64, 32, 64, 256, 50

local function run(threads)
  nl.set_num_threads(threads)
  nl.manual_seed(0)
  local lstm = nn.LSTM(I, H)
  local opt = optim.SGD(lstm:parameters(), { lr = 0.01 })
  local x, y = nl.randn(T, N, I), nl.randn(T, N, H)
  local loss
  local function step()
    local out = lstm(x)
    loss = nn.functional.mse_loss(out, y)
    opt:zero_grad()
    loss:backward()
    opt:step()
  end
  for _ = 1, 5 do step() end
  local best = math.huge
  for _ = 1, 3 do
    local t0 = nl.time()
    for _ = 1, STEPS do step() end
    best = math.min(best, nl.time() - t0)
  end
  print(('W5 lstm: %.0f tokens/s, %d threads (nnlua %s; %d steps of seq %d x batch %d, I=%d H=%d; loss %.4f)'):format(
    STEPS * T * N / best, threads, nl._VERSION, STEPS, T, N, I, H, loss:item()))
end

local env = tonumber(os.getenv('NNLUA_NUM_THREADS') or '')
for _, th in ipairs(env and { env } or { 1, 2 }) do run(th) end
