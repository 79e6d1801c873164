-- Regression with an MLP through the Keras-style API: Linear(10,64) + ReLU
-- + Linear(64,1), Adam, MSE, batch 32, on y = sum of a smooth function of
-- the features.
--   nnlua examples/regression_mlp.lua [epochs]
local nl = require 'nnlua'
local nn = nl.nn

local epochs = tonumber(arg and arg[1] or 100)
assert(epochs and epochs >= 1 and epochs % 1 == 0,
  'usage: nnlua examples/regression_mlp.lua [epochs]; epochs must be a positive integer')
nl.manual_seed(7)


-- target: a fixed nonlinear function of the inputs, plus a little noise
local function target(X)
  local w = nl.arange(1, 11, 'float32'):view(10, 1) / 10
  local lin = nl.matmul(X, w)
  return (lin * 2):tanh() + (X:narrow(2, 1, 1) * X:narrow(2, 2, 1))
end
local X = nl.rand(1000, 10) * 2 - 1
local y = target(X) + nl.randn(1000, 1) * 0.05
local Xv = nl.rand(200, 10) * 2 - 1
local yv = target(Xv)

local model = nn.Sequential(nn.Linear(10, 64), nn.ReLU(), nn.Linear(64, 1))
model:compile { optimizer = 'adam', loss = 'mse', lr = 1e-3, metrics = { 'mae' } }
local history = model:fit(X, y, { epochs = epochs, batch_size = 32, validation_data = { Xv, yv },
                                  verbose = (os.getenv('NNLUA_QUIET') and 0 or 1) })
local val_loss = model:evaluate(Xv, yv)
print(('validation MSE %.5f (target variance %.5f)'):format(val_loss, ((yv - yv:mean()) ^ 2):mean():item()))
return val_loss, history
