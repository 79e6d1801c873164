# W4 in PyTorch: torch.mm fp32 at the same sizes as bench/gemm.lua.
import os, time, torch
threads = int(os.environ.get("NNLUA_NUM_THREADS", "1"))
torch.set_num_threads(threads)
for n in (256, 1024, 2048):
    a, b = torch.randn(n, n), torch.randn(n, n)
    torch.mm(a, b)
    reps = max(1, int(2e10 // (2 * n ** 3)))
    best = 1e9
    for _ in range(3):
        t0 = time.perf_counter()
        for _ in range(reps):
            torch.mm(a, b)
        best = min(best, (time.perf_counter() - t0) / reps)
    print("W4 gemm n=%d: %.1f GFLOP/s, %d threads" % (n, 2 * n ** 3 / best / 1e9, threads))
