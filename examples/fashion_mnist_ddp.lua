-- Fashion-MNIST's 784-512-256-10 MLP trained data-parallel over processes
-- on Open MPI: every rank holds a replica of the model (nn.DataParallel
-- broadcasts rank 0's weights, then averages the gradients after each
-- backward) and trains on its own share of each epoch
-- (data.DistributedSampler), batch 64 per rank. Rank 0 prints, measures
-- the test accuracy and saves the checkpoint, which loads as the plain
-- model without MPI (nn.load).
--   mpirun -np 2 nnlua examples/fashion_mnist_ddp.lua [epochs] [out_dir] [train_samples]
-- As root, mpirun wants --allow-run-as-root (README: data-parallel training).
local nl = require 'nnlua'
local nn, optim, data = nl.nn, nl.optim, nl.data
local dist = nl.dist

local epochs = tonumber(arg and arg[1] or 5)
assert(epochs and epochs >= 1 and epochs % 1 == 0,
  'usage: mpirun -np 2 nnlua examples/fashion_mnist_ddp.lua [epochs] [out_dir] [train_samples]; epochs must be a positive integer')
local out_dir = (arg and arg[2]) or 'build'
local limit = arg and arg[3] and tonumber(arg[3])
assert(not (arg and arg[3]) or (limit and limit >= 1 and limit % 1 == 0),
  'usage: mpirun -np 2 nnlua examples/fashion_mnist_ddp.lua [epochs] [out_dir] [train_samples]; train_samples must be a positive integer')
local rank, size = dist.init()
local function say(...) if rank == 0 then print(...) end end

nl.manual_seed(42)
local train, test = data.fashion_mnist()
local X, y = train.X, train.y
if limit then X, y = X:narrow(1, 1, limit), y:narrow(1, 1, limit) end
say(('Fashion-MNIST: %d training images shared by %d ranks, %d threads each'):format(
  X:size(1), size, nl.get_num_threads()))

local model = nn.DataParallel(nn.Sequential(
  nn.Linear(784, 512), nn.ReLU(),
  nn.Linear(512, 256), nn.ReLU(),
  nn.Linear(256, 10)))
local opt = optim.Adam(model:parameters(), { lr = 1e-3 })
local crit = nn.CrossEntropyLoss()
local sampler = data.DistributedSampler(X:size(1), { seed = 42 })
local loader = data.DataLoader(data.TensorDataset(X, y), { batch_size = 64, sampler = sampler })

for epoch = 1, epochs do
  sampler:set_epoch(epoch)              -- a new permutation, the same on every rank
  local t0, loss_sum, seen = nl.time(), 0, 0
  for xb, yb in loader:iter() do
    local loss = crit(model(xb), yb)
    opt:zero_grad()
    loss:backward()                     -- the gradients come out averaged over the ranks
    opt:step()
    loss_sum, seen = loss_sum + loss:item() * xb:size(1), seen + xb:size(1)
  end
  local elapsed = nl.time() - t0
  local total = dist.allreduce(nl.tensor({ loss_sum, seen }, 'float64')):totable()
  say(('epoch %d/%d - loss %.4f - %.0f samples/s'):format(epoch, epochs, total[1] / total[2], total[2] / elapsed))
end

local accuracy
if rank == 0 then
  accuracy = model:predict(test.X):argmax(2):eq(test.y):float():mean():item()
  print(('test accuracy %.2f%%'):format(accuracy * 100))
  os.execute("mkdir -p '" .. out_dir:gsub("'", "'\\''") .. "'")
  local ckpt = model:save(out_dir .. '/fashion_mnist_ddp.safetensors')
  print('saved ' .. ckpt)
end
dist.finalize()
return accuracy
