# bench/linalg.lua's ops in PyTorch, one thread: milliseconds per call
# (best of 3) on an n x n matrix, float64 unless the second argument says
# float32.
import sys, time, torch
torch.set_num_threads(1)
torch.manual_seed(0)
n = int(sys.argv[1]) if len(sys.argv) > 1 else 256
dtype = getattr(torch, sys.argv[2] if len(sys.argv) > 2 else 'float64')
A, B = torch.randn(n, n, dtype=dtype), torch.randn(n, n, dtype=dtype)
S = A + A.T
P = A @ A.T + torch.eye(n, dtype=dtype) * n
L = torch.linalg
cases = [('inv', lambda: L.inv(A)), ('solve', lambda: L.solve(A, B)), ('det', lambda: L.det(A)),
         ('cholesky', lambda: L.cholesky(P)), ('qr', lambda: L.qr(A)), ('eigh', lambda: L.eigh(S)),
         ('eigvalsh', lambda: L.eigvalsh(S)), ('svd', lambda: L.svd(A)), ('svdvals', lambda: L.svdvals(A))]
for name, f in cases:
    best = float('inf')
    for _ in range(3):
        t0 = time.perf_counter()
        f()
        best = min(best, time.perf_counter() - t0)
    print('%-9s n=%d %s: %.2f ms' % (name, n, str(dtype).replace('torch.', ''), best * 1e3))
