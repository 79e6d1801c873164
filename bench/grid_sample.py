# bench/grid_sample.lua's F.grid_sample step in PyTorch: the same sizes,
# timed the same way. One line per thread count: NNLUA_NUM_THREADS when
# set, else 1 and 2.
import os, sys, time
import torch
import torch.nn.functional as F

STEPS, WARMUP = (int(sys.argv[1]) if len(sys.argv) > 1 else 20), 3


def run(threads):
    torch.set_num_threads(threads)
    torch.manual_seed(0)
    x = torch.randn(32, 3, 64, 64).requires_grad_()
    grid = ((torch.rand(32, 64, 64, 2) * 2 - 1) * 1.1).requires_grad_()
    w = torch.randn(32, 3, 64, 64)

    def step():
        x.grad, grid.grad = None, None
        y = F.grid_sample(x, grid, align_corners=False)
        (y * w).sum().backward()

    for _ in range(WARMUP):
        step()
    best = float('inf')
    for _ in range(6):
        t0 = time.perf_counter()
        for _ in range(STEPS):
            step()
        best = min(best, time.perf_counter() - t0)
    print('grid_sample bilinear 32x3x64x64 (torch %s): %.3f ms/step, %d threads (forward and backward, best of 6 rounds of %d)'
          % (torch.__version__, best / STEPS * 1e3, threads, STEPS))


env = os.environ.get('NNLUA_NUM_THREADS')
for th in ([int(env)] if env else [1, 2]):
    run(th)
