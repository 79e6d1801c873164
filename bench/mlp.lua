-- W1: the Fashion-MNIST MLP 784-512-256-10 (ReLU), batch 128, SGD momentum
-- 0.9, lr 0.05, one epoch of 468 shuffled batches. Prints samples/s and the
-- test accuracy after the epoch. Threads: NNLUA_NUM_THREADS. The images stay
-- bytes (data.FashionMNIST) and each batch is converted as it is drawn, as
-- torchvision's datasets do; bench/mlp.py does the same in PyTorch.
local nl = require 'nnlua'
local nn, optim, data = nl.nn, nl.optim, nl.data
nl.manual_seed(0)
local train, test = data.FashionMNIST(), data.FashionMNIST(nil, { train = false })
local model = nn.Sequential(nn.Linear(784, 512), nn.ReLU(), nn.Linear(512, 256), nn.ReLU(), nn.Linear(256, 10))
local opt = optim.SGD(model:parameters(), { lr = 0.05, momentum = 0.9 })
local crit = nn.CrossEntropyLoss()
local loader = data.DataLoader(train, { batch_size = 128, shuffle = true, drop_last = true })
local t0, n = nl.time(), 0
for xb, yb in loader:iter() do
  local loss = crit(model(xb), yb)
  opt:zero_grad()
  loss:backward()
  opt:step()
  n = n + xb:size(1)
end
local dt = nl.time() - t0
local right = 0
nl.no_grad(function()
  for xb, yb in data.DataLoader(test, { batch_size = 1000 }):iter() do
    right = right + model(xb):argmax(2):eq(yb):sum():item()
  end
end)
local acc = right / #test
print(('W1 mlp: %.0f samples/s, test accuracy %.4f, %d threads'):format(n / dt, acc, nl.get_num_threads()))
