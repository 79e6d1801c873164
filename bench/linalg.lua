-- nl.linalg on one thread: milliseconds per call (best of 3) of each op on
-- an n x n float64 matrix (float32 with a second argument 'float32'):
-- random A for inv, solve (n right-hand sides), det, qr, svd and svdvals;
-- A + A^T for eigh and eigvalsh; A A^T + n I for cholesky. PyTorch's
-- figures: bench/linalg.py, the same ops and sizes.
local nl = require 'nnlua'
local n = tonumber(arg and arg[1]) or 256
local dtype = arg and arg[2] or 'float64'
nl.set_num_threads(1)
nl.manual_seed(0)
local A = nl.randn({ n, n }, dtype)
local B = nl.randn({ n, n }, dtype)
local S = A + A:t()
local P = nl.matmul(A, A:t()) + nl.eye(n, dtype) * n
local L = nl.linalg
local cases = {
  { 'inv', function() return L.inv(A) end },
  { 'solve', function() return L.solve(A, B) end },
  { 'det', function() return L.det(A) end },
  { 'cholesky', function() return L.cholesky(P) end },
  { 'qr', function() return L.qr(A) end },
  { 'eigh', function() return L.eigh(S) end },
  { 'eigvalsh', function() return L.eigvalsh(S) end },
  { 'svd', function() return L.svd(A) end },
  { 'svdvals', function() return L.svdvals(A) end },
}
for _, c in ipairs(cases) do
  local best = math.huge
  for _ = 1, 3 do
    local t0 = nl.time()
    c[2]()
    best = math.min(best, nl.time() - t0)
  end
  print(string.format('%-9s n=%d %s: %.2f ms', c[1], n, dtype, best * 1e3))
end
