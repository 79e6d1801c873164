-- Fashion-MNIST with a small CNN: two blocks of 3x3 convolution, ReLU and
-- 2x2 max pooling (1 -> 32 -> 64 channels), then a 3136-128-10 MLP head;
-- Adam lr 1e-3, cross-entropy, batch 64, through compile/fit (the W2
-- workload of bench/conv.lua). The default 7 epochs reach about 92% test
-- accuracy (one epoch: about 86%). Prints the test accuracy and the time
-- per epoch, saves a checkpoint and an SVG of the training curves.
--   nnlua examples/fashion_mnist_cnn.lua [epochs] [out_dir] [train_images]
-- train_images: train on the first n training images only (quick runs).
local nl = require 'nnlua'
local nn, data = nl.nn, nl.data

local epochs = tonumber(arg and arg[1] or 7)
assert(epochs and epochs >= 1 and epochs % 1 == 0,
  'usage: nnlua examples/fashion_mnist_cnn.lua [epochs] [out_dir] [train_images]; epochs must be a positive integer')
local out_dir = (arg and arg[2]) or 'build'
local n_train = arg and arg[3] and tonumber(arg[3])
assert(not (arg and arg[3]) or (n_train and n_train >= 1 and n_train % 1 == 0),
  'usage: nnlua examples/fashion_mnist_cnn.lua [epochs] [out_dir] [train_images]; train_images must be a positive integer')
os.execute("mkdir -p '" .. out_dir:gsub("'", "'\\''") .. "'")
nl.manual_seed(42)

local train, test = data.fashion_mnist()
local X, y = train.X:view(-1, 1, 28, 28), train.y
if n_train and n_train < X:size(1) then X, y = X:narrow(1, 1, n_train), y:narrow(1, 1, n_train) end
local Xt = test.X:view(-1, 1, 28, 28)
print(('Fashion-MNIST: %d training and %d test images, %d threads, BLIS %s'):format(
  X:size(1), Xt:size(1), nl.get_num_threads(), nl.blas_arch()))

local model = nn.Sequential(
  nn.Conv2d(1, 32, 3, { padding = 1 }), nn.ReLU(), nn.MaxPool2d(2),    -- 32 x 14 x 14
  nn.Conv2d(32, 64, 3, { padding = 1 }), nn.ReLU(), nn.MaxPool2d(2),   -- 64 x 7 x 7
  nn.Flatten(),
  nn.Linear(64 * 7 * 7, 128), nn.ReLU(),
  nn.Linear(128, 10))
print(model)

model:compile { optimizer = 'adam', lr = 1e-3, loss = 'cross_entropy', metrics = { 'accuracy' } }
local t0 = nl.time()
local history = model:fit(X, y, { epochs = epochs, batch_size = 64, validation_data = { Xt, test.y } })
local per_epoch = (nl.time() - t0) / epochs
local loss, metrics = model:evaluate(Xt, test.y)
print(('test accuracy %.2f%% (loss %.4f); %.1f s per epoch with validation'):format(
  metrics.accuracy * 100, loss, per_epoch))

local ckpt = out_dir .. '/fashion_mnist_cnn.safetensors'
model:save(ckpt)
local svg = nl.plot(history, out_dir .. '/fashion_mnist_cnn_curves.svg')
print('saved ' .. ckpt .. ' and ' .. svg)
return metrics.accuracy, history, per_epoch
