# index_select, gather and flip of bench/index.lua in PyTorch, one thread:
# microseconds per call, best of 7 runs of 20, the same shapes (0-based dims).
import torch, time
torch.set_num_threads(1)
x = torch.randn(128, 1, 28, 28)
rev = torch.arange(27, -1, -1)
gidx = rev.view(1, 1, 1, 28).expand(128, 1, 28, 28).contiguous()
x2 = torch.randn(64, 3, 32, 32).double()
rev2 = torch.arange(31, -1, -1)
x2f = torch.randn(64, 3, 32, 32)
ops = [('index_select_W', lambda: x.index_select(3, rev)), ('gather_W', lambda: x.gather(3, gidx)),
       ('flip_W', lambda: x.flip(3)), ('flip_H', lambda: x.flip(2)),
       ('flip_N', lambda: x.flip(0)), ('flip_HW', lambda: x2f.flip(2, 3)),
       ('index_select_W_f64', lambda: x2.index_select(3, rev2))]
for name, f in ops:
    best = 1e9
    for rep in range(7):
        t0 = time.process_time()
        for i in range(20): f()
        best = min(best, (time.process_time() - t0) / 20)
    print('%s %.1f' % (name, best * 1e6))
