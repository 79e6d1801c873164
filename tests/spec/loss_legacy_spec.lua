-- The losses' deprecated size_average and reduce flags against PyTorch
-- (tests/golden/loss_legacy.lua, made by tests/golden/gen_loss_legacy.py):
-- every loss module that takes them, under seven flag pairs, each with
-- reduction = 'sum' beside it (the flags decide, as in PyTorch). float64,
-- to 1e-12 relative.
local nl = require 'nnlua'
local S = require 'support'

local nn, F = nl.nn, nl.nn.functional
local cases = dofile(S.root .. '/tests/golden/loss_legacy.lua')

describe('size_average and reduce against PyTorch', function()
  for _, c in ipairs(cases) do
    it(c.name, function()
      local x = {}
      for i, g in ipairs(c.inputs) do x[i] = S.from_golden(g) end
      for _, f in ipairs(c.flags) do
        local m = nn[c.name]({ reduction = 'sum', size_average = f.size_average, reduce = f.reduce })
        local what = ('%s size_average=%s reduce=%s'):format(c.name, tostring(f.size_average), tostring(f.reduce))
        local got = m(unpack(x, 1, #c.inputs))
        S.expect_close(got, f.out, what, 1e-12, 1e-14)
      end
    end)
  end
end)

describe('size_average and reduce', function()
  it('work in the functional forms too', function()
    local a, b = nl.tensor({ 1, 2, 3 }, 'float64'), nl.tensor({ 0, 0, 0 }, 'float64')
    assert.are.equal(14, F.mse_loss(a, b, { size_average = false }):item())
    assert.are.same({ 1, 4, 9 }, S.flat(F.mse_loss(a, b, { reduce = false, reduction = 'mean' })))
    assert.are.equal(14 / 3, F.mse_loss(a, b, { size_average = true, reduction = 'sum' }):item())
  end)

  it('must be booleans, and are refused where PyTorch has none', function()
    S.contains(S.errmsg(nn.MSELoss, { size_average = 1 }), 'size_average must be a boolean')
    S.contains(S.errmsg(nn.L1Loss, { reduce = 'no' }), 'reduce must be a boolean')
    S.contains(S.errmsg(nn.HuberLoss, { size_average = false }), "huber_loss: unknown option 'size_average'")
    S.contains(S.errmsg(nn.GaussianNLLLoss, { reduce = false }), "unknown option 'reduce'")
  end)
end)
