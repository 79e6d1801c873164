-- nl.linalg's LU and Cholesky family (lua/nnlua/linalg.lua,
-- src/ops_linalg.c) against PyTorch golden values (tests/golden/linalg.lua,
-- made by tests/golden/gen_linalg.py): inv, solve, det, slogdet, logdet,
-- lu_factor, lu, lu_solve, cholesky, solve_triangular, matrix_power,
-- cholesky_solve and cholesky_inverse, float64 and float32, single and
-- batched, with ill-conditioned matrices; the values, the pivots (exactly)
-- and the gradients of sum((out_i * w_i):sum()). Then float64 finite
-- differences for every gradient, closed forms (A inv(A) = I, the det of a
-- triangular matrix, L L^T = A, P L U = A) on matrices past one block of
-- the blocked kernels, the Tensor methods, the results of inv_ex,
-- cholesky_ex and lu_factor_ex, singular and non-positive-definite inputs,
-- and the errors of bad calls.
local nl = require 'nnlua'
local S = require 'support'

local cases = dofile(S.root .. '/tests/golden/linalg.lua')
local L = nl.linalg

local function all(...) return { ... } end
local ops = {
  inv = function(x) return L.inv(x[1]) end,
  det = function(x) return L.det(x[1]) end,
  slogdet = function(x) return all(L.slogdet(x[1])) end,
  logdet = function(x) return nl.logdet(x[1]) end,
  solve = function(x, o) return L.solve(x[1], x[2], o) end,
  lu_factor = function(x) return all(L.lu_factor(x[1])) end,
  lu = function(x) return all(L.lu(x[1])) end,
  lu_solve = function(x, o)
    local lu, piv = L.lu_factor(x[1]:detach())
    return L.lu_solve(lu, piv, x[2], o)
  end,
  lu_factor_ex = function(x) return all(L.lu_factor_ex(x[1])) end,
  -- lu_solve's gradient to LU: given LU and pivots, or through lu_factor of A
  lu_solve_lu = function(x, o) return L.lu_solve(x[1], x[2], x[3], o) end,
  lu_solve_a = function(x, o)
    local lu, piv = L.lu_factor(x[1])
    return L.lu_solve(lu, piv, x[2], o)
  end,
  cholesky = function(x, o) return L.cholesky(x[1], o) end,
  solve_triangular = function(x, o) return L.solve_triangular(x[1], x[2], o) end,
  matrix_power = function(x, o) return L.matrix_power(x[1], o.k) end,
  cholesky_solve = function(x, o) return nl.cholesky_solve(x[1], x[2], o.upper) end,
  cholesky_inverse = function(x) return nl.cholesky_inverse(x[1]) end,
}

-- { rtol, atol } by dtype; the ill-conditioned cases lose cond * eps
local function tol_of(c)
  local f32 = c.name:find('f32$')
  if c.name:find('ill%-conditioned') then return f32 and { 2e-2, 1e-3 } or { 1e-6, 1e-8 } end
  return f32 and { 2e-4, 2e-5 } or { 1e-10, 1e-12 }
end

local function check(c)
  local tol = tol_of(c)
  local x, wants = {}, {}
  for _, i in ipairs(c.grad) do wants[i] = true end
  for i, g in ipairs(c.inputs) do
    x[i] = S.from_golden(g)
    if wants[i] then x[i]:requires_grad() end
  end
  local outs = ops[c.op](x, c.opts)
  if nl.is_tensor(outs) then outs = { outs } end
  assert.are.equal(#c.outs, #outs, c.name .. ': number of results')
  local loss
  for i, want in ipairs(c.outs) do
    local what = ('%s: out %d'):format(c.name, i)
    if want.dtype == 'int64' then
      assert.are.equal('int64', outs[i]:dtype(), what)
      S.expect_golden(outs[i], want, what)
    else
      S.expect_golden(outs[i], want, what, tol)
      if c.w[i] then
        local term = (outs[i] * S.from_golden(c.w[i])):sum()
        loss = loss and loss + term or term
      end
    end
  end
  if loss then
    loss:backward()
    for i in pairs(wants) do
      assert.is_not_nil(x[i].grad, c.name .. ': no gradient to input ' .. i)
      S.expect_golden(x[i].grad, c.grads[i], ('%s: gradient of input %d'):format(c.name, i), tol)
    end
  end
end

describe('nl.linalg against PyTorch 1.13', function()
  S.golden_its(it, cases, ops, check)
end)

describe('nl.linalg gradients by finite differences (float64)', function()
  nl.manual_seed(7)
  local function well(n, ...)
    local shape = { ... }
    shape[#shape + 1], shape[#shape + 2] = n, n
    return nl.randn(shape, 'float64') + nl.eye(n, n, 'float64') * 3
  end
  local function spd(n)
    local x = nl.randn({ n, n }, 'float64')
    return nl.matmul(x, x:t()) + nl.eye(n, n, 'float64') * n
  end
  local function sym(a) return (a + a:transpose(-2, -1)) * 0.5 end
  it('inv', function() S.gradcheck(L.inv, well(3, 2)) end)
  it('solve, both inputs, matrix and vector right sides', function()
    S.gradcheck(L.solve, well(3, 2), S.randn64(2, 3, 2))
    S.gradcheck(L.solve, well(3), S.randn64(3))
    S.gradcheck(function(a, b) return L.solve(a, b, { left = false }) end, well(3), S.randn64(2, 3))
  end)
  it('solve with broadcast batch dims sums the gradient over them', function()
    S.gradcheck(L.solve, well(3, 1), S.randn64(2, 3, 2))
  end)
  it('det and slogdet', function()
    S.gradcheck(L.det, well(4, 2))
    S.gradcheck(function(a) return select(2, L.slogdet(a)) end, well(3))
    S.gradcheck(nl.logdet, spd(3))
  end)
  it('lu_factor and lu', function()
    S.gradcheck(function(a) return (L.lu_factor(a)) end, S.randn64(4, 4))
    S.gradcheck(function(a)
      local _, l, u = L.lu(a)
      return nl.cat({ l, u }, 1)
    end, S.randn64(2, 3, 3))
  end)
  it('lu_factor and lu of wide and tall matrices, batched, past one leaf of the recursion', function()
    S.gradcheck(function(a) return (L.lu_factor(a)) end, S.randn64(2, 3, 5))
    S.gradcheck(function(a) return (L.lu_factor(a)) end, S.randn64(5, 2))
    S.gradcheck(function(a) return (L.lu_factor(a)) end, S.randn64(20, 17))
    S.gradcheck(function(a) return (L.lu_factor(a)) end, S.randn64(17, 20))
    S.gradcheck(function(a)
      local _, l, u = L.lu(a)
      return nl.cat({ l:reshape(-1), u:reshape(-1) })
    end, S.randn64(2, 4, 3))
    S.gradcheck(function(a)
      local _, l, u = L.lu(a)
      return nl.cat({ l:reshape(-1), u:reshape(-1) })
    end, S.randn64(3, 6))
  end)
  it('lu_solve (B), both sides and adjoint', function()
    local lu, piv = L.lu_factor(well(3))
    S.gradcheck(function(b) return L.lu_solve(lu, piv, b) end, S.randn64(3, 2))
    S.gradcheck(function(b) return L.lu_solve(lu, piv, b, { adjoint = true }) end, S.randn64(3, 2))
    S.gradcheck(function(b) return L.lu_solve(lu, piv, b, { left = false }) end, S.randn64(2, 3))
  end)
  it('cholesky, lower and upper, of a symmetric input', function()
    S.gradcheck(function(a) return L.cholesky(sym(a)) end, spd(4))
    S.gradcheck(function(a) return L.cholesky(sym(a), { upper = true }) end, spd(3))
  end)
  it('solve_triangular, each triangle, side and diagonal', function()
    for _, upper in ipairs({ true, false }) do
      for _, left in ipairs({ true, false }) do
        for _, unit in ipairs({ true, false }) do
          local b = left and S.randn64(3, 2) or S.randn64(2, 3)
          S.gradcheck(function(a, bb)
            return L.solve_triangular(a, bb, { upper = upper, left = left, unitriangular = unit })
          end, well(3), b)
        end
      end
    end
  end)
  it('matrix_power, cholesky_solve, cholesky_inverse', function()
    S.gradcheck(function(a) return L.matrix_power(a, -3) end, well(3))
    local l = L.cholesky(spd(3))
    S.gradcheck(function(b, ll) return nl.cholesky_solve(b, ll) end, S.randn64(3, 2), l)
    S.gradcheck(nl.cholesky_inverse, l)
  end)
  it('lu_solve (LU), each side and adjoint, given LU and through lu_factor of A, batch dims broadcast', function()
    for _, o in ipairs({ {}, { adjoint = true }, { left = false }, { left = false, adjoint = true } }) do
      local lu, piv = L.lu_factor(well(3, 2))
      local b = o.left == false and S.randn64(2, 2, 3) or S.randn64(2, 3, 2)
      S.gradcheck(function(l, bb) return L.lu_solve(l, piv, bb, o) end, lu, b)
      S.gradcheck(function(a, bb)
        local l, p = L.lu_factor(a)
        return L.lu_solve(l, p, bb, o)
      end, well(3, 2), b)
    end
    local lu, piv = L.lu_factor(well(3))
    local b = S.randn64(2, 3, 2)
    S.gradcheck(function(l) return L.lu_solve(l, piv, b) end, lu)
  end)
end)

describe('nl.linalg closed forms past one block (n > 64)', function()
  nl.manual_seed(11)
  local function eye_err(m, n)
    return (m - nl.eye(n, n, m:dtype())):abs():max():item()
  end
  for _, dt in ipairs({ 'float64', 'float32' }) do
    local tol = dt == 'float64' and 1e-10 or 1e-3
    it('A inv(A) = I and A solve(A, B) = B, n = 150 and a batch, ' .. dt, function()
      local a = nl.randn({ 150, 150 }, dt) * 0.1 + nl.eye(150, 150, dt) * 2
      assert.is_true(eye_err(nl.matmul(a, L.inv(a)), 150) < tol)
      local b = nl.randn({ 150, 7 }, dt)
      assert.is_true((nl.matmul(a, L.solve(a, b)) - b):abs():max():item() < tol * 10)
      local ab = nl.randn({ 3, 70, 70 }, dt) * 0.1 + nl.eye(70, 70, dt) * 2
      assert.is_true(eye_err(nl.matmul(L.inv(ab), ab), 70) < tol)
    end)
    it('P L U = A with L unit lower and |L| <= 1, n = 130, ' .. dt, function()
      local a = nl.randn({ 130, 130 }, dt)
      local p, l, u = L.lu(a)
      assert.is_true((nl.matmul(p, nl.matmul(l, u)) - a):abs():max():item() < tol * 100)
      assert.is_true(l:abs():max():item() <= 1)
      assert.are.equal(0, (u - u:triu()):abs():max():item())
      S.expect_close(p:sum(1), nl.ones({ 130 }, dt), 'P has one 1 per column', 0, 0)
    end)
    it('P L U = A of wide and tall matrices, 70 x 130 and a batch of 130 x 70, ' .. dt, function()
      for _, s in ipairs({ { 70, 130 }, { 2, 130, 70 } }) do
        local a = nl.randn(s, dt)
        local p, l, u = L.lu(a)
        local m, n = s[#s - 1], s[#s]
        local k = math.min(m, n)
        assert.are.same({ m, m }, { p:size(-2), p:size(-1) })
        assert.are.same({ m, k, k, n }, { l:size(-2), l:size(-1), u:size(-2), u:size(-1) })
        assert.is_true((nl.matmul(p, nl.matmul(l, u)) - a):abs():max():item() < tol * 100)
        assert.is_true(l:abs():max():item() <= 1)
        assert.are.equal(0, (u - u:triu()):abs():max():item())
        assert.are.equal(0, (l - l:tril()):abs():max():item())
        local lu, piv = L.lu_factor(a)
        assert.are.same({ k }, { piv:size(-1) })
        S.expect_close(lu:narrow(-1, 1, k):tril(-1), l:tril(-1), 'LU packs L', 0, 0)
        S.expect_close(lu:narrow(-2, 1, k):triu(), u, 'LU packs U', 0, 0)
      end
    end)
    it('L L^T = A, n = 140, ' .. dt, function()
      local x = nl.randn({ 140, 140 }, dt)
      local a = nl.matmul(x, x:t()) + nl.eye(140, 140, dt) * 140
      local l = L.cholesky(a)
      assert.is_true((nl.matmul(l, l:t()) - a):abs():max():item() < (dt == 'float64' and 1e-9 or 1e-1))
      assert.are.equal(0, (l - l:tril()):abs():max():item())
    end)
    it('the det of a triangular matrix is the product of its diagonal, ' .. dt, function()
      local d = nl.tensor({ 2, -0.5, 3, 1.5, -1 }, dt)
      local t = nl.randn({ 5, 5 }, dt):triu(1) + nl.diag_embed(d)
      S.expect_close(L.det(t), nl.tensor(2 * -0.5 * 3 * 1.5 * -1, dt), 'det', 1e-6, 0)
      S.expect_close(L.det(t:t()), nl.tensor(2 * -0.5 * 3 * 1.5 * -1, dt), 'det of the transpose', 1e-6, 0)
      local sign, logabs = L.slogdet(t)
      assert.are.equal(1, sign:item())
      S.expect_close(logabs, nl.tensor(math.log(4.5), dt), 'logabsdet', 1e-6, 0)
    end)
  end
  it('float32 kernels agree with float64 ones on a large solve', function()
    local a = nl.randn({ 200, 200 }, 'float64') * 0.05 + nl.eye(200, 200, 'float64')
    local b = nl.randn({ 200, 5 }, 'float64')
    S.expect_close(L.solve(a:float(), b:float()):double(), L.solve(a, b), 'solve', 1e-3, 1e-4)
  end)
  it('results do not depend on the thread count (a batch, one matrix to a thread)', function()
    local a = nl.randn({ 64, 32, 32 }, 'float64') + nl.eye(32, 32, 'float64') * 4
    local before = nl.get_num_threads()
    nl.set_num_threads(1)
    local one = L.inv(a)
    nl.set_num_threads(math.max(before, 2))
    local many = L.inv(a)
    nl.set_num_threads(before)
    S.expect_close(many, one, 'inv', 0, 0)
  end)
end)

describe('nl.linalg edge cases and methods', function()
  local A = nl.tensor({ { 4, 3, 2 }, { 2, 1, 3 }, { 3, 2, 1 } }, 'float64')
  local singular = nl.tensor({ { 1, 2 }, { 2, 4 } }, 'float64')
  it('has the Tensor methods and nl functions of PyTorch', function()
    S.expect_close(A:inverse(), L.inv(A), 'inverse', 0, 0)
    S.expect_close(nl.inverse(A), L.inv(A), 'nl.inverse', 0, 0)
    assert.are.equal(3, A:det():item())
    assert.are.equal(3, nl.det(A):item())
    S.expect_close(A:logdet(), nl.tensor(math.log(3), 'float64'), 'logdet', 1e-14, 0)
    local s, l = A:slogdet()
    assert.are.equal(1, s:item())
    S.expect_close(l, nl.tensor(math.log(3), 'float64'), 'slogdet', 1e-14, 0)
    local spd = nl.matmul(A, A:t())
    S.expect_close(spd:cholesky(), L.cholesky(spd), 'cholesky', 0, 0)
    S.expect_close(spd:cholesky(true), L.cholesky(spd, { upper = true }), 'cholesky upper', 0, 0)
    S.expect_close(A:matrix_power(2), nl.matmul(A, A), 'matrix_power', 0, 0)
  end)
  it('logdet of a negative det is NaN, of a singular matrix -inf', function()
    local ld = nl.logdet(-A)
    assert.is_true(ld:item() ~= ld:item())
    assert.are.equal(-math.huge, nl.logdet(singular):item())
  end)
  it('det and slogdet of a singular matrix: 0, sign 0 and -inf, no error', function()
    assert.are.equal(0, L.det(singular):item())
    local s, l = L.slogdet(singular)
    assert.are.equal(0, s:item())
    assert.are.equal(-math.huge, l:item())
  end)
  it("det's gradient at a singular matrix is 0, as PyTorch 1.13's", function()
    local x = singular:clone():requires_grad()
    L.det(x):backward()
    S.expect_close(x.grad, nl.zeros({ 2, 2 }, 'float64'), 'grad', 0, 0)
  end)
  it('a 0x0 matrix: det 1, inv empty', function()
    assert.are.equal(1, L.det(nl.zeros({ 0, 0 })):item())
    assert.are.same({ 2, 0, 0 }, L.inv(nl.zeros({ 2, 0, 0 })):shape())
  end)
  it('inv of a singular matrix names the diagonal element, and the batch element', function()
    assert.is_truthy(S.errmsg(L.inv, singular):find('linalg.inv: The diagonal element 2 is zero, the inversion '
                                                    .. 'could not be completed because the input matrix is singular.',
                                                    1, true))
    local batch = nl.stack({ nl.eye(2, 2, 'float64'), singular })
    assert.is_truthy(S.errmsg(L.inv, batch):find('linalg.inv: (Batch element 2): The diagonal element 2 is zero',
                                                 1, true))
    assert.is_truthy(S.errmsg(L.solve, batch, nl.ones({ 2, 2 }, 'float64')):find(
      'linalg.solve: (Batch element 2): The diagonal element 2 is zero, the solve could not be completed', 1, true))
    assert.is_truthy(S.errmsg(L.lu_factor, singular):find('linalg.lu_factor: U[2,2] is zero', 1, true))
  end)
  it('inv_ex, lu_factor_ex and cholesky_ex give info instead of an error', function()
    local _, info = L.inv_ex(nl.stack({ nl.eye(2, 2, 'float64'), singular }))
    assert.are.same({ 0, 2 }, info:totable())
    assert.are.equal('int64', info:dtype())
    local _, piv, info2 = L.lu_factor_ex(singular)
    assert.are.same({ 2, 2 }, piv:totable())
    assert.are.equal(2, info2:item())
    -- an empty side: pivots of min(m, n) = 0, P (m, m) (PyTorch 1.13's shapes)
    local _, pe = L.lu_factor(nl.zeros({ 3, 0 }))
    assert.are.same({ 0 }, pe:shape())
    local p0, l0, u0 = L.lu(nl.zeros({ 2, 0, 3 }))
    assert.are.same({ { 2, 0, 0 }, { 2, 0, 0 }, { 2, 0, 3 } }, { p0:shape(), l0:shape(), u0:shape() })
    local l, info3 = L.cholesky_ex(nl.tensor({ { 1, 2 }, { 2, 1 } }))
    assert.are.equal(2, info3:item())
    assert.are.same({ 2, 2 }, l:shape())
    -- L lower triangular, factored up to the failing pivot (PyTorch's: {{1, 0}, {2, -3}})
    assert.are.same({ { 1, 0 }, { 2, -3 } }, l:totable())
    local lu_, info4 = L.cholesky_ex(nl.tensor({ { 1, 2 }, { 2, 1 } }), { upper = true })
    assert.are.same({ { 1, 2 }, { 0, -3 } }, lu_:totable())
    assert.are.equal(2, info4:item())
    -- past a block of the blocked kernel: the minor of order 80 of 100 fails
    local g = nl.randn({ 100, 100 }, 'float64')
    local spd = nl.matmul(g, g:t()) + nl.eye(100, 100, 'float64')
    spd[80][80] = -1e4
    local lf, info5 = L.cholesky_ex(spd)
    assert.are.equal(80, info5:item())
    S.expect_close(lf:triu(1), nl.zeros({ 100, 100 }, 'float64'), 'upper triangle of a failed L', 0, 0)
    local lead = spd:narrow(1, 1, 79):narrow(2, 1, 79)
    S.expect_close(lf:narrow(1, 1, 79):narrow(2, 1, 79), L.cholesky(lead), 'the factored part', 1e-12, 1e-12)
    local _, ok = L.cholesky_ex(nl.eye(3, 3))
    assert.are.equal(0, ok:item())
  end)
  it('cholesky of a matrix that is not positive-definite names the leading minor', function()
    assert.is_truthy(S.errmsg(L.cholesky, nl.tensor({ { 1, 2 }, { 2, 1 } })):find(
      'linalg.cholesky: The factorization could not be completed because the input is not '
      .. 'positive-definite (the leading minor of order 2 is not positive-definite).', 1, true))
    local batch = nl.stack({ nl.eye(3, 3), nl.eye(3, 3), nl.diag_embed(nl.tensor({ 1, 1, -1 })) })
    assert.is_truthy(S.errmsg(L.cholesky, batch):find('(Batch element 3): The factorization could not be completed'
                                                      .. ' because the input is not positive-definite (the leading '
                                                      .. 'minor of order 3', 1, true))
    assert.is_truthy(S.errmsg(L.cholesky, nl.tensor({ { 0 / 0 } })):find('order 1', 1, true))
  end)
  it('cholesky reads only the lower triangle (upper: the upper one)', function()
    local s = nl.tensor({ { 4, 2 }, { 2, 3 } }, 'float64')
    local junk_up = nl.tensor({ { 4, 99 }, { 2, 3 } }, 'float64')
    S.expect_close(L.cholesky(junk_up), L.cholesky(s), 'lower', 0, 0)
    S.expect_close(L.cholesky(junk_up:t(), { upper = true }), L.cholesky(s, { upper = true }), 'upper', 0, 0)
  end)
  it('lu_solve broadcasts B over the batch and takes non-contiguous inputs', function()
    local a = nl.randn({ 2, 3, 3 }, 'float64') + nl.eye(3, 3, 'float64') * 3
    local lu, piv = L.lu_factor(a)
    local b = nl.randn({ 3, 2 }, 'float64')
    local x = L.lu_solve(lu, piv, b)
    S.expect_close(nl.matmul(a, x), b:expand({ 2, 3, 2 }), 'A X = B', 1e-12, 1e-12)
    local bt = nl.randn({ 2, 2, 3 }, 'float64'):transpose(2, 3)
    S.expect_close(L.lu_solve(lu, piv, bt), L.solve(a, bt), 'transposed B', 1e-12, 1e-12)
    S.expect_close(L.inv(a:transpose(2, 3)), L.inv(a):transpose(2, 3), 'transposed A', 1e-12, 1e-12)
  end)
end)

describe('nl.linalg bad calls', function()
  local function fails(part, f, ...)
    local msg = S.errmsg(f, ...)
    assert.is_truthy(msg, 'no error')
    assert.is_truthy(msg:find(part, 1, true), ('expected %q in %q'):format(part, tostring(msg)))
  end
  local sq, rect = nl.randn({ 3, 3 }), nl.randn({ 2, 3 })
  it('non-square and too few dims', function()
    fails('linalg.inv: A must be batches of square matrices (..., n, n), got float32 [2,3]', L.inv, rect)
    fails('linalg.det: A must be batches of square matrices (..., n, n), got float32 [3]', L.det, nl.randn({ 3 }))
    fails('linalg.cholesky: A must be batches of square matrices', L.cholesky, rect)
    fails('linalg.lu_factor: expected a float32 or float64 tensor of matrices (..., m, n) as A, got float32 [3]',
          L.lu_factor, nl.randn({ 3 }))
    fails('linalg.lu_factor_ex: A must have at least 2 dims, got []', L.lu_factor_ex, nl.tensor(1))
    fails('linalg.lu_solve: LU must be batches of square matrices (..., n, n), got [2,3]', L.lu_solve, rect,
          nl.tensor({ 1, 2 }, 'int64'), rect)
    fails('linalg.slogdet: A must be batches', L.slogdet, rect)
    fails('linalg.solve: A must be batches of square matrices (..., n, n), got [2,3]', L.solve, rect, nl.randn({ 2 }))
    fails('linalg.solve_triangular: A must be batches', L.solve_triangular, rect, rect, { upper = true })
    fails('linalg.matrix_power: A must be batches', L.matrix_power, rect, 2)
    fails('linalg.lu: A must have at least 2 dims, got [3]', L.lu, nl.randn({ 3 }))
  end)
  it('int64 input', function()
    local i = nl.tensor({ { 1, 2 }, { 3, 4 } }, 'int64')
    fails('linalg.inv: expected a float32 or float64 tensor as A, got int64 [2,2]', L.inv, i)
    fails('linalg.det: expected a float32 or float64 tensor as A, got int64 [2,2]', L.det, i)
    fails('linalg.cholesky: expected a float32 or float64 tensor as A, got int64', L.cholesky, i)
    fails('linalg.solve: expected a float32 or float64 tensor as A, got int64 [2,2]', L.solve, i, i)
    fails('linalg.solve: expected a float32 or float64 tensor as B, got int64 [2,2]', L.solve, i:float(), i)
    fails('linalg.lu_factor: expected a float32 or float64 tensor of matrices (..., m, n) as A, got int64', L.lu_factor, i)
    fails('linalg.lu: expected a float32 or float64 tensor as A, got int64 [2,2]', L.lu, i)
    -- matrix_power of an int64 A is its products, as PyTorch's (k >= 0; k < 0 would invert it)
    assert.are.same({ { 37, 54 }, { 81, 118 } }, L.matrix_power(i, 3):totable())
    assert.are.equal('int64', L.matrix_power(i, 3):dtype())
    assert.are.same({ { 1, 0 }, { 0, 1 } }, i:matrix_power(0):totable())
    assert.are.same({ 2, 2, 2 }, L.matrix_power(i:expand({ 2, 2, 2 }), 1):shape())
    assert.are.same({ 0, 2, 2 }, L.matrix_power(nl.zeros({ 0, 2, 2 }, 'int64'), 2):shape())
    fails('linalg.matrix_power: expected a float32 or float64 tensor as A, got int64 [2,2]', L.matrix_power, i, -1)
    fails('linalg.matrix_power: A must be batches of square matrices (..., n, n), got [2,3]', L.matrix_power,
          nl.zeros({ 2, 3 }, 'int64'), 2)
  end)
  it('mismatched shapes and dtypes', function()
    fails('linalg.solve: A [3,3] and B [2] do not fit AX = B', L.solve, sq, nl.randn({ 2 }))
    fails('linalg.solve: A [3,3] and B [3,2] do not fit XA = B', L.solve, sq, nl.randn({ 3, 2 }), { left = false })
    fails('linalg.solve: the batch dims of A [2,3,3] and B [3,3,1] do not broadcast', L.solve,
          nl.randn({ 2, 3, 3 }), nl.randn({ 3, 3, 1 }))
    fails('linalg.solve: A (float32 [3,3]) and B (float64 [3]) must have the same dtype', L.solve, sq,
          nl.randn({ 3 }, 'float64'))
    fails('linalg.solve_triangular: A [3,3] and B [2,3] do not fit AX = B', L.solve_triangular, sq,
          nl.randn({ 2, 3 }), { upper = true })
    fails('linalg.solve_triangular: the option upper (true or false) is required', L.solve_triangular, sq, sq)
    fails('linalg.solve_triangular: B must have at least 2 dims, got [3]', L.solve_triangular, sq, nl.randn({ 3 }),
          { upper = false })
    local lu, piv = L.lu_factor(sq + nl.eye(3, 3) * 5)
    fails('linalg.lu_solve: pivots [2] do not fit LU [3,3]', L.lu_solve, lu, nl.tensor({ 1, 2 }, 'int64'), sq)
    fails('linalg.lu_solve: expected int64 pivots', L.lu_solve, lu, piv:float(), sq)
    fails('linalg.lu_solve: pivots must hold, at place i, a row from i to n = 3 (1-based), got 0 at 1',
          L.lu_solve, lu, nl.tensor({ 0, 2, 3 }, 'int64'), sq)
    fails('linalg.lu_solve: pivots must hold, at place i, a row from i to n = 3 (1-based), got 4 at 3',
          L.lu_solve, lu, nl.tensor({ 1, 2, 4 }, 'int64'), sq)
  end)
  it('bad options and arguments', function()
    fails("linalg.solve: unknown option 'lft'", L.solve, sq, sq, { lft = true })
    fails('linalg.cholesky: upper must be a boolean', L.cholesky, sq, { upper = 1 })
    fails('linalg.matrix_power: expected an integer k, got number', L.matrix_power, sq, 1.5)
    fails('linalg.inv: expected a tensor, got number', L.inv, 3)
    fails('linalg.inv: expected a tensor, got nil', L.inv)
    fails('linalg.det', L.det, sq, 'extra')
    fails('cholesky: expected upper as a boolean', sq.cholesky, sq, 'yes')
  end)
end)
