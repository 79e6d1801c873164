# bench/layer_norm.lua's nn.LayerNorm step in PyTorch: the same sizes,
# timed the same way. One line per thread count: NNLUA_NUM_THREADS when
# set, else 1 and 2.
import os, sys, time
import torch

STEPS, WARMUP = (int(sys.argv[1]) if len(sys.argv) > 1 else 20), 3


def run(threads):
    torch.set_num_threads(threads)
    torch.manual_seed(0)
    m = torch.nn.LayerNorm(512)
    x = torch.randn(32, 128, 512).requires_grad_()
    w = torch.randn(32, 128, 512)

    def step():
        x.grad, m.weight.grad, m.bias.grad = None, None, None
        m(x).backward(w)

    for _ in range(WARMUP):
        step()
    best = float('inf')
    for _ in range(6):
        t0 = time.perf_counter()
        for _ in range(STEPS):
            step()
        best = min(best, time.perf_counter() - t0)
    print('LayerNorm(512) 32x128x512 (torch %s): %.3f ms/step, %d threads (forward and backward, best of 6 rounds of %d)'
          % (torch.__version__, best / STEPS * 1e3, threads, STEPS))


env = os.environ.get('NNLUA_NUM_THREADS')
for th in ([int(env)] if env else [1, 2]):
    run(th)
