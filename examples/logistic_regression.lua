-- Logistic regression: a linear classifier separates two Gaussian clouds,
-- trained with BCE on logits; prints the test accuracy.
--   nnlua examples/logistic_regression.lua [epochs]
local nl = require 'nnlua'
local nn, optim = nl.nn, nl.optim

local epochs = tonumber(arg and arg[1] or 300)
assert(epochs and epochs >= 1 and epochs % 1 == 0,
  'usage: nnlua examples/logistic_regression.lua [epochs]; epochs must be a positive integer')
nl.manual_seed(3)

-- class 1 around (1.5, 1.5), class 0 around (-1.5, -1.5)
local function sample(n)
  local y = nl.rand(n, 1):lt(0.5):float()
  local centers = y * 3 - 1.5
  return nl.randn(n, 2) + centers, y
end
local X, y = sample(400)
local Xt, yt = sample(200)

local model = nn.Linear(2, 1)
local opt = optim.SGD(model:parameters(), { lr = 0.5 })
local crit = nn.BCEWithLogitsLoss()
for epoch = 1, epochs do
  opt:zero_grad()
  local loss = crit(model(X), y)
  loss:backward()
  opt:step()
  if epoch % 100 == 0 then print(('epoch %3d  loss %.4f'):format(epoch, loss:item())) end
end

local acc = model:predict(Xt):gt(0):eq(yt):float():mean():item()
print(('test accuracy %.2f%%'):format(acc * 100))
return acc
