-- XOR: a small sigmoid net learns the function no single layer can.
--   nnlua examples/xor.lua [epochs]
local nl = require 'nnlua'
local nn, optim = nl.nn, nl.optim

local epochs = tonumber(arg and arg[1] or 2000)
assert(epochs and epochs >= 1 and epochs % 1 == 0,
  'usage: nnlua examples/xor.lua [epochs]; epochs must be a positive integer')
nl.manual_seed(1)

local X = nl.tensor({ { 0, 0 }, { 0, 1 }, { 1, 0 }, { 1, 1 } })
local y = nl.tensor({ { 0 }, { 1 }, { 1 }, { 0 } })

local model = nn.Sequential(nn.Linear(2, 8), nn.Sigmoid(), nn.Linear(8, 1), nn.Sigmoid())
local opt = optim.Adam(model:parameters(), { lr = 0.05 })
local crit = nn.BCELoss()

local loss
for epoch = 1, epochs do
  opt:zero_grad()
  loss = crit(model(X), y)
  loss:backward()
  opt:step()
  if epoch % 500 == 0 then print(('epoch %4d  loss %.5f'):format(epoch, loss:item())) end
end

local pred = model:predict(X)
local correct = 0
for i = 1, 4 do
  local p, want = pred[i][1], y[i][1]
  print(('xor(%d, %d) = %.3f  (want %d)'):format(X[i][1], X[i][2], p, want))
  if (p > 0.5 and 1 or 0) == want then correct = correct + 1 end
end
print(('solved: %s (%d/4 correct, final loss %.5f)'):format(correct == 4 and 'yes' or 'no', correct, loss:item()))
return correct == 4, loss:item()
