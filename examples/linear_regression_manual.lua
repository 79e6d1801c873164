-- Linear regression by hand-written gradient descent, using only tensor
-- ops: recovers y = 3x + 2 from noisy samples. (With autograd and nn, see
-- the other examples; this one shows the tensor core alone.)
--   nnlua examples/linear_regression_manual.lua [steps]
local nl = require 'nnlua'

local steps = tonumber(arg and arg[1] or 500)
assert(steps and steps >= 1 and steps % 1 == 0,
  'usage: nnlua examples/linear_regression_manual.lua [steps]; steps must be a positive integer')
nl.manual_seed(0)

local n = 256
local x = nl.rand(n, 1) * 4 - 2                    -- inputs in [-2, 2)
local y = x * 3 + 2 + nl.randn(n, 1) * 0.1         -- targets with noise

local w, b = nl.zeros(1, 1), nl.zeros(1)
local lr = 0.1
for step = 1, steps do
  local pred = nl.matmul(x, w) + b
  local err = pred - y                             -- (n, 1)
  local loss = (err * err):mean():item()
  -- d(loss)/dw = 2/n * x^T err, d(loss)/db = 2 * mean(err)
  local gw = nl.matmul(x:t(), err) * (2 / n)
  local gb = err:mean(1) * 2
  w:sub_(gw * lr)
  b:sub_(gb * lr)
  if step % 100 == 0 or step == 1 then
    print(string.format('step %4d  loss %.5f  w %.4f  b %.4f', step, loss, w[1][1], b[1]))
  end
end
print(string.format('learned y = %.3fx + %.3f (true: y = 3x + 2)', w[1][1], b[1]))
