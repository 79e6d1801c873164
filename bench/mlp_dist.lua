-- W1 over processes: the Fashion-MNIST MLP 784-512-256-10 of bench/mlp.lua
-- (SGD momentum 0.9, lr 0.05, one epoch), trained with nn.DataParallel and
-- data.DistributedSampler over the ranks of an mpirun job. arg[1]: the
-- batch on each rank (default 128 / ranks: W1's global batch of 128);
-- arg[2] = 'after' averages the gradients after backward instead of
-- overlapping the buckets with it (nn.DataParallel's overlap = false).
-- Prints the samples/s of the whole job and rank 0's test accuracy.
--   mpirun -np 2 bin/nnlua bench/mlp_dist.lua [batch_per_rank] [after]
local nl = require 'nnlua'
local nn, optim, data = nl.nn, nl.optim, nl.data
local dist = nl.dist
local rank, size = dist.init()
local bs = tonumber(arg and arg[1]) or math.floor(128 / size)
nl.manual_seed(0)
local train, test = data.fashion_mnist()
local overlap = (arg and arg[2]) ~= 'after'
local model = nn.DataParallel(nn.Sequential(nn.Linear(784, 512), nn.ReLU(), nn.Linear(512, 256), nn.ReLU(),
                                            nn.Linear(256, 10)), { overlap = overlap })
local opt = optim.SGD(model:parameters(), { lr = 0.05, momentum = 0.9 })
local crit = nn.CrossEntropyLoss()
local sampler = data.DistributedSampler(train.X:size(1), { seed = 0 })
local loader = data.DataLoader(data.TensorDataset(train.X, train.y), { batch_size = bs, sampler = sampler,
                                                                       drop_last = true })
dist.barrier()
local t0, n = nl.time(), 0
for xb, yb in loader:iter() do
  local loss = crit(model(xb), yb)
  opt:zero_grad()
  loss:backward()
  opt:step()
  n = n + xb:size(1)
end
dist.barrier()
local dt = nl.time() - t0
local total = dist.allreduce(nl.tensor({ n }, 'float64')):item()
if rank == 0 then
  local acc = model:predict(test.X):argmax(2):eq(test.y):float():mean():item()
  print(('W1 dist: %.0f samples/s, %d processes x batch %d, test accuracy %.4f, %d threads each, %s'):format(
    total / dt, size, bs, acc, nl.get_num_threads(), overlap and 'buckets overlapping backward' or 'buckets after backward'))
end
