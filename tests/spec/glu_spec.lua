-- nn.GLU / F.glu and nn.Softmax2d against PyTorch 1.13 (tests/golden/
-- gen_glu.py): outputs and input gradients, 1-based and negative dims;
-- the modules' forms and reprs; float64 gradchecks; misuse.
local nl = require 'nnlua'
local nn = nl.nn
local F = nn.functional
local S = require 'support'

local golden = dofile(S.root .. '/tests/golden/glu.lua')
local TOL = { float32 = { 1e-6, 1e-7 }, float64 = { 1e-13, 1e-14 } }

describe('GLU and Softmax2d', function()
  S.golden_its(it, golden, {
    glu = function(x, a) return F.glu(x[1], a.dim) end,
    softmax2d = function(x) return nn.Softmax2d()(x[1]) end,
  }, function(c, op) S.check_golden_case(c, op, TOL) end)

  it('nn.GLU gives F.glu\'s values, its dim as PyTorch\'s', function()
    for _, c in ipairs(golden) do
      if c.op == 'glu' then
        local m = c.args.dim and nn.GLU(c.args.dim) or nn.GLU()
        S.expect_golden(m(S.from_golden(c.inputs[1])), c.outs[1], c.name, TOL[c.outs[1].dtype or 'float32'])
      end
    end
    local x = nl.randn(2, 4)
    S.same_bits(F.glu(x, { dim = 1 }), nn.GLU { dim = 1 }(x), 'option forms')
    assert.are.equal('GLU(dim=-1)', tostring(nn.GLU()):match('^[^\n]*'))
    assert.are.equal('GLU(dim=2)', tostring(nn.GLU(2)):match('^[^\n]*'))
    assert.are.equal('Softmax2d()', tostring(nn.Softmax2d()):match('^[^\n]*'))
  end)

  it('passes float64 gradchecks', function()
    nl.manual_seed(2)
    S.gradcheck(function(x) return F.glu(x, 2) end, S.randn64(3, 4, 2))
    S.gradcheck(function(x) return F.glu(x:transpose(1, 2)) end, S.randn64(4, 3))
    S.gradcheck(function(x) return nn.Softmax2d()(x) end, S.randn64(2, 3, 2, 2))
  end)

  it('refuses odd halves, bad dims and ranks, naming the op and shape', function()
    S.contains(S.errmsg(F.glu, nl.randn(2, 3)), 'glu: halving dimension must be even, but dimension -1 of input shape [2,3] is size 3')
    S.contains(S.errmsg(F.glu, nl.randn(2, 4), 3), 'glu: dim 3 is out of range for input shape [2,4]')
    S.contains(S.errmsg(F.glu, nl.randn(2, 4), 0), 'glu: dim 0 is out of range')
    S.contains(S.errmsg(F.glu, nl.randn(2, 4), 1.5), 'glu: expected an integer dim, got 1.5')
    S.contains(S.errmsg(F.glu, nl.randn(2, 4), { dim = 'a' }), "glu: expected an integer dim, got 'a'")
    S.contains(S.errmsg(F.glu, nl.tensor(1)), 'glu: glu does not take a 0-dim tensor')
    S.contains(S.errmsg(F.glu, nl.ones({ 2 }, 'int64')), 'glu')
    S.contains(S.errmsg(nn.GLU, 0), 'GLU: dim 0 is invalid')
    S.contains(S.errmsg(nn.GLU, 'a'), 'GLU')
    S.contains(S.errmsg(function() nn.GLU(1)(nl.randn(3, 2)) end), 'GLU: halving dimension must be even')
    S.contains(S.errmsg(function() nn.Softmax2d()(nl.randn(3, 2)) end),
               'Softmax2d: expected input (N, C, H, W) or (C, H, W), got shape [3,2]')
    S.contains(S.errmsg(nn.Softmax2d, 1), 'Softmax2d: takes ()')
  end)
end)
