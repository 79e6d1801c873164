-- Order statistics, scans that give indices and counting ops
-- (lua/nnlua/tensor_sortops.lua, src/ops_sortops.c) against PyTorch golden
-- values (tests/golden/sortops.lua, made by tests/golden/gen_sortops.py):
-- cummax, cummin, logcumsumexp, kthvalue, median, nanmedian, mode, nansum,
-- nanmean, count_nonzero, quantile, nanquantile, searchsorted, bucketize,
-- bincount, histc, unique, unique_consecutive and clamp with tensor bounds;
-- values, int64 outputs (exactly), NaN as NaN, and the gradients of
-- sum((out_i * w_i):sum()). Then float64 gradchecks, closed forms, the
-- rules where nnlua departs from PyTorch 1.13 (NaN in unique, mode and
-- histc), results that do not depend on the thread count, clamp_, clip
-- and div_ with a rounding mode (PyTorch's values in comments), and the
-- errors of bad calls.
local nl = require 'nnlua'
local S = require 'support'

local cases = dofile(S.root .. '/tests/golden/sortops.lua')

-- op name in sortops.lua -> the nnlua call; x: the inputs, a: the case's
-- args (1-based); a call of several results gives them in a list
local function all(...) return { ... } end
local function qopts(a) return { dim = a.dim, keepdim = a.keepdim, interpolation = a.interpolation } end
local function uopts(a) return { return_inverse = a.return_inverse, return_counts = a.return_counts, dim = a.dim } end
local ops = {
  cummax              = function(x, a) return all(x[1]:cummax(a.dim)) end,
  cummin              = function(x, a) return all(x[1]:cummin(a.dim)) end,
  cummin_t            = function(x, a) return all(x[1]:t():cummin(a.dim)) end,
  logcumsumexp        = function(x, a) return x[1]:logcumsumexp(a.dim) end,
  logcumsumexp_t      = function(x, a) return x[1]:t():logcumsumexp(a.dim) end,
  kthvalue            = function(x, a) return all(x[1]:kthvalue(a.k, a.dim, a.keepdim)) end,
  kthvalue_t          = function(x, a) return all(x[1]:t():kthvalue(a.k, a.dim, a.keepdim)) end,
  median_all          = function(x) return x[1]:median() end,
  median_all_t        = function(x) return x[1]:t():median() end,
  nanmedian_all       = function(x) return nl.nanmedian(x[1]) end,
  median              = function(x, a) return all(x[1]:median(a.dim, a.keepdim)) end,
  median_t            = function(x, a) return all(x[1]:t():median(a.dim, a.keepdim)) end,
  nanmedian           = function(x, a) return all(x[1]:nanmedian(a.dim, a.keepdim)) end,
  mode                = function(x, a) return all(x[1]:mode(a.dim, a.keepdim)) end,
  mode_t              = function(x, a) return all(x[1]:t():mode(a.dim, a.keepdim)) end,
  nansum              = function(x, a) return x[1]:nansum(a.dim, a.keepdim, a.dtype) end,
  nanmean             = function(x, a) return x[1]:nanmean(a.dim, a.keepdim) end,
  nanmean_t           = function(x, a) return x[1]:t():nanmean(a.dim, a.keepdim) end,
  count_nonzero       = function(x, a) return nl.count_nonzero(x[1], a.dim) end,
  quantile            = function(x, a) return x[1]:quantile(a.q, a.dim, a.keepdim, a.interpolation) end,
  quantile_qt         = function(x, a) return x[1]:quantile(x[2], qopts(a)) end,
  quantile_t          = function(x, a) return x[1]:t():quantile(a.q, qopts(a)) end,
  nanquantile         = function(x, a) return x[1]:nanquantile(a.q, qopts(a)) end,
  nanquantile_qt      = function(x, a) return nl.nanquantile(x[1], x[2], a.dim) end,
  searchsorted        = function(x, a) return nl.searchsorted(x[1], x[2], { right = a.right, side = a.side }) end,
  searchsorted_sorter = function(x) return nl.searchsorted(x[1], x[2], { sorter = x[3] }) end,
  bucketize           = function(x, a) return x[1]:bucketize(x[2], a.right) end,
  bincount            = function(x, a) return x[1]:bincount(nil, a.minlength) end,
  bincount_w          = function(x, a) return nl.bincount(x[1], x[2], a.minlength) end,
  histc               = function(x, a) return x[1]:histc(a.bins, a.min, a.max) end,
  histc_t             = function(x, a) return x[1]:t():histc{ bins = a.bins, min = a.min, max = a.max } end,
  unique              = function(x, a) return all(x[1]:unique(uopts(a))) end,
  unique_consecutive  = function(x, a) return all(x[1]:unique_consecutive(uopts(a))) end,
  clamp               = function(x) return x[1]:clamp(x[2], x[3]) end,
  clamp_max           = function(x) return x[1]:clamp(nil, x[2]) end,
  clamp_lo_number     = function(x, a) return nl.clamp(x[1], a.min, x[2]) end,
  clamp_t             = function(x) return x[1]:t():clamp(x[2], x[3]) end,
}

-- float64 cases are held to float64's precision
local TOL = { float32 = { 1e-5, 1e-6 }, float64 = { 1e-12, 1e-13 } }

-- golden case c of gen_sortops.py, NaN as NaN (S.check_method_case counts
-- a NaN as a miss)
local expect = S.expect_golden
local function check_case(c, op) S.check_golden_case(c, op, TOL) end

describe('order statistics and counting against PyTorch golden values', function()
  S.golden_its(it, cases, ops, check_case)
  it('the checker sees a wrong value, a wrong index and a NaN for a number', function()
    local c = cases[1]
    local bad = { function(x, a) local v, i = x[1]:cummax(a.dim) return { v * 1.001, i } end,
                  function(x, a) local v, i = x[1]:cummax(a.dim) return { v, i + 1 } end,
                  function(x, a) local v, i = x[1]:cummax(a.dim) return { v / 0 * 0, i } end }
    for _, f in ipairs(bad) do assert.has_error(function() check_case(c, f) end) end
  end)
end)

local gradcheck, randn64 = S.gradcheck, S.randn64
local function first(f) return function(...) return (f(...)) end end

describe('order statistics: float64 gradchecks', function()
  before_each(function() nl.manual_seed(11) end)
  it('cummax and cummin along each dim, transposed', function()
    gradcheck(first(function(x) return x:cummax(2) end), randn64(3, 5))
    gradcheck(first(function(x) return x:cummin(1) end), randn64(4, 3))
    gradcheck(first(function(x) return x:t():cummax(1) end), randn64(3, 4))
    gradcheck(first(function(x) return x:cummin(-1) end), randn64(2, 3, 4))
  end)
  it('logcumsumexp, also where exp overflows and along a transposed dim', function()
    gradcheck(function(x) return x:logcumsumexp(2) end, randn64(3, 5))
    gradcheck(function(x) return x:logcumsumexp(1) end, randn64(4, 2, 3))
    gradcheck(function(x) return (x * 400):logcumsumexp(2) end, randn64(2, 6))
    gradcheck(function(x) return x:t():logcumsumexp(1) end, randn64(3, 4))
    gradcheck(function(x) return x:logcumsumexp(1) end, nl.tensor(0.7, 'float64'))
  end)
  it('kthvalue, median, nanmedian and mode along a dim', function()
    gradcheck(first(function(x) return x:kthvalue(2, 2) end), randn64(3, 5))
    gradcheck(first(function(x) return x:t():kthvalue(3, 1, true) end), randn64(3, 4))
    gradcheck(first(function(x) return x:median(2) end), randn64(3, 4))
    gradcheck(first(function(x) return x:median(1) end), randn64(5, 2))
    local nan = 0 / 0
    gradcheck(first(function(x) return x:nanmedian(2) end), nl.tensor({ { 1, nan, 3, 0.5 }, { nan, 2, -1, nan } }, 'float64'))
    gradcheck(first(function(x) return x:mode(2) end), randn64(2, 5))
  end)
  it('median and nanmedian of all elements', function()
    gradcheck(function(x) return x:median() end, randn64(3, 5))
    gradcheck(function(x) return x:t():median() end, randn64(2, 4))
    gradcheck(function(x) return x:nanmedian() end, nl.tensor({ 0.3, 0 / 0, -1, 2, 0 / 0, 5 }, 'float64'))
  end)
  it('quantile and nanquantile, linear and midpoint, q a number or a tensor', function()
    gradcheck(function(x) return x:quantile(0.3) end, randn64(3, 5))
    gradcheck(function(x) return x:quantile(nl.tensor({ 0.1, 0.5, 0.8 }, 'float64'), 2, true) end, randn64(3, 6))
    gradcheck(function(x) return x:t():quantile(0.6, { dim = 1, interpolation = 'midpoint' }) end, randn64(3, 4))
    gradcheck(function(x) return x:nanquantile(0.4, 2) end,
              nl.tensor({ { 1, 0 / 0, 3, 0.5, 2 }, { 0 / 0, 2, -1, 0 / 0, 4 } }, 'float64'))
    -- q's own gradient, through the interpolation weight
    gradcheck(function(q) return nl.tensor({ 3, 1, 4, 1.5, 9 }, 'float64'):quantile(q) end,
              nl.tensor({ 0.3, 0.62 }, 'float64'))
  end)
  it('nansum and nanmean over dims, the NaNs out of the graph', function()
    local nan = 0 / 0
    local x = nl.tensor({ { 1, nan, 3 }, { 0.5, 2, nan } }, 'float64')
    gradcheck(function(t) return t:nansum() end, x)
    gradcheck(function(t) return t:nansum(1, true) end, x)
    gradcheck(function(t) return t:nanmean(2) end, x)
    gradcheck(function(t) return t:nanmean({ 1, 2 }) end, x)
  end)
  it('clamp with tensor bounds: each of the three inputs, broadcast', function()
    -- values away from the bounds, where the derivative jumps
    local x = nl.tensor({ { -2, -0.5, 0.2, 0.7 }, { 1.5, 0.45, -0.9, 3 }, { 0.05, -0.3, 0.9, -3 } }, 'float64')
    local lo = nl.tensor({ -1, 0, -0.6, 0.3 }, 'float64')
    local hi = nl.tensor({ { 0.8 }, { 0.1 }, { -0.2 } }, 'float64')
    gradcheck(function(a, b, c) return a:clamp(b, c) end, x, lo, hi)
    gradcheck(function(a, b) return a:clamp(b) end, x, lo)
    gradcheck(function(a, c) return a:clip(nil, c) end, x, hi)
    gradcheck(function(a, c) return a:t():clamp(-0.45, c) end, x, nl.tensor({ 0.6, 0.1, 0.35 }, 'float64'))
  end)
end)

describe('order statistics: closed forms and rules', function()
  local nan, inf = 0 / 0, math.huge
  it('cummax and cummin are running extremes with the index of the last equal value', function()
    local x = nl.tensor({ 2, 1, 2, 5, 3, 5, -1 })
    local v, i = x:cummax(1)
    assert.are.same({ 2, 2, 2, 5, 5, 5, 5 }, v:totable())
    assert.are.same({ 1, 1, 3, 4, 4, 6, 6 }, i:totable())
    v, i = x:cummin(-1)
    assert.are.same({ 2, 1, 1, 1, 1, 1, -1 }, v:totable())
    assert.are.same({ 1, 2, 2, 2, 2, 2, 7 }, i:totable())
    -- a 0-dim tensor is its own running max, index 1; an empty dim gives empty results
    v, i = nl.tensor(4):cummax(1)
    assert.are.same({ {}, 4, 1 }, { v:shape(), v:item(), i:item() })
    v, i = nl.zeros(2, 0):cummin(2)
    assert.are.same({ { 2, 0 }, { 2, 0 } }, { v:shape(), i:shape() })
    -- int64 keeps its dtype; ties of int64 too
    v, i = nl.tensor({ 3, 3, 1 }, 'int64'):cummin(1)
    assert.are.same({ 'int64', { 3, 3, 1 }, { 1, 2, 3 } }, { v:dtype(), v:totable(), i:totable() })
  end)
  it('logcumsumexp: log(cumsum(exp(x))) where that is finite, finite where exp overflows, -inf at -inf', function()
    local x = nl.randn(4, 7, 'float64')
    S.expect_close(x:logcumsumexp(2), x:exp():cumsum(2):log(), 'logcumsumexp', 1e-12, 1e-12)
    local big = nl.tensor({ 1000, 1000, 999 }, 'float64')
    expect(big:logcumsumexp(1), nl.tensor({ 1000, 1000 + math.log(2), 1000 + math.log(2 + math.exp(-1)) }, 'float64'),
           'logcumsumexp of 1000', { 1e-15, 0 })
    expect(nl.tensor({ -inf, -inf, 0, inf, 1 }):logcumsumexp(1), nl.tensor({ -inf, -inf, 0, inf, inf }), 'infinities')
    assert.are.equal('float32', nl.randn(3):logcumsumexp(1):dtype())
  end)
  it('median is the lower middle value; kthvalue counts from 1; NaN sorts last', function()
    local x = nl.tensor({ 4, 1, 3, 2 })
    assert.are.equal(2, x:median():item())
    assert.are.same({ 1, 2, 3, 4 }, { x:kthvalue(1):item(), x:kthvalue(2):item(), x:kthvalue(3):item(), x:kthvalue(4):item() })
    local v, i = nl.tensor(7):kthvalue(1)
    assert.are.same({ 7, 1 }, { v:item(), i:item() })
    assert.is_true(nl.tensor({ 1, nan, 2 }):median():item() ~= nl.tensor({ 1, nan, 2 }):median():item())
    assert.are.equal(1.5, nl.tensor({ 1.5, nan, 2, 1, nan }):nanmedian():item())
    v = nl.tensor({ nan, nan }):nanmedian()
    assert.is_true(v:item() ~= v:item())
    -- a lane of NaN only: its first NaN (PyTorch 1.13's nth_element picks any)
    local _, at = nl.tensor({ { 1, nan }, { nan, nan } }):nanmedian(2)
    assert.are.same({ 1, 1 }, at:totable())
    -- empty: NaN, as PyTorch; int64 median stays int64
    v = nl.zeros(0):median()
    assert.is_true(v:item() ~= v:item())
    assert.are.same({ 'int64', 3 }, { nl.tensor({ 5, 3, 1 }, 'int64'):median():dtype(), nl.tensor({ 5, 3, 1 }, 'int64'):median():item() })
    -- the whole tensor's gradient is shared among the equal middle values; along a dim it goes to one index
    local t = nl.tensor({ 1, 2, 2, 3, 2 }, 'float64'):requires_grad()
    t:median():backward()
    -- torch: x.median().backward() gives tensor([0.0000, 0.3333, 0.3333, 0.0000, 0.3333])
    assert.are.same({ 0, 1 / 3, 1 / 3, 0, 1 / 3 }, t.grad:totable())
    -- torch.median(torch.tensor([[1., 2, 2, 3, 2]]), 1): values=tensor([2.]), indices=tensor([2])
    t = nl.tensor({ { 1, 2, 2, 3, 2 } }, 'float64'):requires_grad()
    local m, at = t:median(2)
    assert.are.same({ 2, 3 }, { m:item(), at:item() })
    m:sum():backward()
    assert.are.same({ { 0, 0, 1, 0, 0 } }, t.grad:totable())
    -- -inf as the median: the others are not mistaken for it
    t = nl.tensor({ -inf, -inf, 5 }):requires_grad()
    t:median():backward()
    assert.are.same({ 0.5, 0.5, 0 }, t.grad:totable())
  end)
  it('mode: the smallest of the most frequent values, its last index; each NaN on its own', function()
    local v, i = nl.tensor({ 2, 1, 2, 1, 3 }):mode()
    assert.are.same({ 1, 4 }, { v:item(), i:item() })
    -- (the rule on long lanes, where PyTorch's unstable sort makes the index any of them)
    local long = {}
    for k = 1, 40 do long[k] = (k * 7) % 5 end                -- each of 0..4 eight times
    v, i = nl.tensor(long):mode()
    assert.are.same({ 0, 40 }, { v:item(), i:item() })
    v, i = nl.tensor({ nan, nan, 1 }):mode()
    assert.are.same({ 1, 3 }, { v:item(), i:item() })
    v = nl.tensor({ { nan, nan } }):mode(2)
    assert.is_true(v[1] ~= v[1])
    v, i = nl.tensor({ 4, 4, 7 }, 'int64'):mode(1, true)
    assert.are.same({ 'int64', { 4 }, { 2 } }, { v:dtype(), v:totable(), i:totable() })
  end)
  it('nansum and nanmean skip NaN; count_nonzero counts NaN; int64 sums exactly', function()
    local x = nl.tensor({ { 1, nan, 3 }, { nan, nan, nan } })
    assert.are.equal(4, x:nansum():item())
    assert.are.same({ 4, 0 }, x:nansum(2):totable())
    local m = x:nanmean(2)
    assert.are.equal(2, m[1])
    assert.is_true(m[2] ~= m[2])                            -- 0 / 0: no numbers
    assert.are.same({ { 1, 0, 3 } }, x:nansum(1, true):totable())
    assert.are.equal('float64', x:nansum(nil, nil, 'float64'):dtype())
    assert.are.equal(2 ^ 53 + 2, nl.tensor({ 2 ^ 53, 1, 1 }, 'int64'):nansum():item())
    assert.are.same({ 'int64', 6 }, { x:count_nonzero():dtype(), x:count_nonzero():item() })
    local c = nl.tensor({ { 0, 1, 2 }, { 3, 0, 0 }, { 5, 6, 0 } })
    assert.are.same({ { 2, 2, 1 }, { 2, 1, 2 } }, { c:count_nonzero(1):totable(), c:count_nonzero(-1):totable() })
    assert.are.equal(0, nl.zeros(0):count_nonzero():item())
  end)
  it('quantile interpolates in sorted order, as numpy; q 0 and 1 give the extremes', function()
    local x = nl.tensor({ 3, 1, 4, 1.5, 9 }, 'float64')                 -- sorted 1, 1.5, 3, 4, 9
    local q = nl.tensor({ 0, 0.25, 0.5, 0.6, 1 }, 'float64')
    S.expect_close(x:quantile(q), nl.tensor({ 1, 1.5, 3, 3.4, 9 }, 'float64'), 'linear', 1e-15, 1e-15)
    assert.are.same({ 1, 1.5, 3, 3, 9 }, x:quantile(q, { interpolation = 'lower' }):totable())
    assert.are.same({ 1, 1.5, 3, 4, 9 }, x:quantile(q, { interpolation = 'higher' }):totable())
    -- (torch: ...quantile(q, interpolation='nearest'): tensor([1.0000, 1.5000, 3.0000, 3.0000, 9.0000]))
    assert.are.same({ 1, 1.5, 3, 3, 9 }, x:quantile(q, { interpolation = 'nearest' }):totable())
    assert.are.same({ 1, 1.5, 3, 3.5, 9 }, x:quantile(q, { interpolation = 'midpoint' }):totable())
    -- a list of q is a 1-D q; a 0-dim input; keepdim without a dim keeps ones
    assert.are.same({ 2 }, x:quantile({ 0.2, 0.4 }):shape())
    assert.are.equal(5, nl.tensor(5):quantile(0.3):item())
    assert.are.same({ 3, 1, 1 }, nl.randn(2, 4):quantile({ 0.1, 0.2, 0.3 }, nil, true):shape())
    assert.is_true(x:double():quantile(0.5):item() == x:median():item())
  end)
  it('searchsorted and bucketize give 1-based places, 1 to n + 1; a number gives a 0-dim result', function()
    local s = nl.tensor({ 1, 3, 5, 7 })
    assert.are.same({ 1, 1, 2, 3, 5 }, nl.searchsorted(s, nl.tensor({ 0, 1, 3, 4, 9 })):totable())
    assert.are.same({ 1, 2, 3, 3, 5 }, nl.searchsorted(s, nl.tensor({ 0, 1, 3, 4, 9 }), true):totable())
    assert.are.same({ 1, 2, 3, 3, 5 }, s:searchsorted(nl.tensor({ 0, 1, 3, 4, 9 }), nil, 'right'):totable())
    local r = nl.searchsorted(s, 5)
    assert.are.same({ {}, 3, 'int64' }, { r:shape(), r:item(), r:dtype() })
    assert.are.equal(4, nl.searchsorted(s, 5.5):item())
    r = nl.bucketize(4.5, s)
    assert.are.same({ {}, 3 }, { r:shape(), r:item() })
    -- the insertion place keeps the order: inserting before it works
    local vals = nl.randn(50)
    local sorted = nl.randn(20):sort()
    local at = nl.searchsorted(sorted, vals)
    for k = 1, 50 do
      local p = at[k]
      assert.is_true((p == 1 or sorted[p - 1] < vals[k]) and (p == 21 or sorted[p] >= vals[k]))
    end
    -- non-contiguous sequence and values give the contiguous result
    local seq2 = nl.randn(4, 3):sort(1)
    local v2 = nl.randn(5, 3)
    assert.are.same(nl.searchsorted(seq2:t():contiguous(), v2:t():contiguous()):totable(),
                    nl.searchsorted(seq2:t(), v2:t()):totable())
  end)
  it('bincount counts 1-based bins; histc leaves NaN and outsiders out', function()
    assert.are.same({ 2, 0, 1 }, nl.tensor({ 1, 3, 1 }, 'int64'):bincount():totable())
    assert.are.same({ 2, 0, 1, 0, 0 }, nl.tensor({ 1, 3, 1 }, 'int64'):bincount{ minlength = 5 }:totable())
    assert.are.same({ 0 }, nl.zeros(0, 'int64'):bincount():shape())
    assert.are.same({ 3, 0, 1 }, nl.tensor({ 1, 3, 1 }, 'int64'):bincount(nl.tensor({ 1, 1, 2 }, 'int64')):totable())
    local strided = nl.tensor({ { 1, 9 }, { 2, 9 }, { 2, 9 } }, 'int64'):select(2, 1)
    assert.are.same({ 1, 2 }, strided:bincount():totable())
    -- (PyTorch 1.13 counts a NaN in the first bin, by an undefined conversion: tensor([2., 1., 1., 0.]))
    assert.are.same({ 0, 1, 1, 0 }, nl.tensor({ nan, 1, 2, nan, 5, -1 }):histc(4, 0, 4):totable())
    assert.are.same({ 100 }, nl.randn(10):histc():shape())
    assert.are.same({ 2, 0, 1 }, nl.tensor({ { 0, 9 }, { 3, 9 }, { 0.5, 9 } }):select(2, 1):histc(3):totable())
    assert.are.same({ 0, 0, 0 }, nl.zeros(0):histc(3):totable())
  end)
  it('unique: NaNs each their own, sorted last; 0-dim and empty inputs; no gradient', function()
    -- (PyTorch 1.13 gives the NaNs the inverse and counts of other values)
    local u, inv, cnt = nl.tensor({ 1, nan, 2, nan, 1 }):unique(true, true, true)
    local uu = u:totable()
    assert.are.same({ 1, 2 }, { uu[1], uu[2] })
    assert.is_true(uu[3] ~= uu[3] and uu[4] ~= uu[4] and #uu == 4)
    assert.are.same({ 1, 3, 2, 4, 1 }, inv:totable())
    assert.are.same({ 2, 1, 1, 1 }, cnt:totable())
    u, inv, cnt = nl.tensor(3):unique{ return_inverse = true, return_counts = true }
    assert.are.same({ { 3 }, {}, 1, { 1 } }, { u:totable(), inv:shape(), inv:item(), cnt:totable() })
    u, inv = nl.zeros(0, 2):unique{ dim = 1, return_inverse = true }
    assert.are.same({ { 0, 2 }, { 0 } }, { u:shape(), inv:shape() })
    u, cnt = nl.tensor({ 1, 1, nan, nan, 1 }):unique_consecutive(false, true)
    assert.are.same({ 2, 1, 1, 1 }, cnt:totable())
    local x = nl.randn(5):requires_grad()
    assert.is_false(x:unique().is_requires_grad)
    -- sorted = false gives the sorted result (PyTorch allows any order)
    assert.are.same({ 1, 2, 3 }, nl.tensor({ 3, 1, 2, 3 }):unique(false):totable())
    -- a permuted input gives what its contiguous copy gives
    local p = nl.tensor({ { { 1, 2 }, { 1, 2 } }, { { 0, 2 }, { 1, 2 } } }):permute(3, 1, 2)
    local a1, a2 = p:unique{ dim = 2, return_inverse = true }
    local b1, b2 = p:contiguous():unique{ dim = 2, return_inverse = true }
    assert.are.same({ b1:totable(), b2:totable() }, { a1:totable(), a2:totable() })
  end)
  it('unique along a dim orders the slices as PyTorch 1.13 (dim swapped with the first, then flattened)', function()
    -- x = torch.tensor([[[1,1,0,1,0],[0,0,0,1,0]],[[0,1,0,0,1],[0,1,0,1,0]]])
    local x = nl.tensor({ { { 1, 1, 0, 1, 0 }, { 0, 0, 0, 1, 0 } }, { { 0, 1, 0, 0, 1 }, { 0, 1, 0, 1, 0 } } }, 'int64')
    for _, d in ipairs({ 3, -1 }) do
      -- torch.unique(x, True, True, True, 2): values below, inverse [2, 4, 0, 3, 1], counts all 1
      local u, inv, cnt = x:unique(true, true, true, d)
      assert.are.same({ { { 0, 0, 1, 1, 1 }, { 0, 0, 0, 1, 0 } }, { { 0, 1, 0, 0, 1 }, { 0, 0, 0, 1, 1 } } }, u:totable())
      assert.are.same({ 3, 5, 1, 4, 2 }, inv:totable())
      assert.are.same({ 1, 1, 1, 1, 1 }, cnt:totable())
    end
    -- torch.unique(y, True, True, True, 1), y = [[[0,1],[1,0]],[[1,0],[0,1]],[[0,1],[1,0]]].permute(1, 0, 2):
    -- slices y[:, j] compared as y.transpose(1, 0)[j] flattened
    local y = nl.tensor({ { { 0, 1 }, { 1, 0 } }, { { 1, 0 }, { 0, 1 } }, { { 0, 1 }, { 1, 0 } } }, 'int64'):permute(2, 1, 3)
    local u, inv = y:unique{ dim = 2, return_inverse = true }
    assert.are.same({ { { 0, 1 }, { 1, 0 } }, { { 1, 0 }, { 0, 1 } } }, u:totable())
    assert.are.same({ 1, 2, 1 }, inv:totable())
  end)
  it('detect_anomaly sees no infinity of their own: median of all and clamp with tensor bounds', function()
    nl.detect_anomaly(true)
    local ok, err = pcall(function()
      local x = nl.randn(3, 4):requires_grad()
      x:median():backward()
      assert.are.equal(1, x.grad:sum():item())
      -- (the sum that finds NaN in clamp overflows here)
      return nl.tensor({ 3e38, 1 }):clamp(nl.tensor({ 3e38, 0 }), nl.tensor({ 3e38, 0 }))
    end)
    nl.detect_anomaly(false)
    assert(ok, err)
    assert.are.same({ nl.tensor(3e38):item(), 0 }, { err[1], err[2] })
  end)
  it('over many lanes (threads share them): cummax and logcumsumexp do not depend on the thread count', function()
    local x = nl.randn(64, 500, 3, 'float64')
    local n = nl.get_num_threads()
    nl.set_num_threads(1)
    local v1, i1 = x:cummax(2)
    local l1 = x:logcumsumexp(2)
    nl.set_num_threads(math.max(n, 2))
    local v2, i2 = x:cummax(2)
    local l2 = x:logcumsumexp(2)
    nl.set_num_threads(n)
    S.same_bits(v1, v2, 'cummax values')
    S.same_bits(i1, i2, 'cummax indices')
    S.same_bits(l1, l2, 'logcumsumexp')
    S.expect_close(l1:narrow(2, 500, 1):squeeze(2), x:exp():sum(2):log(), 'last logcumsumexp', 1e-12, 1e-12)
  end)
end)

describe('clamp and clip with tensor bounds, clamp_, and div_ with a rounding mode', function()
  local nan = 0 / 0
  it('clamp broadcasts the three and promotes their dtypes, as PyTorch', function()
    -- torch.clamp(torch.tensor([1, 2, 3]), torch.tensor([1.5]), torch.tensor(2.5, dtype=torch.float64)).dtype: float32
    local r = nl.tensor({ 1, 2, 3 }, 'int64'):clamp(nl.tensor({ 1.5 }), nl.tensor(2.5, 'float64'))
    assert.are.same({ 'float32', { 1.5, 2, 2.5 } }, { r:dtype(), r:totable() })
    -- torch.clamp(torch.tensor([1., 2, 3]), torch.tensor([1.5], dtype=torch.float64)).dtype: float64
    assert.are.equal('float64', nl.tensor({ 1, 2, 3 }):clamp(nl.tensor({ 1.5 }, 'float64')):dtype())
    -- torch.clamp(torch.tensor([1., 2, 3]), min=torch.tensor(2.5, dtype=torch.float64)).dtype: float32
    assert.are.equal('float32', nl.tensor({ 1, 2, 3 }):clamp(nl.tensor(2.5, 'float64')):dtype())
    assert.are.same({ 2, 3 }, nl.zeros(3):clamp(nl.zeros(2, 1)):shape())
    -- min > max gives max; NaN in any gives NaN
    assert.are.same({ 0, 0 }, nl.tensor({ -1, 5 }):clamp(nl.tensor({ 1, 1 }), nl.tensor({ 0, 0 })):totable())
    local n = nl.tensor({ nan, 1, 1 }):clamp(nl.tensor({ 0, nan, 0 }), nl.tensor({ 2, 2, nan })):totable()
    assert.is_true(n[1] ~= n[1] and n[2] ~= n[2] and n[3] ~= n[3])
    assert.are.equal(nl.Tensor.clamp, nl.Tensor.clip)
    assert.are.same({ 0, 0.5, 1 }, nl.clip(nl.tensor({ -1, 0.5, 2 }), nl.tensor(0), 1):totable())
  end)
  it('clamp_ and clip_ with tensors keep the shape and dtype, as PyTorch refuses the others', function()
    local x = nl.tensor({ -1, 0.5, 2 })
    assert.are.equal(x, x:clamp_(nl.tensor({ 0, 0.75, 0 }), nl.tensor(1)))
    assert.are.same({ 0, 0.75, 1 }, x:totable())
    x:clip_(nil, nl.tensor({ 0.5, 0.5, 0.5 }))
    assert.are.same({ 0, 0.5, 0.5 }, x:totable())
    local i = nl.tensor({ 1, 5, 9 }, 'int64')
    i:clamp_(nl.tensor({ 2 }, 'int64'), nl.tensor(6, 'int64'))
    assert.are.same({ 2, 5, 6 }, i:totable())
    -- torch.tensor([1, 2]).clamp_(torch.tensor([1.5])): result type Float can't be cast to ... Long
    S.contains(S.errmsg(function() i:clamp_(nl.tensor({ 1.5 })) end),
               'clamp_: result of float32 bounds cannot be stored in an int64 destination')
    -- torch.tensor([1., 2]).clamp_(torch.tensor([[1.], [2]])): output with shape [2] doesn't match [2, 2]
    S.contains(S.errmsg(function() nl.tensor({ 1, 2 }):clamp_(nl.tensor({ { 1 }, { 2 } })) end),
               'clamp_: the bounds broadcast the result to shape [2,2], not the shape [2] of the tensor')
    S.contains(S.errmsg(function() nl.zeros(2):clamp_(nl.ones(2):requires_grad()) end),
               'clamp_: min of shape [2] requires grad')
    S.contains(S.errmsg(function() nl.zeros(2):requires_grad():clamp_(nl.ones(2)) end), 'clamp_')
  end)
  it('div_ with a rounding mode, as PyTorch 1.13', function()
    -- torch.tensor([5, 7, -7]).div_(2, rounding_mode='floor'): tensor([ 2,  3, -4])
    local i = nl.tensor({ 5, 7, -7 }, 'int64')
    assert.are.equal(i, i:div_(2, 'floor'))
    assert.are.same({ 'int64', { 2, 3, -4 } }, { i:dtype(), i:totable() })
    -- torch.tensor([5, 7, -7]).div_(2, rounding_mode='trunc'): tensor([ 2,  3, -3])
    assert.are.same({ 2, 3, -3 }, nl.tensor({ 5, 7, -7 }, 'int64'):div_(2, 'trunc'):totable())
    -- torch.tensor([1., -1, 7]).div_(torch.tensor([0.1, 0.3, -2]), rounding_mode='floor'): tensor([ 9., -4., -4.])
    local f = nl.tensor({ 1, -1, 7 }, 'float64')
    f:div_(nl.tensor({ 0.1, 0.3, -2 }, 'float64'), 'floor')
    assert.are.same({ 9, -4, -4 }, f:totable())
    -- torch.tensor([5., -5]).div_(torch.tensor([[2.], [3.]])... refused; a row divisor keeps the shape
    local m = nl.tensor({ { 5, -5 }, { 9, 8 } })
    m:div_(nl.tensor({ 2, 3 }), 'trunc')
    assert.are.same({ { 2, -1 }, { 4, 2 } }, m:totable())
    -- a transposed destination: the quotient lands in its elements' places
    local t = nl.tensor({ { 7, 8 }, { 9, 10 } })
    t:t():div_(nl.tensor({ 2, 4 }), 'floor')
    assert.are.same({ { 3, 4 }, { 2, 2 } }, t:totable())
    -- without a mode it is the true division it was
    assert.are.same({ 2.5 }, nl.tensor({ 5 }):div_(2):totable())
  end)
  it('div_ refuses what PyTorch refuses, naming div_', function()
    local function err(f) return S.errmsg(f) end
    -- torch.tensor([5, 7]).div_(2.5, rounding_mode='floor'): result type Float can't be cast to ... Long
    S.contains(err(function() nl.tensor({ 5, 7 }, 'int64'):div_(2.5, 'floor') end),
               'div_: result of a float32 divisor cannot be stored in an int64 destination')
    -- ...div_(torch.tensor([[2], [3]]), rounding_mode='floor'): output with shape [2] doesn't match [2, 2]
    S.contains(err(function() nl.tensor({ 5, 7 }, 'int64'):div_(nl.tensor({ { 2 }, { 3 } }, 'int64'), 'floor') end),
               'div_: the divisor of shape [2,1] broadcasts the result to shape [2,2], not the shape [2] of the tensor')
    -- ...div_(2, rounding_mode='x'): div expected rounding_mode to be one of None, 'trunc', or 'floor'
    S.contains(err(function() nl.tensor({ 5., 7 }):div_(2, 'x') end),
               "div_: rounding_mode must be 'trunc', 'floor' or nil, got 'x'")
    S.contains(err(function() nl.tensor({ 5, 7 }, 'int64'):div_(0, 'floor') end), 'div_: integer division by zero')
    S.contains(err(function() nl.zeros(2):div_(nl.ones(2):requires_grad(), 'floor') end),
               'div_: the divisor of shape [2] requires grad')
    S.contains(err(function() nl.zeros(2):requires_grad():div_(2, 'floor') end), 'div_')
    S.contains(err(function() nl.zeros(2):div_('a', 'floor') end), 'div_: expected a tensor or a number, got string')
    S.contains(err(function() nl.zeros(2):div_(2, 'floor', 1) end), 'div_: takes (x, [rounding_mode]), got 3 arguments')
  end)
end)

describe('order statistics and counting: bad calls', function()
  local x = nl.randn(2, 3)
  local function err(f) return S.errmsg(f) end
  it('name the op, the argument and the shapes', function()
    S.contains(err(function() return x:cummax() end), 'cummax: expected an integer dim, got nil')
    S.contains(err(function() return x:cummin(3) end), 'cummin: dim 3 out of range for shape [2,3]')
    S.contains(err(function() return x:logcumsumexp(0) end), 'logcumsumexp: dim 0 is invalid')
    S.contains(err(function() return nl.tensor({ 1, 2 }, 'int64'):logcumsumexp(1) end),
               'logcumsumexp: expected a float input, got int64 [2]')
    S.contains(err(function() return x:kthvalue(4) end),
               'kthvalue: k must be a whole number from 1 to 3 (the size of dim -1 of shape [2,3]), got 4')
    S.contains(err(function() return x:kthvalue(0, 1) end), 'kthvalue: k must be a whole number from 1 to 2')
    S.contains(err(function() return x:kthvalue(1.5) end), 'got 1.5')
    S.contains(err(function() return x:kthvalue(1, 1, 'yes') end), 'kthvalue: expected keepdim as a boolean, got string')
    S.contains(err(function() return nl.zeros(3, 0):median(2) end), 'median: cannot reduce dim 2 of size 0 in shape [3,0]')
    S.contains(err(function() return nl.zeros(0, 'int64'):median() end), 'median: an empty int64 tensor has no median')
    S.contains(err(function() return x:median(nil, true) end), 'median: keepdim needs a dim')
    S.contains(err(function() return x:nanmedian({ 1, 2 }) end), 'nanmedian: takes one dim, not a list of dims')
    S.contains(err(function() return nl.zeros(0, 2):mode(1) end), 'mode: cannot reduce dim 1 of size 0 in shape [0,2]')
    S.contains(err(function() return x:mode(1, true, 3) end), 'mode: takes ([dim], [keepdim]), got 3 arguments')
    S.contains(err(function() return x:nansum({ 1, 1 }) end), 'nansum: dim 1 appears more than once')
    S.contains(err(function() return x:nansum(1, nil, 'half') end), "nansum: unknown dtype 'half'")
    S.contains(err(function() return nl.tensor({ 1 }, 'int64'):nanmean() end), 'nanmean: expected a float input, got int64 [1]')
    S.contains(err(function() return x:count_nonzero(5) end), 'count_nonzero: dim 5 out of range for shape [2,3]')
  end)
  it('quantile checks q, the input and the interpolation as PyTorch', function()
    -- torch.quantile(torch.tensor([1., 2]), 1.5): q must be in the range [0, 1] but got 1.5
    S.contains(err(function() return x:quantile(1.5) end), 'quantile: q must be in [0, 1], got 1.5')
    S.contains(err(function() return x:quantile(0 / 0) end), 'quantile: q must be in [0, 1], got nan')
    S.contains(err(function() return x:quantile({ 0.5, 2 }) end), 'quantile: q must be in [0, 1], got 2 at position 2')
    -- ...torch.tensor([0.5], dtype=torch.float64)): q tensor must be same dtype as the input tensor
    S.contains(err(function() return x:quantile(nl.tensor({ 0.5 }, 'float64')) end),
               'quantile: q (float64) must have the dtype of the input (float32)')
    S.contains(err(function() return x:quantile(nl.tensor({ { 0.5 } })) end), 'quantile: q must be a number or a 0-D or 1-D tensor')
    S.contains(err(function() return x:quantile(nl.tensor({ 0.5, 1.5 })) end), 'quantile: q values must be in [0, 1]')
    S.contains(err(function() return nl.zeros(0):quantile(0.5) end), 'quantile: the input must not be empty')
    S.contains(err(function() return nl.tensor({ 1 }, 'int64'):nanquantile(0.5) end),
               'nanquantile: expected a float input (float32 or float64), got int64 [1]')
    S.contains(err(function() return x:quantile(0.5, { interpolation = 'cubic' }) end),
               "quantile: interpolation must be 'linear', 'lower', 'higher', 'midpoint' or 'nearest', got 'cubic'")
    S.contains(err(function() return x:quantile(0.5, { axis = 1 }) end), "quantile: unknown option 'axis'")
    S.contains(err(function() return x:quantile(0.5, 3) end), 'quantile: dim 3 out of range for shape [2,3]')
    S.contains(err(function() return x:quantile('a') end), 'quantile: expected q as a number, a list of numbers or a tensor')
  end)
  it('searchsorted, bucketize, bincount and histc refuse as PyTorch, naming themselves', function()
    S.contains(err(function() return nl.searchsorted(nl.zeros(2, 2), nl.zeros(3)) end),
               'searchsorted: boundaries of shape [2,2] need values with the same first 1 dims, got shape [3]')
    S.contains(err(function() return nl.searchsorted(nl.zeros(2, 2), 3) end),
               'searchsorted: a number as values needs 1-D boundaries, got shape [2,2]')
    S.contains(err(function() return nl.searchsorted(nl.tensor(1), nl.zeros(1)) end),
               'searchsorted: boundaries must have at least one dim')
    S.contains(err(function() return nl.searchsorted(nl.zeros(2), nl.zeros(1), { side = 'left', right = true }) end),
               "searchsorted: side 'left' and right = true contradict each other")
    S.contains(err(function() return nl.searchsorted(nl.zeros(2), nl.zeros(1), nil, 'up') end),
               "searchsorted: side must be 'left' or 'right', got 'up'")
    S.contains(err(function() return nl.searchsorted(nl.zeros(2), nl.zeros(1), { out_int32 = true }) end),
               'searchsorted: out_int32 is not supported')
    S.contains(err(function() return nl.searchsorted(nl.zeros(3), nl.zeros(1), { sorter = nl.tensor({ 1, 2, 4 }, 'int64') }) end),
               'searchsorted: sorter holds indices outside 1 to 3')
    S.contains(err(function() return nl.searchsorted(nl.zeros(3), nl.zeros(1), { sorter = nl.zeros(3) }) end),
               'searchsorted: sorter must be an int64 tensor of the shape [3] of the sequence')
    S.contains(err(function() return nl.searchsorted(nl.zeros(3), 'a') end), 'searchsorted: expected a tensor or a number as values')
    S.contains(err(function() return nl.bucketize(nl.zeros(2), nl.zeros(2, 2)) end),
               'bucketize: boundaries must be 1-D, got shape [2,2]')
    S.contains(err(function() return nl.bucketize(nl.zeros(2), nl.zeros(2), 1) end), 'bucketize: expected right as a boolean')
    S.contains(err(function() return nl.tensor({ 1, 0 }, 'int64'):bincount() end),
               'bincount: bin index 0 at position 2 is below 1 (bins count from 1)')
    S.contains(err(function() return nl.tensor({ { 1 } }, 'int64'):bincount() end),
               'bincount: expected a 1-D int64 tensor of bin indices, got int64 [1,1]')
    S.contains(err(function() return nl.tensor({ 1 }):bincount() end), 'bincount: expected a 1-D int64 tensor of bin indices, got float32 [1]')
    S.contains(err(function() return nl.tensor({ 1 }, 'int64'):bincount(nil, -1) end), 'bincount: minlength must be a whole number >= 0, got -1')
    S.contains(err(function() return nl.tensor({ 1, 2 }, 'int64'):bincount(nl.ones(1)) end),
               "bincount: weights must be 1-D, of the input's length 2; got shape [1]")
    S.contains(err(function() return nl.tensor({ 1, 2 }, 'int64'):histc(3) end), 'histc: expected a float input, got int64 [2]')
    S.contains(err(function() return x:histc(0) end), 'histc: bins must be a whole number > 0, got 0')
    S.contains(err(function() return x:histc(3, 2, 1) end), 'histc: max must be larger than min')
    S.contains(err(function() return nl.tensor({ 1, 0 / 0 }):histc(3) end), 'histc: range of [nan, nan] is not finite')
    S.contains(err(function() return x:histc(3, 'a') end), 'histc: expected a number as min, got string')
    S.contains(err(function() return x:histc{ bins = 3, lo = 1 } end), "histc: unknown option 'lo'")
  end)
  it('unique and clamp name themselves', function()
    S.contains(err(function() return nl.tensor(1):unique{ dim = 1 } end), 'unique: a 0-dim tensor has no dim')
    S.contains(err(function() return x:unique{ dim = 3 } end), 'unique: dim 3 out of range for shape [2,3]')
    S.contains(err(function() return x:unique{ return_counts = 1 } end), 'unique: return_counts must be a boolean')
    S.contains(err(function() return x:unique_consecutive{ sorted = true } end), "unique_consecutive: unknown option 'sorted'")
    S.contains(err(function() return x:clamp(nl.zeros(4)) end), 'clamp: shapes [2,3], [4] cannot be broadcast together')
    S.contains(err(function() return x:clamp(nl.zeros(3), 'a') end), 'clamp: expected a number, a tensor or nil as max, got string')
    S.contains(err(function() return x:clamp(nl.zeros(3), 1, 2) end), 'clamp: takes (min, max), got 3 arguments')
  end)
end)
