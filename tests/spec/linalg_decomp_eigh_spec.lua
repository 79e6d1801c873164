-- eigh's eigenvectors from n = 128 on, where tred2's transformation is
-- accumulated by blocks of reflectors (src/ops_linalg_decomp.c,
-- tred2_q_blocked, two BLIS products a block), against closed forms:
-- A = Q diag(l) Q^T with known eigenvalues (graded of both signs,
-- repeated, clustered), A V = V diag(L), V^T V = I, the sign convention,
-- and D + c 1 1^T's eigenvalues on either side of the block size.
local nl = require 'nnlua'
local S = require 'support'

local L = nl.linalg
local EPS = 2.220446049250313e-16

local function mT(x) return x:transpose(-1, -2) end
-- Q diag(l) Q^T (symmetric to the last bit), Q random orthogonal
local function built(l)
  local n = l:size(1)
  local Q = L.qr(nl.randn({ n, n }, 'float64'))
  local A = nl.matmul(Q * l:unsqueeze(1), Q:t())
  return (A + A:t()) * 0.5
end
local function check(A, l, what)
  local n = A:size(-1)
  local got, V = L.eigh(A)
  local big = l:abs():max():item()
  local tol = 20 * n * EPS * big
  S.expect_close(got, l, what .. ': eigenvalues', 0, tol)
  S.expect_close(nl.matmul(A, V), V * got:unsqueeze(-2), what .. ': A V = V diag(L)', 0, tol)
  S.expect_close(nl.matmul(mT(V), V), nl.eye(n, 'float64'):expand(V:shape()), what .. ': V^T V', 0, 20 * n * EPS)
  -- each column's largest-magnitude entry positive
  local amax = V:abs():amax(-2, true)
  local signed = nl.where((V:abs() - amax):eq(0), V, 0):sum(-2)
  assert.is_true(signed:min():item() > 0, what .. ': signs')
end

describe('eigh by blocks of reflectors', function()
  it('known eigenvalues, graded of both signs, n = 128, 130, 200', function()
    nl.manual_seed(11)
    for _, n in ipairs({ 128, 130, 200 }) do
      local l = nl.zeros({ n }, 'float64')
      for i = 1, n do l[i] = (i % 2 == 0 and 1 or -1) * 10 ^ (-8 * (i - 1) / (n - 1)) end
      l = l:sort()
      check(built(l), l, 'graded ' .. n)
    end
  end)

  it('repeated and clustered eigenvalues, and batches', function()
    nl.manual_seed(12)
    local n = 150
    local l = nl.zeros({ n }, 'float64')
    for i = 1, n do l[i] = i <= 50 and 2 or i <= 100 and -1 or 3 + (i - 100) * 1e-9 end
    l = l:sort()
    check(built(l), l, 'repeated')
    local A = nl.stack({ built(l), built(l * 3) })
    check(A, nl.stack({ l, l * 3 }), 'batched')
  end)

  it('D + c 1 1^T on either side of the block size (127, 128): the secular equation', function()
    -- each eigenvalue l of diag(d) + c 1 1^T solves 1 + c sum_i 1 / (d_i - l) = 0
    for _, n in ipairs({ 127, 128 }) do
      local A = nl.diag(nl.linspace(1, n, n):double()) + nl.ones({ n, n }, 'float64') * 1e-3
      local l, V = L.eigh(A)
      local d = nl.linspace(1, n, n):double()
      local f = 1 + (1e-3 / (d:unsqueeze(1) - l:unsqueeze(2))):sum(2)
      assert.is_true(f:abs():max():item() < 1e-6, 'secular equation ' .. n)
      S.expect_close(nl.matmul(mT(V), V), nl.eye(n, 'float64'), 'V^T V ' .. n, 0, 1e-12)
    end
  end)
end)

-- From n = 64 on eigh's eigenvectors come from divide and conquer (the
-- tridiagonal's eigenvectors merged from halves of at most 32 solved by
-- QL, tred2's reflectors applied to them by blocks; src/
-- ops_linalg_decomp.c, dc_solve), below it from QL; tred2 goes in one
-- pass per reflector (tred2_fused) where Q is not formed, by panels
-- (tred2_blocked) from n = 1024 on. LAPACK's ratios (as its
-- dchkst/ddrvst tests): ||A V - V diag(w)|| / (n eps ||A||) and
-- ||V^T V - I|| / (n eps), Frobenius norms, eps the dtype's, for matrices
-- where D&C deflates (repeated, clustered, close pairs) and where QL was
-- slow (graded), against closed forms where there are ones.
local function ratios(A, w, V)
  local n = A:size(-1)
  local eps = A:dtype() == 'float32' and 2 ^ -23 or EPS
  local anorm = math.max(L.norm(A):item(), 1e-300)
  local res = L.norm(nl.matmul(A, V) - V * w:unsqueeze(-2)):item() / (n * eps * anorm)
  local orth = L.norm(nl.matmul(mT(V), V) - nl.eye(n, A:dtype())):item() / (n * eps)
  return res, orth
end
-- each matrix of A (batched or not; symmetric) by both triangles, in its
-- dtype and (float64 input) float32 (only by the triangle uplo, in
-- A's dtype, when uplo is given): the ratios below bounds, the
-- eigenvalues ascending, equal to eigvalsh's and to want (when given)
local function dc_check(A, what, want, uplo1)
  for _, dt in ipairs(A:dtype() == 'float64' and not uplo1 and { 'float64', 'float32' } or { A:dtype() }) do
    local Ad = A:to(dt)
    for _, uplo in ipairs(uplo1 and { uplo1 } or { 'L', 'U' }) do
      -- the other triangle spoiled: only the one named may be read
      local n = Ad:size(-1)
      local spoil = uplo == 'L' and Ad:tril() + Ad:triu(1) * 7 or Ad:triu() + Ad:tril(-1) * 7
      local w, V = L.eigh(spoil, { UPLO = uplo })
      local wv = L.eigvalsh(spoil, { UPLO = uplo })
      local mats = Ad:dim() == 2 and { { Ad, w, V, wv } } or {}
      for b = 1, Ad:dim() == 3 and Ad:size(1) or 0 do mats[b] = { Ad[b], w[b], V[b], wv[b] } end
      for b, m in ipairs(mats) do
        local tag = ('%s (%s, %s, matrix %d)'):format(what, dt, uplo, b)
        local res, orth = ratios(m[1], m[2], m[3])
        assert.is_true(res < 2, ('%s: ||A V - V diag(w)|| / (n eps ||A||) = %.3g'):format(tag, res))
        assert.is_true(orth < 4, ('%s: ||V^T V - I|| / (n eps) = %.3g'):format(tag, orth))
        local eps = dt == 'float32' and 2 ^ -23 or EPS
        local tol = 4 * n * eps * math.max(L.norm(m[1]):item(), 1e-300)
        if n > 1 then
          assert.is_true((m[2]:narrow(1, 2, n - 1) - m[2]:narrow(1, 1, n - 1)):min():item() >= 0, tag .. ': ascending')
        end
        S.expect_close(m[4], m[2], tag .. ': eigvalsh = eigh', 0, tol)
        if want then
          local wb = want:dim() == 1 and want or want[b]
          S.expect_close(m[2], wb:to(dt), tag .. ': eigenvalues', 0, tol)
        end
      end
    end
  end
end
-- the tridiagonal Toeplitz matrix (a on the diagonal, b beside it): its
-- eigenvalues a + 2 b cos(pi k / (n + 1)), k = 1..n
local function toeplitz3(n, a, b)
  local T = nl.diag(nl.full({ n }, a, 'float64'))
  local off = nl.diag(nl.full({ n - 1 }, b, 'float64'), 1)
  local want = nl.zeros({ n }, 'float64')
  for k = 1, n do want[k] = a + 2 * b * math.cos(math.pi * k / (n + 1)) end
  return T + off + mT(off), (want:sort())
end

describe('eigh by divide and conquer', function()
  it('random symmetric matrices, n = 1..70 (QL below 64, D&C from 64 on), 520, 1030, and batches', function()
    nl.manual_seed(21)
    for n = 1, 70 do
      local X = nl.randn({ n, n }, 'float64')
      dc_check(X + mT(X), 'random ' .. n, nil, n % 2 == 0 and 'L' or 'U')
    end
    local X1 = nl.randn({ 2, 1, 1 }, 'float64')
    dc_check(X1, '1x1 batch')
    for _, n in ipairs({ 2, 31, 33, 63, 64, 65 }) do
      local Xn = nl.randn({ n, n }, 'float64')
      dc_check(Xn + mT(Xn), 'random ' .. n .. ', both triangles and dtypes')
    end
    local X = nl.randn({ 3, 100, 100 }, 'float64')
    dc_check(X + mT(X), 'batch of 100s')
    local Y = nl.randn({ 2, 65, 65 }, 'float32')
    dc_check(Y + mT(Y), 'float32 batch of 65s')
    X = nl.randn({ 520, 520 }, 'float64')
    dc_check(X + mT(X), 'random 520', nil, 'U')
    X = nl.randn({ 1030, 1030 }, 'float64')   -- tred2 by panels from 1024 on, the last one partial
    dc_check(X + mT(X), 'random 1030', nil, 'L')
  end)

  it('1x1, 2x2, diagonal, zero and all-ones matrices', function()
    dc_check(nl.tensor({ { -3 } }, 'float64'), '1x1', nl.tensor({ -3 }, 'float64'))
    dc_check(nl.tensor({ { 2, 1 }, { 1, 2 } }, 'float64'), '2x2', nl.tensor({ 1, 3 }, 'float64'))
    dc_check(nl.tensor({ { 1, 1e-20 }, { 1e-20, 1 } }, 'float64'), '2x2 near I', nl.tensor({ 1, 1 }, 'float64'))
    for _, n in ipairs({ 40, 90, 300 }) do
      local d = nl.linspace(-1, 1, n):double():flip(1)
      dc_check(nl.diag(d), 'diagonal ' .. n, d:flip(1))
      dc_check(nl.zeros({ n, n }, 'float64'), 'zero ' .. n, nl.zeros({ n }, 'float64'))
      local want = nl.zeros({ n }, 'float64')
      want[n] = n
      dc_check(nl.ones({ n, n }, 'float64'), 'ones ' .. n, want)
    end
  end)

  it('any scale (deflation is relative to the scale of T), and block diagonals', function()
    -- D&C deflated every eigenvalue of a matrix of entries near 1e-20
    -- (its tolerance mixed T's scale with z's) until T was scaled first
    nl.manual_seed(24)
    local n = 100
    local l = nl.linspace(-1, 1, n):double() + nl.arange(n):double():remainder(3) * 0.25
    l = l:sort()
    local A = built(l)
    for _, sc in ipairs({ 1e-150, 1e-100, 1e-20, 1e20, 1e100, 1e150 }) do   -- the ratios' norms in range
      dc_check(A * sc, ('scaled by %g'):format(sc), l * sc, 'L')
    end
    -- four random 32 x 32 blocks: T's couplings exactly 0 where D&C tears it
    local B = nl.zeros({ 128, 128 }, 'float64')
    for b = 0, 3 do
      local X = nl.randn({ 32, 32 }, 'float64')
      B:narrow(1, 32 * b + 1, 32):narrow(2, 32 * b + 1, 32):copy_(X + mT(X))
    end
    dc_check(B, 'block diagonal')
  end)

  it('repeated, clustered and graded eigenvalues, n = 64, 100, 301', function()
    nl.manual_seed(22)
    for _, n in ipairs({ 64, 100, 301 }) do
      local rep, clu, gra, two = nl.zeros({ n }, 'float64'), nl.zeros({ n }, 'float64'), nl.zeros({ n }, 'float64'),
        nl.zeros({ n }, 'float64')
      for i = 1, n do
        rep[i] = math.floor((i - 1) / 10)                 -- ten of each
        clu[i] = 1 + (i - 1) * 1e-12                      -- one cluster 1e-10 wide
        gra[i] = 10 ^ (-15 * (i - 1) / (n - 1))           -- 1 down to 1e-15
        two[i] = i <= n / 2 and -1 or 1                   -- two values
      end
      local one = n >= 300 and 'L' or nil   -- the big ones by one triangle, in float64
      dc_check(built(rep), 'repeated ' .. n, rep, one)
      dc_check(built(clu), 'clustered ' .. n, clu, one)
      dc_check(built(gra), 'graded ' .. n, (gra:sort()), one)
      dc_check(built(two), 'two values ' .. n, two, one)
    end
  end)

  it('graded entries, Wilkinson matrices and tridiagonal Toeplitz matrices', function()
    nl.manual_seed(23)
    for _, n in ipairs({ 21, 64, 101, 300 }) do
      -- Wilkinson's W+ (|i - m| on the diagonal, ones beside it): pairs of
      -- eigenvalues equal to many digits; W- (i - m): eigenvalues in +-pairs
      local m = (n - 1) / 2
      local wp, wm = nl.zeros({ n }, 'float64'), nl.zeros({ n }, 'float64')
      for i = 1, n do wp[i], wm[i] = math.abs(i - 1 - m), i - 1 - m end
      local off = nl.diag(nl.ones({ n - 1 }, 'float64'), 1)
      local one = n >= 300 and 'U' or nil   -- the big ones by one triangle, in float64
      dc_check(nl.diag(wp) + off + mT(off), 'Wilkinson W+ ' .. n, nil, one)
      local lm = L.eigvalsh(nl.diag(wm) + off + mT(off))
      S.expect_close(lm, -lm:flip(1), 'W- ' .. n .. ': eigenvalues in +- pairs', 0, 4 * n * EPS * n)
      dc_check(nl.diag(wm) + off + mT(off), 'Wilkinson W- ' .. n, nil, one)
      -- A_ij = (X + X^T)_ij g_i g_j, g_i = 10^(-8 i / n): entries graded over 16 digits
      local g = nl.pow(nl.full({ n }, 10.0, 'float64'), nl.arange(n):double() * (-8 / n))
      local X = nl.randn({ n, n }, 'float64')
      dc_check((X + mT(X)) * g:unsqueeze(1) * g:unsqueeze(2), 'graded entries ' .. n, nil, one)
      local T, want = toeplitz3(n, 2, -1)
      dc_check(T, 'Toeplitz(-1, 2, -1) ' .. n, want, one)
      T, want = toeplitz3(n, 0, 1e-3)
      dc_check(T, 'Toeplitz(1e-3, 0, 1e-3) ' .. n, want, one)
    end
  end)

  it('graded eigenvalues at n = 300, where QL ran past 60 steps for an eigenvalue', function()
    -- before the step budget became 30 n for all (LAPACK's), eigh and
    -- eigvalsh raised "did not converge" on this matrix
    nl.manual_seed(1)
    local n = 300
    local Q = L.qr(nl.randn({ n, n }, 'float64'))
    local l = nl.pow(nl.full({ n }, 10.0, 'float64'), nl.linspace(-15, 0, n, 'float64'))
    local A = nl.matmul(Q * l:unsqueeze(1), Q:t())
    A = (A + A:t()) * 0.5
    S.expect_close(L.eigvalsh(A), l, 'eigvalsh', 0, 4 * n * EPS)
    local w, V = L.eigh(A)
    S.expect_close(w, l, 'eigh', 0, 4 * n * EPS)
    local res, orth = ratios(A, w, V)
    assert.is_true(res < 2 and orth < 4, ('ratios %.3g, %.3g'):format(res, orth))
  end)
end)
