-- The ops of lua/nnlua/tensor_combine.lua against PyTorch golden values
-- (tests/golden/tensor_combine.lua, made by
-- tests/golden/gen_tensor_combine.py): cross, tensordot, kron, block_diag,
-- cartesian_prod, combinations, tril_indices, triu_indices, diff,
-- gradient, rot90, vander, atleast_1d/2d/3d, broadcast_tensors, the
-- stacks, tensor_split and hsplit/vsplit/dsplit, isin and unravel_index:
-- values, int64 outputs exactly, and the gradients of
-- sum((out_i * w_i):sum()). Then float64 gradchecks, closed forms, edge
-- cases and the errors of bad calls.
local nl = require 'nnlua'
local S = require 'support'

local cases = dofile(S.root .. '/tests/golden/tensor_combine.lua')

local function list(...) return { ... } end
local function join(ts) local out = {} for i, x in ipairs(ts) do out[i] = x end return out end
local function split_arg(a) return a.sections or a.indices end

-- op name in tensor_combine.lua -> the nnlua call; x: the inputs, a: the
-- case's args (1-based)
local ops = {
  cross = function(x, a) return x[1]:cross(x[2], a.dim) end,
  tensordot = function(x, a) return nl.tensordot(x[1], x[2], a.dims) end,
  kron = function(x) return nl.kron(x[1], x[2]) end,
  block_diag = function(x) return nl.block_diag(unpack(x)) end,
  cartesian_prod = function(x) return nl.cartesian_prod(x) end,
  combinations = function(x, a) return nl.combinations(x[1], a.r, a.with_replacement) end,
  tril_indices = function(_, a) return nl.tril_indices(a.rows, a.cols, a.offset) end,
  triu_indices = function(_, a) return nl.triu_indices(a.rows, a.cols, a.offset) end,
  diff = function(x, a) return x[1]:diff(a.n, a.dim, x[2], x[3]) end,
  gradient = function(x, a) return nl.gradient(x[1], { spacing = a.spacing, dim = a.dim, edge_order = a.edge_order }) end,
  gradient_coords = function(x, a)
    local coords = {}
    for i = 2, #x do coords[i - 1] = x[i] end
    return nl.gradient(x[1], { spacing = coords, dim = a.dim, edge_order = a.edge_order })
  end,
  rot90 = function(x, a) return x[1]:rot90(a.k, a.dims) end,
  vander = function(x, a) return nl.vander(x[1], a.N, a.increasing) end,
  atleast_1d = function(x) return nl.atleast_1d(x[1]) end,
  atleast_2d = function(x) return x[1]:atleast_2d() end,
  atleast_2d_list = function(x) return nl.atleast_2d(x) end,
  atleast_3d_list = function(x) return nl.atleast_3d(unpack(x)) end,
  broadcast_tensors = function(x) return nl.broadcast_tensors(unpack(x)) end,
  hstack = function(x) return nl.hstack(x) end,
  vstack = function(x) return nl.vstack(x) end,
  row_stack = function(x) return nl.row_stack(x) end,
  dstack = function(x) return nl.dstack(x) end,
  column_stack = function(x) return nl.column_stack(x) end,
  tensor_split = function(x, a) return join(x[1]:tensor_split(split_arg(a), a.dim)) end,
  hsplit = function(x, a) return x[1]:hsplit(split_arg(a)) end,
  vsplit = function(x, a) return nl.vsplit(x[1], split_arg(a)) end,
  dsplit = function(x, a) return x[1]:dsplit(split_arg(a)) end,
  isin = function(x, a) return nl.isin(x[1], x[2], { invert = a.invert }) end,
  unravel_index = function(x, a) return nl.unravel_index(x[1], a.shape) end,
}

local TOL = { float32 = { 1e-5, 1e-6 }, float64 = { 1e-12, 1e-13 } }

-- the error of f(...), which must come within seconds: a count hook
-- (the JIT off, which skips hooks) stops a call that runs on, so that a
-- loop made of a huge size fails this spec instead of hanging it
local function errmsg_within(seconds, f, ...)
  local t0 = os.clock()
  jit.off()
  debug.sethook(function()
    if os.clock() - t0 > seconds then
      debug.sethook()
      error(('still running after %d s'):format(seconds))
    end
  end, '', 1000)
  local ok, err = pcall(f, ...)
  debug.sethook()
  jit.on()
  assert(not ok, 'expected an error')
  return tostring(err)
end

describe('tensor_combine against PyTorch golden values', function()
  S.golden_its(it, cases, ops, function(c, op) S.check_method_case(c, op, TOL) end)
end)

local gradcheck, randn64 = S.gradcheck, S.randn64

describe('tensor_combine: float64 gradchecks', function()
  before_each(function() nl.manual_seed(5) end)
  it('cross, tensordot and kron, broadcast and transposed', function()
    gradcheck(function(a, b) return a:cross(b, 2) end, randn64(4, 3), randn64(1, 3))
    gradcheck(function(a, b) return nl.cross(a:t(), b, 1) end, randn64(2, 3), randn64(3, 2))
    gradcheck(function(a, b) return nl.tensordot(a, b, { { 1, 3 }, { 2, 1 } }) end, randn64(3, 2, 4), randn64(4, 3))
    gradcheck(function(a, b) return nl.kron(a, b:t()) end, randn64(2, 2), randn64(3, 2))
  end)
  it('block_diag, cartesian_prod, combinations and vander', function()
    gradcheck(function(a, b) return nl.block_diag(a, b) end, randn64(2, 3), randn64(1))
    gradcheck(function(a, b) return nl.cartesian_prod(a, b) end, randn64(3), randn64(2))
    gradcheck(function(a) return nl.combinations(a, 3, true) end, randn64(3))
    gradcheck(function(a) return nl.vander(a, 4) end, nl.tensor({ 0, 0.5, -1.5 }, 'float64'))
  end)
  it('diff and gradient with coordinates and edge order 2', function()
    gradcheck(function(a, p) return a:diff(2, 1, p) end, randn64(3, 4), randn64(2, 4))
    gradcheck(function(a, xs) return nl.gradient(a, { spacing = { xs }, dim = 2, edge_order = 2 })[1] end,
              randn64(2, 4), nl.tensor({ 0, 1, 1.5, 3 }, 'float64'))
    gradcheck(function(a) return nl.gradient(a, { spacing = 0.5 })[1] end, randn64(3, 3))
  end)
end)

describe('tensor_combine: closed forms and edge cases', function()
  it('cross of the unit vectors, and of int64 vectors', function()
    local e = nl.eye(3)
    S.expect_close(nl.cross(e[1], e[2]), nl.tensor({ 0, 0, 1 }), 'e1 x e2', 0, 0)
    assert.are.same({ -3, 6, -3 }, nl.cross(nl.tensor({ 1, 2, 3 }, 'int64'), nl.tensor({ 4, 5, 6 }, 'int64')):totable())
  end)
  it('tensordot with 0 dims is the outer product; kron of 0-dim tensors their product', function()
    local a, b = nl.randn(2, 3), nl.randn(4)
    S.expect_close(nl.tensordot(a, b, 0), a:reshape(2, 3, 1) * b, 'outer', 1e-6, 1e-7)
    assert.are.equal(6, nl.kron(nl.tensor(2), nl.tensor(3)):item())
  end)
  it('combinations: r = 0 is empty, r past the length gives no rows', function()
    assert.are.same({ 0 }, nl.combinations(nl.randn(3), 0):shape())
    assert.are.same({ 0, 4 }, nl.combinations(nl.randn(3), 4):shape())
    assert.are.same({ 0, 2 }, nl.combinations(nl.zeros(0)):shape())
  end)
  it('combinations refuses more rows than a tensor holds at once, and a huge r, without running on', function()
    -- the rows were made one at a time in Lua: C(10000, 5) ran for hours,
    -- and r = 1e7 with replacement overflowed the stack; the count
    -- (closed form) is checked first
    S.contains(errmsg_within(5, nl.combinations, nl.ones(3), 1e7, true),
               'combinations: C(10000002, 10000000) = 50000015000001 rows of 10000000 elements are too many')
    S.contains(errmsg_within(5, nl.combinations, nl.ones(10000), 5),
               'combinations: C(10000, 5) = 8.325e+17 rows of 5 elements are too many')
    assert.are.same({ 0, 1e7 }, nl.combinations(nl.ones(3), 1e7):shape())
    -- C(n + r - 1, r) rows with replacement, in lexicographic order of
    -- their places (as PyTorch's): 3 of 2 places, 10 of 3 from 3
    local c = nl.combinations(nl.tensor({ 5, 7 }), 3, true)
    assert.are.same({ { 5, 5, 5 }, { 5, 5, 7 }, { 5, 7, 7 }, { 7, 7, 7 } }, c:totable())
    assert.are.same({ 10, 3 }, nl.combinations(nl.ones(3), 3, true):shape())
    assert.are.same({ 1, 5 }, nl.combinations(nl.ones(5), 5):shape())
  end)
  it('vander refuses an output too large at once, and its powers are exact products', function()
    -- a column was made at a time in Lua: N = 2^24 ran on for minutes, and
    -- an empty x with a huge N without end
    S.contains(errmsg_within(5, nl.vander, nl.ones(0), 2 ^ 50),
               'vander: output [0,1125899906842624] of x [0] is too large')
    S.contains(errmsg_within(5, nl.vander, nl.ones(2 ^ 24), 2 ^ 24),
               'vander: output [16777216,16777216] of x [16777216] is too large')
    assert.are.same({ { 8, 4, 2, 1 }, { -27, 9, -3, 1 } }, nl.vander(nl.tensor({ 2, -3 }, 'int64'), 4):totable())
    assert.are.same({ { 1, 0, 0 }, { 1, 3, 9 } }, nl.vander(nl.tensor({ 0, 3 }), 3, true):totable())
  end)
  it('tril_indices of an empty matrix, block_diag of nothing', function()
    assert.are.same({ 2, 0 }, nl.tril_indices(0, 3):shape())
    assert.are.same({ 1, 0 }, nl.block_diag():shape())
  end)
  it('diff with n = 0 gives the input; along a size-1 dim an empty tensor', function()
    local x = nl.randn(2, 3)
    S.same_bits(x:diff(0), x, 'n = 0')
    assert.are.same({ 0, 3 }, x:narrow(1, 1, 1):diff(1, 1):shape())
  end)
  it('gradient of x^2 sampled at uneven points is exact in the middle (second order)', function()
    local xs = nl.tensor({ 0, 0.5, 1.5, 1.75, 3 }, 'float64')
    local g = nl.gradient(xs * xs, { spacing = { xs }, edge_order = 2 })[1]
    S.expect_close(g, 2 * xs, 'd(x^2)/dx', 1e-12, 1e-12)
  end)
  it('rot90 four times is the identity; hsplit of sections that do not divide is an error', function()
    local x = nl.randn(2, 3)
    S.same_bits(x:rot90():rot90():rot90():rot90(), x, 'rot90^4')
    assert.has_error(function() nl.randn(2, 5):hsplit(2) end,
      'hsplit: dim 2 of shape [2,5] (size 5) cannot be split into 2 equal sections')
  end)
  it('tensor_split takes int64 tensors of sections and of indices', function()
    local x = nl.arange(6)
    assert.are.equal(3, #x:tensor_split(nl.tensor(3, 'int64')))
    local p = x:tensor_split(nl.tensor({ 2, 5 }, 'int64'))
    assert.are.same({ { 0 }, { 1, 2, 3 }, { 4, 5 } }, { p[1]:totable(), p[2]:totable(), p[3]:totable() })
  end)
  it('isin takes numbers, and gives no gradient', function()
    assert.are.same({ 0, 1, 0 }, nl.isin(nl.tensor({ 1, 2, 3 }), 2):totable())
    assert.are.same(1, nl.isin(2, nl.tensor({ 1, 2 })):item())
    local x = nl.randn(3):requires_grad()
    assert.is_false(nl.isin(x, x).is_requires_grad)
  end)
  it('isin finds the numbers among test elements that hold NaN (PyTorch 1.13: NaN is in no set)', function()
    -- torch.isin([nan, 1, 2, inf, -inf], [nan, 2, inf, nan]) is [F, F, T, T, F]
    local nan, inf = 0 / 0, math.huge
    for _, dt in ipairs({ 'float32', 'float64' }) do
      local e = nl.tensor({ nan, 1, 2, inf, -inf }, dt)
      assert.are.same({ 0, 0, 1, 1, 0 }, nl.isin(e, nl.tensor({ nan, 2, inf, nan }, dt)):totable())
      assert.are.same({ 1, 1, 0, 0, 1 }, nl.isin(e, nl.tensor({ nan, 2, inf, nan }, dt), { invert = true }):totable())
      assert.are.same({ 0, 0, 0, 0, 0 }, nl.isin(e, nl.tensor({ nan }, dt)):totable())
    end
    -- an int64 element against float test elements with NaN: promoted
    assert.are.same({ 0, 1, 0 }, nl.isin(nl.tensor({ 1, 2, 3 }, 'int64'), nl.tensor({ 2, nan })):totable())
  end)
  it('broadcast_to (function and method) is a view of expand; nl.split and nl.chunk are the methods', function()
    local x = nl.tensor({ { 1 }, { 2 } }, 'float64'):requires_grad()
    local b = nl.broadcast_to(x, { 3, 2, 4 })
    assert.are.same({ 3, 2, 4 }, b:shape())
    assert.are.same({ 1, 1, 1, 1 }, b[3][1]:totable())
    assert.are.same({ 2, 2, 2, 2 }, b[2][2]:totable())
    assert.are.same({ 2, 4 }, x:broadcast_to({ -1, 4 }):shape())
    -- torch.broadcast_to(x, (3, 2, 4)).sum() gives x.grad 12 each
    b:sum():backward()
    assert.are.same({ { 12 }, { 12 } }, x.grad:totable())
    local y = nl.zeros(1, 3)
    local v = nl.broadcast_to(y, { 2, 3 })   -- a view: y's storage
    y:fill_(5)
    assert.are.same({ { 5, 5, 5 }, { 5, 5, 5 } }, v:totable())
    S.contains(S.errmsg(nl.broadcast_to, nl.zeros(3), { 2, 4 }), 'broadcast_to: cannot expand shape [3] to [2,4]')
    S.contains(S.errmsg(nl.broadcast_to, nl.zeros(3), 'a'), 'broadcast_to: expected a list of sizes as shape')
    local t = nl.arange(7)
    local p, q = nl.split(t, { 3, 4 }), nl.chunk(t, 3)
    assert.are.same({ { 0, 1, 2 }, { 3, 4, 5, 6 } }, { p[1]:totable(), p[2]:totable() })
    assert.are.same({ { 0, 1, 2 }, { 3, 4, 5 }, { 6 } }, { q[1]:totable(), q[2]:totable(), q[3]:totable() })
    assert.are.equal(3, #nl.split(nl.zeros(2, 5), 2, -1))
  end)
  it('unravel_index of a number and of the last index', function()
    local r = nl.unravel_index(12, { 3, 4 })
    assert.are.same({ 3, 4 }, { r[1]:item(), r[2]:item() })
    local e = nl.unravel_index(nl.zeros(0, 'int64'), { 3, 4 })
    assert.are.same({ 0 }, e[2]:shape())
  end)
  it('atleast_1d gives a tensor that has the dims back as it is', function()
    local x = nl.randn(2)
    assert.are.equal(x, nl.atleast_1d(x))
  end)
end)

describe('tensor_combine: errors name the op and the shapes', function()
  local cases_err = {
    { function() nl.cross(nl.randn(2, 4), nl.randn(2, 4)) end, 'cross: no dim of size 3 in the input of shape [2,4]' },
    { function() nl.cross(nl.randn(2, 3), nl.randn(2, 3), 1) end, 'cross: dim 1 must have size 3 in both inputs, got shapes [2,3] and [2,3]' },
    { function() nl.cross(nl.randn(2, 3), nl.randn(4, 3)) end, 'cross: shapes [2,3], [4,3] cannot be broadcast together' },
    { function() nl.tensordot(nl.randn(2, 3), nl.randn(4, 5), 1) end, 'tensordot: dim 2 of a (size 3) and dim 1 of b (size 4) differ, shapes [2,3] and [4,5]' },
    { function() nl.tensordot(nl.randn(2, 3), nl.randn(3), 2) end, 'tensordot: cannot contract 2 dims of shapes [2,3] and [3]' },
    { function() nl.block_diag(nl.randn(2, 2, 2)) end, 'block_diag: expected tensors of 2 or fewer dims, got shape [2,2,2] as tensor 1' },
    { function() nl.cartesian_prod(nl.randn(2, 2)) end, 'cartesian_prod: expected 1-D tensors, got shape [2,2] as tensor 1' },
    { function() nl.combinations(nl.randn(2, 2)) end, 'combinations: expected a 1-D tensor, got shape [2,2]' },
    { function() nl.tril_indices(3, -1) end, 'tril_indices: expected a number of columns of 0 or more, got -1' },
    { function() nl.randn(3):diff(-1) end, 'diff: expected n a whole number of 0 or more, got -1' },
    { function() nl.tensor(1):diff() end, 'diff: expected a tensor of 1 or more dims, got a 0-dim tensor' },
    { function() nl.randn(2, 3):diff(1, 2, nl.randn(3)) end, 'diff: prepend of shape [3] must have as many dims as the input of shape [2,3]' },
    { function() nl.gradient(nl.randn(2, 3), { edge_order = 2 }) end, 'gradient: dim 1 of shape [2,3] has size 2, expected at least edge_order + 1 = 3' },
    { function() nl.gradient(nl.randn(4), { spacing = { nl.randn(3) } }) end, 'gradient: the coordinates for dim 1 have shape [3], expected [4]' },
    { function() nl.gradient(nl.randn(4, 4), { spacing = { 1, 2, 3 } }) end, 'gradient: spacing has 3 entries, expected one for each of the 2 dims' },
    { function() nl.randn(3):rot90() end, 'rot90: expected a tensor of 2 or more dims, got shape [3]' },
    { function() nl.randn(3, 3):rot90(1, { 2, -1 }) end, 'rot90: the two dims must differ, got 2 and -1' },
    { function() nl.vander(nl.randn(2, 2)) end, 'vander: expected a 1-D tensor, got shape [2,2]' },
    { function() nl.randn(3):tensor_split(0) end, 'tensor_split: expected a number of sections of 1 or more, got 0' },
    { function() nl.randn(3):tensor_split({ 0 }) end, 'tensor_split: index 0 is invalid (indices start at 1)' },
    { function() nl.randn(3):vsplit(1) end, 'vsplit: expected a tensor of 2 or more dims, got shape [3]' },
    { function() nl.randn(3):tensor_split(nl.randn(2)) end, 'tensor_split: expected a 0-D or 1-D int64 tensor of sections or indices, got float32 [2]' },
    { function() nl.unravel_index(7, { 2, 3 }) end, 'unravel_index: index 7 out of range 1 to 6 for shape [2,3]' },
    { function() nl.unravel_index(nl.tensor({ 0, 1 }, 'int64'), { 2, 3 }) end, 'unravel_index: index 0 out of range 1 to 6 for shape [2,3]' },
    { function() nl.unravel_index(nl.tensor({ 1.5 }), { 2, 3 }) end, 'unravel_index: expected int64 indices, got float32 [1]' },
    { function() nl.unravel_index(1.5, { 2, 3 }) end, 'unravel_index: expected whole-number indices, got 1.5' },
    { function() nl.unravel_index({ { 1, 2 }, { 3, 4.25 } }, { 2, 3 }) end, 'unravel_index: expected whole-number indices, got 4.25' },
    { function() nl.isin(nl.randn(2), 'a') end, 'isin: expected a tensor or a number as test_elements' },
    { function() nl.dstack(nl.randn(2)) end, 'dstack: expected a list of tensors' },
  }
  for i, e in ipairs(cases_err) do
    it(e[2], function()
      local ok, msg = pcall(e[1])
      assert.is_false(ok, 'case ' .. i .. ' did not fail')
      assert.is_truthy(tostring(msg):find(e[2], 1, true), tostring(msg))
    end)
  end
end)
