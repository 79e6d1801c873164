-- cov, corrcoef, histogram, i0, frexp and nextafter (lua/nnlua/stats.lua)
-- against PyTorch golden values (tests/golden/stats.lua, made by
-- tests/golden/gen_stats.py): values (NaN as NaN, infinities exactly,
-- int64 exponents exactly) and the gradients of sum((out_i * w_i):sum()).
-- Then float64 gradchecks, closed forms and the errors of bad calls.
local nl = require 'nnlua'
local S = require 'support'

local cases = dofile(S.root .. '/tests/golden/stats.lua')
local INF = math.huge

local function all(...) return { ... } end
local ops = {
  cov = function(x, a) return { nl.cov(x[1], { correction = a.correction }) } end,
  cov_fw = function(x) return { nl.cov(x[1], { fweights = x[2] }) } end,
  cov_aw = function(x) return { x[1]:cov({ aweights = x[2] }) } end,
  cov_both = function(x, a) return { nl.cov(x[1], { correction = a.correction, fweights = x[2], aweights = x[3] }) } end,
  corrcoef = function(x) return { nl.corrcoef(x[1]) } end,
  histogram = function(x, a) return all(nl.histogram(x[1], a.bins, { range = a.range })) end,
  histogram_w = function(x, a) return all(nl.histogram(x[1], a.bins, { weight = x[2], density = true })) end,
  histogram_edges = function(x) return all(nl.histogram(x[1], x[2])) end,
  histogram_edges_density = function(x) return all(nl.histogram(x[1], x[2], { density = true })) end,
  i0 = function(x) return { x[1]:i0() } end,
  frexp = function(x) return all(nl.frexp(x[1])) end,
  nextafter = function(x) return { nl.nextafter(x[1], x[2]) } end,
}
local TOL = { float64 = { 1e-12, 1e-13 }, float32 = { 2e-6, 1e-7 } }
-- nextafter and frexp are exact (float32 goldens: 9 digits, within 2e-8 of the value, a third of an ulp)
local EXACT = { nextafter = true, frexp = true }
local EXACT_TOL = { float64 = { 0, 0 }, float32 = { 2e-8, 0 } }

describe('stats golden', function()
  S.golden_its(it, cases, ops, function(c, op)
    S.check_golden_case(c, op, EXACT[c.op] and EXACT_TOL or TOL)
  end)
end)

describe('stats gradcheck (float64)', function()
  nl.manual_seed(3)
  it('cov (with weights), corrcoef, i0, frexp', function()
    S.gradcheck(function(x) return nl.cov(x) end, S.randn64(3, 5))
    S.gradcheck(function(x, a) return nl.cov(x, { aweights = a, fweights = nl.tensor({ 1, 2, 1, 3, 1 }, 'int64') }) end,
                S.randn64(2, 5), nl.rand({ 5 }, 'float64') + 0.5)
    S.gradcheck(function(x) return nl.corrcoef(x) end, S.randn64(3, 6))
    S.gradcheck(function(x) return x:i0() end, S.randn64(12) * 6)
    S.gradcheck(function(x) return (nl.frexp(x)) end, S.randn64(8) * 100)
  end)
end)

describe('stats closed forms', function()
  it('i0 has I1 as its gradient: I0(x) = sum (x/2)^2k / k!^2; i0 of int64 is float32', function()
    local x = nl.tensor({ 0.3, 2, 9, -12 }, 'float64'):requires_grad()
    x:i0():sum():backward()
    local function series(v, order)
      local s, term = 0, order == 0 and 1 or v / 2
      for k = 0, 60 do
        s = s + term
        term = term * (v / 2) ^ 2 / ((k + 1) * (k + 1 + order))
      end
      return s
    end
    for i, v in ipairs({ 0.3, 2, 9, -12 }) do
      assert.is_true(S.close(nl.tensor(v, 'float64'):i0():item(), series(v, 0), 1e-14, 0))
      assert.is_true(S.close(x.grad[i], series(v, 1), 1e-13, 0))
    end
    assert.are.equal('float32', nl.tensor({ 1, 2 }, 'int64'):i0():dtype())
    -- I0(+-inf) = inf (1.13 gives NaN)
    assert.are.same({ INF, INF }, nl.tensor({ INF, -INF }):i0():totable())
    -- far out, up to where e^|x| overflows and past it: I0, I1 and I1' as
    -- PyTorch 1.13 gives them (inf and -inf past 709.78)
    local xb = nl.tensor({ 30, 700, 709.5, -712 }, 'float64'):requires_grad()
    local yb = xb:i0()
    local g = nl.autograd.grad(yb:sum(), xb, { create_graph = true })[1]
    local h = nl.autograd.grad(g:sum(), xb)[1]
    local want = { { 781672297823.9775, 1.5295933476718735e+302, 2.0297630600755367e+306, INF },
                   { 768532038938.9569, 1.5285003902339006e+302, 2.0283321373980747e+306, -INF },
                   { 756054563192.679, 1.527409775685825e+302, 2.026904240995342e+306 } }
    for k, got in ipairs({ yb, g, h }) do
      for i, w in ipairs(want[k]) do
        if w == INF or w == -INF then assert.are.equal(w, got[i])
        else assert.is_true(S.close(got[i], w, 1e-13, 0), ('%d %d: %.17g'):format(k, i, got[i])) end
      end
    end
  end)
  it('frexp: m 2^e gives x back; nextafter steps by one ulp both ways', function()
    local x = nl.randn({ 100 }, 'float64') * 1e6
    local m, e = nl.frexp(x)
    S.same_bits(m * e:double():exp2(), x, 'ldexp')
    local one = nl.tensor({ 1 }, 'float64')
    assert.are.equal(1 + 2 ^ -52, nl.nextafter(one, nl.tensor({ 2 }, 'float64')):item())
    assert.are.equal(1 - 2 ^ -53, nl.nextafter(one, nl.tensor({ 0 }, 'float64')):item())
    assert.are.equal(2 ^ -149, nl.nextafter(nl.zeros(1), nl.ones(1)):item())
  end)
  it('histogram: counts sum to the elements inside; density integrates to 1', function()
    local x = nl.randn(1000)
    local h = nl.histogram(x, 10)
    assert.are.equal(1000, h:sum():item())
    local d, edges = nl.histogram(x, 10, { density = true })
    local widths = edges:narrow(1, 2, 10) - edges:narrow(1, 1, 10)
    assert.is_true(math.abs((d * widths):sum():item() - 1) < 1e-5)
    local hr = nl.histogram(x, 4, { range = { 10, 20 } })
    assert.are.equal(0, hr:sum():item())
  end)
  it('histogram of no elements: edges over [0, 1] without a range, as PyTorch 1.13', function()
    -- torch.histogram(torch.zeros(0), 4): zeros and edges 0, 0.25, ..., 1;
    -- of (2, 0) float64, 3 bins, density: NaN and 0, 1/3, 2/3, 1; with
    -- range (0, 0): edges -0.5, 0, 0.5
    local h, e = nl.histogram(nl.zeros(0), 4)
    assert.are.same({ 0, 0, 0, 0 }, h:totable())
    assert.are.same({ 0, 0.25, 0.5, 0.75, 1 }, e:totable())
    local d, e3 = nl.histogram(nl.zeros({ 2, 0 }, 'float64'), 3, { density = true })
    assert.is_true(d[1] ~= d[1])
    S.expect_close(e3, nl.tensor({ 0, 1 / 3, 2 / 3, 1 }, 'float64'), 'edges', 1e-15, 1e-15)
    local _, e0 = nl.histogram(nl.zeros(0), 2, { range = { 0, 0 } })
    assert.are.same({ -0.5, 0, 0.5 }, e0:totable())
  end)
  it('cov and corrcoef of int64 x give float32, float64 aweights promote, as PyTorch 1.13', function()
    -- torch.cov(torch.tensor([[1, 2, 4], [3, 1, 0]])): [[7/3, -13/6], [-13/6, 7/3]] float32;
    -- corrcoef: -13/14 off the diagonal
    local x = nl.tensor({ { 1, 2, 4 }, { 3, 1, 0 } }, 'int64')
    local c, r = nl.cov(x), nl.corrcoef(x)
    assert.are.equal('float32', c:dtype())
    S.expect_close(c, nl.tensor({ { 7 / 3, -13 / 6 }, { -13 / 6, 7 / 3 } }), 'cov', 1e-6, 1e-6)
    assert.are.equal('float32', r:dtype())
    S.expect_close(r, nl.tensor({ { 1, -13 / 14 }, { -13 / 14, 1 } }), 'corrcoef', 1e-6, 1e-6)
    -- float32 x, float64 aweights {1, 2, 1}: 1.9 in float64, x.grad -1, -0.4, 1.4 (float32)
    local xf = nl.tensor({ { 1, 2, 4 } }):requires_grad()
    local cw = nl.cov(xf, { aweights = nl.tensor({ 1, 2, 1 }, 'float64') })
    assert.are.equal('float64', cw:dtype())
    assert.is_true(math.abs(cw:item() - 1.9) < 1e-12)
    cw:backward()
    assert.are.equal('float32', xf.grad:dtype())
    S.expect_close(xf.grad, nl.tensor({ { -1, -0.4, 1.4 } }), 'grad', 1e-6, 1e-6)
  end)
  it('cov of the identity rows, corrcoef of a constant row is NaN', function()
    local c = nl.cov(nl.tensor({ { 1, 2, 3, 4 }, { 2, 4, 6, 8 } }, 'float64'))
    S.expect_close(c, nl.tensor({ { 5 / 3, 10 / 3 }, { 10 / 3, 20 / 3 } }, 'float64'), 'cov', 1e-14, 1e-14)
    local r = nl.corrcoef(nl.tensor({ { 1, 1, 1 }, { 1, 2, 3 } }, 'float64'))
    assert.is_true(r[1][1] ~= r[1][1])
  end)
end)

describe('stats errors', function()
  local function fails(part, f, ...) S.contains(S.errmsg(f, ...), part) end
  it('names the op and the shapes', function()
    fails('cov: x must be 1-D or 2-D, got shape [2,2,2]', nl.cov, nl.zeros(2, 2, 2))
    -- a copy too large to make inside names the op called first
    local big = nl.ones(1, 1):expand(2 ^ 20, 2 ^ 20)
    fails('cov: contiguous: out of memory allocating [1048576,1048576]', nl.cov, big)
    fails('corrcoef: cov: contiguous: out of memory allocating [1048576,1048576]', nl.corrcoef, big)
    fails('histogram: contiguous: out of memory allocating [1099511627776]', nl.histogram, nl.ones(1):expand(2 ^ 40), 3)
    -- (PyTorch 1.13: 'cov(): weights sum to zero, can't be normalized'; it gave NaN)
    fails('cov: the weights of the 3 observations sum to zero', nl.cov, nl.ones(2, 3), { aweights = nl.zeros(3) })
    fails('cov: the weights of the 3 observations sum to zero', nl.cov, nl.ones(2, 3),
          { fweights = nl.zeros(3, 'int64'), aweights = nl.ones(3) })
    fails('cov: the weights of the 0 observations sum to zero', nl.cov, nl.ones(2, 0), { aweights = nl.zeros(0) })
    fails('cov: fweights [3] must have one entry per observation (5, the columns of x [2,5])', nl.cov, nl.zeros(2, 5),
          { fweights = nl.ones({ 3 }, 'int64') })
    fails('cov: fweights must be int64, got float32 [5]', nl.cov, nl.zeros(2, 5), { fweights = nl.ones(5) })
    fails('cov: aweights cannot be negative', nl.cov, nl.zeros(2, 3), { aweights = nl.tensor({ 1, -1, 1 }) })
    fails("cov: unknown option 'bias'", nl.cov, nl.zeros(2, 3), { bias = true })
    fails('corrcoef: x must be 1-D or 2-D, got shape [1,1,1]', nl.corrcoef, nl.zeros(1, 1, 1))
    fails('histogram: expected a float32 or float64 tensor as x, got int64 [3]', nl.histogram,
          nl.tensor({ 1, 2, 3 }, 'int64'))
    fails('histogram: bins must be a whole number > 0 or a 1-D tensor of edges, got 0', nl.histogram, nl.zeros(3), 0)
    fails('histogram: min 2 should not exceed max 1', nl.histogram, nl.zeros(3), 3, { range = { 2, 1 } })
    fails('histogram: range of [nan, nan] is not finite', nl.histogram, nl.tensor({ 0 / 0 }))
    fails('histogram: bin edges must be increasing', nl.histogram, nl.zeros(3), nl.tensor({ 1, 0 }))
    -- PyTorch 1.13: torch.histogram(x, torch.tensor([1.])) raises "bins must be > 0, but got 0"
    fails('histogram: bins as a tensor must be 1-D with at least two edges (one bin), got shape [1]', nl.histogram,
          nl.zeros(3), nl.tensor({ 1 }))
    fails('histogram: bins as a tensor must be 1-D with at least two edges (one bin), got shape [0]', nl.histogram,
          nl.zeros(3), nl.zeros(0))
    fails('histogram: weight [2] must have the shape of x', nl.histogram, nl.zeros(3), 2, { weight = nl.ones(2) })
    fails('frexp: expected a float32 or float64 tensor as input, got int64 [2]', nl.frexp,
          nl.tensor({ 1, 2 }, 'int64'))
    fails('nextafter: a (float32 [2]) and b (float64 [2]) must have one dtype', nl.nextafter, nl.zeros(2),
          nl.zeros({ 2 }, 'float64'))
    fails('nextafter: the shapes of a [2] and b [3] do not broadcast', nl.nextafter, nl.zeros(2), nl.zeros(3))
  end)
end)
