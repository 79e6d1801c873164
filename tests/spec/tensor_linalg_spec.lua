-- The ops of lua/nnlua/tensor_linalg.lua against PyTorch golden values
-- (tests/golden/tensor_linalg.lua, made by tests/golden/gen_tensor_linalg.py):
-- logsumexp, tril, triu, flip, fliplr, flipud, roll, repeat_interleave,
-- outer, lerp, diag, diagonal, diag_embed, trace, meshgrid, isclose,
-- allclose, equal, cdist, einsum, addmm, addmv, baddbmm and addbmm; values,
-- int64 outputs (exactly) and the gradients of sum((out_i * w_i):sum()).
-- Then float64 gradchecks (non-contiguous inputs among them), closed forms,
-- and the errors of bad calls.
local nl = require 'nnlua'
local S = require 'support'

local cases = dofile(S.root .. '/tests/golden/tensor_linalg.lua')

-- input 1, transposed where the case says so (a non-contiguous view)
local function first(x, a)
  if a.transpose then return x[1]:transpose(a.transpose[1], a.transpose[2]) end
  return x[1]
end
local function bool(v) return nl.tensor(v and 1 or 0, 'int64') end
local function scaling(a) return { beta = a.beta, alpha = a.alpha } end

-- op name in tensor_linalg.lua -> the nnlua call; x: the inputs, a: the
-- case's args (1-based)
local ops = {
  logsumexp = function(x, a) return first(x, a):logsumexp(a.dim, a.keepdim) end,
  tril = function(x, a) return first(x, a):tril(a.diagonal) end,
  triu = function(x, a) return first(x, a):triu(a.diagonal) end,
  flip = function(x, a) return first(x, a):flip(a.dims) end,
  fliplr = function(x, a) return first(x, a):fliplr() end,
  flipud = function(x, a) return first(x, a):flipud() end,
  roll = function(x, a) return first(x, a):roll(a.shifts, a.dims) end,
  -- a number or a Lua list of counts
  repeat_interleave = function(x, a) return first(x, a):repeat_interleave(a.repeats, a.dim) end,
  repeat_interleave_tensor = function(x, a)
    return nl.repeat_interleave(first(x, a), nl.tensor(a.repeats, 'int64'), a.dim)
  end,
  outer = function(x) return x[1]:outer(x[2]) end,
  lerp = function(x, a) return x[1]:lerp(x[2], a.weight) end,
  lerp_w = function(x) return nl.lerp(x[1], x[2], x[3]) end,
  diag = function(x, a) return first(x, a):diag(a.diagonal) end,
  diagonal = function(x, a) return first(x, a):diagonal(a.offset, a.dim1, a.dim2) end,
  diag_embed = function(x, a) return first(x, a):diag_embed({ offset = a.offset, dim1 = a.dim1, dim2 = a.dim2 }) end,
  trace = function(x, a) return first(x, a):trace() end,
  meshgrid = function(x, a) return nl.meshgrid(x, { indexing = a.indexing }) end,
  isclose = function(x, a) return x[1]:isclose(x[2], { rtol = a.rtol, atol = a.atol, equal_nan = a.equal_nan }) end,
  allclose = function(x, a) return bool(x[1]:allclose(x[2], a.rtol, a.atol, a.equal_nan)) end,
  equal = function(x) return bool(nl.equal(x[1], x[2])) end,
  cdist = function(x, a) return nl.cdist(first(x, a), x[2], a.p, a.compute_mode) end,
  einsum = function(x, a)
    local operands = { first(x, a) }
    for i = 2, #x do operands[i] = x[i] end
    return nl.einsum(a.eq, unpack(operands))
  end,
  addmm = function(x, a) return first(x, a):addmm(x[2], x[3], scaling(a)) end,
  addmv = function(x, a) return nl.addmv(x[1], x[2], x[3], scaling(a)) end,
  baddbmm = function(x, a) return x[1]:baddbmm(x[2], x[3], scaling(a)) end,
  addbmm = function(x, a) return nl.addbmm(x[1], x[2], x[3], scaling(a)) end,
}

-- float64 cases are held to float64's precision; float32 sums of other
-- orders (einsum's matmuls, cdist's) round apart by a few ulps
local TOL = { float32 = { 1e-5, 2e-6 }, float64 = { 1e-12, 1e-13 } }

describe('tensor_linalg ops against PyTorch golden values', function()
  S.golden_its(it, cases, ops, function(c, op) S.check_method_case(c, op, TOL) end)
end)

local gradcheck, randn64 = S.gradcheck, S.randn64

describe('tensor_linalg ops: float64 gradchecks', function()
  before_each(function() nl.manual_seed(11) end)
  it('logsumexp over a dim, a list of dims, keepdim, a transposed input', function()
    gradcheck(function(x) return x:logsumexp(2) end, randn64(3, 4))
    gradcheck(function(x) return x:logsumexp({ 1, 3 }, true) end, randn64(2, 3, 2))
    gradcheck(function(x) return x:t():logsumexp(-1) end, randn64(4, 3) + 50)
  end)
  it('tril, triu, flip, fliplr, flipud, roll on permuted inputs', function()
    gradcheck(function(x) return x:transpose(1, 2):tril(-1) end, randn64(4, 3, 2))
    gradcheck(function(x) return x:triu(2) end, randn64(3, 5))
    gradcheck(function(x) return x:permute(3, 1, 2):flip({ 1, 3 }) end, randn64(2, 3, 4))
    gradcheck(function(x) return x:t():fliplr() end, randn64(3, 4))
    gradcheck(function(x) return x:flipud() end, randn64(3, 2))
    gradcheck(function(x) return x:t():roll({ 2, -1 }, { 1, 2 }) end, randn64(3, 4))
    gradcheck(function(x) return x:roll(5) end, randn64(2, 3))
  end)
  it('repeat_interleave with a count and with counts, zeros among them', function()
    gradcheck(function(x) return x:t():repeat_interleave(2, 1) end, randn64(3, 2))
    gradcheck(function(x) return x:repeat_interleave(nl.tensor({ 0, 3, 1 }, 'int64'), 2) end, randn64(2, 3))
    gradcheck(function(x) return x:repeat_interleave({ 2, 0, 1, 0 }) end, randn64(2, 2))
  end)
  it('outer and lerp of tensors and weights', function()
    gradcheck(function(a, b) return nl.outer(a, b) end, randn64(3), randn64(2))
    gradcheck(function(a, b) return a:lerp(b, 0.25) end, randn64(2, 3), randn64(3))
    gradcheck(function(a, b) return a:lerp(b, 0.9) end, randn64(2, 3), randn64(2, 3))
    gradcheck(function(a, b, w) return a:lerp(b, w) end, randn64(2, 3), randn64(2, 3),
              nl.tensor({ { 0.1, 0.6, -0.4 }, { 1.2, 0.45, 0.55 } }, 'float64'))
  end)
  it('diag, diagonal, diag_embed and trace, offsets and dims', function()
    gradcheck(function(x) return x:diag(-1) end, randn64(3))
    gradcheck(function(x) return x:t():diag(1) end, randn64(4, 3))
    gradcheck(function(x) return x:permute(2, 3, 1):diagonal(-1, 3, 1) end, randn64(2, 3, 4))
    gradcheck(function(x) return x:diag_embed(1, 1, 3) end, randn64(2, 3))
    gradcheck(function(x) return x:t():trace() end, randn64(3, 5))
    gradcheck(function(x) return x:trace() end, randn64(5, 3))
  end)
  it('meshgrid both ways', function()
    gradcheck(function(a, b) return nl.meshgrid(a, b)[1] * 2 + nl.meshgrid(a, b)[2] end, randn64(2), randn64(3))
    gradcheck(function(a, b) return nl.meshgrid({ a, b }, { indexing = 'xy' })[2] end, randn64(2), randn64(3))
  end)
  it('cdist for each kind of p, batched, through the matmul form', function()
    for _, p in ipairs({ 0.5, 1, 1.5, 2, 3, math.huge }) do
      gradcheck(function(a, b) return nl.cdist(a, b, p) end, randn64(3, 4), randn64(2, 4))
    end
    gradcheck(function(a, b) return nl.cdist(a:transpose(2, 3), b, 2) end, randn64(2, 3, 3), randn64(1, 2, 3))
    gradcheck(function(a, b) return nl.cdist(a, b, { compute_mode = 'use_mm_for_euclid_dist' }) end,
              randn64(3, 2), randn64(4, 2))
  end)
  it('einsum of the common forms, transposed operands among them', function()
    gradcheck(function(a, b) return nl.einsum('ij,jk->ik', a:t(), b) end, randn64(3, 2), randn64(3, 4))
    gradcheck(function(a, b) return nl.einsum('bij,bjk->bik', a, b) end, randn64(2, 2, 3), randn64(2, 3, 2))
    gradcheck(function(a) return nl.einsum('ii->i', a) end, randn64(3, 3))
    gradcheck(function(a) return nl.einsum('iij->ij', a) end, randn64(2, 2, 3))
    gradcheck(function(a, b) return nl.einsum('i,i->', a, b) end, randn64(4), randn64(4))
    gradcheck(function(a, b) return nl.einsum('...ij,...jk', a, b) end, randn64(2, 2, 3), randn64(3, 2))
    gradcheck(function(a, b, c) return nl.einsum('bn,anm,bm->ba', a, b, c) end, randn64(2, 3), randn64(2, 3, 2),
              randn64(2, 2))
  end)
  it('addmm, addmv, baddbmm and addbmm with beta and alpha', function()
    local o = { beta = 0.5, alpha = -1.5 }
    gradcheck(function(c, a, b) return c:addmm(a:t(), b, o) end, randn64(2), randn64(3, 2), randn64(3, 2))
    gradcheck(function(c, a, v) return c:addmv(a, v, o) end, randn64(2), randn64(2, 3), randn64(3))
    gradcheck(function(c, a, b) return c:baddbmm(a, b, o) end, randn64(2, 1, 2), randn64(2, 2, 3), randn64(2, 3, 2))
    gradcheck(function(c, a, b) return c:addbmm(a, b, o) end, randn64(2, 2), randn64(3, 2, 2), randn64(3, 2, 2))
  end)
end)

describe('tensor_linalg ops: closed forms', function()
  it('logsumexp of equal values c is c + log(n), at any magnitude in float32', function()
    for _, c in ipairs({ 0, 80, -200, 1e4, 3e37 }) do
      local r = nl.full({ 2, 5 }, c):logsumexp(2)
      S.expect_close(r, { shape = { 2 }, data = { c + math.log(5), c + math.log(5) } }, 'logsumexp of ' .. c, 1e-6, 1e-6)
    end
    -- a row of -inf is -inf, one holding inf is inf, NaN stays NaN
    local r = nl.tensor({ { -math.huge, -math.huge }, { math.huge, 1 }, { 0 / 0, 1 } }):logsumexp(2):totable()
    assert.are.equal(-math.huge, r[1])
    assert.are.equal(math.huge, r[2])
    assert.is_true(r[3] ~= r[3])
    -- the gradient is softmax over the dims
    local x = nl.randn(3, 4):requires_grad()
    x:logsumexp(2):sum():backward()
    S.expect_close(x.grad, x:detach():softmax(2), 'logsumexp gradient', 1e-6, 1e-7)
    -- an empty dim gives -inf, as PyTorch's
    assert.are.same({ -math.huge, -math.huge, -math.huge }, nl.zeros(0, 3):logsumexp(1):totable())
  end)
  it('tril plus triu(1) gives the input back; NaN above the diagonal becomes 0', function()
    local x = nl.randn(2, 4, 5)
    S.same_bits(x:tril() + x:triu(1), x, 'tril + triu')
    local y = nl.tensor({ { 1, 0 / 0 }, { 2, 3 } }):tril():totable()
    assert.are.same({ { 1, 0 }, { 2, 3 } }, y)
    assert.are.same({ { 0, 0 }, { 0, 0 } }, nl.ones(2, 2):tril(-5):totable())
    assert.are.same({ { 1, 1 }, { 1, 1 } }, nl.ones(2, 2):triu(-2 ^ 40):totable())
  end)
  it('flip twice, roll by the size, and roll back give the input', function()
    local x = nl.randn(3, 4)
    S.same_bits(x:flip(1, 2):flip({ 2, 1 }), x, 'flip twice')
    S.same_bits(x:roll(4, 2), x, 'roll by the size')
    S.same_bits(x:roll({ 2, 3 }, { 1, 2 }):roll({ -2, -3 }, { 1, 2 }), x, 'roll back')
    S.same_bits(x:roll(1, 1):roll(1, 1), x:roll(2, 1), 'roll twice along one dim')
    -- a result of its own: writing it leaves the input
    local f = x:flip(1)
    f:fill_(0)
    assert.is_true(x:abs():sum():item() > 0)
    assert.are.equal(3, nl.tensor(3):flip(1):item())
  end)
  -- flip is one strided copy in C (runs of the unflipped inner dims
  -- copied whole, the flipped dims walked backwards): against its
  -- definition, an index_select by a reversed index along each dim
  it('flip of every set of dims is index_select by reversed indices, any layout and dtype, 1 and 2 threads', function()
    local prev = nl.get_num_threads()
    finally(function() nl.set_num_threads(prev) end)
    local function by_index(t, dims)
      for _, d in ipairs(dims) do t = t:index_select(d, nl.arange(t:size(d), 0, -1, 'int64')) end
      return t
    end
    local n = 0
    for _, threads in ipairs({ 1, 2 }) do
      nl.set_num_threads(threads)
      for _, dtype in ipairs({ 'float32', 'float64', 'int64' }) do
        -- distinct values; 4-D big enough to split over the threads (72000)
        local x3 = (nl.randn(7, 5, 6) * 1000):to(dtype)
        local x4 = (nl.randn(6, 5, 40, 60) * 1000):to(dtype)
        local inputs = { x3, x3:transpose(1, 3), x3:narrow(3, 2, 4), x3:select(2, 2):unsqueeze(2):expand(7, 3, 6),
                         x4, x4:permute(1, 3, 2, 4), x4:narrow(4, 3, 50), x4:transpose(3, 4), x4:narrow(1, 2, 1) }
        for _, t in ipairs(inputs) do
          local nd = t:dim()
          for mask = 0, 2 ^ nd - 1 do
            local dims = {}
            for d = 1, nd do if bit.band(mask, bit.lshift(1, d - 1)) ~= 0 then dims[#dims + 1] = d end end
            local got, want = t:flip(dims), by_index(t, dims)
            assert.are.same(t:size(), got:size())
            assert.is_true(got:is_contiguous())
            assert.is_true(got:eq(want):all():item() == 1,
                           ('flip %s of %s %s on %d threads'):format(table.concat(dims, ','), dtype,
                                                                       table.concat(t:size(), 'x'), threads))
            n = n + 1
          end
        end
      end
    end
    assert.are.equal(2 * 3 * (4 * 8 + 5 * 16), n)
    -- its backward flips the gradient back, also under create_graph
    local x = nl.randn(3, 4, 5):requires_grad_()
    local w = nl.randn(5, 4, 3):requires_grad_()
    local g = nl.autograd.grad((x:transpose(1, 3):flip(1, 2) * w):sum(), x, { create_graph = true })[1]
    S.same_bits(g, by_index(w:detach():transpose(1, 3), { 3, 2 }), 'flip backward')
    -- g is w flipped: the gradient of g's sum of squares is 2 w
    S.same_bits(nl.autograd.grad((g * g):sum(), w)[1], w:detach() * 2, 'flip backward, differentiated')
  end)
  it('repeat_interleave: each slice r times, in order, as a Lua loop builds it', function()
    local x = nl.arange(1, 7):view(3, 2)
    local counts = { 4, 0, 2 }
    local want = {}
    for i, r in ipairs(counts) do for _ = 1, r do want[#want + 1] = { 2 * i - 1, 2 * i } end end
    assert.are.same(want, x:repeat_interleave(counts, 1):totable())
    assert.are.same({ 0, 2 }, x:repeat_interleave(0, 1):shape())
    assert.are.same({ 0, 2 }, x:repeat_interleave({ 0, 0, 0 }, 1):shape())
    assert.are.same({ 1, 1, 1 }, nl.tensor({ 1 }):repeat_interleave(3):totable())
  end)
  it('lerp gives start at weight 0 and end at weight 1 exactly, as PyTorch\'s two formulas do', function()
    -- (a + (b - a) * 1 misses b by an ulp for about a fifth of these)
    nl.manual_seed(3)
    local a, b = nl.randn(1000), nl.randn(1000) * 3
    S.same_bits(a:lerp(b, 1), b, 'lerp weight 1')
    S.same_bits(a:lerp(b, 0), a, 'lerp weight 0')
    S.same_bits(a:lerp(b, nl.ones(1000)), b, 'lerp weight tensor of ones')
  end)
  it('diagonal, diag and trace by hand; diag_embed of diagonal gives back a diagonal matrix', function()
    local x = nl.arange(1, 13):view(3, 4)
    assert.are.same({ 1, 6, 11 }, x:diagonal():totable())
    assert.are.same({ 5, 10 }, x:diagonal(-1):totable())
    assert.are.same({ 4 }, x:diagonal(3):totable())
    assert.are.same({ 0 }, x:diagonal(4):shape())
    assert.are.same({ 0 }, x:diagonal(-3):shape())
    assert.are.equal(18, x:trace():item())
    local d = nl.randn(2, 3, 3)
    S.same_bits(d:diagonal(0, 2, 3):diag_embed(), d * nl.eye(3), 'diag_embed of diagonal')
    assert.are.same({ { 0, 7, 0 }, { 0, 0, 8 }, { 0, 0, 0 } }, nl.tensor({ 7, 8 }):diag(1):totable())
  end)
  it('meshgrid: each output holds its input along its dim', function()
    local a, b = nl.tensor({ 1, 2 }), nl.tensor({ 3, 4, 5 })
    local g = nl.meshgrid(a, b)
    assert.are.same({ { 1, 1, 1 }, { 2, 2, 2 } }, g[1]:totable())
    assert.are.same({ { 3, 4, 5 }, { 3, 4, 5 } }, g[2]:totable())
    local h = nl.meshgrid({ a, b }, { indexing = 'xy' })
    assert.are.same({ { 1, 2 }, { 1, 2 }, { 1, 2 } }, h[1]:totable())
    assert.are.same({ { 3, 3 }, { 4, 4 }, { 5, 5 } }, h[2]:totable())
  end)
  it('isclose needs no graph; allclose and equal are Lua booleans', function()
    local x = nl.randn(3):requires_grad()
    assert.is_false(x:isclose(x).is_requires_grad)
    assert.is_true(x:allclose(x:detach() + 1e-7))
    assert.is_false(x:allclose(x:detach() + 1e-3))
    assert.is_true(nl.allclose(nl.zeros(0), nl.ones(0)))
    assert.is_true(nl.equal(nl.arange(1, 4), nl.tensor({ 1, 2, 3 }, 'float64')))
    assert.is_false(nl.equal(nl.ones(2, 1), nl.ones(2)))
  end)
  it('cdist by hand: a 3-4-5 triangle for each p', function()
    local a, b = nl.tensor({ { 0, 0 } }), nl.tensor({ { 3, 4 } })
    local want = { [0] = 2, [1] = 7, [2] = 5, [3] = (27 + 64) ^ (1 / 3), [math.huge] = 4 }
    for p, v in pairs(want) do
      S.expect_close(nl.cdist(a, b, p), { shape = { 1, 1 }, data = { v } }, 'cdist p = ' .. p, 1e-6, 0)
    end
    -- the matmul form and the direct one agree, far apart and at 0
    local x, y = nl.randn(30, 5, 'float64'), nl.randn(4, 5, 'float64')
    S.expect_close(nl.cdist(x, y), nl.cdist(x, y, { compute_mode = 'donot_use_mm_for_euclid_dist' }), 'mm form',
                   1e-12, 1e-12)
    assert.are.same({ { 0 } }, nl.cdist(a, a, { compute_mode = 'use_mm_for_euclid_dist' }):totable())
    assert.are.same({ 2, 0, 3 }, nl.cdist(nl.ones(2, 0, 4), nl.ones(3, 4)):shape())
  end)
  it('einsum agrees with matmul, sum, diagonal and transpose', function()
    local a, b = nl.randn(3, 4, 'float64'), nl.randn(4, 5, 'float64')
    S.expect_close(nl.einsum('ij,jk->ik', a, b), nl.matmul(a, b), 'mm', 1e-14, 1e-14)
    S.expect_close(nl.einsum('ij,jk->ki', a, b), nl.matmul(a, b):t(), 'mm transposed', 1e-14, 1e-14)
    S.expect_close(nl.einsum('ij->j', a), a:sum(1), 'sum', 1e-14, 1e-14)
    S.expect_close(nl.einsum('ij,ij->', a, a), (a * a):sum(), 'frobenius', 1e-14, 1e-14)
    S.same_bits(nl.einsum('ij->ji', a), a:t(), 'transpose')
    local s = nl.randn(4, 4)
    S.same_bits(nl.einsum('ii->i', s), s:diagonal(), 'diagonal')
    S.expect_close(nl.einsum('ii', s), s:trace(), 'trace', 1e-6, 1e-6)
    S.expect_close(nl.einsum('i,j', nl.tensor({ 1, 2 }), nl.tensor({ 3, 4 })), nl.tensor({ { 3, 4 }, { 6, 8 } }),
                   'outer', 0, 0)
    assert.are.same({ 7, 2, 3 }, nl.einsum('...,...', nl.ones(2, 3), nl.ones(7, 1, 1)):shape())
  end)
  it('addmm with beta 0 ignores NaN in the input and gives it a zero gradient', function()
    local c = nl.tensor({ { 0 / 0, math.huge } }):requires_grad()
    local a, b = nl.tensor({ { 1, 2 } }), nl.tensor({ { 1, 0 }, { 0, 1 } })
    local r = c:addmm(a, b, { beta = 0, alpha = 2 })
    assert.are.same({ { 2, 4 } }, r:totable())
    r:sum():backward()
    assert.are.same({ { 0, 0 } }, c.grad:totable())
  end)

  -- alpha 0 multiplied the product by 0, so a NaN or inf in the matrices
  -- came through (PyTorch's addmm, addmv and addbmm give beta * input)
  it('alpha 0 ignores NaN and inf in the matrices, which get a zero gradient', function()
    local c = nl.tensor({ { 1, 2 }, { 3, 4 } }, 'float64')
    local m1 = nl.tensor({ { 1, 0 / 0 }, { math.huge, 3 } }, 'float64'):requires_grad()
    local ones = nl.ones(2, 2, 'float64')
    local r = c:addmm(m1, ones, { alpha = 0 })
    assert.are.same({ { 1, 2 }, { 3, 4 } }, r:totable())
    r:sum():backward()
    assert.are.same({ { 0, 0 }, { 0, 0 } }, m1.grad:totable())
    assert.are.same({ { 0, 0 }, { 0, 0 } }, c:addmm(m1, ones, { beta = 0, alpha = 0 }):totable())
    assert.are.same({ 3, 6 }, nl.tensor({ 1, 2 }, 'float64'):addmv(m1, nl.ones(2, 'float64'), { beta = 3, alpha = 0 }):totable())
    local b = m1:detach():view(1, 2, 2)
    assert.are.same({ { 1, 2 }, { 3, 4 } }, c:addbmm(b, b, { alpha = 0 }):totable())
    assert.are.same({ { { 1, 2 }, { 3, 4 } } }, c:view(1, 2, 2):baddbmm(b, b, { alpha = 0 }):totable())
  end)

  -- the form lerp does not take gave the weight 0 * (end - start), NaN for
  -- an infinite difference (PyTorch: the taken form's gradient, inf)
  it('lerp sends a tensor weight the gradient of the form it takes, infinite differences included', function()
    local w = nl.tensor({ 0.25, 0.75, 0.9 }, 'float64'):requires_grad()
    local e = nl.tensor({ math.huge, 1, -math.huge }, 'float64')
    nl.zeros(3, 'float64'):lerp(e, w):sum():backward()
    assert.are.same({ math.huge, 1, -math.huge }, w.grad:totable())
  end)
end)

describe('tensor_linalg ops: errors', function()
  local function fails(part, f, ...) S.contains(S.errmsg(f, ...), part) end
  -- its index is a stride-0 view of 2^40 entries, which index_select
  -- checked one by one (hours) before allocating its output
  it('repeat_interleave past memory fails at once, naming the op', function()
    local t0 = os.clock()
    fails('repeat_interleave: index_select: out of memory allocating [1099511627776] float32',
          function() return nl.ones(1):repeat_interleave(2 ^ 40, -1) end)
    fails('index_select: out of memory', function()
      return nl.ones(3):index_select(1, nl.tensor({ 1 }, 'int64'):expand(2 ^ 40))
    end)
    assert.is_true(os.clock() - t0 < 5)
    fails('index_select: index 4 out of range for dim 1 of shape [3]',
          function() return nl.ones(3):index_select(1, nl.tensor({ 1, 4 }, 'int64')) end)
  end)
  local x, v = nl.randn(2, 3), nl.randn(3)
  it('logsumexp', function()
    fails('logsumexp: a dim or a list of dims is needed', function() return x:logsumexp() end)
    fails('logsumexp: dim 3 out of range', function() return x:logsumexp(3) end)
    fails('logsumexp: dim -2 appears more than once', function() return x:logsumexp({ 1, -2 }) end)
    fails('logsumexp: expected a dim or a non-empty list of dims', function() return x:logsumexp({}) end)
    fails('logsumexp: expected keepdim as a boolean', function() return x:logsumexp(1, 1) end)
    fails('logsumexp: takes (dim, [keepdim])', function() return x:logsumexp(1, true, 3) end)
  end)
  it('tril, triu, flip, fliplr, flipud, roll', function()
    fails('tril: expected a tensor of 2 or more dims, got shape [3]', function() return v:tril() end)
    fails('triu: expected an integer diagonal, got 0.5', function() return x:triu(0.5) end)
    fails('flip: dim -2 appears more than once', function() return x:flip({ 1, -2 }) end)
    fails('flip: dim 3 out of range', function() return x:flip(3) end)
    fails('flip: expected a dim or a list of dims', function() return x:flip({ a = 1 }) end)
    fails('fliplr: expected a tensor of 2 or more dims', function() return v:fliplr() end)
    fails('flipud: expected a tensor of 1 or more dims', function() return nl.tensor(1):flipud() end)
    fails('roll: 2 shifts and 1 dims', function() return x:roll({ 1, 2 }, 1) end)
    fails('roll: 2 shifts need as many dims', function() return x:roll({ 1, 2 }) end)
    fails('roll: expected integer shifts, got 1.5', function() return x:roll(1.5) end)
    fails('roll: a 0-dim tensor has no dim to roll', function() return nl.tensor(1):roll(1, 1) end)
  end)
  it('repeat_interleave', function()
    fails('repeat_interleave: repeats must not be negative', function() return x:repeat_interleave(-1) end)
    fails('repeat_interleave: repeats must not be negative', function() return x:repeat_interleave({ 1, -1 }, 1) end)
    fails('repeat_interleave: 3 repeats for 2 slices along dim 1', function() return x:repeat_interleave({ 1, 2, 3 }, 1) end)
    fails('repeat_interleave: repeats must be a 0-dim or 1-D int64 tensor, got float32',
          function() return x:repeat_interleave(nl.ones(2), 1) end)
    fails('repeat_interleave: expected whole-number repeats, got 1.5', function() return x:repeat_interleave({ 1.5, 1 }, 1) end)
    fails('repeat_interleave: a 0-dim tensor has no dim', function() return nl.tensor(1):repeat_interleave(2, 1) end)
    fails('repeat_interleave: expected a whole number of repeats, got 1.5', function() return x:repeat_interleave(1.5) end)
    -- an op it is made of fails: named after the op the caller wrote
    fails('repeat_interleave: reshape: shape [9007199254740992] is too large',
          function() return nl.ones(2):repeat_interleave(2 ^ 52) end)
  end)
  it('outer and lerp', function()
    fails('outer: expected two 1-D tensors, got shapes [2,3] and [3]', function() return x:outer(v) end)
    fails('outer: expected a tensor, got number', function() return v:outer(2) end)
    fails('lerp: expected a float tensor as start, got int64', function() return nl.ones(2, 'int64'):lerp(nl.ones(2), 0.5) end)
    fails('lerp: start (float32) and end (float64) must have the same dtype',
          function() return nl.ones(2):lerp(nl.ones(2, 'float64'), 0.5) end)
    fails('lerp: start (float32) and weight (float64) must have the same dtype',
          function() return nl.ones(2):lerp(nl.ones(2), nl.ones(2, 'float64')) end)
    fails('lerp: shapes [2,3] of start and [2] of end do not broadcast', function() return x:lerp(nl.ones(2), 0.5) end)
    fails('lerp: expected a number or a tensor as weight', function() return x:lerp(x, 'half') end)
  end)
  it('diag, diagonal, diag_embed, trace', function()
    fails('diag: expected a 1-D or 2-D tensor, got shape [2,2,2]', function() return nl.ones(2, 2, 2):diag() end)
    fails('diagonal: expected a tensor of 2 or more dims', function() return v:diagonal() end)
    fails('diagonal: dim1 1 and dim2 -2 are the same dim', function() return x:diagonal(0, 1, -2) end)
    fails('diagonal: dim 3 out of range', function() return x:diagonal(0, 1, 3) end)
    fails("diagonal: unknown option 'dim'", function() return x:diagonal({ dim = 1 }) end)
    fails('diagonal: expected an integer offset, got 0.5', function() return x:diagonal(0.5) end)
    fails('diag_embed: expected a tensor of 1 or more dims', function() return nl.tensor(1):diag_embed() end)
    fails('diag_embed: dim1 1 and dim2 1 are the same dim', function() return v:diag_embed(0, 1, 1) end)
    fails('diag_embed: dim 4 out of range', function() return v:diag_embed(0, 1, 4) end)
    fails('diag_embed: offset 1099511627776 makes too large a result', function() return v:diag_embed(2 ^ 40) end)
    fails('trace: expected a 2-D tensor, got shape [3]', function() return v:trace() end)
  end)
  it('meshgrid', function()
    fails('meshgrid: expected one or more tensors', function() return nl.meshgrid() end)
    fails('meshgrid: expected 0-dim or 1-D tensors, got shape [2,3] as tensor 1', function() return nl.meshgrid(x) end)
    fails('meshgrid: tensors must have one dtype, got float32 and int64', function() return nl.meshgrid(v, nl.ones(2, 'int64')) end)
    fails("meshgrid: indexing must be 'ij' or 'xy', got 'yx'", function() return nl.meshgrid(v, v, { indexing = 'yx' }) end)
    fails("meshgrid: unknown option 'index'", function() return nl.meshgrid(v, { index = 'xy' }) end)
    fails('meshgrid: expected a tensor as tensor 2', function() return nl.meshgrid(v, 3) end)
  end)
  it('isclose, allclose, equal', function()
    fails('isclose: the tensor (float32) and other (float64) must have the same dtype',
          function() return v:isclose(v:double()) end)
    fails('isclose: expected rtol a number >= 0, got -1', function() return v:isclose(v, -1) end)
    fails('isclose: expected atol a number >= 0', function() return v:isclose(v, { atol = 0 / 0 }) end)
    fails('isclose: equal_nan must be a boolean', function() return v:isclose(v, { equal_nan = 1 }) end)
    fails('allclose: shapes [2,3] of the tensor and [2] of other do not broadcast',
          function() return x:allclose(nl.ones(2)) end)
    fails('allclose: expected a tensor as other, got number', function() return x:allclose(1) end)
    fails('equal: expected a tensor as other, got number', function() return x:equal(1) end)
  end)
  it('cdist', function()
    fails('cdist: expected a float tensor as x1, got int64', function() return nl.cdist(nl.ones(2, 2, 'int64'), x) end)
    fails('cdist: x1 (float32) and x2 (float64) must have the same dtype', function() return nl.cdist(x, x:double()) end)
    fails('cdist: expected x1 and x2 of 2 or more dims, got shapes [3] and [2,3]', function() return nl.cdist(v, x) end)
    fails('cdist: x1 and x2 must have the same number of columns, got shapes [2,3] and [3,2]',
          function() return nl.cdist(x, x:t()) end)
    fails('cdist: expected p a number >= 0, got -1', function() return nl.cdist(x, x, -1) end)
    fails("cdist: compute_mode must be", function() return nl.cdist(x, x, 2, 'fast') end)
    fails('cdist: shapes [2] of the batch dims of x1 and [3] of the batch dims of x2 do not broadcast',
          function() return nl.cdist(nl.ones(2, 2, 3), nl.ones(3, 2, 3)) end)
  end)
  it('einsum', function()
    fails('einsum: expected an equation string first', function() return nl.einsum(x, x) end)
    fails('einsum: the equation "ij,jk" has 2 operands, got 1 tensor', function() return nl.einsum('ij,jk', x) end)
    fails('einsum: operand 1 has 2 dims (shape [2,3]), but its term "ijk" names 3',
          function() return nl.einsum('ijk', x) end)
    fails('einsum: subscript j has size 2 for operand 2, which does not broadcast with size 3',
          function() return nl.einsum('ij,jk', x, x) end)
    fails('einsum: subscript i is repeated for operand 1 but the sizes differ, 2 and 3',
          function() return nl.einsum('ii->i', x) end)
    fails('einsum: output subscript i appears more than once', function() return nl.einsum('ij->ii', x) end)
    fails('einsum: output subscript k appears in no operand', function() return nl.einsum('ij->k', x) end)
    fails("einsum: found '.' in operand 1 that is not part of an ellipsis", function() return nl.einsum('i.j', x) end)
    fails('einsum: more than one ellipsis (...) in operand 1', function() return nl.einsum('......', x) end)
    fails('einsum: invalid subscript "1" in operand 1', function() return nl.einsum('i1', x) end)
    fails("einsum: more than one '->'", function() return nl.einsum('ij->ji->ij', x) end)
    fails('einsum: operands must have one dtype, got float32 (operand 1) and float64 (operand 2)',
          function() return nl.einsum('ij,jk', x, v:double():view(3, 1)) end)
    fails('einsum: expected a tensor as operand 2, got number', function() return nl.einsum('i,i', v, 3) end)
  end)
  it('addmm, addmv, baddbmm, addbmm', function()
    local m = nl.randn(3, 4)
    fails('addmm: mat1 [2,3] and mat2 [2,3] cannot be multiplied', function() return nl.addmm(x, x, x) end)
    fails('addmm: expected mat1 to be 2-D, got shape [3]', function() return nl.addmm(x, v, m) end)
    fails('addmm: input of shape [3] does not expand to the shape [2,4] of the product',
          function() return nl.addmm(v, x, m) end)
    fails('addmm: input (float32) and mat1 (float64) must have the same dtype',
          function() return nl.addmm(nl.zeros(2, 4), x:double(), m) end)
    fails("addmm: unknown option 'gamma'", function() return nl.addmm(nl.zeros(2, 4), x, m, { gamma = 1 }) end)
    fails('addmm: expected a number as beta', function() return nl.addmm(nl.zeros(2, 4), x, m, { beta = '1' }) end)
    fails('addmm: beta 0.5 and alpha 1 must be whole numbers for int64 tensors', function()
      return nl.addmm(nl.zeros(2, 4, 'int64'), x:long(), m:long(), { beta = 0.5 })
    end)
    fails('addmv: mat [2,3] and vec [2] cannot be multiplied', function() return nl.addmv(nl.zeros(2), x, nl.ones(2)) end)
    fails('addmv: expected vec to be 1-D', function() return nl.addmv(nl.zeros(2), x, m) end)
    fails('baddbmm: batch1 [2,2,3] and batch2 [3,3,2] cannot be multiplied',
          function() return nl.baddbmm(nl.zeros(1), nl.ones(2, 2, 3), nl.ones(3, 3, 2)) end)
    fails('addbmm: expected batch1 to be 3-D, got shape [2,3]', function() return nl.addbmm(nl.zeros(1), x, m) end)
    fails('addbmm: input of shape [2,2,2] does not expand to the shape [2,2]',
          function() return nl.addbmm(nl.zeros(2, 2, 2), nl.ones(3, 2, 4), nl.ones(3, 4, 2)) end)
  end)
end)
