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
