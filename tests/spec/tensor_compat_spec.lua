-- The ops of lua/nnlua/tensor_compat.lua: the shape-strict matrix products
-- against PyTorch golden values (tests/golden/tensor_compat.lua, made by
-- tests/golden/gen_tensor_compat.py) with their gradients, float64
-- gradchecks, the in-place comparisons and cumulative ops, the aliases
-- against the ops PyTorch documents them as, the torch.* function forms,
-- the dtype predicates, and the errors of bad calls.
local nl = require 'nnlua'
local S = require 'support'

local cases = dofile(S.root .. '/tests/golden/tensor_compat.lua')
local function errmsg(f, ...) return S.errmsg(f, ...) end

local ops = {
  bmm = function(x) return x[1]:bmm(x[2]) end,
  mv = function(x) return x[1]:mv(x[2]) end,
  dot = function(x) return x[1]:dot(x[2]) end,
  vdot = function(x) return nl.vdot(x[1], x[2]) end,
  inner = function(x) return nl.inner(x[1], x[2]) end,
  ger = function(x) return x[1]:ger(x[2]) end,
}
for _, name in ipairs({ 'eq', 'ne', 'lt', 'le', 'gt', 'ge' }) do
  ops[name .. '_'] = function(x)
    local t = x[1]:clone()
    assert.are.equal(t, t[name .. '_'](t, x[2]))     -- returns t itself
    return t
  end
  ops[name .. '_number'] = function(x, a) return x[1]:clone()[name .. '_'](x[1]:clone(), a.other) end
end
ops.eq_number = function(x, a) local t = x[1]:clone() return t:eq_(a.other) end
ops.cumsum_ = function(x, a) local t = x[1]:clone() t:cumsum_(a.dim) return t end
ops.cumprod_ = function(x, a) local t = x[1]:clone() t:cumprod_(a.dim) return t end
ops.copysign = function(x) return nl.copysign(x[1], x[2]) end
ops.copysign_number = function(x, a) return x[1]:copysign(a.other) end
ops.msort = function(x) return x[1]:msort() end
ops.logit = function(x) return x[1]:logit() end
ops.logit_eps = function(x, a) return nl.logit(x[1], a.eps) end
ops.float_power = function(x) return nl.float_power(x[1], x[2]) end
ops.float_power_number = function(x, a) return x[1]:float_power(a.exponent) end
ops.ldexp = function(x) return nl.ldexp(x[1], x[2]) end
ops.unfold = function(x, a) return x[1]:unfold(a.dim, a.size, a.step) end
ops.index_put = function(x, a) return x[1]:index_put({ x[2], x[3] }, x[4], a.accumulate) end
ops.index_put_broadcast = function(x) return nl.index_put(x[1], { x[2], x[3] }, x[4]) end
ops.index_put_one = function(x) return x[1]:index_put({ x[2] }, x[3]) end
ops.fill_diagonal_ = function(x, a)
  local t = x[1]:clone()
  assert.are.equal(t, t:fill_diagonal_(a.value, a.wrap))
  return t
end
ops.diagflat = function(x, a) return nl.diagflat(x[1], a.offset) end
ops.addr = function(x, a)
  if a.beta then return x[1]:addr(x[2], x[3], { beta = a.beta, alpha = a.alpha }) end
  return nl.addr(x[1], x[2], x[3])
end
for _, w in ipairs({ 'hann', 'hamming', 'blackman', 'bartlett', 'kaiser' }) do
  ops[w .. '_window'] = function(_, a)
    local o = { dtype = a.dtype }
    if a.alpha then o.alpha, o.beta = a.alpha, a.beta elseif a.beta then o.beta = a.beta end
    return nl[w .. '_window'](a.n, a.periodic, o)
  end
end
ops.trapezoid = function(x, a)
  if a.dx then return nl.trapezoid(x[1], a.dx, a.dim) end
  return nl.trapz(x[1])
end
ops.trapezoid_x = function(x, a) return nl.trapezoid(x[1], x[2], { dim = a.dim }) end
ops.cumulative_trapezoid = function(x, a) return x[1]:cumulative_trapezoid({ dx = a.dx }) end
ops.cumulative_trapezoid_x = function(x, a) return nl.cumulative_trapezoid(x[1], x[2], a.dim) end
ops.put = function(x, a) return x[1]:put(x[2], x[3], a.accumulate) end
ops.sum_to_size = function(x, a) return x[1]:sum_to_size(unpack(a.size)) end
ops.mvlgamma = function(x, a) return x[1]:mvlgamma(a.p) end
ops.narrow_copy = function(x, a) return nl.narrow_copy(x[1], a.dim, a.start, a.length) end
ops.split_with_sizes = function(x, a) return x[1]:split_with_sizes(a.sizes, a.dim) end
ops.mm = function(x, a) return nl.mm(a.transpose and x[1]:t() or x[1], x[2]) end

local TOL = { float32 = { 1e-5, 1e-6 }, float64 = { 1e-12, 1e-13 } }

describe('tensor_compat ops against PyTorch golden values', function()
  S.golden_its(it, cases, ops, function(c, op) S.check_golden_case(c, op, TOL) end)
end)

describe('matrix products', function()
  it('pass float64 gradchecks', function()
    local r = S.randn64
    S.gradcheck(nl.mm, r(3, 4), r(4, 2))
    S.gradcheck(nl.bmm, r(2, 3, 4), r(2, 4, 2))
    S.gradcheck(nl.mv, r(3, 4), r(4))
    S.gradcheck(nl.dot, r(5), r(5))
    S.gradcheck(nl.inner, r(2, 3), r(4, 5, 3))
    S.gradcheck(nl.ger, r(3), r(2))
  end)

  it('inner over an empty last dim gives zeros of the leading dims (PyTorch 1.13)', function()
    local a, b = nl.randn({ 2, 0 }, 'float64'):requires_grad_(), nl.randn({ 4, 3, 0 }, 'float64'):requires_grad_()
    local r = nl.inner(a, b)
    assert.are.same({ 2, 4, 3 }, r:shape())
    assert.are.same({ 0, 0, 0, 0, 0, 0 }, S.flat(r:narrow(2, 1, 1)))
    r:sum():backward()
    assert.are.same({ 2, 0 }, a.grad:shape())
    assert.are.same({ 4, 3, 0 }, b.grad:shape())
    assert.are.same({ 3 }, nl.inner(nl.zeros({ 0 }), nl.zeros({ 3, 0 })):shape())
  end)

  it('refuse the shapes and dtypes PyTorch refuses', function()
    S.contains(errmsg(nl.mm, nl.randn(2, 3), nl.randn(3)), 'mm: expected two matrices (n, k) and (k, m), got shapes [2,3] and [3]')
    S.contains(errmsg(nl.mm, nl.randn(2, 3), nl.randn(4, 2)), 'mm: ')
    S.contains(errmsg(nl.mm, nl.randn(2, 3), nl.randn(3, 2, 'float64')),
               'mm: expected both operands to have one dtype, got float32 and float64')
    S.contains(errmsg(nl.bmm, nl.randn(2, 2, 3), nl.randn(3, 3, 4)), 'bmm: batch sizes differ: shapes [2,2,3] and [3,3,4]')
    S.contains(errmsg(nl.bmm, nl.randn(2, 3), nl.randn(3, 4)), 'bmm: expected two batches of matrices')
    S.contains(errmsg(nl.mv, nl.randn(2, 3), nl.randn(3, 1)), 'mv: expected a matrix (n, m) and a vector (m), got shapes [2,3] and [3,1]')
    S.contains(errmsg(nl.dot, nl.randn(3), nl.randn(4)), 'dot: vectors of sizes 3 and 4 differ')
    S.contains(errmsg(nl.dot, nl.randn(1, 3), nl.randn(3)), 'dot: expected two vectors (1-D), got shapes [1,3] and [3]')
    S.contains(errmsg(nl.inner, nl.randn(2, 3), nl.randn(2)), 'inner: the last dims of shapes [2,3] and [2] differ')
    S.contains(errmsg(nl.mm, nl.randn(2, 3), nl.randn(3, 2), 1), 'mm: ')
  end)
end)

describe('in-place comparisons and cumulative ops', function()
  it('refuse a tensor that requires grad as the destination, and a bad dim', function()
    local t = nl.randn(3):requires_grad()
    assert.has_error(function() t:gt_(0) end)
    S.contains(errmsg(function() nl.randn(3):cumsum_(3) end), 'cumsum_')
  end)
end)

describe('aliases and function forms', function()
  it('give the values of the ops PyTorch names them after', function()
    local a, b = nl.randn(3, 4), nl.randn(4) + 3
    local pairs_ = { { 'absolute', 'abs' }, { 'negative', 'neg' }, { 'fix', 'trunc' } }
    for _, p in ipairs(pairs_) do
      assert.are.same(S.flat(a[p[2]](a)), S.flat(a[p[1]](a)), p[1])
      assert.are.same(S.flat(a[p[2]](a)), S.flat(nl[p[1]](a)), 'nl.' .. p[1])
      local c = a:clone()
      c[p[1] .. '_'](c)
      assert.are.same(S.flat(a[p[2]](a)), S.flat(c), p[1] .. '_')
    end
    for _, p in ipairs({ { 'divide', 'div' }, { 'multiply', 'mul' }, { 'subtract', 'sub' }, { 'true_divide', 'div' },
                         { 'greater', 'gt' }, { 'greater_equal', 'ge' }, { 'less', 'lt' }, { 'less_equal', 'le' },
                         { 'not_equal', 'ne' } }) do
      assert.are.same(S.flat(a[p[2]](a, b)), S.flat(a[p[1]](a, b)), p[1])
      assert.are.same(S.flat(a[p[2]](a, b)), S.flat(nl[p[1]](a, b)), 'nl.' .. p[1])
      local c = a:clone()
      c[p[1] .. '_'](c, b)
      assert.are.same(S.flat(a[p[2]](a, b)), S.flat(c), p[1] .. '_')
    end
    -- divide takes div's rounding mode, true_divide none (as PyTorch)
    assert.are.same({ 3, -4 }, S.flat(nl.divide(nl.tensor({ 7, -7 }), 2, 'floor')))
    S.contains(errmsg(nl.true_divide, nl.tensor({ 7 }), 2, 'floor'), 'true_divide')
    assert.are.same({ 3.5 }, S.flat(nl.true_divide(nl.tensor({ 7 }, 'int64'), 2)))
    assert.are.same({ 4, 2, 3 }, nl.moveaxis(nl.zeros(2, 3, 4), 3, 1):shape())
    assert.are.same({ 4, 2, 3 }, nl.zeros(2, 3, 4):moveaxis(3, 1):shape())
    assert.are.same({ 4, 2, 3 }, nl.movedim(nl.zeros(2, 3, 4), 3, 1):shape())
    local m = nl.tensor({ { 1, 2 }, { 3, 4 } })
    assert.are.same({ 1, 3, 2, 4 }, S.flat(m:t():ravel()))
    assert.are.same({ 1, 2, 3, 4 }, nl.ravel(m):totable())
    assert.are.same({ { 1, 2 }, { 3, 4 } }, m:tolist())
    assert.are.equal(2, m:ndimension())
    assert.are.equal(4, m:nelement())
    assert.are.equal(m, m:positive())
  end)

  it('torch.* forms of the Tensor methods', function()
    local x = nl.randn(2, 3, 4)
    assert.are.same({ 24 }, nl.flatten(x):shape())
    assert.are.same({ 2, 12 }, nl.flatten(x, 2):shape())
    assert.are.same({ 2, 3, 2, 2 }, nl.unflatten(x, 3, { 2, 2 }):shape())
    assert.are.equal(3, #nl.unbind(x, 2))
    assert.are.same(S.flat(x:narrow(3, 2, 2)), S.flat(nl.narrow(x, 3, 2, 2)))
    assert.are.same(S.flat(x:select(1, 2)), S.flat(nl.select(x, 1, 2)))
    assert.are.same({ 4, 2, 3 }, nl.permute(x, 3, 1, 2):shape())
    assert.are.same({ 6, 4 }, nl.reshape(x, 6, 4):shape())
    assert.are.same(S.flat(x), S.flat(nl.clone(x)))
    assert.are.equal(24, nl.numel(x))
    assert.is_false(nl.detach(x:requires_grad()).is_requires_grad)
    assert.are.same(S.flat(x:index_select(2, nl.tensor({ 3, 1 }, 'int64'))),
                    S.flat(nl.index_select(x, 2, nl.tensor({ 3, 1 }, 'int64'))))
    local y = nl.tensor({ -1, 4 })
    assert.are.equal(y, nl.abs_(y))
    assert.are.same({ 1, 4 }, S.flat(y))
    nl.sqrt_(y)
    assert.are.same({ 1, 2 }, S.flat(y))
    S.contains(errmsg(nl.flatten, 3), 'flatten: expected a tensor as the input')
  end)
end)

describe('copysign, msort, logit, float_power, ldexp', function()
  it('logit has the gradient 1 / (x (1 - x)) at x = 0 and 1: inf, as PyTorch 1.13', function()
    for _, dt in ipairs({ 'float32', 'float64' }) do
      local x = nl.tensor({ 0, 1, 0.5, 0.25 }, dt):requires_grad_()
      local y = nl.logit(x)
      assert.are.same({ -math.huge, math.huge, 0 }, S.flat(y:narrow(1, 1, 3)))
      y:sum():backward()
      assert.are.same({ math.huge, math.huge }, S.flat(x.grad:narrow(1, 1, 2)))
      S.expect_close(x.grad:narrow(1, 3, 2), nl.tensor({ 4, 16 / 3 }, dt), 'logit gradient ' .. dt, 1e-6, 0)
    end
  end)

  it("ldexp's dtype is that of PyTorch's a * pow(2.0, e), 0-dim operands included", function()
    -- (PyTorch 1.13: torch.ldexp(int64 [2], float64 0-dim) is float64,
    -- ldexp(float64 0-dim, int64 [3]) float32, ldexp(int64, int64) float32)
    local i, d0 = nl.tensor({ 1, 3 }, 'int64'), nl.tensor(0.5, 'float64')
    local r = nl.ldexp(i, nl.tensor(-1.0, 'float64'))
    assert.are.equal('float64', r:dtype())
    assert.are.same({ 0.5, 1.5 }, S.flat(r))
    r = nl.ldexp(d0, nl.tensor({ -1, 0, 2 }, 'int64'))
    assert.are.equal('float32', r:dtype())
    assert.are.same({ 0.25, 0.5, 2 }, S.flat(r))
    assert.are.equal('float32', nl.ldexp(i, nl.tensor({ 1, -1 }, 'int64')):dtype())
    assert.are.same({ 2, 1.5 }, S.flat(nl.ldexp(i, nl.tensor({ 1, -1 }, 'int64'))))
    assert.are.equal('float64', nl.ldexp(nl.tensor({ 1 }, 'float64'), nl.tensor({ 1 }, 'float32')):dtype())
  end)

  it('pass float64 gradchecks', function()
    local r = S.randn64
    S.gradcheck(function(a) return nl.copysign(a, nl.tensor({ -1, 2, -0.0, 3 }, 'float64')) end, r(4))
    S.gradcheck(function(a) return a:msort() end, r(4, 3))
    S.gradcheck(nl.logit, nl.rand({ 5 }, 'float64') * 0.8 + 0.1)
    S.gradcheck(function(a) return nl.logit(a, 0.25) end, nl.tensor({ 0.1, 0.3, 0.6, 0.9 }, 'float64'))
    S.gradcheck(nl.float_power, nl.rand({ 3 }, 'float64') + 0.5, r(3))
    S.gradcheck(function(a) return nl.ldexp(a, nl.tensor({ 1, -2, 3 }, 'int64')) end, r(3))
  end)

  it('copysign gives the sign source a zero gradient, as PyTorch', function()
    local a, b = nl.randn(3):requires_grad(), nl.randn(3):requires_grad()
    nl.copysign(a, b):sum():backward()
    assert.are.same({ 0, 0, 0 }, S.flat(b.grad))
  end)

  -- PyTorch 1.13's values: copysign(x, y).backward(ones) gives x
  -- [inf, -inf, nan, 2, -2, 0, -0] with y [1, -1, -1, 1, -1, -1, 1] the
  -- gradient [nan, nan, nan, 1, 1, 0, 0] (result / x, 0 at x = 0), y
  -- zeros; x [2, -2] with y [nan, nan] (sign bit clear): [1, -1], y zeros; x [inf, -inf, nan, 2] with other -1.5: [nan, nan, nan, -1]
  it('copysign differentiates at x = +-inf and NaN and y NaN as PyTorch 1.13', function()
    local inf = math.huge
    local function same_nan(want, got)
      got = S.flat(got)
      assert.are.equal(#want, #got)
      for i, w in ipairs(want) do
        if w ~= w then assert.is_true(got[i] ~= got[i], 'place ' .. i)
        else assert.are.equal(w, got[i], 'place ' .. i) end
      end
    end
    for _, dt in ipairs({ 'float32', 'float64' }) do
      local x = nl.tensor({ inf, -inf, 0 / 0, 2, -2, 0, -0.0 }, dt):requires_grad()
      local y = nl.tensor({ 1, -1, -1, 1, -1, -1, 1 }, dt):requires_grad()
      nl.copysign(x, y):sum():backward()
      same_nan({ 0 / 0, 0 / 0, 0 / 0, 1, 1, 0, 0 }, x.grad)
      assert.are.same({ 0, 0, 0, 0, 0, 0, 0 }, S.flat(y.grad))
      -- (NaN with its sign bit clear, from its bits)
      local bits = require('ffi').new('union { double d; uint64_t u; }')
      bits.u = 0x7FF8000000000000ULL
      x = nl.tensor({ 2, -2 }, dt):requires_grad()
      y = nl.tensor({ bits.d, bits.d }, dt):requires_grad()
      nl.copysign(x, y):sum():backward()
      same_nan({ 1, -1 }, x.grad)
      assert.are.same({ 0, 0 }, S.flat(y.grad))
      x = nl.tensor({ inf, -inf, 0 / 0, 2 }, dt):requires_grad()
      x:copysign(-1.5):sum():backward()
      same_nan({ 0 / 0, 0 / 0, 0 / 0, -1 }, x.grad)
    end
  end)

  it('the in-place forms write what the functions give', function()
    local x = nl.tensor({ 0.2, 0.5, 0.9 }, 'float64')
    local want = S.flat(x:logit())
    assert.are.equal(x, x:logit_())
    assert.are.same(want, S.flat(x))
    local c = nl.tensor({ 1, -2 })
    c:copysign_(nl.tensor({ -1, 1 }))
    assert.are.same({ -1, 2 }, S.flat(c))
    local f = nl.tensor({ 2, 3 }, 'float64')
    f:float_power_(2)
    assert.are.same({ 4, 9 }, S.flat(f))
    local l = nl.tensor({ 1, 3 })
    l:ldexp_(nl.tensor({ 2, -1 }, 'int64'))
    assert.are.same({ 4, 1.5 }, S.flat(l))
  end)

  it('refuse bad arguments, naming the op', function()
    S.contains(errmsg(nl.copysign, nl.randn(2), 'a'), 'copysign: ')
    S.contains(errmsg(nl.copysign, nl.randn(2, 3), nl.randn(4)), 'copysign: ')
    S.contains(errmsg(nl.logit, nl.randn(2), 0.7), 'logit: expected eps as a number in [0, 0.5]')
    S.contains(errmsg(function() nl.tensor({ 1.0 }):float_power_(2) end),
               'float_power_: the base has dtype float32, but the result is float64')
    S.contains(errmsg(function() nl.tensor({ 1 }, 'int64'):logit_() end), 'logit_: ')
    S.contains(errmsg(nl.ldexp, 2, nl.randn(2)), 'ldexp: expected a tensor as the input')
    S.contains(errmsg(nl.msort, 5), 'msort: ')
  end)
end)

describe('Tensor.unfold', function()
  it('passes a float64 gradcheck over overlapping windows', function()
    S.gradcheck(function(a) return a:unfold(2, 3, 2) end, S.randn64(2, 7))
  end)

  it('gives a size 0 window count len + 1, and refuses bad sizes and steps', function()
    assert.are.same({ 5, 2, 0 }, nl.zeros(4, 2):unfold(1, 0, 1):shape())
    -- (with t's graph, as PyTorch's: the gradient zeros of t's shape, dim
    -- 2 of size 0 too, windows len // step + 1)
    for _, sh in ipairs({ { 4, 2 }, { 3, 0 } }) do
      local x = nl.randn(sh, 'float64'):requires_grad_()
      local r = x:unfold(2, 0, 2)
      assert.are.same({ sh[1], math.floor(sh[2] / 2) + 1, 0 }, r:shape())
      r:sum():backward()
      assert.are.same(sh, x.grad:shape())
      assert.are.equal(0, x.grad:abs():sum():item())
    end
    S.contains(errmsg(function() nl.zeros(7):unfold(1, 9, 1) end), 'unfold: size 9 is more than the 7 elements of dim 1 (shape [7])')
    S.contains(errmsg(function() nl.zeros(7):unfold(1, 2, 0) end), 'unfold: expected a whole step >= 1')
    S.contains(errmsg(function() nl.zeros(7):unfold(1, 1.5, 1) end), 'unfold: expected a whole size >= 0')
    S.contains(errmsg(function() nl.zeros(7):unfold(2, 1, 1) end), 'unfold: ')
  end)

  it('unfolds a 0-dim tensor as one element along dim 1 or -1, as PyTorch 1.13', function()
    -- torch.tensor(3.).unfold(0, 1, 1) is tensor([3.]) (shape [1]), unfold(-1, 1, 5)
    -- the same, unfold(0, 0, 1) shape [0]; size 2 and dim 1 (0-based) are refused
    local x = nl.tensor(3, 'float64'):requires_grad_()
    local r = x:unfold(1, 1, 1)
    assert.are.same({ 1 }, r:shape())
    assert.are.equal(3, r[1])
    assert.are.same({ 1 }, x:unfold(-1, 1, 5):shape())
    assert.are.same({ 0 }, x:unfold(1, 0, 1):shape())
    ;(r * 2):sum():backward()
    assert.are.equal(2, x.grad:item())
    S.contains(errmsg(function() nl.tensor(3):unfold(1, 2, 1) end), 'unfold: size 2 is more than the 1 element of a 0-dim tensor')
    S.contains(errmsg(function() nl.tensor(3):unfold(2, 1, 1) end), 'unfold: dim 2 out of range for shape []')
    S.contains(errmsg(function() nl.tensor(3):unfold(1, 1, 0) end), 'unfold: expected a whole step >= 1')
  end)
end)

describe('index_put, fill_diagonal_, diagflat, addr', function()
  it('pass float64 gradchecks', function()
    local i, j = nl.tensor({ 1, 3 }, 'int64'), nl.tensor({ 2, 2 }, 'int64')
    S.gradcheck(function(x, v) return x:index_put({ i, j }, v) end, S.randn64(3, 2), S.randn64(2))
    S.gradcheck(function(x, v) return x:index_put({ nl.tensor({ 1, 1 }, 'int64') }, v, true) end,
                S.randn64(2, 3), S.randn64(2, 3))
    S.gradcheck(function(c, a, b) return nl.addr(c, a, b, { beta = 0.5, alpha = 2 }) end,
                S.randn64(2, 3), S.randn64(2), S.randn64(3))
    S.gradcheck(function(x) return nl.diagflat(x, 1) end, S.randn64(2, 2))
  end)

  it('the in-place forms write into the tensor', function()
    local t = nl.zeros(2, 2)
    assert.are.equal(t, t:index_put_({ nl.tensor({ 2 }, 'int64'), nl.tensor({ -1 }, 'int64') }, 7))
    assert.are.same({ 0, 0, 0, 7 }, S.flat(t))
    local c = nl.ones(2, 2)
    c:addr_(nl.tensor({ 1, 2 }), nl.tensor({ 3, 4 }))
    assert.are.same({ 4, 5, 7, 9 }, S.flat(c))
  end)

  it('refuse bad arguments, naming the op and the shapes', function()
    local t = nl.zeros(3, 4)
    local i = nl.tensor({ 1, 1 }, 'int64')
    S.contains(errmsg(t.index_put, t, { i }, 1), 'index_put: a place is named more than once')
    S.contains(errmsg(t.index_put, t, { nl.tensor({ 4 }, 'int64') }, 1),
               'index_put: an index of dim 1 is out of range for its size 3')
    S.contains(errmsg(t.index_put, t, { nl.tensor({ 0 }, 'int64') }, 1), 'index_put: an index of dim 1 is out of range')
    S.contains(errmsg(t.index_put, t, { i, i, i }, 1), 'index_put: 3 index tensors for a tensor of shape [3,4]')
    S.contains(errmsg(t.index_put, t, { nl.tensor({ 1.0 }) }, 1), 'index_put: expected int64 index tensors')
    S.contains(errmsg(t.index_put, t, i, 1), 'index_put: expected a list of int64 index tensors')
    S.contains(errmsg(t.index_put, t, { nl.tensor({ 1, 2 }, 'int64') }, nl.ones(3, 4)),
               'index_put: values of shape [3,4] do not broadcast to the indexed shape [2,4]')
    S.contains(errmsg(t.index_put, t, { nl.tensor({ 1 }, 'int64') }, nl.ones({ 4 }, 'float64')),
               'index_put: values (float64) and the tensor (float32) must have one dtype')
    S.contains(errmsg(function() nl.zeros(3):fill_diagonal_(1) end),
               'fill_diagonal_: expected a tensor of at least 2 dims, got shape [3]')
    S.contains(errmsg(function() nl.zeros(2, 2, 3):fill_diagonal_(1) end), 'fill_diagonal_: all dims must have one size')
    S.contains(errmsg(nl.addr, nl.zeros(2, 3), nl.zeros(2, 1), nl.zeros(3)), 'addr: expected vec1 to be 1-D, got shape [2,1]')
    S.contains(errmsg(nl.addr, nl.zeros(3, 3), nl.zeros(2), nl.zeros(3)), 'addr: input of shape [3,3] does not expand')
  end)
end)

describe('window functions, trapezoid, cumulative_trapezoid', function()
  it("trapezoid by dx is PyTorch's (sum - (first + last) / 2) dx, its infinities included", function()
    -- (PyTorch 1.13: trapezoid([1, -2, inf]) nan, ([inf]) nan, ([inf, 1],
    -- dx 0.5) nan, ([[1, 2, 4], [inf, 0, 1]], dx 2) [9, nan])
    local inf = math.huge
    local function is_nan(t) local v = t:item() return v ~= v end
    assert.is_true(is_nan(nl.trapezoid(nl.tensor({ 1, -2, inf }))))
    assert.is_true(is_nan(nl.trapezoid(nl.tensor({ inf }))))
    assert.is_true(is_nan(nl.trapezoid(nl.tensor({ inf, 1 }), 0.5)))
    local r = S.flat(nl.trapezoid(nl.tensor({ { 1, 2, 4 }, { inf, 0, 1 } }), 2))
    assert.are.equal(9, r[1])
    assert.is_true(r[2] ~= r[2])
  end)

  it('take PyTorch positional arguments or an options table', function()
    assert.are.same(S.flat(nl.hamming_window(6, false, 0.5, 0.5)), S.flat(nl.hann_window(6, { periodic = false })))
    assert.are.same(S.flat(nl.kaiser_window(6, true, 4)), S.flat(nl.kaiser_window(6, { beta = 4 })))
    assert.are.equal('float64', nl.bartlett_window(3, { dtype = 'float64' }):dtype())
    S.contains(errmsg(nl.hann_window, -1), 'hann_window: expected a whole window_length >= 0')
    S.contains(errmsg(nl.hann_window, 4, 1), 'hann_window: expected a boolean periodic')
    S.contains(errmsg(nl.hann_window, 4, { dtype = 'int64' }), "hann_window: dtype must be 'float32' or 'float64'")
    S.contains(errmsg(nl.hann_window, 4, { beta = 2 }), "hann_window: unknown option 'beta'")
    S.contains(errmsg(nl.hann_window, 4, true, 3), 'hann_window')
  end)

  it('pass float64 gradchecks', function()
    S.gradcheck(function(y, x) return nl.trapezoid(y, x) end, S.randn64(2, 4), S.randn64(4))
    S.gradcheck(function(y, x) return nl.cumulative_trapezoid(y, x, 1) end, S.randn64(3, 2), S.randn64(3, 2))
  end)

  it('refuse bad arguments', function()
    S.contains(errmsg(nl.trapezoid, nl.zeros(3), nl.zeros(4)),
               'trapezoid: x of shape [4] does not match the 3 samples of y [3] along dim -1')
    S.contains(errmsg(nl.trapezoid, nl.zeros(3), { x = nl.zeros(3), dx = 1 }), 'trapezoid: give x or dx, not both')
    S.contains(errmsg(nl.trapezoid, nl.zeros(3), 1, 2), 'trapezoid: ')
    S.contains(errmsg(nl.trapezoid, nl.tensor(1)), 'trapezoid: expected y of at least one dim')
    S.contains(errmsg(nl.cumulative_trapezoid, nl.zeros(3), 'a'), 'cumulative_trapezoid: expected a tensor x')
  end)
end)

describe('torch.* utilities', function()
  it('promote_types, result_type, can_cast, get_default_dtype (PyTorch 1.13 values)', function()
    assert.are.equal('float32', nl.promote_types('float32', 'int64'))
    assert.are.equal('float64', nl.promote_types('int64', 'float64'))
    assert.are.equal('int64', nl.promote_types('int64', 'int64'))
    assert.are.equal('float32', nl.result_type(nl.zeros({ 2 }, 'int64'), 2.5))
    assert.are.equal('int64', nl.result_type(nl.zeros({ 2 }, 'int64'), 2))
    assert.are.equal('float64', nl.result_type(nl.zeros(2), nl.zeros({ 2 }, 'float64')))
    assert.are.equal('float32', nl.result_type(nl.zeros({ 2 }, 'int64'), nl.zeros(2)))
    -- (no arguments: an error naming the op, not math.floor's)
    assert.truthy(errmsg(nl.result_type):find('result_type: expected a tensor or a number, got nil', 1, true))
    assert.is_false(nl.can_cast('float32', 'int64'))
    assert.is_true(nl.can_cast('float64', 'float32'))
    assert.is_true(nl.can_cast('int64', 'float64'))
    assert.are.equal('float32', nl.get_default_dtype())
    S.contains(errmsg(nl.promote_types, 'float16', 'int64'), "promote_types: expected a dtype")
  end)

  it('broadcast_shapes (torch.broadcast_shapes((2,1,3),(4,1),(1,)) is (2,4,3))', function()
    assert.are.same({ 2, 4, 3 }, nl.broadcast_shapes({ 2, 1, 3 }, { 4, 1 }, { 1 }))
    assert.are.same({ 5, 0 }, nl.broadcast_shapes({ 5, 1 }, 0))
    assert.are.same({}, nl.broadcast_shapes({}))
    S.contains(errmsg(nl.broadcast_shapes, { 2 }, { 3 }), 'broadcast_shapes: shape [3] does not broadcast with [2]')
    S.contains(errmsg(nl.broadcast_shapes, { 2.5 }), 'broadcast_shapes: expected whole sizes')
  end)

  it('scalar_tensor, as_tensor, asarray, range', function()
    local s = nl.scalar_tensor(3, { dtype = 'float64' })
    assert.are.equal(0, s:dim())
    assert.are.equal('float64', s:dtype())
    local t = nl.zeros(2)
    assert.are.equal(t, nl.as_tensor(t))
    assert.are.equal(t, nl.asarray(t, 'float32'))
    assert.are.equal('float64', nl.as_tensor(t, 'float64'):dtype())
    assert.are.same({ 1, 2 }, nl.as_tensor({ 1, 2 }, 'int64'):totable())
    -- torch.range(0, 1, 0.25): both ends
    assert.are.same({ 0, 0.25, 0.5, 0.75, 1 }, S.flat(nl.range(0, 1, 0.25)))
    assert.are.same({ 3, 2, 1 }, S.flat(nl.range(3, 1, -1)))
    S.contains(errmsg(nl.range, 1, 2, 0), 'range: step must be nonzero')
    S.contains(errmsg(nl.range, 3, 1), 'range: end 1 is on the wrong side of start 3')
    -- a missing end (or start) is named, not met in the arithmetic (misuse seed 13)
    S.contains(errmsg(nl.range, 1.5), 'range: expected numbers start, end and step, got nil')
    S.contains(errmsg(nl.range), 'range: expected numbers start, end and step, got nil')
  end)

  it("torch.conv2d and the others are nn.functional's", function()
    local F = nl.nn.functional
    local x, w = nl.randn(1, 2, 5, 5), nl.randn(3, 2, 3, 3)
    assert.are.same(S.flat(F.conv2d(x, w, nil, 1, 1)), S.flat(nl.conv2d(x, w, nil, 1, 1)))
    local a, b = nl.randn(4, 3), nl.randn(4, 3)
    assert.are.same(S.flat(F.cosine_similarity(a, b)), S.flat(nl.cosine_similarity(a, b)))
    assert.are.same(S.flat(F.pdist(a)), S.flat(nl.pdist(a)))
    assert.are.same({ 1, 1, 4, 4 }, nl.pixel_shuffle(nl.randn(1, 4, 2, 2), 2):shape())
    assert.are.same(S.flat(a), S.flat(nl.dropout(a, 0.5, false)))
    assert.are.same(S.flat(F.layer_norm(a, { 3 })), S.flat(nl.layer_norm(a, { 3 })))
  end)
end)

describe("more of torch.Tensor's names", function()
  it('the real-number and CPU no-ops and predicates', function()
    local t = nl.randn(2, 3)
    for _, name in ipairs({ 'cpu', 'resolve_conj', 'resolve_neg', 'conj', 'conj_physical', 'real' }) do
      assert.are.equal(t, t[name](t), name)
    end
    assert.are.equal(t, nl.conj(t))
    assert.is_false(t:is_conj() or t:is_neg() or nl.is_inference(t))
    assert.are.same({ 1, 1, 1, 1, 1, 1 }, S.flat(t:isreal()))
    assert.are.same(t:mT():totable(), t:adjoint():totable())
    assert.are.same(t:mT():totable(), t:mH():totable())
    assert.is_true(t.is_cpu)
    assert.is_false(t.is_cuda)
    assert.are.equal('cpu', t.device)
    assert.are.equal(4, t:element_size())
    assert.are.equal(8, nl.zeros({ 1 }, 'int64'):element_size())
    assert.are.equal(3, t:narrow(1, 2, 1):storage_offset())        -- (PyTorch's: 3 elements in, from 0)
    assert.are.same(S.flat(nl.cat({ t, t }, 1)), S.flat(nl.concat({ t, t }, 1)))
    assert.are.same(S.flat(nl.cat({ t, t }, 2)), S.flat(nl.concatenate({ t, t }, 2)))
    S.contains(errmsg(nl.adjoint, nl.zeros(3)), 'adjoint: expected a tensor of at least 2 dims')
  end)

  it('put, sum_to_size and mvlgamma: gradients, in-place forms, errors', function()
    S.gradcheck(function(x, v) return x:put(nl.tensor({ 2, -1 }, 'int64'), v) end, S.randn64(2, 2), S.randn64(2))
    S.gradcheck(function(x) return x:sum_to_size(1, 3) end, S.randn64(2, 3))
    S.gradcheck(function(x) return x:mvlgamma(2) end, nl.rand({ 4 }, 'float64') + 1)
    local t = nl.zeros(2, 2)
    assert.are.equal(t, t:put_(nl.tensor({ 4 }, 'int64'), nl.tensor({ 5 })))
    assert.are.same({ 0, 0, 0, 5 }, S.flat(t))
    local m = nl.tensor({ 2, 3 }, 'float64')
    local want = S.flat(m:mvlgamma(2))
    m:mvlgamma_(2)
    assert.are.same(want, S.flat(m))
    S.contains(errmsg(function() nl.zeros(3):put(nl.tensor({ 4 }, 'int64'), 1) end), 'put: an index of dim 1 is out of range')
    S.contains(errmsg(function() nl.zeros(3):put(nl.tensor({ 1 }, 'int64'), nl.ones(2)) end),
               'put: source of shape [2] has not the 1 elements of index [1]')
    S.contains(errmsg(function() nl.ones(2, 3):sum_to_size(4) end),
               "sum_to_size: size [4] is not expandable to the tensor's shape [2,3]")
    -- PyTorch 1.13 checks no domain: torch.mvlgamma([0.4, 0.25] float64, 2)
    -- and the gradient of its sum
    local x = nl.tensor({ 0.4, 0.25 }, 'float64'):requires_grad_()
    local y = nl.mvlgamma(x, 2)
    S.expect_close(y, nl.tensor({ 3.7380040933552725, 3.4499627801739634 }, 'float64'), 'mvlgamma', 1e-12, 0)
    y:sum():backward()
    S.expect_close(x.grad, nl.tensor({ 6.683688505467835, -1.3133144131627374 }, 'float64'), 'its gradient', 1e-12, 0)
    S.contains(errmsg(nl.mvlgamma, nl.tensor({ 3 }), 0), 'mvlgamma: expected a whole p >= 1')
  end)
end)

describe('in-place view changes', function()
  it('give the tensor itself the view the out-of-place op gives', function()
    local cases = {
      { 'unsqueeze_', 'unsqueeze', { 2, 3 }, { 2 } }, { 'squeeze_', 'squeeze', { 1, 3, 1 }, {} },
      { 'squeeze_', 'squeeze', { 1, 3, 1 }, { 3 } }, { 't_', 't', { 2, 3 }, {} },
      { 'transpose_', 'transpose', { 2, 3, 4 }, { 1, 3 } }, { 'swapaxes_', 'swapaxes', { 2, 3 }, { 1, 2 } },
      { 'swapdims_', 'swapdims', { 2, 1, 3 }, { -1, 1 } },
    }
    for _, c in ipairs(cases) do
      local x = nl.arange(1, S.numel(c[3]) + 1):reshape(c[3])
      local want = x[c[2]](x, unpack(c[4]))
      local wshape, wvals = want:shape(), want:totable()
      assert.are.equal(x, x[c[1]](x, unpack(c[4])), c[1])
      assert.are.same(wshape, x:shape(), c[1])
      assert.are.same(wvals, x:totable(), c[1])
    end
    -- the memory is the same: a view made before sees writes after
    local w = nl.zeros(1, 3)
    local v = w:view(3)
    w:squeeze_()
    w[2] = 5
    assert.are.same({ 0, 5, 0 }, S.flat(v))
  end)

  -- PyTorch 1.13 (python3, torch.ones(2, 3, requires_grad=True) as x, or
  -- (1, 3) for the squeezes; unsqueeze_(0), squeeze_(), t_(),
  -- transpose_(0, 1), swapaxes_(0, 1), as_strided_((2,), (1,))):
  -- - x.op() raises 'a leaf Variable that requires grad is being used in
  --   an in-place operation.', and x[:].op() 'a view of a leaf Variable ...';
  -- - under torch.no_grad(): x.op() passes, x keeps requires_grad and
  --   is_leaf with the new shape, x.sum().backward() gives x.grad of it;
  --   y = x * 2 made before, y.sum().backward() raises 'The size of tensor
  --   a (2) must match the size of tensor b (3)' (t_); an old x.grad of
  --   (2, 3) then a backward of the new (3, 2) raises too;
  -- - a view made under no_grad of x: op() in grad mode raises 'A view was
  --   created in no_grad mode and is being modified inplace with grad mode
  --   enabled', under no_grad passes;
  -- - x.detach() with a .grad set: op() passes, .grad keeps its shape.
  -- nnlua refuses a tensor made by an op in both modes (1.13 records the
  -- change of a non-leaf, and under no_grad regenerates a view's grad_fn;
  -- nnlua's graph cannot follow either).
  local ARGS = { unsqueeze_ = { 1 }, squeeze_ = {}, t_ = {}, transpose_ = { 1, 2 }, swapaxes_ = { 1, 2 },
                 as_strided_ = { { 2 }, { 1 } } }
  local WANT = { unsqueeze_ = { 1, 1, 3 }, squeeze_ = { 3 }, t_ = { 3, 2 }, transpose_ = { 3, 2 },
                 swapaxes_ = { 3, 2 }, as_strided_ = { 2 } }
  local NAME = { unsqueeze_ = 'unsqueeze', squeeze_ = 'squeeze', t_ = 't', transpose_ = 'transpose',
                 swapaxes_ = 'swapaxes', as_strided_ = 'as_strided' }
  for _, op in ipairs({ 'unsqueeze_', 'squeeze_', 't_', 'transpose_', 'swapaxes_', 'as_strided_' }) do
    local shape = op:match('squeeze') and { 1, 3 } or { 2, 3 }
    local sh = '[' .. table.concat(shape, ',') .. ']'
    local function leaf() return nl.ones(shape):requires_grad() end
    local function run(x) return x[op](x, unpack(ARGS[op])) end
    it(op .. ' on a leaf that requires grad: refused with grad mode on, done under no_grad, as 1.13', function()
      local x = leaf()
      S.contains(errmsg(run, x), op .. ': the tensor of shape ' .. sh .. ' is a leaf that requires grad')
      S.contains(errmsg(run, x), 'change it inside nl.no_grad, or use ' .. NAME[op] .. ', the out-of-place view')
      assert.are.same(shape, x:shape())
      assert.are.equal(x, nl.no_grad(function() return run(x) end))
      assert.are.same(WANT[op], x:shape())
      assert.is_true(x.is_requires_grad)
      assert.is_true(x:is_leaf())
      ;(x * 3):sum():backward()
      assert.are.same(WANT[op], x.grad:shape())
      assert.are.same(S.flat(nl.full(WANT[op], 3)), S.flat(x.grad))
      -- a graph that used the old shape refuses backward, naming the shapes
      local z = leaf()
      local y = (z * 2):sum()
      nl.no_grad(function() run(z) end)
      S.contains(errmsg(y.backward, y), 'backward of mul: gradient of shape ' .. sh .. ' for input 1 of shape')
      -- a view made under no_grad: refused with grad mode on, done under it
      local v = nl.no_grad(function() return leaf():narrow(1, 1, 1) end)
      S.contains(errmsg(run, v), op .. ': the tensor of shape [1,3] is a view made with grad mode off')
      nl.no_grad(function() run(v) end)
      -- a .grad alone does not stop it (it keeps its shape)
      local d = nl.ones(shape)
      d.grad = nl.zeros(shape)
      run(d)
      assert.are.same(WANT[op], d:shape())
      assert.are.same(shape, d.grad:shape())
    end)
    it(op .. ' on a tensor made by an op: refused in both modes, naming the op, the shape and ' .. NAME[op], function()
      for _, mode in ipairs({ 'grad', 'no_grad' }) do
        for _, make in ipairs({ function(b) return b:narrow(1, 1, 1) end, function(b) return b * 2 end }) do
          local x = make(leaf())
          local before = x:shape()
          local msg = mode == 'grad' and errmsg(run, x) or errmsg(nl.no_grad, function() run(x) end)
          S.contains(msg, op .. ': the tensor of shape ' .. nl._shape_str(x) .. ' was made by a recorded op')
          S.contains(msg, 'use ' .. NAME[op] .. ', the out-of-place view')
          assert.are.same(before, x:shape())
        end
      end
    end)
  end
  it('refuse bad arguments, naming the op', function()
    S.contains(errmsg(function() nl.zeros(2):unsqueeze_(4) end), 'unsqueeze_: ')
  end)

  it('make a graph that saved the tensor refuse backward, as PyTorch', function()
    -- (x, saved by matmul, was transposed under it: backward gave w the
    -- gradient x G instead of x^T G, without a word)
    for _, c in ipairs({ { 't_', {} }, { 'transpose_', { 1, 2 } }, { 'unsqueeze_', { 1 } } }) do
      local x = nl.tensor({ { 1, 2 }, { 3, 4 } })
      local w = nl.ones(2, 2):requires_grad()
      local y = nl.matmul(x, w):sum()
      x[c[1]](x, unpack(c[2]))
      S.contains(errmsg(function() y:backward() end), 'was modified in place after it was used')
    end
  end)
end)

describe('the fields T, H, ndim and data', function()
  it('are PyTorch values', function()
    local t = nl.tensor({ { 1, 2, 3 }, { 4, 5, 6 } })
    assert.are.same({ { 1, 4 }, { 2, 5 }, { 3, 6 } }, t.T:totable())
    assert.are.same({ 4, 3, 2 }, nl.zeros(2, 3, 4).T:shape())
    assert.are.same(t.T:totable(), t.H:totable())
    -- (PyTorch 1.13's H takes a matrix or a 0-dim tensor, and refuses the
    -- rest: 'tensor.H is only supported on matrices (2-D tensors)')
    assert.are.equal(3, nl.tensor(3).H:item())
    S.contains(errmsg(function() return nl.zeros(3).H end), 'H: expected a matrix (2-D) or a 0-dim tensor, got shape [3]')
    S.contains(errmsg(function() return nl.zeros(2, 3, 4).H end), 'got shape [2,3,4] (t:mH() transposes')
    local v = nl.tensor({ 1, 2 })
    assert.are.equal(v, v.T)
    assert.are.equal(2, t.ndim)
    assert.are.equal(0, nl.tensor(1).ndim)
  end)

  it('T carries the gradient; data shares the values, detached', function()
    S.gradcheck(function(x) return x.T * nl.tensor({ 1, 2, 3 }, 'float64') end, S.randn64(3, 2))
    local p = nl.randn(3):requires_grad()
    local d = p.data
    assert.is_false(d.is_requires_grad)
    nl.no_grad(function() d:mul_(0) end)
    assert.are.same({ 0, 0, 0 }, S.flat(p))
  end)
end)

describe("the generator's state", function()
  it('set_rng_state repeats the draws after get_rng_state', function()
    nl.manual_seed(7)
    nl.rand(5)
    local s = nl.get_rng_state()
    assert.are.same({ 2 }, s:shape())
    assert.are.equal('int64', s:dtype())
    local a, b = nl.randn(4), nl.rand(3)
    nl.rand(10)
    nl.set_rng_state(s)
    assert.are.same(S.flat(a), S.flat(nl.randn(4)))
    assert.are.same(S.flat(b), S.flat(nl.rand(3)))
    -- a state from another seed gives that seed's stream
    nl.manual_seed(3)
    local s3, want = nl.get_rng_state(), S.flat(nl.rand(4))
    nl.manual_seed(9)
    nl.set_rng_state(s3)
    assert.are.same(want, S.flat(nl.rand(4)))
  end)

  it('initial_seed gives the seed, seed() sets a fresh one', function()
    nl.manual_seed(1234)
    nl.rand(3)
    assert.are.equal(1234, nl.initial_seed())
    local v = nl.seed()
    assert.is_true(v >= 0 and v < 2 ^ 48 and v == math.floor(v))
    assert.are.equal(v, nl.initial_seed())
    local want = S.flat(nl.rand(3))
    nl.manual_seed(v)
    assert.are.same(want, S.flat(nl.rand(3)))
  end)

  it('negative seeds wrap to 64 bits, as PyTorch, each its own stream', function()
    nl.manual_seed(-1)
    assert.are.equal(18446744073709551615ULL, nl.initial_seed())      -- torch.initial_seed() after manual_seed(-1)
    local a = S.flat(nl.rand(4))
    nl.manual_seed(-7)
    assert.are.equal(18446744073709551609ULL, nl.initial_seed())
    assert.are_not.same(a, S.flat(nl.rand(4)))
  end)

  it('set_rng_state refuses anything but a state', function()
    S.contains(errmsg(nl.set_rng_state, nl.zeros(2)), 'set_rng_state: expected the int64 tensor of 2 elements')
    S.contains(errmsg(nl.set_rng_state, nl.zeros({ 3 }, 'int64')), 'got int64 [3]')
    S.contains(errmsg(nl.set_rng_state, 5), 'set_rng_state: expected')
    S.contains(errmsg(nl.get_rng_state, 1), 'get_rng_state')
  end)
end)

describe('dtype predicates', function()
  it('is_floating_point, is_signed, is_complex, is_nonzero, is_same_size', function()
    assert.is_true(nl.randn(2):is_floating_point())
    assert.is_true(nl.is_floating_point(nl.randn(2, 'float64')))
    assert.is_false(nl.tensor({ 1 }, 'int64'):is_floating_point())
    assert.is_true(nl.tensor({ 1 }, 'int64'):is_signed())
    assert.is_false(nl.randn(2):is_complex())
    assert.is_true(nl.tensor({ 2 }):is_nonzero())
    assert.is_false(nl.is_nonzero(nl.tensor(0)))
    S.contains(errmsg(nl.is_nonzero, nl.zeros(2)), 'is_nonzero: expected a tensor of one element, got shape [2]')
    assert.is_true(nl.zeros(2, 3):is_same_size(nl.ones(2, 3)))
    assert.is_false(nl.is_same_size(nl.zeros(2, 3), nl.ones(3, 2)))
  end)
end)
