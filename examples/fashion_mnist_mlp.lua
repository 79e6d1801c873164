-- Fashion-MNIST with a 784-512-256-10 MLP: Adam, cross-entropy, batch 128,
-- through compile/fit. Prints test accuracy, saves a checkpoint and an SVG
-- of the training curves.
--   nnlua examples/fashion_mnist_mlp.lua [epochs] [out_dir]
local nl = require 'nnlua'
local nn, data = nl.nn, nl.data

local epochs = tonumber(arg and arg[1] or 10)
assert(epochs and epochs >= 1 and epochs % 1 == 0,
  'usage: nnlua examples/fashion_mnist_mlp.lua [epochs] [out_dir]; epochs must be a positive integer')
local out_dir = (arg and arg[2]) or 'build'
os.execute("mkdir -p '" .. out_dir:gsub("'", "'\\''") .. "'")
nl.manual_seed(42)

local train, test = data.fashion_mnist()
print(('Fashion-MNIST: %d training and %d test images, %d threads, BLIS %s'):format(
  train.X:size(1), test.X:size(1), nl.get_num_threads(), nl.blas_arch()))

local model = nn.Sequential(
  nn.Linear(784, 512), nn.ReLU(),
  nn.Linear(512, 256), nn.ReLU(),
  nn.Linear(256, 10))
print(model)

model:compile { optimizer = 'adam', lr = 1e-3, loss = 'cross_entropy', metrics = { 'accuracy' } }
local history = model:fit(train.X, train.y, { epochs = epochs, batch_size = 128,
                                              validation_data = { test.X, test.y } })
local loss, metrics = model:evaluate(test.X, test.y)
print(('test accuracy %.2f%% (loss %.4f)'):format(metrics.accuracy * 100, loss))

local ckpt = out_dir .. '/fashion_mnist_mlp.safetensors'
model:save(ckpt)
local svg = nl.plot(history, out_dir .. '/fashion_mnist_mlp_curves.svg')
print('saved ' .. ckpt .. ' and ' .. svg)
return metrics.accuracy, history
