# W3 in PyTorch: the same loop as bench/overhead.lua
import sys, time, torch
torch.set_num_threads(1)
N = int(sys.argv[1]) if len(sys.argv) > 1 else 20000
a = torch.tensor([1.5], requires_grad=True)
b = torch.tensor([2.0], requires_grad=True)
def run(n):
    for _ in range(n):
        c = a * b + a
        c.sum().backward()
run(2000)
best = min((lambda t0: (run(N), time.perf_counter() - t0)[1])(time.perf_counter()) for _ in range(5))
print("W3 per-op overhead (PyTorch %s): %.3f us/op" % (torch.__version__, best / (3 * N) * 1e6))
