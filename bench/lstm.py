# W5 in PyTorch: the same LSTM, data sizes, loss, optimizer and timing as
# bench/lstm.lua. Threads: NNLUA_NUM_THREADS, else 1 and 2, a line each.
import os, time, torch

T, N, I, H, STEPS = 64, 32, 64, 256, 50


def run(threads):
    torch.set_num_threads(threads)
    torch.manual_seed(0)
    lstm = torch.nn.LSTM(I, H)
    opt = torch.optim.SGD(lstm.parameters(), lr=0.01)
    x, y = torch.randn(T, N, I), torch.randn(T, N, H)
    loss = None

    def step():
        nonlocal loss
        out, _ = lstm(x)
        loss = torch.nn.functional.mse_loss(out, y)
        opt.zero_grad()
        loss.backward()
        opt.step()

    for _ in range(5):
        step()
    best = float('inf')
    for _ in range(3):
        t0 = time.perf_counter()
        for _ in range(STEPS):
            step()
        best = min(best, time.perf_counter() - t0)
    print('W5 lstm: %.0f tokens/s, %d threads (PyTorch %s; %d steps of seq %d x batch %d, I=%d H=%d; loss %.4f)' % (
        STEPS * T * N / best, threads, torch.__version__, STEPS, T, N, I, H, loss.item()))


env = os.environ.get('NNLUA_NUM_THREADS')
for th in ([int(env)] if env else [1, 2]):
    run(th)
