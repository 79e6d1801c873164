# bench/conv3d.lua's 3-D CNN step in PyTorch: the same network, batch and
# sizes, timed the same way. One line per thread count: NNLUA_NUM_THREADS when set, else 1 and 2.
import os, sys, time
import torch
import torch.nn as nn

STEPS, WARMUP, BS = (int(sys.argv[1]) if len(sys.argv) > 1 else 10), 3, 8


def run(threads):
    torch.set_num_threads(threads)
    torch.manual_seed(0)
    model = nn.Sequential(
        nn.Conv3d(1, 8, 3, padding=1), nn.ReLU(), nn.MaxPool3d(2),
        nn.Conv3d(8, 16, 3, padding=1), nn.ReLU(), nn.AdaptiveAvgPool3d(1),
        nn.Flatten(), nn.Linear(16, 4))
    opt = torch.optim.SGD(model.parameters(), lr=0.01)
    crit = nn.CrossEntropyLoss()
    X, y = torch.randn(BS, 1, 16, 16, 16), torch.randint(0, 4, (BS,))

    def step():
        loss = crit(model(X), y)
        opt.zero_grad()
        loss.backward()
        opt.step()
        return loss

    for _ in range(WARMUP):
        step()
    best = float('inf')
    for _ in range(6):
        t0 = time.perf_counter()
        for _ in range(STEPS):
            step()
        best = min(best, time.perf_counter() - t0)
    print('conv3d cnn (torch %s): %.2f ms/step, %d threads (best of 6 rounds of %d steps of %d volumes 16^3)' % (
        torch.__version__, best / STEPS * 1e3, threads, STEPS, BS))


env = os.environ.get('NNLUA_NUM_THREADS')
for th in ([int(env)] if env else [1, 2]):
    run(th)
