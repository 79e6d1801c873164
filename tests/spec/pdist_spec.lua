-- F.pdist against PyTorch 1.13 (tests/golden/gen_pdist.py): distances of
-- every pair of rows and the input's gradient for p = 0, 0.5, 1, 2, 3 and
-- inf, a zero distance, one row; against pairwise differences; float64
-- gradchecks; misuse.
local nl = require 'nnlua'
local F = nl.nn.functional
local S = require 'support'

local golden = dofile(S.root .. '/tests/golden/pdist.lua')
local TOL = { float32 = { 2e-6, 1e-6 }, float64 = { 1e-12, 1e-13 } }

describe('pdist', function()
  S.golden_its(it, golden, { pdist = function(x, a) return F.pdist(x[1], a.p) end },
               function(c, op) S.check_golden_case(c, op, TOL) end)

  it('lists the pairs i < j in row-major order, also with p in a table', function()
    local rand = S.rand_by(11)
    local x = rand({ 4, 3 }, 'float64')
    local got, k, v = S.flat(F.pdist(x, { p = 2 })), 0, x:totable()
    for i = 1, 4 do
      for j = i + 1, 4 do
        k = k + 1
        local s = 0
        for m = 1, 3 do s = s + (v[i][m] - v[j][m]) ^ 2 end
        assert.is_true(S.close(got[k], math.sqrt(s), 1e-14, 0), ('pair %d, %d'):format(i, j))
      end
    end
    assert.are.equal(6, k)
    assert.are.same({ 6 }, F.pdist(x):shape())
  end)

  it('passes float64 gradchecks', function()
    nl.manual_seed(8)
    for _, p in ipairs({ 1, 2, 3, 0.7, math.huge }) do
      S.gradcheck(function(x) return F.pdist(x, p) end, S.randn64(4, 3))
    end
    S.gradcheck(function(x) return F.pdist(x:t()) end, S.randn64(3, 5))
  end)

  it('refuses other ranks, int64, a negative p and extra arguments', function()
    S.contains(S.errmsg(F.pdist, nl.randn(2, 3, 4)), 'pdist: expected a 2-D input (N, M), got shape [2,3,4]')
    S.contains(S.errmsg(F.pdist, nl.ones({ 2, 3 }, 'int64')), 'pdist')
    -- the value refused is shown (the message said 'got number')
    S.contains(S.errmsg(F.pdist, nl.randn(2, 3), -1), 'pdist: expected a p >= 0 (math.huge for the largest difference), got -1')
    S.contains(S.errmsg(F.pdist, nl.randn(2, 3), 0 / 0), 'got nan')
    S.contains(S.errmsg(F.pdist, nl.randn(2, 3), 2, 1), 'pdist: takes (input, p)')
    S.contains(S.errmsg(F.pdist, nl.randn(2, 3), { q = 1 }), "pdist: unknown option 'q'")
  end)
end)
