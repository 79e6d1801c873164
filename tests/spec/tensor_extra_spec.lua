-- More tensor methods against PyTorch golden values
-- (tests/golden/tensor_extra.lua, made by tests/golden/gen_tensor_extra.py):
-- sum, mean, var and std over a list of dims, cumsum and cumprod (zeros in
-- cumprod's input), nonzero, argwhere and masked_select; values, int64
-- outputs (exactly) and the gradients of sum((out_i * w_i):sum()). Then
-- float64 gradchecks, closed forms (factorials, running sums of ones, the
-- last running sum against sum), results that do not depend on the thread
-- count, and the errors of bad calls.
local nl = require 'nnlua'
local S = require 'support'

local cases = dofile(S.root .. '/tests/golden/tensor_extra.lua')

-- op name in tensor_extra.lua -> the nnlua call; x: the inputs, a: the
-- case's args (1-based)
local function permuted(x) return x:permute(3, 1, 2) end
local function var_opts(a) return a.unbiased, a.keepdim end
local ops = {
  sum_dims        = function(x, a) return x[1]:sum(a.dims, a.keepdim) end,
  sum_dims_p      = function(x, a) return permuted(x[1]):sum(a.dims, a.keepdim) end,
  mean_dims       = function(x, a) return x[1]:mean(a.dims, a.keepdim) end,
  mean_dims_p     = function(x, a) return permuted(x[1]):mean(a.dims, a.keepdim) end,
  var_dims        = function(x, a) return x[1]:var(a.dims, var_opts(a)) end,
  std_dims        = function(x, a) return x[1]:std(a.dims, var_opts(a)) end,
  std_dims_p      = function(x, a) return permuted(x[1]):std(a.dims, var_opts(a)) end,
  cumsum          = function(x, a) return x[1]:cumsum(a.dim) end,
  cumsum_t        = function(x, a) return x[1]:t():cumsum(a.dim) end,
  cumprod         = function(x, a) return x[1]:cumprod(a.dim) end,
  cumprod_t       = function(x, a) return x[1]:t():cumprod(a.dim) end,
  nonzero         = function(x) return x[1]:nonzero() end,
  nonzero_t       = function(x) return x[1]:t():nonzero() end,
  argwhere_p      = function(x) return nl.argwhere(permuted(x[1])) end,
  masked_select   = function(x) return x[1]:masked_select(x[2]) end,
  masked_select_t = function(x) return x[1]:t():masked_select(x[2]) end,
}

-- float64 cases are held to float64's precision
local TOL = { float32 = { 1e-5, 1e-6 }, float64 = { 1e-12, 1e-13 } }

describe('more tensor methods against PyTorch golden values', function()
  S.golden_its(it, cases, ops, function(c, op) S.check_method_case(c, op, TOL) end)
end)

local gradcheck, randn64 = S.gradcheck, S.randn64
-- x with zeros at the given flat places (1-based)
local function zeroed(x, places)
  local flat = x:reshape(-1):clone()
  for _, i in ipairs(places) do flat[i] = 0 end
  return flat:view(x:shape())
end

describe('more tensor methods: float64 gradchecks', function()
  before_each(function() nl.manual_seed(5) end)
  it('sum, mean, var and std over lists of dims, on permuted inputs', function()
    gradcheck(function(x) return x:permute(3, 1, 2):sum({ 1, 3 }) end, randn64(2, 3, 4))
    gradcheck(function(x) return x:mean({ -1, 2 }, true) end, randn64(2, 3, 4))
    gradcheck(function(x) return x:transpose(1, 3):var({ 3, 1 }) end, randn64(3, 2, 4))
    gradcheck(function(x) return x:std({ 1, 2 }, false, true) end, randn64(3, 4, 2))
  end)
  it('cumsum and cumprod along each dim, transposed, with zeros in cumprod', function()
    gradcheck(function(x) return x:cumsum(2) end, randn64(3, 4, 2))
    gradcheck(function(x) return x:t():cumsum(1) end, randn64(4, 3))
    gradcheck(function(x) return x:cumprod(1) end, randn64(4, 3))
    gradcheck(function(x) return x:cumprod(2) end, zeroed(randn64(3, 6), { 2, 9, 11, 13, 18 }))
    gradcheck(function(x) return x:t():cumprod(1) end, zeroed(randn64(2, 5), { 3, 6, 7 }))
    gradcheck(function(x) return x:cumprod(2) end, zeroed(randn64(2, 4, 3), { 4, 5, 11, 14, 18, 21 }))
  end)
  it('masked_select, the mask broadcast over the tensor and the tensor over the mask', function()
    local m = nl.tensor({ { 1, 0, 1, 1 }, { 0, 1, 1, 0 }, { 1, 1, 0, 0 } }, 'int64')
    gradcheck(function(x) return x:masked_select(m) end, randn64(4))
    gradcheck(function(x) return x:t():masked_select(nl.tensor({ 0, 1, 1 })) end, randn64(3, 3))
  end)
end)

describe('more tensor methods: closed forms', function()
  it('a list of dims reduces as one dim at a time does, and keepdim keeps ones', function()
    local x = nl.randn(2, 3, 4, 5, 'float64')
    S.expect_close(x:sum({ 4, 2 }), x:sum(4):sum(2), 'sum {4, 2}', 1e-12, 1e-12)
    S.expect_close(x:mean({ 1, -1 }, true), x:mean(1, true):mean(4, true), 'mean {1, -1}', 1e-12, 1e-12)
    assert.are.same({ 1, 3, 1, 5 }, x:sum({ 1, 3 }, true):shape())
    assert.are.same({ 1, 1, 1, 1 }, x:sum({}, true):shape())
    S.expect_close(x:sum({}), x:sum(), 'sum {}', 1e-12, 1e-12)
    S.expect_close(x:var({ 2, 3 }, false), ((x - x:mean({ 2, 3 }, true)) ^ 2):mean({ 2, 3 }), 'var', 1e-12, 1e-12)
    -- int64: sums stay int64 and exact; the mean is float32, as a one-dim mean of int64
    local i = nl.tensor({ { 2 ^ 53, 1 }, { 1, 0 } }, 'int64')
    assert.are.equal('int64', i:sum({ 1, 2 }):dtype())
    assert.are.equal(2 ^ 53 + 2, i:sum({ 1, 2 }):item())
    assert.are.equal('float32', nl.tensor({ { 1, 2 }, { 3, 5 } }, 'int64'):mean({ 1, 2 }):dtype())
    assert.are.equal(2.75, nl.tensor({ { 1, 2 }, { 3, 5 } }, 'int64'):mean({ 1, 2 }):item())
    -- a 0-dim tensor takes dim 1 or -1 in a list
    assert.are.equal(3, nl.tensor(3):sum({ 1 }):item())
  end)
  it('cumsum of ones counts, cumprod of 1..n gives factorials, int64 exactly', function()
    assert.are.same({ { 1, 2, 3 }, { 1, 2, 3 } }, nl.ones(2, 3):cumsum(2):totable())
    assert.are.same({ 1, 2, 6, 24, 120, 720 }, nl.arange(1, 7):cumprod(1):totable())
    local big = nl.tensor({ 2 ^ 62, 2 ^ 62, 3 }, 'int64')
    assert.are.equal('int64', big:cumsum(1):dtype())
    assert.are.same({ 2 ^ 62, -2 ^ 63, -2 ^ 63 + 3 }, big:cumsum(1):totable())   -- wraps as int64
    assert.are.equal(5, nl.tensor(5):cumsum(1):item())
    assert.are.same({ 0, 3 }, nl.zeros(0, 3):cumprod(1):shape())
    assert.are.equal('float64', nl.ones(3):cumsum(1, 'float64'):dtype())
  end)
  it('over many lanes (threads share them): the last running sum is the sum, and the thread count changes nothing',
    function()
      local x = nl.randn(64, 700, 3, 'float64')
      local last = x:cumsum(2):narrow(2, 700, 1):squeeze(2)
      S.expect_close(last, x:sum(2), 'last running sum', 1e-10, 1e-10)
      local n = nl.get_num_threads()
      nl.set_num_threads(1)
      local one, pone = x:cumsum(2), (x * 0.01 + 1):cumprod(1)
      nl.set_num_threads(math.max(n, 2))
      local many, pmany = x:cumsum(2), (x * 0.01 + 1):cumprod(1)
      nl.set_num_threads(n)
      S.same_bits(one, many, 'cumsum on 1 and on more threads')
      S.same_bits(pone, pmany, 'cumprod on 1 and on more threads')
    end)
  it("cumprod's gradient at zeros: the products of the other elements, where the naive sum(y g) / x is NaN", function()
    local x = nl.tensor({ 2, 0, 3, 0, 5 }, 'float64'):requires_grad()
    x:cumprod(1):sum():backward()
    -- d/dx_k of sum_j prod_{i <= j} x_i: only products that skip no zero but x_k count
    assert.are.same({ 1, 2 + 2 * 3, 0, 0, 0 }, x.grad:totable())
  end)
  it('nonzero: NaN is nonzero, a 0-dim tensor gives (n, 0), as_tuple gives one index list per dim', function()
    assert.are.same({ { 2 }, { 3 } }, nl.tensor({ 0, 0 / 0, -1 }):nonzero():totable())
    assert.are.same({ 1, 0 }, nl.tensor(7):nonzero():shape())
    assert.are.same({ 0, 0 }, nl.tensor(0):nonzero():shape())
    assert.are.same({ 0, 2 }, nl.zeros(2, 3):nonzero():shape())
    local r, c = unpack(nl.tensor({ { 0, 1 }, { 2, 3 } }):nonzero({ as_tuple = true }))
    assert.are.same({ 1, 2, 2 }, r:totable())
    assert.are.same({ 2, 1, 2 }, c:totable())
    assert.are.same({ { 1, 2 } }, nl.argwhere(nl.tensor({ { 0, 1 } })):totable())
  end)
  it('masked_select of an empty selection is empty, and its gradient zeros', function()
    local x = nl.randn(2, 3):requires_grad()
    local r = x:masked_select(nl.zeros(2, 3))
    assert.are.same({ 0 }, r:shape())
    r:sum():backward()
    assert.are.same({ { 0, 0, 0 }, { 0, 0, 0 } }, x.grad:totable())
    assert.are.equal('masked_select', nl.randn(2):requires_grad():masked_select(nl.ones(2)):grad_fn())
  end)
end)

describe('more tensor methods: bad calls', function()
  local x = nl.randn(2, 3, 4)
  local function err(f) return S.errmsg(f) end
  it('name the op, the dims and the shapes', function()
    S.contains(err(function() return x:sum({ 2, -2 }) end),
      'sum: dim -2 appears more than once in the list of dims for shape [2,3,4]')
    S.contains(err(function() return x:mean({ 1, 4 }) end), 'mean: dim 4 out of range for shape [2,3,4]')
    S.contains(err(function() return x:sum({ 1, 'a' }) end), 'sum: expected an integer dim, got string')
    S.contains(err(function() return x:sum({ 1, 0 }) end), 'sum: dim 0 is invalid (dims start at 1)')
    S.contains(err(function() return x:sum({ 1, [3] = 2 }) end), 'sum: dims must be a list of integer dims')
    S.contains(err(function() return x:var({ 1, 1 }) end), 'var: dim 1 appears more than once')
    S.contains(err(function() return x:max({ 1, 2 }) end),
      "max: takes one dim, not a list of dims (as PyTorch's max), for shape [2,3,4]")
    S.contains(err(function() return x:argmin({ 1 }) end), 'argmin: takes one dim, not a list of dims')
    S.contains(err(function() return x:sum(1, true, 3) end), 'sum: takes (dim, keepdim), got 3 arguments')
    S.contains(err(function() return x:cumsum() end), 'cumsum: expected an integer dim, got nil')
    S.contains(err(function() return x:cumprod(4) end), 'cumprod: dim 4 out of range for shape [2,3,4]')
    S.contains(err(function() return x:cumsum(1, 'half') end), "unknown dtype 'half'")
    S.contains(err(function() return x:cumsum(1, 'float64', 2) end), 'cumsum: takes (dim, [dtype]), got 3 arguments')
    S.contains(err(function() return x:masked_select(nl.ones(3)) end),
      'masked_select: mask of shape [3] and tensor of shape [2,3,4] cannot be broadcast together')
    S.contains(err(function() return x:masked_select(1) end), 'masked_select: expected a tensor, got number')
    S.contains(err(function() return x:nonzero({ as_tuple = 1 }) end), 'nonzero: as_tuple must be a boolean')
    S.contains(err(function() return x:nonzero({ tuple = true }) end), "nonzero: unknown option 'tuple'")
  end)
  it('a mask modified after masked_select refuses the backward that reads it', function()
    local m = nl.ones(3)
    local y = nl.randn(3):requires_grad():masked_select(m)
    m:zero_()
    S.contains(err(function() y:sum():backward() end), 'masked_select')
  end)
end)
