-- W2: the Fashion-MNIST CNN of examples/fashion_mnist_cnn.lua (conv3x3
-- 1->32 pad 1, ReLU, maxpool 2; conv3x3 32->64 pad 1, ReLU, maxpool 2;
-- Linear 3136-128, ReLU, Linear 128-10), batch 64, Adam lr 1e-3, 200 steps
-- on shuffled Fashion-MNIST images (after 10 warm-up steps). Prints
-- samples/s, one line per thread count: NNLUA_NUM_THREADS when set, else 1
-- and 2. PyTorch's figure: bench/conv.py.
local nl = require 'nnlua'
local nn, optim, data = nl.nn, nl.optim, nl.data
local STEPS, WARMUP, BS = tonumber(arg and arg[1]) or 200, 10, 64

local train = data.fashion_mnist()
local X, y = train.X:view(-1, 1, 28, 28), train.y

local function run(threads)
  nl.set_num_threads(threads)
  nl.manual_seed(0)
  local model = nn.Sequential(
    nn.Conv2d(1, 32, 3, { padding = 1 }), nn.ReLU(), nn.MaxPool2d(2),
    nn.Conv2d(32, 64, 3, { padding = 1 }), nn.ReLU(), nn.MaxPool2d(2),
    nn.Flatten(), nn.Linear(3136, 128), nn.ReLU(), nn.Linear(128, 10))
  local opt = optim.Adam(model:parameters(), { lr = 1e-3 })
  local crit = nn.CrossEntropyLoss()
  local perm = nl.randperm(X:size(1))
  local function step(i)
    local idx = perm:narrow(1, ((i - 1) * BS) % (X:size(1) - BS) + 1, BS)
    local loss = crit(model(X:index_select(1, idx)), y:index_select(1, idx))
    opt:zero_grad()
    loss:backward()
    opt:step()
    return loss
  end
  for i = 1, WARMUP do step(i) end
  local t0 = nl.time()
  local loss
  for i = 1, STEPS do loss = step(WARMUP + i) end
  loss = loss:item()
  local dt = nl.time() - t0
  print(('W2 cnn: %.0f samples/s, %d threads (%d steps of %d, %.2f ms/step, last loss %.3f)'):format(
    STEPS * BS / dt, threads, STEPS, BS, dt / STEPS * 1e3, loss))
end

local env = tonumber(os.getenv('NNLUA_NUM_THREADS') or '')
for _, th in ipairs(env and { env } or { 1, 2 }) do run(th) end
