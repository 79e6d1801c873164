-- Linear regression: one nn.Linear, SGD and MSE recover y = 3x + 2 from
-- noisy samples.
--   nnlua examples/linear_regression.lua [epochs]
local nl = require 'nnlua'
local nn, optim = nl.nn, nl.optim

local epochs = tonumber(arg and arg[1] or 200)
assert(epochs and epochs >= 1 and epochs % 1 == 0,
  'usage: nnlua examples/linear_regression.lua [epochs]; epochs must be a positive integer')
nl.manual_seed(0)

local X = nl.rand(200, 1) * 4 - 2
local y = X * 3 + 2 + nl.randn(200, 1) * 0.1

local model = nn.Linear(1, 1)
local opt = optim.SGD(model:parameters(), { lr = 0.1 })
local crit = nn.MSELoss()

for epoch = 1, epochs do
  opt:zero_grad()
  local loss = crit(model(X), y)
  loss:backward()
  opt:step()
  if epoch % 50 == 0 then print(('epoch %3d  loss %.5f'):format(epoch, loss:item())) end
end

local w, b = model.weight[1][1], model.bias[1]
print(('learned y = %.4f x + %.4f  (true: y = 3x + 2)'):format(w, b))
return w, b
