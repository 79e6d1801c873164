-- svdvals's values-only path (src/ops_linalg_decomp.c: Householder
-- bidiagonalization, R first for tall matrices, the bidiagonal implicit QR
-- of Demmel and Kahan) against PyTorch golden values and closed forms
-- (tests/golden/linalg_svdvals.lua, made by
-- tests/golden/gen_linalg_svdvals.py) on adversarial matrices: graded
-- singular values 1..1e-12, rank-deficient, repeated, tiny and huge
-- scales, tall, wide, batched, float32, and bidiagonal and diagonal
-- matrices whose tiny values are determined to high relative accuracy.
local nl = require 'nnlua'
local S = require 'support'

local cases = dofile(S.root .. '/tests/golden/linalg_svdvals.lua')
local L = nl.linalg
local EPS = { float32 = 1.1920928955078125e-07, float64 = 2.220446049250313e-16 }

-- |got - want| <= 8 max(m, n) eps s_max each (what a backward-stable
-- method promises), or <= 1e-13 |want| each when relative
local function check(got, want, A, relative, what)
  if relative then return S.expect_close(got, want, what, 1e-13, 0) end
  local m, n = A:size(-2), A:size(-1)
  local smax = want:abs():max():item()
  S.expect_close(got, want, what, 0, 8 * math.max(m, n) * EPS[A:dtype()] * smax)
end

describe('svdvals on adversarial matrices', function()
  for _, c in ipairs(cases) do
    it(c.name, function()
      local A = S.from_golden(c.A)
      local got = L.svdvals(A)
      assert.are.equal(A:dtype(), got:dtype())
      check(got, S.from_golden(c.torch), A, c.relative, c.name .. ' vs PyTorch')
      if c.s then
        -- the closed form, of the float64 matrix (float32 A is its rounding: eps32 apart)
        check(got:double(), S.from_golden(c.s), A, false, c.name .. ' vs the closed form')
      end
      -- descending and not negative
      local k = got:size(-1)
      if k > 1 then
        assert.is_true((got:narrow(-1, 1, k - 1) - got:narrow(-1, 2, k - 1)):min():item() >= 0, 'descending')
      end
      assert.is_true(got:min():item() >= 0, 'not negative')
    end)
  end
end)

describe('svdvals closed forms', function()
  it('the bidiagonal of ones: 2 cos(k pi / (2n + 1)), k = 1..n', function()
    -- as 2 sin((2n + 1 - 2k) pi / (4n + 2)): the cosine near pi / 2 loses the small ones' digits
    for _, n in ipairs({ 1, 2, 3, 50, 97 }) do
      local B = nl.eye(n, 'float64')
      for i = 1, n - 1 do B[i][i + 1] = 1 end
      local want = nl.zeros({ n }, 'float64')
      for k = 1, n do want[k] = 2 * math.sin((2 * n + 1 - 2 * k) * math.pi / (4 * n + 2)) end
      S.expect_close(L.svdvals(B), want, 'ones bidiagonal ' .. n, 1e-14, 0)
      S.expect_close(L.svdvals(B:t()), want, 'its transpose ' .. n, 1e-14, 0)
    end
  end)

  it('U diag(s) V^T of 130 x 130 and 300 x 90 (R first) with s from 1 to 1e-12', function()
    for _, mn in ipairs({ { 130, 130 }, { 300, 90 }, { 90, 300 } }) do
      local m, n = mn[1], mn[2]
      local k = math.min(m, n)
      local s = nl.zeros({ k }, 'float64')
      for i = 1, k do s[i] = 10 ^ (-12 * (i - 1) / (k - 1)) end
      local U = L.qr(nl.randn({ m, k }, 'float64'))
      local V = L.qr(nl.randn({ n, k }, 'float64'))
      local A = nl.matmul(U * s:unsqueeze(1), V:t())
      check(L.svdvals(A), s, A, false, ('%dx%d'):format(m, n))
    end
  end)

  it('agrees with the S of svd (one-sided Jacobi), any shape and batch', function()
    for _, sh in ipairs({ { 33, 33 }, { 70, 20 }, { 20, 70 }, { 2, 3, 9, 8 }, { 1, 1 }, { 1, 6 }, { 6, 1 } }) do
      local A = nl.randn(sh, 'float64')
      local _, s = L.svd(A, { full_matrices = false })
      check(L.svdvals(A), s, A, false, table.concat(sh, 'x'))
    end
  end)

  it('scales by 1e-300 and 1e300 without under- or overflow', function()
    local A = nl.randn({ 12, 9 }, 'float64')
    local s = L.svdvals(A)
    for _, sc in ipairs({ 1e-300, 1e300, 2 ^ -1000, 2 ^ 1000 }) do
      S.expect_close(L.svdvals(A * sc) / sc, s, 'scale ' .. sc, 1e-14, 1e-14 * s[1])
    end
  end)
end)
