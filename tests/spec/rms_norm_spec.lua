-- nn.RMSNorm and F.rms_norm against PyTorch 2.4's definition computed in
-- float64 torch (tests/golden/gen_rms_norm.py): outputs and gradients to
-- the input and weight, the default eps (the dtype's machine epsilon) on
-- inputs small enough for it to show; the module; float64 gradchecks;
-- misuse.
local nl = require 'nnlua'
local nn = nl.nn
local F = nn.functional
local S = require 'support'

local golden = dofile(S.root .. '/tests/golden/rms_norm.lua')
local TOL = { float32 = { 2e-6, 1e-6 }, float64 = { 1e-12, 1e-13 } }

describe('rms_norm', function()
  S.golden_its(it, golden, {
    rms_norm = function(x, a) return F.rms_norm(x[1], a.normalized_shape, x[2], a.eps) end,
  }, function(c, op) S.check_golden_case(c, op, TOL) end)

  it('nn.RMSNorm runs the golden cases through its weight', function()
    for _, c in ipairs(golden) do
      local x = S.from_golden(c.inputs[1])
      local m = nn.RMSNorm(c.args.normalized_shape, { eps = c.args.eps, elementwise_affine = c.inputs[2] ~= nil })
      if x:dtype() == 'float64' then m:double() end
      if c.inputs[2] then nl.no_grad(function() m.weight:copy_(S.from_golden(c.inputs[2])) end) end
      S.expect_golden(m(x), c.outs[1], c.name, TOL[x:dtype()])
    end
  end)

  it('takes eps by position or in a table, and nil as the dtype\'s epsilon', function()
    local x = nl.randn(3, 4)
    S.same_bits(F.rms_norm(x, 4, nil, 1e-3), F.rms_norm(x, { 4 }, nil, { eps = 1e-3 }), 'eps forms')
    S.same_bits(F.rms_norm(x, 4), F.rms_norm(x, 4, nil, 2 ^ -23), 'float32 eps')
    local xd = x:double()
    S.same_bits(F.rms_norm(xd, 4), F.rms_norm(xd, 4, nil, 2 ^ -52), 'float64 eps')
  end)

  it('has PyTorch\'s parameter, state and repr', function()
    local m = nn.RMSNorm({ 2, 3 })
    assert.are.same({ 'weight' }, S.names_of(m:named_parameters()))
    assert.are.same({ 2, 3 }, m.weight:shape())
    assert.are.same({ 1, 1, 1, 1, 1, 1 }, S.flat(m.weight))
    assert.are.equal('RMSNorm([2,3], eps=None, elementwise_affine=true)', tostring(m):match('^[^\n]*'))
    local n = nn.RMSNorm(5, { eps = 1e-6, elementwise_affine = false })
    assert.are.same({}, n:parameters())
    assert.are.same({}, n:state_dict())
    assert.are.equal('RMSNorm([5], eps=1e-06, elementwise_affine=false)', tostring(n):match('^[^\n]*'))
  end)

  it('passes float64 gradchecks for input and weight', function()
    nl.manual_seed(5)
    S.gradcheck(function(x, w) return F.rms_norm(x, { 3, 4 }, w, 1e-3) end, S.randn64(2, 3, 4), S.randn64(3, 4))
    S.gradcheck(function(x) return F.rms_norm(x, 4) end, S.randn64(3, 4))
    S.gradcheck(function(x, w) return F.rms_norm(x:transpose(1, 2), 3, w) end, S.randn64(3, 2), S.randn64(3))
  end)

  it('refuses bad shapes, weights, eps and options, naming the op', function()
    local x = nl.randn(2, 3)
    S.contains(S.errmsg(F.rms_norm, x, 4), 'rms_norm: input shape [2,3] does not end with [4]')
    S.contains(S.errmsg(F.rms_norm, x, 3, nl.ones(4)), 'rms_norm: weight must be a float32 tensor of shape [3]')
    S.contains(S.errmsg(F.rms_norm, x, 3, nl.ones(3, 'float64')), 'rms_norm: weight must be a float32 tensor')
    S.contains(S.errmsg(F.rms_norm, x, 3, nil, 'a'), "rms_norm: expected a number eps (or nil: the dtype's machine epsilon), got 'a'")
    S.contains(S.errmsg(F.rms_norm, x, 3, nil, 0 / 0), 'rms_norm: expected a number eps (or nil: the dtype\'s machine epsilon), got nan')
    S.contains(S.errmsg(F.rms_norm, nl.ones({ 2, 3 }, 'int64'), 3), 'rms_norm')
    S.contains(S.errmsg(F.rms_norm, x, {}), 'rms_norm: normalized_shape must be')
    S.contains(S.errmsg(nn.RMSNorm, 3, { epsilon = 1 }), "RMSNorm: unknown option 'epsilon'")
    S.contains(S.errmsg(nn.RMSNorm, 0), 'RMSNorm: expected positive integer sizes')
    S.contains(S.errmsg(function() nn.RMSNorm(3)(nl.randn(3, 2)) end), 'RMSNorm: input shape [3,2] does not end with [3]')
    S.contains(S.errmsg(function() nn.RMSNorm(3)(nl.randn(2, 3):double()) end), 'RMSNorm')
  end)
end)
