-- nl.special (torch.special): values against PyTorch 1.13 at edge and
-- random points (tests/golden/special.lua, made by
-- tests/golden/gen_special.py), first and second derivatives against
-- PyTorch's and float64 finite differences, the names nnlua already had,
-- and the errors bad input gets.
local S = require 'support'
local nl = require 'nnlua'

local cases = dofile(S.root .. '/tests/golden/special.lua')
local special = nl.special
local AG = nl.autograd

-- { rtol, atol } by dtype, and wider ones for a few ops: PyTorch's
-- float32 kernels compute in float (nnlua's special ones in double: its
-- float32 ndtr underflows to 0 below -5.5), and PyTorch 1.13's own
-- float64 bessel_j0 and bessel_j1 are off by up to 1e-8 on [5, 25] and
-- its gammainc by 1e-9 at a = 100; there each case also has mpmath's
-- values (ref), which nnlua's must match closely
local TOL = { float32 = { 2e-6, 1e-6 }, float64 = { 1e-13, 1e-15 } }
local OP_TOL = {
  bessel_j0 = { float32 = { 1e-5, 1e-6 }, float64 = { 0, 5e-8 } },
  bessel_j1 = { float32 = { 1e-5, 1e-6 }, float64 = { 0, 5e-8 } },
  gammainc = { float32 = { 1e-5, 1e-6 }, float64 = { 1e-9, 1e-15 } },
  gammaincc = { float32 = { 1e-5, 1e-6 }, float64 = { 1e-9, 1e-15 } },
  zeta = { float32 = { 1e-5, 1e-6 }, float64 = { 1e-13, 1e-15 } },
  ndtri = { float32 = { 1e-5, 1e-6 }, float64 = { 1e-13, 1e-15 } },
}
local REF_TOL = { 1e-12, 1e-14 }
local function tol(op, dt) return (OP_TOL[op] or TOL)[dt] end
local GRAD_TOL = { 1e-10, 1e-12 }

local function operand(v)
  if type(v) == 'number' then return v end
  return S.from_golden(v)
end

describe('nl.special', function()
  it("gives PyTorch's values of each function of one input, edge values, int64 input and float32 included",
     function()
    local n = 0
    for _, c in ipairs(cases) do
      if c.x and not c.grad then
        local x = S.from_golden(c.x)
        local got = c.p and special[c.op](x, c.p) or special[c.op](x)
        local want = S.from_golden(c.want)
        assert.are.equal(want:dtype(), got:dtype(), c.op .. ' dtype')
        S.expect_golden(got, c.want, c.op .. ' ' .. x:dtype(), tol(c.op, want:dtype()))
        if c.ref then S.expect_golden(got, c.ref, c.op .. ' against mpmath', REF_TOL) end
        n = n + 1
      end
    end
    assert.is_true(n >= 50, 'cases: ' .. n)
  end)

  it("gives PyTorch's values of zeta, gammainc, gammaincc and xlog1py, numbers for an operand included", function()
    local n = 0
    for _, c in ipairs(cases) do
      if c.a and not c.grad then
        local got = special[c.op](operand(c.a), operand(c.b))
        local want = S.from_golden(c.want)
        assert.are.equal(want:dtype(), got:dtype(), c.op .. ' dtype')
        S.expect_golden(got, c.want, c.op .. ' ' .. want:dtype(), tol(c.op, want:dtype()))
        if c.ref then S.expect_golden(got, c.ref, c.op .. ' against mpmath', REF_TOL) end
        n = n + 1
      end
    end
    assert.is_true(n >= 12, 'cases: ' .. n)
  end)

  it("has PyTorch's first and second derivatives (create_graph) of the functions of one input", function()
    local n = 0
    for _, c in ipairs(cases) do
      if c.x and c.grad then
        local x = S.from_golden(c.x):requires_grad()
        local f = function(t)
          if c.eps then return special[c.op](t, c.eps) end
          return c.p and special[c.op](t, c.p) or special[c.op](t)
        end
        local y = f(x)
        if c.value then S.expect_golden(y, c.value, c.op .. ' value', GRAD_TOL) end
        local g = AG.grad((y * S.from_golden(c.w)):sum(), x)[1]
        S.expect_golden(g, c.want, c.op .. ' gradient', GRAD_TOL)
        if c.want2 then
          local d = AG.grad(f(x):sum(), x, { create_graph = true })[1]
          S.expect_golden(AG.grad(d:sum(), x)[1], c.want2, c.op .. ' second derivative', { 1e-9, 1e-11 })
        end
        n = n + 1
      end
    end
    assert.is_true(n >= 12, 'cases: ' .. n)
  end)

  it("has PyTorch's derivatives of zeta, gammainc, gammaincc and xlog1py, broadcast", function()
    local n = 0
    for _, c in ipairs(cases) do
      if c.a and c.grad then
        local a, b = S.from_golden(c.a), S.from_golden(c.b):requires_grad()
        if c.ga then a:requires_grad() end
        local y = special[c.op](a, b)
        S.expect_golden(y, c.want, c.op .. ' value', { 1e-11, 1e-14 })
        local gs = AG.grad((y * S.from_golden(c.w)):sum(), c.ga and { a, b } or { b })
        S.expect_golden(gs[#gs], c.gb, c.op .. ' gradient of the second operand', GRAD_TOL)
        if c.ga then S.expect_golden(gs[1], c.ga, c.op .. ' gradient of the first operand', GRAD_TOL) end
        local d = AG.grad(special[c.op](a:detach(), b):sum(), b, { create_graph = true })[1]
        S.expect_golden(AG.grad(d:sum(), b)[1], c.gb2, c.op .. ' second derivative', { 1e-9, 1e-11 })
        n = n + 1
      end
    end
    assert.are.equal(4, n)
  end)

  it('passes float64 finite-difference gradient checks', function()
    local function at(lo, hi, ...)
      return (nl.rand({ ... }, 'float64') * (hi - lo) + lo)
    end
    nl.manual_seed(7)
    local one = { entr = at(0.2, 3, 6), erfcx = at(-2, 8, 6), i0e = at(-9, 9, 6), i1 = at(-6, 6, 6),
                  i1e = at(-35, 35, 6), ndtri = at(0.02, 0.98, 6), log_ndtr = at(-30, 4, 6), ndtr = at(-3, 3, 6),
                  logit = at(0.05, 0.95, 6), expit = at(-4, 4, 6), gammaln = at(0.3, 6, 6), psi = at(0.3, 6, 6) }
    for name, x in pairs(one) do S.gradcheck(special[name], x) end
    S.gradcheck(function(t) return special.multigammaln(t, 4) end, at(2, 6, 5))
    local q = at(0.3, 4, 4)
    local x = at(1.5, 4, 3, 1)
    S.gradcheck(function(t) return special.zeta(x, t) end, q)
    S.gradcheck(function(t) return special.gammainc(nl.tensor({ { 0.5 }, { 2 }, { 7 } }, 'float64'), t) end, q)
    S.gradcheck(function(t) return special.gammaincc(nl.tensor({ { 0.5 }, { 2 }, { 7 } }, 'float64'), t) end, q)
    S.gradcheck(function(x, y) return special.xlog1py(x, y) end, at(-2, 2, 3, 1), at(-0.5, 3, 4))
  end)

  it("gives i1's and i1e's derivative 1/2 at 0 (their limit, as PyTorch's), in backward and in create_graph", function()
    for _, name in ipairs({ 'i1', 'i1e' }) do
      for _, dt in ipairs({ 'float32', 'float64' }) do
        local x = nl.tensor({ 0, -0.0, 1e-20 }, dt):requires_grad()
        local g = AG.grad(special[name](x):sum(), x, { create_graph = true })[1]
        for i, v in ipairs(g:totable()) do assert.are.equal(0.5, v, name .. ' ' .. dt .. ' ' .. i) end
        special[name](x):sum():backward()
        assert.are.same({ 0.5, 0.5, 0.5 }, x.grad:totable())
      end
    end
  end)

  it('is the functions nnlua has under their torch.special names', function()
    local same = { digamma = 'digamma', psi = 'digamma', erf = 'erf', erfc = 'erfc', erfinv = 'erfinv',
                   exp2 = 'exp2', expm1 = 'expm1', log1p = 'log1p', gammaln = 'lgamma', i0 = 'i0', round = 'round',
                   sinc = 'sinc', softmax = 'softmax', log_softmax = 'log_softmax', logsumexp = 'logsumexp',
                   xlogy = 'xlogy', polygamma = 'polygamma', expit = 'sigmoid' }
    for name, of in pairs(same) do assert.are.equal(nl[of], special[name], name) end
    local x = nl.tensor({ 0.5, 2.25 }, 'float64')
    assert.are.same(x:lgamma():totable(), special.gammaln(x):totable())
    assert.are.same(nl.polygamma(2, x):totable(), special.polygamma(2, x):totable())
    assert.are.same(x:softmax(1):totable(), special.softmax(x, 1):totable())
  end)

  it('bessel_j0 and bessel_j1 have no gradient, as in PyTorch 1.13', function()
    local x = nl.tensor({ 1, 2 }, 'float64'):requires_grad()
    assert.is_false(special.bessel_j0(x).is_requires_grad)
    assert.is_false(special.bessel_j1(x).is_requires_grad)
    assert.is_true(special.i1(x).is_requires_grad)
  end)

  it('names the function and the shapes in its errors', function()
    local x = nl.tensor({ 1, 2 })
    S.contains(S.errmsg(special.entr, 2), 'special.entr: expected a tensor, got number')
    S.contains(S.errmsg(special.i1e, x, 3), 'special.i1e')
    S.contains(S.errmsg(special.zeta, nl.ones(2, 3), nl.ones(4)),
               'special.zeta: shapes [2,3], [4] cannot be broadcast together')
    S.contains(S.errmsg(special.xlog1py, nl.ones(3), 2, nl.ones(2)), 'special.xlog1py: takes (input, other)')
    S.contains(S.errmsg(special.xlog1py, nl.ones(3), nl.ones(2)), 'special.xlog1py: shapes [3], [2] cannot be broadcast')
    S.contains(S.errmsg(special.gammaincc, nl.ones(3), nl.ones(1, 2)), 'special.gammaincc: shapes [3], [1,2]')
    S.contains(S.errmsg(special.zeta, 2, 3), 'special.zeta: expected a tensor among the operands')
    S.contains(S.errmsg(special.gammainc, x, 2), 'special.gammainc: expected a tensor, got number')
    S.contains(S.errmsg(special.gammainc, nl.tensor({ 1 }, 'int64'), nl.tensor({ 2 }, 'int64')),
               'special.gammainc: expected float operands, got int64')
    S.contains(S.errmsg(special.multigammaln, x, 0), 'special.multigammaln: p must be a whole number >= 1, got 0')
    S.contains(S.errmsg(special.multigammaln, x, 1.5), 'p must be a whole number >= 1')
    S.contains(S.errmsg(special.logit, x, 'a'), 'special.logit: expected a number as eps')
    -- the first operand's gradient is PyTorch's "not implemented"
    local a = nl.tensor({ 2, 3 }, 'float64'):requires_grad()
    local q = nl.tensor({ 1, 2 }, 'float64'):requires_grad()
    S.contains(S.errmsg(function() special.zeta(a, q):sum():backward() end),
               'zeta: the derivative with respect to its first operand')
    S.contains(S.errmsg(function() special.gammaincc(a, q):sum():backward() end),
               'gammaincc: the derivative with respect to its first operand (shape [2]) is not implemented')
    S.contains(S.errmsg(function()
      AG.grad(special.gammainc(a, q):sum(), { a, q }, { create_graph = true })
    end), 'gammainc: the derivative with respect to its first operand')
  end)
end)
