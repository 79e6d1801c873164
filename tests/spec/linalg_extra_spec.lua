-- The rest of torch.linalg (lua/nnlua/linalg_extra.lua) against PyTorch
-- golden values (tests/golden/linalg_extra.lua, made by
-- tests/golden/gen_linalg_extra.py): matrix_exp, cond, multi_dot,
-- chain_matmul, householder_product, tensorinv, tensorsolve, cross,
-- vecdot, vander, diagonal and solve_ex, values and the gradients of
-- sum((out_i * w_i):sum()). Then float64 finite-difference gradchecks,
-- closed forms (exp of diagonal, nilpotent and commuting matrices, large
-- norms) and the errors of bad calls.
local nl = require 'nnlua'
local S = require 'support'

local cases = dofile(S.root .. '/tests/golden/linalg_extra.lua')
local L = nl.linalg
local INF = math.huge

local function all(...) return { ... } end
local ops = {
  matrix_exp = function(x) return { L.matrix_exp(x[1]) } end,
  matrix_exp_method = function(x) return { x[1]:matrix_exp() } end,
  cond = function(x, a) return { L.cond(x[1], a.p) } end,
  multi_dot = function(x) return { L.multi_dot(x) } end,
  chain_matmul = function(x) return { nl.chain_matmul(x[1], x[2], x[3]) } end,
  householder_product = function(x) return { L.householder_product(x[1], x[2]) } end,
  tensorinv = function(x, a) return { L.tensorinv(x[1], a.ind) } end,
  tensorsolve = function(x, a) return { L.tensorsolve(x[1], x[2], a.dims) } end,
  linalg_cross = function(x, a) return { L.cross(x[1], x[2], a.dim) } end,
  cross = function(x) return { x[1]:cross(x[2]) } end,
  vecdot = function(x, a) return { L.vecdot(x[1], x[2], a.dim) } end,
  vander = function(x, a) return { L.vander(x[1], a.N) } end,
  diagonal = function(x, a) return { L.diagonal(x[1], { offset = a.offset, dim1 = a.dim1, dim2 = a.dim2 }) } end,
  solve_ex = function(x, a) return all(L.solve_ex(x[1], x[2], { left = a.left })) end,
  ldl_factor_ex = function(x) return all(L.ldl_factor_ex(x[1])) end,
  ldl_solve = function(x)
    local LD, piv = L.ldl_factor(x[1])
    return { L.ldl_solve(LD, piv, x[2]) }
  end,
}
local TOL = { float64 = { 1e-9, 1e-10 }, float32 = { 2e-4, 2e-5 } }

describe('linalg_extra golden', function()
  S.golden_its(it, cases, ops, function(c, op) S.check_golden_case(c, op, TOL) end)
end)

describe('linalg_extra gradcheck (float64)', function()
  nl.manual_seed(5)
  local rnd = S.randn64
  local function well(...)
    local s = { ... }
    local n = s[#s]
    return rnd(...) + nl.eye(n, 'float64') * n
  end
  it('matrix_exp: small, large and batched norms', function()
    S.gradcheck(function(A) return L.matrix_exp(A) end, rnd(3, 3))
    S.gradcheck(function(A) return L.matrix_exp(A) end, rnd(3, 3) * 4)
    S.gradcheck(function(A) return L.matrix_exp(A) end, nl.stack({ rnd(3, 3) * 0.01, rnd(3, 3) * 3 }))
  end)
  it('matrix_exp: the gradient is differentiable (create_graph)', function()
    -- the Hessian along V, by double backward, against central differences of the gradient
    local W, V, A0 = rnd(3, 3), rnd(3, 3), rnd(3, 3)
    local function g(A, create)
      A = A:detach():requires_grad()
      return nl.autograd.grad((L.matrix_exp(A) * W):sum(), { A }, { create_graph = create })[1], A
    end
    local ga, A = g(A0, true)
    local hv = nl.autograd.grad((ga * V):sum(), { A })[1]
    local h = 1e-5
    local fd = (g(A0 + V * h) - g(A0 - V * h)) / (2 * h)
    S.expect_close(hv, fd, 'H V', 1e-6, 1e-7)
  end)
  it('cond of every p (the ones 1.13 cannot differentiate too)', function()
    for _, p in ipairs({ 2, -2, 'fro', 'nuc', 1, -1, INF, -INF }) do
      S.gradcheck(function(A) return L.cond(A, p) end, well(2, 3, 3))
    end
    S.gradcheck(function(A) return L.cond(A) end, rnd(2, 4))
  end)
  it('multi_dot, householder_product, tensorinv, tensorsolve, cross, vecdot, vander, solve_ex', function()
    S.gradcheck(function(a, b, c) return L.multi_dot({ a, b, c }) end, rnd(3), rnd(3, 4), rnd(4, 2))
    S.gradcheck(function(A, t) return L.householder_product(A, t) end, rnd(2, 5, 3), rnd(2, 3))
    S.gradcheck(function(A) return L.tensorinv(A:reshape(2, 3, 6), 2) end, well(6, 6))
    S.gradcheck(function(A, B) return L.tensorsolve(A:reshape(2, 3, 6), B) end, well(6, 6), rnd(2, 3))
    S.gradcheck(function(x, y) return L.cross(x, y) end, rnd(4, 3), rnd(4, 3))
    S.gradcheck(function(x, y) return L.vecdot(x, y) end, rnd(2, 3), rnd(3))
    S.gradcheck(function(x) return L.vander(x, 4) end, rnd(2, 3))
    S.gradcheck(function(A, B) return (L.solve_ex(A, B)) end, well(3, 3), rnd(3, 2))
  end)
end)

describe('linalg_extra closed forms', function()
  nl.manual_seed(9)
  local function close(got, want, what, tol) S.expect_close(got, want, what, tol or 1e-12, tol or 1e-12) end
  it('matrix_exp: exp of a diagonal, a nilpotent (finite series), a rotation; exp(A) exp(-A) = I', function()
    local d = nl.tensor({ -30, -1, 0, 2, 40 }, 'float64')
    local E = L.matrix_exp(d:diag())
    close(E:diagonal(), d:exp(), 'diag', 1e-13)
    local N = nl.tensor({ { 0, 2, 3 }, { 0, 0, 5 }, { 0, 0, 0 } }, 'float64')
    close(L.matrix_exp(N), nl.eye(3, 'float64') + N + nl.matmul(N, N) * 0.5, 'nilpotent')
    local t = 100.5     -- a large norm: many squarings
    local R = L.matrix_exp(nl.tensor({ { 0, -t }, { t, 0 } }, 'float64'))
    close(R, nl.tensor({ { math.cos(t), -math.sin(t) }, { math.sin(t), math.cos(t) } }, 'float64'), 'rotation', 1e-11)
    local A = S.randn64(3, 4, 4) * 3
    close(nl.matmul(L.matrix_exp(A), L.matrix_exp(-A)), nl.eye(4, 'float64'):expand(3, 4, 4), 'inverse', 1e-9)
  end)
  it('matrix_exp: NaN and inf give NaN, an empty matrix itself, float32 stays float32', function()
    local E = L.matrix_exp(nl.tensor({ { 1, 0 / 0 }, { 0, 1 } }))
    assert.is_true(E:isnan():all():item() == 1)
    local B = L.matrix_exp(nl.stack({ nl.tensor({ { INF, 0 }, { 0, 1 } }), nl.zeros(2, 2) }))
    assert.is_true(B[1]:isnan():all():item() == 1)
    close(B[2], nl.eye(2), 'the finite batch element')
    assert.are.same({ 2, 0, 0 }, L.matrix_exp(nl.zeros(2, 0, 0)):shape())
    assert.are.equal('float32', L.matrix_exp(nl.randn(2, 2)):dtype())
  end)
  it('cond: singular gives inf, the identity 1, batched', function()
    local sing = nl.tensor({ { 1, 2 }, { 2, 4 } }, 'float64')
    for _, p in ipairs({ 'fro', 1, -1, INF, -INF }) do assert.are.equal(INF, L.cond(sing, p):item()) end
    local c = L.cond(nl.eye(3, 'float64'):expand(2, 3, 3))
    close(c, nl.ones(2, 'float64'), 'identity')
  end)
  it('multi_dot equals the product in order, and chain_matmul of one matrix copies it', function()
    local a, b, c = S.randn64(7, 2), S.randn64(2, 9), S.randn64(9, 3)
    close(L.multi_dot({ a, b, c }), nl.matmul(nl.matmul(a, b), c), 'multi_dot', 1e-12)
    local m = S.randn64(2, 2)
    close(nl.chain_matmul(m), m, 'one')
    close(nl.chain_matmul({ m, m }), nl.matmul(m, m), 'a list')
  end)
  it('householder_product of QR-like input has orthonormal columns; solve_ex info', function()
    local Q = L.householder_product(S.randn64(6, 3), nl.tensor({ 1.2, 0.7, 1.9 }, 'float64'))
    assert.are.same({ 6, 3 }, Q:shape())
    local x, info = L.solve_ex(nl.zeros(2, 2), nl.ones(2))
    assert.are.equal(1, info:item())
    assert.is_true(x:isfinite():any():item() == 0)
    assert.are.equal('int64', info:dtype())
  end)
end)

describe('linalg_extra ldl', function()
  it('ldl_solve inverts indefinite symmetric matrices (1x1 and 2x2 pivots), float32 and batched', function()
    nl.manual_seed(13)
    for _, dt in ipairs({ 'float64', 'float32' }) do
      local A = nl.randn({ 4, 7, 7 }, dt)
      A = A + A:transpose(-1, -2)
      A[1][1][1] = 0         -- a zero first pivot: a 2x2 block
      local LD, piv, info = L.ldl_factor_ex(A)
      assert.are.same({ 0, 0, 0, 0 }, info:totable())
      assert.is_true(piv:lt(0):any():item() == 1, 'some 2x2 block')
      local X = L.ldl_solve(LD, piv, nl.eye(7, dt):expand(4, 7, 7))
      local tol = dt == 'float64' and 1e-10 or 1e-3
      S.expect_close(nl.matmul(A, X), nl.eye(7, dt):expand(4, 7, 7), 'A A^-1', tol, tol)
      -- only the lower triangle is read
      local LD2 = L.ldl_factor(A:tril() + A:triu(1) * 7)
      S.expect_close(LD2, LD, 'the lower triangle alone', 0, 0)
    end
  end)
  it('errors', function()
    local function fails(part, f, ...) S.contains(S.errmsg(f, ...), part) end
    fails('linalg.ldl_factor: A [2,2] is singular: D[1,1] is zero (batch element 1)', L.ldl_factor, nl.zeros(2, 2))
    fails('linalg.ldl_factor_ex: A must be batches of square matrices (..., n, n), got shape [2,3]', L.ldl_factor_ex,
          nl.zeros(2, 3))
    local LD, piv = L.ldl_factor(nl.eye(3))
    fails('linalg.ldl_solve: B [2,1] must have 3 rows to match LD [3,3]', L.ldl_solve, LD, piv, nl.zeros(2, 1))
    fails('linalg.ldl_solve: pivots [2] do not fit LD [3,3]', L.ldl_solve, LD, piv:narrow(1, 1, 2), nl.zeros(3, 1))
    fails('linalg.ldl_solve: pivots of batch element 1 are not ldl_factor\'s', L.ldl_solve, LD,
          nl.tensor({ 1, 5, 3 }, 'int64'), nl.zeros(3, 1))
    -- the most negative int64 pair (its negative overflows), and one below -n
    for _, bad in ipairs({ { -2 ^ 63, -2 ^ 63, 1 }, { 1, -2 ^ 63, -2 ^ 63 }, { -4, -4, 3 } }) do
      fails('linalg.ldl_solve: pivots of batch element 1 are not ldl_factor\'s', L.ldl_solve, LD,
            nl.tensor(bad, 'int64'), nl.ones(3, 2))
    end
    fails('linalg.ldl_solve: LD (float32 [3,3]) and B (float64 [3,1]) must have one dtype', L.ldl_solve, LD, piv,
          nl.zeros({ 3, 1 }, 'float64'))
  end)
end)

describe('linalg_extra errors', function()
  local function fails(part, f, ...) S.contains(S.errmsg(f, ...), part) end
  it('names the op and the shapes', function()
    fails('linalg.matrix_exp: A must be batches of square matrices (..., n, n), got shape [2,3]', L.matrix_exp,
          nl.zeros(2, 3))
    fails('linalg.matrix_exp: expected a float32 or float64 tensor as A, got int64 [2,2]', L.matrix_exp,
          nl.zeros({ 2, 2 }, 'int64'))
    fails("linalg.cond: p must be nil, 2, -2, 'fro', 'nuc', 1, -1, inf or -inf, got 3", L.cond, nl.eye(2), 3)
    fails('linalg.cond: A must be batches of square matrices (..., n, n), got shape [2,3]', L.cond, nl.zeros(2, 3),
          'fro')
    fails('linalg.multi_dot: expected at least 2 tensors, got 1', L.multi_dot, { nl.zeros(2, 2) })
    fails('linalg.multi_dot: tensor 1 [2,3] and tensor 2 [2,2] cannot be multiplied', L.multi_dot,
          { nl.zeros(2, 3), nl.zeros(2, 2) })
    fails('linalg.multi_dot: tensor 2 must be 2-D, got shape [3]', L.multi_dot,
          { nl.zeros(2, 3), nl.zeros(3), nl.zeros(3, 1) })
    fails('chain_matmul: expected 2-D tensors, got shape [3] as matrix 2', nl.chain_matmul, nl.zeros(2, 3),
          nl.zeros(3))
    fails('linalg.householder_product: tau [4] has more entries than A [5,3] has columns',
          L.householder_product, nl.zeros(5, 3), nl.zeros(4))
    fails('linalg.householder_product: A [3,5] must have at least as many rows as columns',
          L.householder_product, nl.zeros(3, 5), nl.zeros(2))
    fails('linalg.tensorinv: the product of the first 2 dims of A [2,3,4] (6) must equal that of the rest (4)',
          L.tensorinv, nl.zeros(2, 3, 4))
    fails('linalg.tensorsolve: A [2,3,5] (after dims) and B [2,3] do not fit', L.tensorsolve, nl.zeros(2, 3, 5),
          nl.zeros(2, 3))
    fails('linalg.cross: dim -1 of x [2,4] and y [2,4] must have size 3', L.cross, nl.zeros(2, 4), nl.zeros(2, 4))
    fails('linalg.cross: the shapes of x [2,3] and y [4,3] do not broadcast', L.cross, nl.zeros(2, 3),
          nl.zeros(4, 3))
    fails('linalg.vecdot: the shapes of x [2,3] and y [4] do not broadcast', L.vecdot, nl.zeros(2, 3), nl.zeros(4))
    fails('linalg.vander: N must be greater than 1, got 1', L.vander, nl.zeros(3), 1)
    -- (named by the contiguous copy inside cumprod before)
    fails('linalg.vander: output of x [16777216] with N = 16777216 is too large', L.vander, nl.zeros(2 ^ 24), 2 ^ 24)
    fails('linalg.solve_ex: A [2,2] is singular: U[1,1] is zero in batch element 1', L.solve_ex, nl.zeros(2, 2),
          nl.ones(2), { check_errors = true })
    fails("linalg.solve_ex: unknown option 'bad'", L.solve_ex, nl.eye(2), nl.ones(2), { bad = 1 })
    -- a B that does not fit A, refused in solve_ex's words whether A is
    -- singular or not (a singular A's went to lu_solve, named there, B
    -- taken for a column)
    for _, A in ipairs({ nl.eye(2), nl.zeros(2, 2) }) do
      fails('linalg.solve_ex: A [2,2] and B [3] do not fit AX = B', L.solve_ex, A, nl.ones(3))
      fails('linalg.solve_ex: A [2,2] and B [3,1] do not fit AX = B', L.solve_ex, A, nl.ones(3, 1))
      fails('linalg.solve_ex: A [2,2] and B [2,3] do not fit XA = B', L.solve_ex, A, nl.ones(2, 3), { left = false })
      fails('linalg.solve_ex: A [3,2,2] and B [2,2,1] do not fit AX = B', L.solve_ex, A:expand(3, 2, 2),
            nl.ones(2, 2, 1))
      fails('linalg.solve_ex: A (float32 [2,2]) and B (float64 [2]) must have one dtype', L.solve_ex, A,
            nl.ones(2, 'float64'))
    end
    -- NaN in A: cond by the singular values names itself, not svdvals
    -- (PyTorch 1.13 refuses it too, naming linalg.svd)
    for _, p in ipairs({ 2, -2, 'nuc' }) do
      fails('linalg.cond: the algorithm did not converge', L.cond, nl.tensor({ { 0 / 0, 0 }, { 0, 2 } }), p)
    end
  end)
end)
