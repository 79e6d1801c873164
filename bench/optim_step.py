# The Adam step of bench/optim_step.lua in PyTorch, one thread: the
# single-tensor code (foreach=False), the multi-tensor code (foreach=True)
# and the default of this version.
import sys, time, torch
torch.set_num_threads(1)
torch.manual_seed(0)
N = int(sys.argv[1]) if len(sys.argv) > 1 else 200
params = []
for shape in ((784, 512), (512, 256), (256, 10)):
    p = torch.randn(shape, requires_grad=True)
    p.grad = torch.randn(shape)
    params.append(p)
for label, kw in (('foreach=False', {'foreach': False}), ('foreach=True', {'foreach': True}), ('default', {})):
    opt = torch.optim.Adam(params, lr=1e-3, **kw)
    def run(n):
        for _ in range(n):
            opt.step()
    run(20)
    best = float('inf')
    for _ in range(5):
        t0 = time.perf_counter()
        run(N)
        best = min(best, time.perf_counter() - t0)
    print('Adam step, 535040 float32 params, 1 thread (PyTorch %s, %s): %.1f us/step'
          % (torch.__version__, label, best / N * 1e6))
