# W2 in PyTorch: the CNN, batch, optimizer and steps of bench/conv.lua, on
# the same Fashion-MNIST images. One line per thread count:
# NNLUA_NUM_THREADS when set, else 1 and 2 (torch.set_num_threads).
import gzip, os, struct, sys, time
import numpy as np
import torch
import torch.nn as nn

STEPS, WARMUP, BS = (int(sys.argv[1]) if len(sys.argv) > 1 else 200), 10, 64
D = "/usr/share/datasets/fashion-mnist"


def idx(name):
    with gzip.open(os.path.join(D, name), "rb") as f:
        buf = f.read()
    ndim = buf[3]
    dims = struct.unpack(">" + "I" * ndim, buf[4:4 + 4 * ndim])
    return np.frombuffer(buf, dtype=np.uint8, offset=4 + 4 * ndim).reshape(dims)


X = torch.from_numpy(idx("train-images-idx3-ubyte.gz").reshape(-1, 1, 28, 28).astype(np.float32) / 255)
y = torch.from_numpy(idx("train-labels-idx1-ubyte.gz").astype(np.int64))


def run(threads):
    torch.set_num_threads(threads)
    torch.manual_seed(0)
    model = nn.Sequential(
        nn.Conv2d(1, 32, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(32, 64, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
        nn.Flatten(), nn.Linear(3136, 128), nn.ReLU(), nn.Linear(128, 10))
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    crit = nn.CrossEntropyLoss()
    perm = torch.randperm(X.shape[0])

    def step(i):
        s = (i * BS) % (X.shape[0] - BS)
        j = perm[s:s + BS]
        loss = crit(model(X[j]), y[j])
        opt.zero_grad()
        loss.backward()
        opt.step()
        return loss

    for i in range(WARMUP):
        step(i)
    t0 = time.perf_counter()
    for i in range(STEPS):
        loss = step(WARMUP + i)
    loss = loss.item()
    dt = time.perf_counter() - t0
    print("W2 cnn: %.0f samples/s, %d threads (%d steps of %d, %.2f ms/step, last loss %.3f; PyTorch %s)"
          % (STEPS * BS / dt, threads, STEPS, BS, dt / STEPS * 1e3, loss, torch.__version__))


env = os.environ.get("NNLUA_NUM_THREADS")
for th in ([int(env)] if env else [1, 2]):
    run(th)
