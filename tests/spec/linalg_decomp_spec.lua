-- Orthogonal decompositions (lua/nnlua/linalg_decomp.lua,
-- src/ops_linalg_decomp.c) against PyTorch golden values
-- (tests/golden/linalg_decomp.lua, made by tests/golden/gen_linalg_decomp.py):
-- nl.linalg's qr, eigh, eigvalsh, svd, svdvals, pinv, lstsq, matrix_rank,
-- matrix_norm, vector_norm and norm, t:qr(), t:svd(), t:pinverse() and
-- t:norm('nuc'): values (sign-invariant forms of eigenvectors and singular
-- vectors) and the gradients of sum((out_i * w_i):sum()). Then float64
-- finite-difference gradchecks, closed forms (orthogonality,
-- reconstruction, known eigenvalues and singular values, rank-deficient
-- and empty matrices), the sign convention, and the errors of bad calls.
local nl = require 'nnlua'
local S = require 'support'

local cases = dofile(S.root .. '/tests/golden/linalg_decomp.lua')
local L = nl.linalg
local INF = math.huge

local function all(...) return { ... } end
local function sq(x) return x * x end
local function mT(x) return x:transpose(-1, -2) end
local ops = {
  qr = function(x, a) return all(L.qr(x[1], { mode = a.mode })) end,
  qr_nograd = function(x, a) return all(L.qr(x[1], { mode = a.mode })) end,
  qr_r = function(x) local _, R = L.qr(x[1], { mode = 'r' }); return { R } end,
  torch_qr = function(x) return all(x[1]:qr()) end,
  eigh = function(x, a) local l, V = L.eigh(x[1], { UPLO = a.UPLO }); return { l, sq(V) } end,
  eigh_nograd = function(x, a)
    local A = x[1]:detach()
    local l, V = L.eigh(A:triu() + A:tril(-1) * 5, { UPLO = a.UPLO })
    return { l, sq(V) }
  end,
  eigvalsh = function(x) return { L.eigvalsh(x[1]) } end,
  svd = function(x, a)
    local U, s, Vh = L.svd(x[1], { full_matrices = a.full_matrices })
    return { s, sq(U), sq(Vh) }
  end,
  svd_full = function(x)
    local U, s, Vh = L.svd(x[1])
    local Uk = U:narrow(-1, 1, 3)
    return { s, sq(Uk), sq(Vh), nl.matmul(Uk * s:unsqueeze(-2), Vh) }
  end,
  svd_full_wide = function(x)
    local U, s, Vh = L.svd(x[1], { full_matrices = true })
    return { s, sq(U), sq(Vh:narrow(-2, 1, 3)) }
  end,
  svdvals = function(x) return { L.svdvals(x[1]) } end,
  torch_svd = function(x) local U, s, V = x[1]:svd(); return { s, sq(U), sq(V) } end,
  pinv = function(x) return { L.pinv(x[1]) } end,
  pinv_hermitian = function(x) return { L.pinv(x[1], { hermitian = true }) } end,
  pinverse = function(x) return { x[1]:pinverse() } end,
  pinv_nograd = function(x) return { L.pinv(x[1]) } end,
  lstsq = function(x) return all(L.lstsq(x[1], x[2])) end,
  lstsq_gelsd = function(x, a) return all(L.lstsq(x[1], x[2], { driver = a.driver })) end,
  matrix_rank = function(x) return { L.matrix_rank(x[1]) } end,
  matrix_norm = function(x, a) return { L.matrix_norm(x[1], a.ord) } end,
  matrix_norm_dims = function(x, a) return { L.matrix_norm(x[1], a.ord, { 1, 3 }, true) } end,
  vector_norm = function(x, a) return { L.vector_norm(x[1], a.ord, 2) } end,
  norm = function(x, a) return { L.norm(x[1], a.ord) } end,
  torch_norm_nuc = function(x) return { x[1]:norm('nuc') } end,
}
local TOL = { float64 = { 1e-8, 1e-9 }, float32 = { 3e-4, 3e-5 } }
-- gradients pass through 1 / (gap) factors: looser by 10
local GRAD_TOL = { float64 = { 1e-7, 1e-8 }, float32 = { 3e-3, 3e-4 } }

describe('linalg_decomp golden', function()
  S.golden_its(it, cases, ops, function(c, op) S.check_method_case(c, op, TOL, GRAD_TOL) end)
end)

-- ---- float64 finite differences ---------------------------------------------------

describe('linalg_decomp gradcheck (float64)', function()
  nl.manual_seed(7)
  local function rnd(...) return S.randn64(...) end
  -- a matrix of well-separated singular values: X + 3 I-ish offsets
  local function spaced(m, n)
    local A = rnd(m, n) * 0.3
    for i = 1, math.min(m, n) do A[i][i] = A[i][i] + i * 1.5 end
    return A
  end
  local function flat(list)
    for i, t in ipairs(list) do list[i] = t:reshape(-1) end
    return nl.cat(list, 1)
  end

  it('qr, reduced, of tall, square and wide matrices', function()
    for _, sh in ipairs({ { 5, 3 }, { 4, 4 }, { 3, 5 } }) do
      S.gradcheck(function(A) local Q, R = L.qr(A); return flat({ Q, R }) end, spaced(sh[1], sh[2]))
    end
    S.gradcheck(function(A) local _, R = L.qr(A, { mode = 'r' }); return R end, spaced(4, 3))
    S.gradcheck(function(A) local Q, R = L.qr(A, { mode = 'complete' }); return flat({ Q, R }) end, spaced(3, 5))
  end)

  it('eigh and eigvalsh of symmetric input, batched', function()
    local X = rnd(2, 4, 4)
    local sym = function(A) return A + mT(A) end
    S.gradcheck(function(A) local l, V = L.eigh(sym(A)); return flat({ l, sq(V) }) end, X)
    S.gradcheck(function(A) local l, V = L.eigh(sym(A), { UPLO = 'U' }); return flat({ l, V:abs() }) end, X)
    S.gradcheck(function(A) return L.eigvalsh(sym(A)) end, X)
  end)

  it('svd (reduced and full), svdvals, of tall, square, wide and batched matrices', function()
    for _, sh in ipairs({ { 5, 3 }, { 4, 4 }, { 3, 5 } }) do
      local A0 = spaced(sh[1], sh[2])
      S.gradcheck(function(A)
        local U, s, Vh = L.svd(A, { full_matrices = false })
        return flat({ s, sq(U), sq(Vh) })
      end, A0)
      S.gradcheck(function(A)
        local U, s, Vh = L.svd(A)
        local k = math.min(sh[1], sh[2])
        return flat({ s, sq(U:narrow(-1, 1, k)), sq(Vh:narrow(-2, 1, k)) })
      end, A0)
      S.gradcheck(function(A) return L.svdvals(A) end, A0)
    end
    S.gradcheck(function(A) local U, s, V = A:svd(); return flat({ s, U:abs(), V:abs() }) end, nl.stack({ spaced(4, 3), spaced(4, 3) }))
  end)

  it('pinv (also hermitian), pinverse, lstsq, and the matrix norms', function()
    S.gradcheck(function(A) return L.pinv(A) end, spaced(5, 3))
    S.gradcheck(function(A) return L.pinv(A) end, spaced(3, 4))
    S.gradcheck(function(A) return L.pinv(A + mT(A), { hermitian = true }) end, spaced(4, 4))
    S.gradcheck(function(A) return A:pinverse() end, spaced(3, 3))
    S.gradcheck(function(A, B) return (L.lstsq(A, B)) end, spaced(6, 3), rnd(6, 2))
    S.gradcheck(function(A, b) return (L.lstsq(A, b)) end, spaced(3, 5), rnd(3))
    for _, ord in ipairs({ 'fro', 'nuc', 2, -2, 1, -1, INF, -INF }) do
      S.gradcheck(function(A) return L.matrix_norm(A, ord) end, spaced(4, 3))
    end
    S.gradcheck(function(A) return A:norm('nuc') end, spaced(3, 4))
  end)
end)

-- ---- closed forms --------------------------------------------------------------

describe('linalg_decomp closed forms', function()
  nl.manual_seed(11)
  local function close(got, want, what, tol) S.expect_close(got, want, what, tol or 1e-12, tol or 1e-12) end
  local function eye(n, dt) return nl.eye(n, dt or 'float64') end

  it('QR: orthonormal Q, upper-triangular R, Q R = A, in all three modes', function()
    for _, sh in ipairs({ { 6, 4 }, { 4, 4 }, { 3, 5 }, { 2, 3, 5, 2 } }) do
      local A = nl.randn(sh, 'float64')
      local m, n = sh[#sh - 1], sh[#sh]
      for _, mode in ipairs({ 'reduced', 'complete' }) do
        local Q, R = L.qr(A, { mode = mode })
        local k = mode == 'complete' and m or math.min(m, n)
        assert.are.same(k, Q:size(-1))
        close(nl.matmul(mT(Q), Q), eye(k):expand(nl.matmul(mT(Q), Q):shape()), 'Q^T Q ' .. mode)
        close(nl.matmul(Q, R), A, 'Q R ' .. mode)
        close(R, R:triu(), 'R upper ' .. mode)
      end
      local Q0, R0 = L.qr(A, { mode = 'r' })
      assert.are.same({ 0 }, Q0:shape())
      close(R0, select(2, L.qr(A)), 'mode r')
    end
  end)

  it('eigh: known eigenvalues, A V = V diag(L), orthonormal V, and the triangle read', function()
    local l, V = L.eigh(nl.tensor({ { 2, 1 }, { 1, 2 } }, 'float64'))
    close(l, nl.tensor({ 1, 3 }, 'float64'), 'eigenvalues of [[2,1],[1,2]]')
    close(V:abs(), nl.full({ 2, 2 }, math.sqrt(0.5), 'float64'), '|V|')
    close(L.eigvalsh(nl.tensor({ { 5, 0, 0 }, { 0, -1, 0 }, { 0, 0, 2 } })), nl.tensor({ -1, 2, 5 }), 'diagonal', 1e-6)
    -- the path graph's Laplacian of n nodes: 2 - 2 cos(pi k / n)
    local n = 7
    local Lap = eye(n) * 2
    for i = 1, n - 1 do Lap[i][i + 1], Lap[i + 1][i] = -1, -1 end
    Lap[1][1], Lap[n][n] = 1, 1
    local want = {}
    for k = 0, n - 1 do want[k + 1] = 2 - 2 * math.cos(math.pi * k / n) end
    close(L.eigvalsh(Lap), nl.tensor(want, 'float64'), 'path Laplacian')
    local X = nl.randn({ 3, 6, 6 }, 'float64')
    local A = X + mT(X)
    local lv, Vv = L.eigh(A)
    close(nl.matmul(A, Vv), Vv * lv:unsqueeze(-2), 'A V = V diag(L)', 1e-11)
    close(nl.matmul(mT(Vv), Vv), eye(6):expand({ 3, 6, 6 }), 'V^T V')
    -- only the lower (UPLO 'L') or upper ('U') triangle is read
    local junk = A:tril() + A:triu(1) * 100
    close(L.eigvalsh(junk), lv, 'lower triangle')
    close(L.eigvalsh(A:triu() + A:tril(-1) * 100, { UPLO = 'U' }), lv, 'upper triangle')
    -- far from 1 in scale (QL did not converge on ones(11, 11) * 1e-300,
    -- and V was not orthonormal at 8 or 12): the all-ones n x n has the
    -- eigenvalue n once and 0 n - 1 times
    for _, n1 in ipairs({ 8, 11, 12 }) do
      for _, scale in ipairs({ 1e-300, 1e300, 1e-310 }) do
        local what = ('ones(%d) * %g'):format(n1, scale)
        local lo, Vo = L.eigh(nl.ones({ n1, n1 }, 'float64') * scale)
        local want1 = nl.zeros({ n1 }, 'float64')
        want1[n1] = n1
        S.expect_close(lo / scale, want1, what .. ': eigenvalues', 1e-13, 1e-13)
        close(nl.matmul(mT(Vo), Vo), eye(n1), what .. ': V^T V')
      end
    end
  end)

  it('svd: known singular values, U diag(S) Vh = A, orthonormal factors, any shape', function()
    close(L.svdvals(nl.tensor({ { 3, 0 }, { 4, 0 } }, 'float64')), nl.tensor({ 5, 0 }, 'float64'), '[[3,0],[4,0]]')
    close(L.svdvals(nl.tensor({ { 0, 2, 0 }, { -3, 0, 0 } }, 'float64')), nl.tensor({ 3, 2 }, 'float64'), 'permutation')
    for _, sh in ipairs({ { 7, 4 }, { 4, 7 }, { 5, 5 }, { 2, 3, 6, 2 }, { 1, 1 } }) do
      local A = nl.randn(sh, 'float64')
      local m, n = sh[#sh - 1], sh[#sh]
      local k = math.min(m, n)
      local U, s, Vh = L.svd(A, { full_matrices = false })
      close(nl.matmul(U * s:unsqueeze(-2), Vh), A, 'reconstruction ' .. table.concat(sh, 'x'))
      local Uf, sf, Vhf = L.svd(A)
      assert.are.same(m, Uf:size(-1))
      assert.are.same(n, Vhf:size(-2))
      close(sf, s, 'full S')
      local uu, vv = nl.matmul(mT(Uf), Uf), nl.matmul(Vhf, mT(Vhf))
      close(uu, eye(m):expand(uu:shape()), 'U^T U')
      close(vv, eye(n):expand(vv:shape()), 'Vh Vh^T')
      -- descending
      local d = s:narrow(-1, 1, k - 1) - s:narrow(-1, 2, k - 1)
      if k > 1 then assert.is_true(d:min():item() >= 0) end
    end
  end)

  it('svd of rank-deficient and zero matrices: orthonormal completions', function()
    local a = nl.randn({ 6, 2 }, 'float64')
    local A = nl.matmul(a, nl.randn({ 2, 5 }, 'float64'))
    local U, s, Vh = L.svd(A)
    close(nl.matmul(mT(U), U), eye(6), 'U^T U rank 2')
    close(nl.matmul(U:narrow(2, 1, 5) * s:unsqueeze(1), Vh), A, 'reconstruction rank 2', 1e-11)
    assert.is_true(s[3] < 1e-13)
    assert.are.equal(2, L.matrix_rank(A):item())
    local Z = nl.zeros({ 4, 3 }, 'float64')
    local Uz, sz, Vz = L.svd(Z)
    close(sz, nl.zeros({ 3 }, 'float64'), 'S of 0')
    close(nl.matmul(mT(Uz), Uz), eye(4), 'U of 0')
    close(nl.matmul(Vz, mT(Vz)), eye(3), 'Vh of 0')
    close(L.pinv(Z), nl.zeros({ 3, 4 }, 'float64'), 'pinv of 0')
    -- rank 1, where Jacobi's pairs of round-off columns did not converge:
    -- the all-ones m x n has the one singular value sqrt(m n)
    for _, mn in ipairs({ { 5, 5 }, { 8, 8 }, { 3, 9 }, { 13, 3 }, { 24, 18 } }) do
      local m, n = mn[1], mn[2]
      for _, scale in ipairs({ 1, 1e300, 1e-300 }) do
        local what = ('ones(%d, %d) * %g'):format(m, n, scale)
        local O = nl.ones({ m, n }, 'float64') * scale
        local Uo, so, Vho = L.svd(O, { full_matrices = false })
        local k = math.min(m, n)
        local want = nl.zeros({ k }, 'float64')
        want[1] = math.sqrt(m * n)
        S.expect_close(so / scale, want, what .. ': S', 1e-13, 1e-13)
        close(nl.matmul(mT(Uo), Uo), eye(k), what .. ': U^T U')
        close(nl.matmul(Vho, mT(Vho)), eye(k), what .. ': Vh Vh^T')
        close(nl.matmul(Uo * so:unsqueeze(1), Vho) / scale, O / scale, what .. ': reconstruction', 1e-13)
        assert.are.equal(1, L.matrix_rank(O):item(), what .. ': rank')
      end
    end
  end)

  it('pinv: the Moore-Penrose conditions; lstsq solves the normal equations', function()
    local A = nl.randn({ 2, 5, 3 }, 'float64')
    local X = L.pinv(A)
    close(nl.matmul(nl.matmul(A, X), A), A, 'A X A = A', 1e-11)
    close(nl.matmul(nl.matmul(X, A), X), X, 'X A X = X', 1e-11)
    local AX = nl.matmul(A, X)
    close(AX, mT(AX), 'A X symmetric', 1e-11)
    local b = nl.randn({ 2, 5, 2 }, 'float64')
    local sol, res, rank, sv = L.lstsq(A, b)
    close(nl.matmul(mT(A), nl.matmul(A, sol) - b), nl.zeros({ 2, 3, 2 }, 'float64'), 'normal equations', 1e-11)
    assert.are.same({ 3, 3 }, rank:totable())
    assert.are.same({ 0 }, res:shape())
    assert.are.same({ 0 }, sv:shape())
  end)

  it('matrix norms by their definitions; norm and Tensor:norm(nuc) agree', function()
    local A = nl.tensor({ { 1, -2 }, { 3, 4 } }, 'float64')
    local s = L.svdvals(A)
    close(L.matrix_norm(A, 1), nl.tensor(6, 'float64'), 'ord 1')
    close(L.matrix_norm(A, -1), nl.tensor(4, 'float64'), 'ord -1')
    close(L.matrix_norm(A, INF), nl.tensor(7, 'float64'), 'ord inf')
    close(L.matrix_norm(A, -INF), nl.tensor(3, 'float64'), 'ord -inf')
    close(L.matrix_norm(A), nl.tensor(math.sqrt(30), 'float64'), 'fro')
    close(L.matrix_norm(A, 'nuc'), s:sum(), 'nuc')
    close(L.matrix_norm(A, 2) * L.matrix_norm(A, -2), nl.tensor(10, 'float64'), '|det| = s1 s2')
    close(A:norm('nuc'), s:sum(), 'Tensor:norm nuc')
    close(nl.norm(A, 'nuc'), s:sum(), 'nl.norm nuc')
    close(L.norm(A), nl.tensor(math.sqrt(30), 'float64'), 'norm default')
    close(L.norm(A, 2, 1), L.vector_norm(A, 2, 1), 'norm over one dim')
    close(L.vector_norm(A, INF), nl.tensor(4, 'float64'), 'vector inf')
  end)

  it('the sign convention: each eigenvector and right singular vector has its largest entry positive', function()
    local X = nl.randn({ 5, 5 }, 'float64')
    local _, V = L.eigh(X + X:t())
    local _, _, Vh = L.svd(X)
    local U2, _, V2 = X:svd()
    for j = 1, 5 do
      for _, v in ipairs({ V:select(2, j), Vh:select(1, j), V2:select(2, j) }) do
        local big = v:abs():argmax():item()
        assert.is_true(v[big] > 0)
      end
    end
    close(nl.matmul(U2 * select(2, X:svd()):unsqueeze(1), V2:t()), X, 'torch.svd form: V, not Vh')
  end)

  it('torch.svd forms, matrix_rank options, and the nl. functions', function()
    local A = nl.randn({ 2, 4, 3 }, 'float64')
    local U, s, V = A:svd(true, false)
    assert.are.same({ 2, 4, 4 }, U:shape())
    assert.are.same({ 2, 3, 3 }, V:shape())
    assert.are.equal(0, U:abs():sum():item() + V:abs():sum():item())
    close(s, L.svdvals(A), 'compute_uv false')
    local Uf, _, Vf = nl.svd(A, false)
    assert.are.same({ 2, 4, 4 }, Uf:shape())
    assert.are.same({ 2, 3, 3 }, Vf:shape())
    local Q, R = nl.qr(A, false)
    assert.are.same({ 2, 4, 4 }, Q:shape())
    close(nl.matmul(Q, R), A, 'nl.qr complete')
    close(nl.pinverse(A), L.pinv(A), 'nl.pinverse')
    local D = nl.tensor({ { 1, 0, 0 }, { 0, 1e-3, 0 }, { 0, 0, 1e-9 } }, 'float64')
    assert.are.equal(3, L.matrix_rank(D):item())
    assert.are.equal(2, L.matrix_rank(D, 1e-6):item())
    assert.are.equal(1, L.matrix_rank(D, { rtol = 1e-2 }):item())
    assert.are.equal(2, L.matrix_rank(D, { atol = 1e-6, hermitian = true }):item())
  end)

  it('float32 is computed in float64: close to the float64 results', function()
    local A = nl.randn({ 3, 8, 6 }, 'float64')
    local s64 = L.svdvals(A)
    local s32 = L.svdvals(A:float())
    assert.are.equal('float32', s32:dtype())
    S.expect_close(s32:double(), s64, 'svdvals f32', 1e-6, 1e-6)
    local B = A:narrow(-1, 1, 6):narrow(-2, 1, 6)
    B = B + mT(B)
    S.expect_close(L.eigvalsh(B:float()):double(), L.eigvalsh(B), 'eigvalsh f32', 1e-6, 1e-6)
  end)

  it('a tall or wide matrix takes memory of its size, not of its full U', function()
    -- 100000 x 3 (a full U would be 80 GB): svdvals, the reduced svd, pinv,
    -- lstsq, the rank and the nuclear norm ran out of memory
    local m = 100000
    local A = nl.zeros({ m, 3 }, 'float64')
    A[1][1], A[2][2], A[m][3] = 3, -2, 1
    local want = nl.tensor({ 3, 2, 1 }, 'float64')
    close(L.svdvals(A), want, 'svdvals')
    close(L.svdvals(A:t()), want, 'svdvals of the wide transpose')
    local U, s, Vh = L.svd(A, { full_matrices = false })
    assert.are.same({ m, 3 }, U:shape())
    close(nl.matmul(U * s:unsqueeze(1), Vh), A, 'reduced svd')
    local _, s2, Vh2 = L.svd(A:t(), { full_matrices = false })
    close(s2, want, 'reduced svd of the wide transpose')
    assert.are.same({ 3, m }, Vh2:shape())
    local b = nl.zeros({ m, 1 }, 'float64')
    b[1][1], b[2][1], b[m][1], b[5][1] = 6, 4, 5, 7
    close(L.lstsq(A, b), nl.tensor({ { 2 }, { -2 }, { 5 } }, 'float64'), 'lstsq')
    assert.are.same({ 3, m }, L.pinv(A):shape())
    assert.are.equal(3, L.matrix_rank(A:t()):item())
    close(L.matrix_norm(A, 'nuc'), nl.tensor(6, 'float64'), 'nuclear norm')
  end)

  it('empty matrices and empty batches', function()
    local U, s, Vh = L.svd(nl.zeros({ 0, 3, 2 }))
    assert.are.same({ 0, 3, 3 }, U:shape())
    assert.are.same({ 0, 2 }, s:shape())
    assert.are.same({ 0, 2, 2 }, Vh:shape())
    local Q, R = L.qr(nl.zeros({ 3, 0 }, 'float64'), { mode = 'complete' })
    close(Q, eye(3), 'Q of 3x0')
    assert.are.same({ 3, 0 }, R:shape())
    local l = L.eigvalsh(nl.zeros({ 2, 0, 0 }))
    assert.are.same({ 2, 0 }, l:shape())
    -- no singular value: pinv is (n, m) and the rank 0, as PyTorch's
    assert.are.same({ 3, 0 }, L.pinv(nl.zeros({ 0, 3 }, 'float64')):shape())
    assert.are.same({ 2, 0, 3 }, L.pinv(nl.zeros({ 2, 3, 0 }, 'float64')):shape())
    assert.are.same({ 0, 0 }, L.pinv(nl.zeros({ 0, 0 }), { hermitian = true }):shape())
    assert.are.same({ 0, 3 }, nl.zeros({ 3, 0 }):pinverse():shape())
    assert.are.equal(0, L.matrix_rank(nl.zeros({ 0, 3 }, 'float64')):item())
    assert.are.same({ 0, 0 }, L.matrix_rank(nl.zeros({ 2, 3, 0 }, 'float64')):totable())
    assert.are.equal(0, L.matrix_rank(nl.zeros({ 0, 0 }), { hermitian = true }):item())
    local X, res, rank = L.lstsq(nl.zeros({ 0, 3 }, 'float64'), nl.zeros({ 0, 2 }, 'float64'), { driver = 'gelsd' })
    close(X, nl.zeros({ 3, 2 }, 'float64'), 'lstsq of 0x3')
    assert.are.equal(0, rank:item())
    assert.are.same({ 0 }, res:shape())
  end)

  it('batches give the results of their matrices one by one, on any number of threads', function()
    local A = nl.randn({ 4, 5, 3 }, 'float64')
    local threads = nl.get_num_threads()
    nl.set_num_threads(2)
    local U, s, Vh = L.svd(A, { full_matrices = false })
    local l2 = L.eigvalsh(nl.matmul(mT(A), A))
    nl.set_num_threads(1)
    S.same_bits(L.eigvalsh(nl.matmul(mT(A), A)), l2, 'eigvalsh on 1 and 2 threads')
    nl.set_num_threads(threads)
    for b = 1, 4 do
      local U1, s1, Vh1 = L.svd(A[b], { full_matrices = false })
      S.same_bits(s[b], s1, 'S ' .. b)
      S.same_bits(U[b], U1, 'U ' .. b)
      S.same_bits(Vh[b], Vh1, 'Vh ' .. b)
    end
  end)
end)

-- ---- errors ---------------------------------------------------------------------

describe('linalg_decomp errors', function()
  local function err(f, part)
    S.contains(S.errmsg(f), part)
  end
  it('names the op and the shapes', function()
    err(function() L.qr(nl.zeros({ 3 })) end, 'linalg.qr: expected a tensor of at least 2 dims (a batch of matrices), got shape [3]')
    err(function() L.svd(nl.zeros({ 2, 2 }, 'int64')) end, 'linalg.svd: expected a float32 or float64 tensor, got int64 [2,2]')
    err(function() L.eigh(nl.zeros({ 2, 3 })) end, 'linalg.eigh: expected square matrices in the last two dims, got shape [2,3]')
    err(function() L.eigvalsh(nl.zeros({ 2, 3, 4 })) end, 'linalg.eigvalsh: expected square matrices')
    err(function() L.qr(nl.zeros({ 2, 2 }), { mode = 'full' }) end, "linalg.qr: mode must be 'reduced', 'complete' or 'r', got 'full'")
    err(function() L.eigh(nl.eye(2), { UPLO = 'X' }) end, "linalg.eigh: UPLO must be 'L' or 'U', got 'X'")
    err(function() L.matrix_norm(nl.eye(2), 3) end, "linalg.matrix_norm: ord must be 'fro', 'nuc', 2, -2, 1, -1, inf or -inf, got 3")
    err(function() L.matrix_norm(nl.zeros({ 3 }), 'nuc') end, 'linalg.matrix_norm: expected a tensor of at least 2 dims')
    err(function() L.svd(nl.eye(2), { full = true }) end, "linalg.svd: unknown option 'full'")
    err(function() L.lstsq(nl.eye(3), nl.zeros({ 2, 1 })) end, 'linalg.lstsq: B must have 3 rows to match A [3,3], got shape [2,1]')
    err(function() L.lstsq(nl.eye(3), nl.zeros({ 3, 1 }), { driver = 'x' }) end, "linalg.lstsq: driver must be")
    err(function() L.vector_norm(nl.zeros({ 3 }, 'int64')) end, 'linalg.vector_norm: expected a float32 or float64 tensor, got int64 [3]')
    err(function() nl.zeros({ 2, 2, 2 }):norm('nuc') end, "norm: p = 'nuc' needs a 2-D tensor or two dims, got shape [2,2,2]")
    err(function() L.pinv(nl.eye(2), { rtol = -1 }) end, 'linalg.pinv: rtol must be a number >= 0, got -1')
    err(function() L.qr(nl.randn(4, 2):requires_grad(), { mode = 'complete' }) end,
        "linalg.qr: the gradient of mode 'complete' with more rows than columns (shape [4,2]) is not defined")
  end)
  it('NaN and inf input raise "did not converge" instead of hanging', function()
    local A = nl.randn(4, 4)
    A[2][3] = 0 / 0
    err(function() L.svd(A) end, 'linalg.svd: the algorithm did not converge: the input of shape [4,4] holds NaN or inf')
    err(function() L.svdvals(A) end, 'linalg.svdvals: the algorithm did not converge')
    A[2][3] = 1
    A[4][1] = math.huge
    err(function() L.eigh(A) end, 'linalg.eigh: the algorithm did not converge')
    err(function() L.matrix_norm(A, 2) end, 'did not converge')
    -- QR has no iteration: NaN comes out, as PyTorch's
    local _, R = L.qr(A)
    assert.are.equal(1, R:isnan():any():item())
  end)
end)
