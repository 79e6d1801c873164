# bench/argmax.lua in PyTorch, one thread: microseconds per call, best of
# 7 runs, the same shapes (dims 0-based here, printed 1-based as nnlua's).
import torch, time
torch.set_num_threads(1)
torch.manual_seed(0)
cases = []
for r, c, reps in [(32, 10, 20000), (128, 10, 5000), (1000, 1000, 20), (4096, 4096, 2)]:
    x = torch.randn(r, c)
    for d in (1, 2):
        cases.append(('argmax %dx%d dim %d' % (r, c, d), (lambda x=x, d=d: x.argmax(d - 1)), reps))
    cases.append(('max %dx%d dim 2' % (r, c), (lambda x=x: x.max(1)), reps))
for name, f, reps in cases:
    best = 1e9
    for _ in range(7):
        t0 = time.process_time()
        for _ in range(reps): f()
        best = min(best, (time.process_time() - t0) / reps)
    print('%s: %.2f us' % (name, best * 1e6))
