-- extreme_math_spec.lua: elementwise math at extreme inputs (tiny and huge
-- numbers, outside the domain) against PyTorch 1.13's values and gradients
-- (tests/golden/extreme_math.lua, made by gen_extreme_math.py)
local S = require 'support'
local nl = require 'nnlua'

local TOL = { float32 = { 2e-6, 1e-44 }, float64 = { 1e-12, 1e-300 } }
local FNS = {
  div = function(x, y) return x / y end,
  logit = function(x) return x:logit() end,
  special_logit = function(x) return nl.special.logit(x) end,
  logit_eps = function(x) return x:logit(0.25) end,
  sinc = function(x) return x:sinc() end,
  i0 = function(x) return x:i0() end,
}

describe('elementwise math at extreme inputs against PyTorch 1.13', function()
  local cases = dofile(S.root .. '/tests/golden/extreme_math.lua')
  for _, c in ipairs(cases) do
    it(c.name .. ': value and gradients', function()
      local dt = c.x.dtype or 'float32'
      local x = S.from_golden(c.x):requires_grad()
      local y = c.y and S.from_golden(c.y):requires_grad()
      local out = FNS[c.fn](x, y)
      S.expect_golden(out, c.out, c.name .. ' out', TOL[dt])
      out:sum():backward()
      S.expect_golden(x.grad, c.gx, c.name .. ' x grad', TOL[dt])
      if c.gy then S.expect_golden(y.grad, c.gy, c.name .. ' y grad', TOL[dt]) end
    end)
  end
end)
